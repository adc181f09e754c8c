// Package accounts holds the operations on organizations, users, invitations, API tokens and
// sessions that the API, the dashboard, the admin CLI and the demo share: validation, key handling
// for vaults, and the rules (who may be created how, who joins an org how, how password guessing
// is slowed) in one place. Callers record the audit entries, since they know the actor and the
// request.
package accounts

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/auth"
	"github.com/cleanroom-oss/cleanroom/keyring"
)

// Session lifetimes.
const (
	SessionIdle = 12 * time.Hour     // a session unused this long ends
	SessionMax  = 7 * 24 * time.Hour // no session lives longer
)

// Service performs account operations on a store.
type Service struct {
	Store cleanroom.Store
	Keys  *keyring.Master
	Now   func() time.Time
	// Passwords are the argon2id costs for new password hashes.
	Passwords auth.Params
	// Throttle slows password guessing (sign-in and password changes); nil limits nothing.
	Throttle *Throttle
}

// New returns a Service using the wall clock, the default password costs and the default
// sign-in limits.
func New(store cleanroom.Store, keys *keyring.Master) *Service {
	return &Service{Store: store, Keys: keys, Now: time.Now, Passwords: auth.DefaultParams, Throttle: NewThrottle()}
}

func (s *Service) now() time.Time { return cleanroom.UTC(s.Now()) }

// NewID returns a new time-ordered resource ID.
func NewID() string { return uuid.Must(uuid.NewV7()).String() }

// CreateOrg creates an organization of kind publisher or advertiser. Demand-side workspaces are
// created only by EnableCleanRoom.
func (s *Service) CreateOrg(ctx context.Context, name string, kind cleanroom.OrgKind) (*cleanroom.Org, error) {
	if kind == cleanroom.OrgDemandSide {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "Demand-side workspaces are created by enabling the clean room for a publisher.").
			With("field", "kind").Hint("Create a publisher, then enable its clean room.")
	}
	o := &cleanroom.Org{ID: NewID(), Name: name, Kind: kind}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	now := s.now()
	o.CreatedAt, o.UpdatedAt = now, now
	if err := s.Store.CreateOrg(ctx, o); err != nil {
		return nil, err
	}
	return o, nil
}

// EnableCleanRoom creates the org's vault (with a fresh vault key wrapped by the master key) and,
// for a publisher, its demand-side workspace with a vault of its own.
func (s *Service) EnableCleanRoom(ctx context.Context, orgID string) (*cleanroom.Org, error) {
	org, err := s.Store.FindOrg(ctx, orgID)
	if err != nil {
		return nil, err
	}
	if org.Kind == cleanroom.OrgDemandSide {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "%q is a demand-side workspace; its clean room is enabled with its publisher's.", org.Name)
	}
	if org.CleanRoomEnabled() {
		return nil, cleanroom.Errorf(cleanroom.ECONFLICT, "The clean room is already enabled for %q.", org.Name)
	}
	now := s.now()
	vault, err := s.newVault(org.ID, now)
	if err != nil {
		return nil, err
	}
	var ds *cleanroom.Org
	var dsVault *cleanroom.Vault
	if org.Kind == cleanroom.OrgPublisher {
		ds = &cleanroom.Org{ID: NewID(), Name: org.Name + " (demand side)", Kind: cleanroom.OrgDemandSide,
			ParentID: org.ID, CreatedAt: now, UpdatedAt: now, CleanRoomEnabledAt: now}
		if dsVault, err = s.newVault(ds.ID, now); err != nil {
			return nil, err
		}
	}
	return s.Store.EnableCleanRoom(ctx, org.ID, vault, ds, dsVault, now)
}

func (s *Service) newVault(orgID string, now time.Time) (*cleanroom.Vault, error) {
	wrapped, err := s.Keys.Wrap(keyring.NewDataKey(), VaultKeyLabel(orgID))
	if err != nil {
		return nil, err
	}
	return &cleanroom.Vault{OrgID: orgID, CreatedAt: now, WrappedKey: wrapped}, nil
}

// VaultKeyLabel is the label an org's vault key is wrapped under.
func VaultKeyLabel(orgID string) string { return "vault:" + orgID }

