package api

import (
	"context"
	"net/http"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/accounts"
)

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	OrgID    string `json:"org_id,omitempty"`
}

type sessionResponse struct {
	User      *cleanroom.User `json:"user"`
	OrgID     string          `json:"org_id,omitempty"`
	CSRFToken string          `json:"csrf_token"`
	ExpiresAt time.Time       `json:"expires_at"`
}

// DeviceCookie names the cookie that marks a browser as having signed in to an account before: the
// sign-in throttle (accounts.Throttle) does not let others' failures slow it down.
const DeviceCookie = "cleanroom_device"

// deviceCookieAge is how long a browser stays known for the account it last signed in to.
const deviceCookieAge = 180 * 24 * time.Hour

// client describes where the request comes from, for the password throttle.
func (s *Server) client(r *http.Request) accounts.Client {
	c := accounts.Client{Addr: s.ClientAddr(r)}
	if ck, err := r.Cookie(DeviceCookie); err == nil {
		c.Device = ck.Value
	}
	return c
}

// Login checks the password (throttled by the accounts service) and starts a session, setting the
// session and device cookies. The web package uses it for its form login too.
func (s *Server) Login(w http.ResponseWriter, r *http.Request, email, password, orgID string) (*cleanroom.Session, *cleanroom.User, error) {
	if orgID != "" {
		var err error
		if orgID, err = cleanroom.ParseID("organization ID", orgID); err != nil {
			return nil, nil, err
		}
	}
	in, err := s.Accounts.Login(r.Context(), accounts.SignIn{Email: email, Password: password, OrgID: orgID, Client: s.client(r)})
	if err != nil {
		if code := cleanroom.ErrorCode(err); code == cleanroom.EUNAUTHENTICATED || code == cleanroom.EUNAVAILABLE {
			s.Logger.Warn("sign-in failed", "addr", s.ClientAddr(r), "err", cleanroom.ErrorMessage(err))
		}
		return nil, nil, err
	}
	s.SetSessionCookie(w, r, in.Secret, in.Session.CreatedAt.Add(accounts.SessionMax))
	if in.Device != "" {
		http.SetCookie(w, &http.Cookie{
			Name: DeviceCookie, Value: in.Device, Path: "/", MaxAge: int(deviceCookieAge / time.Second),
			HttpOnly: true, Secure: s.SecureCookies || r.TLS != nil, SameSite: http.SameSiteStrictMode,
		})
	}
	return in.Session, in.User, nil
}

func (s *Server) login(w http.ResponseWriter, r *http.Request, c *call) error {
	var req loginRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	sess, u, err := s.Login(w, r, req.Email, req.Password, req.OrgID)
	if err != nil {
		return err
	}
	c.audit.ActorUserID, c.audit.OrgID = u.ID, sess.OrgID
	c.target("user", u.ID)
	return c.created("/v1/me", sessionResponse{User: u, OrgID: sess.OrgID, CSRFToken: sess.CSRFToken, ExpiresAt: sess.ExpiresAt})
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, c *call) error {
	if c.Session == nil {
		return errorf(cleanroom.EINVALID, "Token requests have no session to end; revoke the token with DELETE /v1/tokens/{id} instead.")
	}
	if err := s.Store.DeleteSession(r.Context(), c.Session.Hash); err != nil {
		return err
	}
	s.ClearSessionCookie(w, r)
	c.target("user", c.User.ID)
	return c.reply(http.StatusNoContent, nil)
}

