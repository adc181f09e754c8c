package api_test

import (
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/app"
)

// insightsPerms are the permissions of the insights tests: both publisher cohorts, insights.
var insightsPerms = cleanroom.Permissions{MatchedCohorts: true, StandardCohorts: true, CustomCohorts: true,
	SharedCustomCohorts: []string{"travel"}, Insights: true, AdvancedInsights: true}

// insightsCohort creates and builds a matched cohort of data source ds for conn as token.
func (e *env) insightsCohort(token, ds, connID string) string {
	e.t.Helper()
	r := e.do(req{method: "POST", path: "/v1/cohorts", token: token, body: map[string]any{"name": uniq("C "), "kind": "matched",
		"query": anyOf(seg(ds, "")), "connections": []string{connID}}})
	if r.status != http.StatusCreated {
		e.t.Fatalf("create: %d %s", r.status, r.raw)
	}
	e.drainJobs()
	return r.body["id"].(string)
}

func insightsPath(cohort, connID string) string {
	return "/v1/cohorts/" + cohort + "/insights?connection_id=" + connID
}

// affinityOf returns the affinity of publisher cohort id in an insights answer.
func affinityOf(body map[string]any, id string) map[string]any {
	for _, a := range body["affinities"].([]any) {
		if a := a.(map[string]any); a["cohort_id"] == id {
			return a
		}
	}
	return nil
}

// within reports whether a released count is within d of want.
func within(v any, want, d float64) bool {
	f, ok := v.(float64)
	return ok && math.Abs(f-want) <= d
}

// TestInsightsNoisy: with the default settings (discrete Laplace, ε 0.5 a question, k 100) the
// report's counts are noisy but close (the cohort question's ε is split over its 5 counts, the
// base's over its 4: scales 10 and 8, so 200 is beyond e^-19), the
// same report again is identical and free, and the publisher's base shows the same noise in the
// reports on two cohorts (one base question per version), paid for once.
func TestInsightsNoisy(t *testing.T) {
	e := newEnvWith(t, nil, nil)
	e.syncEngagedPublisher(1000)
	conn := e.connect(e.orgA.ID, e.orgW.ID, insightsPerms)
	tok := e.tokens["w-member"]
	one := e.insightsCohort(tok, e.dataSourceOf(tok, 100, 850, "email_sha256"), conn.ID) // 750 of A's users
	two := e.insightsCohort(tok, e.dataSourceOf(tok, 0, 600, "email_sha256"), conn.ID)   // 600
	r := e.do(req{method: "GET", path: insightsPath(one, conn.ID), token: tok})
	if r.status != 200 || r.body["noise"] != "laplace" || r.body["epsilon"] != "0.5" || r.body["threshold"] != 100.0 {
		t.Fatalf("insights: %d %s", r.status, r.raw)
	}
	sports := affinityOf(r.body, "sports")
	if !within(r.body["size"], 750, 200) || !within(r.body["base"], 1000, 200) || sports == nil ||
		!within(sports["overlap"], 250, 200) || !within(sports["cohort_size"], 334, 200) {
		t.Errorf("not close to the exact counts: %s", r.raw)
	}
	mr := r.body["match_rates"].([]any)[0].(map[string]any)
	exact := r.body["size"] == 750.0 && r.body["base"] == 1000.0 && sports["overlap"] == 250.0 && sports["cohort_size"] == 334.0 &&
		mr["matched_rows"] == 750.0
	if exact {
		t.Errorf("exact counts released under noise: %s", r.raw)
	}
	if r.body["epsilon_left"] != "9" { // the cohort question and the base question
		t.Errorf("budget after the first report: %v, want 9", r.body["epsilon_left"])
	}
	if again := e.do(req{method: "GET", path: insightsPath(one, conn.ID), token: tok}); string(again.raw) != string(r.raw) {
		t.Errorf("asked again:\n%s\n%s", r.raw, again.raw)
	}
	r2 := e.do(req{method: "GET", path: insightsPath(two, conn.ID), token: tok})
	if r2.status != 200 || !within(r2.body["size"], 600, 200) {
		t.Fatalf("second cohort: %d %s", r2.status, r2.raw)
	}
	if r2.body["base"] != r.body["base"] || affinityOf(r2.body, "sports")["cohort_size"] != sports["cohort_size"] {
		t.Errorf("the base's numbers differ between two cohorts' reports on one version:\n%s\n%s", r.raw, r2.raw)
	}
	if r2.body["epsilon_left"] != "8.5" { // the base was paid for
		t.Errorf("budget after the second report: %v, want 8.5", r2.body["epsilon_left"])
	}
	// The dashboard shows the same report, with the settings and the budget left.
	page := e.do(req{method: "GET", path: "/cohorts/" + two + "/insights?connection_id=" + conn.ID, session: e.login("w-member@example.com")})
	if page.status != 200 || !strings.Contains(string(page.raw), `<span id="insights-budget">8.5</span>`) || !strings.Contains(string(page.raw), "counts carry noise") {
		t.Errorf("dashboard: %d %s", page.status, page.raw)
	}
}

