package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/accounts"
	"github.com/cleanroom-oss/cleanroom/api"
	"github.com/cleanroom-oss/cleanroom/keyring"
	"github.com/cleanroom-oss/cleanroom/sqlite"
)

// testPassword is every test account's password.
const testPassword = "correct horse battery staple"

// env is a running API over a real SQLite store with two orgs: A (a publisher, with an admin,
// a member and a viewer) and B (an advertiser with an admin), and an operator.
type env struct {
	t      *testing.T
	srv    *httptest.Server
	api    *api.Server
	store  cleanroom.Store
	acc    *accounts.Service
	now    time.Time
	orgA   *cleanroom.Org
	orgB   *cleanroom.Org
	users  map[string]*cleanroom.Member // by label: a-admin, a-member, a-viewer, b-admin
	tokens map[string]string            // by label, plus "operator"
	op     *cleanroom.User
}

func newEnv(t *testing.T) *env {
	t.Helper()
	store := sqlite.MustOpen(t)
	e := &env{t: t, store: store, now: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC),
		users: map[string]*cleanroom.Member{}, tokens: map[string]string{}}
	clock := func() time.Time { return e.now }
	e.acc = accounts.New(store, keyring.Generate())
	e.acc.Now = clock
	e.api = api.New(store, e.acc, slog.New(slog.DiscardHandler))
	e.api.Now = clock
	e.srv = httptest.NewServer(e.api.Handler(nil))
	t.Cleanup(e.srv.Close)

	ctx := context.Background()
	var err error
	if e.orgA, err = e.acc.CreateOrg(ctx, "Publisher A", cleanroom.OrgPublisher); err != nil {
		t.Fatal(err)
	}
	if e.orgB, err = e.acc.CreateOrg(ctx, "Advertiser B", cleanroom.OrgAdvertiser); err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct {
		label string
		org   *cleanroom.Org
		role  cleanroom.Role
	}{
		{"a-admin", e.orgA, cleanroom.RoleAdmin},
		{"a-member", e.orgA, cleanroom.RoleMember},
		{"a-viewer", e.orgA, cleanroom.RoleViewer},
		{"b-admin", e.orgB, cleanroom.RoleAdmin},
	} {
		m := e.addMember(u.org.ID, u.label+"@example.com", u.role)
		e.users[u.label] = m
		e.tokens[u.label] = e.issueToken(m.ID, u.org.ID)
	}
	if e.op, err = e.acc.CreateOperator(ctx, "op@example.com", "Operator", testPassword); err != nil {
		t.Fatal(err)
	}
	e.tokens["operator"] = e.issueToken(e.op.ID, "")
	return e
}

func (e *env) addMember(orgID, email string, role cleanroom.Role) *cleanroom.Member {
	e.t.Helper()
	m, _, err := e.acc.AddMember(context.Background(), orgID, accounts.NewUser{Email: email, Password: testPassword, Role: role})
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

func (e *env) issueToken(userID, orgID string) string {
	e.t.Helper()
	secret, _, err := e.acc.IssueToken(context.Background(), userID, orgID, "test", 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return secret
}

// req describes one API request.
type req struct {
	method, path string
	token        string // bearer token
	session      *session
	body         any
	header       map[string]string
}

// session is a cookie login.
type session struct {
	cookie *http.Cookie
	csrf   string
}

// resp is an API response with its decoded body.
type resp struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

// errCode returns the error shape's code, or "" when the body is not an error.
func (r *resp) errCode() string {
	e, _ := r.body["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func (r *resp) errMessage() string {
	e, _ := r.body["error"].(map[string]any)
	msg, _ := e["message"].(string)
	return msg
}

func (e *env) do(q req) *resp {
	e.t.Helper()
	var body io.Reader
	switch b := q.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		body = bytes.NewReader(buf)
	}
	r, err := http.NewRequest(q.method, e.srv.URL+q.path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	if q.token != "" {
		r.Header.Set("Authorization", "Bearer "+q.token)
	}
	if q.session != nil {
		r.AddCookie(q.session.cookie)
		if q.session.csrf != "" {
			r.Header.Set(api.CSRFHeader, q.session.csrf)
		}
	}
	for k, v := range q.header {
		r.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	out := &resp{status: res.StatusCode, header: res.Header}
	out.raw, _ = io.ReadAll(res.Body)
	if len(out.raw) > 0 && strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(out.raw, &out.body); err != nil {
			e.t.Fatalf("%s %s: response is not JSON: %v: %s", q.method, q.path, err, out.raw)
		}
	}
	return out
}

// login signs in with a password and returns the session.
func (e *env) login(email string) *session {
	e.t.Helper()
	r := e.do(req{method: "POST", path: "/v1/session", body: map[string]string{"email": email, "password": testPassword}})
	if r.status != http.StatusCreated {
		e.t.Fatalf("login %s: %d %s", email, r.status, r.raw)
	}
	var ck *http.Cookie
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == api.SessionCookie {
			ck = c
		}
	}
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode {
		e.t.Fatalf("login %s: session cookie missing or not HttpOnly/SameSite: %+v", email, ck)
	}
	return &session{cookie: ck, csrf: r.body["csrf_token"].(string)}
}

// auditCount returns how many audit entries with action exist.
func (e *env) auditCount(action string) int {
	e.t.Helper()
	n := 0
	page := cleanroom.Page{Limit: cleanroom.MaxPageLimit}
	for {
		es, next, err := e.store.ListAudit(context.Background(), cleanroom.AuditFilter{Action: action, Page: page})
		if err != nil {
			e.t.Fatal(err)
		}
		n += len(es)
		if next == "" {
			return n
		}
		page.After = next
	}
}
