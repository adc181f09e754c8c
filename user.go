package cleanroom

import (
	"context"
	"net/mail"
	"strings"
	"time"
)

// Role is what a user may do in one org. Operators are users with the Operator flag; they act
// across orgs through the /v1/admin routes.
type Role string

// Roles, from most to least powerful.
const (
	RoleAdmin  Role = "admin"  // manages the org's users, tokens and settings, and everything a member can do
	RoleMember Role = "member" // creates and changes the org's resources
	RoleViewer Role = "viewer" // reads only
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r.rank() > 0 || r == RoleLimited }

// rank orders the roles of an org's own people; 0 for RoleLimited (outside the order: an invited
// advertiser writes some things but reads little) and unknown roles.
func (r Role) rank() int {
	switch r {
	case RoleAdmin:
		return 3
	case RoleMember:
		return 2
	case RoleViewer:
		return 1
	}
	return 0
}

// AtLeast reports whether r has every right that min has. RoleLimited is at least only itself.
func (r Role) AtLeast(min Role) bool {
	if min == RoleLimited {
		return r == RoleLimited
	}
	return r.rank() >= min.rank() && r.rank() > 0
}

// User is a person (or a service account) who logs in.
type User struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name"`
	// Operator users run the deployment: they enable the clean room, record DPAs and see every
	// org's audit log.
	Operator bool `json:"operator"`
	// ServiceAccount marks an org's service account: it belongs to that one org, has no password
	// and acts only through tokens its org's admins make for it, never as or for a person.
	ServiceAccount bool `json:"service_account,omitempty"`
	// PasswordHash is an encoded argon2id hash; empty when the user cannot log in with a password.
	PasswordHash string    `json:"-"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// NormalizeEmail trims and lowercases an email address and checks its form.
func NormalizeEmail(s string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(s))
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || !strings.Contains(e[strings.IndexByte(e, '@')+1:], ".") {
		return "", Errorf(EINVALID, "The email address is malformed.").With("field", "email").
			Hint("Give an address of the form name@example.com.")
	}
	return e, nil
}

// Membership says that a user belongs to an org with a role.
type Membership struct {
	UserID string `json:"user_id"`
	OrgID  string `json:"org_id"`
	Role   Role   `json:"role"`
	// RepresentsID is, for RoleLimited, the advertiser org the invited user acts for.
	RepresentsID string `json:"represents_id,omitempty"`
	// InheritedFrom is set on a derived membership: the publisher whose admin the user is, which
	// makes them an admin of its demand-side workspace. It is changed there, not here.
	InheritedFrom string    `json:"inherited_from,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
}

// Member is a user as seen from one org: the user, its role there and, for RoleLimited, the
// advertiser it represents.
type Member struct {
	User
	Role         Role   `json:"role"`
	RepresentsID string `json:"represents_id,omitempty"`
	// InheritedFrom is set when the role is derived: the user is an admin of this demand-side
	// workspace because they are an admin of its publisher, InheritedFrom.
	InheritedFrom string `json:"inherited_from,omitempty"`
}

// UserStore stores users and memberships.
//
// Memberships are read as they apply: the stored ones, plus one derived rule, resolved by the
// store in one place so every reader (authentication, tokens, sessions, the org switcher, member
// lists) sees the same thing: the admins of a publisher are admins of its demand-side workspace
// (InheritedFrom names the publisher). Adding, promoting, demoting or removing a publisher admin
// changes their workspace role at once; where a publisher admin also has a stored membership in
// the workspace, the derived admin role wins.
type UserStore interface {
	// CreateUser inserts u. Returns ECONFLICT if a user with the same email exists.
	CreateUser(ctx context.Context, u *User) error
	// FindUser returns a user by ID. Returns ENOTFOUND if there is none.
	FindUser(ctx context.Context, id string) (*User, error)
	// FindUserByEmail returns a user by normalised email. Returns ENOTFOUND if there is none.
	FindUserByEmail(ctx context.Context, email string) (*User, error)
	// SetPassword replaces a user's password hash. Returns ENOTFOUND if there is no such user.
	SetPassword(ctx context.Context, userID, hash string, now time.Time) error
	// CountOperators returns the number of operator users.
	CountOperators(ctx context.Context) (int, error)

	// PutMembership adds the user to the org or changes its role there.
	// Returns ENOTFOUND if the user or org does not exist.
	PutMembership(ctx context.Context, m *Membership) error
	// DeleteMembership removes a user's stored membership of an org, and the user's sessions and
	// tokens there. Returns ENOTFOUND if the user has no stored membership there.
	DeleteMembership(ctx context.Context, orgID, userID string) error
	// FindMember returns a member of an org, stored or derived. Returns ENOTFOUND if the user is
	// not a member.
	FindMember(ctx context.Context, orgID, userID string) (*Member, error)
	// ListMembers returns an org's members, stored and derived, ordered by user ID.
	ListMembers(ctx context.Context, orgID string, page Page) ([]*Member, string, error)
	// ListMemberships returns the orgs a user belongs to, stored and derived, ordered by org ID.
	ListMemberships(ctx context.Context, userID string) ([]*Membership, error)
}
