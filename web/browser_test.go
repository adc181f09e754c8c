package web_test

// Browser tests: a real headless Chromium, driven with chromedp, against the whole HTTP handler
// (API plus dashboard) over a real SQLite store. They need Chromium: Debian's package at
// /usr/bin/chromium, `chromium` on PATH, or the binary named by CLEANROOM_TEST_CHROMIUM. Without
// one they skip, unless CLEANROOM_TEST_BROWSER=1 (CI) makes them fail. Run them with
//
//	CLEANROOM_TEST_BROWSER=1 go test -count=1 -run Browser ./web/...
//
// CLEANROOM_SCREENSHOTS=DIR keeps the screenshots in DIR.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color/palette"
	"image/draw"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/accounts"
	"github.com/cleanroom-oss/cleanroom/app/apptest"
	"github.com/cleanroom-oss/cleanroom/cohorts"
	"github.com/cleanroom-oss/cleanroom/httpx"
	"github.com/cleanroom-oss/cleanroom/synth"
)

// browserTimeout bounds each test's work in the browser, so that a hung page fails the test;
// stepTimeout bounds one step (a query waits for its element until then).
const (
	browserTimeout = 60 * time.Second
	stepTimeout    = 20 * time.Second
)

// testPassword is every test account's password.
const testPassword = "correct horse battery staple"

// The one browser the tests share; each test gets tabs in browser contexts of their own (like
// incognito windows), so that no cookie leaks from one test to another.
var browser struct {
	once    sync.Once
	ctx     context.Context // a chromedp context whose browser runs
	skip    string          // why the tests skip (no Chromium)
	err     error           // why the browser could not start
	cleanup []func()
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, f := range slices.Backward(browser.cleanup) {
		f()
	}
	os.Exit(code)
}

// chromiumPath finds the browser: $CLEANROOM_TEST_CHROMIUM, /usr/bin/chromium, or chromium on PATH.
func chromiumPath() (string, error) {
	if p := os.Getenv("CLEANROOM_TEST_CHROMIUM"); p != "" {
		if _, err := exec.LookPath(p); err != nil {
			return "", fmt.Errorf("CLEANROOM_TEST_CHROMIUM=%s: %v", p, err)
		}
		return p, nil
	}
	if _, err := exec.LookPath("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium", nil
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p, nil
	}
	return "", errors.New("no Chromium at /usr/bin/chromium or on PATH, and CLEANROOM_TEST_CHROMIUM is not set")
}

// startBrowser starts the shared browser once.
func startBrowser() {
	path, err := chromiumPath()
	if err != nil {
		browser.skip = err.Error()
		return
	}
	dir, err := os.MkdirTemp("", "cleanroom-chromium-")
	if err != nil {
		browser.err = err
		return
	}
	browser.cleanup = append(browser.cleanup, func() { os.RemoveAll(dir) })
	var output bytes.Buffer // Chromium's own messages, shown when it does not start
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(dir),
		chromedp.Headless,
		chromedp.NoSandbox, // the tests run as root in CI
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900),
		chromedp.CombinedOutput(&lockedWriter{w: &output}),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	browser.cleanup = append(browser.cleanup, cancelAlloc, cancel)
	// The first Run binds the browser's life to ctx, so it gets no timeout itself; the wait has one.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err = <-started:
	case <-time.After(30 * time.Second):
		err = errors.New("timed out after 30s")
	}
	if err != nil {
		cancel()
		cancelAlloc()
		browser.err = fmt.Errorf("start %s: %v\n%s", path, err, output.String())
		return
	}
	browser.ctx = ctx
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w.Len() > 64<<10 {
		return len(p), nil
	}
	return l.w.Write(p)
}

// needBrowser skips (or, with CLEANROOM_TEST_BROWSER=1, fails) the test when there is no Chromium.
func needBrowser(t *testing.T) {
	t.Helper()
	browser.once.Do(startBrowser)
	if browser.skip != "" {
		if os.Getenv("CLEANROOM_TEST_BROWSER") == "1" {
			t.Fatalf("CLEANROOM_TEST_BROWSER=1 but %s; install it with .ci/install-chromium.sh", browser.skip)
		}
		t.Skipf("browser test skipped: %s. Install Chromium (bash .ci/install-chromium.sh, or apt-get install chromium) "+
			"or set CLEANROOM_TEST_CHROMIUM, then run CLEANROOM_TEST_BROWSER=1 go test -run Browser ./web/...", browser.skip)
	}
	if browser.err != nil {
		t.Fatalf("Chromium did not start: %v", browser.err)
	}
}

// fixture is a running server with a publisher (clean room enabled, DPA signed) and its
// demand-side workspace, and an advertiser. Alice is an admin of the publisher and its workspace;
// Vic is a viewer of the publisher. Each has an API token in the publisher.
type fixture struct {
	t      *testing.T
	url    string
	store  cleanroom.Store
	acc    *accounts.Service
	pub    *cleanroom.Org
	ds     *cleanroom.Org
	other  *cleanroom.Org // an advertiser neither belongs to
	alice  *cleanroom.Member
	vic    *cleanroom.Member
	aliceT *cleanroom.Token
	vicT   *cleanroom.Token
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	needBrowser(t)
	ctx := context.Background()
	m := apptest.Open(t, apptest.Options{Log: t.Output()})
	f := &fixture{t: t, store: m.Store, acc: m.Accounts}
	h, err := m.Handler()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	f.url = srv.URL

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	f.pub, err = f.acc.CreateOrg(ctx, "Northwind Media", cleanroom.OrgPublisher)
	must(err)
	_, err = f.acc.EnableCleanRoom(ctx, f.pub.ID)
	must(err)
	f.pub, err = f.acc.RecordDPA(ctx, f.pub.ID, time.Time{})
	must(err)
	if f.pub.DemandSideID == "" {
		t.Fatal("EnableCleanRoom made no demand-side workspace")
	}
	f.ds, err = f.store.FindOrg(ctx, f.pub.DemandSideID)
	must(err)
	f.other, err = f.acc.CreateOrg(ctx, "Fabrikam Ads", cleanroom.OrgAdvertiser)
	must(err)
	f.alice, _, err = f.acc.AddMember(ctx, f.pub.ID, accounts.NewUser{Email: "alice@example.com", Name: "Alice Admin", Password: testPassword, Role: cleanroom.RoleAdmin})
	must(err)
	// Alice, an admin of the publisher, is an admin of its demand-side workspace too (derived).
	f.vic, _, err = f.acc.AddMember(ctx, f.pub.ID, accounts.NewUser{Email: "vic@example.com", Name: "Vic Viewer", Password: testPassword, Role: cleanroom.RoleViewer})
	must(err)
	_, f.aliceT, err = f.acc.IssueToken(ctx, f.alice.ID, f.pub.ID, "nightly-export", 0)
	must(err)
	_, f.vicT, err = f.acc.IssueToken(ctx, f.vic.ID, f.pub.ID, "vic-laptop", 0)
	must(err)
	return f
}

