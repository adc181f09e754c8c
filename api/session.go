package api

import (
	"net/http"
	"strconv"
	"strings"
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

// Login checks the rate limits and the password and starts a session. The web package uses it
// for its form login too.
func (s *Server) Login(w http.ResponseWriter, r *http.Request, email, password, orgID string) (*cleanroom.Session, *cleanroom.User, error) {
	for _, key := range []string{"addr:" + s.ClientAddr(r), "email:" + strings.ToLower(strings.TrimSpace(email))} {
		if ok, wait := s.LoginLimiter.Allow(key); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
			return nil, nil, &statusError{http.StatusTooManyRequests,
				cleanroom.Errorf(cleanroom.EUNAVAILABLE, "Too many sign-in attempts; wait %d seconds and try again.", int(wait.Seconds())+1).
					With("retry_after_seconds", int(wait.Seconds())+1)}
		}
	}
	if orgID != "" {
		var err error
		if orgID, err = cleanroom.ParseID("organization ID", orgID); err != nil {
			return nil, nil, err
		}
	}
	secret, sess, u, err := s.Accounts.Login(r.Context(), email, password, orgID)
	if err != nil {
		if cleanroom.ErrorCode(err) == cleanroom.EUNAUTHENTICATED {
			s.Logger.Warn("sign-in failed", "addr", s.ClientAddr(r))
		}
		return nil, nil, err
	}
	s.LoginLimiter.Reset("email:" + u.Email)
	s.SetSessionCookie(w, r, secret, sess.CreatedAt.Add(7*24*time.Hour))
	return sess, u, nil
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
	if err := s.Accounts.ChangePassword(r.Context(), c.User.ID, req.Current, req.New); err != nil {
		return err
	}
	c.target("user", c.User.ID)
	return c.reply(http.StatusNoContent, nil)
}
