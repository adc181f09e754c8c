package api_test

import (
	"context"
	"maps"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/httpx"
)

// TestCSRF: a cookie-authenticated write needs the session's CSRF token and a same-origin
// request; token-authenticated writes need neither.
func TestCSRF(t *testing.T) {
	e := newEnv(t)
	s := e.login("a-admin@example.com")
	noToken := &session{cookie: s.cookie}
	wrong := &session{cookie: s.cookie, csrf: "not-the-token"}
	patch := func(sess *session, header map[string]string) *resp {
		return e.do(req{method: "PATCH", path: "/v1/org", session: sess, body: map[string]string{"name": "Renamed"}, header: header})
	}
	for name, r := range map[string]*resp{
		"missing token": patch(noToken, nil),
		"wrong token":   patch(wrong, nil),
		"cross-site":    patch(s, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}),
		"other origin":  patch(s, map[string]string{"Origin": "https://evil.example"}),
	} {
		if r.status != http.StatusForbidden || r.errCode() != cleanroom.EFORBIDDEN {
			t.Errorf("%s: %d %s, want 403", name, r.status, r.raw)
		}
	}
	if o, _ := e.store.FindOrg(context.Background(), e.orgA.ID); o.Name != "Publisher A" {
		t.Fatalf("a refused write changed the org: %q", o.Name)
	}
	if r := patch(s, map[string]string{"Sec-Fetch-Site": "same-origin"}); r.status != http.StatusOK {
		t.Errorf("same-origin write with token: %d %s", r.status, r.raw)
	}
	// Reads with a cookie need no CSRF token.
	if r := e.do(req{method: "GET", path: "/v1/org", session: noToken}); r.status != http.StatusOK {
		t.Errorf("cookie read: %d", r.status)
	}
	// Bearer tokens are not ambient credentials: no CSRF token needed.
	if r := e.do(req{method: "PATCH", path: "/v1/org", token: e.tokens["a-admin"], body: map[string]string{"name": "Again"}}); r.status != http.StatusOK {
		t.Errorf("token write: %d %s", r.status, r.raw)
	}
	// Login itself refuses cross-site posts (login CSRF).
	r := e.do(req{method: "POST", path: "/v1/session", body: map[string]string{"email": "a-admin@example.com", "password": testPassword},
		header: map[string]string{"Sec-Fetch-Site": "cross-site"}})
	if r.status != http.StatusForbidden {
		t.Errorf("cross-site login: %d", r.status)
	}
}

