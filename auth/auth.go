// Package auth holds the credential primitives: password hashing (argon2id), API token and session
// secrets (random, stored as SHA-256), and the login rate limiter. It knows nothing of HTTP or
// storage; the api package uses it to authenticate requests and the CLI to bootstrap accounts.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/cleanroom-oss/cleanroom"
)

// Params are argon2id cost parameters.
type Params struct {
	MemoryKiB uint32
	Time      uint32
}

// DefaultParams is the OWASP baseline: 19 MiB, 2 passes (one lane).
var DefaultParams = Params{MemoryKiB: 19 * 1024, Time: 2}

// TestParams are cheap parameters for tests that create many accounts. Never use them for real
// accounts.
var TestParams = Params{MemoryKiB: 64, Time: 1}

const (
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// Password length bounds.
const (
	MinPasswordLen = 12
	MaxPasswordLen = 256
)

// ValidatePassword checks a new password's length.
func ValidatePassword(pw string) error {
	n := utf8.RuneCountInString(pw)
	if n < MinPasswordLen || len(pw) > MaxPasswordLen {
		return cleanroom.Errorf(cleanroom.EINVALID, "The password must be %d to %d characters long.", MinPasswordLen, MaxPasswordLen).
			With("field", "password")
	}
	return nil
}

// HashPassword returns the encoded argon2id hash of pw with a random salt, at DefaultParams.
func HashPassword(pw string) string { return DefaultParams.Hash(pw) }

// Hash returns the encoded argon2id hash of pw with a random salt at these parameters. The
// parameters are stored in the hash, so VerifyPassword needs no configuration.
func (p Params) Hash(pw string) string {
	salt := make([]byte, argonSaltLen)
	rand.Read(salt)
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.MemoryKiB, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// dummyHash is verified against when a login names an unknown user, so that unknown and known
// emails take the same time.
var dummyHash = HashPassword("not a password of anyone's")

// VerifyPassword reports whether pw matches the encoded hash. An empty or malformed hash never
// matches, but costs the same time as a real check.
func VerifyPassword(encoded, pw string) bool {
	var v int
	var m uint32
	var t uint32
	var p uint8
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		VerifyPassword(dummyHash, pw)
		return false
	}
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m > 1<<21 || t > 16 || p == 0 {
		return false
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// Secret prefixes: they make leaked tokens easy to recognise in logs and by secret scanners.
const (
	TokenPrefix   = "crt_"
	sessionPrefix = "crs_"
)

// NewToken returns a new API token secret, its displayable prefix and its stored hash.
func NewToken() (secret, prefix string, hash []byte) {
	secret = newSecret(TokenPrefix)
	return secret, secret[:len(TokenPrefix)+6], HashSecret(secret)
}

// NewSessionSecret returns a new session cookie value and its stored hash.
func NewSessionSecret() (secret string, hash []byte) {
	secret = newSecret(sessionPrefix)
	return secret, HashSecret(secret)
}

// NewCSRFToken returns a random token for a session's cookie-authenticated writes.
func NewCSRFToken() string { return newSecret("") }

// HashSecret returns the SHA-256 of a token or session secret. The secrets carry 256 random bits,
// so a fast hash is enough: there is nothing to brute-force.
func HashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// EqualSecret compares two secrets in constant time.
func EqualSecret(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func newSecret(prefix string) string {
	b := make([]byte, 32)
	rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}
