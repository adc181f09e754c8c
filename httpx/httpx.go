// Package httpx is the HTTP face of credentials and errors that the API and the dashboard share:
// reading a request's credentials (bearer token or session cookie) and resolving them through the
// accounts service, the session and device cookies, sign-in, the client's address behind trusted
// reverse proxies (for the accounts service's sign-in throttle), and the HTTP status of each error
// code (429 with Retry-After for a throttled one). It holds no rules of its own: those live in the
// services.
package httpx

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/accounts"
)

// Names of the session cookie and the CSRF header.
const (
	SessionCookie = "cleanroom_session"
	CSRFHeader    = "X-CSRF-Token"
)

// DeviceCookie names the cookie that marks a browser as having signed in to an account before, so
// that others' failed sign-ins do not slow it down (see accounts.Throttle). It authenticates
// nothing.
const DeviceCookie = "cleanroom_device"

// deviceCookieAge is how long a browser stays known for the account it last signed in to.
const deviceCookieAge = 180 * 24 * time.Hour

// Auth turns requests into callers and starts and ends sessions.
type Auth struct {
	Accounts *accounts.Service
	Logger   *slog.Logger
	// SecureCookies marks session cookies Secure; requests that arrive over TLS get Secure
	// cookies anyway.
	SecureCookies bool
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names the client (for the
	// sign-in throttle and logs); empty means the connection's address is the client's.
	TrustedProxies []netip.Prefix
}

// NewAuth returns an Auth over the accounts service (which throttles sign-in).
func NewAuth(acc *accounts.Service, logger *slog.Logger) *Auth {
	return &Auth{Accounts: acc, Logger: logger}
}

// Client describes where the request comes from, for the accounts service's password throttle:
// the client's address and its device cookie.
func (a *Auth) Client(r *http.Request) accounts.Client {
	c := accounts.Client{Addr: a.ClientAddr(r)}
	if ck, err := r.Cookie(DeviceCookie); err == nil {
		c.Device = ck.Value
	}
	return c
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

// Login checks the password (the accounts service throttles failures per client), starts a
// session and sets the session and device cookies.
func (a *Auth) Login(w http.ResponseWriter, r *http.Request, email, password, orgID string) (*cleanroom.Session, *cleanroom.User, error) {
	if orgID != "" {
		var err error
		if orgID, err = cleanroom.ParseID("organization ID", orgID); err != nil {
			return nil, nil, err
		}
	}
	in, err := a.Accounts.Login(r.Context(), accounts.SignIn{Email: email, Password: password, OrgID: orgID, Client: a.Client(r)})
	if err != nil {
		if code := cleanroom.ErrorCode(err); code == cleanroom.EUNAUTHENTICATED || code == cleanroom.EUNAVAILABLE {
			a.Logger.Warn("sign-in failed", "addr", a.ClientAddr(r), "err", cleanroom.ErrorMessage(err))
		}
		return nil, nil, err
	}
	a.SetSessionCookie(w, r, in.Secret, in.Session.CreatedAt.Add(accounts.SessionMax))
	if in.Device != "" {
		http.SetCookie(w, &http.Cookie{
			Name: DeviceCookie, Value: in.Device, Path: "/", MaxAge: int(deviceCookieAge / time.Second),
			HttpOnly: true, Secure: a.SecureCookies || r.TLS != nil, SameSite: http.SameSiteStrictMode,
		})
	}
	return in.Session, in.User, nil
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

// RetryAfter reports whether err is a rate limit (EUNAVAILABLE with retry_after_seconds in its
// details, as the sign-in throttle answers) and the seconds to wait. Such errors answer 429 with
// a Retry-After header.
func RetryAfter(err error) (seconds int, ok bool) {
	if cleanroom.ErrorCode(err) != cleanroom.EUNAVAILABLE {
		return 0, false
	}
	seconds, ok = cleanroom.ErrorDetails(err)["retry_after_seconds"].(int)
	return seconds, ok
}

// StatusError carries an HTTP status that differs from its code's usual one (413, 405).
type StatusError struct {
	Status int
	Err    *cleanroom.Error
}

func (e *StatusError) Error() string { return e.Err.Error() }
func (e *StatusError) Unwrap() error { return e.Err }