// TestErrorShape: malformed input gets the one error shape with a message naming the problem.
func TestErrorShape(t *testing.T) {
	e := newEnv(t)
	tok := e.tokens["a-admin"]
	cases := []struct {
		name   string
		q      req
		status int
		code   string
		msg    string
	}{
		{"bad json", req{method: "PATCH", path: "/v1/org", token: tok, body: `{"name":`}, 400, "invalid", "not valid JSON"},
		{"unknown field", req{method: "PATCH", path: "/v1/org", token: tok, body: `{"nmae":"x"}`}, 400, "invalid", `"nmae"`},
		{"wrong type", req{method: "PATCH", path: "/v1/org", token: tok, body: `{"name":5}`}, 400, "invalid", `"name"`},
		{"trailing data", req{method: "PATCH", path: "/v1/org", token: tok, body: `{"name":"x"} {}`}, 400, "invalid", "after the JSON"},
		{"empty body", req{method: "POST", path: "/v1/tokens", token: tok, body: ``}, 400, "invalid", "empty"},
		{"too large", req{method: "PATCH", path: "/v1/org", token: tok, body: `{"name":"` + strings.Repeat("x", 2<<20) + `"}`}, 413, "invalid", "larger than"},
		{"bad limit", req{method: "GET", path: "/v1/users?limit=0", token: tok}, 400, "invalid", "limit"},
		{"unknown route", req{method: "GET", path: "/v1/nope", token: tok}, 404, "not_found", "/v1/nope"},
		{"wrong method", req{method: "POST", path: "/v1/org", token: tok}, 405, "invalid", "not allowed"},
		{"malformed id", req{method: "GET", path: "/v1/users/not-a-uuid", token: tok}, 404, "not_found", "User"},
		{"bad role", req{method: "POST", path: "/v1/users", token: tok, body: map[string]string{"email": "x@example.com", "password": testPassword, "role": "owner"}}, 400, "invalid", "owner"},
		{"bad email", req{method: "POST", path: "/v1/users", token: tok, body: map[string]string{"email": "nope", "password": testPassword, "role": "member"}}, 400, "invalid", "email"},
		{"short password", req{method: "POST", path: "/v1/users", token: tok, body: map[string]string{"email": "y@example.com", "password": "short", "role": "member"}}, 400, "invalid", "password"},
		{"already a member", req{method: "POST", path: "/v1/users", token: tok, body: map[string]string{"email": "a-member@example.com", "password": testPassword, "role": "member"}}, 409, "conflict", "already a member"},
		{"duplicate member via operator", req{method: "POST", path: "/v1/admin/orgs/" + e.orgA.ID + "/users", token: e.tokens["operator"], body: map[string]string{"email": "a-member@example.com", "role": "member"}}, 409, "conflict", "already a member"},
		{"bad org kind", req{method: "POST", path: "/v1/admin/orgs", token: e.tokens["operator"], body: map[string]string{"name": "X", "kind": "agency"}}, 400, "invalid", "kind"},
		{"empty org name", req{method: "POST", path: "/v1/admin/orgs", token: e.tokens["operator"], body: map[string]string{"name": " ", "kind": "publisher"}}, 400, "invalid", "empty"},
	}
	for _, c := range cases {
		r := e.do(c.q)
		if r.status != c.status || r.errCode() != c.code || !strings.Contains(r.errMessage(), c.msg) {
			t.Errorf("%s: %d %s, want %d %s mentioning %q", c.name, r.status, r.raw, c.status, c.code, c.msg)
		}
		if r.header.Get("X-Request-Id") == "" && c.status != 404 && c.status != 405 {
			t.Errorf("%s: no X-Request-Id", c.name)
		}
	}
}

// TestPagination walks the member list with small pages and sees every member once, in order.
func TestPagination(t *testing.T) {
	e := newEnv(t)
	for i := range 7 {
		e.addMember(e.orgA.ID, uniq("page")+"x"+string(rune('a'+i))+"@example.com", cleanroom.RoleViewer)
	}
	seen := map[string]bool{}
	var ids []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
		r := e.do(req{method: "GET", path: "/v1/users?limit=3&after=" + after, token: e.tokens["a-viewer"]})
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		items := r.body["items"].([]any)
		if len(items) > 3 {
			t.Fatalf("page of %d", len(items))
		}
		for _, it := range items {
			id := it.(map[string]any)["id"].(string)
			if seen[id] {
				t.Fatalf("member %s listed twice", id)
			}
			seen[id] = true
			ids = append(ids, id)
		}
		next, _ := r.body["next"].(string)
		if next == "" {
			break
		}
		after = next
	}
	if len(ids) != 10 { // 3 from newEnv + 7
		t.Errorf("listed %d members, want 10", len(ids))
	}
	for i := 1; i < len(ids); i++ {
		if ids[i-1] >= ids[i] {
			t.Errorf("members out of order at %d", i)
		}
	}
}

// from makes requests come from addr (through a trusted proxy), for the sign-in throttle.
func (e *env) from(addr string) map[string]string {
	e.api.Auth.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	return map[string]string{"X-Forwarded-For": addr}
}

