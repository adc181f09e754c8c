package api_test

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/cleanroom-oss/cleanroom"
)

// TestPasswordChangeEndsOtherSessions: changing the password signs out every other session of the
// user, keeps the one that made the change, and guessing the current password is throttled.
func TestPasswordChangeEndsOtherSessions(t *testing.T) {
	e := newEnv(t)
	mine, other := e.login("a-member@example.com"), e.login("a-member@example.com")
	const next = "a brand new passphrase"
	change := func(s *session, current string, header map[string]string) *resp {
		return e.do(req{method: "PUT", path: "/v1/me/password", session: s, header: header,
			body: map[string]string{"current_password": current, "new_password": next}})
	}
	if r := change(mine, testPassword, nil); r.status != http.StatusNoContent {
		t.Fatalf("change: %d %s", r.status, r.raw)
	}
	if r := e.do(req{method: "GET", path: "/v1/me", session: other}); r.status != http.StatusUnauthorized {
		t.Errorf("the other session after the change: %d, want 401", r.status)
	}
	if r := e.do(req{method: "GET", path: "/v1/me", session: mine}); r.status != http.StatusOK {
		t.Errorf("the changing session: %d, want 200", r.status)
	}
	if r := e.do(req{method: "GET", path: "/v1/audit?action=user.password.change", token: e.tokens["a-admin"]}); !strings.Contains(string(r.raw), `"sessions_ended":1`) {
		t.Errorf("audit entry: %s", r.raw)
	}

	thief := e.from("198.51.100.66")
	var r *resp
	for i := 0; i < 50; i++ {
		if r = change(mine, "a guess at the password", thief); r.status != http.StatusBadRequest {
			break
		}
	}
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Errorf("guessing the current password: %d %s, want 429 with Retry-After", r.status, r.raw)
	}
}

// TestAddUserRevealsNothing: POST /v1/users answers the same for an address with an account in
// another org as for a new one, lists neither as a member, and records nothing that tells them
// apart; each person joins by accepting.
func TestAddUserRevealsNothing(t *testing.T) {
	e := newEnv(t)
	admin := e.tokens["a-admin"]
	add := func(email string) *resp {
		return e.do(req{method: "POST", path: "/v1/users", token: admin,
			body: map[string]string{"email": email, "name": "Given Name", "password": "the admin's choice", "role": "member"}})
	}
	existing, fresh := add("b-viewer@example.com"), add("brand-new@example.com")
	blank := func(r *resp) map[string]any {
		m := maps.Clone(r.body)
		delete(m, "id")
		delete(m, "email")
		return m
	}
	if existing.status != http.StatusCreated || fresh.status != http.StatusCreated || jsonOf(blank(existing)) != jsonOf(blank(fresh)) {
		t.Fatalf("answers differ:\n%d %s\n%d %s", existing.status, existing.raw, fresh.status, fresh.raw)
	}
	if loc := existing.header.Get("Location"); loc != "/v1/invitations/"+existing.body["id"].(string) {
		t.Errorf("Location %q", loc)
	}
	r := e.do(req{method: "GET", path: "/v1/users?limit=500", token: admin})
	for _, email := range []string{"b-viewer@example.com", "brand-new@example.com"} {
		if strings.Contains(string(r.raw), email) {
			t.Errorf("%s is listed as a member before accepting", email)
		}
	}
	r = e.do(req{method: "GET", path: "/v1/audit?action=user.add", token: admin})
	items := r.body["items"].([]any)
	if len(items) != 2 {
		t.Fatalf("user.add entries: %s", r.raw)
	}
	a, b := items[0].(map[string]any), items[1].(map[string]any)
	if !slices.Equal(slices.Sorted(maps.Keys(a["details"].(map[string]any))), slices.Sorted(maps.Keys(b["details"].(map[string]any)))) ||
		a["target_type"] != "invitation" || strings.Contains(string(r.raw), e.users["b-viewer"].ID) {
		t.Errorf("the audit entries tell the two apart: %s", r.raw)
	}

	// The existing account joins by accepting, with its own password.
	r = e.do(req{method: "GET", path: "/v1/me/invitations", token: e.tokens["b-viewer"]})
	if items := r.body["items"].([]any); len(items) != 1 || items[0].(map[string]any)["org_name"] != "Publisher A" {
		t.Fatalf("b-viewer's invitations: %s", r.raw)
	}
	if r := e.do(req{method: "POST", path: "/v1/me/invitations/" + existing.body["id"].(string) + "/accept", token: e.tokens["b-viewer"]}); r.status != http.StatusOK || r.body["state"] != "accepted" {
		t.Fatalf("accept: %d %s", r.status, r.raw)
	}
	if r := e.do(req{method: "GET", path: "/v1/users/" + e.users["b-viewer"].ID, token: admin}); r.status != http.StatusOK || r.body["role"] != "member" {
		t.Errorf("after accepting: %d %s", r.status, r.raw)
	}
	// The new account signs in with the given password, in no org yet, and accepts.
	r = e.do(req{method: "POST", path: "/v1/session", body: map[string]string{"email": "brand-new@example.com", "password": "the admin's choice"}})
	if r.status != http.StatusCreated || r.body["org_id"] != nil {
		t.Fatalf("the new account signs in: %d %s", r.status, r.raw)
	}
	s := &session{csrf: r.body["csrf_token"].(string)}
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == "cleanroom_session" {
			s.cookie = c
		}
	}
	if r := e.do(req{method: "POST", path: "/v1/me/invitations/" + fresh.body["id"].(string) + "/accept", session: s}); r.status != http.StatusOK {
		t.Fatalf("the new account accepts: %d %s", r.status, r.raw)
	}
	if r := e.do(req{method: "PUT", path: "/v1/session/org", session: s, body: map[string]string{"org_id": e.orgA.ID}}); r.status != http.StatusOK || r.body["role"] != "member" {
		t.Errorf("switch to the org: %d %s", r.status, r.raw)
	}
	// The invitations list shows both accepted.
	r = e.do(req{method: "GET", path: "/v1/invitations", token: admin})
	if n := strings.Count(string(r.raw), `"state":"accepted"`); n != 2 {
		t.Errorf("accepted invitations listed: %d: %s", n, r.raw)
	}
}

