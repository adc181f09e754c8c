package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/accounts"
	"github.com/cleanroom-oss/cleanroom/api"
	"github.com/cleanroom-oss/cleanroom/app"
	"github.com/cleanroom-oss/cleanroom/app/apptest"
	"github.com/cleanroom-oss/cleanroom/cohorts"
	"github.com/cleanroom-oss/cleanroom/ingest"
	"github.com/cleanroom-oss/cleanroom/jobs"
	"github.com/cleanroom-oss/cleanroom/lookalike"
	"github.com/cleanroom-oss/cleanroom/pipeline"
	"github.com/cleanroom-oss/cleanroom/pubsync"
	"github.com/cleanroom-oss/cleanroom/synth"
	"github.com/cleanroom-oss/cleanroom/uploads"
)

// cohortWorld is a dashboard over real services with a synced publisher audience, an
// advertiser's processed upload and a connection between them.
type cohortWorld struct {
	t                *testing.T
	srv              *httptest.Server
	store            cleanroom.Store
	runner           *jobs.Runner
	api              *api.Server
	acc              *accounts.Service
	pub, adv, other  *cleanroom.Org
	conn, dataSource string
	// wsConn connects the publisher to its own demand-side workspace (publisher-driven), where
	// agency@acme.example is also invited with the limited role.
	wsConn string
	// m is the whole application.
	m *app.Main
}

const worldPassword = "a long enough password"

func newCohortWorld(t *testing.T) *cohortWorld {
	t.Helper()
	return newCohortWorldWith(t, exactCounts)
}

// newCohortWorldWith is newCohortWorld with the configuration adjusted by configure (nil: the
// defaults, privacy noise on).
func newCohortWorldWith(t *testing.T, configure func(*app.Config)) *cohortWorld {
	t.Helper()
	ctx := context.Background()
	m := apptest.Open(t, apptest.Options{Configure: configure})
	store, acc := m.Store, m.Accounts
	h, err := m.Handler()
	if err != nil {
		t.Fatal(err)
	}
	m.Web.RefreshEvery = 100 * time.Millisecond // busy pages refresh quickly in tests
	w := &cohortWorld{t: t, store: store, api: m.API, acc: m.Accounts, runner: m.Jobs, m: m}
	a := m.API
	w.srv = httptest.NewServer(h)
	t.Cleanup(w.srv.Close)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	ready := func(name string, kind cleanroom.OrgKind) *cleanroom.Org {
		o, err := acc.CreateOrg(ctx, name, kind)
		must(err)
		_, err = acc.RecordDPA(ctx, o.ID, time.Time{})
		must(err)
		o, err = acc.EnableCleanRoom(ctx, o.ID)
		must(err)
		return o
	}
	w.pub, w.adv, w.other = ready("Daily Planet", cleanroom.OrgPublisher), ready("Acme Outdoor", cleanroom.OrgAdvertiser), ready("Other Brand", cleanroom.OrgAdvertiser)
	for _, m := range []struct {
		org, email string
		role       cleanroom.Role
	}{{w.pub.ID, "ops@planet.example", cleanroom.RoleAdmin}, {w.adv.ID, "crm@acme.example", cleanroom.RoleMember},
		{w.adv.ID, "look@acme.example", cleanroom.RoleViewer}, {w.adv.ID, "agency@acme.example", cleanroom.RoleMember},
		{w.other.ID, "crm@other.example", cleanroom.RoleAdmin}} {
		_, _, err := acc.AddMember(ctx, m.org, accounts.NewUser{Email: m.email, Password: worldPassword, Role: m.role})
		must(err)
	}
	// The publisher's audience: 20,000 synthetic users in 30 custom cohorts, with engagement attributes.
	u, err := synth.NewUniverse(synth.UniverseConfig{Seed: 5, Users: 20_000, Cohorts: 30})
	must(err)
	var buf bytes.Buffer
	must(u.WriteTaxonomy(&buf))
	ptax, _, err := pubsync.ParseTaxonomy(&buf)
	must(err)
	must(pipeline.PutPublisherTaxonomy(ctx, store, w.pub.ID, ptax, time.Now()))
	buf.Reset()
	_, err = u.WriteProfiles(&buf, synth.WriteOptions{Engagement: true})
	must(err)
	w.upload(w.pub.ID, cleanroom.UploadPublisher, w.pub.ID, buf.Bytes())
	// The advertiser's CRM file.
	ad, err := synth.NewAdvertiser(u, synth.AdvertiserConfig{Seed: 3, Rows: 8000, Overlap: 0.7})
	must(err)
	ds, err := a.Connections.CreateDataSource(ctx, cleanroom.NewCaller(w.adv.ID, cleanroom.RoleAdmin), "CRM customers", "")
	must(err)
	buf.Reset()
	must(ad.WriteTaxonomy(&buf))
	atax, _, err := ingest.ParseTaxonomy(&buf)
	must(err)
	must(pipeline.PutDataSourceTaxonomy(ctx, store, ds.ID, atax, time.Now()))
	buf.Reset()
	_, err = ad.WriteData(&buf, synth.WriteOptions{})
	must(err)
	w.upload(w.adv.ID, cleanroom.UploadDataSource, ds.ID, buf.Bytes())
	conn, _, err := a.Connections.CreateConnection(ctx, w.pub.ID, w.adv.ID, cleanroom.Permissions{MatchedCohorts: true, ModeledAudiences: true})
	must(err)
	w.conn, w.dataSource = conn.ID, ds.ID
	// The publisher's demand-side workspace, with its staff and an invited advertiser.
	_, _, err = acc.AddMember(ctx, w.pub.DemandSideID, accounts.NewUser{Email: "ws@planet.example", Password: worldPassword, Role: cleanroom.RoleAdmin})
	must(err)
	wsConn, _, err := a.Connections.CreateConnection(ctx, w.pub.ID, w.pub.DemandSideID, cleanroom.Permissions{MatchedCohorts: true})
	must(err)
	w.wsConn = wsConn.ID
	inv, err := a.Connections.Invite(ctx, cleanroom.NewCaller(w.pub.DemandSideID, cleanroom.RoleAdmin), "agency@acme.example", w.adv.ID)
	must(err)
	agency, err := store.FindUserByEmail(ctx, "agency@acme.example")
	must(err)
	_, _, err = acc.AcceptInvitation(ctx, &cleanroom.Caller{User: agency}, inv.ID)
	must(err)
	return w
}

