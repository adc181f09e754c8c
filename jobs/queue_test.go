package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/jobs"
	"github.com/cleanroom-oss/cleanroom/sqlite"
)

// TestQueueShowsSucceededJobsComplete: a job whose last progress report came before its last
// units is shown complete once it succeeded; a running or failed one shows what it reported.
func TestQueueShowsSucceededJobsComplete(t *testing.T) {
	ctx := context.Background()
	store := sqlite.MustOpen(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	org := "0190a0a0-0000-7000-8000-000000000001"
	q := &jobs.Queue{Store: store, Now: func() time.Time { return now }}
	c := cleanroom.NewCaller(org, cleanroom.RoleViewer)

	for _, tc := range []struct {
		name      string
		fail      bool
		finish    bool
		wantDone  int64
		wantState cleanroom.JobState
	}{
		{"succeeded", false, true, 10, cleanroom.JobSucceeded},
		{"running", false, false, 3, cleanroom.JobRunning},
		{"failed", true, true, 3, cleanroom.JobFailed},
	} {
		j := &cleanroom.Job{Kind: "count-" + tc.name, OrgID: org, MaxAttempts: 1}
		if err := store.EnqueueJob(ctx, j, now); err != nil {
			t.Fatal(err)
		}
		if _, err := store.ClaimJob(ctx, "w", []string{j.Kind}, now, time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := store.ReportJobProgress(ctx, j.ID, "w", cleanroom.Progress{Done: 3, Total: 10}, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if tc.finish {
			var runErr error
			if tc.fail {
				runErr = cleanroom.Errorf(cleanroom.EINVALID, "bad input")
			}
			if err := store.FinishJob(ctx, j.ID, "w", runErr, time.Time{}, now); err != nil {
				t.Fatal(err)
			}
		}
		got, err := q.Get(ctx, c, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != tc.wantState || got.ProgressDone != tc.wantDone || got.ProgressTotal != 10 {
			t.Errorf("%s: Get = %s %d/%d, want %s %d/10", tc.name, got.State, got.ProgressDone, got.ProgressTotal, tc.wantState, tc.wantDone)
		}
		list, _, err := q.List(ctx, c, cleanroom.JobFilter{Kind: j.Kind})
		if err != nil || len(list) != 1 {
			t.Fatalf("%s: List = %v, %v", tc.name, list, err)
		}
		if list[0].ProgressDone != tc.wantDone {
			t.Errorf("%s: List shows %d/%d, want %d/10", tc.name, list[0].ProgressDone, list[0].ProgressTotal, tc.wantDone)
		}
	}
}
