package api_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/cleanroom-oss/cleanroom/identity"
	"github.com/cleanroom-oss/cleanroom/uploads"
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
	if r.status != 200 {
		t.Fatalf("events: %d %s", r.status, r.raw)
	}
	if r := e.do(req{method: "POST", path: "/v1/publisher/events", token: tok, body: map[string]any{}}); r.status != 400 {
		t.Errorf("empty batch: %d", r.status)
	}
	if r := e.do(req{method: "GET", path: "/v1/publisher/versions", token: e.tokens["a-viewer"]}); len(r.body["items"].([]any)) != 2 {
		t.Errorf("versions after events: %s", r.raw)
	}
	// Erasure: the user's identifier is in no stored version any more.
	r = e.do(req{method: "POST", path: "/v1/publisher/erasures", token: tok, body: map[string]any{"user_ids": []string{"u0", "u1"}}})
	if r.status != 200 || r.body["erased"] != 2.0 {
		t.Fatalf("erase: %d %s", r.status, r.raw)
	}
	vs, err := e.store.ListVersions(context.Background(), e.orgA.ID)
	if err != nil || len(vs) != 1 {
		t.Fatalf("versions after erasure: %d %v", len(vs), err)
	}
	v, err := e.api.Uploads.OpenVersion(context.Background(), vs[0])
	if err != nil {
		t.Fatal(err)
	}
	fp, _ := identity.NewFingerprinter(e.keys.Derive(uploads.FingerprintPurpose))
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
