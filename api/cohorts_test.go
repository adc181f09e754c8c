package api_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
)

// person returns the hashed email of synthetic person i, the same on both sides.
func person(i int) string { return hexSHA([]byte(fmt.Sprintf("person-%d@example.com", i))) }

// syncPublisher gives publisher A an audience of users u0..u<n-1>: person i's email, country GB
// for even i and DE for odd, cohort "sports" (standard) when i%3 == 0 and "travel" (custom) when
// i%3 == 1.
func (e *env) syncPublisher(n int) {
	e.t.Helper()
	var lines []string
	for i := range n {
		country, cohort := "GB", ""
		if i%2 == 1 {
			country = "DE"
		}
		switch i % 3 {
		case 0:
			cohort = "sports"
		case 1:
			cohort = "travel"
		}
		lines = append(lines, fmt.Sprintf("u%d\t%s\temail_sha256=%s\t%s", i, country, person(i), cohort))
	}
	e.syncProfiles(e.tokens["a-admin"], "cohort_id,name,iab_id,standard\nsports,Sports fans,483,true\ntravel,Travel intenders,,false\n", lines)
}

// dataSource creates a data source in org (as token) holding persons [from, to): segment s1 for
// even persons, s2 for odd ones, and returns its ID.
func (e *env) dataSourceOf(token string, from, to int, tag string) string {
	e.t.Helper()
	r := e.do(req{method: "POST", path: "/v1/data-sources", token: token, body: map[string]string{"name": uniq("CRM ")}})
	if r.status != http.StatusCreated {
		e.t.Fatalf("data source: %d %s", r.status, r.raw)
	}
	id := r.body["id"].(string)
	if r := e.do(req{method: "PUT", path: "/v1/data-sources/" + id + "/taxonomy", token: token,
		body: withHeaders{"segment_id,segment_name\ns1,Even\ns2,Odd\n", map[string]string{"Content-Type": "text/csv"}}}); r.status != 200 {
		e.t.Fatalf("taxonomy: %d %s", r.status, r.raw)
	}
	var b bytes.Buffer
	for i := from; i < to; i++ {
		seg := "s1"
		if i%2 == 1 {
			seg = "s2"
		}
		value := person(i)
		if tag == "maid" {
			value = fmt.Sprintf("6d92078a-8246-4ba4-ae5b-%012x", i)
		}
		fmt.Fprintf(&b, "%s\t%s\t%s\n", value, tag, seg)
	}
	e.upload(token, id, b.Bytes(), 1<<20)
	e.drainJobs()
	return id
}

// cohortTarget returns the first target of a cohort as the API shows it.
func (e *env) cohortTarget(token, id string) (cohort, target map[string]any) {
	e.t.Helper()
	r := e.do(req{method: "GET", path: "/v1/cohorts/" + id, token: token})
	if r.status != 200 {
		e.t.Fatalf("get cohort: %d %s", r.status, r.raw)
	}
	return r.body, r.body["targets"].([]any)[0].(map[string]any)
}

func anyOf(conds ...map[string]any) map[string]any {
	return map[string]any{"op": "any", "conditions": conds}
}
func allOf(conds ...map[string]any) map[string]any {
	return map[string]any{"op": "all", "conditions": conds}
}
func seg(ds, s string) map[string]any { return map[string]any{"data_source": ds, "segment": s} }

