package api

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/accounts"
	"github.com/cleanroom-oss/cleanroom/auth"
)

// Names of the session cookie and the CSRF header.
const (
	SessionCookie = "cleanroom_session"
	CSRFHeader    = "X-CSRF-Token"
)

// Caller is who is making a request, and in which org.
type Caller struct {
	User *cleanroom.User
	// Org is the org the caller acts in; nil for an operator acting in none.
	Org *cleanroom.Org
	// Role is the caller's role in Org (operators acting in an org they do not belong to are admins).
	Role cleanroom.Role
	// RepresentsID is, for RoleLimited, the advertiser the caller acts for.
	RepresentsID string
	// Exactly one of Token and Session is set.
	Token   *cleanroom.Token
	Session *cleanroom.Session
}

// OrgID returns the ID of the org the caller acts in, or "".
func (c *Caller) OrgID() string {
	if c.Org == nil {
		return ""
	}
	return c.Org.ID
}

// Authenticate resolves the request's credentials: a bearer token in the Authorization header,
// else the session cookie. It returns EUNAUTHENTICATED when there are none or they are not valid.
func (s *Server) Authenticate(r *http.Request) (*Caller, error) {
	ctx := r.Context()
	now := s.now()
	if h := r.Header.Get("Authorization"); h != "" {
		secret, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || secret == "" {
			return nil, cleanroom.Errorf(cleanroom.EUNAUTHENTICATED, "The Authorization header must be \"Bearer <token>\".")
		}
		t, err := s.Store.FindTokenByHash(ctx, auth.HashSecret(strings.TrimSpace(secret)))
		if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND || (err == nil && !t.Active(now)) {
			return nil, cleanroom.Errorf(cleanroom.EUNAUTHENTICATED, "The API token is not valid, or was revoked or has expired.").
				Hint("Create a new token in Settings or with cleanroom admin create-token.")
		} else if err != nil {
			return nil, err
		}
		if now.Sub(t.LastUsedAt) > time.Minute {
			if err := s.Store.TouchToken(ctx, t.ID, now); err != nil {
				s.Logger.Warn("touch token", "err", err)
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
	ck, err := r.Cookie(SessionCookie)
	if err != nil || ck.Value == "" {
		return nil, cleanroom.Errorf(cleanroom.EUNAUTHENTICATED, "Sign in, or send an API token as \"Authorization: Bearer <token>\".")
	}
	sess, err := s.Store.FindSession(ctx, auth.HashSecret(ck.Value), now)
	if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
		return nil, cleanroom.Errorf(cleanroom.EUNAUTHENTICATED, "The session has ended; sign in again.")
	} else if err != nil {
		return nil, err
	}
	if now.Sub(sess.LastSeenAt) > time.Minute {
		sess.LastSeenAt = now
		sess.ExpiresAt = now.Add(accounts.SessionIdle)
		if end := sess.CreatedAt.Add(accounts.SessionMax); end.Before(sess.ExpiresAt) {
			sess.ExpiresAt = end
		}
		if err := s.Store.UpdateSession(ctx, sess); err != nil {
			s.Logger.Warn("extend session", "err", err)
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
func (s *Server) callerFor(ctx context.Context, userID, orgID string) (*Caller, error) {
	u, err := s.Store.FindUser(ctx, userID)
	if err != nil {
		return nil, unauthenticatedIfMissing(err)
	}
	c := &Caller{User: u}
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

// SetSessionCookie sets the session cookie on w.
func (s *Server) SetSessionCookie(w http.ResponseWriter, r *http.Request, secret string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: secret, Path: "/", Expires: expires,
		HttpOnly: true, Secure: s.SecureCookies || r.TLS != nil, SameSite: http.SameSiteLaxMode,
	})
}

// ClearSessionCookie removes the session cookie.
func (s *Server) ClearSessionCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.SecureCookies || r.TLS != nil, SameSite: http.SameSiteLaxMode,
	})
}

// ClientAddr returns the client's address for rate limiting and logs: the connection's remote
// address without the port, or, when that is one of the server's TrustedProxies, the nearest
// address in X-Forwarded-For that is not a trusted proxy.
func (s *Server) ClientAddr(r *http.Request) string {
	a := r.RemoteAddr
	if i := strings.LastIndexByte(a, ':'); i > 0 {
		a = a[:i]
	}
	a = strings.Trim(a, "[]")
	if !s.trusted(a) {
		return a
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h := strings.TrimSpace(hops[i])
		if _, err := netip.ParseAddr(h); err != nil {
			break // a malformed hop: trust nothing before it
		}
		a = h
		if !s.trusted(h) {
			break
		}
	}
	return a
}

// trusted reports whether addr is one of the TrustedProxies.
func (s *Server) trusted(addr string) bool {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	for _, p := range s.TrustedProxies {
		if p.Contains(ip.Unmap()) {
			return true
		}
	}
	return false
}