// TestLoginThrottle: an attacker's wrong passwords slow the attacker's client (429 with
// Retry-After, even for the right password, until the wait is over), and never refuse the right
// password to the account's owner on another client. On a shared address the attacker exhausts,
// a browser that signed in to the account before (its device cookie) still gets in.
func TestLoginThrottle(t *testing.T) {
	e := newEnv(t)
	attacker, owner, office := e.from("198.51.100.66"), e.from("203.0.113.10"), e.from("192.0.2.1")
	signIn := func(header map[string]string, password string, cookies ...*http.Cookie) *resp {
		h := maps.Clone(header)
		for _, c := range cookies {
			h["Cookie"] = c.String()
		}
		return e.do(req{method: "POST", path: "/v1/session", header: h,
			body: map[string]string{"email": "a-admin@example.com", "password": password}})
	}
	// The owner signed in from the office once: that browser is known.
	r := signIn(office, testPassword)
	var device *http.Cookie
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == httpx.DeviceCookie {
			device = c
		}
	}
	if r.status != http.StatusCreated || device == nil || !device.HttpOnly || device.MaxAge <= 0 {
		t.Fatalf("sign-in: %d, device cookie %+v", r.status, device)
	}

	var failures int
	for r = signIn(attacker, "wrong password!!"); r.status == http.StatusUnauthorized && failures < 50; r = signIn(attacker, "wrong password!!") {
		failures++
	}
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" || r.errCode() != cleanroom.EUNAVAILABLE {
		t.Fatalf("after %d failures: %d %s, want 429 with Retry-After", failures, r.status, r.raw)
	}
	if r := signIn(attacker, testPassword); r.status != http.StatusTooManyRequests {
		t.Errorf("right password from the slowed client: %d, want 429", r.status)
	}
	if r := signIn(owner, testPassword); r.status != http.StatusCreated {
		t.Errorf("right password from the owner's client: %d %s, want 201", r.status, r.raw)
	}

	// The attacker moves to the office's shared address and exhausts it, trying many accounts.
	for i := 0; i < 40; i++ {
		e.do(req{method: "POST", path: "/v1/session", header: office,
			body: map[string]string{"email": uniq("victim") + "@example.com", "password": "wrong password!!"}})
	}
	if r := signIn(office, testPassword); r.status != http.StatusTooManyRequests {
		t.Errorf("right password from the exhausted address, no device cookie: %d, want 429", r.status)
	}
	if r := signIn(office, testPassword, device); r.status != http.StatusCreated {
		t.Errorf("right password from the exhausted address with the device cookie: %d %s, want 201", r.status, r.raw)
	}

	e.now = e.now.Add(30 * time.Minute)
	if r := signIn(attacker, testPassword); r.status != http.StatusCreated {
		t.Errorf("after the wait: %d %s", r.status, r.raw)
	}
}

