package api_test

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/connections"
)

// syncEngagedPublisher gives publisher A the audience of syncPublisher (n users) with two
// engagement attributes: page views (i % 50) and IAB categories (IAB1 for even users, IAB2 for
// users with i % 4 == 1).
func (e *env) syncEngagedPublisher(n int) {
	e.t.Helper()
	token := e.tokens["a-admin"]
	if r := e.do(req{method: "PUT", path: "/v1/publisher/taxonomy", token: token, body: withHeaders{
		"cohort_id,name,iab_id,standard\nsports,Sports fans,483,true\ntravel,Travel intenders,,false\n",
		map[string]string{"Content-Type": "text/csv"}}}); r.status != 200 {
		e.t.Fatalf("taxonomy: %d %s", r.status, r.raw)
	}
	var b strings.Builder
	b.WriteString("user_id\tcountry\tidentifiers\tcohorts\tnumber:page_views_30d\tlist:iab_categories\n")
	for i := range n {
		country, cohort, cats := "GB", "", ""
		if i%2 == 1 {
			country = "DE"
		}
		switch i % 3 {
		case 0:
			cohort = "sports"
		case 1:
			cohort = "travel"
		}
		switch {
		case i%2 == 0:
			cats = "IAB1"
		case i%4 == 1:
			cats = "IAB2"
		}
		fmt.Fprintf(&b, "u%d\t%s\temail_sha256=%s\t%s\t%d\t%s\n", i, country, person(i), cohort, i%50, cats)
	}
	e.syncProfileFile(token, []byte(b.String()))
}

// near reports whether a released count is within 40 of want (the default noise, a discrete
// Laplace of scale 2, exceeds that with probability about e^-20).
func near(v any, want float64) bool {
	f, ok := v.(float64)
	return ok && math.Abs(f-want) <= 40
}

