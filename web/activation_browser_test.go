package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/cohorts"
)

// TestBrowserActivation: in Chromium, the publisher sets its ad-server key, switches a cohort on
// and enters its deal (a mistake named by its row); it downloads the export (CSV and JSON); once
// the edge published, both sides see since when it is served; the advertiser sees where the
// cohort is served with its deal (line items and Xandr deals), and sets, changes and removes a
// frequency cap.
func TestBrowserActivation(t *testing.T) {
	needBrowser(t)
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
	row := `#activation-cohorts tr[data-cohort="` + co.ID + `"]`

	pub := w.cohortTab("ops@planet.example")
	pub.navigate("/activation")
	if got := pub.text(row + " td.served"); !strings.Contains(got, "switches are off") && !strings.Contains(got, "not published") {
		t.Errorf("before the switches: %q", got)
	}
	pub.do("the GAM and Xandr settings",
		chromedp.SetValue(chromedp.CSS(`#ad-server-settings input[name=gam_network_code]`), "21700000000"),
		chromedp.SetValue(chromedp.CSS(`#ad-server-settings input[name=gam_key]`), "aud"),
		chromedp.SetValue(chromedp.CSS(`#ad-server-settings input[name=xandr_member_id]`), "9325"),
		chromedp.SetValue(chromedp.CSS(`#ad-server-settings input[name=xandr_key]`), "seg"),
		chromedp.SetValue(chromedp.CSS(`#ad-server-settings input[name=time_zone]`), "Europe/Paris"),
	)
	if resp := pub.submit("save the settings", chromedp.Click(chromedp.CSS(`#ad-server-settings button[type=submit]`))); resp.Status != http.StatusOK {
		t.Fatalf("settings: %d", resp.Status)
	}
	if got := pub.text(row + " td:first-child"); !strings.Contains(got, "aud is any of "+code) || !strings.Contains(got, "seg="+code) {
		t.Errorf("code cell after the keys: %q", got)
	}
	for name, want := range map[string]string{"gam_network_code": "21700000000", "xandr_member_id": "9325", "xandr_key": "seg"} {
		if got := js[string](pub, `document.querySelector("#ad-server-settings input[name=`+name+`]").value`); got != want {
			t.Errorf("%s after saving: %q, want %q", name, got, want)
		}
	}
	// The export for line items, as the browser downloads it: CSV and JSON.
	csv := run(pub, "the CSV export", chromedp.Evaluate[string](`fetch(document.getElementById("export-csv").href).then(r => r.text())`, chromedp.EvalAwaitPromise))
	if !strings.Contains(csv, code+",Acme - CRM,aud is any of "+code+",seg="+code) {
		t.Errorf("CSV export: %s", csv)
	}
	exported := run(pub, "the JSON export", chromedp.Evaluate[string](`fetch(document.getElementById("export-json").href).then(r => r.json()).then(j => j.items.map(i => [i.code, i.name, i.gam_expression, i.xandr_keyword].join("|")).join())`, chromedp.EvalAwaitPromise))
	if exported != code+"|Acme - CRM|aud is any of "+code+"|seg="+code {
		t.Errorf("JSON export: %q", exported)
	}
	pub.do("direct on", chromedp.Click(chromedp.CSS(row+` input[name=direct]`)))
	if resp := pub.submit("save the switches", chromedp.Click(chromedp.CSS(row+` form:not(.deal) button[type=submit]`))); resp.Status != http.StatusOK {
		t.Fatalf("switches: %d", resp.Status)
	}
	deal := func(lineItems string) int64 {
		pub.do("the deal",
			chromedp.Evaluate[chromedp.Void](`document.querySelector(`+"`"+row+` details`+"`"+`).open = true`),
			chromedp.SetValue(chromedp.CSS(row+` input[name=proposal_id]`), "4242"),
			chromedp.SetValue(chromedp.CSS(row+` input[name=proposal_name]`), "Daily Planet - GAM - Acme - Agency"),
			chromedp.SetValue(chromedp.CSS(row+` textarea[name=line_items]`), lineItems),
			chromedp.SetValue(chromedp.CSS(row+` textarea[name=xandr_deals]`), "acme-q4.1"),
		)
		return pub.submit("save the deal", chromedp.Click(chromedp.CSS(row+` form.deal button[type=submit]`))).Status
	}
	// A mistake is named by its row.
	if status := deal("5551234567,2.50,USD\n555123456,2.50,USD"); status != http.StatusBadRequest {
		t.Fatalf("deal with a 9-digit line item: %d", status)
	}
	// It is shown in the deal's row beside the line items, visible, with what was typed kept.
	if got := pub.text(row + " form.deal .field-error"); !strings.Contains(got, "Line item 2: the ID must be 10 digits.") {
		t.Errorf("deal error shown as %q", got)
	}
	if got := js[string](pub, `(() => { const f = document.querySelector(`+"`"+row+` textarea[name=line_items]`+"`"+`);
		const e = document.getElementById(f.getAttribute("aria-describedby"));
		return [f.value, f.getAttribute("aria-invalid"), e && e.offsetParent !== null, document.querySelector(`+"`"+row+` input[name=proposal_id]`+"`"+`).value].join("|") })()`); got != "5551234567,2.50,USD\n555123456,2.50,USD|true|true|4242" {
		t.Errorf("deal form after the error: %q", got)
	}
	if status := deal("5551234567,2.50,USD"); status != http.StatusOK {
		t.Fatalf("deal: %d", status)
	}
	if got := pub.text(row + " details summary"); got != "Daily Planet - GAM - Acme - Agency (1 line items, 1 Xandr deals)" {
		t.Errorf("deal summary %q", got)
	}
	if _, err := w.api.Activation.Publish(ctx, w.pub.ID); err != nil {
		t.Fatal(err)
	}
	pub.navigate("/activation")
	if got := pub.text(row + " td.served"); !strings.HasPrefix(got, "yes, since ") {
		t.Errorf("publisher's served cell after publishing: %q", got)
	}

	adv := w.cohortTab("crm@acme.example")
	adv.navigate("/activation")
	if got := adv.text(row + " td.served"); !strings.HasPrefix(got, "yes, since ") {
		t.Errorf("advertiser's served cell: %q", got)
	}
	if got := adv.text(row); !strings.Contains(got, "Daily Planet") || !strings.Contains(got, code) || !strings.Contains(got, "direct") {
		t.Errorf("advertiser's row (publisher, code, switches): %q", got)
	}
	if got := adv.text(row + " td.deal"); !strings.Contains(got, "proposal 4242") || !strings.Contains(got, "line item 5551234567, floor 2.50 USD") ||
		!strings.Contains(got, "Xandr deal acme-q4.1") {
		t.Errorf("advertiser's deal: %q", got)
	}
	if got := adv.text(row + " td.time-zone"); got != "Europe/Paris" {
		t.Errorf("the advertiser sees the cap's days in %q, the publisher's time zone is Europe/Paris", got)
	}
	adv.do("the cap",
		chromedp.SetValue(chromedp.CSS(`form.cap input[name=max_impressions]`), "3"),
		chromedp.SetValue(chromedp.CSS(`form.cap select[name=period]`), "week"),
	)
	if resp := adv.submit("set the cap", chromedp.Click(chromedp.CSS(`form.cap button[type=submit]`))); resp.Status != http.StatusOK {
		t.Fatalf("cap: %d", resp.Status)
	}
	if got := adv.text(`form.cap .cap-now`); got != "At most 3 per user per week." {
		t.Errorf("cap shown as %q", got)
	}
	// The form shows the cap as it is: changing N alone keeps the week.
	if got := js[string](adv, `document.querySelector("form.cap select[name=period]").value`); got != "week" {
		t.Errorf("the cap form offers %q, the cap is per week", got)
	}
	adv.do("a new N", chromedp.SetValue(chromedp.CSS(`form.cap input[name=max_impressions]`), "5"))
	if resp := adv.submit("change the cap", chromedp.Click(chromedp.CSS(`form.cap button[type=submit]`))); resp.Status != http.StatusOK {
		t.Fatalf("cap: %d", resp.Status)
	}
	if got := adv.text(`form.cap .cap-now`); got != "At most 5 per user per week." {
		t.Errorf("changed cap shown as %q", got)
	}
	// Removing the cap.
	if resp := adv.submit("remove the cap", chromedp.Click(chromedp.CSS(`form.cap button[name=remove]`))); resp.Status != http.StatusOK {
		t.Fatalf("remove the cap: %d", resp.Status)
	}
	if adv.exists(`form.cap .cap-now`) {
		t.Errorf("the cap is still shown after its removal")
	}
}
