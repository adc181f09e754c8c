// Package httpx is the HTTP face of credentials and errors that the API and the dashboard share:
// reading a request's credentials (bearer token or session cookie) and resolving them through the
// accounts service, the session cookie, sign-in with its rate limits, the client's address behind
// trusted reverse proxies, and the HTTP status of each error code. It holds no rules of its own:
// those live in the services.
package httpx

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
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

// Auth turns requests into callers and starts and ends sessions.
type Auth struct {
	Accounts *accounts.Service
	Logger   *slog.Logger
	// SecureCookies marks session cookies Secure; requests that arrive over TLS get Secure
	// cookies anyway.
	SecureCookies bool
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names the client (for the
	// login limiter and logs); empty means the connection's address is the client's.
	TrustedProxies []netip.Prefix
	// LoginLimiter limits sign-in attempts per client address and per email.
	LoginLimiter *auth.Limiter
}

// NewAuth returns an Auth with the default sign-in limits.
func NewAuth(acc *accounts.Service, logger *slog.Logger) *Auth {
	return &Auth{Accounts: acc, Logger: logger, LoginLimiter: auth.NewLimiter(10, 30*time.Second)}
}

// Credentials reads a request's credentials: "Authorization: Bearer <token>", else the session
// cookie. A malformed Authorization header is an EUNAUTHENTICATED error.
func Credentials(r *http.Request) (accounts.Credentials, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		secret, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || strings.TrimSpace(secret) == "" {
			return accounts.Credentials{}, cleanroom.Errorf(cleanroom.EUNAUTHENTICATED, "The Authorization header must be \"Bearer <token>\".")
		}
		return accounts.Credentials{Token: strings.TrimSpace(secret)}, nil
	}
	if ck, err := r.Cookie(SessionCookie); err == nil {
		return accounts.Credentials{Session: ck.Value}, nil
	}
	return accounts.Credentials{}, nil
}

// Authenticate resolves the request's credentials to a caller. It returns EUNAUTHENTICATED when
// there are none or they are not valid.
func (a *Auth) Authenticate(r *http.Request) (*cleanroom.Caller, error) {
	cr, err := Credentials(r)
	if err != nil {
		return nil, err
	}
	return a.Accounts.Authenticate(r.Context(), cr)
}

// Login checks the rate limits and the password, starts a session and sets its cookie.
func (a *Auth) Login(w http.ResponseWriter, r *http.Request, email, password, orgID string) (*cleanroom.Session, *cleanroom.User, error) {
	for _, key := range []string{"addr:" + a.ClientAddr(r), "email:" + strings.ToLower(strings.TrimSpace(email))} {
		if ok, wait := a.LoginLimiter.Allow(key); !ok {
			secs := int(wait.Seconds()) + 1
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			return nil, nil, &StatusError{Status: http.StatusTooManyRequests, Err: cleanroom.Errorf(cleanroom.EUNAVAILABLE, "Too many sign-in attempts; wait %d seconds and try again.", secs).
				With("retry_after_seconds", secs)}
		}
	}
	if orgID != "" {
		var err error
		if orgID, err = cleanroom.ParseID("organization ID", orgID); err != nil {
			return nil, nil, err
		}
	}
	secret, sess, u, err := a.Accounts.Login(r.Context(), email, password, orgID)
	if err != nil {
		if cleanroom.ErrorCode(err) == cleanroom.EUNAUTHENTICATED {
			a.Logger.Warn("sign-in failed", "addr", a.ClientAddr(r))
		}
		return nil, nil, err
	}
	a.LoginLimiter.Reset("email:" + u.Email)
	a.SetSessionCookie(w, r, secret, sess.CreatedAt.Add(accounts.SessionMax))
	return sess, u, nil
}

// Logout ends the caller's session and clears its cookie.
func (a *Auth) Logout(ctx context.Context, w http.ResponseWriter, r *http.Request, c *cleanroom.Caller) error {
	if err := a.Accounts.Logout(ctx, c); err != nil {
		return err
	}
	a.ClearSessionCookie(w, r)
	return nil
}

// SetSessionCookie sets the session cookie on w.
func (a *Auth) SetSessionCookie(w http.ResponseWriter, r *http.Request, secret string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: secret, Path: "/", Expires: expires,
		HttpOnly: true, Secure: a.SecureCookies || r.TLS != nil, SameSite: http.SameSiteLaxMode,
	})
}

// ClearSessionCookie removes the session cookie.
func (a *Auth) ClearSessionCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: a.SecureCookies || r.TLS != nil, SameSite: http.SameSiteLaxMode,
	})
}

// ClientAddr returns the client's address for rate limiting and logs: the connection's remote
// address without the port, or, when that is one of the TrustedProxies, the nearest address in
// X-Forwarded-For that is not a trusted proxy.
func (a *Auth) ClientAddr(r *http.Request) string {
	addr := r.RemoteAddr
	if i := strings.LastIndexByte(addr, ':'); i > 0 {
		addr = addr[:i]
	}
	addr = strings.Trim(addr, "[]")
	if !a.trusted(addr) {
		return addr
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h := strings.TrimSpace(hops[i])
		if _, err := netip.ParseAddr(h); err != nil {
			break // a malformed hop: trust nothing before it
		}
		addr = h
		if !a.trusted(h) {
			break
		}
	}
	return addr
}

// trusted reports whether addr is one of the TrustedProxies.
func (a *Auth) trusted(addr string) bool {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	for _, p := range a.TrustedProxies {
		if p.Contains(ip.Unmap()) {
			return true
		}
	}
	return false
}

// StatusOf maps error codes to HTTP statuses.
func StatusOf(code string) int {
	switch code {
	case cleanroom.EINVALID:
		return http.StatusBadRequest
	case cleanroom.ENOTFOUND:
		return http.StatusNotFound
	case cleanroom.ECONFLICT:
		return http.StatusConflict
	case cleanroom.EFORBIDDEN:
		return http.StatusForbidden
	case cleanroom.EUNAUTHENTICATED:
		return http.StatusUnauthorized
	case cleanroom.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// StatusError carries an HTTP status that differs from its code's usual one (413, 405, 429).
type StatusError struct {
	Status int
	Err    *cleanroom.Error
}

func (e *StatusError) Error() string { return e.Err.Error() }
func (e *StatusError) Unwrap() error { return e.Err }