func (s *Server) switchOrg(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		OrgID string `json:"org_id"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if c.Session == nil {
		return errorf(cleanroom.EINVALID, "A token acts in the one organization it was issued for; issue a token for the other organization instead.")
	}
	id, err := cleanroom.ParseID("organization ID", req.OrgID)
	if err != nil {
		return err
	}
	if id, err = s.Accounts.SessionOrg(r.Context(), c.User, id); err != nil {
		return err
	}
	c.Session.OrgID = id
	if err := s.Store.UpdateSession(r.Context(), c.Session); err != nil {
		return err
	}
	c.audit.OrgID = id
	c.target("org", id)
	// Answer as GET /v1/me would now: the caller in the new org, with its role there.
	now, err := s.Authenticate(r)
	if err != nil {
		return err
	}
	c.Caller = now
	return s.me(w, r, c)
}

type membershipView struct {
	OrgID   string            `json:"org_id"`
	OrgName string            `json:"org_name"`
	Kind    cleanroom.OrgKind `json:"kind"`
	Role    cleanroom.Role    `json:"role"`
}

type meResponse struct {
	User        *cleanroom.User  `json:"user"`
	Org         *cleanroom.Org   `json:"org,omitempty"`
	Role        cleanroom.Role   `json:"role,omitempty"`
	Memberships []membershipView `json:"memberships"`
	CSRFToken   string           `json:"csrf_token,omitempty"`
	Token       *cleanroom.Token `json:"token,omitempty"`
}

func (s *Server) me(w http.ResponseWriter, r *http.Request, c *call) error {
	ms, err := s.Store.ListMemberships(r.Context(), c.User.ID)
	if err != nil {
		return err
	}
	resp := meResponse{User: c.User, Org: c.Org, Role: c.Role, Memberships: []membershipView{}, Token: c.Token}
	for _, m := range ms {
		o, err := s.Store.FindOrg(r.Context(), m.OrgID)
		if err != nil {
			return err
		}
		resp.Memberships = append(resp.Memberships, membershipView{o.ID, o.Name, o.Kind, m.Role})
	}
	if c.Session != nil {
		resp.CSRFToken = c.Session.CSRFToken
	}
	return c.reply(http.StatusOK, resp)
}

func (s *Server) changePassword(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		Current string `json:"current_password"`
		New     string `json:"new_password"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	pc := accounts.PasswordChange{UserID: c.User.ID, Current: req.Current, New: req.New, Client: s.client(r)}
	if c.Session != nil {
		pc.KeepSession = c.Session.Hash
	}
	ended, err := s.Accounts.ChangePassword(r.Context(), pc)
	if err != nil {
		return err
	}
	c.target("user", c.User.ID)
	c.detail("sessions_ended", ended)
	return c.reply(http.StatusNoContent, nil)
}

// receivedInvitation is an invitation as the invited person sees it.
type receivedInvitation struct {
	ID             string                    `json:"id"`
	OrgID          string                    `json:"org_id"`
	OrgName        string                    `json:"org_name"`
	OrgKind        cleanroom.OrgKind         `json:"org_kind"`
	Role           cleanroom.Role            `json:"role"`
	RepresentsID   string                    `json:"represents_id,omitempty"`
	RepresentsName string                    `json:"represents_name,omitempty"`
	State          cleanroom.InvitationState `json:"state"`
	CreatedAt      time.Time                 `json:"created_at"`
	ExpiresAt      time.Time                 `json:"expires_at"`
}

func receivedView(r *accounts.Received) receivedInvitation {
	return receivedInvitation{ID: r.ID, OrgID: r.OrgID, OrgName: r.OrgName, OrgKind: r.OrgKind, Role: r.Role,
		RepresentsID: r.RepresentsID, RepresentsName: r.AdvertiserName, State: r.State, CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt}
}

func (s *Server) listMyInvitations(w http.ResponseWriter, r *http.Request, c *call) error {
	rs, err := s.Accounts.ReceivedInvitations(r.Context(), c.User)
	if err != nil {
		return err
	}
	views := make([]receivedInvitation, 0, len(rs))
	for _, x := range rs {
		views = append(views, receivedView(x))
	}
	res, err := pageList(r, views, func(v receivedInvitation) string { return v.ID })
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, res)
}

func (s *Server) acceptInvitation(w http.ResponseWriter, r *http.Request, c *call) error {
	return s.decideInvitation(r, c, s.Accounts.AcceptInvitation)
}

func (s *Server) declineInvitation(w http.ResponseWriter, r *http.Request, c *call) error {
	return s.decideInvitation(r, c, func(ctx context.Context, u *cleanroom.User, id string) (*accounts.Received, *cleanroom.Membership, error) {
		x, err := s.Accounts.DeclineInvitation(ctx, u, id)
		return x, nil, err
	})
}

// decideInvitation answers the invited person's accept or decline. The audit entry goes to the
// inviting org, which sees the answer.
func (s *Server) decideInvitation(r *http.Request, c *call, decide func(context.Context, *cleanroom.User, string) (*accounts.Received, *cleanroom.Membership, error)) error {
	id, err := pathID(r, "id", "Invitation")
	if err != nil {
		return err
	}
	x, _, err := decide(r.Context(), c.User, id)
	if err != nil {
		return err
	}
	c.audit.OrgID, c.audit.PartnerOrgID = x.OrgID, x.RepresentsID
	c.target("invitation", x.ID)
	return c.reply(http.StatusOK, receivedView(x))
}
