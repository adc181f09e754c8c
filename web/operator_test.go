package web_test

import (
	"context"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
)

// TestOperatorPage: the operator onboards a publisher through the page (create, enable the
// clean room, record the DPA, add its first admin), grants an advertiser provisional access,
// registers an identity bridge and uploads its mapping, and reads the deployment's health; a
// mistake keeps the form's values with the error; nobody else reaches the page or its forms.
func TestOperatorPage(t *testing.T) {
	w := newCohortWorld(t)
	ctx := context.Background()
	if _, err := w.acc.CreateOperator(ctx, "root@deploy.example", "Root", worldPassword); err != nil {
		t.Fatal(err)
	}
	op := w.signIn("root@deploy.example")
	status, html := op.get("/operator")
	if status != 200 || !strings.Contains(html, "Daily Planet") || !strings.Contains(html, `id="health-facts"`) || !strings.Contains(html, "ingest.publisher") {
		t.Fatalf("operator page: %d", status)
	}
	if status, _, html := op.post("/operator/orgs", url.Values{"name": {""}, "kind": {"advertiser"}}); status != 400 || !strings.Contains(html, `<option value="advertiser" selected>`) {
		t.Errorf("empty name: %d, want 400 with the kind kept", status)
	}
	status, path, _ := op.post("/operator/orgs", url.Values{"name": {"Morning Star"}, "kind": {"publisher"}})
	if status != 200 || path != "/operator" {
		t.Fatalf("create org: %d at %s", status, path)
	}
	orgs, _, _ := w.store.ListOrgs(ctx, cleanroom.Page{Limit: 100})
	var star *cleanroom.Org
	for _, o := range orgs {
		if o.Name == "Morning Star" {
			star = o
		}
	}
	if star == nil {
		t.Fatal("Morning Star was not created")
	}
	for _, step := range []struct {
		path string
		form url.Values
	}{
		{"/operator/orgs/" + star.ID + "/dpa", url.Values{"signed_at": {time.Now().UTC().Format("2006-01-02")}}},
		{"/operator/orgs/" + star.ID + "/clean-room", url.Values{}},
		{"/operator/people", url.Values{"org_id": {star.ID}, "email": {"admin@star.example"}, "name": {"Stella"}, "password": {"a long enough password"}, "role": {"admin"}}},
	} {
		if status, _, html := op.post(step.path, step.form); status != 200 || strings.Contains(html, `class="error"`) {
			t.Errorf("%s: %d", step.path, status)
		}
	}
	if star, _ = w.store.FindOrg(ctx, star.ID); !star.CleanRoomEnabled() || star.DPASignedAt.IsZero() || star.DemandSideID == "" {
		t.Errorf("Morning Star after onboarding: %+v", star)
	}
	if _, html := w.signIn("admin@star.example").get("/"); !strings.Contains(html, "<h1>Morning Star</h1>") {
		t.Errorf("the new admin does not land in Morning Star")
	}
	// Provisional access, a bridge and its mapping.
	until := time.Now().UTC().AddDate(0, 1, 0).Format("2006-01-02")
	if status, _, html := op.post("/operator/provisional-access", url.Values{"org_id": {w.other.ID}, "publisher_id": {star.ID}, "expires_at": {until}, "reason": {"pilot"}}); status != 200 || !strings.Contains(html, "pilot") {
		t.Errorf("provisional access: %d", status)
	}
	status, _, html = op.post("/operator/bridges", url.Values{"name": {"Acme Graph"}, "publisher_id": {star.ID}})
	bridge := regexp.MustCompile(`/operator/bridges/([0-9a-f-]{36})/uploads`).FindStringSubmatch(html)
	if status != 200 || bridge == nil {
		t.Fatalf("register bridge: %d", status)
	}
	mapping := "email_sha256\t" + strings.Repeat("a", 64) + "\tmaid\t6d92078a-8246-4ba4-ae5b-76104861e7dc\n"
	if status, html := op.postFile("/operator/bridges/"+bridge[1]+"/uploads", "mapping", "map.tsv", []byte(mapping)); status != 200 || !strings.Contains(html, "map.tsv") {
		t.Errorf("bridge upload: %d", status)
	}
	// Nobody else: the page is not found and the forms change nothing.
	for _, who := range []string{"ops@planet.example", "crm@acme.example"} {
		b := w.signIn(who)
		if status, _ := b.get("/operator"); status != 404 {
			t.Errorf("%s GET /operator: %d, want 404", who, status)
		}
		if status, _, _ := b.post("/operator/orgs", url.Values{"name": {"Rogue"}, "kind": {"advertiser"}}); status != 404 {
			t.Errorf("%s creating an org: %d, want 404 (no such page for them)", who, status)
		}
		if _, html := b.get("/"); strings.Contains(html, `href="/operator"`) {
			t.Errorf("%s sees the Operator link", who)
		}
	}
	orgs, _, _ = w.store.ListOrgs(ctx, cleanroom.Page{Limit: 100})
	for _, o := range orgs {
		if o.Name == "Rogue" {
			t.Error("a non-operator created an org")
		}
	}
}