// TestMatchedCohorts: estimate, create and build matched cohorts through the API; sizes, codes,
// the activation minimum, the privacy threshold, publisher-cohort permissions, tenancy, and the
// rebuilds that follow an erasure, an unlinked data source and a revoked grant.
func TestMatchedCohorts(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.syncPublisher(400)
	conn := e.connect(e.orgA.ID, e.orgW.ID, cleanroom.Permissions{MatchedCohorts: true, StandardCohorts: true, CustomCohorts: true, SharedCustomCohorts: []string{"travel"}})
	tok := e.tokens["w-member"]
	// Persons 100..449: 300 of them (100..399) are the publisher's users.
	ds1 := e.dataSourceOf(tok, 100, 450, "email_sha256")
	// Persons 0..199 in a second data source: 100 more publisher users (0..99).
	ds2 := e.dataSourceOf(tok, 0, 200, "email_sha256")

	// What the workspace may name: the standard cohort (permitted) and the shared custom one.
	r0 := e.do(req{method: "GET", path: "/v1/connections/" + conn.ID + "/publisher-cohorts", token: e.tokens["w-viewer"]})
	if r0.status != 200 || fmt.Sprint(r0.body["items"]) != "[map[iab_id:483 id:sports name:Sports fans standard:true] map[id:travel name:Travel intenders standard:false]]" {
		t.Errorf("publisher cohorts: %d %s", r0.status, r0.raw)
	}
	if r := e.do(req{method: "GET", path: "/v1/connections/" + conn.ID + "/publisher-cohorts", token: e.tokens["a-admin"]}); r.status != 403 {
		t.Errorf("the publisher lists what its partner may use: %d", r.status)
	}

	spec := func(name string, q map[string]any, country ...string) map[string]any {
		return map[string]any{"name": name, "kind": "matched", "query": q, "country": country, "connections": []string{conn.ID}}
	}

	// The estimate predicts what the build finds.
	r := e.do(req{method: "POST", path: "/v1/cohorts:estimate", token: tok, body: spec("All", anyOf(seg(ds1, "")))})
	est := r.body["estimates"].([]any)[0].(map[string]any)
	if r.status != 200 || est["users"] != 300.0 || est["activates"] != true {
		t.Fatalf("estimate: %d %s", r.status, r.raw)
	}
	r = e.do(req{method: "POST", path: "/v1/cohorts:estimate", token: tok, body: spec("Few", allOf(seg(ds1, "s1"), map[string]any{"publisher_cohort": "sports"}), "GB")})
	est = r.body["estimates"].([]any)[0].(map[string]any)
	if r.status != 200 || est["users"] != nil || est["below_threshold"] != true || est["activates"] != false {
		t.Fatalf("small estimate: %d %s", r.status, r.raw)
	}

	// Create: 300 matched users, active, the publisher's first code.
	r = e.do(req{method: "POST", path: "/v1/cohorts", token: tok, body: spec("All matched", anyOf(seg(ds1, "")))})
	if r.status != http.StatusCreated || r.body["status"] != "building" {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	all := r.body["id"].(string)
	e.drainJobs()
	co, tg := e.cohortTarget(tok, all)
	if co["status"] != "active" || tg["size"] != 300.0 || tg["active"] != true || tg["code"] != float64(cleanroom.FirstCohortCode) {
		t.Fatalf("built cohort: %v", co)
	}

	// Segment AND standard cohort, geo-locked: persons 100..399, even, i%3 == 0, GB (even):
	// i%6 == 0 from 102 to 396, 50 users: below the activation minimum and the threshold.
	r = e.do(req{method: "POST", path: "/v1/cohorts", token: tok, body: spec("Sporty lapsed GB",
		allOf(seg(ds1, "s1"), map[string]any{"publisher_cohort": "sports"}), "GB")})
	if r.status != http.StatusCreated {
		t.Fatalf("create small: %d %s", r.status, r.raw)
	}
	small := r.body["id"].(string)
	e.drainJobs()
	co, tg = e.cohortTarget(tok, small)
	if tg["size"] != nil || tg["active"] != false || !strings.Contains(tg["reason"].(string), "activation minimum of 100") ||
		tg["code"] != float64(cleanroom.FirstCohortCode+1) {
		t.Fatalf("small cohort: %v", co)
	}
	if co["status"] != "inactive" || co["status_reason"] != "Not served at any publisher: The cohort has fewer users here than the activation minimum of 100." {
		t.Errorf("small cohort's status: %s %q", co["status"], co["status_reason"])
	}
	if got := e.storedSize(small); got != 50 {
		t.Fatalf("small cohort holds %d users, want 50", got)
	}

	// A shared custom cohort with a group: (travel) AND (s2 OR ds2): travel is i%3 == 1;
	// persons of ds1's s2 (odd, 100..399) or ds2 (0..199).
	want := 0
	for i := range 400 {
		if i%3 == 1 && ((i >= 100 && i%2 == 1) || i < 200) {
			want++
		}
	}
	r = e.do(req{method: "POST", path: "/v1/cohorts", token: tok, body: spec("Travel",
		allOf(map[string]any{"publisher_cohort": "travel"}, anyOf(seg(ds1, "s2"), seg(ds2, ""))))})
	if r.status != http.StatusCreated {
		t.Fatalf("create travel: %d %s", r.status, r.raw)
	}
	travel := r.body["id"].(string)
	e.drainJobs()
	if got := e.storedSize(travel); got != int64(want) {
		t.Fatalf("travel cohort holds %d users, want %d", got, want)
	}

	// Refusals, each naming the problem.
	for _, c := range []struct {
		name   string
		body   map[string]any
		status int
		msg    string
	}{
		{"unshared custom cohort", spec("X", anyOf(map[string]any{"publisher_cohort": "nope"})), 400, "no cohort"},
		{"unknown kind", map[string]any{"name": "X", "kind": "fuzzy", "query": anyOf(seg(ds1, "")), "connections": []string{conn.ID}}, 400, "kind"},
		{"no connection", map[string]any{"name": "X", "kind": "matched", "query": anyOf(seg(ds1, ""))}, 400, "no connection"},
		{"bad country", spec("X", anyOf(seg(ds1, "")), "gb"), 400, "country"},
		{"nested too deep", spec("X", anyOf(anyOf(anyOf(seg(ds1, ""))))), 400, "one level"},
		{"NUL in a segment ID", spec("X", anyOf(seg(ds1, "s1"), seg(ds1, "s1\x00"))), 400, "control character"},
		{"line break in a cohort ID", spec("X", anyOf(map[string]any{"publisher_cohort": "travel\n"})), 400, "control character"},
	} {
		if r := e.do(req{method: "POST", path: "/v1/cohorts", token: tok, body: c.body}); r.status != c.status || !strings.Contains(r.errMessage(), c.msg) {
			t.Errorf("%s: %d %s", c.name, r.status, r.raw)
		}
		if r := e.do(req{method: "POST", path: "/v1/cohorts:estimate", token: tok, body: c.body}); r.status != c.status || !strings.Contains(r.errMessage(), c.msg) {
			t.Errorf("%s: estimate: %d %s", c.name, r.status, r.raw)
		}
	}
	// Permissions are checked at use: with standard cohorts off, "sports" is refused.
	if _, err := e.api.Connections.UpdatePermissions(ctx, cleanroom.NewCaller(e.orgA.ID, cleanroom.RoleAdmin), conn.ID,
		cleanroom.Permissions{MatchedCohorts: true}); err != nil {
		t.Fatal(err)
	}
	if r := e.do(req{method: "POST", path: "/v1/cohorts", token: tok, body: spec("X", anyOf(map[string]any{"publisher_cohort": "sports"}))}); r.status != 403 ||
		!strings.Contains(r.errMessage(), "standard cohorts") {
		t.Errorf("standard cohort without the permission: %d %s", r.status, r.raw)
	}
	// ... and the travel cohort is rebuilt without its custom cohort: an all-query then holds nobody.
	if n, err := e.api.Cohorts.Refresh(ctx); err != nil || n != 2 {
		t.Fatalf("refresh after a permission change: %d %v", n, err)
	}
	e.drainJobs()
	if got := e.storedSize(travel); got != 0 {
		t.Errorf("travel cohort after its custom cohort was unshared: %d users", got)
	}
	co, _ = e.cohortTarget(tok, travel)
	if !strings.Contains(co["status_reason"].(string), "Publisher cohort travel left out") {
		t.Errorf("travel cohort reason: %v", co["status_reason"])
	}

	// Tenancy: another advertiser sees nothing; the publisher sees the cohorts built for it.
	if r := e.do(req{method: "GET", path: "/v1/cohorts/" + all, token: e.tokens["c-admin"]}); r.status != 404 {
		t.Errorf("other org: %d", r.status)
	}
	if r := e.do(req{method: "GET", path: "/v1/cohorts", token: e.tokens["c-admin"]}); len(r.body["items"].([]any)) != 0 {
		t.Errorf("other org's list: %s", r.raw)
	}
	if r := e.do(req{method: "GET", path: "/v1/cohorts", token: e.tokens["a-viewer"]}); len(r.body["items"].([]any)) != 3 {
		t.Errorf("publisher's list: %s", r.raw)
	}
	if r := e.do(req{method: "PATCH", path: "/v1/cohorts/" + all, token: e.tokens["a-admin"], body: map[string]any{"name": "mine"}}); r.status != 403 {
		t.Errorf("publisher renames an advertiser's cohort: %d", r.status)
	}

	// Erasure: users 100..149 leave; the refresh rebuilds what depended on the old audience.
	ids := []string{}
	for i := 100; i < 150; i++ {
		ids = append(ids, fmt.Sprintf("u%d", i))
	}
	r = e.do(req{method: "POST", path: "/v1/publisher/erasures", token: e.tokens["a-admin"], body: map[string]any{"user_ids": ids}})
	if rep := e.runAccepted(r, e.tokens["a-admin"], "publisher.erasures"); rep["erased"] != 50.0 {
		t.Fatalf("erasure: %v", rep)
	}
	if n, err := e.api.Cohorts.Refresh(ctx); err != nil || n != 3 {
		t.Fatalf("refresh after erasure: %d %v", n, err)
	}
	e.drainJobs()
	if _, tg := e.cohortTarget(tok, all); tg["size"] != 250.0 {
		t.Errorf("after erasure: %v", tg)
	}
	if n, err := e.api.Cohorts.Refresh(ctx); err != nil || n != 0 {
		t.Errorf("a second refresh queued %d builds (%v), want none", n, err)
	}

	// Unlink: a cohort over both data sources loses ds2's users (0..99).
	r = e.do(req{method: "POST", path: "/v1/cohorts", token: tok, body: spec("Both", anyOf(seg(ds1, ""), seg(ds2, "")))})
	both := r.body["id"].(string)
	e.drainJobs()
	if got := e.storedSize(both); got != 350 { // 0..399 minus the 50 erased
		t.Fatalf("both: %d users, want 350", got)
	}
	if r := e.do(req{method: "DELETE", path: "/v1/data-sources/" + ds2, token: tok}); r.status != 204 {
		t.Fatalf("unlink: %d %s", r.status, r.raw)
	}
	e.api.Cohorts.Refresh(ctx)
	e.drainJobs()
	if got := e.storedSize(both); got != 250 {
		t.Errorf("both after unlinking ds2: %d users, want 250", got)
	}
	co, _ = e.cohortTarget(tok, both)
	if !strings.Contains(co["status_reason"].(string), "unlinked") {
		t.Errorf("reason after unlink: %v", co["status_reason"])
	}

	// A grant: B's data granted to W builds a cohort; revoking it empties the cohort.
	bds := e.dataSourceOf(e.tokens["b-admin"], 200, 400, "email_sha256")
	r = e.do(req{method: "POST", path: "/v1/data-sources/" + bds + "/grants", token: e.tokens["b-admin"],
		body: map[string]any{"grantee_id": e.orgW.ID, "allow_matched": true}})
	if r.status != http.StatusCreated {
		t.Fatalf("grant: %d %s", r.status, r.raw)
	}
	grant := r.body["id"].(string)
	r = e.do(req{method: "POST", path: "/v1/cohorts", token: tok, body: spec("Granted", anyOf(seg(bds, "")))})
	if r.status != http.StatusCreated {
		t.Fatalf("create over granted data: %d %s", r.status, r.raw)
	}
	granted := r.body["id"].(string)
	e.drainJobs()
	if got := e.storedSize(granted); got != 200 {
		t.Fatalf("granted: %d users, want 200", got)
	}
	if r := e.do(req{method: "DELETE", path: "/v1/grants/" + grant, token: e.tokens["b-admin"]}); r.status != 204 {
		t.Fatalf("revoke: %d %s", r.status, r.raw)
	}
	e.api.Cohorts.Refresh(ctx)
	e.drainJobs()
	co, tg = e.cohortTarget(tok, granted)
	if e.storedSize(granted) != 0 || tg["active"] != false || !strings.Contains(co["status_reason"].(string), "no longer granted") {
		t.Errorf("after the grant was revoked: %v", co)
	}
	// Served nowhere: not active, and the status says so and why.
	if co["status"] != "inactive" || !strings.HasPrefix(co["status_reason"].(string), "Not served at any publisher: ") {
		t.Errorf("after the grant was revoked: %s %q", co["status"], co["status_reason"])
	}
	if r := e.do(req{method: "PATCH", path: "/v1/cohorts/" + granted, token: tok, body: map[string]any{"paused": true}}); r.status != http.StatusConflict {
		t.Errorf("pausing a cohort served nowhere: %d %s", r.status, r.raw)
	}
	// Granted again: the refresh serves it again.
	if r := e.do(req{method: "POST", path: "/v1/data-sources/" + bds + "/grants", token: e.tokens["b-admin"],
		body: map[string]any{"grantee_id": e.orgW.ID, "allow_matched": true}}); r.status != http.StatusCreated {
		t.Fatalf("grant again: %d %s", r.status, r.raw)
	}
	e.api.Cohorts.Refresh(ctx)
	e.drainJobs()
	if co, tg := e.cohortTarget(tok, granted); co["status"] != "active" || tg["active"] != true || co["status_reason"] != nil {
		t.Errorf("granted again: %s %v %v", co["status"], tg["active"], co["status_reason"])
	}

	// Delete: the code is never given out again.
	if r := e.do(req{method: "DELETE", path: "/v1/cohorts/" + both, token: tok}); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.raw)
	}
	if r := e.do(req{method: "GET", path: "/v1/cohorts/" + both, token: tok}); r.status != 404 {
		t.Errorf("deleted cohort: %d", r.status)
	}
	r = e.do(req{method: "POST", path: "/v1/cohorts", token: tok, body: spec("Again", anyOf(seg(ds1, "")))})
	codes := map[float64]bool{}
	lr := e.do(req{method: "GET", path: "/v1/cohorts", token: tok})
	for _, it := range lr.body["items"].([]any) {
		c := it.(map[string]any)["targets"].([]any)[0].(map[string]any)["code"].(float64)
		if codes[c] {
			t.Errorf("code %v used twice", c)
		}
		codes[c] = true
	}
	if c := r.body["targets"].([]any)[0].(map[string]any)["code"].(float64); c != float64(cleanroom.FirstCohortCode+5) {
		t.Errorf("code after a delete: %v, want %d", c, cleanroom.FirstCohortCode+5)
	}
}

