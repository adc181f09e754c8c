package accounts

import (
	"context"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/auth"
)

// MaxTokenLifetime is the longest lifetime a token may be given (0 means no expiry).
const MaxTokenLifetime = 3650 * 24 * time.Hour

// CreateToken makes an API token that acts as the caller, in the caller's org, and returns its
// secret, shown once. A token acts only as the person who made it: nobody, admins included, makes
// a token that acts as someone else. A service account does not make tokens; its org's admins
// make them (CreateServiceAccountToken). Returns EFORBIDDEN for a service account or a caller in
// no org, EINVALID for a bad name or lifetime.
func (s *Service) CreateToken(ctx context.Context, c *cleanroom.Caller, name string, ttl time.Duration) (string, *cleanroom.Token, error) {
	if c.User == nil || c.User.ServiceAccount {
		return "", nil, cleanroom.Errorf(cleanroom.EFORBIDDEN, "A service account does not make tokens; an admin of its organization does.").
			Hint("Ask an admin to create a token for the service account (POST /v1/service-accounts/{id}/tokens).")
	}
	if c.OrgID() == "" {
		return "", nil, cleanroom.Errorf(cleanroom.EFORBIDDEN, "A token acts in an organization; choose one first.").
			Hint("Switch to the organization (PUT /v1/session/org), or use cleanroom admin create-token for an operator token.")
	}
	if c.Role != cleanroom.RoleLimited {
		if err := c.InOrg(cleanroom.RoleMember); err != nil {
			return "", nil, cleanroom.Errorf(cleanroom.EFORBIDDEN, "Making an API token needs the member role or higher; you are %s.", c.Role).
				Hint("Ask an admin of the organization for the member role, or for a service account's token.")
		}
	}
	return s.IssueToken(ctx, c.User.ID, c.OrgID(), name, ttl)
}

// IssueToken creates an API token for a user acting in orgID ("" for an operator token with no
// org) and returns its secret, which is shown once. ttl 0 means no expiry. It checks that the user
// may act there, but not who asks: it serves the operator's CLI and the demo, which act with
// direct access to the deployment; requests go through CreateToken and
// CreateServiceAccountToken.
func (s *Service) IssueToken(ctx context.Context, userID, orgID, name string, ttl time.Duration) (string, *cleanroom.Token, error) {
	if name == "" {
		name = "token"
	}
	if err := cleanroom.ValidateName("token name", name); err != nil {
		return "", nil, err
	}
	if ttl < 0 || ttl > MaxTokenLifetime {
		return "", nil, cleanroom.Errorf(cleanroom.EINVALID, "A token lives from 0 (never expires) to %d days.", int(MaxTokenLifetime.Hours()/24)).
			With("field", "expires_in_days")
	}
	u, err := s.Store.FindUser(ctx, userID)
	if err != nil {
		return "", nil, err
	}
	if orgID == "" {
		if !u.Operator {
			return "", nil, cleanroom.Errorf(cleanroom.EINVALID, "A token must act in an organization unless its user is an operator.").With("field", "org_id")
		}
	} else if _, err := s.Store.FindMember(ctx, orgID, userID); err != nil {
		if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND && u.Operator {
			// Operators may act in any org.
			if _, err := s.Store.FindOrg(ctx, orgID); err != nil {
				return "", nil, err
			}
		} else {
			return "", nil, err
		}
	}
	secret, prefix, hash := auth.NewToken()
	now := s.now()
	t := &cleanroom.Token{ID: NewID(), UserID: userID, OrgID: orgID, Name: name, Prefix: prefix, Hash: hash, CreatedAt: now}
	if ttl > 0 {
		t.ExpiresAt = now.Add(ttl)
	}
	if err := s.Store.CreateToken(ctx, t); err != nil {
		return "", nil, err
	}
	return secret, t, nil
}

// tokenOwner is the user whose tokens the caller may see and revoke: every token of the org for
// admins (people's and service accounts'), the caller's own otherwise.
func tokenOwner(c *cleanroom.Caller) string {
	if c.Role.AtLeast(cleanroom.RoleAdmin) {
		return ""
	}
	return c.UserID()
}

// Tokens lists the tokens the caller may see in its org: all of them for admins, its own for
// everyone else.
func (s *Service) Tokens(ctx context.Context, c *cleanroom.Caller, p cleanroom.Page) ([]*cleanroom.Token, string, error) {
	if c.OrgID() == "" {
		return nil, "", cleanroom.Errorf(cleanroom.EFORBIDDEN, "Tokens are listed in an organization; choose one first.")
	}
	return s.Store.ListTokens(ctx, c.OrgID(), tokenOwner(c), p)
}

// Token returns a token the caller may see. Returns ENOTFOUND for another org's token, or for a
// non-admin, another member's.
func (s *Service) Token(ctx context.Context, c *cleanroom.Caller, id string) (*cleanroom.Token, error) {
	t, err := s.Store.FindToken(ctx, id)
	if err != nil {
		return nil, err
	}
	if owner := tokenOwner(c); t.OrgID != c.OrgID() || c.OrgID() == "" || (owner != "" && t.UserID != owner) {
		return nil, cleanroom.Errorf(cleanroom.ENOTFOUND, "Token not found.")
	}
	return t, nil
}

// RevokeToken revokes a token the caller may see (see Token).
func (s *Service) RevokeToken(ctx context.Context, c *cleanroom.Caller, id string) (*cleanroom.Token, error) {
	t, err := s.Token(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if err := s.Store.RevokeToken(ctx, t.ID, s.now()); err != nil {
		return nil, err
	}
	return t, nil
}
