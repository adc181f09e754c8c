package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/cleanroom-oss/cleanroom"
)

// TestActivationAPI: the publisher's ad-server settings, the line-item export as JSON and CSV,
// the switches and a deal (a mistake named by its row), and the advertiser's view and cap, as an
// API client sees them.
func TestActivationAPI(t *testing.T) {
	e := newEnv(t)
	e.syncPublisher(400)
	conn := e.connect(e.orgA.ID, e.orgW.ID, cleanroom.Permissions{MatchedCohorts: true})
	tok := e.tokens["w-member"]
	ds := e.dataSourceOf(tok, 100, 450, "email_sha256")
	r := e.do(req{method: "POST", path: "/v1/cohorts", token: tok, body: map[string]any{"name": "Acme - CRM", "kind": "matched",
		"query": anyOf(seg(ds, "")), "connections": []string{conn.ID}}})
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	id := r.body["id"].(string)
	e.drainJobs()
	_, tg := e.cohortTarget(tok, id)
	code := fmt.Sprint(int64(tg["code"].(float64)))

	// Settings: the defaults, admins change them, a bad value names its field.
	r = e.do(req{method: "GET", path: "/v1/ad-server-settings", token: e.tokens["a-viewer"]})
	if r.status != 200 || r.body["gam_key"] != "crc" || r.body["xandr_key"] != "crc" {
		t.Errorf("default settings: %d %s", r.status, r.raw)
	}
	settings := map[string]any{"gam_network_code": "21700000000", "gam_key": "aud", "xandr_member_id": "9325", "xandr_key": "seg",
		"origins": []string{"https://www.a.example"}, "time_zone": "Europe/Paris"}
	if r := e.do(req{method: "PUT", path: "/v1/ad-server-settings", token: e.tokens["a-member"], body: settings}); r.status != http.StatusForbidden {
		t.Errorf("a member changes the settings: %d", r.status)
	}
	bad := map[string]any{"gam_key": "aud", "xandr_key": "seg", "time_zone": "Nowhere/Else"}
	if r := e.do(req{method: "PUT", path: "/v1/ad-server-settings", token: e.tokens["a-admin"], body: bad}); r.status != http.StatusBadRequest || r.errCode() != "invalid" {
		t.Errorf("bad time zone: %d %s", r.status, r.raw)
	}
	r = e.do(req{method: "PUT", path: "/v1/ad-server-settings", token: e.tokens["a-admin"], body: settings})
	if r.status != 200 || r.body["gam_network_code"] != "21700000000" || r.body["xandr_member_id"] != "9325" || r.body["time_zone"] != "Europe/Paris" {
		t.Fatalf("settings: %d %s", r.status, r.raw)
	}
	if r := e.do(req{method: "GET", path: "/v1/ad-server-settings", token: e.tokens["w-admin"]}); r.status != http.StatusForbidden && r.status != http.StatusNotFound {
		t.Errorf("an advertiser reads ad-server settings: %d %s", r.status, r.raw)
	}

	// The export: JSON by default, CSV on request, nothing else.
	r = e.do(req{method: "GET", path: "/v1/activation-export", token: e.tokens["a-viewer"]})
	items, _ := r.body["items"].([]any)
	if r.status != 200 || len(items) != 1 {
		t.Fatalf("export: %d %s", r.status, r.raw)
	}
	row := items[0].(map[string]any)
	if fmt.Sprint(row["code"]) != code || row["name"] != "Acme - CRM" || row["gam_expression"] != "aud is any of "+code ||
		row["xandr_keyword"] != "seg="+code || row["cohort_id"] != id || row["connection_id"] != conn.ID {
		t.Errorf("export row: %s", r.raw)
	}
	r = e.do(req{method: "GET", path: "/v1/activation-export?format=csv", token: e.tokens["a-viewer"]})
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") ||
		!strings.Contains(string(r.raw), code+",Acme - CRM,aud is any of "+code+",seg="+code+",") {
		t.Errorf("CSV export: %d %s", r.status, r.raw)
	}
	if r := e.do(req{method: "GET", path: "/v1/activation-export?format=xml", token: e.tokens["a-viewer"]}); r.status != http.StatusBadRequest {
		t.Errorf("export as xml: %d", r.status)
	}

	// A cap needs line items; a deal's mistake names its row; the advertiser sees the deal.
	cap := map[string]any{"max_impressions": 3, "period": "week"}
	if r := e.do(req{method: "PUT", path: "/v1/cohorts/" + id + "/frequency-cap", token: tok, body: cap}); r.status != http.StatusBadRequest ||
		!strings.Contains(string(r.raw), "line item") {
		t.Errorf("cap without line items: %d %s", r.status, r.raw)
	}
	path := "/v1/cohorts/" + id + "/activation/" + conn.ID
	deal := func(lineItem string) map[string]any {
		return map[string]any{"direct": true, "programmatic": true, "deal": map[string]any{"proposal_id": "4242",
			"proposal_name": "A - GAM - W - Agency", "line_items": []map[string]string{
				{"id": "5551234567", "floor": "2.50", "currency": "USD"}, {"id": lineItem, "floor": "1.00", "currency": "EUR"}},
			"xandr_deals": []string{"acme-q4.1"}}}
	}
	if r := e.do(req{method: "PUT", path: path, token: e.tokens["a-member"], body: deal("555123456")}); r.status != http.StatusBadRequest ||
		!strings.Contains(string(r.raw), "Line item 2: the ID must be 10 digits.") {
		t.Errorf("9-digit line item: %d %s", r.status, r.raw)
	}
	if r := e.do(req{method: "PUT", path: path, token: tok, body: deal("5551234568")}); r.status != http.StatusForbidden {
		t.Errorf("the advertiser sets the publisher's switches: %d", r.status)
	}
	if r := e.do(req{method: "PUT", path: path, token: e.tokens["a-member"], body: deal("5551234568")}); r.status != 200 {
		t.Fatalf("deal: %d %s", r.status, r.raw)
	}
	r = e.do(req{method: "PUT", path: "/v1/cohorts/" + id + "/frequency-cap", token: tok, body: cap})
	if r.status != 200 || r.body["max_impressions"] != 3.0 || r.body["period"] != "week" {
		t.Errorf("cap: %d %s", r.status, r.raw)
	}
	r = e.do(req{method: "GET", path: "/v1/cohorts/" + id + "/activation", token: e.tokens["w-viewer"]})
	if r.status != 200 {
		t.Fatalf("activation: %d %s", r.status, r.raw)
	}
	targets := r.body["targets"].([]any)
	ta := targets[0].(map[string]any)
	d, _ := ta["deal"].(map[string]any)
	if len(targets) != 1 || ta["direct"] != true || ta["programmatic"] != true || d == nil || d["proposal_id"] != "4242" ||
		len(d["line_items"].([]any)) != 2 || fmt.Sprint(d["xandr_deals"]) != "[acme-q4.1]" || r.body["frequency_cap"] == nil ||
		ta["cap_time_zone"] != "Europe/Paris" {
		t.Errorf("the advertiser's view: %s", r.raw)
	}
	if r := e.do(req{method: "DELETE", path: "/v1/cohorts/" + id + "/frequency-cap", token: e.tokens["w-viewer"]}); r.status != http.StatusForbidden {
		t.Errorf("a viewer removes the cap: %d", r.status)
	}
	if r := e.do(req{method: "DELETE", path: "/v1/cohorts/" + id + "/frequency-cap", token: tok}); r.status != http.StatusNoContent {
		t.Errorf("remove the cap: %d %s", r.status, r.raw)
	}
}
