package web_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/accounts"
	"github.com/cleanroom-oss/cleanroom/app/apptest"
)

// formClient is a signed-in dashboard client without JavaScript.
type formClient struct {
	t    *testing.T
	base string
	c    *http.Client
}

func signInAt(t *testing.T, base, email, password string) *formClient {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	b := &formClient{t: t, base: base, c: &http.Client{Jar: jar}}
	res, err := b.c.PostForm(base+"/login", url.Values{"email": {email}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("sign in %s: %d", email, res.StatusCode)
	}
	return b
}

func (b *formClient) get(path string) string {
	b.t.Helper()
	res, err := b.c.Get(b.base + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return string(body)
}

// post submits a form of the page at path with the session's CSRF token and returns the status
// and the page it leads to.
func (b *formClient) post(path string) (int, string) {
	b.t.Helper()
	csrf := between(b.get("/v1/me"), `"csrf_token":"`, `"`)
	res, err := b.c.PostForm(b.base+path, url.Values{"csrf_token": {csrf}})
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// TestDashboardInvitations: the invited person sees pending invitations on the overview and
// accepts or declines them there; the inviting org lists them with their state and its admins
// withdraw them; a person in no org yet is told so; a publisher's admin finds the demand-side
// workspace in the org switcher.
func TestDashboardInvitations(t *testing.T) {
	ctx := context.Background()
	app := apptest.Open(t, apptest.Options{})
	store, acc := app.Store, app.Accounts
	h, err := app.Handler()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	const pw = "a long enough password"
	pub, err := acc.CreateOrg(ctx, "Daily Planet", cleanroom.OrgPublisher)
	must(err)
	_, err = acc.RecordDPA(ctx, pub.ID, time.Time{})
	must(err)
	pub, err = acc.EnableCleanRoom(ctx, pub.ID)
	must(err)
	adv, err := acc.CreateOrg(ctx, "Acme Outdoor", cleanroom.OrgAdvertiser)
	must(err)
	add := func(org *cleanroom.Org, email string, role cleanroom.Role) *cleanroom.User {
		m, _, err := acc.AddMember(ctx, org.ID, accounts.NewUser{Email: email, Password: pw, Role: role})
		must(err)
		return &m.User
	}
	ops := add(pub, "ops@planet.example", cleanroom.RoleAdmin)
	add(pub, "reader@planet.example", cleanroom.RoleViewer)
	crm := add(adv, "crm@acme.example", cleanroom.RoleAdmin)

	asOps := &cleanroom.Caller{User: ops, Org: pub, Role: cleanroom.RoleAdmin}
	toCRM, err := acc.InviteMember(ctx, asOps, accounts.NewUser{Email: crm.Email, Password: pw, Role: cleanroom.RoleViewer})
	must(err)
	toNew, err := acc.InviteMember(ctx, asOps, accounts.NewUser{Email: "new@planet.example", Password: pw, Role: cleanroom.RoleMember})
	must(err)
	toGone, err := acc.InviteMember(ctx, asOps, accounts.NewUser{Email: "gone@elsewhere.example", Password: pw, Role: cleanroom.RoleMember})
	must(err)

	// The publisher's admin: the invitations, withdraw buttons, and the workspace in the switcher.
	admin := signInAt(t, srv.URL, "ops@planet.example", pw)
	html := admin.get("/")
	for _, want := range []string{`id="invitations"`, "crm@acme.example", "new@planet.example", "/org/invitations/" + toGone.ID + "/withdraw",
		`<option value="` + pub.DemandSideID + `"`} {
		if !strings.Contains(html, want) {
			t.Errorf("the publisher admin's overview lacks %s", want)
		}
	}
	if status, _ := admin.post("/org/invitations/" + toGone.ID + "/withdraw"); status != http.StatusOK {
		t.Errorf("withdraw: %d", status)
	}
	if got, _ := acc.Invitation(ctx, asOps, toGone.ID); got.State != cleanroom.InvitationWithdrawn {
		t.Errorf("after withdrawing: %s", got.State)
	}
	// A viewer sees the list, without the buttons, and cannot withdraw.
	reader := signInAt(t, srv.URL, "reader@planet.example", pw)
	if html := reader.get("/"); !strings.Contains(html, "new@planet.example") || strings.Contains(html, "/withdraw") {
		t.Errorf("the viewer's overview: withdraw buttons shown or invitations missing")
	}
	if status, _ := reader.post("/org/invitations/" + toNew.ID + "/withdraw"); status != http.StatusForbidden {
		t.Errorf("a viewer withdraws: %d", status)
	}

	// The advertiser's admin sees the invitation and accepts it: now in the publisher's org.
	b := signInAt(t, srv.URL, crm.Email, pw)
	html = b.get("/")
	if !strings.Contains(html, `id="my-invitations"`) || !strings.Contains(html, "Daily Planet") || !strings.Contains(html, "/invitations/"+toCRM.ID+"/accept") {
		t.Fatalf("the invited person's overview lacks the invitation")
	}
	status, html := b.post("/invitations/" + toCRM.ID + "/accept")
	if status != http.StatusOK || !strings.Contains(html, "<h1>Daily Planet</h1>") || strings.Contains(html, `id="my-invitations"`) {
		t.Errorf("after accepting: %d, not in the publisher's org", status)
	}
	if m, err := store.FindMember(ctx, pub.ID, crm.ID); err != nil || m.Role != cleanroom.RoleViewer {
		t.Errorf("membership after accepting: %v", err)
	}
	if status, html := b.post("/invitations/" + toCRM.ID + "/accept"); status != http.StatusConflict || !strings.Contains(html, "accepted") {
		t.Errorf("accepting twice: %d", status)
	}

	// A new account, in no org yet, is told so, and declines.
	n := signInAt(t, srv.URL, "new@planet.example", pw)
	html = n.get("/")
	if !strings.Contains(html, `id="no-org"`) || !strings.Contains(html, "/invitations/"+toNew.ID+"/decline") {
		t.Errorf("the new account's overview lacks the welcome or the invitation")
	}
	if status, html := n.post("/invitations/" + toNew.ID + "/decline"); status != http.StatusOK || strings.Contains(html, `id="my-invitations"`) {
		t.Errorf("decline: %d", status)
	}
	if html := admin.get("/"); !strings.Contains(html, "state-declined") || !strings.Contains(html, "state-accepted") {
		t.Errorf("the inviter's list does not show declined and accepted")
	}
	// Someone else's invitation is not found.
	if status, _ := n.post("/invitations/" + toCRM.ID + "/accept"); status != http.StatusNotFound {
		t.Errorf("accepting another's invitation: %d", status)
	}
}
