package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/app/apptest"
)

// newBareFixture is a running server with only an operator (root@deploy.example).
func newBareFixture(t *testing.T) *fixture {
	t.Helper()
	needBrowser(t)
	m := apptest.Open(t, apptest.Options{Log: t.Output()})
	h, err := m.Handler()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	if _, err := m.Accounts.CreateOperator(context.Background(), "root@deploy.example", "Root", testPassword); err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, url: srv.URL, store: m.Store, acc: m.Accounts}
}

// fill sets the form's fields (CSS selector → value) and submits it with its button.
func (b *tab) fill(what, form string, fields map[string]string) *network.Response {
	b.t.Helper()
	var actions []chromedp.Action[chromedp.Void]
	for sel, v := range fields {
		actions = append(actions, chromedp.SetValue(chromedp.CSS(form+" "+sel), v))
	}
	actions = append(actions, chromedp.Click(chromedp.CSS(form+` button[type=submit]`)))
	return b.submit(what, actions...)
}

// confirmAll makes the page's confirmation dialogs answer yes.
func (b *tab) confirmAll() {
	b.t.Helper()
	b.do("answer confirmations", chromedp.Evaluate[chromedp.Void](`window.confirm = () => true`))
}

// orgByName returns the org named name.
func (f *fixture) orgByName(name string) *cleanroom.Org {
	f.t.Helper()
	os, _, err := f.store.ListOrgs(context.Background(), cleanroom.Page{Limit: 100})
	if err != nil {
		f.t.Fatal(err)
	}
	for _, o := range os {
		if o.Name == name {
			return o
		}
	}
	f.t.Fatalf("no org named %s", name)
	return nil
}

