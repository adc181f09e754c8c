package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/jobs"
	"github.com/cleanroom-oss/cleanroom/sqlite"
)

func newRunner(t *testing.T, store cleanroom.JobStore) *jobs.Runner {
	r := jobs.NewRunner(store, slog.New(slog.DiscardHandler))
	r.Poll = 10 * time.Millisecond
	r.Lease = 2 * time.Second
	return r
}

// waitState polls until job id reaches state.
func waitState(t *testing.T, store cleanroom.JobStore, id int64, state cleanroom.JobState) *cleanroom.Job {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		j, err := store.FindJob(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State == state {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %d is %s (%s), want %s", id, j.State, j.LastError, state)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRunnerSucceedsWithProgress(t *testing.T) {
	store := sqlite.MustOpen(t)
	r := newRunner(t, store)
	r.Register("count", func(ctx context.Context, j *cleanroom.Job, report func(cleanroom.Progress)) error {
		for i := int64(1); i <= 100; i++ {
			report(cleanroom.Progress{Done: i, Total: 100, Message: "counting"})
		}
		return nil
	})
	r.Start()
	defer r.Stop(context.Background())
	j := &cleanroom.Job{Kind: "count", OrgID: ""}
	if err := r.Enqueue(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	got := waitState(t, store, j.ID, cleanroom.JobSucceeded)
	if got.ProgressDone != 100 || got.ProgressTotal != 100 || got.Message != "counting" {
		t.Errorf("final progress %d/%d %q", got.ProgressDone, got.ProgressTotal, got.Message)
	}
	if got.Attempt != 1 || got.FinishedAt.IsZero() {
		t.Errorf("attempt %d finished %v", got.Attempt, got.FinishedAt)
	}
}

func TestRunnerRetriesThenFails(t *testing.T) {
	store := sqlite.MustOpen(t)
	r := newRunner(t, store)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r.Now = func() time.Time { return now }
	var calls atomic.Int32
	r.Register("flaky", func(ctx context.Context, j *cleanroom.Job, report func(cleanroom.Progress)) error {
		calls.Add(1)
		return errors.New("upstream timed out reading vaults/x/y: sealed: corrupt data")
	})
	ctx := context.Background()
	j := &cleanroom.Job{Kind: "flaky", MaxAttempts: 3}
	if err := r.Enqueue(ctx, j); err != nil {
		t.Fatal(err)
	}
	for attempt := 1; attempt <= 3; attempt++ {
		ran, err := r.RunOnce(ctx)
		if err != nil || !ran {
			t.Fatalf("attempt %d: ran=%v err=%v", attempt, ran, err)
		}
		got, _ := store.FindJob(ctx, j.ID)
		if attempt < 3 {
			if got.State != cleanroom.JobQueued || !got.RunAt.After(now) || !strings.Contains(got.LastError, "internal error") {
				t.Fatalf("after attempt %d: %s run_at %v err %q", attempt, got.State, got.RunAt, got.LastError)
			}
			// Not runnable before the backoff has passed.
			if ran, _ := r.RunOnce(ctx); ran {
				t.Fatalf("job ran again before its backoff")
			}
			now = got.RunAt
		} else if got.State != cleanroom.JobFailed {
			t.Fatalf("after the last attempt: %s", got.State)
		}
	}
	if calls.Load() != 3 {
		t.Errorf("handler ran %d times, want 3", calls.Load())
	}
}

func TestRunnerPermanentAndPanic(t *testing.T) {
	store := sqlite.MustOpen(t)
	r := newRunner(t, store)
	r.Register("bad-input", func(ctx context.Context, j *cleanroom.Job, report func(cleanroom.Progress)) error {
		return cleanroom.Errorf(cleanroom.EINVALID, "line 3: not a hash")
	})
	r.Register("boom", func(ctx context.Context, j *cleanroom.Job, report func(cleanroom.Progress)) error {
		panic("nil map")
	})
	ctx := context.Background()
	bad := &cleanroom.Job{Kind: "bad-input", MaxAttempts: 5}
	boom := &cleanroom.Job{Kind: "boom", MaxAttempts: 1}
	r.Enqueue(ctx, bad)
	r.Enqueue(ctx, boom)
	r.RunOnce(ctx)
	r.RunOnce(ctx)
	if j, _ := store.FindJob(ctx, bad.ID); j.State != cleanroom.JobFailed || j.Attempt != 1 || !strings.Contains(j.LastError, "not a hash") {
		t.Errorf("invalid input: %s attempt %d %q, want failed at once", j.State, j.Attempt, j.LastError)
	}
	if j, _ := store.FindJob(ctx, boom.ID); j.State != cleanroom.JobFailed || !strings.Contains(j.LastError, "internal error") || strings.Contains(j.LastError, "nil map") {
		t.Errorf("panic: %s %q", j.State, j.LastError)
	}
}

// TestRunnerLastErrorIsUserSafe: a failed job's last error (what the API and the dashboard
// show its org) is the message and hint of an error meant for users, and for any other error a
// generic sentence naming the job and attempt; the detail (paths, causes) goes to the log only,
// which says retry_at only when there will be a retry.
func TestRunnerLastErrorIsUserSafe(t *testing.T) {
	store := sqlite.MustOpen(t)
	var logs strings.Builder
	r := jobs.NewRunner(store, slog.New(slog.NewTextHandler(&logs, nil)))
	internal := fmt.Errorf("vault: open vaults/0b7c/data-sources/9f1e/v3.bin: %w", errors.New("sealed: corrupt data: chunk 4"))
	r.Register("internal", func(ctx context.Context, j *cleanroom.Job, report func(cleanroom.Progress)) error {
		return internal
	})
	r.Register("wrapped", func(ctx context.Context, j *cleanroom.Job, report func(cleanroom.Progress)) error {
		return fmt.Errorf("uploads: process vaults/x/y.part: %w",
			cleanroom.Errorf(cleanroom.EINVALID, "The file has no data rows.").Hint("Upload rows, not only a header.").Wrap(internal))
	})
	ctx := context.Background()
	in := &cleanroom.Job{Kind: "internal", MaxAttempts: 1}
	wr := &cleanroom.Job{Kind: "wrapped", MaxAttempts: 3}
	r.Enqueue(ctx, in)
	r.Enqueue(ctx, wr)
	r.RunOnce(ctx)
	r.RunOnce(ctx)
	j, _ := store.FindJob(ctx, in.ID)
	want := fmt.Sprintf("internal error stopped the job; the operator finds the details in the log under job %d, attempt 1.", in.ID)
	if j.State != cleanroom.JobFailed || !strings.HasSuffix(j.LastError, want) {
		t.Errorf("internal error: %s %q, want it to end %q", j.State, j.LastError, want)
	}
	j, _ = store.FindJob(ctx, wr.ID)
	if j.State != cleanroom.JobFailed || j.LastError != "The file has no data rows. Upload rows, not only a header." {
		t.Errorf("user error: %s %q", j.State, j.LastError)
	}
	for _, id := range []int64{in.ID, wr.ID} {
		j, _ := store.FindJob(ctx, id)
		for _, secret := range []string{"vaults/", "sealed", "corrupt", "uploads:"} {
			if strings.Contains(j.LastError, secret) {
				t.Errorf("job %d last error %q shows %q", id, j.LastError, secret)
			}
		}
	}
	log := logs.String()
	if !strings.Contains(log, "sealed: corrupt data: chunk 4") || !strings.Contains(log, fmt.Sprintf("job=%d", in.ID)) {
		t.Errorf("the log lacks the detail:\n%s", log)
	}
	if strings.Contains(log, "retry_at") {
		t.Errorf("jobs that will not be retried log a retry time:\n%s", log)
	}
}

// TestRunnerStopHandsJobBack: a job interrupted by shutdown goes back to the queue and a new
// runner (a restarted process) finishes it.
func TestRunnerStopHandsJobBack(t *testing.T) {
	store := sqlite.MustOpen(t)
	started := make(chan struct{})
	r1 := newRunner(t, store)
	r1.Register("long", func(ctx context.Context, j *cleanroom.Job, report func(cleanroom.Progress)) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	})
	r1.Start()
	j := &cleanroom.Job{Kind: "long", MaxAttempts: 1}
	if err := r1.Enqueue(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	<-started
	stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r1.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	if got := waitState(t, store, j.ID, cleanroom.JobQueued); got.LeaseOwner != "" {
		t.Errorf("released job still leased by %q", got.LeaseOwner)
	}
	r2 := newRunner(t, store)
	r2.Register("long", func(ctx context.Context, j *cleanroom.Job, report func(cleanroom.Progress)) error { return nil })
	r2.Start()
	defer r2.Stop(context.Background())
	waitState(t, store, j.ID, cleanroom.JobSucceeded)
}

// TestRunnerTakesOverDeadWorker: a job leased by a worker that died is run by another once the
// lease expires.
func TestRunnerTakesOverDeadWorker(t *testing.T) {
	store := sqlite.MustOpen(t)
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	j := &cleanroom.Job{Kind: "work", MaxAttempts: 3}
	if err := store.EnqueueJob(ctx, j, now); err != nil {
		t.Fatal(err)
	}
	if got, err := store.ClaimJob(ctx, "dead-worker", []string{"work"}, now, time.Minute); err != nil || got == nil {
		t.Fatalf("claim: %v %v", got, err)
	}
	r := newRunner(t, store)
	r.Now = func() time.Time { return now }
	r.Register("work", func(ctx context.Context, j *cleanroom.Job, report func(cleanroom.Progress)) error { return nil })
	if ran, _ := r.RunOnce(ctx); ran {
		t.Fatal("took over a job whose lease is still valid")
	}
	now = now.Add(2 * time.Minute)
	if ran, err := r.RunOnce(ctx); !ran || err != nil {
		t.Fatalf("did not take over the expired lease: %v", err)
	}
	got, _ := store.FindJob(ctx, j.ID)
	if got.State != cleanroom.JobSucceeded || got.Attempt != 2 {
		t.Errorf("taken-over job: %s attempt %d", got.State, got.Attempt)
	}
}

func TestRunnerMetrics(t *testing.T) {
	store := sqlite.MustOpen(t)
	r := newRunner(t, store)
	r.Register("m", func(ctx context.Context, j *cleanroom.Job, report func(cleanroom.Progress)) error { return nil })
	ctx := context.Background()
	r.Enqueue(ctx, &cleanroom.Job{Kind: "m"})
	r.Enqueue(ctx, &cleanroom.Job{Kind: "m"})
	r.RunOnce(ctx)
	reg := prometheus.NewRegistry()
	reg.MustRegister(r)
	if n, err := testutil.GatherAndCount(reg, "cleanroom_jobs"); err != nil || n != 2 {
		t.Errorf("cleanroom_jobs series = %d (%v), want queued and succeeded", n, err)
	}
	want := `
# HELP cleanroom_jobs Jobs in the queue by kind and state.
# TYPE cleanroom_jobs gauge
cleanroom_jobs{kind="m",state="queued"} 1
cleanroom_jobs{kind="m",state="succeeded"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "cleanroom_jobs"); err != nil {
		t.Error(err)
	}
}

func TestBackoff(t *testing.T) {
	prev := time.Duration(0)
	for a := 1; a <= 4; a++ {
		d := jobs.Backoff(a)
		if d <= prev || d > time.Hour+12*time.Minute {
			t.Errorf("backoff(%d) = %v after %v", a, d, prev)
		}
		prev = d
	}
	if d := jobs.Backoff(50); d < time.Hour || d > time.Hour*12/10 {
		t.Errorf("backoff is not capped near an hour: %v", d)
	}
}

func TestRunPending(t *testing.T) {
	store := sqlite.MustOpen(t)
	r := newRunner(t, store)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r.Now = func() time.Time { return now }
	var ok, flaky atomic.Int32
	r.Register("ok", func(ctx context.Context, j *cleanroom.Job, report func(cleanroom.Progress)) error {
		ok.Add(1)
		return nil
	})
	r.Register("flaky", func(ctx context.Context, j *cleanroom.Job, report func(cleanroom.Progress)) error {
		flaky.Add(1)
		return errors.New("upstream timed out reading vaults/x/y: sealed: corrupt data")
	})
	ctx := context.Background()
	for _, kind := range []string{"ok", "flaky", "ok"} {
		if err := r.Enqueue(ctx, &cleanroom.Job{Kind: kind, MaxAttempts: 3}); err != nil {
			t.Fatal(err)
		}
	}
	// Every due job runs once; the flaky one's retry waits for its backoff.
	if n, err := r.RunPending(ctx); err != nil || n != 3 || ok.Load() != 2 || flaky.Load() != 1 {
		t.Fatalf("ran %d (%v): ok %d, flaky %d", n, err, ok.Load(), flaky.Load())
	}
	if n, err := r.RunPending(ctx); err != nil || n != 0 {
		t.Errorf("nothing due: ran %d (%v)", n, err)
	}
}
