package storetest

import (
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
)

// newToken returns token n of user u in org o (0 for no org), not stored yet.
func newToken(n, u, o int) *cleanroom.Token {
	org := ""
	if o > 0 {
		org = orgID(o)
	}
	return &cleanroom.Token{ID: tokenID(n), UserID: userID(u), OrgID: org, Name: "ci", Prefix: "cr_abcd",
		Hash: []byte("hash of " + tokenID(n)), CreatedAt: t0, ExpiresAt: t0.Add(90 * 24 * time.Hour)}
}

// authFixture stores users 1 and 2, both members of orgs 1 and 2.
func authFixture(t *testing.T, s cleanroom.Store) {
	t.Helper()
	for n := 1; n <= 2; n++ {
		createUser(t, s, n)
		createOrg(t, s, n, cleanroom.OrgPublisher)
	}
	for o := 1; o <= 2; o++ {
		for u := 1; u <= 2; u++ {
			putMember(t, s, o, u, cleanroom.RoleAdmin)
		}
	}
}

var tokenCases = []testCase{
	{"create and find", func(t *testing.T, s cleanroom.Store) {
		authFixture(t, s)
		tok := newToken(1, 1, 1)
		ok(t, s.CreateToken(t.Context(), tok))
		want := &cleanroom.Token{ID: tokenID(1), UserID: userID(1), OrgID: orgID(1), Name: "ci", Prefix: "cr_abcd",
			Hash: []byte("hash of " + tokenID(1)), CreatedAt: at(0), ExpiresAt: at(90 * 24 * time.Hour)}
		same(t, "created token", want, tok)
		got, err := s.FindToken(t.Context(), tokenID(1))
		ok(t, err)
		same(t, "found by ID", want, got)
		got, err = s.FindTokenByHash(t.Context(), want.Hash)
		ok(t, err)
		same(t, "found by hash", want, got)

		_, err = s.FindToken(t.Context(), tokenID(2))
		wantCode(t, err, cleanroom.ENOTFOUND)
		_, err = s.FindTokenByHash(t.Context(), []byte("no such hash"))
		wantCode(t, err, cleanroom.ENOTFOUND)
	}},
	{"operator token without org", func(t *testing.T, s cleanroom.Store) {
		authFixture(t, s)
		ok(t, s.CreateToken(t.Context(), newToken(1, 1, 0)))
		got, err := s.FindToken(t.Context(), tokenID(1))
		ok(t, err)
		if got.OrgID != "" {
			t.Fatalf("operator token OrgID = %q, want none", got.OrgID)
		}
	}},
	{"hash is unique", func(t *testing.T, s cleanroom.Store) {
		authFixture(t, s)
		ok(t, s.CreateToken(t.Context(), newToken(1, 1, 1)))
		dup := newToken(2, 2, 2)
		dup.Hash = []byte("hash of " + tokenID(1))
		wantCode(t, s.CreateToken(t.Context(), dup), cleanroom.ECONFLICT)
		_, err := s.FindToken(t.Context(), tokenID(2))
		wantCode(t, err, cleanroom.ENOTFOUND)
	}},
	{"revoke", func(t *testing.T, s cleanroom.Store) {
		authFixture(t, s)
		ok(t, s.CreateToken(t.Context(), newToken(1, 1, 1)))
		ok(t, s.CreateToken(t.Context(), newToken(2, 1, 1)))
		ok(t, s.RevokeToken(t.Context(), tokenID(1), t0.Add(time.Hour)))
		ok(t, s.RevokeToken(t.Context(), tokenID(1), t0.Add(2*time.Hour))) // keeps the first time
		got, err := s.FindTokenByHash(t.Context(), []byte("hash of "+tokenID(1)))
		ok(t, err)
		if !got.RevokedAt.Equal(at(time.Hour)) {
			t.Fatalf("RevokedAt = %v, want %v", got.RevokedAt, at(time.Hour))
		}
		if got.Active(t0.Add(3 * time.Hour)) {
			t.Fatal("revoked token is active")
		}
		other, err := s.FindToken(t.Context(), tokenID(2))
		ok(t, err)
		if !other.RevokedAt.IsZero() {
			t.Fatal("revoking one token revoked another")
		}
		wantCode(t, s.RevokeToken(t.Context(), tokenID(3), t0), cleanroom.ENOTFOUND)
	}},
	{"touch", func(t *testing.T, s cleanroom.Store) {
		authFixture(t, s)
		ok(t, s.CreateToken(t.Context(), newToken(1, 1, 1)))
		ok(t, s.TouchToken(t.Context(), tokenID(1), t0.Add(2*time.Minute)))
		ok(t, s.TouchToken(t.Context(), tokenID(1), t0.Add(time.Minute))) // late, out of order
		got, err := s.FindToken(t.Context(), tokenID(1))
		ok(t, err)
		if !got.LastUsedAt.Equal(at(2 * time.Minute)) {
			t.Fatalf("LastUsedAt = %v, want %v", got.LastUsedAt, at(2*time.Minute))
		}
		wantCode(t, s.TouchToken(t.Context(), tokenID(2), t0), cleanroom.ENOTFOUND)
	}},
	{"list", func(t *testing.T, s cleanroom.Store) {
		authFixture(t, s)
		// token n: user, org (0 = operator token)
		owners := map[int][2]int{1: {1, 1}, 2: {2, 1}, 3: {1, 2}, 4: {1, 1}, 5: {2, 1}, 6: {1, 0}, 7: {1, 1}}
		for _, n := range []int{7, 3, 1, 6, 5, 2, 4} {
			ok(t, s.CreateToken(t.Context(), newToken(n, owners[n][0], owners[n][1])))
		}
		for _, c := range []struct {
			name       string
			org, user  string
			wantTokens []int
		}{
			{"org 1", orgID(1), "", []int{1, 2, 4, 5, 7}},
			{"org 1 user 1", orgID(1), userID(1), []int{1, 4, 7}},
			{"org 2 user 2", orgID(2), userID(2), nil},
			{"operator tokens", "", userID(1), []int{6}},
		} {
			got, _ := collectPages(t, 2, func(p cleanroom.Page) ([]*cleanroom.Token, string, error) {
				return s.ListTokens(t.Context(), c.org, c.user, p)
			})
			var ids, want []string
			for _, tok := range got {
				ids = append(ids, tok.ID)
			}
			for _, n := range c.wantTokens {
				want = append(want, tokenID(n))
			}
			same(t, c.name, want, ids)
		}
	}},
}

