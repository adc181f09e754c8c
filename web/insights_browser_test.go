package web_test

import (
	"context"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/cohorts"
	"github.com/cleanroom-oss/cleanroom/pipeline"
	"github.com/cleanroom-oss/cleanroom/synth"
)

// TestBrowserInsights: the advertiser opens a built cohort's insights from the cohort page: refused
// with the fix while the connection lacks the insights permission; then the size, the match
// rates, the affinity chart (one bar per index shown, top affinities marked, the baseline at 100)
// drawn as SVG by the server, the country chart, and the CSV export; advanced insights refused
// until allowed, then the publisher's engagement attributes charted. The publisher sees its users in served cohorts.
func TestBrowserInsights(t *testing.T) {
	needBrowser(t)
	w := newCohortWorld(t)
	ctx := context.Background()
	adv := cleanroom.NewCaller(w.adv.ID, cleanroom.RoleAdmin)
	// The publisher shares its custom cohorts, without insights yet.
	tax, err := pipeline.LoadPublisherTaxonomy(ctx, w.store, w.pub.ID)
	if err != nil {
		t.Fatal(err)
	}
	perms := cleanroom.Permissions{MatchedCohorts: true, StandardCohorts: true, CustomCohorts: true}
	for _, c := range tax.Cohorts() {
		if !c.Standard {
			perms.SharedCustomCohorts = append(perms.SharedCustomCohorts, c.ID)
		}
	}
	setPerms := func() {
		if _, err := w.api.Connections.UpdatePermissions(ctx, cleanroom.NewCaller(w.pub.ID, cleanroom.RoleAdmin), w.conn, perms); err != nil {
			t.Fatal(err)
		}
	}
	setPerms()
	// The customers in the publisher's largest custom cohort: a strong affinity with it.
	u, err := synth.NewUniverse(synth.UniverseConfig{Seed: 5, Users: 20_000, Cohorts: 30}) // newCohortWorld's
	if err != nil {
		t.Fatal(err)
	}
	largest := synth.Cohort{}
	for _, c := range u.Cohorts() {
		if !c.Standard && c.Size > largest.Size {
			largest = c
		}
	}
	co, err := w.api.Cohorts.Create(ctx, adv, cohorts.Spec{Name: "Acme - Customers", Kind: cleanroom.CohortMatched, ConnectionIDs: []string{w.conn},
		Query: cleanroom.CohortQuery{Op: cleanroom.OpAll, Conditions: []cleanroom.Condition{{DataSource: w.dataSource, Segment: synth.AllCustomersID},
			{PublisherCohort: largest.ID}}}})
	if err != nil {
		t.Fatal(err)
	}
	w.drain()
	b := w.cohortTab("crm@acme.example")
	b.navigate("/cohorts/" + co.ID)
	b.submit("open the insights", chromedp.Click(chromedp.CSS(`a.insights-link`)))
	if got := b.text("#insights-refused"); !strings.Contains(got, "insights permission") || !strings.Contains(got, "Ask the publisher to turn on insights") {
		t.Fatalf("without the permission: %q", got)
	}

	// The publisher allows insights.
	perms.Insights = true
	setPerms()
	b.navigate(b.path())
	size, err := strconv.Atoi(b.text("#insights-size"))
	if err != nil || size < 100 {
		t.Fatalf("cohort users shown as %q", b.text("#insights-size"))
	}
	if rows := b.rows("#match-rates"); len(rows) == 0 || !strings.HasSuffix(rows[0][3], "%") {
		t.Errorf("match rates: %v", rows)
	}
	affinities := b.rows("#affinities")
	if len(affinities) != len(tax.Cohorts()) {
		t.Errorf("%d affinities listed, want one per publisher cohort (%d)", len(affinities), len(tax.Cohorts()))
	}
	shown, top := 0, 0
	for i, r := range affinities {
		if r[4] != "—" && i < 20 {
			shown++
		}
		if strings.HasSuffix(r[0], " top") {
			top++
		}
	}
	if got := js[int](b, `document.querySelectorAll("#affinity-chart rect.bar").length`); got != shown || shown == 0 {
		t.Errorf("%d bars drawn for %d indexes shown", got, shown)
	}
	if got := js[int](b, `document.querySelectorAll("#affinity-chart rect.bar.top").length`); got != top || top == 0 {
		t.Errorf("%d top bars drawn, %d top affinities listed", got, top)
	}
	if !strings.HasPrefix(affinities[0][0], largest.Name) || !strings.HasSuffix(affinities[0][0], " top") {
		t.Errorf("the highest index is %q, want %q marked top", affinities[0][0], largest.Name)
	}
	if !b.exists("#affinity-chart line.baseline") || js[int](b, `document.querySelectorAll("svg.chart").length`) != 2 {
		t.Error("the baseline or the country chart is missing")
	}
	// The CSV export, as the browser downloads it.
	csv := run(b, "fetch the CSV", chromedp.Evaluate[string](
		`(async () => { const r = await fetch(document.querySelector("#insights-csv").href); return r.status + " " + (await r.text()); })()`,
		chromedp.EvalAwaitPromise))
	if !strings.HasPrefix(csv, "200 section,id,name,cohort_users,base_users") || strings.Count(csv, "\naffinity,") != len(tax.Cohorts()) {
		t.Errorf("CSV: %.200q", csv)
	}
	b.screenshot("cohort-insights")

	// Advanced insights: refused until the publisher allows them.
	b.submit("open advanced insights", chromedp.Click(chromedp.CSS(`#advanced-link`)))
	if got := b.text("#insights-refused"); !strings.Contains(got, "advanced insights") {
		t.Fatalf("advanced without the permission: %q", got)
	}
	perms.AdvancedInsights = true
	setPerms()
	b.navigate(b.path())
	if got := js[[]string](b, `[...document.querySelectorAll("#insights h2 code")].map(c => c.innerText)`); !slices.Equal(got, []string{"page_views_30d", "iab_categories"}) {
		t.Errorf("engagement attributes shown: %q", got)
	}
	if n := js[int](b, `document.querySelectorAll("svg.chart").length`); n != 4 {
		t.Errorf("%d charts, want affinity, countries and two engagement attributes", n)
	}
	b.screenshot("cohort-insights-advanced")

	// The publisher: its users in the cohorts served through the connection.
	p := w.cohortTab("ops@planet.example")
	p.navigate("/served")
	rows := p.rows("#served")
	if len(rows) != 2 || rows[0][0] != "Acme Outdoor" || rows[0][1] != "1" {
		t.Fatalf("served: %v", rows)
	}
	if n, err := strconv.Atoi(rows[0][2]); err != nil || int(math.Abs(float64(n-size))) > 40 {
		t.Errorf("served users: %q, the cohort's size %d", rows[0][2], size)
	}
}
