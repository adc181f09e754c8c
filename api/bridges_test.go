package api_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/cleanroom-oss/cleanroom/identity"
	"github.com/cleanroom-oss/cleanroom/pipeline"
)

// TestBridge: the operator registers a bridge for publisher A, uploads a mapping as an operator
// acting in A, and the processed version maps email hashes to mobile advertising IDs.
func TestBridge(t *testing.T) {
	e := newEnv(t)
	op := e.tokens["operator"]

	for _, tt := range []struct {
		name string
		body map[string]any
		want int
	}{
		{"no publisher", map[string]any{"name": "X"}, http.StatusBadRequest},
		{"an advertiser", map[string]any{"name": "X", "publisher_id": e.orgB.ID}, http.StatusBadRequest},
		{"unknown org", map[string]any{"name": "X", "publisher_id": "01890000-0000-7000-8000-000000000000"}, http.StatusBadRequest},
		{"bad custom tag", map[string]any{"name": "X", "publisher_id": e.orgA.ID, "tags": []string{"Bad Tag"}}, http.StatusBadRequest},
		{"built-in tag as custom", map[string]any{"name": "X", "publisher_id": e.orgA.ID, "tags": []string{"idfa"}}, http.StatusBadRequest},
		{"no name", map[string]any{"publisher_id": e.orgA.ID}, http.StatusBadRequest},
	} {
		if r := e.do(req{method: "POST", path: "/v1/admin/bridges", token: op, body: tt.body}); r.status != tt.want {
			t.Errorf("%s: %d %s, want %d", tt.name, r.status, r.raw, tt.want)
		}
	}
	r := e.do(req{method: "POST", path: "/v1/admin/bridges", token: op, body: map[string]any{"name": "Acme graph", "publisher_id": e.orgA.ID, "tags": []string{"acme_id"}}})
	if r.status != http.StatusCreated || r.body["name"] != "Acme graph" || r.body["publisher_id"] != e.orgA.ID {
		t.Fatalf("register: %d %s", r.status, r.raw)
	}
	id := r.body["id"].(string)
	if r.header.Get("Location") != "/v1/admin/bridges/"+id {
		t.Errorf("Location %q", r.header.Get("Location"))
	}
	for _, path := range []string{"/v1/admin/bridges/" + id, "/v1/admin/bridges/" + id + "/uploads"} {
		method := "GET"
		var body any
		if path != "/v1/admin/bridges/"+id {
			method, body = "POST", map[string]any{"size": 10}
		}
		for _, label := range []string{"a-admin", "b-admin"} {
			if r := e.do(req{method: method, path: path, token: e.tokens[label], body: body}); r.status != http.StatusForbidden {
				t.Errorf("%s %s as %s: %d, want 403", method, path, label, r.status)
			}
		}
	}
	// Another org's taxonomy is no bridge.
	if r := e.do(req{method: "GET", path: "/v1/admin/bridges/" + e.orgA.ID, token: op}); r.status != http.StatusNotFound {
		t.Errorf("a publisher's ID as a bridge: %d %s", r.status, r.raw)
	}

	// The mapping: 3 email hashes, 2 links each; the custom tag maps to a MAID too.
	var data []byte
	var emails, maids []string
	for i := range 3 {
		emails = append(emails, hexSHA([]byte(fmt.Sprintf("person-%d@example.com", i))))
		for j := range 2 {
			m := fmt.Sprintf("6d92078a-8246-4ba4-ae5b-7610486100%d%d", i, j)
			maids = append(maids, m)
			data = fmt.Appendf(data, "email_sha256\t%s\tmaid\t%s\n", emails[i], m)
		}
	}
	data = fmt.Appendf(data, "acme_id\tACME-1\tmaid\t%s\n", maids[0])
	r = e.do(req{method: "POST", path: "/v1/admin/bridges/" + id + "/uploads", token: op, body: map[string]any{"name": "map.tsv", "size": len(data), "sha256": hexSHA(data)}})
	if r.status != http.StatusCreated || r.body["target"] != "bridge" || r.body["target_id"] != id || r.body["org_id"] != e.orgA.ID {
		t.Fatalf("begin: %d %s", r.status, r.raw)
	}
	up := r.body["id"].(string)
	// The org-less operator token may not send parts; one acting in the publisher may.
	if r := e.do(req{method: "PUT", path: "/v1/uploads/" + up + "/content", token: op, body: withHeaders{string(data), map[string]string{"Upload-Offset": "0"}}}); r.status != http.StatusForbidden {
		t.Errorf("part with an org-less token: %d", r.status)
	}
	inA := e.issueToken(e.op.ID, e.orgA.ID)
	// The publisher's own staff cannot see or touch the bridge's upload.
	if r := e.do(req{method: "PUT", path: "/v1/uploads/" + up + "/content", token: e.tokens["a-admin"], body: withHeaders{string(data), map[string]string{"Upload-Offset": "0"}}}); r.status != http.StatusNotFound {
		t.Errorf("publisher admin writes a bridge upload: %d", r.status)
	}
	if r := e.do(req{method: "PUT", path: "/v1/uploads/" + up + "/content", token: inA, body: withHeaders{string(data), map[string]string{"Upload-Offset": "0"}}}); r.status != 200 {
		t.Fatalf("part: %d %s", r.status, r.raw)
	}
	if r := e.do(req{method: "POST", path: "/v1/uploads/" + up + "/complete", token: inA, body: map[string]any{}}); r.status != http.StatusAccepted {
		t.Fatalf("complete: %d %s", r.status, r.raw)
	}
	if ran, err := e.runner.RunOnce(context.Background()); !ran || err != nil {
		t.Fatal("no bridge job", ran, err)
	}
	r = e.do(req{method: "GET", path: "/v1/uploads/" + up, token: inA})
	if r.body["state"] != "processed" {
		t.Fatalf("processing: %s", r.raw)
	}
	r = e.do(req{method: "GET", path: "/v1/admin/bridges/" + id, token: op})
	vs, _ := r.body["versions"].([]any)
	if r.status != 200 || len(vs) != 1 || vs[0].(map[string]any)["rows"] != 7.0 || vs[0].(map[string]any)["owner_type"] != "bridge" {
		t.Fatalf("bridge: %d %s", r.status, r.raw)
	}
	// The publisher's own audience versions do not include the bridge's.
	if pv, err := e.store.ListVersions(context.Background(), e.orgA.ID); err != nil || len(pv) != 0 {
		t.Errorf("publisher versions: %d %v", len(pv), err)
	}

	ctx := context.Background()
	cur, err := e.store.CurrentVersion(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	v, err := e.api.Pipeline.Versions.OpenBridge(ctx, cur)
	if err != nil {
		t.Fatal(err)
	}
	fp, _ := identity.NewFingerprinter(e.keys.Derive(pipeline.FingerprintPurpose))
	got := v.Lookup(identity.TagEmailSHA256, identity.TagMAID, fp.Fingerprint(identity.TagEmailSHA256, emails[1]))
	want := map[identity.Fingerprint]bool{fp.Fingerprint(identity.TagMAID, maids[2]): true, fp.Fingerprint(identity.TagMAID, maids[3]): true}
	if len(got) != 2 || !want[got[0]] || !want[got[1]] {
		t.Errorf("email 1 maps to %v, want the fingerprints of its two MAIDs", got)
	}
	if got := v.Lookup("acme_id", identity.TagMAID, fp.Fingerprint("acme_id", "ACME-1")); len(got) != 1 || got[0] != fp.Fingerprint(identity.TagMAID, maids[0]) {
		t.Errorf("custom tag maps to %v", got)
	}
	if e.auditCount("bridge.register") != 1 {
		t.Errorf("%d bridge.register audit entries", e.auditCount("bridge.register"))
	}

	// A file that is mostly wrong fails, and the bridge keeps its version.
	bad := []byte("email_sha256\tperson@example.com\tmaid\t" + maids[0] + "\n")
	r = e.do(req{method: "POST", path: "/v1/admin/bridges/" + id + "/uploads", token: op, body: map[string]any{"size": len(bad)}})
	up = r.body["id"].(string)
	e.do(req{method: "PUT", path: "/v1/uploads/" + up + "/content", token: inA, body: withHeaders{string(bad), map[string]string{"Upload-Offset": "0"}}})
	e.do(req{method: "POST", path: "/v1/uploads/" + up + "/complete", token: inA, body: map[string]any{}})
	e.runner.RunOnce(ctx)
	r = e.do(req{method: "GET", path: "/v1/uploads/" + up, token: inA})
	if r.body["state"] != "failed" || r.body["report"] == nil {
		t.Errorf("bad mapping: %s", r.raw)
	}
	if vs, _ := e.store.ListVersions(ctx, id); len(vs) != 1 {
		t.Errorf("%d versions after a failed upload, want 1", len(vs))
	}
}