// storedSize returns a cohort's exact size at its first target, from the store.
func (e *env) storedSize(id string) int64 {
	e.t.Helper()
	co, err := e.store.FindCohort(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	if co.Status == cleanroom.CohortFailed && co.Targets[0].BlobKey == "" {
		e.t.Fatalf("cohort %s was not built: %s", co.Name, co.StatusReason)
	}
	return co.Targets[0].Size
}

// TestCohortDiagnostics: a data source of a type the publisher does not hold gets the causes
// that say so, with fixes; counts under the threshold are null.
func TestCohortDiagnostics(t *testing.T) {
	e := newEnv(t)
	e.syncPublisher(300)
	conn := e.connect(e.orgA.ID, e.orgW.ID, cleanroom.Permissions{MatchedCohorts: true})
	tok := e.tokens["w-member"]
	maids := e.dataSourceOf(tok, 0, 150, "maid")
	emails := e.dataSourceOf(tok, 0, 250, "email_sha256")

	r := e.do(req{method: "GET", path: "/v1/data-sources/" + maids + "/diagnostics?connection_id=" + conn.ID, token: tok})
	if r.status != 200 {
		t.Fatalf("diagnostics: %d %s", r.status, r.raw)
	}
	src := r.body["data_sources"].([]any)[0].(map[string]any)
	codes := map[string]bool{}
	for _, c := range src["causes"].([]any) {
		c := c.(map[string]any)
		codes[c["code"].(string)] = true
		if c["message"] == "" || c["fix"] == "" {
			t.Errorf("cause without message or fix: %v", c)
		}
	}
	for _, want := range []string{"type_not_held", "bridge_not_configured", "no_shared_type"} {
		if !codes[want] {
			t.Errorf("cause %s missing: %s", want, r.raw)
		}
	}
	if r.body["matched_users"] != nil || !strings.Contains(string(r.raw), `"few_matches"`) {
		t.Errorf("no match should show as null with few_matches: %s", r.raw)
	}

	// The cohort's diagnostics: emails match, counts above the threshold are shown.
	r = e.do(req{method: "POST", path: "/v1/cohorts", token: tok, body: map[string]any{"name": "E", "kind": "matched",
		"query": anyOf(seg(emails, ""), seg(maids, "")), "connections": []string{conn.ID}}})
	id := r.body["id"].(string)
	e.drainJobs()
	r = e.do(req{method: "GET", path: "/v1/cohorts/" + id + "/diagnostics", token: e.tokens["w-viewer"]})
	if r.status != 200 {
		t.Fatalf("cohort diagnostics: %d %s", r.status, r.raw)
	}
	d := r.body["items"].([]any)[0].(map[string]any)
	if d["matched_users"] != 250.0 {
		t.Errorf("matched users: %v", d["matched_users"])
	}
	for _, s := range d["data_sources"].([]any) {
		s := s.(map[string]any)
		if s["data_source_id"] != emails {
			continue
		}
		ty := s["types"].([]any)[0].(map[string]any)
		if ty["type"] != "email_sha256" || ty["advertiser_rows"] != 250.0 || ty["matched_rows"] != 250.0 || ty["match_rate"] != 1.0 ||
			ty["publisher_identifiers"] != 300.0 {
			t.Errorf("email diagnostics: %v", ty)
		}
	}
	if r := e.do(req{method: "GET", path: "/v1/cohorts/" + id + "/diagnostics", token: e.tokens["c-admin"]}); r.status != 404 {
		t.Errorf("another org reads diagnostics: %d", r.status)
	}
}

// syncModelPublisher gives publisher A n users (person i's email, GB) in 12 custom cohorts k0..k11:
// k0 holds every user with i%4 == 0 and a few others, the rest are noise.
func (e *env) syncModelPublisher(n int) {
	e.t.Helper()
	tax := "cohort_id,name,iab_id,standard\n"
	for j := range 12 {
		tax += fmt.Sprintf("k%d,Cohort %d,,false\n", j, j)
	}
	var lines []string
	for i := range n {
		var cs []string
		for j := range 12 {
			h := (i*2654435761 + j*40503) % 1000
			if (j == 0 && (i%4 == 0 || h < 50)) || (j > 0 && h < 300) {
				cs = append(cs, fmt.Sprintf("k%d", j))
			}
		}
		lines = append(lines, fmt.Sprintf("u%d\tGB\temail_sha256=%s\t%s", i, person(i), strings.Join(cs, ",")))
	}
	e.syncProfiles(e.tokens["a-admin"], tax, lines)
}

// TestModeledCohort: a lookalike trains into awaiting_selection with a curve and its features,
// becomes active at the chosen point with exactly the curve's reach (plus the seeds on request),
// and keeps its similarity when a new upload retrains it.
func TestModeledCohort(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.syncModelPublisher(3000)
	conn := e.connect(e.orgA.ID, e.orgW.ID, cleanroom.Permissions{MatchedCohorts: true, ModeledAudiences: true,
		CustomCohorts: true, SharedCustomCohorts: []string{"k0", "k1", "k2"}})
	tok := e.tokens["w-member"]
	ds := e.dataSourceOf(tok, 0, 2000, "email_sha256")
	// Seeds: the data source's even persons (segment s1), 1000 users; half of them (i%4 == 0)
	// are in k0, the cohort the model should weigh most.
	r := e.do(req{method: "POST", path: "/v1/cohorts", token: tok, body: map[string]any{"name": "Lookalike", "kind": "modeled",
		"query": anyOf(seg(ds, "s1")), "connections": []string{conn.ID}}})
	if r.status != http.StatusCreated || r.body["status"] != "training" {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	id := r.body["id"].(string)
	e.drainJobs()
	co, tg := e.cohortTarget(tok, id)
	if co["status"] != "awaiting_selection" || tg["active"] != false {
		t.Fatalf("after training: %v", co)
	}
	model := tg["model"].(map[string]any)
	curve := model["curve"].([]any)
	if len(curve) < 20 || model["features"].([]any)[0].(map[string]any)["id"] != "k0" || model["hidden_features"] != 9.0 {
		t.Fatalf("model: %v", model)
	}
	// Only the shared cohorts are named to the advertiser; the publisher sees them all.
	for _, f := range model["features"].([]any) {
		if id := f.(map[string]any)["id"]; id != "k0" && id != "k1" && id != "k2" {
			t.Errorf("an unshared publisher cohort is named: %v", id)
		}
	}
	r = e.do(req{method: "GET", path: "/v1/cohorts/" + id, token: e.tokens["a-viewer"]})
	if pm := r.body["targets"].([]any)[0].(map[string]any)["model"].(map[string]any); len(pm["features"].([]any)) != 12 || pm["hidden_features"] != 0.0 {
		t.Errorf("publisher's view of the model: %v", pm)
	}
	var at90 float64
	for _, p := range curve {
		p := p.(map[string]any)
		if p["similarity"] == 0.9 {
			at90 = p["reach"].(float64)
		}
	}
	if at90 < 100 {
		t.Fatalf("no reach at similarity 0.9: %v", curve)
	}

	// Choose 0.9: active with the curve's reach.
	if r := e.do(req{method: "PATCH", path: "/v1/cohorts/" + id, token: tok, body: map[string]any{"similarity": 0.9}}); r.status != 200 || r.body["status"] != "building" {
		t.Fatalf("choose: %d %s", r.status, r.raw)
	}
	e.drainJobs()
	co, tg = e.cohortTarget(tok, id)
	if co["status"] != "active" || tg["size"] != at90 || tg["active"] != true || tg["seeds"] != 1000.0 {
		t.Fatalf("after choosing 0.9: %v", co)
	}
	// With the seeds.
	e.do(req{method: "PATCH", path: "/v1/cohorts/" + id, token: tok, body: map[string]any{"include_seeds": true}})
	e.drainJobs()
	if _, tg = e.cohortTarget(tok, id); tg["size"] != at90+1000 {
		t.Fatalf("with seeds: %v, want %v", tg["size"], at90+1000)
	}
	// Pause and resume.
	if r := e.do(req{method: "PATCH", path: "/v1/cohorts/" + id, token: tok, body: map[string]any{"paused": true}}); r.body["status"] != "paused" ||
		r.body["targets"].([]any)[0].(map[string]any)["active"] != false {
		t.Fatalf("pause: %s", r.raw)
	}
	if r := e.do(req{method: "PATCH", path: "/v1/cohorts/" + id, token: tok, body: map[string]any{"paused": false}}); r.body["status"] != "active" ||
		r.body["targets"].([]any)[0].(map[string]any)["active"] != true {
		t.Fatalf("resume: %s", r.raw)
	}
	// A new upload retrains; the chosen similarity stays and the cohort ends active.
	data := ""
	for i := 0; i < 2400; i++ {
		data += fmt.Sprintf("%s\temail_sha256\ts1\n", person(i*2))
	}
	e.upload(tok, ds, []byte(data), 1<<20)
	e.drainJobs()
	if n, err := e.api.Cohorts.Refresh(ctx); err != nil || n != 1 {
		t.Fatalf("refresh: %d %v", n, err)
	}
	e.drainJobs()
	co, tg = e.cohortTarget(tok, id)
	if co["status"] != "active" || co["similarity"] != 0.9 || tg["seeds"] != 1500.0 {
		t.Fatalf("after retraining: %v", co)
	}
}

// TestModeledCohortNeedsFeatures: too few publisher cohorts fails the training with a reason that
// says what to do.
func TestModeledCohortNeedsFeatures(t *testing.T) {
	e := newEnv(t)
	e.syncPublisher(400)
	conn := e.connect(e.orgA.ID, e.orgW.ID, cleanroom.Permissions{ModeledAudiences: true})
	tok := e.tokens["w-member"]
	ds := e.dataSourceOf(tok, 0, 150, "email_sha256")
	r := e.do(req{method: "POST", path: "/v1/cohorts", token: tok, body: map[string]any{"name": "L", "kind": "modeled",
		"query": anyOf(seg(ds, "")), "connections": []string{conn.ID}}})
	id := r.body["id"].(string)
	e.drainJobs()
	co, _ := e.cohortTarget(tok, id)
	if co["status"] != "failed" || !strings.Contains(co["status_reason"].(string), "needs at least 10") ||
		!strings.Contains(co["status_reason"].(string), "more custom cohorts") {
		t.Fatalf("too few features: %v", co)
	}
	// Without the modeled permission the cohort is refused up front.
	if r := e.do(req{method: "POST", path: "/v1/cohorts", token: tok, body: map[string]any{"name": "M", "kind": "matched",
		"query": anyOf(seg(ds, "")), "connections": []string{conn.ID}}}); r.status != 403 || !strings.Contains(r.errMessage(), "matched cohorts") {
		t.Errorf("matched without the permission: %d %s", r.status, r.raw)
	}
}

// TestDiagnosticsFromTheUpload: the ingest report's refused rows (raw emails, MD5 hashes,
// all-zero MAIDs), the rows kept without unknown segments, and emails hashed without normalising (they match far less than the MAIDs of the same people) are
// named as causes with their fixes.
func TestDiagnosticsFromTheUpload(t *testing.T) {
	e := newEnv(t)
	var lines []string
	for i := range 400 {
		lines = append(lines, fmt.Sprintf("u%d\tGB\temail_sha256=%s,maid=%s\tnews", i, person(i), maidOf(i)))
	}
	e.syncProfiles(e.tokens["a-admin"], "cohort_id,name\nnews,News\n", lines)
	conn := e.connect(e.orgA.ID, e.orgW.ID, cleanroom.Permissions{MatchedCohorts: true})
	wt := e.tokens["w-member"]
	r := e.do(req{method: "POST", path: "/v1/data-sources", token: wt, body: map[string]string{"name": "Messy CRM"}})
	ds := r.body["id"].(string)
	e.do(req{method: "PUT", path: "/v1/data-sources/" + ds + "/taxonomy", token: wt, body: withHeaders{"segment_id,segment_name\ns1,All\n",
		map[string]string{"Content-Type": "text/csv"}}})
	var b bytes.Buffer
	for i := range 300 {
		fmt.Fprintf(&b, "%s\tmaid\ts1\n", maidOf(i))
		// Hashed as typed, in capitals: a valid SHA-256 that matches nobody.
		fmt.Fprintf(&b, "%s\temail_sha256\ts1\n", hexSHA([]byte(fmt.Sprintf("PERSON-%d@EXAMPLE.COM", i))))
	}
	for i := range 20 {
		fmt.Fprintf(&b, "person-%d@example.com\temail_sha256\ts1\n", i)
	}
	for i := range 10 {
		fmt.Fprintf(&b, "%s\temail_sha256\ts1\n", hexSHA([]byte(fmt.Sprint(i)))[:32])
	}
	for range 5 { // limited ad tracking
		fmt.Fprintf(&b, "00000000-0000-0000-0000-000000000000\tmaid\ts1\n")
	}
	for i := range 6 { // a segment the taxonomy lacks: kept, with a warning
		fmt.Fprintf(&b, "%s\tmaid\ts1,s9\n", maidOf(1000+i))
	}
	if r := e.uploadWith(wt, ds, b.Bytes(), 1<<20, 0.2); r.body["state"] != "processed" {
		t.Fatalf("upload: %s", r.raw)
	}
	r = e.do(req{method: "GET", path: "/v1/data-sources/" + ds + "/diagnostics?connection_id=" + conn.ID, token: wt})
	if r.status != 200 {
		t.Fatalf("diagnostics: %d %s", r.status, r.raw)
	}
	src := r.body["data_sources"].([]any)[0].(map[string]any)
	causes := map[string]map[string]any{}
	for _, c := range src["causes"].([]any) {
		c := c.(map[string]any)
		causes[c["code"].(string)] = c
	}
	if c := causes["unhashed_values"]; c == nil || c["rows"] != 20.0 || !strings.Contains(c["fix"].(string), "cleanroom prepare") {
		t.Errorf("unhashed values: %v", c)
	}
	if c := causes["wrong_hash"]; c == nil || c["rows"] != 10.0 {
		t.Errorf("wrong hash: %v", c)
	}
	if c := causes["normalisation"]; c == nil || c["type"] != "email_sha256" {
		t.Errorf("normalisation: %v (all: %s)", c, r.raw)
	}
	if c := causes["zero_maid"]; c == nil || c["rows"] != 5.0 || !strings.Contains(c["message"].(string), "all-zero") || c["fix"] == "" {
		t.Errorf("zero MAIDs: %v", c)
	}
	if c := causes["unknown_segments"]; c == nil || c["rows"] != 6.0 || !strings.Contains(c["fix"].(string), "taxonomy") ||
		fmt.Sprint(c["reasons"]) != "[unknown_segment]" {
		t.Errorf("unknown segments: %v", c)
	}
	if c := causes["invalid_values"]; c != nil {
		t.Errorf("rows left to \"other problems\": %v", c)
	}
	if src["rows_rejected"] != 35.0 || r.body["matched_users"] != 300.0 {
		t.Errorf("counts: rejected %v, matched %v", src["rows_rejected"], r.body["matched_users"])
	}
	for code := range causes {
		if code == "type_not_held" || code == "no_shared_type" {
			t.Errorf("wrong cause %s", code)
		}
	}
}

// TestCohortGrantExpiry: when a grant runs out, no one acts, and the next refresh rebuilds the
// cohort without the data.
func TestCohortGrantExpiry(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.syncPublisher(400)
	conn := e.connect(e.orgA.ID, e.orgW.ID, cleanroom.Permissions{MatchedCohorts: true})
	bds := e.dataSourceOf(e.tokens["b-admin"], 0, 300, "email_sha256")
	if r := e.do(req{method: "POST", path: "/v1/data-sources/" + bds + "/grants", token: e.tokens["b-admin"],
		body: map[string]any{"grantee_id": e.orgW.ID, "allow_matched": true, "expires_at": e.now.Add(time.Hour)}}); r.status != http.StatusCreated {
		t.Fatalf("grant: %d %s", r.status, r.raw)
	}
	r := e.do(req{method: "POST", path: "/v1/cohorts", token: e.tokens["w-member"], body: map[string]any{"name": "Granted", "kind": "matched",
		"query": anyOf(seg(bds, "")), "connections": []string{conn.ID}}})
	id := r.body["id"].(string)
	e.drainJobs()
	if got := e.storedSize(id); got != 300 {
		t.Fatalf("before expiry: %d users", got)
	}
	if n, _ := e.api.Cohorts.Refresh(ctx); n != 0 {
		t.Fatalf("refresh before expiry queued %d builds", n)
	}
	e.now = e.now.Add(2 * time.Hour)
	if n, err := e.api.Cohorts.Refresh(ctx); err != nil || n != 1 {
		t.Fatalf("refresh after expiry: %d %v", n, err)
	}
	e.drainJobs()
	if got := e.storedSize(id); got != 0 {
		t.Errorf("after expiry: %d users", got)
	}
	// Served nowhere: the status says so, and why.
	if co, _ := e.cohortTarget(e.tokens["w-member"], id); co["status"] != "inactive" ||
		!strings.HasPrefix(co["status_reason"].(string), "Not served at any publisher") || !strings.Contains(co["status_reason"].(string), "no longer granted") {
		t.Errorf("after expiry: %s %q", co["status"], co["status_reason"])
	}
}

// connect creates a connection from a publisher to a partner with the given permissions.
func (e *env) connect(publisherID, partnerID string, perms cleanroom.Permissions) *cleanroom.Connection {
	e.t.Helper()
	conn, _, err := e.api.Connections.CreateConnection(context.Background(), publisherID, partnerID, perms)
	if err != nil {
		e.t.Fatal(err)
	}
	return conn
}

// syncProfiles syncs a publisher's audience, as the given token, from a cohort taxonomy (CSV) and
// profile lines (user_id, country, identifiers, cohorts).
func (e *env) syncProfiles(token, taxonomy string, lines []string) {
	e.t.Helper()
	if r := e.do(req{method: "PUT", path: "/v1/publisher/taxonomy", token: token, body: withHeaders{taxonomy,
		map[string]string{"Content-Type": "text/csv"}}}); r.status != 200 {
		e.t.Fatalf("taxonomy: %d %s", r.status, r.raw)
	}
	e.syncProfileFile(token, []byte("user_id\tcountry\tidentifiers\tcohorts\n"+strings.Join(lines, "\n")+"\n"))
}

// syncProfileFile uploads a whole profile file as the publisher's audience (the taxonomy set).
func (e *env) syncProfileFile(token string, data []byte) {
	e.t.Helper()
	r := e.do(req{method: "POST", path: "/v1/publisher/uploads", token: token, body: map[string]any{"name": "p.tsv", "size": len(data), "sha256": hexSHA(data)}})
	if r.status != http.StatusCreated {
		e.t.Fatalf("begin: %d %s", r.status, r.raw)
	}
	id := r.body["id"].(string)
	e.do(req{method: "PUT", path: "/v1/uploads/" + id + "/content", token: token, body: withHeaders{string(data), map[string]string{"Upload-Offset": "0"}}})
	e.do(req{method: "POST", path: "/v1/uploads/" + id + "/complete", token: token, body: map[string]any{}})
	e.drainJobs()
	if r := e.do(req{method: "GET", path: "/v1/uploads/" + id, token: token}); r.body["state"] != "processed" {
		e.t.Fatalf("sync: %s", r.raw)
	}
}

func maidOf(i int) string { return fmt.Sprintf("6d92078a-8246-4ba4-ae5b-%012x", i) }

// TestCohortAcrossPublishers: one cohort of an advertiser (operator-driven workflow) targets two
// publishers: one holding emails and MAIDs (a person matched by both counts once), one holding
// only MAIDs, reached through an identity bridge from emails. Each gets its own code and users.
func TestCohortAcrossPublishers(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var a, p2 []string
	for i := range 400 {
		a = append(a, fmt.Sprintf("u%d\tGB\temail_sha256=%s,maid=%s\tnews", i, person(i), maidOf(i)))
		p2 = append(p2, fmt.Sprintf("v%d\tDE\tmaid=%s\tnews", i, maidOf(i)))
	}
	e.syncProfiles(e.tokens["a-admin"], "cohort_id,name\nnews,News\n", a)
	pub2 := e.newOrg("Evening Post", cleanroom.OrgPublisher, true)
	admin2 := e.addMember(pub2.ID, "ops@eveningpost.example", cleanroom.RoleAdmin)
	e.syncProfiles(e.issueToken(admin2.ID, pub2.ID), "cohort_id,name\nnews,News\n", p2)

	// The operator's bridge for the second publisher: person i's email -> MAID i, for i < 300.
	op := e.tokens["operator"]
	r := e.do(req{method: "POST", path: "/v1/admin/bridges", token: op, body: map[string]any{"name": "Graph", "publisher_id": pub2.ID}})
	bridge := r.body["id"].(string)
	var mapping []byte
	for i := range 300 {
		mapping = fmt.Appendf(mapping, "email_sha256\t%s\tmaid\t%s\n", person(i), maidOf(i))
	}
	r = e.do(req{method: "POST", path: "/v1/admin/bridges/" + bridge + "/uploads", token: op, body: map[string]any{"name": "m.tsv", "size": len(mapping), "sha256": hexSHA(mapping)}})
	up := r.body["id"].(string)
	inP2 := e.issueToken(e.op.ID, pub2.ID)
	e.do(req{method: "PUT", path: "/v1/uploads/" + up + "/content", token: inP2, body: withHeaders{string(mapping), map[string]string{"Upload-Offset": "0"}}})
	e.do(req{method: "POST", path: "/v1/uploads/" + up + "/complete", token: inP2, body: map[string]any{}})
	e.drainJobs()

	c1 := e.connect(e.orgA.ID, e.orgB.ID, cleanroom.Permissions{MatchedCohorts: true})
	c2 := e.connect(pub2.ID, e.orgB.ID, cleanroom.Permissions{MatchedCohorts: true})
	tok := e.tokens["b-member"]
	// B holds persons 100..349 by email, and persons 100..199 by MAID as well.
	r = e.do(req{method: "POST", path: "/v1/data-sources", token: tok, body: map[string]string{"name": "CRM"}})
	ds := r.body["id"].(string)
	e.do(req{method: "PUT", path: "/v1/data-sources/" + ds + "/taxonomy", token: tok, body: withHeaders{"segment_id,segment_name\ns1,All\n",
		map[string]string{"Content-Type": "text/csv"}}})
	var rows []byte
	for i := 100; i < 350; i++ {
		rows = fmt.Appendf(rows, "%s\temail_sha256\ts1\n", person(i))
		if i < 200 {
			rows = fmt.Appendf(rows, "%s\tmaid\ts1\n", maidOf(i))
		}
	}
	e.upload(tok, ds, rows, 1<<20)
	e.drainJobs()

	r = e.do(req{method: "POST", path: "/v1/cohorts", token: tok, body: map[string]any{"name": "Everywhere", "kind": "matched",
		"query": anyOf(seg(ds, "")), "connections": []string{c1.ID, c2.ID}}})
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	id := r.body["id"].(string)
	e.drainJobs()
	co, err := e.store.FindCohort(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][2]int64{}
	for _, tg := range co.Targets {
		got[tg.PublisherID] = [2]int64{tg.Code, tg.Size}
	}
	// At A: 250 people, each counted once though 100 match by email and MAID. At the second
	// publisher: MAIDs 100..199 exactly, and emails 100..299 through the bridge: 200 people.
	want := map[string][2]int64{e.orgA.ID: {cleanroom.FirstCohortCode, 250}, pub2.ID: {cleanroom.FirstCohortCode, 200}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("targets %v, want %v", got, want)
	}
	// The diagnostics at the second publisher show the bridged type.
	r = e.do(req{method: "GET", path: "/v1/cohorts/" + id + "/diagnostics", token: tok})
	bridged := false
	for _, d := range r.body["items"].([]any) {
		d := d.(map[string]any)
		if d["publisher_id"] != pub2.ID {
			continue
		}
		for _, ty := range d["data_sources"].([]any)[0].(map[string]any)["types"].([]any) {
			ty := ty.(map[string]any)
			if ty["type"] == "email_sha256" && ty["publisher_type"] == "maid" && ty["bridged"] == true && ty["matched_rows"] == 200.0 {
				bridged = true
			}
		}
	}
	if !bridged {
		t.Errorf("no bridged email row in the diagnostics: %s", r.raw)
	}
	// Each publisher sees the cohort with its own code; neither sees the other's target.
	for _, pub := range []struct {
		token, id string
	}{{e.tokens["a-viewer"], e.orgA.ID}, {e.issueToken(admin2.ID, pub2.ID), pub2.ID}} {
		r := e.do(req{method: "GET", path: "/v1/cohorts", token: pub.token})
		items := r.body["items"].([]any)
		if len(items) != 1 {
			t.Fatalf("publisher %s lists %d cohorts", pub.id, len(items))
		}
		co := items[0].(map[string]any)
		ts := co["targets"].([]any)
		if len(ts) != 1 || ts[0].(map[string]any)["publisher_id"] != pub.id || co["query"] != nil {
			t.Errorf("publisher %s sees %v targets and query %v", pub.id, ts, co["query"])
		}
	}
}

// TestCohortConnectionsChange: taking a connection off a cohort removes its target and its member
// file; adding one gives it the publisher's next code.
func TestCohortConnectionsChange(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var lines []string
	for i := range 300 {
		lines = append(lines, fmt.Sprintf("u%d\tGB\temail_sha256=%s\tnews", i, person(i)))
	}
	e.syncProfiles(e.tokens["a-admin"], "cohort_id,name\nnews,News\n", lines)
	c1 := e.connect(e.orgA.ID, e.orgB.ID, cleanroom.Permissions{MatchedCohorts: true})
	pub2 := e.newOrg("Evening Post", cleanroom.OrgPublisher, true)
	admin2 := e.addMember(pub2.ID, "ops@eveningpost.example", cleanroom.RoleAdmin)
	e.syncProfiles(e.issueToken(admin2.ID, pub2.ID), "cohort_id,name\nnews,News\n", lines)
	c2 := e.connect(pub2.ID, e.orgB.ID, cleanroom.Permissions{MatchedCohorts: true})
	tok := e.tokens["b-member"]
	ds := e.dataSourceOf(tok, 0, 200, "email_sha256")
	r := e.do(req{method: "POST", path: "/v1/cohorts", token: tok, body: map[string]any{"name": "Both", "kind": "matched",
		"query": anyOf(seg(ds, "")), "connections": []string{c1.ID, c2.ID}}})
	id := r.body["id"].(string)
	e.drainJobs()
	co, _ := e.store.FindCohort(ctx, id)
	gone := co.Target(c2.ID).BlobKey
	if gone == "" || co.Target(c1.ID).Size != 200 || co.Target(c2.ID).Size != 200 {
		t.Fatalf("built: %+v", co.Targets)
	}
	r = e.do(req{method: "PATCH", path: "/v1/cohorts/" + id, token: tok, body: map[string]any{"connections": []string{c1.ID}}})
	if r.status != 200 || len(r.body["targets"].([]any)) != 1 {
		t.Fatalf("patch: %d %s", r.status, r.raw)
	}
	if _, err := e.api.Uploads.Blobs.Stat(ctx, gone); !errors.Is(err, cleanroom.ErrBlobNotFound) {
		t.Errorf("the removed target's member file is still there: %v", err)
	}
	e.drainJobs()
	r = e.do(req{method: "PATCH", path: "/v1/cohorts/" + id, token: tok, body: map[string]any{"connections": []string{c1.ID, c2.ID}}})
	e.drainJobs()
	co, _ = e.store.FindCohort(ctx, id)
	if co.Status != cleanroom.CohortActive || co.Target(c2.ID) == nil || co.Target(c2.ID).Code != cleanroom.FirstCohortCode+1 || co.Target(c2.ID).Size != 200 {
		t.Errorf("after adding the connection back: %+v", co.Targets)
	}
	// A paused cohort stays paused through a rebuild.
	e.do(req{method: "PATCH", path: "/v1/cohorts/" + id, token: tok, body: map[string]any{"paused": true}})
	e.do(req{method: "PATCH", path: "/v1/cohorts/" + id, token: tok, body: map[string]any{"connections": []string{c1.ID}}})
	e.drainJobs()
	co, _ = e.store.FindCohort(ctx, id)
	if co.Status != cleanroom.CohortPaused || co.Targets[0].Active || co.Targets[0].Size != 200 {
		t.Errorf("a paused cohort after a rebuild: %s %+v", co.Status, co.Targets)
	}
}

// TestModeledEstimate: a lookalike's estimate counts its seeds and says whether they are enough
// to learn from.
func TestModeledEstimate(t *testing.T) {
	e := newEnv(t)
	e.syncPublisher(400)
	conn := e.connect(e.orgA.ID, e.orgW.ID, cleanroom.Permissions{ModeledAudiences: true})
	tok := e.tokens["w-member"]
	ds := e.dataSourceOf(tok, 0, 150, "email_sha256")
	for _, c := range []struct {
		segment  string
		activate bool
	}{{"", true}, {"s1", false}} { // 150 seeds; 75 in s1
		r := e.do(req{method: "POST", path: "/v1/cohorts:estimate", token: tok, body: map[string]any{"kind": "modeled",
			"query": anyOf(seg(ds, c.segment)), "connections": []string{conn.ID}}})
		est := r.body["estimates"].([]any)[0].(map[string]any)
		if r.status != 200 || est["activates"] != c.activate || (!c.activate && !strings.Contains(est["reason"].(string), "at least 100")) {
			t.Errorf("segment %q: %d %s", c.segment, r.status, r.raw)
		}
	}
}
