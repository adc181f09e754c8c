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
// and enters its deal; once the edge published, both sides see since when it is served; the
// advertiser sees the deal and sets a frequency cap.
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
	pub.do("the GAM key", chromedp.SetValue(chromedp.CSS(`#ad-server-settings input[name=gam_key]`), "aud"))
	if resp := pub.submit("save the settings", chromedp.Click(chromedp.CSS(`#ad-server-settings button[type=submit]`))); resp.Status != http.StatusOK {
		t.Fatalf("settings: %d", resp.Status)
	}
	if got := pub.text(row + " td:first-child"); !strings.Contains(got, "aud is any of "+code) {
		t.Errorf("code cell after the key: %q", got)
	}
	pub.do("direct on", chromedp.Click(chromedp.CSS(row+` input[name=direct]`)))
	if resp := pub.submit("save the switches", chromedp.Click(chromedp.CSS(row+` form:not(.deal) button[type=submit]`))); resp.Status != http.StatusOK {
		t.Fatalf("switches: %d", resp.Status)
	}
	pub.do("the deal",
		chromedp.Click(chromedp.CSS(row+` details summary`)),
		chromedp.SetValue(chromedp.CSS(row+` input[name=proposal_id]`), "4242"),
		chromedp.SetValue(chromedp.CSS(row+` input[name=proposal_name]`), "Daily Planet - GAM - Acme - Agency"),
		chromedp.SetValue(chromedp.CSS(row+` textarea[name=line_items]`), "5551234567,2.50,USD"),
	)
	if resp := pub.submit("save the deal", chromedp.Click(chromedp.CSS(row+` form.deal button[type=submit]`))); resp.Status != http.StatusOK {
		t.Fatalf("deal: %d", resp.Status)
	}
	if got := pub.text(row + " details summary"); got != "Daily Planet - GAM - Acme - Agency (1 line items)" {
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
	if got := adv.text(row); !strings.Contains(got, "line item 5551234567, floor 2.50 USD") || !strings.Contains(got, "direct") {
		t.Errorf("advertiser's row: %q", got)
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
}
