package web_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/cleanroom-oss/cleanroom"
)

// TestConnectionsPage: the publisher adds a connection by org ID (a mistyped ID keeps the form's
// values and shows the error with its fix beside the field), edits its permissions, opts out of
// a standard cohort and deletes it; the advertiser sees its side read only; a viewer and another
// org change nothing.
func TestConnectionsPage(t *testing.T) {
	w := newCohortWorld(t)
	ctx := context.Background()
	pub := w.signIn("ops@planet.example")
	status, html := pub.get("/connections")
	if status != 200 || !strings.Contains(html, "Acme Outdoor") || !strings.Contains(html, `id="connection-form"`) {
		t.Fatalf("publisher's connections: %d", status)
	}
	for _, tc := range []struct {
		name, partner string
		status        int
		says          string
	}{
		{"mistyped", w.other.ID[:35] + "x", 400, "Copy the organization ID"},
		{"unknown", "01900000-0000-7000-8000-000000000000", 404, "Ask the other party to copy its organization ID"},
	} {
		status, _, html := pub.post("/connections", url.Values{"partner_id": {tc.partner}, "insights": {"on"}, "modeled_audiences": {"on"}})
		if status != tc.status {
			t.Errorf("%s: %d, want %d", tc.name, status, tc.status)
		}
		errAt := strings.Index(html, `id="partner-error"`)
		if errAt < 0 || !strings.Contains(html[errAt:], tc.says) {
			t.Errorf("%s: the error beside the partner field lacks %q", tc.name, tc.says)
		}
		form := html[strings.Index(html, `id="connection-form"`):]
		if !strings.Contains(form, `value="`+tc.partner+`"`) || !strings.Contains(form, `name="insights" checked`) ||
			!strings.Contains(form, `name="modeled_audiences" checked`) || strings.Contains(form, `name="matched_cohorts" checked`) {
			t.Errorf("%s: the form lost what was typed or ticked", tc.name)
		}
	}
	status, path, _ := pub.post("/connections", url.Values{"partner_id": {w.other.ID}, "matched_cohorts": {"on"}})
	if status != 200 || path != "/connections" {
		t.Fatalf("connect: %d at %s", status, path)
	}
	conns, _, err := w.store.ListConnections(ctx, cleanroom.ConnectionFilter{PartnerID: w.other.ID, Page: cleanroom.Page{Limit: 10}})
	if err != nil || len(conns) != 1 || !conns[0].Permissions.MatchedCohorts || conns[0].Permissions.Insights {
		t.Fatalf("Other Brand's connections: %+v %v", conns, err)
	}
	id := conns[0].ID
	// The advertiser sees its side, without the forms; a viewer and another org change nothing.
	if _, html := w.signIn("crm@other.example").get("/connections"); !strings.Contains(html, "Daily Planet") || strings.Contains(html, "/permissions") {
		t.Errorf("the advertiser's connections page: want Daily Planet read only")
	}
	if _, html := w.signIn("crm@acme.example").get("/connections"); strings.Contains(html, "Other Brand") {
		t.Errorf("Acme sees the publisher's connection with Other Brand")
	}
	for _, who := range []string{"crm@other.example", "crm@acme.example"} {
		if status, _, _ := w.signIn(who).post("/connections/"+id+"/permissions", url.Values{"insights": {"on"}}); status != 403 && status != 404 {
			t.Errorf("%s editing the connection: %d", who, status)
		}
	}
	if status, _, _ := pub.post("/connections/"+id+"/permissions", url.Values{"insights": {"on"}, "custom_cohorts": {"on"}}); status != 200 {
		t.Errorf("edit permissions: %d", status)
	}
	conn, err := w.store.FindConnection(ctx, id)
	if err != nil || conn.Permissions.MatchedCohorts || !conn.Permissions.Insights || !conn.Permissions.CustomCohorts {
		t.Errorf("after the edit: %+v %v", conn, err)
	}
	// Standard-cohort opt-outs are chosen by name.
	_, html = pub.get("/connections")
	std := between(html, `name="opt_out" value="`, `"`)
	if std == "" {
		t.Fatal("no standard cohort to opt out of")
	}
	if status, _, _ := w.signIn("crm@acme.example").post("/connections/opt-outs", url.Values{"opt_out": {std}}); status != 403 {
		t.Errorf("an advertiser setting the publisher's opt-outs: %d, want 403", status)
	}
	if status, _, html := pub.post("/connections/opt-outs", url.Values{"opt_out": {std}}); status != 200 || !strings.Contains(html, `value="`+std+`" checked`) {
		t.Errorf("opt out: %d", status)
	}
	if ids, err := w.store.ListStandardOptOuts(ctx, w.pub.ID); err != nil || len(ids) != 1 || ids[0] != std {
		t.Errorf("opt-outs stored: %q %v", ids, err)
	}
	// Deleting says what stops, and does it.
	if _, html := pub.get("/connections"); !strings.Contains(html, "Delete the connection with Other Brand? This stops") {
		t.Errorf("the delete button does not say what stops")
	}
	if status, _, _ := pub.post("/connections/"+id+"/delete", url.Values{}); status != 200 {
		t.Errorf("delete: %d", status)
	}
	if _, err := w.store.FindConnection(ctx, id); cleanroom.ErrorCode(err) != cleanroom.ENOTFOUND {
		t.Errorf("after the delete: %v", err)
	}
}