// TestInsightsBudget: each new report is charged to the partner; a repeat is free; once the
// budget is spent the next new report is refused with when the budget returns, through the API
// and on the dashboard, while a report already paid for is still shown.
func TestInsightsBudget(t *testing.T) {
	e := newEnvWith(t, nil, func(c *app.Config) { c.PrivacyBudget = "2" })
	e.syncEngagedPublisher(1000)
	conn := e.connect(e.orgA.ID, e.orgW.ID, insightsPerms)
	tok := e.tokens["w-member"]
	var ids []string
	for i := range 4 {
		ids = append(ids, e.insightsCohort(tok, e.dataSourceOf(tok, 100+i, 850, "email_sha256"), conn.ID))
	}
	// 1 (cohort and base), then 0.5 each: three reports spend the 2.
	for i, want := range []string{"1", "0.5", "0"} {
		r := e.do(req{method: "GET", path: insightsPath(ids[i], conn.ID), token: tok})
		if r.status != 200 || r.body["epsilon_left"] != want {
			t.Fatalf("report %d: %d %s, want epsilon_left %s", i, r.status, r.raw, want)
		}
	}
	r := e.do(req{method: "GET", path: insightsPath(ids[3], conn.ID), token: tok})
	if r.status != http.StatusForbidden || !strings.Contains(string(r.raw), "budget_returns_at") || !strings.Contains(string(r.raw), "2026-11-30") {
		t.Fatalf("over budget: %d %s", r.status, r.raw)
	}
	if r := e.do(req{method: "GET", path: insightsPath(ids[0], conn.ID), token: tok}); r.status != 200 {
		t.Errorf("a report already paid for: %d %s", r.status, r.raw)
	}
	page := e.do(req{method: "GET", path: "/cohorts/" + ids[3] + "/insights?connection_id=" + conn.ID, session: e.login("w-member@example.com")})
	if page.status != 200 || !strings.Contains(string(page.raw), `id="insights-refused"`) || !strings.Contains(string(page.raw), "2026-11-30") {
		t.Errorf("dashboard over budget: %d %s", page.status, page.raw)
	}
}

// TestAttackInsightsOverlap: the attribute attack through a publisher cohort. The attacker builds
// a cohort of 150 users it knows to be in the publisher's "sports" cohort plus the target (a
// publisher user, in "sports" or not at random, in no other publisher cohort and in the same
// country either way), and reads the overlap with "sports" in the insights: 150 or 151. It
// guesses "in sports" above 150.5. The report's question is ε 0.5, so the attacker is right at
// most 62.2% of the time; without noise, always.
func TestAttackInsightsOverlap(t *testing.T) {
	for _, noise := range []string{"laplace", "none"} {
		t.Run(noise, func(t *testing.T) {
			e := attackEnv(t, noise)
			e.syncEngagedPublisher(1200)
			conn := e.connect(e.orgA.ID, e.orgW.ID, insightsPerms)
			tok := e.tokens["w-member"]
			var known []string
			for i := 0; len(known) < 150; i += 6 { // i%6 == 0: sports, GB
				known = append(known, person(i))
			}
			n := trials(noise)
			if noise != "none" {
				n = insightsAttackTrials
			}
			rng := rand.New(rand.NewPCG(1, 17))
			right := 0
			for i := range n {
				present := rng.IntN(2) == 1
				target := person(902 + 6*(i%50)) // i%6 == 2: no publisher cohort, GB
				if present {
					target = person(900 + 6*(i%50)) // sports, GB
				}
				id := e.insightsCohort(tok, e.emailsSource(tok, append(known[:150:150], target)), conn.ID)
				r := e.do(req{method: "GET", path: insightsPath(id, conn.ID), token: tok})
				if r.status != 200 {
					t.Fatalf("insights: %d %s", r.status, r.raw)
				}
				ov, shown := affinityOf(r.body, "sports")["overlap"].(float64)
				if guess := shown && ov > 150.5; guess == present {
					right++
				}
			}
			checkAccuracy(t, "attribute via a publisher cohort (insights overlap)", noise, right, n)
		})
	}
}

// insightsAttackTrials is how many times the insights attack is played against the noise (each
// play builds a cohort): 100 keeps the test near 15 s, and bounds the accuracy at 62.2% plus 3.5
// standard errors (79.2%), while the attack without noise is right every time.
const insightsAttackTrials = 100