// tab is a browser tab in a fresh browser context (its own cookie jar).
type tab struct {
	t    *testing.T
	f    *fixture
	ctx  context.Context
	mu   sync.Mutex
	logs []chromedp.ConsoleMessage
}

func (f *fixture) newTab() *tab {
	t := f.t
	t.Helper()
	tctx, cancelTimeout := context.WithTimeout(browser.ctx, browserTimeout)
	ctx, cancel := chromedp.NewContext(tctx, chromedp.WithNewBrowserContext())
	b := &tab{t: t, f: f, ctx: ctx}
	// Opens the tab, and collects what the pages write to the console.
	console := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range console {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.logs = append(b.logs, m)
			b.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		cancelTimeout()
		<-done
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, m := range b.logs {
			// Failed loads ("network") are checked where a test expects them; page errors,
			// console errors and CSP violations ("security") are bugs.
			if m.IsException() || (m.Type == chromedp.ConsoleError && m.Source != "network") {
				t.Errorf("browser console: %s (%s:%d)", m, m.URL, m.Line)
			} else if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleWarning {
				t.Logf("browser console: %s (%s)", m, m.URL)
			}
		}
	})
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatalf("open tab: %v", err)
	}
	return b
}

// step returns a context for one step.
func (b *tab) step() (context.Context, context.CancelFunc) {
	return context.WithTimeout(b.ctx, stepTimeout)
}

// do runs actions that stay on the page.
func (b *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// navigate loads path and returns the final response (after redirects).
func (b *tab) navigate(path string) *network.Response {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(b.f.url+path))
	if err != nil {
		b.t.Fatalf("navigate to %s: %v", path, err)
	}
	return resp
}

// submit runs actions that load a new page (a click on a submit button) and returns its response.
func (b *tab) submit(what string, actions ...chromedp.Action[chromedp.Void]) *network.Response {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, actions...)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return resp
}

func run[T any](b *tab, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// js evaluates an expression in the page.
func js[T any](b *tab, expr string) T {
	b.t.Helper()
	return run(b, "evaluate "+expr, chromedp.Evaluate[T](expr))
}

// path returns the page's path and query, checking that it is on the test server.
func (b *tab) path() string {
	b.t.Helper()
	loc := run(b, "location", chromedp.Location())
	p, ok := strings.CutPrefix(loc, b.f.url)
	if !ok {
		b.t.Fatalf("page is at %s, not on the test server %s", loc, b.f.url)
	}
	return p
}

func (b *tab) text(sel string) string {
	b.t.Helper()
	// chromedp.Text waits for the node, then reads it; a busy page that swaps its live parts (or a
	// navigation) may replace the node in between, leaving a detached one that reads empty or is
	// gone. Wait for the element, then read the current document's element in one evaluation.
	run(b, "wait for "+sel, chromedp.WaitReady(chromedp.CSS(sel)))
	q, _ := json.Marshal(sel)
	for range 20 {
		ctx, cancel := b.step()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[*string](`(() => { const e = document.querySelector(`+string(q)+`); return e ? e.innerText : null; })()`))
		cancel()
		if err == nil && v != nil {
			return strings.TrimSpace(*v)
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.t.Fatalf("text of %s: no such element", sel)
	return ""
}

// fillLogin fills the login form on the current page and submits it with its button.
func (b *tab) fillLogin(email, password string) *network.Response {
	b.t.Helper()
	return b.fillLoginWith(chromedp.SetValue[chromedp.CSS], email, password)
}

func (b *tab) fillLoginWith(fill func(chromedp.CSS, string, ...chromedp.QueryOption) chromedp.Action[chromedp.Void], email, password string) *network.Response {
	b.t.Helper()
	if got := b.text("main h1"); got != "Sign in" {
		b.t.Fatalf("expected the sign-in page at %s, got heading %q", b.path(), got)
	}
	return b.submit("sign in as "+email,
		fill(chromedp.CSS(`#login-form input[name=email]`), email),
		fill(chromedp.CSS(`#login-form input[name=password]`), password),
		chromedp.Click(chromedp.CSS(`#login-form button[type=submit]`)),
	)
}

// login signs in from the login page and checks that it lands on the overview.
func (b *tab) login(email string) {
	b.t.Helper()
	b.navigate("/login")
	resp := b.fillLogin(email, testPassword)
	if resp.Status != http.StatusOK || b.path() != "/" {
		b.t.Fatalf("sign in as %s: status %d at %s, want 200 at /", email, resp.Status, b.path())
	}
}

// forget drops the tab's cookies, as if the session had ended elsewhere (or to start afresh).
func (b *tab) forget() {
	b.t.Helper()
	if _, err := chromedp.Call(b.ctx, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
		b.t.Fatalf("clear cookies: %v", err)
	}
}

// sessionCookie returns the value of the browser's session cookie for the test server, or "".
func (b *tab) sessionCookie() string {
	b.t.Helper()
	res, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{b.f.url + "/"}})
	if err != nil {
		b.t.Fatalf("get cookies: %v", err)
	}
	for _, c := range res.Cookies {
		if c.Name == httpx.SessionCookie {
			return c.Value
		}
	}
	return ""
}

