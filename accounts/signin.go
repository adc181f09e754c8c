package accounts

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/auth"
)

// Client is where a password check (a sign-in, or the current password of a password change)
// comes from.
type Client struct {
	// Addr is the client's network address, as the API resolves it behind trusted proxies.
	Addr string
	// Device is the value of the client's device cookie, if it sent one: proof that this browser
	// signed in to the account before (see Throttle). Anything else is ignored.
	Device string
}

// Throttle slows password guessing without letting anyone lock another person out.
//
// Every password check takes a token from the buckets below before the password is verified and
// gives it back when the password was right, so only failures are charged, and concurrent
// guesses cannot slip past a limit. A client is a network address, or, when it presents a valid
// device cookie for the account (set by an earlier successful sign-in to that account), that
// browser.
//
//   - Addr: failures per client address, across every account. One address guessing at many
//     accounts, or hard at one, is refused once it runs out.
//   - AccountClient: failures per (account, client). A client is refused further guesses at one
//     account; other clients, the owner's included, are not affected.
//   - Account: failures per account from every client. It never refuses by itself. When it runs
//     out the account is under a distributed attack, and each client without a device cookie for
//     it then gets only Slow's allowance for that account: one attempt, then one per Slow
//     interval. A client that has not failed at the account (the owner signing in from anywhere)
//     still gets its attempt, and the right password is never refused to it.
//
// Browsers with a device cookie for the account skip Addr and Account (a shared address flooded
// by an attacker does not block them) and are held to AccountClient alone. A successful check
// clears the client's failures at that account, but not its address's failures elsewhere: an
// attacker cannot reset its budget by signing in to an account of its own.
type Throttle struct {
	Addr, AccountClient, Account, Slow *auth.Limiter
}

// Default limits of NewThrottle.
const (
	AddrBurst, AddrEvery                   = 20, 30 * time.Second
	AccountClientBurst, AccountClientEvery = 5, time.Minute
	AccountBurst, AccountEvery             = 100, time.Minute
	SlowEvery                              = 15 * time.Minute
)

// NewThrottle returns a Throttle with the default limits.
func NewThrottle() *Throttle {
	return &Throttle{
		Addr:          auth.NewLimiter(AddrBurst, AddrEvery),
		AccountClient: auth.NewLimiter(AccountClientBurst, AccountClientEvery),
		Account:       auth.NewLimiter(AccountBurst, AccountEvery),
		Slow:          auth.NewLimiter(1, SlowEvery),
	}
}

// SetClock makes every limiter read now (for tests).
func (t *Throttle) SetClock(now func() time.Time) {
	for _, l := range []*auth.Limiter{t.Addr, t.AccountClient, t.Account, t.Slow} {
		l.Now = now
	}
}

// taken is a token taken from a limiter's bucket.
type taken struct {
	l   *auth.Limiter
	key string
}

// attempt is one password check in progress: the tokens it took.
type attempt struct {
	taken []taken
	// clear are the buckets a success empties of failures (the client's at this account).
	clear []taken
}

// begin takes a token for a password check of account by client (known: its device cookie is
// valid for the account, and device is its ID) or refuses it with EUNAVAILABLE and
// retry_after_seconds. A nil Throttle limits nothing.
func (t *Throttle) begin(account string, c Client, device string) (*attempt, error) {
	a := &attempt{}
	if t == nil {
		return a, nil
	}
	client := "addr:" + c.Addr
	if device != "" {
		client = "device:" + device
	}
	pair := account + "\x00" + client
	take := func(l *auth.Limiter, key string) time.Duration {
		if ok, wait := l.Allow(key); !ok {
			return wait
		}
		a.taken = append(a.taken, taken{l, key})
		return 0
	}
	wait := time.Duration(0)
	if device == "" {
		wait = take(t.Addr, c.Addr)
	}
	if wait == 0 {
		wait = take(t.AccountClient, pair)
	}
	if wait == 0 && device == "" {
		if ok, _ := t.Account.Allow(account); ok {
			a.taken = append(a.taken, taken{t.Account, account})
		} else {
			wait = take(t.Slow, pair) // under attack: this client's one attempt per Slow interval
		}
	}
	a.clear = []taken{{t.AccountClient, pair}, {t.Slow, pair}}
	if wait > 0 {
		a.release()
		secs := int((wait + time.Second - 1) / time.Second)
		return nil, cleanroom.Errorf(cleanroom.EUNAVAILABLE, "Too many failed sign-in attempts; wait %d seconds and try again.", secs).
			With("retry_after_seconds", secs)
	}
	return a, nil
}

// release gives back the tokens: the check did not happen (a store error) or it succeeded.
func (a *attempt) release() {
	for _, t := range a.taken {
		t.l.Refund(t.key)
	}
	a.taken = nil
}

// succeeded settles a check whose password was right.
func (a *attempt) succeeded() {
	a.release()
	for _, t := range a.clear {
		t.l.Reset(t.key)
	}
}

// accountKey is the throttle's name for the account an email names, known or not, so that
// unknown addresses are throttled exactly like known ones.
func accountKey(email string) string {
	if e, err := cleanroom.NormalizeEmail(email); err == nil {
		return e
	}
	return strings.ToLower(strings.TrimSpace(email))
}

// Device cookies: 16 random bytes and the first 16 bytes of their HMAC-SHA256 with the account,
// under a key derived from the master key. They prove only that this browser signed in to the
// account before; they authenticate nothing.
const deviceNonce, deviceMAC = 16, 16

func (s *Service) deviceMAC(account string, nonce []byte) []byte {
	m := hmac.New(sha256.New, s.Keys.Derive("sign-in-device/v1"))
	m.Write([]byte(account))
	m.Write([]byte{0})
	m.Write(nonce)
	return m.Sum(nil)[:deviceMAC]
}

// newDevice returns a device cookie value for account ("" without a master key).
func (s *Service) newDevice(account string) string {
	if s.Keys == nil {
		return ""
	}
	nonce := make([]byte, deviceNonce)
	rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(append(nonce, s.deviceMAC(account, nonce)...))
}

// knownDevice returns the ID of the device whose cookie value is token when it is valid for
// account, else "".
func (s *Service) knownDevice(account, token string) string {
	if s.Keys == nil || token == "" || len(token) > 64 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) != deviceNonce+deviceMAC {
		return ""
	}
	if !hmac.Equal(b[deviceNonce:], s.deviceMAC(account, b[:deviceNonce])) {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(b[:deviceNonce])
}
