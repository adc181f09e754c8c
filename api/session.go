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

func (s *Server) login(w http.ResponseWriter, r *http.Request, c *call) error {
	var req loginRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	sess, u, err := s.Auth.Login(w, r, req.Email, req.Password, req.OrgID)
	if err != nil {
		return err
	}
	c.audit.OrgID = sess.OrgID
	c.audit.By(&cleanroom.Caller{User: u})
	c.target("user", u.ID)
	return c.created("/v1/me", sessionResponse{User: u, OrgID: sess.OrgID, CSRFToken: sess.CSRFToken, ExpiresAt: sess.ExpiresAt})
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.Auth.Logout(r.Context(), w, r, c.Caller); err != nil {
		return err
	}
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
	id, err := s.Accounts.SwitchOrg(r.Context(), c.Caller, req.OrgID)
	if err != nil {
		return err
	}
	c.audit.OrgID = id
	c.target("org", id)
	// Answer as GET /v1/me would now: the caller in the new org, with its role there.
	now, err := s.Auth.Authenticate(r)
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
	ms, err := s.Accounts.Memberships(r.Context(), c.Caller)
	if err != nil {
		return err
	}
	resp := meResponse{User: c.User, Org: c.Org, Role: c.Role, Memberships: []membershipView{}, Token: c.Token}
	for _, m := range ms {
		resp.Memberships = append(resp.Memberships, membershipView{m.Org.ID, m.Org.Name, m.Org.Kind, m.Role})
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
	ended, err := s.Accounts.ChangePassword(r.Context(), c.Caller, req.Current, req.New, s.Auth.Client(r))
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
	rs, err := s.Accounts.ReceivedInvitations(r.Context(), c.Caller)
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
	return s.decideInvitation(r, c, func(ctx context.Context, caller *cleanroom.Caller, id string) (*accounts.Received, *cleanroom.Membership, error) {
		x, err := s.Accounts.DeclineInvitation(ctx, caller, id)
		return x, nil, err
	})
}

// decideInvitation answers the invited person's accept or decline. The audit entry goes to the
// inviting org, which sees the answer.
func (s *Server) decideInvitation(r *http.Request, c *call, decide func(context.Context, *cleanroom.Caller, string) (*accounts.Received, *cleanroom.Membership, error)) error {
	id, err := pathID(r, "id", "Invitation")
	if err != nil {
		return err
	}
	x, _, err := decide(r.Context(), c.Caller, id)
	if err != nil {
		return err
	}
	c.audit.OrgID, c.audit.PartnerOrgID = x.OrgID, x.RepresentsID
	c.target("invitation", x.ID)
	return c.reply(http.StatusOK, receivedView(x))
}
