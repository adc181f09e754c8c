// Package jobs runs background work from the durable queue in the metadata store. A Runner leases
// jobs of the kinds it has handlers for, keeps the lease alive while a handler runs, records
// progress, retries failures with exponential backoff, and on shutdown hands unfinished jobs back
// to the queue so that another process (or this one, restarted) picks them up.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cleanroom-oss/cleanroom"
)

// Handler runs one job. It reports progress through report (which also keeps the lease alive)
// and must return when ctx ends. An error fails the attempt; wrap it with Permanent, or return a
// cleanroom EINVALID error, to fail the job without retrying.
type Handler func(ctx context.Context, job *cleanroom.Job, report func(cleanroom.Progress)) error

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (p permanentError) Error() string { return p.err.Error() }
func (p permanentError) Unwrap() error { return p.err }

// Permanent marks err as not worth retrying.
func Permanent(err error) error { return permanentError{err} }

func isPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p) || cleanroom.ErrorCode(err) == cleanroom.EINVALID
}

// Runner leases and runs jobs.
type Runner struct {
	Store  cleanroom.JobStore
	Logger *slog.Logger
	Now    func() time.Time
	// Workers is how many jobs run at once (default 2).
	Workers int
	// Lease is how long a job stays leased without a progress report (default 1 minute); a worker
	// renews it every Lease/3 while the handler runs.
	Lease time.Duration
	// Poll is how often idle workers look for work (default 1 s); Notify wakes them sooner.
	Poll time.Duration
	// Owner names this runner in leases (default host:pid:random).
	Owner string
	// OnEnqueue, when set, is called after each Enqueue: app tells the workers of the other
	// processes (which call Notify) that a job is waiting.
	OnEnqueue func()

	handlers map[string]Handler
	wake     chan struct{}
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	finished *prometheus.CounterVec
}

// NewRunner returns a runner with the defaults.
func NewRunner(store cleanroom.JobStore, logger *slog.Logger) *Runner {
	host, _ := os.Hostname()
	return &Runner{
		Store: store, Logger: logger, Now: time.Now, Workers: 2, Lease: time.Minute, Poll: time.Second,
		Owner:    fmt.Sprintf("%s:%d:%04x", host, os.Getpid(), rand.IntN(1<<16)),
		handlers: map[string]Handler{},
		wake:     make(chan struct{}, 1),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cleanroom_jobs_finished_total",
			Help: "Job attempts finished by this process, by kind and outcome (succeeded, retried, failed, released).",
		}, []string{"kind", "outcome"}),
	}
}

// Register sets the handler for a job kind. Call before Start.
func (r *Runner) Register(kind string, h Handler) { r.handlers[kind] = h }

// Kinds returns the registered kinds.
func (r *Runner) Kinds() []string {
	kinds := make([]string, 0, len(r.handlers))
	for k := range r.handlers {
		kinds = append(kinds, k)
	}
	return kinds
}

// Notify wakes an idle worker (after an enqueue in this process).
func (r *Runner) Notify() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Enqueue adds a job to the queue and wakes a worker.
func (r *Runner) Enqueue(ctx context.Context, j *cleanroom.Job) error {
	if j.MaxAttempts == 0 {
		j.MaxAttempts = 5
	}
	if err := r.Store.EnqueueJob(ctx, j, cleanroom.UTC(r.Now())); err != nil {
		return err
	}
	r.Notify()
	if r.OnEnqueue != nil {
		r.OnEnqueue()
	}
	return nil
}

// Start starts the workers. They run until Stop.
func (r *Runner) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	if len(r.handlers) == 0 {
		return
	}
	for range max(r.Workers, 1) {
		r.wg.Add(1)
		go r.work(ctx)
	}
}

// Stop tells the workers to stop, interrupts running handlers (their jobs go back to the queue)
// and waits for them to return or for ctx to end.
func (r *Runner) Stop(ctx context.Context) error {
	if r.cancel == nil {
		return nil
	}
	r.cancel()
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("jobs: workers did not stop in time: %w", ctx.Err())
	}
}

func (r *Runner) work(ctx context.Context) {
	defer r.wg.Done()
	kinds := r.Kinds()
	for ctx.Err() == nil {
		job, err := r.Store.ClaimJob(ctx, r.Owner, kinds, cleanroom.UTC(r.Now()), r.Lease)
		if err != nil && ctx.Err() == nil {
			r.Logger.Error("claim job", "err", err)
		}
		if job == nil {
			select {
			case <-ctx.Done():
			case <-r.wake:
			case <-time.After(r.Poll):
			}
			continue
		}
		r.run(ctx, job)
	}
}

// RunOnce claims and runs one job, for tests and the CLI. It reports whether there was one.
func (r *Runner) RunOnce(ctx context.Context) (bool, error) {
	job, err := r.Store.ClaimJob(ctx, r.Owner, r.Kinds(), cleanroom.UTC(r.Now()), r.Lease)
	if err != nil || job == nil {
		return false, err
	}
	r.run(ctx, job)
	return true, nil
}

// RunPending runs jobs one after another until none is due, for tests, benchmarks and the demo's
// seeding. It returns how many ran. A job retried with backoff is not due, so it ends.
func (r *Runner) RunPending(ctx context.Context) (int, error) {
	for n := 0; ; n++ {
		ran, err := r.RunOnce(ctx)
		if err != nil || !ran {
			return n, err
		}
	}
}

