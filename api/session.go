package api

import (
	"net/http"
	"time"

	"github.com/cleanroom-oss/cleanroom"
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
	if err := s.Accounts.ChangePassword(r.Context(), c.User.ID, req.Current, req.New); err != nil {
		return err
	}
	c.target("user", c.User.ID)
	return c.reply(http.StatusNoContent, nil)
}
