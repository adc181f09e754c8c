package api_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/cleanroom-oss/cleanroom/identity"
	"github.com/cleanroom-oss/cleanroom/pipeline"
)

// TestPublisherSync: the publisher uploads its cohort taxonomy and a bulk profile file, which
// becomes a version; identify and membership events make the next version; an erasure removes
// users from every stored version.
func TestPublisherSync(t *testing.T) {
	e := newEnv(t)
	tok := e.tokens["a-member"]
	if r := e.do(req{method: "POST", path: "/v1/publisher/uploads", token: tok, body: map[string]any{"size": 10}}); r.status != http.StatusConflict {
		t.Errorf("upload before taxonomy: %d %s", r.status, r.raw)
	}
	r := e.do(req{method: "PUT", path: "/v1/publisher/taxonomy", token: tok, body: withHeaders{
		"cohort_id,name,iab_id,standard\nsports,Sports fans,483,true\ntravel,Travel intenders,,false\n", map[string]string{"Content-Type": "text/csv"}}})
	if r.status != 200 || len(r.body["cohorts"].([]any)) != 2 {
		t.Fatalf("taxonomy: %d %s", r.status, r.raw)
	}
	if r := e.do(req{method: "PUT", path: "/v1/publisher/taxonomy", token: e.tokens["b-admin"], body: withHeaders{"cohort_id,name\nx,X\n", nil}}); r.status != http.StatusForbidden {
		t.Errorf("an advertiser syncs an audience: %d", r.status)
	}
	var profiles bytes.Buffer
	profiles.WriteString("user_id\tcountry\tidentifiers\tcohorts\n")
	var emails []string
	for i := range 200 {
		h := hexSHA([]byte(fmt.Sprintf("reader-%d@example.com", i)))
		emails = append(emails, h)
		cohort := "sports"
		if i%2 == 1 {
			cohort = "travel"
		}
		fmt.Fprintf(&profiles, "u%d\tGB\temail_sha256=%s\t%s\n", i, h, cohort)
	}
	data := profiles.Bytes()
	r = e.do(req{method: "POST", path: "/v1/publisher/uploads", token: tok, body: map[string]any{"name": "profiles.tsv", "size": len(data), "sha256": hexSHA(data)}})
	if r.status != http.StatusCreated {
		t.Fatalf("begin: %d %s", r.status, r.raw)
	}
	id := r.body["id"].(string)
	if r := e.do(req{method: "PUT", path: "/v1/uploads/" + id + "/content", token: tok, body: withHeaders{string(data), map[string]string{"Upload-Offset": "0"}}}); r.status != 200 {
		t.Fatalf("part: %d %s", r.status, r.raw)
	}
	e.do(req{method: "POST", path: "/v1/uploads/" + id + "/complete", token: tok, body: map[string]any{}})
	if ran, err := e.runner.RunOnce(context.Background()); !ran || err != nil {
		t.Fatal("no sync job", err)
	}
	r = e.do(req{method: "GET", path: "/v1/uploads/" + id, token: tok})
	if r.body["state"] != "processed" || !strings.Contains(string(r.raw), `"users":200`) {
		t.Fatalf("sync: %s", r.raw)
	}

	// Events: a new user and a membership change.
	r = e.do(req{method: "POST", path: "/v1/publisher/events", token: tok, body: map[string]any{
		"identify":    []map[string]any{{"user_id": "u999", "country": "DE", "identifiers": []map[string]string{{"tag": "maid", "value": "6D92078A-8246-4BA4-AE5B-76104861E7DC"}}}},
		"memberships": []map[string]string{{"user_id": "u1", "cohort_id": "sports", "op": "add"}},
	}})
	rep := e.runAccepted(r, tok, "publisher.events")
	if rep["users"] != 1.0 || rep["rows_read"] != 2.0 {
		t.Errorf("events report: %v", rep)
	}
	if r := e.do(req{method: "POST", path: "/v1/publisher/events", token: tok, body: map[string]any{}}); r.status != 400 {
		t.Errorf("empty batch: %d", r.status)
	}
	if r := e.do(req{method: "GET", path: "/v1/publisher/versions", token: e.tokens["a-viewer"]}); len(r.body["items"].([]any)) != 2 {
		t.Errorf("versions after events: %s", r.raw)
	}
	// Erasure: the user's identifier is in no stored version any more.
	r = e.do(req{method: "POST", path: "/v1/publisher/erasures", token: tok, body: map[string]any{"user_ids": []string{"u0", "u1"}}})
	if rep := e.runAccepted(r, tok, "publisher.erasures"); rep["erased"] != 2.0 || rep["rows_read"] != 2.0 {
		t.Fatalf("erasure report: %v", rep)
	}
	vs, err := e.store.ListVersions(context.Background(), e.orgA.ID)
	if err != nil || len(vs) != 1 {
		t.Fatalf("versions after erasure: %d %v", len(vs), err)
	}
	v, err := e.api.Pipeline.Versions.OpenPublisher(context.Background(), vs[0])
	if err != nil {
		t.Fatal(err)
	}
	fp, _ := identity.NewFingerprinter(e.keys.Derive(pipeline.FingerprintPurpose))
	if _, ok := v.Lookup(identity.TagEmailSHA256, fp.Fingerprint(identity.TagEmailSHA256, emails[0])); ok {
		t.Error("an erased user's identifier is still in the version")
	}
	if _, ok := v.Lookup(identity.TagEmailSHA256, fp.Fingerprint(identity.TagEmailSHA256, emails[2])); !ok {
		t.Error("a kept user's identifier is gone")
	}
	if v.Live() != 199 {
		t.Errorf("live users %d, want 199", v.Live())
	}
}