// TestBrowserOperatorAndPublisherWorkflows drives, through the pages only: the operator
// onboarding a publisher and an advertiser (create, DPA, clean room, first admins); the publisher
// connecting to the advertiser (a mistyped ID shows its fix beside the field and keeps the
// permissions ticked); the publisher inviting the advertiser's person into its demand-side
// workspace; that person accepting, seeing only the overview and data sources, creating a data
// source, uploading its taxonomy and granting it; the workspace seeing it granted; and the
// publisher deleting the connection after a confirmation that says what stops.
func TestBrowserOperatorAndPublisherWorkflows(t *testing.T) {
	f := newBareFixture(t)
	op := f.newTab()
	op.login("root@deploy.example")
	op.do("open the operator page", chromedp.Click(chromedp.CSS(`nav a[href="/operator"]`)), chromedp.WaitVisible(chromedp.CSS("#create-org-form")))
	for _, org := range []struct{ name, kind string }{{"Morning Star", "publisher"}, {"Fabrikam", "advertiser"}} {
		if resp := op.fill("create "+org.name, "#create-org-form", map[string]string{"input[name=name]": org.name, "select[name=kind]": org.kind}); resp.Status != 200 {
			t.Fatalf("create %s: %d", org.name, resp.Status)
		}
	}
	star, fab := f.orgByName("Morning Star"), f.orgByName("Fabrikam")
	op.confirmAll()
	for _, o := range []*cleanroom.Org{star, fab} {
		op.submit("record "+o.Name+"'s DPA", chromedp.Click(chromedp.CSS(`#org-`+o.ID+` form[action$="/dpa"] button`)))
		op.confirmAll()
		op.submit("enable "+o.Name, chromedp.Click(chromedp.CSS(`#org-`+o.ID+` form[action$="/clean-room"] button`)))
		op.confirmAll()
	}
	for _, p := range []struct{ org, email string }{{star.ID, "stella@star.example"}, {fab.ID, "fred@fabrikam.example"}} {
		op.fill("add "+p.email, "#add-person-form", map[string]string{"select[name=org_id]": p.org, "input[name=email]": p.email,
			"input[name=name]": strings.Split(p.email, "@")[0], "input[name=password]": testPassword, "select[name=role]": "admin"})
	}
	star, fab = f.orgByName("Morning Star"), f.orgByName("Fabrikam")
	if !star.CleanRoomEnabled() || star.DPASignedAt.IsZero() || !fab.CleanRoomEnabled() || star.DemandSideID == "" {
		t.Fatalf("after onboarding: %+v %+v", star, fab)
	}
	op.screenshot("operator-onboarding")

	// The publisher connects to Fabrikam; a mistyped ID first.
	pub := f.newTab()
	pub.login("stella@star.example")
	pub.do("open Connections", chromedp.Click(chromedp.CSS(`nav a[href="/connections"]`)), chromedp.WaitVisible(chromedp.CSS("#connection-form")))
	pub.submit("connect with a typo",
		chromedp.SetValue(chromedp.CSS(`#connection-form input[name=partner_id]`), fab.ID[:30]),
		chromedp.Click(chromedp.CSS(`#connection-form input[name=modeled_audiences]`)),
		chromedp.Click(chromedp.CSS(`#connection-form button[type=submit]`)))
	if got := pub.text("#partner-error"); !strings.Contains(got, "Copy the") {
		t.Errorf("the error beside the partner field = %q, want the fix", got)
	}
	if !js[bool](pub, `document.querySelector("#connection-form input[name=modeled_audiences]").checked`) ||
		js[string](pub, `document.querySelector("#connection-form input[name=partner_id]").value`) != fab.ID[:30] {
		t.Error("the form lost what was typed and ticked")
	}
	pub.screenshot("connection-error")
	pub.submit("connect", chromedp.SetValue(chromedp.CSS(`#connection-form input[name=partner_id]`), fab.ID),
		chromedp.Click(chromedp.CSS(`#connection-form button[type=submit]`)))
	if rows := pub.rows("#connections-table"); len(rows) != 1 || rows[0][0] != "Fabrikam" || !strings.Contains(rows[0][3], "modeled") {
		t.Fatalf("connections: %q", rows)
	}

	// In its demand-side workspace, the publisher invites Fabrikam's person.
	pub.submit("switch to the workspace", chromedp.Evaluate[chromedp.Void](`(() => {
		const sel = document.querySelector("#org-switch select");
		sel.value = "`+star.DemandSideID+`"; sel.form.submit(); })()`))
	pub.navigate("/settings")
	pub.fill("invite Fabrikam's person", "#invite-advertiser-form", map[string]string{"input[name=email]": "fred@fabrikam.example", "input[name=advertiser_id]": fab.ID})
	if got := pub.text("#settings-invitations"); !strings.Contains(got, "fred@fabrikam.example") || !strings.Contains(got, "Fabrikam") {
		t.Errorf("invitations = %q", got)
	}

	// Fred accepts, and sees only the overview and data sources.
	adv := f.newTab()
	adv.login("fred@fabrikam.example")
	adv.submit("accept", chromedp.Click(chromedp.CSS(`#my-invitations form[action$="/accept"] button`)))
	nav := js[[]string](adv, `[...document.querySelectorAll("nav a")].map(a => a.getAttribute("href"))`)
	if strings.Join(nav, " ") != "/ /data-sources" {
		t.Errorf("the invited advertiser's navigation = %q, want the overview and data sources only", nav)
	}
	adv.do("open Data sources", chromedp.Click(chromedp.CSS(`nav a[href="/data-sources"]`)), chromedp.WaitVisible(chromedp.CSS("#data-source-form")))
	adv.fill("create a data source", "#data-source-form", map[string]string{"input[name=name]": "Fabrikam loyalty"})
	tax := filepath.Join(t.TempDir(), "taxonomy.csv")
	if err := os.WriteFile(tax, []byte("segment_id,name\nloyal,Loyalty members\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	adv.submit("upload the taxonomy", chromedp.SetUploadFiles(chromedp.CSS(`#taxonomy-form input[type=file]`), []string{tax}),
		chromedp.Click(chromedp.CSS(`#taxonomy-form button[type=submit]`)))
	if got := adv.text("#segments-table"); !strings.Contains(got, "Loyalty members") {
		t.Errorf("segments = %q", got)
	}
	until := time.Now().UTC().AddDate(0, 2, 0).Format("2006-01-02")
	adv.fill("grant", "#grant-form", map[string]string{"input[name=expires_at]": until})
	if rows := adv.rows("#grants-table"); len(rows) != 1 || !strings.Contains(rows[0][3], "in force") || !strings.Contains(rows[0][0], "Morning Star") {
		t.Errorf("grants = %q", rows)
	}
	adv.screenshot("invited-advertiser-grant")

	// The workspace sees the data granted; the publisher deletes the connection.
	pub.navigate("/data-sources")
	if got := pub.text("#data-source-uploads"); !strings.Contains(got, "Fabrikam loyalty") {
		t.Errorf("the workspace's data sources = %q", got)
	}
	pub.submit("switch back", chromedp.Evaluate[chromedp.Void](`(() => {
		const sel = document.querySelector("#org-switch select");
		sel.value = "`+star.ID+`"; sel.form.submit(); })()`))
	pub.navigate("/connections")
	if msg := js[string](pub, `document.querySelector("form.delete-connection").dataset.confirm`); !strings.Contains(msg, "stops at once every cohort") {
		t.Errorf("the delete confirmation says %q", msg)
	}
	pub.confirmAll()
	if resp := pub.submit("delete the connection", chromedp.Click(chromedp.CSS(`form.delete-connection button`))); resp.Status != http.StatusOK || !pub.exists("#no-connections") {
		t.Errorf("delete: %d, connections left", resp.Status)
	}
}

// TestBrowserSettingsTokens: on Settings, a person makes an API token and sees its secret once
// (with a copy button), the reloaded page no longer shows it, and revoking it (after a
// confirmation) stops it.
func TestBrowserSettingsTokens(t *testing.T) {
	f := newFixture(t)
	b := f.newTab()
	b.login("alice@example.com")
	b.do("open Settings", chromedp.Click(chromedp.CSS(`nav a[href="/settings"]`)), chromedp.WaitVisible(chromedp.CSS("#token-form")))
	if got := b.text("#settings-org-id"); got != f.pub.ID && got != f.ds.ID {
		t.Fatalf("Settings shows the org ID %q", got)
	}
	b.fill("make a token", "#token-form", map[string]string{"input[name=name]": "ci-upload", "input[name=expires_in_days]": "30"})
	secret := b.text("#token-secret")
	if !strings.HasPrefix(secret, "crt_") || !b.exists(`button[data-copy="#token-secret"]`) {
		t.Fatalf("new token %q, or no copy button", secret)
	}
	req, _ := http.NewRequest("GET", f.url+"/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	status := func() int {
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if got := status(); got != 200 {
		t.Fatalf("the new token answers %d", got)
	}
	b.navigate("/settings")
	if b.exists("#token-secret") || !strings.Contains(b.text("#settings-tokens"), "ci-upload") {
		t.Error("the secret is shown again, or the token is not listed")
	}
	b.confirmAll()
	b.submit("revoke", chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll("#settings-tokens tbody tr")].find(tr => tr.cells[0].innerText.trim() === "ci-upload").querySelector("form").requestSubmit()`))
	if got := status(); got != 401 {
		t.Errorf("the revoked token answers %d, want 401", got)
	}
}