// newSession returns a session of user 1 in org 1 seen at t0 and expiring at t0+expires.
func newSession(hash string, expires time.Duration) *cleanroom.Session {
	return &cleanroom.Session{Hash: []byte(hash), UserID: userID(1), OrgID: orgID(1), CSRFToken: "csrf-" + hash,
		CreatedAt: t0, LastSeenAt: t0, ExpiresAt: t0.Add(expires)}
}

var sessionCases = []testCase{
	{"create and find until expiry", func(t *testing.T, s cleanroom.Store) {
		authFixture(t, s)
		sess := newSession("a", time.Hour)
		ok(t, s.CreateSession(t.Context(), sess))
		want := &cleanroom.Session{Hash: []byte("a"), UserID: userID(1), OrgID: orgID(1), CSRFToken: "csrf-a",
			CreatedAt: at(0), LastSeenAt: at(0), ExpiresAt: at(time.Hour)}
		same(t, "created session", want, sess)
		for _, c := range []struct {
			now   time.Duration
			found bool
		}{{0, true}, {time.Hour - time.Microsecond, true}, {time.Hour, false}, {2 * time.Hour, false}} {
			got, err := s.FindSession(t.Context(), []byte("a"), t0.Add(c.now))
			if !c.found {
				wantCode(t, err, cleanroom.ENOTFOUND)
				continue
			}
			ok(t, err)
			same(t, "found session", want, got)
		}
		_, err := s.FindSession(t.Context(), []byte("b"), t0)
		wantCode(t, err, cleanroom.ENOTFOUND)
	}},
	{"duplicate hash", func(t *testing.T, s cleanroom.Store) {
		authFixture(t, s)
		ok(t, s.CreateSession(t.Context(), newSession("a", time.Hour)))
		wantCode(t, s.CreateSession(t.Context(), newSession("a", 2*time.Hour)), cleanroom.ECONFLICT)
	}},
	{"update", func(t *testing.T, s cleanroom.Store) {
		authFixture(t, s)
		sess := newSession("a", time.Hour)
		ok(t, s.CreateSession(t.Context(), sess))
		sess.OrgID, sess.LastSeenAt, sess.ExpiresAt = orgID(2), t0.Add(50*time.Minute), t0.Add(2*time.Hour)
		ok(t, s.UpdateSession(t.Context(), sess))
		got, err := s.FindSession(t.Context(), []byte("a"), t0.Add(90*time.Minute))
		ok(t, err)
		want := &cleanroom.Session{Hash: []byte("a"), UserID: userID(1), OrgID: orgID(2), CSRFToken: "csrf-a",
			CreatedAt: at(0), LastSeenAt: at(50 * time.Minute), ExpiresAt: at(2 * time.Hour)}
		same(t, "updated session", want, got)

		sess.OrgID = "" // an operator leaving the org
		ok(t, s.UpdateSession(t.Context(), sess))
		got, err = s.FindSession(t.Context(), []byte("a"), t0)
		ok(t, err)
		if got.OrgID != "" {
			t.Fatalf("OrgID = %q after clearing it", got.OrgID)
		}
		wantCode(t, s.UpdateSession(t.Context(), newSession("gone", time.Hour)), cleanroom.ENOTFOUND)
	}},
	{"delete", func(t *testing.T, s cleanroom.Store) {
		authFixture(t, s)
		ok(t, s.CreateSession(t.Context(), newSession("a", time.Hour)))
		ok(t, s.CreateSession(t.Context(), newSession("b", time.Hour)))
		ok(t, s.DeleteSession(t.Context(), []byte("a")))
		_, err := s.FindSession(t.Context(), []byte("a"), t0)
		wantCode(t, err, cleanroom.ENOTFOUND)
		_, err = s.FindSession(t.Context(), []byte("b"), t0)
		ok(t, err)
		ok(t, s.DeleteSession(t.Context(), []byte("a"))) // already gone: fine
	}},
	{"delete a user's sessions but one", func(t *testing.T, s cleanroom.Store) {
		authFixture(t, s)
		for _, h := range []string{"a", "b", "c"} {
			ok(t, s.CreateSession(t.Context(), newSession(h, time.Hour)))
		}
		other := newSession("other", time.Hour)
		other.UserID = userID(2)
		ok(t, s.CreateSession(t.Context(), other))

		n, err := s.DeleteUserSessions(t.Context(), userID(1), []byte("b"))
		ok(t, err)
		if n != 2 {
			t.Fatalf("DeleteUserSessions keeping one of three = %d, want 2", n)
		}
		for h, kept := range map[string]bool{"a": false, "b": true, "c": false, "other": true} {
			_, err := s.FindSession(t.Context(), []byte(h), t0)
			if kept {
				ok(t, err)
			} else {
				wantCode(t, err, cleanroom.ENOTFOUND)
			}
		}
		n, err = s.DeleteUserSessions(t.Context(), userID(1), nil)
		ok(t, err)
		if n != 1 {
			t.Fatalf("DeleteUserSessions keeping none = %d, want 1", n)
		}
		if _, err := s.FindSession(t.Context(), []byte("other"), t0); err != nil {
			t.Fatalf("another user's session ended: %v", err)
		}
	}},
	{"delete expired", func(t *testing.T, s cleanroom.Store) {
		authFixture(t, s)
		for _, c := range []struct {
			hash    string
			expires time.Duration
		}{{"a", time.Hour}, {"b", 2 * time.Hour}, {"c", 3 * time.Hour}, {"d", 4 * time.Hour}} {
			ok(t, s.CreateSession(t.Context(), newSession(c.hash, c.expires)))
		}
		n, err := s.DeleteExpiredSessions(t.Context(), t0.Add(150*time.Minute))
		ok(t, err)
		if n != 2 {
			t.Fatalf("DeleteExpiredSessions = %d, want 2", n)
		}
		// A session expiring exactly now is expired, as FindSession says.
		n, err = s.DeleteExpiredSessions(t.Context(), t0.Add(3*time.Hour))
		ok(t, err)
		if n != 1 {
			t.Fatalf("DeleteExpiredSessions at an expiry = %d, want 1", n)
		}
		if _, err := s.FindSession(t.Context(), []byte("d"), t0); err != nil {
			t.Fatalf("unexpired session: %v", err)
		}
		for _, h := range []string{"a", "b", "c"} {
			// At t0 they would still be valid, had they not been deleted.
			_, err := s.FindSession(t.Context(), []byte(h), t0)
			wantCode(t, err, cleanroom.ENOTFOUND)
		}
	}},
}
