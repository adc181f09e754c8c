package web_test

import (
	"context"
	"html"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/accounts"
	"github.com/cleanroom-oss/cleanroom/activation"
	"github.com/cleanroom-oss/cleanroom/app"
	"github.com/cleanroom-oss/cleanroom/edge"
)

var pageLink = regexp.MustCompile(`href="(/[^"]*)"`)

// crawled is a page the crawl reached: its status, its HTML and the page that linked to it.
type crawled struct {
	status int
	html   string
	from   string
}

// crawl visits the pages of the dashboard the client reaches from "/" by following links (GET,
// on this site), at most limit of them. Links to the API, static files and CSV files are
// fetched (a link that answers 404 is broken wherever it points) but not followed.
func (b *webClient) crawl(limit int) map[string]crawled {
	b.w.t.Helper()
	seen := map[string]crawled{}
	queue := []string{"/"}
	from := map[string]string{"/": ""}
	for len(queue) > 0 && len(seen) < limit {
		path := queue[0]
		queue = queue[1:]
		status, body := b.get(path)
		seen[path] = crawled{status, body, from[path]}
		if strings.HasPrefix(path, "/v1/") || strings.HasPrefix(path, "/static/") || strings.Contains(path, ".csv") || strings.Contains(path, "format=csv") {
			continue
		}
		for _, m := range pageLink.FindAllStringSubmatch(body, -1) {
			link := html.UnescapeString(m[1])
			if i := strings.IndexByte(link, '#'); i >= 0 {
				link = link[:i]
			}
			if link == "" || strings.HasPrefix(link, "//") || strings.HasPrefix(link, "/static/") {
				continue
			}
			if _, ok := from[link]; !ok {
				from[link] = path
				queue = append(queue, link)
			}
		}
	}
	return seen
}

// crawlWorld is the cohort world with what the newer pages show: an operator, a second
// publisher (Morning Star) with its admin, and bucket imports on Acme's data source and on the
// Daily Planet's audience.
func crawlWorld(t *testing.T) *cohortWorld {
	t.Helper()
	w := newCohortWorldWith(t, func(c *app.Config) { exactCounts(c); c.ImportAllowPrivate, c.ImportAllowHTTP = true, true })
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := w.acc.CreateOperator(ctx, "root@deploy.example", "Root", worldPassword)
	must(err)
	star, err := w.acc.CreateOrg(ctx, "Morning Star", cleanroom.OrgPublisher)
	must(err)
	_, err = w.acc.RecordDPA(ctx, star.ID, time.Time{})
	must(err)
	_, err = w.acc.EnableCleanRoom(ctx, star.ID)
	must(err)
	_, _, err = w.acc.AddMember(ctx, star.ID, accounts.NewUser{Email: "ops@star.example", Password: worldPassword, Role: cleanroom.RoleAdmin})
	must(err)
	for _, x := range []struct{ email, path, bucket string }{
		{"crm@acme.example", "/data-sources/" + w.dataSource + "/import", "acme-private-bucket"},
		{"ops@planet.example", "/audience/import", "planet-private-bucket"},
	} {
		form := url.Values{"endpoint": {"http://127.0.0.1:9"}, "bucket": {x.bucket}, "access_key_id": {"AKIA" + strings.ToUpper(x.bucket[:4])},
			"secret_access_key": {"a-secret-key"}, "schedule": {"off"}}
		if status, _, page := w.signIn(x.email).post(x.path, form); status != 200 || !strings.Contains(page, x.bucket) {
			t.Fatalf("%s: import setup: %d", x.email, status)
		}
	}
	co, err := w.api.Cohorts.Create(ctx, cleanroom.NewCaller(w.adv.ID, cleanroom.RoleAdmin), cohortSpecAll(w))
	must(err)
	w.drain()
	// A day of delivery and the active users of the cohort, which both parties' delivery pages show.
	code := uint32(co.Targets[0].Code)
	day := time.Now().UTC().AddDate(0, 0, -3).Format(time.DateOnly)
	must(activation.WriteDeliveryDay(ctx, w.m.Blobs, &activation.DeliveryDay{PublisherID: w.pub.ID, Day: day,
		Rows: []activation.DeliveryRow{{DeliveryRow: edge.DeliveryRow{Day: day, Code: code, LineItem: "5551234567", Impressions: 4000, Users: 786,
			Frequency: [6]int64{200, 150, 120, 110, 105, 101}}}}}))
	must(activation.WriteActiveUsers(ctx, w.m.Blobs, &activation.ActiveUsers{PublisherID: w.pub.ID, Day: day, Users: 900, Codes: map[uint32]int64{code: 701}}))
	return w
}

// TestEveryLinkLeadsToAPage: for every role, every link the dashboard shows (followed from the
// overview through every page it reaches) answers a page: none answers 404 or an error.
func TestEveryLinkLeadsToAPage(t *testing.T) {
	w := crawlWorld(t)
	for _, who := range []struct{ email, org string }{
		{"root@deploy.example", ""}, {"ops@planet.example", ""}, {"ws@planet.example", ""}, {"crm@acme.example", ""},
		{"look@acme.example", ""}, {"agency@acme.example", w.pub.DemandSideID}, {"crm@other.example", ""}, {"ops@star.example", ""},
	} {
		b := w.signIn(who.email)
		if who.org != "" {
			b.in(who.org)
		}
		pages := b.crawl(300)
		for path, p := range pages {
			if p.status == 404 || p.status >= 500 || strings.Contains(p.html, "Page not found") {
				t.Errorf("%s: the link to %s on %s answers %d", who.email, path, p.from, p.status)
			}
		}
		t.Logf("%s: %d pages", who.email, len(pages))
		if len(pages) < 3 {
			t.Errorf("%s: the crawl reached only %d pages", who.email, len(pages))
		}
	}
}

