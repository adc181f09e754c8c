package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/accounts"
	"github.com/cleanroom-oss/cleanroom/api"
	"github.com/cleanroom-oss/cleanroom/app"
	"github.com/cleanroom-oss/cleanroom/app/apptest"
	"github.com/cleanroom-oss/cleanroom/httpx"
	"github.com/cleanroom-oss/cleanroom/jobs"
	"github.com/cleanroom-oss/cleanroom/keyring"
)

// testPassword is every test account's password.
const testPassword = "correct horse battery staple"

// env is a running API over a real SQLite store with these orgs, each with an admin, a member
// and a viewer ("a-admin", "w-member", ...): A, a publisher with the clean room enabled and the
// DPA signed; W, A's demand-side workspace, which also has "w-limited", a user of B invited with
// the limited role; B, an advertiser ready to be connected; C, another advertiser. And an
// operator ("operator").
type env struct {
	t      *testing.T
	srv    *httptest.Server
	api    *api.Server
	store  cleanroom.Store
	acc    *accounts.Service
	now    time.Time
	orgA   *cleanroom.Org
	orgW   *cleanroom.Org
	orgB   *cleanroom.Org
	orgC   *cleanroom.Org
	users  map[string]*cleanroom.Member // by label
	tokens map[string]string            // by label
	op     *cleanroom.User
	keys   *keyring.Master
	dir    string // the data directory: the SQLite database and the blob area
	runner *jobs.Runner
	// cohortConn and cohortDS are the inputs of the cohort routes' fixtures (ensureCohortInputs).
	cohortConn, cohortDS string
	// limitedInvitation is the invitation w-limited accepted.
	limitedInvitation string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvOn(t, nil)
}

// exactCounts configures a deployment without privacy noise, a large budget and no input
// minimum, so the functional tests can assert the engines' exact counts where they cross (the
// threshold still applies). The privacy tests (privacy_test.go) run the defaults.
func exactCounts(c *app.Config) {
	c.PrivacyNoise, c.PrivacyBudget, c.PrivacyInputMinimum = "none", "100000", 1
}

// newEnvOn is newEnv on the given metadata store (nil: SQLite in a temporary data directory).
func newEnvOn(t *testing.T, store cleanroom.Store) *env {
	t.Helper()
	return newEnvWith(t, store, exactCounts)
}

// newEnvWith is newEnvOn with the configuration adjusted by configure (nil: the defaults).
func newEnvWith(t *testing.T, store cleanroom.Store, configure func(*app.Config)) *env {
	t.Helper()
	e := &env{t: t, now: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC),
		users: map[string]*cleanroom.Member{}, tokens: map[string]string{}}
	m := apptest.Open(t, apptest.Options{Now: func() time.Time { return e.now }, Store: store, Configure: configure})
	m.Uploads.MaxPartBytes = 1 << 20
	h, err := m.Handler()
	if err != nil {
		t.Fatal(err)
	}
	e.store, e.acc, e.api, e.runner, e.keys, e.dir = m.Store, m.Accounts, m.API, m.Jobs, m.Keys, m.Config.DataDir
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)

	e.orgA = e.newOrg("Publisher A", cleanroom.OrgPublisher, true)
	if e.orgW, err = e.store.FindOrg(context.Background(), e.orgA.DemandSideID); err != nil {
		t.Fatal(err)
	}
	e.orgB = e.newOrg("Advertiser B", cleanroom.OrgAdvertiser, true)
	e.orgC = e.newOrg("Advertiser C", cleanroom.OrgAdvertiser, true)
	for _, o := range []struct {
		prefix string
		org    *cleanroom.Org
	}{{"a", e.orgA}, {"w", e.orgW}, {"b", e.orgB}, {"c", e.orgC}} {
		for _, role := range []cleanroom.Role{cleanroom.RoleAdmin, cleanroom.RoleMember, cleanroom.RoleViewer} {
			label := o.prefix + "-" + string(role)
			m := e.addMember(o.org.ID, label+"@example.com", role)
			e.users[label] = m
			e.tokens[label] = e.issueToken(m.ID, o.org.ID)
		}
	}
	// B's member is invited into W with the limited role, and accepts.
	inv, err := e.api.Connections.Invite(context.Background(), cleanroom.NewCaller(e.orgW.ID, cleanroom.RoleAdmin),
		"b-member@example.com", e.orgB.ID)
	if err != nil {
		t.Fatal(err)
	}
	e.limitedInvitation = inv.ID
	e.users["w-limited"] = e.accept(e.users["b-member"], inv.ID)
	e.tokens["w-limited"] = e.issueToken(e.users["w-limited"].ID, e.orgW.ID)
	if e.op, err = e.acc.CreateOperator(context.Background(), "op@example.com", "Operator", testPassword); err != nil {
		t.Fatal(err)
	}
	e.tokens["operator"] = e.issueToken(e.op.ID, "")
	return e
}

// newOrg creates an org; ready ones have the clean room enabled and the DPA signed.
func (e *env) newOrg(name string, kind cleanroom.OrgKind, ready bool) *cleanroom.Org {
	e.t.Helper()
	ctx := context.Background()
	o, err := e.acc.CreateOrg(ctx, name, kind)
	if err == nil && ready {
		if _, err = e.acc.RecordDPA(ctx, o.ID, time.Time{}); err == nil {
			o, err = e.acc.EnableCleanRoom(ctx, o.ID)
		}
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return o
}

// accept has the member's user accept an invitation and returns their new membership.
func (e *env) accept(m *cleanroom.Member, invitationID string) *cleanroom.Member {
	e.t.Helper()
	_, ms, err := e.acc.AcceptInvitation(context.Background(), &cleanroom.Caller{User: &m.User}, invitationID)
	if err != nil {
		e.t.Fatal(err)
	}
	got, err := e.store.FindMember(context.Background(), ms.OrgID, m.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return got
}

func (e *env) addMember(orgID, email string, role cleanroom.Role) *cleanroom.Member {
	e.t.Helper()
	m, _, err := e.acc.AddMember(context.Background(), orgID, accounts.NewUser{Email: email, Password: testPassword, Role: role, AttachExisting: true})
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

// withHeaders is a raw body sent with extra headers (for non-JSON routes).
type withHeaders struct {
	body   string
	header map[string]string
}

func (e *env) do(q req) *resp {
	e.t.Helper()
	if wh, ok := q.body.(withHeaders); ok {
		q.body = wh.body
		if q.header == nil {
			q.header = map[string]string{}
		}
		for k, v := range wh.header {
			q.header[k] = v
		}
	}
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
			r.Header.Set(httpx.CSRFHeader, q.session.csrf)
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
		if c.Name == httpx.SessionCookie {
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
