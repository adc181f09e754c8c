package web_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/accounts"
	"github.com/cleanroom-oss/cleanroom/api"
	"github.com/cleanroom-oss/cleanroom/auth"
	"github.com/cleanroom-oss/cleanroom/connections"
	"github.com/cleanroom-oss/cleanroom/keyring"
	"github.com/cleanroom-oss/cleanroom/sqlite"
	"github.com/cleanroom-oss/cleanroom/web"
)

// TestPagesByRole renders every page for each kind of user without a browser: the publisher sees
// its connections; an invited advertiser sees only its own advertiser's data sources and none of
// the workspace's people, jobs or audit log.
func TestPagesByRole(t *testing.T) {
	ctx := context.Background()
	store := sqlite.MustOpen(t)
	acc := accounts.New(store, keyring.Generate())
	acc.Passwords = auth.TestParams
	log := slog.New(slog.DiscardHandler)
	a := api.New(store, acc, log)
	srv := httptest.NewServer(a.Handler(web.New(a, store, log)))
	defer srv.Close()

	ready := func(name string, kind cleanroom.OrgKind) *cleanroom.Org {
		o, err := acc.CreateOrg(ctx, name, kind)
		if err == nil {
			_, err = acc.RecordDPA(ctx, o.ID, time.Time{})
		}
		if err == nil {
			o, err = acc.EnableCleanRoom(ctx, o.ID)
		}
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	pub, adv, other := ready("Daily Planet", cleanroom.OrgPublisher), ready("Acme Outdoor", cleanroom.OrgAdvertiser), ready("Other Brand", cleanroom.OrgAdvertiser)
	add := func(org, email string, role cleanroom.Role) *cleanroom.Member {
		m, _, err := acc.AddMember(ctx, org, accounts.NewUser{Email: email, Password: "a long enough password", Role: role})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	add(pub.ID, "ops@planet.example", cleanroom.RoleAdmin)
	add(pub.DemandSideID, "ops2@planet.example", cleanroom.RoleAdmin)
	add(adv.ID, "crm@acme.example", cleanroom.RoleAdmin)
	add(other.ID, "crm@other.example", cleanroom.RoleAdmin)
	svc := a.Connections
	if _, _, err := svc.CreateConnection(ctx, pub.ID, adv.ID, cleanroom.Permissions{MatchedCohorts: true, Insights: true}); err != nil {
		t.Fatal(err)
	}
	ws := connections.Caller{OrgID: pub.DemandSideID, Role: cleanroom.RoleAdmin}
	for _, inv := range []struct{ email, adv string }{{"crm@acme.example", adv.ID}, {"crm@other.example", other.ID}} {
		m, err := svc.Invite(ctx, ws, inv.email, inv.adv)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.CreateDataSource(ctx, connections.Caller{OrgID: pub.DemandSideID, Role: cleanroom.RoleLimited, RepresentsID: inv.adv, UserID: m.ID}, "List of "+inv.email, ""); err != nil {
			t.Fatal(err)
		}
	}

	// page signs in as email, switches to org, and returns the page's HTML.
	page := func(email, org, path string) (int, string) {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		res, err := c.PostForm(srv.URL+"/login", url.Values{"email": {email}, "password": {"a long enough password"}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if org != "" {
			r, _ := http.NewRequest("PUT", srv.URL+"/v1/session/org", strings.NewReader(`{"org_id":"`+org+`"}`))
			r.Header.Set("Content-Type", "application/json")
			me, _ := c.Get(srv.URL + "/v1/me")
			b, _ := io.ReadAll(me.Body)
			me.Body.Close()
			csrf := between(string(b), `"csrf_token":"`, `"`)
			r.Header.Set(api.CSRFHeader, csrf)
			if res, err := c.Do(r); err != nil || res.StatusCode != 200 {
				t.Fatalf("switch org: %v %v", res.StatusCode, err)
			}
		}
		res, err = c.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	status, html := page("ops@planet.example", "", "/")
	if status != 200 || !strings.Contains(html, `id="connections"`) || !strings.Contains(html, "Acme Outdoor") || !strings.Contains(html, "operator-driven") {
		t.Errorf("publisher overview: %d\n%s", status, html)
	}
	status, html = page("ops2@planet.example", "", "/")
	if status != 200 || !strings.Contains(html, "List of crm@acme.example") || !strings.Contains(html, "List of crm@other.example") {
		t.Errorf("workspace staff overview: %d", status)
	}
	status, html = page("crm@acme.example", pub.DemandSideID, "/")
	if status != 200 || !strings.Contains(html, "List of crm@acme.example") {
		t.Errorf("invited advertiser overview: %d\n%s", status, html)
	}
	for _, leak := range []string{"List of crm@other.example", "crm@other.example", "ops2@planet.example", `id="members"`, `id="jobs"`} {
		if strings.Contains(html, leak) {
			t.Errorf("invited advertiser sees %q", leak)
		}
	}
	if status, html := page("crm@acme.example", pub.DemandSideID, "/audit"); status != 200 || strings.Contains(html, "Audit log</h1>") {
		t.Errorf("invited advertiser's audit page: %d", status)
	}
	for _, p := range []string{"/", "/audit", "/login"} {
		if status, _ := page("crm@acme.example", "", p); status != 200 {
			t.Errorf("advertiser GET %s: %d", p, status)
		}
	}
}

func between(s, start, end string) string {
	i := strings.Index(s, start)
	if i < 0 {
		return ""
	}
	s = s[i+len(start):]
	if j := strings.Index(s, end); j >= 0 {
		return s[:j]
	}
	return s
}