func (w *cohortWorld) upload(orgID string, target cleanroom.UploadTarget, targetID string, data []byte) {
	w.t.Helper()
	ctx := context.Background()
	up, err := w.api.Uploads.Begin(ctx, uploads.Spec{OrgID: orgID, Target: target, TargetID: targetID, Name: "f.tsv", Size: int64(len(data))})
	if err == nil {
		up, err = w.api.Uploads.WritePart(ctx, up, 0, bytes.NewReader(data), "")
	}
	if err == nil {
		_, err = w.api.Uploads.Complete(ctx, up)
	}
	if err != nil {
		w.t.Fatal(err)
	}
	w.drain()
}

func (w *cohortWorld) drain() {
	w.t.Helper()
	if _, err := w.runner.RunPending(context.Background()); err != nil {
		w.t.Fatal(err)
	}
}

// webClient is a signed-in HTTP client with its session's CSRF token.
type webClient struct {
	w    *cohortWorld
	c    *http.Client
	csrf string
}

func (w *cohortWorld) signIn(email string) *webClient {
	w.t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	res, err := c.PostForm(w.srv.URL+"/login", url.Values{"email": {email}, "password": {worldPassword}})
	if err != nil {
		w.t.Fatal(err)
	}
	res.Body.Close()
	me, err := c.Get(w.srv.URL + "/v1/me")
	if err != nil {
		w.t.Fatal(err)
	}
	body, _ := io.ReadAll(me.Body)
	me.Body.Close()
	return &webClient{w: w, c: c, csrf: between(string(body), `"csrf_token":"`, `"`)}
}

// in switches the client's session to another of its orgs, as the org selector does.
func (b *webClient) in(orgID string) *webClient {
	b.w.t.Helper()
	if status, _, _ := b.post("/org", url.Values{"org_id": {orgID}}); status != http.StatusOK {
		b.w.t.Fatalf("switch to org %s: %d", orgID, status)
	}
	if _, html := b.get("/"); !strings.Contains(html, `value="`+orgID+`" selected`) {
		b.w.t.Fatalf("the session is not in org %s after switching", orgID)
	}
	return b
}

