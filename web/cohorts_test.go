package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/accounts"
	"github.com/cleanroom-oss/cleanroom/api"
	"github.com/cleanroom-oss/cleanroom/auth"
	"github.com/cleanroom-oss/cleanroom/cohorts"
	"github.com/cleanroom-oss/cleanroom/connections"
	"github.com/cleanroom-oss/cleanroom/ingest"
	"github.com/cleanroom-oss/cleanroom/jobs"
	"github.com/cleanroom-oss/cleanroom/keyring"
	"github.com/cleanroom-oss/cleanroom/localblob"
	"github.com/cleanroom-oss/cleanroom/pubsync"
	"github.com/cleanroom-oss/cleanroom/sqlite"
	"github.com/cleanroom-oss/cleanroom/synth"
	"github.com/cleanroom-oss/cleanroom/uploads"
	"github.com/cleanroom-oss/cleanroom/web"
)

// cohortWorld is a dashboard over real services with a synced publisher audience, an
// advertiser's processed upload and a connection between them.
type cohortWorld struct {
	t                *testing.T
	srv              *httptest.Server
	store            cleanroom.Store
	runner           *jobs.Runner
	api              *api.Server
	pub, adv, other  *cleanroom.Org
	conn, dataSource string
}

const worldPassword = "a long enough password"

func newCohortWorld(t *testing.T) *cohortWorld {
	t.Helper()
	ctx := context.Background()
	store := sqlite.MustOpen(t)
	keys := keyring.Generate()
	acc := accounts.New(store, keys)
	acc.Passwords = auth.TestParams
	log := slog.New(slog.DiscardHandler)
	a := api.New(store, acc, log)
	blobs, err := localblob.Open(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	w := &cohortWorld{t: t, store: store, api: a, runner: jobs.NewRunner(store, log)}
	a.Uploads = uploads.New(store, blobs, keys, w.runner)
	a.Uploads.Register(w.runner)
	a.Cohorts = cohorts.New(store, a.Connections, a.Uploads, w.runner, 4)
	a.Cohorts.Register(w.runner)
	w.srv = httptest.NewServer(a.Handler(web.New(a, store, log)))
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
		{w.adv.ID, "look@acme.example", cleanroom.RoleViewer}, {w.other.ID, "crm@other.example", cleanroom.RoleAdmin}} {
		_, _, err := acc.AddMember(ctx, m.org, accounts.NewUser{Email: m.email, Password: worldPassword, Role: m.role})
		must(err)
	}
	// The publisher's audience: 20,000 synthetic users in 30 custom cohorts.
	u, err := synth.NewUniverse(synth.UniverseConfig{Seed: 5, Users: 20_000, Cohorts: 30})
	must(err)
	var buf bytes.Buffer
	must(u.WriteTaxonomy(&buf))
	ptax, _, err := pubsync.ParseTaxonomy(&buf)
	must(err)
	b, _ := json.Marshal(map[string]any{"cohorts": ptax.Cohorts()})
	must(store.PutTaxonomy(ctx, w.pub.ID, b, time.Now()))
	buf.Reset()
	_, err = u.WriteProfiles(&buf, synth.WriteOptions{})
	must(err)
	w.upload(w.pub.ID, cleanroom.UploadPublisher, w.pub.ID, buf.Bytes())
	// The advertiser's CRM file.
	ad, err := synth.NewAdvertiser(u, synth.AdvertiserConfig{Seed: 3, Rows: 8000, Overlap: 0.7})
	must(err)
	ds, err := a.Connections.CreateDataSource(ctx, connections.Caller{OrgID: w.adv.ID, Role: cleanroom.RoleAdmin}, "CRM customers", "")
	must(err)
	buf.Reset()
	must(ad.WriteTaxonomy(&buf))
	atax, _, err := ingest.ParseTaxonomy(&buf)
	must(err)
	b, _ = json.Marshal(map[string]any{"segments": atax.Segments()})
	must(store.PutTaxonomy(ctx, ds.ID, b, time.Now()))
	buf.Reset()
	_, err = ad.WriteData(&buf, synth.WriteOptions{})
	must(err)
	w.upload(w.adv.ID, cleanroom.UploadDataSource, ds.ID, buf.Bytes())
	conn, _, err := a.Connections.CreateConnection(ctx, w.pub.ID, w.adv.ID, cleanroom.Permissions{MatchedCohorts: true, ModeledAudiences: true})
	must(err)
	w.conn, w.dataSource = conn.ID, ds.ID
	return w
}

