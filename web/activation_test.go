package web_test

import (
	"context"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/cohorts"
)

// TestActivationPages: the publisher sets up its ad server, the switches and a deal and exports
// the codes; the advertiser sees where its cohort is served with the deal, and sets a frequency
// cap, refused before the publisher entered line items.
func TestActivationPages(t *testing.T) {
	w := newCohortWorld(t)
	ctx := context.Background()
	co, err := w.api.Cohorts.Create(ctx, cleanroom.NewCaller(w.adv.ID, cleanroom.RoleAdmin), cohorts.Spec{Name: "Acme - CRM",
		Kind: cleanroom.CohortMatched, ConnectionIDs: []string{w.conn},
		Query: cleanroom.CohortQuery{Op: cleanroom.OpAny, Conditions: []cleanroom.Condition{{DataSource: w.dataSource}}}})
	if err != nil {
		t.Fatal(err)
	}
	w.drain()
	code := itoa(co.Targets[0].Code)
	ops, crm, look := w.signIn("ops@planet.example"), w.signIn("crm@acme.example"), w.signIn("look@acme.example")

	_, html := ops.get("/activation")
	if !strings.Contains(html, `name="gam_key" value="crc"`) || !strings.Contains(html, `<code class="code">`+code+`</code>`) ||
		!strings.Contains(html, "crc is any of "+code) {
		t.Fatalf("publisher's page:\n%s", html)
	}
	status, _, html := ops.post("/activation/settings", url.Values{"gam_network_code": {"1234"}, "gam_key": {"aud"}, "xandr_key": {"seg"},
		"origins": {"https://www.planet.example\nhttps://m.planet.example"}, "time_zone": {"Nowhere/Else"}})
	if status != http.StatusBadRequest || !strings.Contains(html, "time zone") {
		t.Errorf("bad time zone: %d", status)
	}
	// The error is beside its field, and the form keeps what was typed.
	besideField(t, "bad time zone", html, "time_zone", `The time zone "Nowhere/Else" is not known.`)
	if !strings.Contains(html, `name="gam_key" value="aud"`) || !strings.Contains(html, "https://www.planet.example\nhttps://m.planet.example</textarea>") ||
		!strings.Contains(html, `name="time_zone" value="Nowhere/Else"`) {
		t.Errorf("bad time zone: the settings typed are not kept\n%s", between(html, "<main", "</main>"))
	}
	status, _, html = ops.post("/activation/settings", url.Values{"gam_network_code": {"1234"}, "gam_key": {"aud"}, "xandr_key": {"seg"},
		"origins": {"https://www.planet.example\nhttps://m.planet.example"}, "time_zone": {"Europe/Paris"}})
	if status != 200 || !strings.Contains(html, `name="gam_key" value="aud"`) || !strings.Contains(html, "aud is any of "+code) {
		t.Errorf("settings saved: %d", status)
	}
	// The advertiser cannot cap before line items exist.
	status, _, html = crm.post("/activation/"+co.ID+"/cap", url.Values{"max_impressions": {"3"}, "period": {"week"}})
	if status != http.StatusBadRequest || !strings.Contains(html, "line item IDs") {
		t.Errorf("cap without line items: %d", status)
	}
	besideField(t, "cap without line items", html, "max_impressions", "A frequency cap needs the cohort's line item IDs")
	if !strings.Contains(html, `name="max_impressions" type="number" min="1" max="1000" value="3"`) || !strings.Contains(html, `<option value="week" selected>`) {
		t.Errorf("cap without line items: the cap typed is not kept\n%s", between(html, "<main", "</main>"))
	}
	// Switches and a deal, with a clear error for a short line item ID.
	path := "/activation/" + co.ID + "/" + w.conn
	if status, _, _ := ops.post(path, url.Values{"action": {"switches"}, "direct": {"on"}}); status != 200 {
		t.Errorf("switches: %d", status)
	}
	status, _, html = ops.post(path, url.Values{"action": {"deal"}, "proposal_id": {"4242"}, "proposal_name": {"Planet - GAM - Acme - Agency"},
		"line_items": {"555123456,2.50,USD"}})
	if status != http.StatusBadRequest || !strings.Contains(html, "Line item 1: the ID must be 10 digits.") {
		t.Errorf("short line item: %d", status)
	}
	besideField(t, "short line item", html, "line_items", "Line item 1: the ID must be 10 digits.")
	if !strings.Contains(html, `name="proposal_id" value="4242"`) || !strings.Contains(html, ">555123456,2.50,USD</textarea>") {
		t.Errorf("short line item: the deal typed is not kept\n%s", between(html, "<main", "</main>"))
	}
	if status, _, _ := ops.post(path, url.Values{"action": {"deal"}, "proposal_id": {"4242"}, "proposal_name": {"Planet - GAM - Acme - Agency"},
		"line_items": {"5551234567,2.50,usd\n"}}); status != 200 {
		t.Errorf("deal: %d", status)
	}
	// The advertiser sees the deal and sets the cap; its viewer reads only.
	status, _, html = crm.post("/activation/"+co.ID+"/cap", url.Values{"max_impressions": {"3"}, "period": {"week"}})
	if status != 200 || !strings.Contains(html, "At most 3 per user per week.") || !strings.Contains(html, "line item 5551234567, floor 2.50 USD") ||
		!strings.Contains(html, "Planet - GAM - Acme - Agency (proposal 4242)") || !strings.Contains(html, "direct") {
		t.Errorf("advertiser's page after the cap: %d\n%s", status, html)
	}
	if status, _, _ := look.post("/activation/"+co.ID+"/cap", url.Values{"remove": {"1"}}); status != http.StatusForbidden {
		t.Errorf("viewer removes the cap: %d", status)
	}
	if status, _, _ := crm.post(path, url.Values{"action": {"switches"}}); status != http.StatusForbidden {
		t.Errorf("advertiser sets the publisher's switches: %d", status)
	}
	status, csv := ops.get("/activation/export.csv")
	if status != 200 || !strings.Contains(csv, code+",Acme - CRM,aud is any of "+code+",seg="+code) {
		t.Errorf("export: %d %s", status, csv)
	}
	if n, _, err := w.store.ListAudit(ctx, cleanroom.AuditFilter{OrgID: w.pub.ID, Action: "cohort.activation.update", Page: cleanroom.Page{Limit: 10}}); err != nil || len(n) != 2 {
		t.Errorf("publisher's audit entries: %d %v", len(n), err)
	}
}

// besideField checks that html shows the error want beside the form field named field (before
// the end of its label), that the field is marked invalid and described by the error, and that
// the error is not (also) at the top of the page.
func besideField(t *testing.T, what, html, field, want string) {
	t.Helper()
	main := between(html, "<main", "</main>")
	m := regexp.MustCompile(`name="` + field + `"[^>]*aria-invalid="true" aria-describedby="([^"]+)"[^>]*>`).FindStringIndex(main)
	if m == nil {
		t.Errorf("%s: the field %s is not marked invalid\n%s", what, field, main)
		return
	}
	id := regexp.MustCompile(`aria-describedby="([^"]+)"`).FindStringSubmatch(main[m[0]:m[1]])[1]
	label := main[m[1]:]
	label = label[:strings.Index(label, "</label>")]
	if !strings.Contains(label, `<span class="field-error" id="`+id+`" role="alert">`+template.HTMLEscapeString(want)) {
		t.Errorf("%s: the error %q is not beside the field %s\n%s", what, want, field, main)
	}
	if strings.Count(main, template.HTMLEscapeString(want)) != 1 {
		t.Errorf("%s: the error is shown %d times", what, strings.Count(main, template.HTMLEscapeString(want)))
	}
}