// jsonOf renders v as JSON (maps with sorted keys), for comparing answers.
func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestInvitationRevealsNothing: inviting an advertiser's person answers the same whatever the
// address; only the advertiser's admins and members see the invitation; access starts when it is
// accepted and ends when it is withdrawn.
func TestInvitationRevealsNothing(t *testing.T) {
	e := newEnv(t)
	staff := e.tokens["w-admin"]
	invite := func(email string) *resp {
		return e.do(req{method: "POST", path: "/v1/invitations", token: staff, body: map[string]string{"email": email, "advertiser_id": e.orgB.ID}})
	}
	var first map[string]any
	ids := map[string]string{}
	for _, email := range []string{"b-admin@example.com", "c-admin@example.com", "b-viewer@example.com", "nobody@example.com"} {
		r := invite(email)
		if r.status != http.StatusCreated || r.body["state"] != "pending" {
			t.Fatalf("invite %s: %d %s", email, r.status, r.raw)
		}
		ids[email] = r.body["id"].(string)
		b := maps.Clone(r.body)
		delete(b, "id")
		delete(b, "email")
		if first == nil {
			first = b
		} else if jsonOf(first) != jsonOf(b) {
			t.Errorf("the answer for %s differs: %s", email, r.raw)
		}
	}
	for label, sees := range map[string]bool{"b-admin": true, "c-admin": false, "b-viewer": false} {
		r := e.do(req{method: "GET", path: "/v1/me/invitations", token: e.tokens[label]})
		if got := len(r.body["items"].([]any)) == 1; got != sees {
			t.Errorf("%s sees an invitation: %v, want %v (%s)", label, got, sees, r.raw)
		}
	}
	if r := e.do(req{method: "POST", path: "/v1/me/invitations/" + ids["c-admin@example.com"] + "/accept", token: e.tokens["c-admin"]}); r.status != http.StatusNotFound {
		t.Errorf("a stranger accepts: %d", r.status)
	}
	s := e.login("b-admin@example.com")
	switchTo := func() int {
		return e.do(req{method: "PUT", path: "/v1/session/org", session: s, body: map[string]string{"org_id": e.orgW.ID}}).status
	}
	if got := switchTo(); got != http.StatusNotFound {
		t.Errorf("switch to the workspace before accepting: %d, want 404", got)
	}
	if r := e.do(req{method: "POST", path: "/v1/me/invitations/" + ids["b-admin@example.com"] + "/accept", session: s}); r.status != http.StatusOK || r.body["represents_name"] != "Advertiser B" {
		t.Fatalf("accept: %d %s", r.status, r.raw)
	}
	if got := switchTo(); got != http.StatusOK {
		t.Fatalf("switch to the workspace after accepting: %d", got)
	}
	if r := e.do(req{method: "GET", path: "/v1/me", session: s}); r.body["role"] != "limited" {
		t.Errorf("role in the workspace: %s", r.raw)
	}
	if r := e.do(req{method: "DELETE", path: "/v1/invitations/" + ids["b-admin@example.com"], token: staff}); r.status != http.StatusNoContent {
		t.Fatalf("withdraw: %d %s", r.status, r.raw)
	}
	if r := e.do(req{method: "GET", path: "/v1/org", session: s}); r.status != http.StatusUnauthorized {
		t.Errorf("after the withdrawal: %d, want 401", r.status)
	}
	if r := e.do(req{method: "GET", path: "/v1/invitations/" + ids["nobody@example.com"], token: e.tokens["a-admin"]}); r.status != http.StatusNotFound {
		t.Errorf("another org reads the workspace's invitation: %d", r.status)
	}
}

