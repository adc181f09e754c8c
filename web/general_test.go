package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/cleanroom-oss/cleanroom"
)

var navLink = regexp.MustCompile(`<nav>([\s\S]*?)</nav>`)
var href = regexp.MustCompile(`href="([^"]+)"`)

// TestNavigationLeadsSomewhere: every link of every role's navigation answers a page of the
// dashboard (200), and a path with no page answers the dashboard's own 404 page.
func TestNavigationLeadsSomewhere(t *testing.T) {
	w := newCohortWorld(t)
	for _, who := range []struct{ email, org string }{
		{"ops@planet.example", ""}, {"crm@acme.example", ""}, {"look@acme.example", ""},
		{"ws@planet.example", ""}, {"agency@acme.example", w.pub.DemandSideID}, {"crm@other.example", ""},
	} {
		b := w.signIn(who.email)
		if who.org != "" {
			b.in(who.org)
		}
		_, home := b.get("/")
		nav := navLink.FindStringSubmatch(home)
		if nav == nil {
			t.Fatalf("%s: no navigation", who.email)
		}
		var links []string
		for _, m := range href.FindAllStringSubmatch(nav[1], -1) {
			links = append(links, m[1])
			if status, html := b.get(m[1]); status != 200 || strings.Contains(html, "Page not found") {
				t.Errorf("%s: the navigation's %s answers %d", who.email, m[1], status)
			}
		}
		if who.email == "agency@acme.example" {
			if strings.Join(links, " ") != "/ /data-sources" {
				t.Errorf("invited advertiser's navigation = %q, want the overview and data sources only", links)
			}
		} else if !strings.Contains(strings.Join(links, " "), "/settings") {
			t.Errorf("%s: no Settings in the navigation %q", who.email, links)
		}
		status, html := b.get("/no-such-page")
		if status != 404 || !strings.Contains(html, "Page not found") || !strings.Contains(html, `href="/static/style.css"`) || !strings.Contains(html, "<nav>") {
			t.Errorf("%s: GET /no-such-page = %d, want the styled 404 page with the navigation\n%s", who.email, status, html)
		}
	}
	// Signed out, the 404 page is styled too (without the navigation).
	res, err := w.srv.Client().Get(w.srv.URL + "/settings/nothing")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 404 {
		t.Errorf("signed out GET /settings/nothing = %d, want 404", res.StatusCode)
	}
}

