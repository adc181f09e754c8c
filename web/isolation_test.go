package web_test

import (
	"context"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/cohorts"
	"github.com/cleanroom-oss/cleanroom/synth"
)

// TestPagesShowNoOtherOrgsData: every page, read by another advertiser (Other Brand's admin),
// shows nothing of Acme's: not its people, data sources, tokens, jobs, cohorts or audit entries;
// Acme's resources by ID answer the dashboard's 404 page.
func TestPagesShowNoOtherOrgsData(t *testing.T) {
	w := newCohortWorld(t)
	ctx := context.Background()
	acme := w.signIn("crm@acme.example")
	acme.post("/settings/tokens", formOf("name", "acme-secret-token"))
	co, err := w.api.Cohorts.Create(ctx, cleanroom.NewCaller(w.adv.ID, cleanroom.RoleAdmin), cohortSpecAll(w))
	if err != nil {
		t.Fatal(err)
	}
	leaks := []string{"Acme", "acme.example", "acme-secret-token", "CRM customers", w.adv.ID, w.dataSource, co.ID}
	other := w.signIn("crm@other.example")
	for _, path := range []string{"/", "/settings", "/connections", "/data-sources", "/jobs", "/audit", "/audit.csv", "/cohorts"} {
		status, html := other.get(path)
		if status != 200 {
			t.Errorf("Other Brand GET %s: %d", path, status)
		}
		for _, l := range leaks {
			if strings.Contains(html, l) {
				t.Errorf("Other Brand's %s shows %q", path, l)
			}
		}
	}
	for _, path := range []string{"/data-sources/" + w.dataSource, "/cohorts/" + co.ID} {
		status, html := other.get(path)
		if status != 404 || regexp.MustCompile(`CRM customers|Acme`).MatchString(html) {
			t.Errorf("Other Brand GET %s: %d, want 404 showing nothing of Acme's", path, status)
		}
	}
}

func formOf(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

// cohortSpecAll is a matched cohort of every CRM customer of Acme's at Daily Planet.
func cohortSpecAll(w *cohortWorld) cohorts.Spec {
	return cohorts.Spec{Name: "Acme - All customers", Kind: cleanroom.CohortMatched, ConnectionIDs: []string{w.conn},
		Query: cleanroom.CohortQuery{Op: cleanroom.OpAny, Conditions: []cleanroom.Condition{{DataSource: w.dataSource, Segment: synth.AllCustomersID}}}}
}