// TestCohortInsights: the insights of a built cohort through the API, gated by the connection's
// insights and advanced insights permissions (refused with the fix), by the data's grants, and
// released through privacy: noisy counts, null below the threshold with the values derived
// from them; the CSV export; the publisher's count of its users in served cohorts.
func TestCohortInsights(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.syncEngagedPublisher(1000)
	perms := cleanroom.Permissions{MatchedCohorts: true, StandardCohorts: true, CustomCohorts: true, SharedCustomCohorts: []string{"travel"}}
	conn := e.connect(e.orgA.ID, e.orgW.ID, perms)
	tok := e.tokens["w-member"]
	ds := e.dataSourceOf(tok, 100, 850, "email_sha256") // 750 of A's users: 100..849
	create := func(ds string) string {
		r := e.do(req{method: "POST", path: "/v1/cohorts", token: tok, body: map[string]any{"name": uniq("C "), "kind": "matched",
			"query": anyOf(seg(ds, "")), "connections": []string{conn.ID}}})
		if r.status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.status, r.raw)
		}
		e.drainJobs()
		return r.body["id"].(string)
	}
	id := create(ds)
	path := "/v1/cohorts/" + id + "/insights?connection_id=" + conn.ID
	setPerms := func(p cleanroom.Permissions) {
		if _, err := e.api.Connections.UpdatePermissions(ctx, cleanroom.NewCaller(e.orgA.ID, cleanroom.RoleAdmin), conn.ID, p); err != nil {
			t.Fatal(err)
		}
	}

	// Insights off: refused, saying which permission and what to do.
	r := e.do(req{method: "GET", path: path, token: e.tokens["w-viewer"]})
	if r.status != http.StatusForbidden || !strings.Contains(string(r.raw), "insights permission") || !strings.Contains(string(r.raw), "Ask the publisher to turn on insights") {
		t.Fatalf("insights off: %d %s", r.status, r.raw)
	}
	perms.Insights = true
	setPerms(perms)
	r = e.do(req{method: "GET", path: path, token: e.tokens["w-viewer"]})
	if r.status != 200 {
		t.Fatalf("insights: %d %s", r.status, r.raw)
	}
	if !near(r.body["size"], 750) || !near(r.body["base"], 1000) || r.body["threshold"] != 100.0 || r.body["epsilon"] != "0.5" {
		t.Errorf("size and base: %s", r.raw)
	}
	if r.body["size"] == 750.0 && r.body["base"] == 1000.0 {
		t.Errorf("exact counts released: %s", r.raw)
	}
	affs := r.body["affinities"].([]any)
	ids := []string{}
	for _, a := range affs {
		a := a.(map[string]any)
		ids = append(ids, a["cohort_id"].(string))
		// sports: 250 of the 750 against 334 of 1000; travel 250 against 333: indexes near 100.
		if !near(a["overlap"], 250) || a["index"] == nil || math.Abs(a["index"].(float64)-100) > 40 || a["audience_share"] == nil {
			t.Errorf("affinity: %v", a)
		}
	}
	if len(ids) != 2 {
		t.Errorf("affinities %v, want sports and travel", ids)
	}
	mr := r.body["match_rates"].([]any)[0].(map[string]any)
	if mr["type"] != "email_sha256" || mr["advertiser_rows"] != 750.0 || !near(mr["matched_rows"], 750) {
		t.Errorf("match rate: %v", mr)
	}
	if cs := r.body["countries"].([]any); len(cs) != 2 || !near(cs[0].(map[string]any)["cohort"], 375) {
		t.Errorf("countries: %v", cs)
	}
	if r.body["attributes"] != nil {
		t.Errorf("attributes without asking: %s", r.raw)
	}
	// The same question again gets the same noise.
	if again := e.do(req{method: "GET", path: path, token: tok}); string(again.raw) != string(r.raw) {
		t.Errorf("asked again:\n%s\n%s", r.raw, again.raw)
	}

	// Advanced insights need their own permission.
	r = e.do(req{method: "GET", path: path + "&advanced=true", token: tok})
	if r.status != http.StatusForbidden || !strings.Contains(string(r.raw), "advanced insights") {
		t.Fatalf("advanced off: %d %s", r.status, r.raw)
	}
	perms.AdvancedInsights = true
	setPerms(perms)
	r = e.do(req{method: "GET", path: path + "&advanced=true", token: tok})
	if r.status != 200 || r.body["advanced"] != true {
		t.Fatalf("advanced: %d %s", r.status, r.raw)
	}
	attrs := map[string][]any{}
	for _, a := range r.body["attributes"].([]any) {
		a := a.(map[string]any)
		attrs[a["name"].(string)] = a["values"].([]any)
	}
	if v := attrs["iab_categories"]; len(v) != 2 || !near(v[0].(map[string]any)["cohort"], 375) || !near(v[1].(map[string]any)["base"], 250) {
		t.Errorf("categories: %v", v)
	}
	if v := attrs["page_views_30d"]; len(v) != 7 || v[0].(map[string]any)["cohort"] != nil || v[0].(map[string]any)["index"] != nil {
		t.Errorf("page views: the 0 bucket (15 users) must be suppressed with its index: %v", v)
	}

	// CSV export.
	r = e.do(req{method: "GET", path: "/v1/cohorts/" + id + "/insights.csv?connection_id=" + conn.ID, token: tok})
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") ||
		!strings.HasPrefix(string(r.raw), "section,id,name,cohort_users,base_users,cohort_share,base_share,index,top\nsize,") {
		t.Errorf("csv: %d %s %s", r.status, r.header.Get("Content-Type"), r.raw)
	}

	// A small cohort: its size is suppressed, and with it every share and index.
	small := create(e.dataSourceOf(tok, 980, 1020, "email_sha256")) // 20 of A's users
	r = e.do(req{method: "GET", path: "/v1/cohorts/" + small + "/insights?connection_id=" + conn.ID, token: tok})
	if r.status != 200 || r.body["size"] != nil || !near(r.body["base"], 1000) {
		t.Fatalf("small: %d %s", r.status, r.raw)
	}
	for _, a := range r.body["affinities"].([]any) {
		a := a.(map[string]any)
		if a["overlap"] != nil || a["audience_share"] != nil || a["index"] != nil || a["top"] != false {
			t.Errorf("small cohort affinity: %v", a)
		}
	}

	// Who may read them: not the publisher, not another org.
	if r := e.do(req{method: "GET", path: path, token: e.tokens["a-admin"]}); r.status != http.StatusForbidden {
		t.Errorf("publisher reads the advertiser's insights: %d %s", r.status, r.raw)
	}
	if r := e.do(req{method: "GET", path: path, token: e.tokens["c-admin"]}); r.status != http.StatusNotFound {
		t.Errorf("another org: %d %s", r.status, r.raw)
	}

	// Data granted for matched cohorts but not insights: its cohort's insights are refused.
	bds := e.dataSourceOf(e.tokens["b-member"], 100, 300, "email_sha256")
	if _, err := e.api.Connections.CreateGrant(ctx, cleanroom.NewCaller(e.orgB.ID, cleanroom.RoleAdmin), bds,
		connections.GrantRequest{GranteeID: e.orgW.ID, AllowMatched: true}); err != nil {
		t.Fatal(err)
	}
	granted := create(bds)
	r = e.do(req{method: "GET", path: "/v1/cohorts/" + granted + "/insights?connection_id=" + conn.ID, token: tok})
	if r.status != http.StatusForbidden || !strings.Contains(string(r.raw), "insights") {
		t.Errorf("grant without insights: %d %s", r.status, r.raw)
	}

	// The publisher: its users in the cohorts served through the connection (the two built on
	// 750 and 200 of its users, the 200 among the 750; the small one is not served).
	r = e.do(req{method: "GET", path: "/v1/connections/" + conn.ID + "/served-users", token: e.tokens["a-viewer"]})
	if r.status != 200 || r.body["cohorts"] != 2.0 || !near(r.body["users"], 750) {
		t.Errorf("served users: %d %s", r.status, r.raw)
	}
	if r := e.do(req{method: "GET", path: "/v1/connections/" + conn.ID + "/served-users", token: tok}); r.status != http.StatusForbidden {
		t.Errorf("the partner reads served users: %d %s", r.status, r.raw)
	}
}