// facts returns the overview's facts list (dt → dd text).
func (b *tab) facts() map[string]string {
	b.t.Helper()
	return js[map[string]string](b, `Object.fromEntries([...document.querySelectorAll("dl.facts dt")].map(
		dt => [dt.textContent.trim(), dt.nextElementSibling.innerText.trim()]))`)
}

// rows returns the cells' text of the rows of the table body sel.
func (b *tab) rows(sel string) [][]string {
	b.t.Helper()
	return js[[][]string](b, fmt.Sprintf(`[...document.querySelectorAll(%q)].map(tr => [...tr.cells].map(td => td.innerText.trim()))`, sel+" tbody tr"))
}

// column returns column i of the rows of the table sel.
func (b *tab) column(sel string, i int) []string {
	b.t.Helper()
	var col []string
	for _, r := range b.rows(sel) {
		col = append(col, r[i])
	}
	return col
}

func (b *tab) exists(sel string) bool {
	b.t.Helper()
	return js[bool](b, fmt.Sprintf(`document.querySelector(%q) !== null`, sel))
}

// selectedOrg returns the text of the organization selector's chosen option.
func (b *tab) selectedOrg() string {
	b.t.Helper()
	return js[string](b, `document.querySelector("#org-switch select").selectedOptions[0].textContent.trim()`)
}

// checkOverview checks that the overview shows org as the current org.
func (b *tab) checkOverview(org *cleanroom.Org) {
	b.t.Helper()
	if p := b.path(); p != "/" {
		b.t.Fatalf("at %s, want the overview at /", p)
	}
	if got := b.text("main h1"); got != org.Name {
		b.t.Errorf("overview heading = %q, want the org name %q", got, org.Name)
	}
	if got := b.text("#org-id"); got != org.ID {
		b.t.Errorf("#org-id = %q, want %q", got, org.ID)
	}
	facts := b.facts()
	if got := facts["Kind"]; got != string(org.Kind) {
		b.t.Errorf("Kind = %q, want %q", got, org.Kind)
	}
	if got := facts["Clean room"]; !strings.HasPrefix(got, "enabled 20") || !strings.HasSuffix(got, "UTC") {
		b.t.Errorf("Clean room = %q, want \"enabled <date> UTC\"", got)
	}
	if got := b.selectedOrg(); !strings.HasPrefix(got, org.Name+" ("+string(org.Kind)+", ") {
		b.t.Errorf("organization selector shows %q, want %s", got, org.Name)
	}
}

func TestBrowserLogin(t *testing.T) {
	f := newFixture(t)
	b := f.newTab()

	b.navigate("/login")
	if got := run(b, "title", chromedp.Title()); got != "Sign in · Clean Room" {
		t.Errorf("login page title = %q", got)
	}
	if b.exists(".error") {
		t.Errorf("the login page shows an error before any attempt: %q", b.text(".error"))
	}

	resp := b.fillLogin("alice@example.com", "wrong password, sorry")
	if resp.Status != http.StatusUnauthorized {
		t.Errorf("wrong password: status %d, want 401", resp.Status)
	}
	if p := b.path(); p != "/login" {
		t.Errorf("wrong password: at %s, want /login", p)
	}
	if got := b.text(`main .error[role=alert]`); got != "The email or password is wrong." {
		t.Errorf("wrong password: error message %q", got)
	}
	if b.exists("#org-id") || b.exists("#org-switch") {
		t.Error("wrong password: the page shows signed-in things")
	}
	if c := b.sessionCookie(); c != "" {
		t.Error("wrong password: the browser got a session cookie")
	}

	// The address typed is kept and the password field has the focus: typing the password again
	// is enough.
	if got := js[string](b, `document.querySelector("#login-form input[name=email]").value`); got != "alice@example.com" {
		t.Errorf("wrong password: the address field holds %q", got)
	}
	if got := js[string](b, `document.activeElement.name`); got != "password" {
		t.Errorf("wrong password: the focus is on %q, want the password", got)
	}
	resp = b.submit("sign in again with the password alone",
		chromedp.SendKeys(chromedp.CSS(`#login-form input[name=password]`), testPassword),
		chromedp.Click(chromedp.CSS(`#login-form button[type=submit]`)))
	if resp.Status != http.StatusOK {
		t.Errorf("right password: status %d, want 200", resp.Status)
	}
	b.checkOverview(f.pub)
	if got := b.text("header .user"); got != "alice@example.com" {
		t.Errorf("header shows user %q", got)
	}
	if got := b.text("#demand-side-id"); got != f.ds.ID {
		t.Errorf("Demand-side workspace ID = %q, want %s", got, f.ds.ID)
	}
	if got := b.facts()["Data processing agreement"]; !strings.HasPrefix(got, "signed 20") {
		t.Errorf("Data processing agreement = %q, want signed", got)
	}
	if b.exists(".error") {
		t.Errorf("the overview shows an error: %q", b.text(".error"))
	}
	members := b.column("#members", 1)
	slices.Sort(members)
	if want := []string{"alice@example.com", "vic@example.com"}; !slices.Equal(members, want) {
		t.Errorf("people: %q, want %q", members, want)
	}
}