func (w *cohortWorld) upload(orgID string, target cleanroom.UploadTarget, targetID string, data []byte) {
	w.t.Helper()
	ctx := context.Background()
	up, err := w.api.Uploads.Begin(ctx, orgID, "", target, targetID, "f.tsv", int64(len(data)), "", 0)
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
	for {
		ran, err := w.runner.RunOnce(context.Background())
		if err != nil {
			w.t.Fatal(err)
		}
		if !ran {
			return
		}
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

// TestCohortPages: an advertiser estimates and creates a matched and a modeled cohort through the
// dashboard's form, sees them build, picks a point on the lookalike's curve and sees it active;
// viewers get no forms, the publisher sees codes read-only, other orgs see nothing.
func TestCohortPages(t *testing.T) {
	w := newCohortWorld(t)
	crm := w.signIn("crm@acme.example")
	form := url.Values{"name": {"Acme - All customers"}, "kind": {"matched"}, "op": {"any"}, "connection": {w.conn},
		"ds0": {w.dataSource}, "seg0": {synth.AllCustomersID}, "action": {"estimate"}}
	status, _, html := crm.post("/cohorts", form)
	if status != 200 || !strings.Contains(html, `id="estimates"`) || !strings.Contains(html, "Acme - All customers") {
		t.Fatalf("estimate: %d\n%s", status, html)
	}
	estimated := between(html, `id="estimates"`, `</table>`)
	form.Set("action", "create")
	status, path, html := crm.post("/cohorts", form)
	if status != 200 || !strings.HasPrefix(path, "/cohorts/") || !strings.Contains(html, "building") {
		t.Fatalf("create: %d %s\n%s", status, path, html)
	}
	matched := strings.TrimPrefix(path, "/cohorts/")
	w.drain()
	co, err := w.store.FindCohort(context.Background(), matched)
	if err != nil || co.Status != cleanroom.CohortActive || co.Targets[0].Size < 1000 {
		t.Fatalf("matched cohort after the build: %+v %v", co, err)
	}
	if size := co.Targets[0].Size; !strings.Contains(estimated, itoa(size)) {
		t.Errorf("the estimate did not predict the built size %d: %s", size, estimated)
	}
	_, html = crm.get("/cohorts/" + matched)
	if !strings.Contains(html, itoa(co.Targets[0].Code)) || !strings.Contains(html, "Match diagnostics") {
		t.Errorf("detail page lacks the code or the diagnostics:\n%s", html)
	}

	// A form error names the problem and keeps what was typed.
	bad := url.Values{"name": {"Nothing"}, "kind": {"matched"}, "op": {"any"}, "connection": {w.conn}, "action": {"create"}}
	if status, _, html := crm.post("/cohorts", bad); status != 400 || !strings.Contains(html, "no conditions") || !strings.Contains(html, `value="Nothing"`) {
		t.Errorf("empty query: %d\n%s", status, html)
	}

	// A lookalike: trained, waiting for a point; the curve is drawn with its points.
	form.Set("name", "Acme - Lookalike")
	form.Set("kind", "modeled")
	_, path, _ = crm.post("/cohorts", form)
	modeled := strings.TrimPrefix(path, "/cohorts/")
	w.drain()
	_, html = crm.get("/cohorts/" + modeled)
	points := circle.FindAllStringSubmatch(html, -1)
	if !strings.Contains(html, "awaiting_selection") || len(points) < 20 || !strings.Contains(html, `id="features"`) {
		t.Fatalf("lookalike page: %d points\n%s", len(points), html)
	}
	status, _, html = crm.post("/cohorts/"+modeled, url.Values{"action": {"select"}, "similarity": {"0.8"}})
	if status != 200 || !strings.Contains(html, "building") {
		t.Fatalf("select: %d\n%s", status, html)
	}
	w.drain()
	co, _ = w.store.FindCohort(context.Background(), modeled)
	if co.Status != cleanroom.CohortActive || co.Similarity == nil || *co.Similarity != 0.8 || !co.Targets[0].Active {
		t.Fatalf("lookalike after choosing 0.8: %+v", co)
	}
	_, html = crm.get("/cohorts")
	if !strings.Contains(html, "Acme - Lookalike") || !strings.Contains(html, `id="new-cohort"`) {
		t.Errorf("list:\n%s", html)
	}
	// Pause.
	if _, _, html := crm.post("/cohorts/"+modeled, url.Values{"action": {"pause"}}); !strings.Contains(html, "paused") {
		t.Errorf("pause:\n%s", html)
	}

	// A viewer sees cohorts, not the forms; the publisher sees them with codes, read only.
	_, html = w.signIn("look@acme.example").get("/cohorts/" + modeled)
	if strings.Contains(html, `name="action"`) || !strings.Contains(html, "Acme - Lookalike") {
		t.Errorf("viewer's cohort page has forms or lacks the cohort")
	}
	_, html = w.signIn("look@acme.example").get("/cohorts")
	if strings.Contains(html, `id="new-cohort"`) {
		t.Error("viewer gets the new-cohort form")
	}
	ops := w.signIn("ops@planet.example")
	_, html = ops.get("/cohorts")
	if !strings.Contains(html, "Acme - All customers") || !strings.Contains(html, itoa(co.Targets[0].Code)) || strings.Contains(html, `id="new-cohort"`) {
		t.Errorf("publisher's list:\n%s", html)
	}
	if status, _, _ := ops.post("/cohorts/"+modeled, url.Values{"action": {"delete"}}); status != 403 {
		t.Errorf("publisher deletes an advertiser's cohort: %d", status)
	}
	// Another advertiser sees nothing of them.
	other := w.signIn("crm@other.example")
	if status, _ := other.get("/cohorts/" + matched); status != 404 {
		t.Errorf("other org's cohort page: %d", status)
	}
	if _, html := other.get("/cohorts"); strings.Contains(html, "Acme") {
		t.Error("other org lists Acme's cohorts")
	}
	if status, _, _ := other.post("/cohorts/"+matched, url.Values{"action": {"delete"}}); status != 404 {
		t.Errorf("other org deletes: %d", status)
	}
	// Delete.
	if _, path, _ := crm.post("/cohorts/"+matched, url.Values{"action": {"delete"}}); path != "/cohorts" {
		t.Errorf("delete went to %s", path)
	}
	if status, _ := crm.get("/cohorts/" + matched); status != 404 {
		t.Errorf("deleted cohort: %d", status)
	}
}

func itoa(n int64) string { return strings.TrimSpace(strings.ReplaceAll(jsonNumber(n), "\n", "")) }

func jsonNumber(n int64) string { b, _ := json.Marshal(n); return string(b) }

// TestDataSourcesPage: the advertiser's data sources with their uploads: a processed one with its
// report's counts, and one still arriving with a progress bar and a page that refreshes itself.
func TestDataSourcesPage(t *testing.T) {
	w := newCohortWorld(t)
	ctx := context.Background()
	crm := w.signIn("crm@acme.example")
	status, html := crm.get("/data-sources")
	if status != 200 || !strings.Contains(html, "CRM customers") || !strings.Contains(html, "processed") || strings.Contains(html, `http-equiv="refresh"`) {
		t.Fatalf("data sources: %d\n%s", status, html)
	}
	rows := between(html, `id="data-source-uploads"`, `</table>`)
	if !regexp.MustCompile(`<td>8000</td>`).MatchString(rows) {
		t.Errorf("the report's rows read are not shown:\n%s", rows)
	}
	// An upload half received.
	if _, err := w.api.Uploads.Begin(ctx, w.adv.ID, "", cleanroom.UploadDataSource, w.dataSource, "next.tsv", 1000, "", 0); err != nil {
		t.Fatal(err)
	}
	_, html = crm.get("/data-sources")
	if !strings.Contains(html, "next.tsv") || !strings.Contains(html, `<progress max="1000" value="0">`) || !strings.Contains(html, `http-equiv="refresh"`) {
		t.Errorf("an upload in progress:\n%s", html)
	}
	if _, html := w.signIn("crm@other.example").get("/data-sources"); strings.Contains(html, "CRM customers") {
		t.Error("another advertiser sees Acme's data sources")
	}
	if status, _ := w.signIn("ops@planet.example").get("/data-sources"); status != 404 {
		t.Errorf("publisher: %d", status)
	}
}