// TestCredentialLifecycle: revoked and expired tokens stop working; removing a member ends their
// sessions and tokens; a logged-out session is gone.
func TestCredentialLifecycle(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	get := func(q req) int { q.method, q.path = "GET", "/v1/org"; return e.do(q).status }

	// Revoke through the API.
	r := e.do(req{method: "POST", path: "/v1/tokens", token: e.tokens["a-member"], body: map[string]any{"name": "short", "expires_in_days": 1}})
	if r.status != http.StatusCreated {
		t.Fatalf("create token: %d %s", r.status, r.raw)
	}
	secret := r.body["secret"].(string)
	id := r.body["token"].(map[string]any)["id"].(string)
	if get(req{token: secret}) != 200 {
		t.Fatal("new token does not work")
	}
	e.now = e.now.Add(25 * time.Hour)
	if got := get(req{token: secret}); got != http.StatusUnauthorized {
		t.Errorf("expired token: %d", got)
	}
	if r := e.do(req{method: "DELETE", path: "/v1/tokens/" + id, token: e.tokens["a-member"]}); r.status != http.StatusNoContent {
		t.Errorf("revoke: %d %s", r.status, r.raw)
	}
	tok, err := e.store.FindToken(ctx, id)
	if err != nil || tok.RevokedAt.IsZero() {
		t.Errorf("token not revoked: %v", err)
	}
	// A member cannot see (so cannot revoke) another member's token.
	r = e.do(req{method: "POST", path: "/v1/tokens", token: e.tokens["a-admin"], body: map[string]any{"name": "admin's"}})
	adminTok := r.body["token"].(map[string]any)["id"].(string)
	if r := e.do(req{method: "DELETE", path: "/v1/tokens/" + adminTok, token: e.tokens["a-member"]}); r.status != http.StatusNotFound {
		t.Errorf("member revoking admin's token: %d", r.status)
	}
	// Removing a member ends their session and token there.
	s := e.login("a-member@example.com")
	if get(req{session: s}) != 200 {
		t.Fatal("session does not work")
	}
	if r := e.do(req{method: "DELETE", path: "/v1/users/" + e.users["a-member"].ID, token: e.tokens["a-admin"]}); r.status != http.StatusNoContent {
		t.Fatalf("remove member: %d %s", r.status, r.raw)
	}
	if got := get(req{session: s}); got != http.StatusUnauthorized {
		t.Errorf("removed member's session: %d", got)
	}
	if got := get(req{token: e.tokens["a-member"]}); got != http.StatusUnauthorized {
		t.Errorf("removed member's token: %d", got)
	}
	// Logout.
	s = e.login("a-viewer@example.com")
	if r := e.do(req{method: "DELETE", path: "/v1/session", session: s}); r.status != http.StatusNoContent {
		t.Errorf("logout: %d %s", r.status, r.raw)
	}
	if got := get(req{session: s}); got != http.StatusUnauthorized {
		t.Errorf("session after logout: %d", got)
	}
	// The last admin cannot be demoted or removed.
	if r := e.do(req{method: "PATCH", path: "/v1/users/" + e.users["a-admin"].ID, token: e.tokens["a-admin"], body: map[string]string{"role": "viewer"}}); r.status != http.StatusConflict {
		t.Errorf("demote last admin: %d %s", r.status, r.raw)
	}
}

// TestAuditVisibility: an org sees its own entries and those naming it as partner, never
// another org's; an operator sees all.
func TestAuditVisibility(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, a := range []cleanroom.AuditEntry{
		{Action: "test.a_only", OrgID: e.orgA.ID},
		{Action: "test.b_only", OrgID: e.orgB.ID},
		{Action: "test.both", OrgID: e.orgB.ID, PartnerOrgID: e.orgA.ID},
	} {
		a.Time = e.now
		if err := e.store.AppendAudit(ctx, &a); err != nil {
			t.Fatal(err)
		}
	}
	actions := func(token string) map[string]bool {
		r := e.do(req{method: "GET", path: "/v1/audit?limit=500", token: token})
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		out := map[string]bool{}
		for _, it := range r.body["items"].([]any) {
			out[it.(map[string]any)["action"].(string)] = true
		}
		return out
	}
	a := actions(e.tokens["a-viewer"])
	if !a["test.a_only"] || !a["test.both"] || a["test.b_only"] {
		t.Errorf("org A sees %v", a)
	}
	b := actions(e.tokens["b-admin"])
	if b["test.a_only"] || !b["test.both"] || !b["test.b_only"] {
		t.Errorf("org B sees %v", b)
	}
	op := actions(e.tokens["operator"])
	if !op["test.a_only"] || !op["test.b_only"] {
		t.Errorf("operator sees %v", op)
	}
}

// TestHealth: /healthz answers while the process is up; /readyz checks the database.
func TestHealth(t *testing.T) {
	e := newEnv(t)
	if r := e.do(req{method: "GET", path: "/healthz"}); r.status != 200 {
		t.Errorf("healthz: %d", r.status)
	}
	if r := e.do(req{method: "GET", path: "/readyz"}); r.status != 200 || r.body["status"] != "ready" {
		t.Errorf("readyz: %d %s", r.status, r.raw)
	}
	e.store.Close()
	if r := e.do(req{method: "GET", path: "/readyz"}); r.status != http.StatusServiceUnavailable {
		t.Errorf("readyz with the database closed: %d %s", r.status, r.raw)
	}
}
