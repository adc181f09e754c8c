package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/cohorts"
	"github.com/cleanroom-oss/cleanroom/synth"
)

// TestPrivacyPages: with the default settings, the pages show cross-party counts as noisy
// ("about N"); the connection's privacy page shows the settings in force and the budget left,
// lets an admin be stricter (never below the floor), is read-only for others and not found for
// another org.
func TestPrivacyPages(t *testing.T) {
	w := newCohortWorldWith(t, nil)
	ctx := context.Background()
	co, err := w.api.Cohorts.Create(ctx, &cleanroom.Caller{User: &cleanroom.User{ID: "u"}, Org: w.adv, Role: cleanroom.RoleAdmin}, cohorts.Spec{
		Name: "Acme - Everyone", Kind: cleanroom.CohortMatched, ConnectionIDs: []string{w.conn},
		Query: cleanroom.CohortQuery{Op: cleanroom.OpAny, Conditions: []cleanroom.Condition{{DataSource: w.dataSource}}}})
	if err != nil {
		t.Fatal(err)
	}
	w.drain()
	stored, err := w.store.FindCohort(ctx, co.ID)
	if err != nil {
		t.Fatal(err)
	}
	crm := w.signIn("crm@acme.example")
	_, html := crm.get("/cohorts/" + co.ID)
	targets := between(html, `id="targets"`, `</table>`)
	size := between(targets, `class="code">`+itoa(stored.Targets[0].Code)+"</code></td><td>", "</td>")
	if !aboutNear(size, stored.Targets[0].Size) {
		t.Errorf("the cohort's size shown as %q, want about %d:\n%s", size, stored.Targets[0].Size, targets)
	}
	if diag := between(html, `class="card diagnostics"`, `</section>`); !strings.Contains(diag, "released with privacy noise") {
		t.Errorf("the diagnostics do not say their counts are noisy:\n%s", diag)
	}
	// The estimate of the same query is the same release as the built size.
	_, _, html = crm.post("/cohorts", queryForm{name: "Again", kind: "matched", op: "any", conn: w.conn,
		rows: []conditionRow{{"", w.dataSource, "", ""}}}.values("estimate"))
	if users := between(between(html, `id="estimates"`, `</table>`), `class="users">`, `<`); users != size {
		t.Errorf("the estimate shows %q, the cohort %q", users, size)
	}
	_, list := crm.get("/cohorts")
	if !strings.Contains(between(list, `id="cohorts"`, `</table>`), "<td>about ") {
		t.Errorf("the list does not show the size as noisy:\n%s", between(list, `id="cohorts"`, `</table>`))
	}

	// A lookalike's seeds are released too.
	lk, err := w.api.Cohorts.Create(ctx, &cleanroom.Caller{User: &cleanroom.User{ID: "u"}, Org: w.adv, Role: cleanroom.RoleAdmin}, cohorts.Spec{
		Name: "Acme - Lookalike", Kind: cleanroom.CohortModeled, ConnectionIDs: []string{w.conn},
		Query: cleanroom.CohortQuery{Op: cleanroom.OpAny, Conditions: []cleanroom.Condition{{DataSource: w.dataSource, Segment: synth.AllCustomersID}}}})
	if err != nil {
		t.Fatal(err)
	}
	w.drain()
	if stored, err = w.store.FindCohort(ctx, lk.ID); err != nil {
		t.Fatal(err)
	}
	_, html = crm.get("/cohorts/" + lk.ID)
	row := between(html, `id="targets"`, `</table>`)
	seeds := between(row, "<td>—</td>", "</td>") // the size (not chosen yet), then the seeds
	// One of the five counts of the curve's question: noise of scale 10 (ε 0.5 / 5).
	if !aboutWithin(strings.TrimPrefix(strings.TrimSpace(seeds), "<td>"), stored.Targets[0].Seeds, 150) {
		t.Errorf("the lookalike's seeds shown as %q, want about %d:\n%s", seeds, stored.Targets[0].Seeds, row)
	}

	// The advertiser's viewer reads its budget: the views above spent some of it.
	path := "/connections/" + w.conn + "/privacy"
	status, html := w.signIn("look@acme.example").get(path)
	if status != 200 || !strings.Contains(html, `id="budget"`) || strings.Contains(html, `id="privacy-form"`) ||
		strings.Contains(html, `<strong class="budget-left">10</strong>`) || !strings.Contains(html, `<strong class="budget-left">`) {
		t.Errorf("viewer's privacy page: %d\n%s", status, between(html, "<main>", "</main>"))
	}
	if _, html := w.signIn("crm@acme.example").get("/"); !strings.Contains(html, `href="`+path+`"`) {
		t.Error("the overview does not link the connection's privacy settings")
	}

	// The publisher's admin: stricter is saved and audited, below the floor is refused with the
	// error beside the field and the values kept.
	ops := w.signIn("ops@planet.example")
	status, _, html = ops.post(path, url.Values{"k": {"50"}, "epsilon": {"0.5"}})
	if status != http.StatusBadRequest || !regexp.MustCompile(`name="k"[^>]*value="50"[^>]*>\s*<span class="field-error" role="alert">[^<]*floor of 100`).MatchString(html) ||
		!strings.Contains(html, `name="epsilon" value="0.5"`) {
		t.Errorf("k below the floor: %d\n%s", status, between(html, "<main>", "</main>"))
	}
	status, final, html := ops.post(path, url.Values{"k": {"150"}, "epsilon": {"0.25"}, "period": {"month"}})
	inForce := between(html, `class="effective">`, `</tr>`)
	if status != 200 || final != path || !strings.Contains(inForce, "<td>150</td><td>0.25</td><td>10</td><td>month</td>") {
		t.Errorf("save: %d %s\n%s", status, final, inForce)
	}
	es, _, err := w.store.ListAudit(ctx, cleanroom.AuditFilter{OrgID: w.pub.ID, Page: cleanroom.Page{Limit: 50}})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range es {
		found = found || e.Action == "connection.privacy.update"
	}
	if !found {
		t.Error("the change is not in the publisher's audit log")
	}
	if status, _ := w.signIn("crm@other.example").get(path); status != http.StatusNotFound {
		t.Errorf("another org's privacy page: %d", status)
	}
}
