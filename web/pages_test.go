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
	"github.com/cleanroom-oss/cleanroom/cohorts"
	"github.com/cleanroom-oss/cleanroom/httpx"
	"github.com/cleanroom-oss/cleanroom/synth"
)

// TestPagesByRole renders every page for each kind of user without a browser: the publisher sees
// its connections; an invited advertiser sees only its own advertiser's data sources and none of
// the workspace's people, jobs or audit log.
func TestPagesByRole(t *testing.T) {
	ctx := context.Background()
	app := apptest.Open(t, apptest.Options{})
	acc := app.Accounts
	h, err := app.Handler()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
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
	svc := app.Connections
	if _, _, err := svc.CreateConnection(ctx, pub.ID, adv.ID, cleanroom.Permissions{MatchedCohorts: true, Insights: true}); err != nil {
		t.Fatal(err)
	}
	ws := cleanroom.NewCaller(pub.DemandSideID, cleanroom.RoleAdmin)
	for _, inv := range []struct{ email, adv string }{{"crm@acme.example", adv.ID}, {"crm@other.example", other.ID}} {
		invitation, err := svc.Invite(ctx, ws, inv.email, inv.adv)
		if err != nil {
			t.Fatal(err)
		}
		u, err := app.Store.FindUserByEmail(ctx, inv.email)
		if err == nil {
			_, _, err = acc.AcceptInvitation(ctx, &cleanroom.Caller{User: u}, invitation.ID)
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.CreateDataSource(ctx, &cleanroom.Caller{User: u, Org: &cleanroom.Org{ID: pub.DemandSideID}, Role: cleanroom.RoleLimited, RepresentsID: inv.adv}, "List of "+inv.email, ""); err != nil {
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
			r.Header.Set(httpx.CSRFHeader, csrf)
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

// TestCohortPagesByRole: who sees which cohort pages, and what of them. The advertiser's members
// get the list and the new-cohort form, its viewers the list without forms; the publisher lists
// the cohorts built for it with their codes, read only; the publisher's demand-side workspace
// creates cohorts too; an invited advertiser (limited) and other orgs see nothing of them.
func TestCohortPagesByRole(t *testing.T) {
	w := newCohortWorld(t)
	ctx := context.Background()
	co, err := w.api.Cohorts.Create(ctx, cleanroom.NewCaller(w.adv.ID, cleanroom.RoleAdmin), cohorts.Spec{
		Name: "Acme - All customers", Kind: cleanroom.CohortMatched, ConnectionIDs: []string{w.conn},
		Query: cleanroom.CohortQuery{Op: cleanroom.OpAny, Conditions: []cleanroom.Condition{{DataSource: w.dataSource, Segment: synth.AllCustomersID}}}})
	if err != nil {
		t.Fatal(err)
	}
	w.drain()
	if co, err = w.store.FindCohort(ctx, co.ID); err != nil || co.Status != cleanroom.CohortActive {
		t.Fatalf("cohort: %+v %v", co, err)
	}
	code := `<code class="code">` + itoa(co.Targets[0].Code) + `</code>`
	form, actions, nav := `id="new-cohort"`, `name="action"`, `<a href="/cohorts">Cohorts</a>`

	for _, c := range []struct {
		who, org, path string
		status         int
		has, hasNot    []string
	}{
		{"crm@acme.example", "", "/cohorts", 200, []string{nav, "Acme - All customers", code, form, "Daily Planet", "CRM customers"}, []string{"Built by"}},
		{"crm@acme.example", "", "/cohorts/" + co.ID, 200, []string{code, `value="pause"`, `value="delete"`, "Match diagnostics", `id="query"`}, nil},
		{"look@acme.example", "", "/cohorts", 200, []string{nav, "Acme - All customers", code}, []string{form}},
		{"look@acme.example", "", "/cohorts/" + co.ID, 200, []string{code, "Match diagnostics"}, []string{actions}},
		{"ops@planet.example", "", "/cohorts", 200, []string{nav, "Acme - All customers", code, "Built by", "Acme Outdoor", "read only"}, []string{form}},
		{"ops@planet.example", "", "/cohorts/" + co.ID, 200, []string{code, "Acme Outdoor"}, []string{actions, "Match diagnostics", `id="query"`, "CRM customers"}},
		{"ws@planet.example", "", "/cohorts", 200, []string{nav, form, w.wsConn}, []string{"Acme - All customers"}},
		{"ws@planet.example", "", "/cohorts/" + co.ID, 404, nil, nil},
		{"agency@acme.example", w.pub.DemandSideID, "/", 200, nil, []string{nav}},
		{"agency@acme.example", w.pub.DemandSideID, "/cohorts", 404, nil, []string{"Acme - All customers"}},
		{"agency@acme.example", w.pub.DemandSideID, "/cohorts/" + co.ID, 404, nil, nil},
		{"crm@other.example", "", "/cohorts", 200, []string{"No cohorts yet", "No publisher connection"}, []string{"Acme - All customers", code}},
		{"crm@other.example", "", "/cohorts/" + co.ID, 404, nil, []string{"Acme"}},
	} {
		b := w.signIn(c.who)
		if c.org != "" {
			b.in(c.org)
		}
		status, html := b.get(c.path)
		if status != c.status {
			t.Errorf("%s GET %s: %d, want %d", c.who, c.path, status, c.status)
		}
		for _, s := range c.has {
			if !strings.Contains(html, s) {
				t.Errorf("%s GET %s lacks %s", c.who, c.path, s)
			}
		}
		for _, s := range c.hasNot {
			if strings.Contains(html, s) {
				t.Errorf("%s GET %s shows %s", c.who, c.path, s)
			}
		}
	}

	// Forms sent by those who may not change the cohort change nothing.
	for _, c := range []struct {
		who, path string
		form      url.Values
		status    int
	}{
		{"look@acme.example", "/cohorts", queryForm{name: "Viewer's", kind: "matched", op: "any", conn: w.conn, rows: []conditionRow{{"", w.dataSource, "", ""}}}.values("create"), 403},
		{"look@acme.example", "/cohorts/" + co.ID, url.Values{"action": {"delete"}}, 403},
		{"ops@planet.example", "/cohorts", url.Values{"name": {"Publisher's"}, "action": {"create"}}, 403},
		{"ops@planet.example", "/cohorts/" + co.ID, url.Values{"action": {"pause"}}, 403},
		{"crm@other.example", "/cohorts/" + co.ID, url.Values{"action": {"delete"}}, 404},
	} {
		if status, _, _ := w.signIn(c.who).post(c.path, c.form); status != c.status {
			t.Errorf("%s POST %s %s: %d, want %d", c.who, c.path, c.form.Get("action"), status, c.status)
		}
	}
	if got, err := w.store.FindCohort(ctx, co.ID); err != nil || got.Status != cleanroom.CohortActive {
		t.Errorf("after the refused changes: %+v %v", got, err)
	}
	if cs, _, _ := w.store.ListCohorts(ctx, cleanroom.CohortFilter{OrgID: w.adv.ID, Page: cleanroom.Page{Limit: 10}}); len(cs) != 1 {
		t.Errorf("Acme has %d cohorts, want the 1", len(cs))
	}
}
