package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
)

// enqueue stores a job of kind for org 1 that may run at t0+runAt, with max attempts.
func enqueue(t *testing.T, s cleanroom.Store, kind string, runAt time.Duration, max int) *cleanroom.Job {
	t.Helper()
	j := &cleanroom.Job{Kind: kind, OrgID: orgID(1), Args: json.RawMessage(`{"source":"s1"}`), MaxAttempts: max, RunAt: t0.Add(runAt)}
	ok(t, s.EnqueueJob(t.Context(), j, t0))
	return j
}

// claim claims a job of kind at t0+now with a one-minute lease and fails the test on an error.
func claim(t *testing.T, s cleanroom.Store, owner string, now time.Duration, kinds ...string) *cleanroom.Job {
	t.Helper()
	j, err := s.ClaimJob(t.Context(), owner, kinds, t0.Add(now), time.Minute)
	ok(t, err)
	return j
}

// claimID claims and returns the claimed job's ID, 0 for none.
func claimID(t *testing.T, s cleanroom.Store, owner string, now time.Duration, kinds ...string) int64 {
	t.Helper()
	if j := claim(t, s, owner, now, kinds...); j != nil {
		return j.ID
	}
	return 0
}

// findJob returns the stored job.
func findJob(t *testing.T, s cleanroom.Store, id int64) *cleanroom.Job {
	t.Helper()
	j, err := s.FindJob(t.Context(), id)
	ok(t, err)
	return j
}

