package api

import (
	"net/http"
	"time"

	"github.com/cleanroom-oss/cleanroom"
)

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, c *call) error {
	page, err := pageOf(r)
	if err != nil {
		return err
	}
	ts, next, err := s.Accounts.Tokens(r.Context(), c.Caller, page)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, list[*cleanroom.Token]{Items: ts, Next: next})
}

type createTokenRequest struct {
	Name string `json:"name"`
	// ExpiresInDays is the token's lifetime; 0 means it does not expire.
	ExpiresInDays int `json:"expires_in_days,omitempty"`
}

type createTokenResponse struct {
	Token  *cleanroom.Token `json:"token"`
	Secret string           `json:"secret"`
}

func (req createTokenRequest) ttl() time.Duration {
	return time.Duration(req.ExpiresInDays) * 24 * time.Hour
}

// createToken makes a token that acts as the caller.
func (s *Server) createToken(w http.ResponseWriter, r *http.Request, c *call) error {
	var req createTokenRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	secret, t, err := s.Accounts.CreateToken(r.Context(), c.Caller, req.Name, req.ttl())
	if err != nil {
		return err
	}
	c.target("token", t.ID)
	return c.created("/v1/tokens/"+t.ID, createTokenResponse{Token: t, Secret: secret})
}

func (s *Server) getToken(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id", "Token")
	if err != nil {
		return err
	}
	t, err := s.Accounts.Token(r.Context(), c.Caller, id)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, t)
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id", "Token")
	if err != nil {
		return err
	}
	t, err := s.Accounts.RevokeToken(r.Context(), c.Caller, id)
	if err != nil {
		return err
	}
	c.target("token", t.ID)
	return c.reply(http.StatusNoContent, nil)
}

func (s *Server) listServiceAccounts(w http.ResponseWriter, r *http.Request, c *call) error {
	ms, err := s.Accounts.ServiceAccounts(r.Context(), c.Caller)
	if err != nil {
		return err
	}
	out, err := pageList(r, ms, func(m *cleanroom.Member) string { return m.ID })
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, out)
}

func (s *Server) createServiceAccount(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		Name string         `json:"name"`
		Role cleanroom.Role `json:"role"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	m, err := s.Accounts.CreateServiceAccount(r.Context(), c.Caller, req.Name, req.Role)
	if err != nil {
		return err
	}
	c.target("service_account", m.ID)
	c.detail("role", m.Role)
	return c.created("/v1/service-accounts/"+m.ID, m)
}

func (s *Server) getServiceAccount(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id", "Service account")
	if err != nil {
		return err
	}
	m, err := s.Accounts.ServiceAccount(r.Context(), c.Caller, id)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, m)
}

func (s *Server) deleteServiceAccount(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id", "Service account")
	if err != nil {
		return err
	}
	m, err := s.Accounts.DeleteServiceAccount(r.Context(), c.Caller, id)
	if err != nil {
		return err
	}
	c.target("service_account", m.ID)
	return c.reply(http.StatusNoContent, nil)
}

func (s *Server) createServiceAccountToken(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id", "Service account")
	if err != nil {
		return err
	}
	var req createTokenRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	secret, t, m, err := s.Accounts.CreateServiceAccountToken(r.Context(), c.Caller, id, req.Name, req.ttl())
	if err != nil {
		return err
	}
	c.target("token", t.ID)
	c.detail("service_account", m.ID)
	return c.created("/v1/tokens/"+t.ID, createTokenResponse{Token: t, Secret: secret})
}