// RecordDPA records that the org signed the data processing agreement at signedAt (now when zero).
func (s *Service) RecordDPA(ctx context.Context, orgID string, signedAt time.Time) (*cleanroom.Org, error) {
	if signedAt.IsZero() {
		signedAt = s.now()
	}
	if signedAt.After(s.now().Add(24 * time.Hour)) {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "The DPA signing date lies in the future.").With("field", "signed_at")
	}
	signedAt = cleanroom.UTC(signedAt)
	return s.Store.UpdateOrg(ctx, orgID, cleanroom.OrgUpdate{DPASignedAt: &signedAt}, s.now())
}

// NewUser describes a user to add to an org.
type NewUser struct {
	Email    string
	Name     string
	Password string // required when the email is new
	Role     cleanroom.Role
	// AttachExisting lets an existing account (by email) join the org. Only operators may: an
	// org admin adding an email that has an account elsewhere must not be able to take it over.
	AttachExisting bool
}

// AddMember adds a user to an org with a role at once, creating the user when the email is new (a
// password is then required). created reports whether the user was new. Adding a user who is a
// member already returns ECONFLICT; change roles with SetRole. It is for operators, the admin CLI
// and the demo: an org's admins invite people with InviteMember, which tells them nothing about
// accounts outside their org.
func (s *Service) AddMember(ctx context.Context, orgID string, nu NewUser) (m *cleanroom.Member, created bool, err error) {
	email, err := cleanroom.NormalizeEmail(nu.Email)
	if err != nil {
		return nil, false, err
	}
	if err := validRole(nu.Role); err != nil {
		return nil, false, err
	}
	if _, err := s.Store.FindOrg(ctx, orgID); err != nil {
		return nil, false, err
	}
	u, err := s.Store.FindUserByEmail(ctx, email)
	switch cleanroom.ErrorCode(err) {
	case "":
		if !nu.AttachExisting {
			return nil, false, cleanroom.Errorf(cleanroom.ECONFLICT, "%s already has an account.", email).With("field", "email").
				Hint("Ask the operator to add the existing account to this organization.")
		}
		if _, err := s.Store.FindMember(ctx, orgID, u.ID); err == nil {
			return nil, false, cleanroom.Errorf(cleanroom.ECONFLICT, "%s is already a member of this organization.", email).
				Hint("Change the member's role instead.")
		}
	case cleanroom.ENOTFOUND:
		if u, err = s.createUser(ctx, email, nu.Name, nu.Password, false); err != nil {
			return nil, false, err
		}
		created = true
	default:
		return nil, false, err
	}
	if err := s.Store.PutMembership(ctx, &cleanroom.Membership{UserID: u.ID, OrgID: orgID, Role: nu.Role, CreatedAt: s.now()}); err != nil {
		return nil, false, err
	}
	return &cleanroom.Member{User: *u, Role: nu.Role}, created, nil
}

// validRole accepts the roles an org gives its own people; the limited role comes only with an
// invitation (connections.Service.Invite).
func validRole(r cleanroom.Role) error {
	if r == cleanroom.RoleLimited {
		return cleanroom.Errorf(cleanroom.EINVALID, "The limited role is given by inviting an advertiser into a demand-side workspace.").
			With("field", "role").Hint("Use POST /v1/invitations.")
	}
	if !r.Valid() {
		return cleanroom.Errorf(cleanroom.EINVALID, "Role %q is not one of admin, member, viewer.", r).With("field", "role")
	}
	return nil
}

// SetRole changes a member's role. The last admin of an org cannot be demoted.
func (s *Service) SetRole(ctx context.Context, orgID, userID string, role cleanroom.Role) (*cleanroom.Member, error) {
	if err := validRole(role); err != nil {
		return nil, err
	}
	m, err := s.Store.FindMember(ctx, orgID, userID)
	if err != nil {
		return nil, err
	}
	if err := inherited(m); err != nil {
		return nil, err
	}
	if m.Role == cleanroom.RoleLimited {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "Invited advertisers keep the limited role.").
			Hint("Revoke the invitation instead; the advertiser's own organization manages its people.")
	}
	if m.ServiceAccount {
		if err := checkServiceAccountRole(role); err != nil {
			return nil, err
		}
	}
	if m.Role == cleanroom.RoleAdmin && role != cleanroom.RoleAdmin {
		if err := s.keepAnAdmin(ctx, orgID); err != nil {
			return nil, err
		}
	}
	if err := s.Store.PutMembership(ctx, &cleanroom.Membership{UserID: userID, OrgID: orgID, Role: role, CreatedAt: m.CreatedAt}); err != nil {
		return nil, err
	}
	m.Role = role
	return m, nil
}