func (b *webClient) get(path string) (int, string) {
	b.w.t.Helper()
	res, err := b.c.Get(b.w.srv.URL + path)
	if err != nil {
		b.w.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// post submits a form and returns the status, the final path after redirects and the page.
func (b *webClient) post(path string, form url.Values) (int, string, string) {
	b.w.t.Helper()
	form.Set("csrf_token", b.csrf)
	res, err := b.c.PostForm(b.w.srv.URL+path, form)
	if err != nil {
		b.w.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Request.URL.Path, string(body)
}

var circle = regexp.MustCompile(`<circle [^>]*data-similarity="([0-9.]+)"`)

// queryForm is the new-cohort form with the query builder's fields as the page sends them: per
// row its group's key (empty at the top level), data source, segment and publisher cohort, in
// order; per group its key and op.
type queryForm struct {
	name, kind, op, conn, country string
	rows                          []conditionRow
	groups                        [][2]string // key, op
}

type conditionRow struct{ group, ds, seg, pc string }

func (f queryForm) values(action string) url.Values {
	v := url.Values{"name": {f.name}, "kind": {f.kind}, "op": {f.op}, "country": {f.country}, "action": {action}}
	if f.conn != "" {
		v.Set("connection", f.conn)
	}
	for _, g := range f.groups {
		v.Add("group", g[0])
		v.Add("gop", g[1])
	}
	for _, r := range f.rows {
		v.Add("row", r.group)
		v.Add("ds", r.ds)
		v.Add("seg", r.seg)
		v.Add("pc", r.pc)
	}
	return v
}

// TestCohortPages: an advertiser estimates and creates a matched cohort through the dashboard's
// form, with a group in its query, and a modeled one; sees them build, picks a point on the
// lookalike's curve, pauses and deletes; form errors name the problem and keep what was typed.
func TestCohortPages(t *testing.T) {
	w := newCohortWorld(t)
	ctx := context.Background()
	crm := w.signIn("crm@acme.example")
	// Every customer of the CRM who is in segment s01 or s02 (a group), and an empty row.
	form := queryForm{name: "Acme - Tech or finance", kind: "matched", op: "all", conn: w.conn,
		rows:   []conditionRow{{"", w.dataSource, "", ""}, {"", "", "", ""}, {"g1", w.dataSource, "s01", ""}, {"g1", w.dataSource, "s02", ""}},
		groups: [][2]string{{"g1", "any"}}}
	status, _, html := crm.post("/cohorts", form.values("estimate"))
	if status != 200 || !strings.Contains(html, `id="estimates"`) || !strings.Contains(html, `value="Acme - Tech or finance"`) {
		t.Fatalf("estimate: %d\n%s", status, html)
	}
	estimated := between(html, `id="estimates"`, `</table>`)
	if !strings.Contains(estimated, "Daily Planet") {
		t.Errorf("the estimate does not name the publisher: %s", estimated)
	}
	// The form comes back as typed, group included.
	if !strings.Contains(html, `name="group" value="g1"`) || strings.Count(between(html, `id="new-cohort"`, `<template`), `name="row"`) != 4 {
		t.Errorf("the estimate's form lost its rows or its group:\n%s", between(html, `id="new-cohort"`, `<template`))
	}
	status, path, html := crm.post("/cohorts", form.values("create"))
	if status != 200 || !strings.HasPrefix(path, "/cohorts/") || !strings.Contains(html, "building") || !strings.Contains(html, "data-busy") {
		t.Fatalf("create: %d %s\n%s", status, path, html)
	}
	matched := strings.TrimPrefix(path, "/cohorts/")
	w.drain()
	co, err := w.store.FindCohort(ctx, matched)
	if err != nil || co.Status != cleanroom.CohortActive || co.Targets[0].Size < 100 {
		t.Fatalf("matched cohort after the build: %+v %v", co, err)
	}
	var q cleanroom.CohortQuery
	if err := json.Unmarshal(co.Query, &q); err != nil {
		t.Fatal(err)
	}
	want := cleanroom.CohortQuery{Op: "all", Conditions: []cleanroom.Condition{{DataSource: w.dataSource},
		{Op: "any", Conditions: []cleanroom.Condition{{DataSource: w.dataSource, Segment: "s01"}, {DataSource: w.dataSource, Segment: "s02"}}}}}
	if got, _ := json.Marshal(q); string(got) != mustJSON(want) {
		t.Errorf("stored query %s, want %s", got, mustJSON(want))
	}
	if size := co.Targets[0].Size; !strings.Contains(estimated, ">"+itoa(size)+"<") {
		t.Errorf("the estimate did not predict the built size %d: %s", size, estimated)
	}
	_, html = crm.get("/cohorts/" + matched)
	if !strings.Contains(html, `<code class="code">`+itoa(co.Targets[0].Code)+`</code>`) || !strings.Contains(html, "Match diagnostics") ||
		strings.Contains(html, "data-busy") {
		t.Errorf("detail page lacks the code or the diagnostics, or still refreshes:\n%s", html)
	}
	if got, want := between(html, `id="query">`, `</dd>`), "every row of CRM customers AND (segment Technology Buyers of CRM customers OR segment Personal Finance Buyers of CRM customers)"; got != want {
		t.Errorf("query shown as %q, want %q", got, want)
	}
	_, html = crm.get("/cohorts")
	list := between(html, `id="cohorts"`, `</table>`)
	if !strings.Contains(list, "Acme - Tech or finance") || !strings.Contains(list, itoa(co.Targets[0].Code)) || !strings.Contains(list, itoa(co.Targets[0].Size)) {
		t.Errorf("list:\n%s", list)
	}

	// Without script, "Add group" and "Add condition" answer with a longer form, as typed.
	status, _, html = crm.post("/cohorts", form.values("add-group"))
	if fields := between(html, `id="new-cohort"`, `<template`); status != 200 || !strings.Contains(fields, `name="group" value="g2"`) || strings.Count(fields, `name="row"`) != 6 ||
		!strings.Contains(fields, `value="Acme - Tech or finance"`) {
		t.Errorf("add group: %d\n%s", status, fields)
	}
	status, _, html = crm.post("/cohorts", form.values("add-row:g1"))
	if fields := between(html, `id="new-cohort"`, `<template`); status != 200 || strings.Count(fields, `name="row" value="g1"`) != 3 {
		t.Errorf("add a row to group g1: %d\n%s", status, fields)
	}

	// A form error names the problem beside the part of the form it concerns, and keeps what was
	// typed.
	for _, c := range []struct {
		name   string
		form   queryForm
		want   string
		beside string // what the error follows
	}{
		{"no name", queryForm{name: "", kind: "matched", op: "any", conn: w.conn, rows: []conditionRow{{"", w.dataSource, "", ""}}}, "cohort name is empty", `<input name="name"[^>]*>`},
		{"no condition", queryForm{name: "Nothing", kind: "matched", op: "any", conn: w.conn, rows: []conditionRow{{}}}, "no conditions. Add at least one", `of these conditions</legend>`},
		{"no connection", queryForm{name: "Nowhere", kind: "matched", op: "any", rows: []conditionRow{{"", w.dataSource, "", ""}}}, "names no connection", `<legend>Publishers</legend>`},
		{"both in a row", queryForm{name: "Both", kind: "matched", op: "any", conn: w.conn, rows: []conditionRow{{"", w.dataSource, "", "c1"}}}, "both a publisher cohort and a data source", `of these conditions</legend>`},
		{"bad country", queryForm{name: "Far", kind: "matched", op: "any", conn: w.conn, country: "Germany", rows: []conditionRow{{"", w.dataSource, "", ""}}}, "ISO 3166-1", `</select>`},
	} {
		status, _, html := crm.post("/cohorts", c.form.values("create"))
		alert := between(html, `role="alert">`, `</span>`)
		if status != 400 || !strings.Contains(alert, c.want) || !strings.Contains(html, `value="`+c.form.name+`"`) {
			t.Errorf("%s: %d, alert %q\n%s", c.name, status, alert, between(html, "<main>", "</main>"))
		}
		if !regexp.MustCompile(c.beside + `\s*<span class="field-error" role="alert">[^<]*` + regexp.QuoteMeta(c.want)).MatchString(html) {
			t.Errorf("%s: the error is not beside the form's part it concerns (after %s)\n%s", c.name, c.beside, between(html, "<main>", "</main>"))
		}
	}

	// A cohort too small to show: its size, its matched users and the estimate are withheld,
	// and the page says why it is not served, with the diagnostics' cause and fix.
	small := queryForm{name: "Acme - Tech and finance", kind: "matched", op: "all", conn: w.conn,
		rows: []conditionRow{{"", w.dataSource, "s01", ""}, {"", w.dataSource, "s02", ""}}}
	_, _, html = crm.post("/cohorts", small.values("estimate"))
	if row := between(html, `id="estimates"`, `</table>`); !strings.Contains(row, `class="users">below 100<`) || !strings.Contains(row, "activation minimum of 100") {
		t.Errorf("estimate of a small cohort:\n%s", row)
	}
	_, path, _ = crm.post("/cohorts", small.values("create"))
	w.drain()
	_, html = crm.get(path)
	targets := between(html, `id="targets"`, `</table>`)
	if !strings.Contains(targets, "<td>below 100</td>") || !strings.Contains(targets, "fewer users here than the activation minimum of 100") {
		t.Errorf("a small cohort's targets:\n%s", targets)
	}
	diag := between(html, `class="card diagnostics"`, `</section>`)
	if !strings.Contains(diag, `class="matched-users">&lt; 100<`) || !strings.Contains(diag, "Fewer than 100 users matched") || !strings.Contains(diag, "widen the query") {
		t.Errorf("a small cohort's diagnostics:\n%s", diag)
	}

	// A lookalike: trained, waiting for a point; the curve is drawn with its points.
	form.name, form.kind = "Acme - Lookalike", "modeled"
	form.rows, form.groups = []conditionRow{{"", w.dataSource, synth.AllCustomersID, ""}}, nil
	_, path, _ = crm.post("/cohorts", form.values("create"))
	modeled := strings.TrimPrefix(path, "/cohorts/")
	w.drain()
	_, html = crm.get("/cohorts/" + modeled)
	points := circle.FindAllStringSubmatch(html, -1)
	if !strings.Contains(html, "awaiting_selection") || len(points) < 20 || !strings.Contains(html, `id="features"`) || !strings.Contains(html, "Pick a point") {
		t.Fatalf("lookalike page: %d points\n%s", len(points), html)
	}
	// Choosing no point says so on the page.
	if status, _, html := crm.post("/cohorts/"+modeled, url.Values{"action": {"select"}}); status != 400 || !strings.Contains(html, "Choose a point of the curve") {
		t.Errorf("select without a point: %d\n%s", status, html)
	}
	status, _, html = crm.post("/cohorts/"+modeled, url.Values{"action": {"select"}, "similarity": {"0.8"}})
	if status != 200 || !strings.Contains(html, "building") {
		t.Fatalf("select: %d\n%s", status, html)
	}
	w.drain()
	co, _ = w.store.FindCohort(ctx, modeled)
	if co.Status != cleanroom.CohortActive || co.Similarity == nil || *co.Similarity != 0.8 || !co.Targets[0].Active {
		t.Fatalf("lookalike after choosing 0.8: %+v", co)
	}
	// Pause, and resume.
	if _, _, html := crm.post("/cohorts/"+modeled, url.Values{"action": {"pause"}}); !strings.Contains(html, `state-paused`) || !strings.Contains(html, `value="resume"`) {
		t.Errorf("pause:\n%s", html)
	}
	if _, _, html := crm.post("/cohorts/"+modeled, url.Values{"action": {"resume"}}); !strings.Contains(html, `state-active`) {
		t.Errorf("resume:\n%s", html)
	}
	// Delete.
	if _, path, _ := crm.post("/cohorts/"+matched, url.Values{"action": {"delete"}}); path != "/cohorts" {
		t.Errorf("delete went to %s", path)
	}
	if status, _ := crm.get("/cohorts/" + matched); status != 404 {
		t.Errorf("deleted cohort: %d", status)
	}
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

func itoa(n int64) string { return strings.TrimSpace(strings.ReplaceAll(jsonNumber(n), "\n", "")) }

func jsonNumber(n int64) string { b, _ := json.Marshal(n); return string(b) }

// TestDataSourcesPage: the advertiser's data sources with their uploads: a processed one with its
// report's counts, and one still arriving with a progress bar and a page that refreshes itself.
func TestDataSourcesPage(t *testing.T) {
	w := newCohortWorld(t)
	ctx := context.Background()
	crm := w.signIn("crm@acme.example")
	status, html := crm.get("/data-sources")
	if status != 200 || !strings.Contains(html, "CRM customers") || !strings.Contains(html, "processed") || strings.Contains(html, `data-busy`) {
		t.Fatalf("data sources: %d\n%s", status, html)
	}
	rows := between(html, `id="data-source-uploads"`, `</table>`)
	if !regexp.MustCompile(`<td>8000</td>`).MatchString(rows) {
		t.Errorf("the report's rows read are not shown:\n%s", rows)
	}
	// An upload half received.
	if _, err := w.api.Uploads.Begin(ctx, uploads.Spec{OrgID: w.adv.ID, Target: cleanroom.UploadDataSource, TargetID: w.dataSource, Name: "next.tsv", Size: 1000}); err != nil {
		t.Fatal(err)
	}
	_, html = crm.get("/data-sources")
	if !strings.Contains(html, "next.tsv") || !strings.Contains(html, `<progress max="1000" value="0">`) || !strings.Contains(html, `data-busy="100"`) {
		t.Errorf("an upload in progress:\n%s", html)
	}
	if _, html := w.signIn("crm@other.example").get("/data-sources"); strings.Contains(html, "CRM customers") {
		t.Error("another advertiser sees Acme's data sources")
	}
	if status, _ := w.signIn("ops@planet.example").get("/data-sources"); status != 404 {
		t.Errorf("publisher: %d", status)
	}
}

// TestCohortCurveWithholdsSmallReach: a lookalike's points whose reach is under the privacy
// threshold are listed as "< 100" and drawn at the threshold, not where their exact reach would
// put them; the features not shared with the advertiser are counted, not named, while the
// publisher sees them all. The model is stored directly, as a training would leave it.
func TestCohortCurveWithholdsSmallReach(t *testing.T) {
	w := newCohortWorld(t)
	ctx := context.Background()
	co, err := w.api.Cohorts.Create(ctx, cleanroom.NewCaller(w.adv.ID, cleanroom.RoleAdmin), cohorts.Spec{
		Name: "Acme - Lookalike", Kind: cleanroom.CohortModeled, ConnectionIDs: []string{w.conn},
		Query: cleanroom.CohortQuery{Op: cleanroom.OpAny, Conditions: []cleanroom.Condition{{DataSource: w.dataSource}}}})
	if err != nil {
		t.Fatal(err)
	}
	rec := cohorts.ModelRecord{
		Model: &lookalike.Model{Features: []lookalike.Feature{{Kind: "cohort", ID: "travel", Name: "Travel", Weight: 1.5},
			{Kind: "cohort", ID: "secret", Name: "Secret sauce", Weight: -1.2}, {Kind: "country", ID: "DE", Weight: 0.4}}},
		Curve: []lookalike.Point{{Similarity: 0.9, Reach: 40, Recall: 0.1, Precision: 0.5, Lift: 9},
			{Similarity: 0.8, Reach: 90, Recall: 0.2, Precision: 0.4, Lift: 7}, {Similarity: 0.5, Reach: 1000, Recall: 0.6, Precision: 0.1, Lift: 3},
			{Similarity: 0.2, Reach: 4000, Recall: 0.95, Precision: 0.02, Lift: 1.1}},
		Seeds: 500, HoldoutSeeds: 100, AUC: 0.81, Shared: []string{"travel"},
	}
	raw, _ := json.Marshal(rec)
	targets := co.Targets
	targets[0].Model = raw
	status := cleanroom.CohortAwaitingSelection
	if _, err := w.store.UpdateCohort(ctx, co.ID, cleanroom.CohortUpdate{Status: &status, Targets: &targets}, time.Now()); err != nil {
		t.Fatal(err)
	}

	_, html := w.signIn("crm@acme.example").get("/cohorts/" + co.ID)
	cx := map[string]string{}
	for _, m := range regexp.MustCompile(`<circle cx="([0-9.]+)" cy="[0-9.]+" r="\d" class="point[^"]*" data-similarity="([0-9.]+)"`).FindAllStringSubmatch(html, -1) {
		cx[m[2]] = m[1]
	}
	// The threshold, 100 of 4000, is at 40 + 540 * 100 / 4000.
	if cx["0.9"] != "53.5" || cx["0.8"] != "53.5" || cx["0.2"] != "580.0" || len(cx) != 4 {
		t.Errorf("points drawn at %v, want 0.9 and 0.8 at the threshold's 53.5", cx)
	}
	reach := regexp.MustCompile(`<td>([^<]+)</td><td>(below 100|\d+)</td><td>(?:\d+%|withheld)</td>`).FindAllStringSubmatch(between(html, `class="points"`, `</table>`), -1)
	var shown []string
	for _, m := range reach {
		shown = append(shown, m[1]+"="+m[2])
	}
	if got := strings.Join(shown, " "); got != "0.90=below 100 0.80=below 100 0.50=1000 0.20=4000" {
		t.Errorf("reach in the table: %s", got)
	}
	if strings.Contains(html, "40 users") || strings.Contains(html, "90 users") || !strings.Contains(html, "4000 users (reach)") {
		t.Error("the page tells a reach under the threshold, or lacks the axis' end")
	}
	features := between(html, `id="features"`, `</ul>`)
	if !strings.Contains(features, "Travel") || !strings.Contains(features, "Country DE") || strings.Contains(html, "Secret sauce") ||
		!strings.Contains(html, "also uses 1 publisher cohorts") {
		t.Errorf("the advertiser's features:\n%s", features)
	}
	_, html = w.signIn("ops@planet.example").get("/cohorts/" + co.ID)
	if features := between(html, `id="features"`, `</ul>`); !strings.Contains(features, "Secret sauce") || strings.Contains(html, "not shared with you") ||
		strings.Contains(html, `name="similarity"`) {
		t.Errorf("the publisher's view of the model:\n%s", features)
	}
}

// TestPublisherCohortSuggestions: the query form's publisher cohort picker offers the publisher
// cohorts the workspace may name, and only those.
func TestPublisherCohortSuggestions(t *testing.T) {
	w := newCohortWorld(t)
	if _, err := w.api.Connections.UpdatePermissions(context.Background(), cleanroom.NewCaller(w.pub.ID, cleanroom.RoleAdmin), w.conn,
		cleanroom.Permissions{MatchedCohorts: true, CustomCohorts: true, SharedCustomCohorts: []string{"c2"}}); err != nil {
		t.Fatal(err)
	}
	_, html := w.signIn("crm@acme.example").get("/cohorts")
	list := between(html, `<select name="pc" aria-label="Publisher cohort">`, `</select>`)
	if !strings.Contains(list, `value="c2"`) || strings.Contains(list, `value="c3"`) || strings.Count(list, "<option") != 2 { // "—" and c2
		t.Errorf("suggested publisher cohorts: %q", list)
	}
}

// exactCounts configures a deployment without privacy noise, a large budget and no input
// minimum, so the functional tests can compare the pages with the engines' exact counts.
func exactCounts(c *app.Config) {
	c.PrivacyNoise, c.PrivacyBudget, c.PrivacyInputMinimum = "none", "100000", 1
}

// aboutNear reports whether s shows n as a noisy release: "about m" with m within 30 of n
// (more than ten standard deviations of the default noise).
func aboutNear(s string, n int64) bool { return aboutWithin(s, n, 30) }

// aboutWithin reports whether s is "about m" with m within tol of n.
func aboutWithin(s string, n, tol int64) bool {
	v, ok := strings.CutPrefix(s, "about ")
	if !ok {
		return false
	}
	m, err := strconv.ParseInt(v, 10, 64)
	return err == nil && m >= n-tol && m <= n+tol
}
