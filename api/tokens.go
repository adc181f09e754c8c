package api

import (
	"net/http"
	"time"

	"github.com/cleanroom-oss/cleanroom"
)

// tokenOwnerFilter is the user whose tokens the caller may see: all of the org's for admins, the
// caller's own otherwise.
func tokenOwnerFilter(c *call) string {
	if c.Role.AtLeast(cleanroom.RoleAdmin) {
		return ""
	}
	return c.User.ID
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, c *call) error {
	page, err := pageOf(r)
	if err != nil {
		return err
	}
	ts, next, err := s.Store.ListTokens(r.Context(), c.Org.ID, tokenOwnerFilter(c), page)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, list[*cleanroom.Token]{Items: ts, Next: next})
}

type createTokenRequest struct {
	Name string `json:"name"`
	// UserID is the user the token acts as; admins may issue tokens for other members.
	UserID string `json:"user_id,omitempty"`
	// ExpiresInDays is the token's lifetime; 0 means it does not expire.
	ExpiresInDays int `json:"expires_in_days,omitempty"`
}

type createTokenResponse struct {
	Token  *cleanroom.Token `json:"token"`
	Secret string           `json:"secret"`
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request, c *call) error {
	var req createTokenRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	userID := c.User.ID
	if req.UserID != "" && req.UserID != c.User.ID {
		if !c.Role.AtLeast(cleanroom.RoleAdmin) {
			return errorf(cleanroom.EFORBIDDEN, "Only admins may issue tokens for other members.")
		}
		if _, err := s.Store.FindMember(r.Context(), c.Org.ID, req.UserID); err != nil {
			if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
				return cleanroom.Errorf(cleanroom.EINVALID, "user_id is not a member of this organization.").With("field", "user_id")
			}
			return err
		}
		userID = req.UserID
	}
	if req.ExpiresInDays < 0 || req.ExpiresInDays > 3650 {
		return cleanroom.Errorf(cleanroom.EINVALID, "expires_in_days must be from 0 (never) to 3650.").With("field", "expires_in_days")
	}
	secret, t, err := s.Accounts.IssueToken(r.Context(), userID, c.Org.ID, req.Name, time.Duration(req.ExpiresInDays)*24*time.Hour)
	if err != nil {
		return err
	}
	c.target("token", t.ID)
	c.detail("for_user", userID)
	return c.created("/v1/tokens/"+t.ID, createTokenResponse{Token: t, Secret: secret})
}

// token loads the {id} token if the caller may see it: its org's, and for non-admins their own.
func (s *Server) token(r *http.Request, c *call) (*cleanroom.Token, error) {
	id, err := pathID(r, "id", "Token")
	if err != nil {
		return nil, err
	}
	t, err := s.Store.FindToken(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if owner := tokenOwnerFilter(c); t.OrgID != c.Org.ID || (owner != "" && t.UserID != owner) {
		return nil, notFound("Token")
	}
	return t, nil
}

func (s *Server) getToken(w http.ResponseWriter, r *http.Request, c *call) error {
	t, err := s.token(r, c)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, t)
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request, c *call) error {
	t, err := s.token(r, c)
	if err != nil {
		return err
	}
	if err := s.Store.RevokeToken(r.Context(), t.ID, s.now()); err != nil {
		return err
	}
	c.target("token", t.ID)
	return c.reply(http.StatusNoContent, nil)
}