// TestSettingsTokens: a member makes a token and sees its secret once; the token works and its
// secret is not on the page again; revoking it stops it. A viewer makes none; another org's
// admin cannot revoke it.
func TestSettingsTokens(t *testing.T) {
	w := newCohortWorld(t)
	b := w.signIn("crm@acme.example")
	status, html := b.get("/settings")
	if status != 200 || !strings.Contains(html, `id="settings-org-id">`+w.adv.ID+`<`) || !strings.Contains(html, `data-copy="#settings-org-id"`) {
		t.Fatalf("settings: %d, lacks the org ID with its copy button", status)
	}
	// A bad lifetime keeps the name typed and shows the error beside the field.
	status, _, html = b.post("/settings/tokens", url.Values{"name": {"nightly"}, "expires_in_days": {"soon"}})
	if status != 400 || !strings.Contains(html, `value="nightly"`) || !regexp.MustCompile(`name="expires_in_days"[^>]*>\s*<span class="field-error"`).MatchString(html) {
		t.Errorf("bad lifetime: %d, want 400 with the name kept and the error beside the field", status)
	}
	status, _, html = b.post("/settings/tokens", url.Values{"name": {"nightly"}, "expires_in_days": {"30"}})
	secret := between(html, `<code id="token-secret">`, `</code>`)
	if status != 200 || !strings.HasPrefix(secret, "cr_") && len(secret) < 20 {
		t.Fatalf("create token: %d, secret %q", status, secret)
	}
	api := func(token string) int {
		req, _ := bearerRequest("GET", w.srv.URL+"/v1/me", token)
		res, err := w.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if got := api(secret); got != 200 {
		t.Errorf("the new token answers %d, want 200", got)
	}
	if _, html := b.get("/settings"); strings.Contains(html, secret) || !strings.Contains(html, "nightly") {
		t.Errorf("the settings page shows the secret again, or not the token's name")
	}
	ts, _, err := w.store.ListTokens(context.Background(), w.adv.ID, "", cleanroom.Page{Limit: 10})
	if err != nil || len(ts) != 1 {
		t.Fatalf("tokens: %v %v", ts, err)
	}
	// Another org's admin cannot revoke it, and a viewer makes no token.
	if status, _, _ := w.signIn("crm@other.example").post("/settings/tokens/"+ts[0].ID+"/revoke", url.Values{}); status != 404 {
		t.Errorf("another org's admin revoking: %d, want 404", status)
	}
	if status, _, _ := w.signIn("look@acme.example").post("/settings/tokens", url.Values{"name": {"viewer's"}}); status != 403 {
		t.Errorf("a viewer making a token: %d, want 403", status)
	}
	if got := api(secret); got != 200 {
		t.Errorf("after the refused revocations the token answers %d", got)
	}
	if status, path, _ := b.post("/settings/tokens/"+ts[0].ID+"/revoke", url.Values{}); status != 200 || path != "/settings" {
		t.Errorf("revoke: %d at %s", status, path)
	}
	if got := api(secret); got != 401 {
		t.Errorf("the revoked token answers %d, want 401", got)
	}
}

// TestSettingsPeople: an admin invites a person (a bad address keeps the values and shows the
// error beside the field), changes a role and creates a service account with a token; members
// see the people without the forms; another org sees none of them.
func TestSettingsPeople(t *testing.T) {
	w := newCohortWorld(t)
	admin := w.signIn("ops@planet.example")
	status, _, html := admin.post("/settings/people", url.Values{"email": {"not-an-address"}, "name": {"Nadia"}, "password": {"a long enough password"}, "role": {"viewer"}})
	if status != 400 || !strings.Contains(html, `value="not-an-address"`) || !strings.Contains(html, `value="Nadia"`) || !strings.Contains(html, `<option value="viewer" selected>`) {
		t.Errorf("bad invitation: %d, want 400 with the values kept", status)
	}
	if !regexp.MustCompile(`name="email"[^>]*>\s*<span class="field-error"`).MatchString(html) {
		t.Errorf("bad invitation: the error is not beside the email field")
	}
	status, path, html := admin.post("/settings/people", url.Values{"email": {"nadia@planet.example"}, "name": {"Nadia"}, "password": {"a long enough password"}, "role": {"viewer"}})
	if status != 200 || path != "/settings" || !strings.Contains(html, "nadia@planet.example") {
		t.Errorf("invitation: %d at %s", status, path)
	}
	// A service account, with a token made by the admin.
	status, _, html = admin.post("/settings/service-accounts", url.Values{"name": {"Nightly sync"}, "role": {"member"}})
	if status != 200 || !strings.Contains(html, "Nightly sync") {
		t.Fatalf("service account: %d", status)
	}
	sa := regexp.MustCompile(`/settings/service-accounts/([0-9a-f-]{36})/tokens`).FindStringSubmatch(html)
	if sa == nil {
		t.Fatal("no token form for the service account")
	}
	status, _, html = admin.post("/settings/service-accounts/"+sa[1]+"/tokens", url.Values{"name": {"sync"}})
	if status != 200 || !strings.Contains(html, `id="token-secret"`) || !strings.Contains(html, "the service account Nightly sync") {
		t.Errorf("service account token: %d", status)
	}
	// The admin demotes the service account to viewer; the last admin cannot demote itself.
	if status, _, html := admin.post("/settings/people/"+sa[1]+"/role", url.Values{"role": {"viewer"}}); status != 200 || strings.Contains(html, `class="field-error"`) {
		t.Errorf("role change: %d", status)
	}
	if m, err := w.store.FindMember(context.Background(), w.pub.ID, sa[1]); err != nil || m.Role != cleanroom.RoleViewer {
		t.Errorf("service account after the change: %+v %v", m, err)
	}
	me, _ := w.store.FindUserByEmail(context.Background(), "ops@planet.example")
	status, _, html = admin.post("/settings/people/"+me.ID+"/role", url.Values{"role": {"member"}})
	if status != 409 || !strings.Contains(html, `class="field-error"`) {
		t.Errorf("demoting the last admin: %d, want 409 with the error beside the role", status)
	}
	// Another org's admin sees none of it and changes nothing.
	other := w.signIn("crm@other.example")
	if _, html := other.get("/settings"); strings.Contains(html, "Nightly sync") || strings.Contains(html, "nadia@") || strings.Contains(html, "ops@planet") {
		t.Errorf("another org's settings show the publisher's people")
	}
	if status, _, _ := other.post("/settings/people/"+sa[1]+"/role", url.Values{"role": {"member"}}); status != 404 {
		t.Errorf("another org's admin changing a role: %d, want 404", status)
	}
	if status, _, _ := other.post("/settings/service-accounts/"+sa[1]+"/delete", url.Values{}); status != 404 {
		t.Errorf("another org's admin deleting the service account: %d, want 404", status)
	}
	// A member sees the people but not the admin's forms.
	if _, html := w.signIn("crm@acme.example").get("/settings"); !strings.Contains(html, "look@acme.example") || strings.Contains(html, `id="invite-form"`) {
		t.Errorf("a member's settings: want the people without the invitation form")
	}
}

func bearerRequest(method, url, token string) (*http.Request, error) {
	req, err := http.NewRequest(method, url, nil)
	if err == nil {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req, err
}