// RemoveMember removes a user from an org, ending their sessions and tokens there. The last admin
// cannot be removed.
func (s *Service) RemoveMember(ctx context.Context, orgID, userID string) error {
	m, err := s.Store.FindMember(ctx, orgID, userID)
	if err != nil {
		return err
	}
	if err := inherited(m); err != nil {
		return err
	}
	if m.Role == cleanroom.RoleAdmin {
		if err := s.keepAnAdmin(ctx, orgID); err != nil {
			return err
		}
	}
	return s.Store.DeleteMembership(ctx, orgID, userID)
}

// inherited refuses to change a derived membership: a publisher admin is an admin of its
// demand-side workspace for as long as they are an admin of the publisher.
func inherited(m *cleanroom.Member) error {
	if m.InheritedFrom == "" {
		return nil
	}
	return cleanroom.Errorf(cleanroom.EINVALID, "%s is an admin of this workspace because they are an admin of its publisher.", m.Email).
		With("inherited_from", m.InheritedFrom).
		Hint("Change their role, or remove them, in the publisher's organization (%s).", m.InheritedFrom)
}

// keepAnAdmin fails when orgID has only one admin.
func (s *Service) keepAnAdmin(ctx context.Context, orgID string) error {
	admins := 0
	for page := (cleanroom.Page{Limit: cleanroom.MaxPageLimit}); ; {
		ms, next, err := s.Store.ListMembers(ctx, orgID, page)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if m.Role == cleanroom.RoleAdmin {
				admins++
			}
		}
		if next == "" || admins > 1 {
			break
		}
		page.After = next
	}
	if admins <= 1 {
		return cleanroom.Errorf(cleanroom.ECONFLICT, "This is the organization's last admin.").
			Hint("Make another member an admin first.")
	}
	return nil
}

// CreateOperator creates an operator user, or makes nothing and returns ECONFLICT if the email
// is taken.
func (s *Service) CreateOperator(ctx context.Context, email, name, password string) (*cleanroom.User, error) {
	email, err := cleanroom.NormalizeEmail(email)
	if err != nil {
		return nil, err
	}
	return s.createUser(ctx, email, name, password, true)
}

func (s *Service) createUser(ctx context.Context, email, name, password string, operator bool) (*cleanroom.User, error) {
	if name == "" {
		name = email
	}
	if err := cleanroom.ValidateName("user name", name); err != nil {
		return nil, err
	}
	if err := auth.ValidatePassword(password); err != nil {
		return nil, err
	}
	now := s.now()
	u := &cleanroom.User{ID: NewID(), Email: email, Name: name, Operator: operator,
		PasswordHash: s.Passwords.Hash(password), CreatedAt: now, UpdatedAt: now}
	if err := s.Store.CreateUser(ctx, u); err != nil {
		return nil, err
	}
	return u, nil
}

