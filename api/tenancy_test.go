package api_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/cleanroom-oss/cleanroom"
)

// TestLimitedUsersSeeOnlyTheirAdvertisersData: in the publisher's demand-side workspace, an
// invited user of advertiser C gets 404 for advertiser B's grant, data source, taxonomy and
// uploads (as for another tenant), never 200 or 403; the workspace's staff see that B's data
// source exists but read its segment names only once B grants it, and then it reads "granted".
func TestLimitedUsersSeeOnlyTheirAdvertisersData(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	cm := e.users["c-member"]
	if err := e.store.PutMembership(ctx, &cleanroom.Membership{UserID: cm.ID, OrgID: e.orgW.ID, Role: cleanroom.RoleLimited, RepresentsID: e.orgC.ID}); err != nil {
		t.Fatal(err)
	}
	limC := e.issueToken(cm.ID, e.orgW.ID)
	limB := e.tokens["w-limited"]

	r := e.do(req{method: "POST", path: "/v1/data-sources", token: limB, body: map[string]string{"name": "B's CRM"}})
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	ds, _ := r.body["id"].(string)
	if r := e.do(req{method: "PUT", path: "/v1/data-sources/" + ds + "/taxonomy", token: limB,
		body: withHeaders{body: "segment_id,segment_name\nvip,Secret VIP list\n", header: map[string]string{"Content-Type": "text/csv"}}}); r.status != http.StatusOK {
		t.Fatalf("taxonomy: %d %s", r.status, r.raw)
	}
	// Staff see the data source exists, but not its segment names.
	r = e.do(req{method: "GET", path: "/v1/data-sources/" + ds, token: e.tokens["w-admin"]})
	if r.status != http.StatusOK || r.body["access"] != "listed" {
		t.Errorf("staff reads the data source before the grant: %d %s, want 200 listed", r.status, r.raw)
	}
	for _, p := range []string{"/taxonomy", "/uploads", "/versions"} {
		if r := e.do(req{method: "GET", path: "/v1/data-sources/" + ds + p, token: e.tokens["w-admin"]}); r.status != http.StatusForbidden {
			t.Errorf("staff GET %s before the grant: %d %s, want 403", p, r.status, r.raw)
		}
	}
	r = e.do(req{method: "POST", path: "/v1/data-sources/" + ds + "/grants", token: limB,
		body: map[string]any{"grantee_id": e.orgW.ID, "allow_matched": true}})
	if r.status != http.StatusCreated {
		t.Fatalf("grant: %d %s", r.status, r.raw)
	}
	grant, _ := r.body["id"].(string)
	r = e.do(req{method: "GET", path: "/v1/data-sources/" + ds, token: e.tokens["w-admin"]})
	if r.status != http.StatusOK || r.body["access"] != "granted" {
		t.Errorf("staff reads the data source with the grant: %d %s, want 200 granted", r.status, r.raw)
	}
	if r := e.do(req{method: "GET", path: "/v1/data-sources/" + ds + "/taxonomy", token: e.tokens["w-admin"]}); r.status != http.StatusOK {
		t.Errorf("staff reads the taxonomy with the grant: %d %s", r.status, r.raw)
	}
	// The other advertiser's invited user reaches none of it.
	for _, q := range []req{
		{method: "GET", path: "/v1/grants/" + grant},
		{method: "DELETE", path: "/v1/grants/" + grant},
		{method: "GET", path: "/v1/data-sources/" + ds},
		{method: "GET", path: "/v1/data-sources/" + ds + "/taxonomy"},
		{method: "GET", path: "/v1/data-sources/" + ds + "/grants"},
		{method: "GET", path: "/v1/data-sources/" + ds + "/uploads"},
		{method: "PATCH", path: "/v1/data-sources/" + ds, body: map[string]string{"name": "mine now"}},
	} {
		q.token = limC
		if r := e.do(q); r.status != http.StatusNotFound {
			t.Errorf("C's invited user %s %s: %d %s, want 404", q.method, q.path, r.status, r.raw)
		}
	}
	if r := e.do(req{method: "GET", path: "/v1/data-sources", token: limC}); r.status != http.StatusOK || len(r.body["items"].([]any)) != 0 {
		t.Errorf("C's invited user lists data sources: %d %s, want none", r.status, r.raw)
	}
}
