package auth_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom/auth"
)

func TestPassword(t *testing.T) {
	h := auth.HashPassword("correct horse battery")
	if !strings.HasPrefix(h, "$argon2id$v=19$") {
		t.Fatalf("hash %q is not an argon2id PHC string", h)
	}
	if !auth.VerifyPassword(h, "correct horse battery") {
		t.Error("right password refused")
	}
	if auth.VerifyPassword(h, "correct horse batterz") {
		t.Error("wrong password accepted")
	}
	if h == auth.HashPassword("correct horse battery") {
		t.Error("two hashes of one password are equal: salt missing")
	}
	for _, bad := range []string{"", "$argon2id$", "$bcrypt$x$y$z$w", h[:len(h)-4]} {
		if auth.VerifyPassword(bad, "correct horse battery") {
			t.Errorf("malformed hash %q matched", bad)
		}
	}
	if err := auth.ValidatePassword("short"); err == nil {
		t.Error("short password accepted")
	}
	if err := auth.ValidatePassword("long enough password"); err != nil {
		t.Error(err)
	}
}

func TestSecrets(t *testing.T) {
	s1, p1, h1 := auth.NewToken()
	s2, _, h2 := auth.NewToken()
	if s1 == s2 || bytes.Equal(h1, h2) {
		t.Fatal("tokens repeat")
	}
	if !strings.HasPrefix(s1, auth.TokenPrefix) || !strings.HasPrefix(s1, p1) {
		t.Errorf("token %q / prefix %q malformed", s1, p1)
	}
	if !bytes.Equal(auth.HashSecret(s1), h1) {
		t.Error("HashSecret disagrees with NewToken")
	}
	if len(s1) < 40 {
		t.Errorf("token too short: %d chars", len(s1))
	}
}

func TestLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := auth.NewLimiter(3, time.Minute)
	l.Now = func() time.Time { return now }
	for i := range 3 {
		if ok, _ := l.Allow("k"); !ok {
			t.Fatalf("attempt %d refused within burst", i+1)
		}
	}
	ok, retry := l.Allow("k")
	if ok || retry <= 0 || retry > time.Minute {
		t.Fatalf("4th attempt: ok=%v retry=%v", ok, retry)
	}
	if ok, _ := l.Allow("other"); !ok {
		t.Error("another key was limited")
	}
	now = now.Add(time.Minute)
	if ok, _ := l.Allow("k"); !ok {
		t.Error("refill after the interval did not happen")
	}
	if ok, _ := l.Allow("k"); ok {
		t.Error("more than one token refilled")
	}
	l.Reset("k")
	if ok, _ := l.Allow("k"); !ok {
		t.Error("reset did not clear the bucket")
	}
}

// TestLimiterRefund: a refunded token can be taken again, and refunds never fill a bucket past
// its burst.
func TestLimiterRefund(t *testing.T) {
	now := time.Unix(1000, 0)
	l := auth.NewLimiter(2, time.Hour)
	l.Now = func() time.Time { return now }
	for range 5 {
		if ok, _ := l.Allow("k"); !ok {
			t.Fatal("a refunded token was not given back")
		}
		l.Refund("k")
	}
	l.Refund("k")
	l.Refund("k")
	for i := range 2 {
		if ok, _ := l.Allow("k"); !ok {
			t.Fatalf("attempt %d refused within burst", i+1)
		}
	}
	if ok, _ := l.Allow("k"); ok {
		t.Error("refunds filled the bucket past its burst")
	}
}