// ChangePassword sets the caller's password after checking the current one, and ends the user's
// other sessions (all but the caller's own; with an API token, all), so whoever else was signed in
// with the old password is signed out. Wrong current passwords are throttled like failed sign-ins
// from client (see Throttle). API tokens are separate credentials and keep working; revoke them on
// their own. It returns how many sessions ended.
func (s *Service) ChangePassword(ctx context.Context, c *cleanroom.Caller, current, next string, client Client) (ended int, err error) {
	if c.User == nil || c.User.ServiceAccount {
		return 0, cleanroom.Errorf(cleanroom.EFORBIDDEN, "A service account has no password.")
	}
	u, err := s.Store.FindUser(ctx, c.User.ID)
	if err != nil {
		return 0, err
	}
	att, err := s.Throttle.begin(u.Email, client, s.knownDevice(u.Email, client.Device))
	if err != nil {
		return 0, err
	}
	if !auth.VerifyPassword(u.PasswordHash, current) {
		return 0, cleanroom.Errorf(cleanroom.EINVALID, "The current password is wrong.").With("field", "current_password")
	}
	att.succeeded()
	if err := auth.ValidatePassword(next); err != nil {
		return 0, err
	}
	if err := s.Store.SetPassword(ctx, u.ID, s.Passwords.Hash(next), s.now()); err != nil {
		return 0, err
	}
	var keep []byte
	if c.Session != nil {
		keep = c.Session.Hash
	}
	return s.Store.DeleteUserSessions(ctx, u.ID, keep)
}

// SignIn is a sign-in attempt.
type SignIn struct {
	Email, Password string
	// OrgID is the org the session acts in; "" for the user's first (or none).
	OrgID  string
	Client Client
}

// SignedIn is a started session.
type SignedIn struct {
	// Secret is the session cookie's value; only its hash is stored.
	Secret  string
	Session *cleanroom.Session
	User    *cleanroom.User
	// Device is the device cookie's value to set: this browser is now known for the account (see
	// Throttle). "" when the service has no master key.
	Device string
}

// Login checks a password, throttled (see Throttle), and starts a session acting in in.OrgID (the
// user's first org when empty, or none when they belong to none yet: they can still see and
// accept their invitations). Wrong email and wrong password give the same error, and unknown
// emails are throttled like known ones.
func (s *Service) Login(ctx context.Context, in SignIn) (*SignedIn, error) {
	bad := cleanroom.Errorf(cleanroom.EUNAUTHENTICATED, "The email or password is wrong.")
	account := accountKey(in.Email)
	device := s.knownDevice(account, in.Client.Device)
	att, err := s.Throttle.begin(account, in.Client, device)
	if err != nil {
		return nil, err
	}
	email, err := cleanroom.NormalizeEmail(in.Email)
	if err != nil {
		auth.VerifyPassword("", in.Password)
		return nil, bad
	}
	u, err := s.Store.FindUserByEmail(ctx, email)
	if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
		auth.VerifyPassword("", in.Password)
		return nil, bad
	} else if err != nil {
		att.release()
		return nil, err
	}
	if !auth.VerifyPassword(u.PasswordHash, in.Password) {
		return nil, bad
	}
	att.succeeded()
	orgID, err := s.SessionOrg(ctx, u, in.OrgID)
	if err != nil {
		return nil, err
	}
	secret, hash := auth.NewSessionSecret()
	now := s.now()
	sess := &cleanroom.Session{Hash: hash, UserID: u.ID, OrgID: orgID, CSRFToken: auth.NewCSRFToken(),
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(SessionIdle)}
	if err := s.Store.CreateSession(ctx, sess); err != nil {
		return nil, err
	}
	out := &SignedIn{Secret: secret, Session: sess, User: u, Device: in.Client.Device}
	if device == "" {
		out.Device = s.newDevice(account)
	}
	return out, nil
}

// SessionOrg checks that u may act in orgID and returns it; with orgID empty it picks the user's
// first org ("" when they belong to none).
func (s *Service) SessionOrg(ctx context.Context, u *cleanroom.User, orgID string) (string, error) {
	if orgID != "" {
		if _, err := s.Store.FindMember(ctx, orgID, u.ID); err == nil {
			return orgID, nil
		} else if cleanroom.ErrorCode(err) != cleanroom.ENOTFOUND {
			return "", err
		}
		if u.Operator {
			if _, err := s.Store.FindOrg(ctx, orgID); err != nil {
				return "", err
			}
			return orgID, nil
		}
		return "", cleanroom.Errorf(cleanroom.ENOTFOUND, "Organization not found.").With("field", "org_id")
	}
	ms, err := s.Store.ListMemberships(ctx, u.ID)
	if err != nil {
		return "", err
	}
	if len(ms) == 0 {
		return "", nil
	}
	return ms[0].OrgID, nil
}
