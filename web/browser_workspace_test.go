package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserWorkspaceCohortFromGrant drives the last step of the publisher-driven workflow
// through the pages: the invited advertiser's person (agency@acme.example, who accepted the
// workspace's invitation), switched to Acme, grants Acme's uploaded CRM data source to the publisher's demand-side workspace, and the workspace's staff
// build a matched cohort on the publisher's users from the granted data, picked by name, and see
// it active with its size and code.
func TestBrowserWorkspaceCohortFromGrant(t *testing.T) {
	needBrowser(t)
	w := newCohortWorld(t)
	ctx := context.Background()

	// Before the grant, the workspace cannot pick the advertiser's data.
	ws := w.cohortTab("ws@planet.example")
	if got := ws.selectedOrg(); !strings.HasPrefix(got, "Daily Planet (demand side)") {
		t.Fatalf("the workspace's staff sign in to %q, want the workspace", got)
	}
	ws.navigate("/cohorts")
	if ws.exists(`#conditions select[name=ds] option[value="` + w.dataSource + `"]`) {
		t.Fatal("the workspace can pick the advertiser's data before any grant")
	}

	// The invited advertiser grants it.
	adv := w.cohortTab("agency@acme.example")
	adv.submit("switch to Acme", chromedp.Evaluate[chromedp.Void](`(() => {
		const sel = document.querySelector("#org-switch select");
		sel.value = "`+w.adv.ID+`"; sel.form.submit(); })()`))
	adv.navigate("/data-sources/" + w.dataSource)
	until := time.Now().UTC().AddDate(0, 1, 0).Format("2006-01-02")
	adv.fill("grant", "#grant-form", map[string]string{"select[name=grantee_id]": w.pub.DemandSideID, "input[name=expires_at]": until})
	if rows := adv.rows("#grants-table"); len(rows) != 1 || !strings.Contains(rows[0][3], "in force") {
		t.Fatalf("grants = %q", rows)
	}

	// The workspace builds the cohort from the granted data, picked by name.
	ws.navigate("/cohorts")
	if got := js[string](ws, `(document.querySelector('#conditions select[name=ds] option[value="`+w.dataSource+`"]') || {textContent: ""}).textContent`); got != "CRM customers" {
		t.Fatalf("the granted data source offered as %q, want it by name", got)
	}
	ws.do("fill the form",
		chromedp.SetValue(chromedp.CSS(`#new-cohort input[name=name]`), "Planet - Acme CRM"),
		chromedp.Click(chromedp.CSS(`#connections input[value="`+w.wsConn+`"]`)),
		chromedp.SetValue(chromedp.CSS(`#conditions > table tbody tr:first-child select[name=ds]`), w.dataSource),
	)
	resp := ws.submit("create", chromedp.Click(chromedp.CSS(`#new-cohort button[value=create]`)))
	id, ok := strings.CutPrefix(ws.path(), "/cohorts/")
	if resp.Status != http.StatusOK || !ok {
		t.Fatalf("create: status %d at %s (%s)", resp.Status, ws.path(), ws.text("main"))
	}
	w.drain()
	ws.do("wait for the cohort to be active", chromedp.WaitVisible(chromedp.CSS(`#status .state-active`)))
	co, err := w.store.FindCohort(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if co.OrgID != w.pub.DemandSideID || len(co.Targets) != 1 || co.Targets[0].Size == 0 {
		t.Fatalf("the cohort: org %s, targets %+v", co.OrgID, co.Targets)
	}
	if got := ws.text("#targets code.code"); got != itoa(co.Targets[0].Code) {
		t.Errorf("code shown %q, want %d", got, co.Targets[0].Code)
	}
	if got := ws.text("main"); !strings.Contains(got, "CRM customers") {
		t.Errorf("the cohort's page does not name the granted data source: %q", got)
	}
	ws.screenshot("workspace-cohort")
	ws.navigate("/cohorts")
	if rows := ws.rows("#cohorts"); len(rows) != 1 || rows[0][0] != "Planet - Acme CRM" || rows[0][2] != "active" || rows[0][5] != itoa(co.Targets[0].Size) {
		t.Errorf("the workspace's cohorts: %q", rows)
	}
}