// runAccepted checks a 202 answer with a job of kind and its location, runs the queued jobs, and
// returns the report recorded on the job's upload (which must be processed).
func (e *env) runAccepted(r *resp, token, kind string) map[string]any {
	e.t.Helper()
	if r.status != http.StatusAccepted || r.body["kind"] != kind || r.body["state"] != "queued" {
		e.t.Fatalf("want 202 with a queued %s job: %d %s", kind, r.status, r.raw)
	}
	loc := fmt.Sprintf("/v1/jobs/%d", int64(r.body["id"].(float64)))
	if r.header.Get("Location") != loc {
		e.t.Errorf("Location %q, want %q", r.header.Get("Location"), loc)
	}
	e.drainJobs()
	j := e.do(req{method: "GET", path: loc, token: token})
	if j.body["state"] != "succeeded" {
		e.t.Fatalf("job: %s", j.raw)
	}
	u := e.do(req{method: "GET", path: "/v1/uploads/" + j.body["args"].(map[string]any)["upload_id"].(string), token: token})
	if u.body["state"] != "processed" {
		e.t.Fatalf("the job's upload: %s", u.raw)
	}
	rep, _ := u.body["report"].(map[string]any)
	return rep
}

// syncAudience uploads a profile file of users u0..u<n-1> (one identifier each) for publisher A,
// with confirm, and returns the processed or failed upload.
func (e *env) syncAudience(tok string, n int, confirm bool) *resp {
	e.t.Helper()
	var b bytes.Buffer
	b.WriteString("user_id\tcountry\tidentifiers\tcohorts\n")
	for i := range n {
		fmt.Fprintf(&b, "u%d\tGB\temail_sha256=%s\tsports\n", i, hexSHA([]byte(fmt.Sprintf("reader-%d@example.com", i))))
	}
	data := b.Bytes()
	r := e.do(req{method: "POST", path: "/v1/publisher/uploads", token: tok, body: map[string]any{"name": "profiles.tsv", "size": len(data), "confirm_drop": confirm}})
	if r.status != http.StatusCreated {
		e.t.Fatalf("begin: %d %s", r.status, r.raw)
	}
	id := r.body["id"].(string)
	if r := e.do(req{method: "PUT", path: "/v1/uploads/" + id + "/content", token: tok, body: withHeaders{string(data), map[string]string{"Upload-Offset": "0"}}}); r.status != 200 {
		e.t.Fatalf("part: %d %s", r.status, r.raw)
	}
	e.do(req{method: "POST", path: "/v1/uploads/" + id + "/complete", token: tok, body: map[string]any{}})
	e.drainJobs()
	return e.do(req{method: "GET", path: "/v1/uploads/" + id, token: tok})
}

// TestProfileFileCannotWipeTheAudience: a profile file without users is refused, and one that
// would drop more than half of the audience needs "confirm_drop"; the audience stays as it was
// until then.
func TestProfileFileCannotWipeTheAudience(t *testing.T) {
	e := newEnv(t)
	tok := e.tokens["a-member"]
	r := e.do(req{method: "PUT", path: "/v1/publisher/taxonomy", token: tok, body: withHeaders{
		"cohort_id,name,iab_id,standard\nsports,Sports fans,483,true\n", map[string]string{"Content-Type": "text/csv"}}})
	if r.status != 200 {
		t.Fatalf("taxonomy: %d %s", r.status, r.raw)
	}
	if r := e.syncAudience(tok, 100, false); r.body["state"] != "processed" {
		t.Fatalf("first sync: %s", r.raw)
	}
	versions := func() int {
		return len(e.do(req{method: "GET", path: "/v1/publisher/versions", token: tok}).body["items"].([]any))
	}
	// A header-only file, even confirmed.
	if r := e.syncAudience(tok, 0, true); r.body["state"] != "failed" || !strings.Contains(fmt.Sprint(r.body["error"]), "no users") {
		t.Errorf("a file without users: %s", r.raw)
	}
	// 40 of 100 users: refused without the confirmation, which the message names.
	r = e.syncAudience(tok, 40, false)
	if msg, _ := r.body["error"].(string); r.body["state"] != "failed" || !strings.Contains(msg, "more than half") {
		t.Errorf("a sync dropping 60%%: %s", r.raw)
	}
	if !strings.Contains(string(r.raw), "confirm_drop") {
		t.Errorf("the refusal does not say how to confirm: %s", r.raw)
	}
	if got := versions(); got != 1 {
		t.Errorf("%d versions after the refusals, want 1", got)
	}
	// Half of them is no drop of more than half; with the confirmation, 40 go through.
	if r := e.syncAudience(tok, 50, false); r.body["state"] != "processed" {
		t.Errorf("a sync keeping half: %s", r.raw)
	}
	if r := e.syncAudience(tok, 20, true); r.body["state"] != "processed" || r.body["confirm_drop"] != true {
		t.Errorf("a confirmed sync dropping 60%%: %s", r.raw)
	}
}