// TestPublisherAdminsReachWorkspace: a publisher's admins are admins of its demand-side workspace
// without an operator's help, listed among their memberships (the org switcher), and a member
// promoted later gains the role, then loses it when demoted.
func TestPublisherAdminsReachWorkspace(t *testing.T) {
	e := newEnv(t)
	s := e.login("a-admin@example.com")
	r := e.do(req{method: "GET", path: "/v1/me", session: s})
	found := false
	for _, m := range r.body["memberships"].([]any) {
		m := m.(map[string]any)
		found = found || (m["org_id"] == e.orgW.ID && m["role"] == "admin")
	}
	if !found {
		t.Fatalf("the workspace is not among the publisher admin's memberships: %s", r.raw)
	}
	if r := e.do(req{method: "PUT", path: "/v1/session/org", session: s, body: map[string]string{"org_id": e.orgW.ID}}); r.status != http.StatusOK || r.body["role"] != "admin" {
		t.Fatalf("switch to the workspace: %d %s", r.status, r.raw)
	}
	if r := e.do(req{method: "POST", path: "/v1/invitations", session: s, body: map[string]string{"email": "b-admin@example.com", "advertiser_id": e.orgB.ID}}); r.status != http.StatusCreated {
		t.Errorf("invite as the workspace's admin: %d %s", r.status, r.raw)
	}
	r = e.do(req{method: "GET", path: "/v1/users/" + e.users["a-admin"].ID, session: s})
	if r.status != http.StatusOK || r.body["inherited_from"] != e.orgA.ID {
		t.Errorf("the workspace's view of the publisher admin: %d %s", r.status, r.raw)
	}
	if r := e.do(req{method: "DELETE", path: "/v1/users/" + e.users["a-admin"].ID, session: s}); r.status != http.StatusBadRequest || !strings.Contains(hint(r), e.orgA.ID) {
		t.Errorf("remove the publisher admin from the workspace: %d %s", r.status, r.raw)
	}

	m := e.login("a-member@example.com")
	switchTo := func() int {
		return e.do(req{method: "PUT", path: "/v1/session/org", session: m, body: map[string]string{"org_id": e.orgW.ID}}).status
	}
	if got := switchTo(); got != http.StatusNotFound {
		t.Errorf("a publisher member switches to the workspace: %d, want 404", got)
	}
	setRole := func(role string) {
		t.Helper()
		if r := e.do(req{method: "PATCH", path: "/v1/users/" + e.users["a-member"].ID, token: e.tokens["a-admin"], body: map[string]string{"role": role}}); r.status != http.StatusOK {
			t.Fatalf("set role %s: %d %s", role, r.status, r.raw)
		}
	}
	setRole("admin")
	if got := switchTo(); got != http.StatusOK {
		t.Errorf("promoted to publisher admin, switch to the workspace: %d", got)
	}
	setRole("member")
	if r := e.do(req{method: "GET", path: "/v1/org", session: m}); r.status != http.StatusUnauthorized || r.errCode() != cleanroom.EUNAUTHENTICATED {
		t.Errorf("demoted, the session in the workspace: %d, want 401", r.status)
	}
}