var jobCases = []testCase{
	{"enqueue and find", func(t *testing.T, s cleanroom.Store) {
		j := &cleanroom.Job{Kind: "ingest", OrgID: orgID(1), Args: json.RawMessage(`{"source":"s1"}`), MaxAttempts: 3}
		ok(t, s.EnqueueJob(t.Context(), j, t0))
		want := &cleanroom.Job{ID: j.ID, Kind: "ingest", OrgID: orgID(1), Args: json.RawMessage(`{"source":"s1"}`),
			State: cleanroom.JobQueued, MaxAttempts: 3, RunAt: at(0), CreatedAt: at(0)}
		same(t, "enqueued job", want, j)
		same(t, "found job", want, findJob(t, s, j.ID))

		later := enqueue(t, s, "ingest", time.Hour, 1)
		if later.ID <= j.ID {
			t.Fatalf("second job's ID %d is not above the first's %d", later.ID, j.ID)
		}
		if !later.RunAt.Equal(at(time.Hour)) {
			t.Fatalf("RunAt = %v, want %v", later.RunAt, at(time.Hour))
		}
		_, err := s.FindJob(t.Context(), later.ID+1)
		wantCode(t, err, cleanroom.ENOTFOUND)
	}},
	{"claim order is run time then ID", func(t *testing.T, s cleanroom.Store) {
		a := enqueue(t, s, "k", 2*time.Second, 1)
		b := enqueue(t, s, "k", time.Second, 1)
		c := enqueue(t, s, "k", time.Second, 1)
		var got []int64
		for range 4 {
			got = append(got, claimID(t, s, "w", time.Minute, "k"))
		}
		same(t, "claim order", []int64{b.ID, c.ID, a.ID, 0}, got)
	}},
	{"claim sets the lease", func(t *testing.T, s cleanroom.Store) {
		j := enqueue(t, s, "k", 0, 3)
		got := claim(t, s, "w1", time.Second, "k")
		want := *j
		want.State, want.Attempt, want.LeaseOwner, want.LeaseUntil, want.StartedAt =
			cleanroom.JobRunning, 1, "w1", at(time.Second+time.Minute), at(time.Second)
		same(t, "claimed job", &want, got)
		same(t, "stored job", &want, findJob(t, s, j.ID))
	}},
	{"claim respects kinds and run time", func(t *testing.T, s cleanroom.Store) {
		other := enqueue(t, s, "other", 0, 1)
		later := enqueue(t, s, "k", time.Hour, 1)
		if id := claimID(t, s, "w", 0, "k"); id != 0 {
			t.Fatalf("claimed job %d before any of kind k may run", id)
		}
		if id := claimID(t, s, "w", 2*time.Hour); id != 0 {
			t.Fatalf("claimed job %d with no kinds", id)
		}
		if id := claimID(t, s, "w", time.Hour-time.Microsecond, "k"); id != 0 {
			t.Fatalf("claimed job %d a microsecond early", id)
		}
		if id := claimID(t, s, "w", time.Hour, "k"); id != later.ID {
			t.Fatalf("claimed %d at its run time, want %d", id, later.ID)
		}
		if id := claimID(t, s, "w", time.Hour, "x", "other"); id != other.ID {
			t.Fatalf("claimed %d among kinds x and other, want %d", id, other.ID)
		}
	}},
	{"expired lease passes the job on", func(t *testing.T, s cleanroom.Store) {
		j := enqueue(t, s, "k", 0, 3)
		claim(t, s, "w1", 0, "k") // lease until t0+1m
		if id := claimID(t, s, "w2", 30*time.Second, "k"); id != 0 {
			t.Fatalf("w2 claimed job %d while w1's lease runs", id)
		}
		if id := claimID(t, s, "w2", time.Minute, "k"); id != 0 {
			t.Fatalf("w2 claimed job %d the moment w1's lease ends", id)
		}
		got := claim(t, s, "w2", 2*time.Minute, "k")
		if got == nil || got.ID != j.ID || got.Attempt != 2 || got.LeaseOwner != "w2" {
			t.Fatalf("after the lease expired w2 claimed %+v, want job %d at attempt 2", got, j.ID)
		}
		if !got.StartedAt.Equal(at(0)) {
			t.Errorf("StartedAt = %v, want the first start %v", got.StartedAt, at(0))
		}
		// w1 wakes up: its lease is gone.
		wantCode(t, s.ReportJobProgress(t.Context(), j.ID, "w1", cleanroom.Progress{Done: 1}, t0.Add(time.Hour)), cleanroom.ECONFLICT)
		wantCode(t, s.FinishJob(t.Context(), j.ID, "w1", nil, time.Time{}, t0.Add(3*time.Minute)), cleanroom.ECONFLICT)
		wantCode(t, s.ReleaseJob(t.Context(), j.ID, "w1"), cleanroom.ECONFLICT)
		if st := findJob(t, s, j.ID); st.State != cleanroom.JobRunning || st.LeaseOwner != "w2" {
			t.Fatalf("job is %s held by %q, want running held by w2", st.State, st.LeaseOwner)
		}
	}},
	{"exhausted attempts fail the job", func(t *testing.T, s cleanroom.Store) {
		j := enqueue(t, s, "k", 0, 2)
		next := enqueue(t, s, "k", time.Minute, 1)
		claim(t, s, "w1", 0, "k")                                       // attempt 1, lease until 1m
		if id := claimID(t, s, "w2", 90*time.Second, "k"); id != j.ID { // attempt 2, lease until 2m30s
			t.Fatalf("claimed %d, want %d again", id, j.ID)
		}
		// The lease expires after the last attempt: the job fails and the next one is claimed.
		if id := claimID(t, s, "w3", 3*time.Minute, "k"); id != next.ID {
			t.Fatalf("claimed %d, want the next job %d", id, next.ID)
		}
		got := findJob(t, s, j.ID)
		want := *j
		want.State, want.Attempt, want.StartedAt, want.FinishedAt = cleanroom.JobFailed, 2, at(0), at(3*time.Minute)
		want.LastError = "worker lost its lease after 2 attempts"
		same(t, "failed job", &want, got)
		if id := claimID(t, s, "w3", time.Hour, "k"); id != 0 {
			t.Fatalf("claimed %d after every job ended or is held", id)
		}
	}},
	{"progress", func(t *testing.T, s cleanroom.Store) {
		j := enqueue(t, s, "k", 0, 1)
		claim(t, s, "w1", 0, "k")
		p := cleanroom.Progress{Done: 40, Total: 100, Message: "Matching"}
		ok(t, s.ReportJobProgress(t.Context(), j.ID, "w1", p, t0.Add(5*time.Minute)))
		got := findJob(t, s, j.ID)
		if got.ProgressDone != 40 || got.ProgressTotal != 100 || got.Message != "Matching" || !got.LeaseUntil.Equal(at(5*time.Minute)) {
			t.Fatalf("after progress: %+v", got)
		}
		// The extended lease holds off other workers.
		if id := claimID(t, s, "w2", 2*time.Minute, "k"); id != 0 {
			t.Fatalf("w2 claimed %d within the extended lease", id)
		}
		wantCode(t, s.ReportJobProgress(t.Context(), j.ID, "w2", p, t0.Add(time.Hour)), cleanroom.ECONFLICT)
		wantCode(t, s.ReportJobProgress(t.Context(), j.ID+1, "w1", p, t0.Add(time.Hour)), cleanroom.ECONFLICT)
		if got := findJob(t, s, j.ID); !got.LeaseUntil.Equal(at(5 * time.Minute)) {
			t.Fatalf("a wrong owner moved the lease to %v", got.LeaseUntil)
		}
	}},
	{"finish", func(t *testing.T, s cleanroom.Store) {
		for _, c := range []struct {
			name    string
			runErr  error
			retryAt time.Duration
			want    func(j *cleanroom.Job)
		}{
			{"success", nil, 0, func(j *cleanroom.Job) {
				j.State, j.FinishedAt = cleanroom.JobSucceeded, at(time.Minute)
			}},
			{"failure", errors.New("boom"), 0, func(j *cleanroom.Job) {
				j.State, j.FinishedAt, j.LastError = cleanroom.JobFailed, at(time.Minute), "boom"
			}},
			{"retry", errors.New("timeout"), time.Hour, func(j *cleanroom.Job) {
				j.State, j.RunAt, j.LastError = cleanroom.JobQueued, at(time.Hour), "timeout"
			}},
		} {
			t.Run(c.name, func(t *testing.T) {
				j := enqueue(t, s, c.name, 0, 3)
				claim(t, s, "w", 0, c.name)
				var retryAt time.Time
				if c.retryAt != 0 {
					retryAt = t0.Add(c.retryAt)
				}
				ok(t, s.FinishJob(t.Context(), j.ID, "w", c.runErr, retryAt, t0.Add(time.Minute)))
				want := *j
				want.Attempt, want.StartedAt = 1, at(0)
				c.want(&want)
				same(t, "finished job", &want, findJob(t, s, j.ID))
				wantCode(t, s.FinishJob(t.Context(), j.ID, "w", nil, time.Time{}, t0.Add(2*time.Minute)), cleanroom.ECONFLICT)
			})
		}
	}},
	{"retry runs again at its time", func(t *testing.T, s cleanroom.Store) {
		j := enqueue(t, s, "k", 0, 3)
		claim(t, s, "w", 0, "k")
		ok(t, s.FinishJob(t.Context(), j.ID, "w", errors.New("flaky"), t0.Add(time.Hour), t0.Add(time.Minute)))
		if id := claimID(t, s, "w", 30*time.Minute, "k"); id != 0 {
			t.Fatalf("claimed %d before its retry time", id)
		}
		got := claim(t, s, "w", time.Hour, "k")
		if got == nil || got.ID != j.ID || got.Attempt != 2 || got.LastError != "flaky" {
			t.Fatalf("retry claimed %+v, want job %d at attempt 2 with its last error", got, j.ID)
		}
		ok(t, s.FinishJob(t.Context(), j.ID, "w", nil, time.Time{}, t0.Add(2*time.Hour)))
		if got := findJob(t, s, j.ID); got.State != cleanroom.JobSucceeded || got.LastError != "flaky" {
			t.Fatalf("after success on retry: state %s, last error %q", got.State, got.LastError)
		}
	}},
	{"release gives the attempt back", func(t *testing.T, s cleanroom.Store) {
		j := enqueue(t, s, "k", 0, 1)
		claim(t, s, "w1", 0, "k")
		wantCode(t, s.ReleaseJob(t.Context(), j.ID, "w2"), cleanroom.ECONFLICT)
		ok(t, s.ReleaseJob(t.Context(), j.ID, "w1"))
		got := findJob(t, s, j.ID)
		want := *j
		want.StartedAt = at(0)
		same(t, "released job", &want, got)
		// With one attempt allowed, the job still runs: the release did not use it up.
		again := claim(t, s, "w2", time.Second, "k")
		if again == nil || again.ID != j.ID || again.Attempt != 1 {
			t.Fatalf("after release claimed %+v, want job %d at attempt 1", again, j.ID)
		}
	}},
	{"cancel", func(t *testing.T, s cleanroom.Store) {
		queued := enqueue(t, s, "k", time.Hour, 1)
		running := enqueue(t, s, "k", 0, 1)
		claim(t, s, "w", 0, "k")
		ok(t, s.CancelJob(t.Context(), queued.ID, t0.Add(time.Minute)))
		ok(t, s.CancelJob(t.Context(), running.ID, t0.Add(time.Minute)))
		for _, id := range []int64{queued.ID, running.ID} {
			got := findJob(t, s, id)
			if got.State != cleanroom.JobCancelled || !got.FinishedAt.Equal(at(time.Minute)) || got.LeaseOwner != "" {
				t.Fatalf("cancelled job %d: %+v", id, got)
			}
			wantCode(t, s.CancelJob(t.Context(), id, t0.Add(2*time.Minute)), cleanroom.ECONFLICT)
		}
		wantCode(t, s.ReportJobProgress(t.Context(), running.ID, "w", cleanroom.Progress{}, t0.Add(time.Hour)), cleanroom.ECONFLICT)
		wantCode(t, s.CancelJob(t.Context(), running.ID+100, t0), cleanroom.ENOTFOUND)
		if id := claimID(t, s, "w", 2*time.Hour, "k"); id != 0 {
			t.Fatalf("claimed cancelled job %d", id)
		}
	}},
	{"list and count", func(t *testing.T, s cleanroom.Store) {
		var all []*cleanroom.Job
		for i, kind := range []string{"ingest", "match", "ingest", "match", "ingest"} {
			j := &cleanroom.Job{Kind: kind, OrgID: orgID(1 + i%2), MaxAttempts: 1}
			ok(t, s.EnqueueJob(t.Context(), j, t0))
			all = append(all, j)
		}
		claimed := claim(t, s, "w", 0, "match") // job 1
		ok(t, s.FinishJob(t.Context(), claimed.ID, "w", nil, time.Time{}, t0))
		claim(t, s, "w", 0, "ingest") // job 0
		for i, id := range []int64{all[0].ID, all[1].ID} {
			all[i] = findJob(t, s, id)
		}
		for _, c := range []struct {
			name string
			f    cleanroom.JobFilter
			want []int
		}{
			{"all", cleanroom.JobFilter{}, []int{4, 3, 2, 1, 0}},
			{"org", cleanroom.JobFilter{OrgID: orgID(1)}, []int{4, 2, 0}},
			{"kind", cleanroom.JobFilter{Kind: "match"}, []int{3, 1}},
			{"state", cleanroom.JobFilter{State: cleanroom.JobQueued}, []int{4, 3, 2}},
			{"org, kind and state", cleanroom.JobFilter{OrgID: orgID(1), Kind: "ingest", State: cleanroom.JobRunning}, []int{0}},
			{"none", cleanroom.JobFilter{Kind: "purge"}, nil},
		} {
			got, _ := collectPages(t, 2, func(p cleanroom.Page) ([]*cleanroom.Job, string, error) {
				f := c.f
				f.Page = p
				return s.ListJobs(t.Context(), f)
			})
			var want []*cleanroom.Job
			for _, i := range c.want {
				want = append(want, all[i])
			}
			same(t, c.name, want, got)
		}
		counts, err := s.CountJobs(t.Context())
		ok(t, err)
		same(t, "counts", map[string]map[cleanroom.JobState]int{
			"ingest": {cleanroom.JobQueued: 2, cleanroom.JobRunning: 1},
			"match":  {cleanroom.JobQueued: 1, cleanroom.JobSucceeded: 1},
		}, counts)
	}},
	{"concurrent claims", func(t *testing.T, s cleanroom.Store) { ConcurrentClaims(t, 4, s) }},
}

