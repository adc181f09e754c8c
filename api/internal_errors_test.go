package api_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInternalTextStaysInternal: when a stored file is missing (as it is after a crash or a
// half-finished clean-up), what tenants see names no blob path and no engine error: an estimate
// answers 500 with a generic message and the request ID, the failed build's job and cohort say
// only that something internal failed; the detail is in the log under the request ID or the job.
func TestInternalTextStaysInternal(t *testing.T) {
	e := newEnv(t)
	var logs bytes.Buffer
	e.api.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	conn, ds := e.ensureCohortInputs()
	ctx := context.Background()
	v, err := e.store.CurrentVersion(ctx, ds)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(e.dir, "blobs", filepath.FromSlash(v.BlobKey))); err != nil {
		t.Fatal(err)
	}
	tok := e.tokens["w-admin"]
	spec := map[string]any{"name": "Lost", "kind": "matched", "connections": []string{conn},
		"query": map[string]any{"op": "any", "conditions": []any{map[string]any{"data_source": ds}}}}
	leaks := func(what, text string) {
		t.Helper()
		for _, secret := range []string{"vaults/", "blob", "Blob", "localblob", "sealed", "data-sources/"} {
			if strings.Contains(text, secret) {
				t.Errorf("%s shows %q: %s", what, secret, text)
			}
		}
	}

	r := e.do(req{method: "POST", path: "/v1/cohorts:estimate", token: tok, body: spec})
	if r.status != http.StatusInternalServerError || r.errCode() != "internal" {
		t.Errorf("estimate over a missing file: %d %s, want 500 internal", r.status, r.raw)
	}
	leaks("the estimate's answer", string(r.raw))
	id := r.header.Get("X-Request-Id")
	if id == "" || !strings.Contains(string(r.raw), id) {
		t.Errorf("the answer lacks its request ID %q: %s", id, r.raw)
	}
	if log := logs.String(); !strings.Contains(log, "request_id="+id) || !strings.Contains(log, v.BlobKey) {
		t.Errorf("the log lacks the request ID and the detail:\n%s", log)
	}

	r = e.do(req{method: "POST", path: "/v1/cohorts", token: tok, body: spec})
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	cohort := r.body["id"].(string)
	e.drainJobs()
	r = e.do(req{method: "GET", path: "/v1/cohorts/" + cohort, token: tok})
	if r.body["status"] != "failed" {
		t.Errorf("cohort over a missing file: %s", r.raw)
	}
	leaks("the cohort", string(r.raw))
	r = e.do(req{method: "GET", path: "/v1/jobs", token: tok})
	failed := 0
	for _, j := range r.body["items"].([]any) {
		j := j.(map[string]any)
		if msg, _ := j["last_error"].(string); msg != "" {
			failed++
			leaks("a job's last error", msg)
		}
	}
	if failed == 0 {
		t.Errorf("no failed job listed: %s", r.raw)
	}
}
