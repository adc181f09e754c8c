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

// TestJobsPage: each org sees its own jobs, a succeeded one complete; a running one makes the
// page refresh its table; the operator acting in no org sees every org's with their names; a
// viewer cannot cancel.
func TestJobsPage(t *testing.T) {
	w := newCohortWorld(t)
	ctx := context.Background()
	status, html := w.signIn("crm@acme.example").get("/jobs")
	if status != 200 || !strings.Contains(html, "ingest.data_source") || !strings.Contains(html, "complete") {
		t.Fatalf("advertiser's jobs: %d, want its ingest job, complete\n%s", status, html)
	}
	if strings.Contains(html, "ingest.publisher") || strings.Contains(html, "data-busy") {
		t.Errorf("advertiser's jobs show the publisher's job, or a busy page")
	}
	// A job that succeeded after reporting part of its work is complete on both pages.
	part := &cleanroom.Job{Kind: "test.partial", OrgID: w.adv.ID, MaxAttempts: 1}
	if err := w.store.EnqueueJob(ctx, part, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := w.store.ClaimJob(ctx, "test:1:1", []string{"test.partial"}, time.Now(), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := w.store.ReportJobProgress(ctx, part.ID, "test:1:1", cleanroom.Progress{Done: 3, Total: 10}, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := w.store.FinishJob(ctx, part.ID, "test:1:1", nil, time.Time{}, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/jobs", "/"} {
		_, html := w.signIn("crm@acme.example").get(path)
		row := regexp.MustCompile(`<tr( data-job="[0-9]+")?><td>` + itoa(part.ID) + `</td>.*?</tr>`).FindString(strings.ReplaceAll(html, "\n", " "))
		if !strings.Contains(row, `<progress max="1" value="1" aria-label="complete"></progress> complete`) {
			t.Errorf("%s: the succeeded job is not shown complete: %s", path, row)
		}
	}
	// A queued job makes the page busy; a viewer sees no cancel button, and its post is refused.
	j := &cleanroom.Job{Kind: "test.wait", OrgID: w.adv.ID}
	if err := w.store.EnqueueJob(ctx, j, time.Now()); err != nil {
		t.Fatal(err)
	}
	viewer := w.signIn("look@acme.example")
	if _, html := viewer.get("/jobs"); !strings.Contains(html, "data-busy") || strings.Contains(html, "/cancel") {
		t.Errorf("viewer's jobs page: want busy without a cancel button")
	}
	if status, _, _ := viewer.post("/jobs/"+itoa(j.ID)+"/cancel", url.Values{}); status != 403 {
		t.Errorf("a viewer cancelling: %d, want 403", status)
	}
	if status, _, _ := w.signIn("crm@other.example").post("/jobs/"+itoa(j.ID)+"/cancel", url.Values{}); status != 404 {
		t.Errorf("another org cancelling: %d, want 404", status)
	}
	if status, _, _ := w.signIn("crm@acme.example").post("/jobs/"+itoa(j.ID)+"/cancel", url.Values{}); status != 200 {
		t.Errorf("a member cancelling: %d", status)
	}
	if got, _ := w.store.FindJob(ctx, j.ID); got.State != cleanroom.JobCancelled {
		t.Errorf("job after cancel: %s", got.State)
	}
	// The operator, in no org, sees every org's jobs with the org's name.
	if _, err := w.acc.CreateOperator(ctx, "root@deploy.example", "Root", worldPassword); err != nil {
		t.Fatal(err)
	}
	status, html = w.signIn("root@deploy.example").get("/jobs")
	if status != 200 || !strings.Contains(html, "ingest.publisher") || !strings.Contains(html, "Daily Planet") || !strings.Contains(html, "Acme Outdoor") {
		t.Errorf("operator's jobs: %d, want every org's by name", status)
	}
}