func TestBrowserSwitchOrg(t *testing.T) {
	f := newFixture(t)
	b := f.newTab()
	b.login("alice@example.com")

	// Alice starts in her first org; the selector offers both.
	start, other := f.pub, f.ds
	if b.text("#org-id") == f.ds.ID {
		start, other = f.ds, f.pub
	}
	b.checkOverview(start)
	options := js[[]string](b, `[...document.querySelectorAll("#org-switch select option")].map(o => o.textContent.trim())`)
	slices.Sort(options)
	want := []string{"Northwind Media (demand side) (demand_side, admin)", "Northwind Media (publisher, admin)"}
	if !slices.Equal(options, want) {
		t.Fatalf("organization selector offers %q, want %q", options, want)
	}

	// Choosing the other org with the keyboard submits the selector's form (app.js).
	key := kb.ArrowDown
	if js[int](b, `document.querySelector("#org-switch select").selectedIndex`) == 1 {
		key = kb.ArrowUp
	}
	resp := b.submit("choose the other org",
		chromedp.Focus(chromedp.CSS("#org-switch select")),
		chromedp.KeyEvent(key))
	if resp.Status != http.StatusOK {
		t.Errorf("switch org: status %d", resp.Status)
	}
	b.checkOverview(other)
	if other == f.ds {
		if got, want := b.facts()["Workspace of publisher"], f.pub.Name+" "+f.pub.ID; got != want {
			t.Errorf("Workspace of publisher = %q, want %q", got, want)
		}
	}

	// The choice sticks to the session.
	b.navigate("/")
	b.checkOverview(other)
	b.navigate("/audit")
	if got := b.column("table.audit", 1); !slices.Contains(got, "session.switch_org") {
		t.Errorf("the other org's audit log has %q, want a session.switch_org entry", got)
	}

	// A forged choice of an org that is not hers changes nothing and records nothing.
	b.navigate("/")
	resp = b.submit("choose a forged org", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => {
		const sel = document.querySelector("#org-switch select");
		sel.options[sel.selectedIndex].value = %q;
		sel.form.submit();
	})()`, f.other.ID)))
	if resp.Status != http.StatusOK {
		t.Errorf("forged org: status %d", resp.Status)
	}
	b.checkOverview(other)
	entries, _, err := f.store.ListAudit(context.Background(), cleanroom.AuditFilter{Action: "session.switch_org", Page: cleanroom.Page{Limit: 10}})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].OrgID != other.ID {
		for _, e := range entries {
			t.Logf("audit: %s org %q target %s %q", e.Action, e.OrgID, e.TargetType, e.TargetID)
		}
		t.Errorf("%d session.switch_org entries, want the 1 switch to %s", len(entries), other.ID)
	}
}

func TestBrowserAudit(t *testing.T) {
	f := newFixture(t)
	b := f.newTab()
	b.login("alice@example.com")

	b.navigate("/audit")
	if got := run(b, "title", chromedp.Title()); got != "Audit log · Clean Room" {
		t.Errorf("audit page title = %q", got)
	}
	if got := b.text("main h1"); got != "Audit log" {
		t.Errorf("audit page heading = %q", got)
	}
	var logins [][]string
	for _, r := range b.rows("table.audit") {
		if len(r) != 6 {
			t.Fatalf("audit row %q has %d cells, want 6", r, len(r))
		}
		if r[1] == "session.create" {
			logins = append(logins, r)
		}
	}
	if len(logins) != 1 {
		t.Fatalf("audit log has %d session.create entries, want the one of the login; rows: %q", len(logins), b.rows("table.audit"))
	}
	l := logins[0]
	if !strings.HasSuffix(l[0], " UTC") {
		t.Errorf("session.create time = %q", l[0])
	}
	// People are shown by name and email, organizations by name, never as raw IDs.
	if want := "Alice Admin <alice@example.com>"; l[2] != want {
		t.Errorf("session.create actor = %q, want %q", l[2], want)
	}
	if want := "user Alice Admin <alice@example.com>"; l[3] != want {
		t.Errorf("session.create target = %q, want %q", l[3], want)
	}
	if l[4] != f.pub.Name {
		t.Errorf("session.create organization = %q, want %q", l[4], f.pub.Name)
	}

	// The overview's recent activity shows it too.
	b.navigate("/")
	if got := b.column("table.audit", 1); !slices.Contains(got, "session.create") {
		t.Errorf("recent activity %q lacks session.create", got)
	}
	b.do("follow the link to the whole log", chromedp.Click(chromedp.CSS(`main a[href="/audit"]`)), chromedp.WaitVisible(chromedp.CSS("table.audit")))
	if p := b.path(); p != "/audit" {
		t.Errorf("the whole-log link led to %s", p)
	}
}

func TestBrowserSignOut(t *testing.T) {
	f := newFixture(t)
	b := f.newTab()
	b.login("alice@example.com")
	secret := b.sessionCookie()
	if secret == "" {
		t.Fatal("no session cookie after sign-in")
	}

	resp := b.submit("sign out", chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)))
	if resp.Status != http.StatusOK || b.path() != "/login" {
		t.Fatalf("sign out: status %d at %s, want 200 at /login", resp.Status, b.path())
	}
	if got := b.text("main h1"); got != "Sign in" {
		t.Errorf("after sign out the page shows %q", got)
	}
	if b.exists("#org-switch") || b.exists(`form[action="/logout"]`) {
		t.Error("the login page after sign out still shows signed-in controls")
	}
	if c := b.sessionCookie(); c != "" {
		t.Error("the session cookie survived sign-out")
	}

	for _, p := range []string{"/", "/audit"} {
		b.navigate(p)
		if got, want := b.path(), "/login?next="+urlEscape(p); got != want {
			t.Errorf("after sign out, %s led to %s, want %s", p, got, want)
		}
	}
	// The session ended on the server too: the old cookie, put back, opens nothing.
	if _, err := chromedp.Call(b.ctx, network.SetCookie, network.SetCookieParams{Name: httpx.SessionCookie, Value: secret, URL: f.url + "/"}); err != nil {
		t.Fatal(err)
	}
	b.navigate("/")
	if got := b.path(); got != "/login?next=%2F" {
		t.Errorf("with the old session cookie, / led to %s, want /login?next=%%2F", got)
	}
	b.navigate("/audit")
	if b.exists("table.audit") {
		t.Error("the old session cookie still shows the audit log")
	}
}

func urlEscape(p string) string { return strings.ReplaceAll(p, "/", "%2F") }

func TestBrowserCSRF(t *testing.T) {
	f := newFixture(t)
	b := f.newTab()
	b.login("alice@example.com")
	start := b.text("#org-id")

	for _, c := range []struct{ name, form, tamper string }{
		{"logout without token", `form[action="/logout"]`, `f.querySelector("input[name=csrf_token]").remove()`},
		{"logout with a wrong token", `form[action="/logout"]`, `f.querySelector("input[name=csrf_token]").value = "x" + f.querySelector("input[name=csrf_token]").value`},
		{"switch org without token", `#org-switch`, `f.querySelector("input[name=csrf_token]").remove(); f.querySelector("select").selectedIndex = 1 - f.querySelector("select").selectedIndex`},
	} {
		b.navigate("/")
		resp := b.submit(c.name, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => {
			const f = document.querySelector(%q);
			%s;
			f.submit();
		})()`, c.form, c.tamper)))
		if resp.Status != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403", c.name, resp.Status)
		}
		if got := b.text("body"); !strings.Contains(got, "CSRF token is missing or wrong") {
			t.Errorf("%s: page says %q", c.name, got)
		}
		// Still signed in, in the same org.
		b.navigate("/")
		if p := b.path(); p != "/" {
			t.Fatalf("%s: the session did not survive: / led to %s", c.name, p)
		}
		if got := b.text("#org-id"); got != start {
			t.Errorf("%s: the org changed from %s to %s", c.name, start, got)
		}
	}
	if b.sessionCookie() == "" {
		t.Error("the session cookie is gone")
	}

	// A form on another site posting to the dashboard is refused by the cross-origin check.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<!doctype html><title>evil</title><form id=f method=post action="%s/logout"><input name=csrf_token value=guess></form>`, f.url)
	}))
	defer evil.Close()
	evilURL := strings.Replace(evil.URL, "127.0.0.1", "localhost", 1) // another site than 127.0.0.1
	if _, err := chromedp.Run(b.ctx, chromedp.NavigateResponse(evilURL)); err != nil {
		t.Fatal(err)
	}
	resp := b.submit("cross-site post", chromedp.Evaluate[chromedp.Void](`document.getElementById("f").submit()`))
	if resp.Status != http.StatusForbidden {
		t.Errorf("cross-site post to /logout: status %d, want 403", resp.Status)
	}
	b.navigate("/")
	if p := b.path(); p != "/" {
		t.Errorf("the session did not survive the cross-site post: / led to %s", p)
	}
}