// TestEveryPageShowsNoOtherOrgsData: every page Acme's member and the Daily Planet's admin reach
// through the dashboard's links, read by another advertiser (Other Brand) and another publisher
// (Morning Star), shows none of their data: a page of theirs by ID answers the 404 page, a page
// without one shows the reader's own.
func TestEveryPageShowsNoOtherOrgsData(t *testing.T) {
	w := crawlWorld(t)
	ctx := context.Background()
	if status, _, _ := w.signIn("crm@acme.example").post("/settings/tokens", formOf("name", "acme-secret-token")); status != 200 {
		t.Fatalf("token: %d", status)
	}
	co, _, err := w.store.ListCohorts(ctx, cleanroom.CohortFilter{OrgID: w.adv.ID, Page: cleanroom.Page{Limit: 10}})
	if err != nil || len(co) == 0 {
		t.Fatalf("Acme's cohorts: %v %v", co, err)
	}
	// Names never shown to another org, anywhere; IDs never shown on a page whose path does not
	// carry them (the 404 page repeats the path it was asked).
	names := []string{"Acme", "acme.example", "5551234567", "acme-secret-token", "acme-private-bucket", "CRM customers", "Daily Planet", "planet.example", "planet-private-bucket"}
	ids := []string{w.adv.ID, w.pub.ID, w.pub.DemandSideID, w.dataSource, w.conn, w.wsConn, co[0].ID}
	if _, page := w.signIn("ops@planet.example").get("/delivery?connection=" + w.conn); !strings.Contains(page, "Acme - All customers") || !strings.Contains(page, "5551234567") {
		t.Fatalf("the publisher's delivery page does not show the cohort's delivery")
	}
	var paths []string
	for _, email := range []string{"crm@acme.example", "ops@planet.example", "ws@planet.example"} {
		for path := range w.signIn(email).crawl(300) {
			paths = append(paths, path)
		}
	}
	sort.Strings(paths)
	paths = slices.Compact(paths)
	t.Logf("pages: %s", strings.Join(paths, " "))
	// The crawl reached the pages added lately, so the check covers them.
	all := strings.Join(paths, "\n")
	for _, want := range []string{"/audience/import", "/data-sources/" + w.dataSource + "/import", "/delivery", "/served", "/activation",
		"/cohorts/" + co[0].ID + "/insights", "/connections/" + w.conn + "/privacy", "/audience", "/settings", "/jobs", "/audit"} {
		if !strings.Contains(all, want) {
			t.Errorf("no link leads to %s", want)
		}
	}
	for _, email := range []string{"crm@other.example", "ops@star.example"} {
		other := w.signIn(email)
		for _, path := range paths {
			if strings.HasPrefix(path, "/v1/") {
				continue
			}
			status, page := other.get(path)
			if status != 200 && status != 404 && status != 403 {
				t.Errorf("%s GET %s: %d, want the page, 404 or 403", email, path, status)
			}
			if status != 200 && (!strings.Contains(page, `href="/static/style.css"`) || !strings.Contains(page, "<nav>")) {
				t.Errorf("%s GET %s: %d is not the dashboard's own page: %.200s", email, path, status, page)
			}
			leaks := names
			if u, _ := url.Parse(path); u != nil && status != 404 {
				leaks = append(leaks[:len(leaks):len(leaks)], ids...)
			}
			for _, l := range leaks {
				if strings.Contains(page, l) {
					t.Errorf("%s GET %s (%d) shows %q", email, path, status, l)
				}
			}
		}
	}
}

// TestInvitedAdvertiserReachesNoMore: an invited advertiser (limited) in the publisher's
// demand-side workspace, asking by URL for the pages the workspace's staff reach, gets none but
// its own (its tokens on Settings; the audit log sends it to the overview).
func TestInvitedAdvertiserReachesNoMore(t *testing.T) {
	w := crawlWorld(t)
	agency := w.signIn("agency@acme.example").in(w.pub.DemandSideID)
	own := agency.crawl(300)
	for path := range w.signIn("ws@planet.example").crawl(300) {
		if _, ok := own[path]; ok || path == "/settings" || path == "/audit" {
			continue
		}
		if status, _ := agency.get(path); status != 403 && status != 404 {
			t.Errorf("the invited advertiser GET %s: %d, want 403 or 404", path, status)
		}
	}
	if _, err := w.m.Delivery.Connection(context.Background(), agencyCaller(t, w), w.wsConn, "", ""); cleanroom.ErrorCode(err) != cleanroom.EFORBIDDEN {
		t.Errorf("the invited advertiser's delivery report: %v, want EFORBIDDEN", err)
	}
}

// agencyCaller is the invited advertiser acting in the publisher's demand-side workspace.
func agencyCaller(t *testing.T, w *cohortWorld) *cleanroom.Caller {
	t.Helper()
	ctx := context.Background()
	u, err := w.store.FindUserByEmail(ctx, "agency@acme.example")
	if err != nil {
		t.Fatal(err)
	}
	m, err := w.store.FindMember(ctx, w.pub.DemandSideID, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	ws, err := w.store.FindOrg(ctx, w.pub.DemandSideID)
	if err != nil {
		t.Fatal(err)
	}
	return &cleanroom.Caller{User: u, Org: ws, Role: m.Role, RepresentsID: m.RepresentsID}
}