// run executes one leased job and records its outcome. stop ends when the runner stops.
func (r *Runner) run(stop context.Context, job *cleanroom.Job) {
	log := r.Logger.With("job", job.ID, "kind", job.Kind, "attempt", job.Attempt)
	// The handler's context ends when the runner stops or the lease is lost.
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	go func() {
		select {
		case <-stop.Done():
			cancel(errStopping)
		case <-ctx.Done():
		}
	}()

	var mu sync.Mutex
	last := cleanroom.Progress{Done: job.ProgressDone, Total: job.ProgressTotal, Message: job.Message}
	renew := func() {
		mu.Lock()
		p := last
		mu.Unlock()
		err := r.Store.ReportJobProgress(context.WithoutCancel(ctx), job.ID, r.Owner, p, cleanroom.UTC(r.Now()).Add(r.Lease))
		if cleanroom.ErrorCode(err) == cleanroom.ECONFLICT {
			cancel(errLeaseLost)
		} else if err != nil {
			log.Warn("renew job lease", "err", err)
		}
	}
	// Progress is stored at most every half second, and the lease renewed every Lease/3.
	var lastSaved time.Time
	report := func(p cleanroom.Progress) {
		mu.Lock()
		last = p
		due := time.Since(lastSaved) >= 500*time.Millisecond
		if due {
			lastSaved = time.Now()
		}
		mu.Unlock()
		if due {
			renew()
		}
	}
	tick := time.NewTicker(max(r.Lease/3, 10*time.Millisecond))
	defer tick.Stop()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				renew()
			}
		}
	}()

	h := r.handlers[job.Kind]
	log.Info("job started")
	start := time.Now()
	err := runHandler(ctx, h, job, report)
	cause := context.Cause(ctx)
	cancel(nil)
	mu.Lock()
	final := last
	mu.Unlock()
	bg := context.Background()
	switch {
	case errors.Is(cause, errLeaseLost):
		log.Warn("job lease lost; another worker owns the job now")
		r.finished.WithLabelValues(job.Kind, "lease_lost").Inc()
		return
	case errors.Is(cause, errStopping) && err != nil:
		if rerr := r.Store.ReleaseJob(bg, job.ID, r.Owner); rerr != nil {
			log.Error("release job", "err", rerr)
		}
		log.Info("job released for shutdown")
		r.finished.WithLabelValues(job.Kind, "released").Inc()
		return
	}
	// Store the final progress before finishing.
	if perr := r.Store.ReportJobProgress(bg, job.ID, r.Owner, final, cleanroom.UTC(r.Now()).Add(r.Lease)); perr != nil {
		log.Warn("final progress", "err", perr)
	}
	now := cleanroom.UTC(r.Now())
	var retryAt time.Time
	var shown error // what the job's last error tells its org: never internal text
	outcome := "succeeded"
	if err != nil {
		outcome = "failed"
		if !isPermanent(err) && job.Attempt < job.MaxAttempts {
			retryAt = now.Add(Backoff(job.Attempt))
			outcome = "retried"
		}
		shown = errors.New(UserMessage(job, err))
		if retryAt.IsZero() {
			log.Warn("job failed", "err", err)
		} else {
			log.Warn("job attempt failed; it will be retried", "err", err, "retry_at", retryAt)
		}
	} else {
		log.Info("job succeeded", "took", time.Since(start).Round(time.Millisecond))
	}
	if ferr := r.Store.FinishJob(bg, job.ID, r.Owner, shown, retryAt, now); ferr != nil {
		log.Error("finish job", "err", ferr)
	}
	r.finished.WithLabelValues(job.Kind, outcome).Inc()
}

// UserMessage is what a failed job tells the org it belongs to (its last error, shown by the API
// and the dashboard): the message and hint of a *cleanroom.Error, which are written for users,
// or, for any other error (a file, the database, a decryption: text naming internal paths and
// causes), a generic sentence with the job's number and attempt, which find the detail in the
// log.
func UserMessage(job *cleanroom.Job, err error) string {
	if cleanroom.ErrorCode(err) != cleanroom.EINTERNAL {
		return cleanroom.ErrorText(err)
	}
	return fmt.Sprintf("An internal error stopped the job; the operator finds the details in the log under job %d, attempt %d.",
		job.ID, job.Attempt)
}

var (
	errStopping  = errors.New("runner stopping")
	errLeaseLost = errors.New("job lease lost")
)

// runHandler calls h, turning a panic into an error so one bad job cannot kill the process.
func runHandler(ctx context.Context, h Handler, job *cleanroom.Job, report func(cleanroom.Progress)) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("job handler panicked: %v", p)
		}
	}()
	if h == nil {
		return Permanent(fmt.Errorf("no handler for job kind %q", job.Kind))
	}
	return h(ctx, job, report)
}

// Backoff returns the wait before retrying after the given attempt: 10 s, 40 s, 160 s, ... up to
// an hour, with up to 20% jitter so that failed jobs do not retry in lockstep.
func Backoff(attempt int) time.Duration {
	d := 10 * time.Second << (2 * min(max(attempt-1, 0), 10))
	d = min(d, time.Hour)
	return d + time.Duration(rand.Int64N(int64(d)/5+1))
}

// Describe implements prometheus.Collector.
func (r *Runner) Describe(ch chan<- *prometheus.Desc) {
	r.finished.Describe(ch)
	ch <- jobsDesc
}

var jobsDesc = prometheus.NewDesc("cleanroom_jobs", "Jobs in the queue by kind and state.", []string{"kind", "state"}, nil)

// Collect implements prometheus.Collector: this process's finished attempts, and the queue's
// counts by kind and state read from the store at scrape time.
func (r *Runner) Collect(ch chan<- prometheus.Metric) {
	r.finished.Collect(ch)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := r.Store.CountJobs(ctx)
	if err != nil {
		r.Logger.Warn("count jobs for metrics", "err", err)
		return
	}
	for kind, byState := range counts {
		for state, n := range byState {
			ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, float64(n), kind, string(state))
		}
	}
}