func TestBrowserViewer(t *testing.T) {
	f := newFixture(t)

	vic := f.newTab() // then Alice's
	vic.login("vic@example.com")
	vic.checkOverview(f.pub)
	if got := vic.selectedOrg(); got != "Northwind Media (publisher, viewer)" {
		t.Errorf("viewer's selector shows %q", got)
	}
	if got := vic.column("#tokens", 0); !slices.Equal(got, []string{f.vicT.Name}) {
		t.Errorf("the viewer sees tokens %q, want only their own [vic-laptop]", got)
	}
	people := map[string]string{}
	for _, r := range vic.rows("#members") {
		people[r[1]] = r[2]
	}
	if want := map[string]string{"alice@example.com": "admin", "vic@example.com": "viewer"}; fmt.Sprint(people) != fmt.Sprint(want) {
		t.Errorf("the viewer sees people %v, want %v", people, want)
	}
	vic.navigate("/audit")
	if got := vic.column("table.audit", 2); !slices.Contains(got, "Vic Viewer <vic@example.com>") {
		t.Errorf("the viewer's audit log lacks their own login: actors %q", got)
	}

	// An admin of the same org sees every token.
	vic.forget()
	vic.login("alice@example.com")
	tokens := vic.column("#tokens", 0)
	slices.Sort(tokens)
	if want := []string{f.aliceT.Name, f.vicT.Name}; !slices.Equal(tokens, want) {
		t.Errorf("the admin sees tokens %q, want %q", tokens, want)
	}
}

func TestBrowserLoginRedirect(t *testing.T) {
	f := newFixture(t)
	b := f.newTab()
	for _, c := range []struct{ visit, login, land string }{
		{"/", "/login?next=%2F", "/"},
		{"/audit", "/login?next=%2Faudit", "/audit"},
	} {
		b.forget()
		resp := b.navigate(c.visit)
		if got := b.path(); resp.Status != http.StatusOK || got != c.login {
			t.Errorf("signed out, %s led to %s (status %d), want %s", c.visit, got, resp.Status, c.login)
			continue
		}
		b.fillLogin("alice@example.com", testPassword)
		if got := b.path(); got != c.land {
			t.Errorf("after sign-in from %s: at %s, want %s", c.login, got, c.land)
		}
	}

	// A form sent after the session ended elsewhere asks to sign in, and then shows the
	// overview (not the form's target, which is no page).
	for _, c := range []struct{ name, js string }{
		{"sign out", `document.querySelector('form[action="/logout"] button').click()`},
		{"switch org", `(s => { s.selectedIndex = 1 - s.selectedIndex; s.dispatchEvent(new Event("change", {bubbles: true})) })(document.querySelector("#org-switch select"))`},
	} {
		b.navigate("/")
		if b.path() != "/" {
			b.login("alice@example.com")
		}
		b.forget()
		b.submit(c.name+" after the session ended", chromedp.Evaluate[chromedp.Void](c.js))
		if got := b.path(); !strings.HasPrefix(got, "/login?next=") {
			t.Errorf("%s after the session ended: at %s, want the sign-in page", c.name, got)
			continue
		}
		resp := b.fillLogin("alice@example.com", testPassword)
		if got := b.path(); resp.Status != http.StatusOK || got != "/" {
			t.Errorf("%s after the session ended, then sign-in: status %d at %s, want 200 at /", c.name, resp.Status, got)
		}
	}

	// next never leads off the site.
	for _, next := range []string{"%2F%2Fevil.example%2F", "https%3A%2F%2Fevil.example%2F", "%2F%5Cevil.example%2F", "%2F%09%2Fevil.example%2F"} {
		b.navigate("/login?next=" + next)
		ctx, cancel := b.step()
		_, err := chromedp.RunResponse(ctx,
			chromedp.SetValue(chromedp.CSS(`#login-form input[name=email]`), "alice@example.com"),
			chromedp.SetValue(chromedp.CSS(`#login-form input[name=password]`), testPassword),
			chromedp.Click(chromedp.CSS(`#login-form button[type=submit]`)))
		cancel()
		loc := run(b, "location", chromedp.Location())
		if err != nil || loc != f.url+"/" {
			t.Errorf("after sign-in with next=%s: at %s (%v), want %s/", next, loc, err, f.url)
		}
	}
}

