package accounts

import (
	"context"
	"log/slog"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/auth"
)

// Credentials are what a request presents: an API token's secret, else a session's secret.
type Credentials struct {
	Token   string
	Session string
}

// Authenticate resolves credentials to the caller they act as: the token's user (a person or a
// service account) in the token's org, or the session's user in the session's current org. It
// records the token's use and extends the session. Returns EUNAUTHENTICATED when there are no
// credentials or they are not valid (unknown, revoked, expired, or the user no longer belongs
// to the org).
func (s *Service) Authenticate(ctx context.Context, cr Credentials) (*cleanroom.Caller, error) {
	if cr.Token == "" && cr.Session == "" {
		return nil, cleanroom.Errorf(cleanroom.EUNAUTHENTICATED, "Sign in, or send an API token as \"Authorization: Bearer <token>\".")
	}
	now := s.now()
	if cr.Token != "" {
		t, err := s.Store.FindTokenByHash(ctx, auth.HashSecret(cr.Token))
		if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND || (err == nil && !t.Active(now)) {
			return nil, cleanroom.Errorf(cleanroom.EUNAUTHENTICATED, "The API token is not valid, or was revoked or has expired.").
				Hint("Create a new token with POST /v1/tokens or cleanroom admin create-token; the dashboard's Settings page lists your tokens and makes new ones.")
		} else if err != nil {
			return nil, err
		}
		if now.Sub(t.LastUsedAt) > time.Minute {
			if err := s.Store.TouchToken(ctx, t.ID, now); err != nil {
				slog.Warn("touch token", "err", err)
			}
			t.LastUsedAt = now
		}
		c, err := s.callerFor(ctx, t.UserID, t.OrgID)
		if err != nil {
			return nil, err
		}
		c.Token = t
		return c, nil
	}
	sess, err := s.Store.FindSession(ctx, auth.HashSecret(cr.Session), now)
	if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
		return nil, cleanroom.Errorf(cleanroom.EUNAUTHENTICATED, "The session has ended; sign in again.")
	} else if err != nil {
		return nil, err
	}
	if now.Sub(sess.LastSeenAt) > time.Minute {
		sess.LastSeenAt = now
		sess.ExpiresAt = now.Add(SessionIdle)
		if end := sess.CreatedAt.Add(SessionMax); end.Before(sess.ExpiresAt) {
			sess.ExpiresAt = end
		}
		if err := s.Store.UpdateSession(ctx, sess); err != nil {
			slog.Warn("extend session", "err", err)
		}
	}
	c, err := s.callerFor(ctx, sess.UserID, sess.OrgID)
	if err != nil {
		return nil, err
	}
	c.Session = sess
	return c, nil
}

// callerFor loads the user and, when orgID is set, the org and the user's role there. A user who
// was removed from the org is no longer authenticated there.
func (s *Service) callerFor(ctx context.Context, userID, orgID string) (*cleanroom.Caller, error) {
	u, err := s.Store.FindUser(ctx, userID)
	if err != nil {
		return nil, unauthenticatedIfMissing(err)
	}
	c := &cleanroom.Caller{User: u}
	if orgID == "" {
		return c, nil
	}
	if c.Org, err = s.Store.FindOrg(ctx, orgID); err != nil {
		return nil, unauthenticatedIfMissing(err)
	}
	m, err := s.Store.FindMember(ctx, orgID, userID)
	switch {
	case err == nil:
		c.Role, c.RepresentsID = m.Role, m.RepresentsID
	case cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND && u.Operator:
		c.Role = cleanroom.RoleAdmin
	default:
		return nil, unauthenticatedIfMissing(err)
	}
	return c, nil
}

func unauthenticatedIfMissing(err error) error {
	if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
		return cleanroom.Errorf(cleanroom.EUNAUTHENTICATED, "The credentials no longer give access to this organization.")
	}
	return err
}

// Logout ends the caller's session. Returns EINVALID for a token, which has no session to end.
func (s *Service) Logout(ctx context.Context, c *cleanroom.Caller) error {
	if c.Session == nil {
		return cleanroom.Errorf(cleanroom.EINVALID, "Token requests have no session to end; revoke the token with DELETE /v1/tokens/{id} instead.")
	}
	return s.Store.DeleteSession(ctx, c.Session.Hash)
}

// SwitchOrg makes the caller's session act in orgText, which the user must belong to (operators:
// any org), and returns the org's ID. Returns EINVALID for a token (it acts in the one org it was
// issued for) or a malformed ID, ENOTFOUND for an org the user may not act in.
func (s *Service) SwitchOrg(ctx context.Context, c *cleanroom.Caller, orgText string) (string, error) {
	if c.Session == nil {
		return "", cleanroom.Errorf(cleanroom.EINVALID, "A token acts in the one organization it was issued for; issue a token for the other organization instead.")
	}
	id, err := cleanroom.ParseID("organization ID", orgText)
	if err != nil {
		return "", err
	}
	if id, err = s.SessionOrg(ctx, c.User, id); err != nil {
		return "", err
	}
	c.Session.OrgID = id
	return id, s.Store.UpdateSession(ctx, c.Session)
}