// ConcurrentClaims enqueues 50 jobs through the first store, then lets workersPerStore goroutines
// on each store claim and finish jobs until none is left, all starting at once. It checks that
// every job was claimed exactly once. Passing several stores over one database checks that
// instances of a deployment share the queue safely.
func ConcurrentClaims(t *testing.T, workersPerStore int, stores ...cleanroom.Store) {
	const jobs = 50
	want := map[int64]bool{}
	for range jobs {
		want[enqueue(t, stores[0], "k", 0, 1).ID] = true
	}
	var (
		mu      sync.Mutex
		claimed = map[int64]string{}
		wg      sync.WaitGroup
		errs    = make(chan error, workersPerStore*len(stores))
		start   = make(chan struct{}) // all workers start together, to collide
	)
	for i, s := range stores {
		for w := range workersPerStore {
			owner := fmt.Sprintf("store-%d-worker-%d", i, w)
			wg.Go(func() {
				<-start
				for {
					j, err := s.ClaimJob(t.Context(), owner, []string{"k"}, t0, time.Hour)
					if err != nil {
						errs <- fmt.Errorf("%s: claim: %w", owner, err)
						return
					}
					if j == nil {
						return
					}
					mu.Lock()
					prev, dup := claimed[j.ID]
					claimed[j.ID] = owner
					mu.Unlock()
					if dup {
						errs <- fmt.Errorf("job %d claimed by %s and %s", j.ID, prev, owner)
						return
					}
					if err := s.FinishJob(t.Context(), j.ID, owner, nil, time.Time{}, t0); err != nil {
						errs <- fmt.Errorf("%s: finish job %d: %w", owner, j.ID, err)
						return
					}
				}
			})
		}
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got := map[int64]bool{}
	for id := range claimed {
		got[id] = true
	}
	same(t, "claimed jobs", want, got)
	counts, err := stores[0].CountJobs(t.Context())
	ok(t, err)
	same(t, "counts", map[string]map[cleanroom.JobState]int{"k": {cleanroom.JobSucceeded: jobs}}, counts)
}