func TestBrowserScreenshot(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// Some jobs, so that the overview's tables have rows.
	for i, kind := range []string{"import.audience", "match.run"} {
		j := &cleanroom.Job{Kind: kind, OrgID: f.pub.ID, MaxAttempts: 3, Args: []byte(fmt.Sprintf(`{"n":%d}`, i))}
		if err := f.store.EnqueueJob(ctx, j, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if j, err := f.store.ClaimJob(ctx, "worker-1", []string{"import.audience"}, time.Now(), time.Minute); err != nil || j == nil {
		t.Fatalf("claim job: %v, %v", j, err)
	} else if err := f.store.ReportJobProgress(ctx, j.ID, "worker-1", cleanroom.Progress{Done: 420, Total: 1000, Message: "hashing identifiers"}, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}

	b := f.newTab()
	b.login("alice@example.com")
	b.checkOverview(f.pub)
	if got := len(b.rows("#jobs")); got != 2 {
		t.Errorf("the overview lists %d jobs, want 2", got)
	}
	shot := run(b, "full-page screenshot", chromedp.FullScreenshot(100))
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("the screenshot is no PNG: %v", err)
	}
	if s := img.Bounds().Size(); s.X != 1280 || s.Y < 900 {
		t.Errorf("screenshot is %v, want 1280 wide and at least 900 high", s)
	}
	if dir := os.Getenv("CLEANROOM_SCREENSHOTS"); dir != "" {
		writeScreenshot(t, dir, "overview", shot)
	}

	// The page is laid out as designed: the stylesheet applies, the header is one row with the
	// user's controls on the right, and nothing is wider than the window.
	layout := js[map[string]float64](b, `(() => {
		const r = s => document.querySelector(s).getBoundingClientRect();
		return {
			bgBlue: parseInt(getComputedStyle(document.body).backgroundColor.split(",")[2]),
			headerHeight: r("header.top").height,
			whoRight: r("header .who").right,
			brandTop: r("header .brand").top,
			whoTop: r("header .who").top,
			mainWidth: r("main").width,
			scrollWidth: document.documentElement.scrollWidth,
			innerWidth: window.innerWidth,
		};
	})()`)
	if layout["bgBlue"] != 249 {
		t.Errorf("body background blue = %v: style.css did not apply", layout["bgBlue"])
	}
	if h := layout["headerHeight"]; h > 70 {
		t.Errorf("the header is %vpx high; it should be one row", h)
	}
	if d := layout["innerWidth"] - layout["whoRight"]; d < 0 || d > 40 {
		t.Errorf("the user's controls end %vpx from the right edge", d)
	}
	if layout["scrollWidth"] > layout["innerWidth"] {
		t.Errorf("the page is %vpx wide in a %vpx window", layout["scrollWidth"], layout["innerWidth"])
	}
	if w := layout["mainWidth"]; w < 900 || w > 72*16 {
		t.Errorf("main is %vpx wide, want at most 72rem", w)
	}
}

// screenshot keeps a full-page screenshot as DIR/name.png when CLEANROOM_SCREENSHOTS=DIR.
func (b *tab) screenshot(name string) {
	b.t.Helper()
	dir := os.Getenv("CLEANROOM_SCREENSHOTS")
	if dir == "" {
		return
	}
	shot := run(b, "screenshot "+name, chromedp.FullScreenshot(100)) // 100: PNG
	writeScreenshot(b.t, dir, name, shot)
}

// writeScreenshot writes the PNG shot as DIR/name.png, in 256 colours (the Plan 9 palette: the
// dashboard's flat colours and grey text survive it) to keep docs/img small.
func writeScreenshot(t *testing.T, dir, name string, shot []byte) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	small := image.NewPaletted(img.Bounds(), palette.Plan9)
	draw.Draw(small, small.Rect, img, img.Bounds().Min, draw.Src)
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, small); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// cohortTab is a browser tab signed in to the cohort world as email.
func (w *cohortWorld) cohortTab(email string) *tab {
	w.t.Helper()
	f := &fixture{t: w.t, url: w.srv.URL}
	b := f.newTab()
	b.navigate("/login")
	if resp := b.fillLogin(email, worldPassword); resp.Status != http.StatusOK || b.path() != "/" {
		w.t.Fatalf("sign in as %s: %d at %s", email, resp.Status, b.path())
	}
	return b
}

// TestBrowserCohortForm: in Chromium, an advertiser builds a query with a group through the
// new-cohort form (the add buttons work in the page), estimates it, creates it, and watches it
// become active on its page without reloading; it is listed with its code. The list refreshes
// while a cohort builds without touching what is being typed in the form.
func TestBrowserCohortForm(t *testing.T) {
	needBrowser(t)
	w := newCohortWorld(t)
	ctx := context.Background()
	b := w.cohortTab("crm@acme.example")
	b.navigate("/cohorts")
	if got := b.text("#cohort-list p.muted"); got != "No cohorts yet." {
		t.Errorf("empty list says %q", got)
	}
	// Mark the page: a reload would lose the mark.
	b.do("fill the form",
		chromedp.Evaluate[chromedp.Void](`window.sameDocument = true`),
		chromedp.SetValue(chromedp.CSS(`#new-cohort input[name=name]`), "Acme - Tech or finance"),
		chromedp.Click(chromedp.CSS(`#connections input[value="`+w.conn+`"]`)),
		chromedp.SetValue(chromedp.CSS(`#new-cohort select[name=op]`), "all"),
		chromedp.SetValue(chromedp.CSS(`#conditions > table tbody tr:first-child select[name=ds]`), w.dataSource),
		chromedp.Click(chromedp.CSS(`#conditions button[data-add-group]`)),
		chromedp.WaitVisible(chromedp.CSS(`#conditions fieldset.group`)),
		chromedp.Click(chromedp.CSS(`#conditions fieldset.group button[data-add-row]`)),
	)
	if !js[bool](b, `window.sameDocument === true`) {
		t.Fatal("the add buttons reloaded the page; they should work in it")
	}
	if got := js[[]string](b, `[...document.querySelectorAll("#conditions fieldset.group input[name=row]")].map(i => i.value)`); !slices.Equal(got, []string{"g1", "g1", "g1"}) {
		t.Fatalf("the new group's rows belong to %q, want 3 rows of g1", got)
	}
	b.do("fill the group",
		chromedp.SetValue(chromedp.CSS(`fieldset.group tbody tr:nth-child(1) select[name=ds]`), w.dataSource),
		chromedp.SetValue(chromedp.CSS(`fieldset.group tbody tr:nth-child(1) select[name=seg]`), "s01"),
		chromedp.SetValue(chromedp.CSS(`fieldset.group tbody tr:nth-child(3) select[name=ds]`), w.dataSource),
		chromedp.SetValue(chromedp.CSS(`fieldset.group tbody tr:nth-child(3) select[name=seg]`), "s02"),
	)
	resp := b.submit("estimate", chromedp.Click(chromedp.CSS(`#new-cohort button[value=estimate]`)))
	if resp.Status != http.StatusOK || b.exists(".error") {
		t.Fatalf("estimate: status %d, error %v", resp.Status, b.exists(".error"))
	}
	estimate := b.rows("#estimates")
	if len(estimate) != 1 || estimate[0][0] != "Daily Planet" || estimate[0][2] != "yes" {
		t.Fatalf("estimate rows %q, want one for Daily Planet that would be served", estimate)
	}
	predicted := estimate[0][1]
	b.screenshot("cohorts-estimate")
	// The form came back as typed.
	if got := js[[]string](b, `[...document.querySelectorAll("#conditions select[name=seg]")].map(i => i.value)`); !slices.Equal(got, []string{"", "", "s01", "", "s02"}) {
		t.Errorf("segments after the estimate: %q", got)
	}
	resp = b.submit("create", chromedp.Click(chromedp.CSS(`#new-cohort button[value=create]`)))
	id, ok := strings.CutPrefix(b.path(), "/cohorts/")
	if resp.Status != http.StatusOK || !ok {
		t.Fatalf("create: status %d at %s", resp.Status, b.path())
	}
	if got := b.text("#status .state"); got != "building" || !b.exists("#status progress") {
		t.Errorf("a new cohort's status: %q", got)
	}
	b.do("mark the page", chromedp.Evaluate[chromedp.Void](`window.sameDocument = true`))
	w.drain()
	b.do("wait for the page to show the cohort active", chromedp.WaitVisible(chromedp.CSS(`#status .state-active`)))
	if !js[bool](b, `window.sameDocument === true`) {
		t.Error("the page reloaded itself; it should swap its parts in")
	}
	co, err := w.store.FindCohort(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	tg := co.Targets[0]
	if got := b.text("#targets code.code"); got != itoa(tg.Code) {
		t.Errorf("code shown %q, want %d", got, tg.Code)
	}
	if itoa(tg.Size) != predicted {
		t.Errorf("the estimate predicted %s users, the build has %d", predicted, tg.Size)
	}
	b.screenshot("cohort-matched")
	if b.exists("[data-busy]") || !b.exists(".diagnostics") {
		t.Error("the finished cohort's page still refreshes, or lacks its diagnostics")
	}
	b.navigate("/cohorts")
	rows := b.rows("#cohorts")
	if len(rows) != 1 || rows[0][0] != co.Name || rows[0][2] != "active" || rows[0][4] != itoa(tg.Code) || rows[0][5] != itoa(tg.Size) || rows[0][6] != "yes" {
		t.Errorf("list rows %q", rows)
	}

	// A cohort building: the list refreshes itself, the form keeps what is typed.
	if _, err := w.api.Cohorts.Create(ctx, &cleanroom.Caller{User: &cleanroom.User{ID: "u"}, Org: w.adv, Role: cleanroom.RoleAdmin}, cohorts.Spec{
		Name: "Acme - Everyone", Kind: cleanroom.CohortMatched, ConnectionIDs: []string{w.conn},
		Query: cleanroom.CohortQuery{Op: cleanroom.OpAny, Conditions: []cleanroom.Condition{{DataSource: w.dataSource}}}}); err != nil {
		t.Fatal(err)
	}
	b.navigate("/cohorts")
	if !b.exists(`#cohorts .state-building`) || !b.exists(`#cohorts progress`) {
		t.Fatalf("the building cohort is not shown building: %q", b.rows("#cohorts"))
	}
	b.do("type a name", chromedp.Evaluate[chromedp.Void](`window.sameDocument = true; document.getElementById("cohort-list").dataset.old = "1"`),
		chromedp.SendKeys(chromedp.CSS(`#new-cohort input[name=name]`), "Half typ"))
	// While it builds, the list is swapped for a fresh one, which brings no live meta refresh
	// (the fallback for pages without script) into the page.
	b.do("wait for the list to be swapped", chromedp.WaitNotPresent(chromedp.CSS(`#cohort-list[data-old]`)))
	if !b.exists(`#cohorts .state-building`) || b.exists(`meta[http-equiv=refresh]`) {
		t.Errorf("the swapped list: building %v, meta refresh %v", b.exists(`#cohorts .state-building`), b.exists(`meta[http-equiv=refresh]`))
	}
	w.drain()
	b.do("wait for the list to show it active", chromedp.WaitNotPresent(chromedp.CSS(`#cohorts .state-building`)))
	b.screenshot("cohorts")
	if got := b.column("#cohorts", 2); !slices.Equal(got, []string{"active", "active"}) {
		t.Errorf("statuses after the build: %q", got)
	}
	if got := js[string](b, `document.querySelector("#new-cohort input[name=name]").value`); got != "Half typ" || !js[bool](b, `window.sameDocument === true`) {
		t.Errorf("the refresh reloaded the page or lost the typed name: %q", got)
	}

	// Delete asks first: declined, nothing is sent; confirmed, the cohort is gone.
	b.navigate("/cohorts/" + id)
	b.do("decline the deletion", chromedp.Evaluate[chromedp.Void](`
		window.asked = "";
		window.confirm = (msg) => { window.asked = msg; return false; };
		window.addEventListener("submit", (ev) => { window.prevented = ev.defaultPrevented; });`),
		chromedp.Click(chromedp.CSS(`button[value=delete]`)))
	if !js[bool](b, `window.prevented === true`) || !strings.HasPrefix(js[string](b, `window.asked`), "Delete this cohort?") {
		t.Fatalf("declining the confirmation did not stop the deletion (asked %q)", js[string](b, `window.asked`))
	}
	if _, err := w.store.FindCohort(ctx, id); err != nil {
		t.Fatalf("after declining: %v", err)
	}
	b.do("accept the next confirmation", chromedp.Evaluate[chromedp.Void](`window.confirm = () => true`))
	b.submit("delete", chromedp.Click(chromedp.CSS(`button[value=delete]`)))
	if got := b.path(); got != "/cohorts" {
		t.Errorf("after deleting: at %s, want /cohorts", got)
	}
	if _, err := w.store.FindCohort(ctx, id); cleanroom.ErrorCode(err) != cleanroom.ENOTFOUND {
		t.Errorf("the deleted cohort: %v", err)
	}
	if got := b.column("#cohorts", 0); !slices.Equal(got, []string{"Acme - Everyone"}) {
		t.Errorf("list after deleting: %q", got)
	}
}

// TestBrowserCohortCurve: in Chromium, a lookalike's curve is drawn with its points (no console
// or CSP errors), clicking a point picks it in the table, and submitting, with the matched users
// included, makes the cohort active at that similarity.
func TestBrowserCohortCurve(t *testing.T) {
	needBrowser(t)
	w := newCohortWorld(t)
	ctx := context.Background()
	co, err := w.api.Cohorts.Create(ctx, cleanroom.NewCaller(w.adv.ID, cleanroom.RoleAdmin), cohorts.Spec{
		Name: "Acme - Lookalike", Kind: cleanroom.CohortModeled, ConnectionIDs: []string{w.conn},
		Query: cleanroom.CohortQuery{Op: cleanroom.OpAny, Conditions: []cleanroom.Condition{{DataSource: w.dataSource, Segment: synth.AllCustomersID}}}})
	if err != nil {
		t.Fatal(err)
	}
	w.drain()
	b := w.cohortTab("crm@acme.example")
	b.navigate("/cohorts/" + co.ID)
	if got := b.text("#status .state"); got != "awaiting_selection" {
		t.Fatalf("status of the trained lookalike: %q", got)
	}
	n := js[int](b, `document.querySelectorAll("svg.curve circle[data-similarity]").length`)
	if n < 20 {
		t.Fatalf("%d points drawn, want >= 20", n)
	}
	if rows := len(b.rows("table.points")); rows != n {
		t.Errorf("the table lists %d points, the curve %d", rows, n)
	}
	// Every point lies inside the chart.
	if out := js[int](b, `[...document.querySelectorAll("svg.curve circle")].filter(c => { const x = +c.getAttribute("cx"), y = +c.getAttribute("cy");
		return !(x >= 40 && x <= 580 && y >= 20 && y <= 280); }).length`); out != 0 {
		t.Errorf("%d points outside the chart", out)
	}
	// Points of equal reach coincide (scores tie); the one on top is the one a user clicks.
	want := js[string](b, `(() => { const r = document.querySelector('svg.curve circle[data-similarity="0.7"]').getBoundingClientRect();
		return document.elementFromPoint(r.x + r.width/2, r.y + r.height/2).dataset.similarity; })()`)
	if want == "" {
		t.Fatal("no point under the 0.7 point's centre")
	}
	b.do("click the 0.7 point", chromedp.Click(chromedp.CSS(`svg.curve circle[data-similarity="0.7"]`)))
	if !js[bool](b, `document.querySelector('input[name=similarity][value="`+want+`"]').checked`) {
		t.Fatalf("clicking the point did not pick the row of similarity %s", want)
	}
	if got := js[[]string](b, `[...document.querySelectorAll("svg.curve circle.chosen")].map(c => c.dataset.similarity)`); !slices.Equal(got, []string{want}) {
		t.Errorf("points marked chosen after the click: %q, want [%s]", got, want)
	}
	b.do("include the matched users", chromedp.Click(chromedp.CSS(`form.choose input[name=include_seeds]`)))
	b.submit("use the point", chromedp.Click(chromedp.CSS(`form.choose button[value=select]`)))
	if got := b.text("#status .state"); got != "building" {
		t.Errorf("status after choosing: %q", got)
	}
	w.drain()
	b.do("wait for the page to show the cohort active", chromedp.WaitVisible(chromedp.CSS(`#status .state-active`)))
	b.screenshot("cohort-modeled")
	if !js[bool](b, `document.querySelector('svg.curve circle.chosen[data-similarity="`+want+`"]') !== null`) {
		t.Error("the chosen point is not marked")
	}
	if got := b.text("#similarity"); !strings.HasSuffix(got, "matched users included") {
		t.Errorf("similarity shown as %q", got)
	}
	got, err := w.store.FindCohort(ctx, co.ID)
	if err != nil || got.Similarity == nil || fmt.Sprint(*got.Similarity) != want || !got.IncludeSeeds || got.Status != cleanroom.CohortActive {
		t.Errorf("stored cohort %+v, want active at similarity %s with the seeds (%v)", got, want, err)
	}
}
