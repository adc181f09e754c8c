// Package periodic runs the deployment's periodic work (the cohort refresh, the edge's publishing
// check, session sweeping) once across all the processes that share a metadata store, not once per
// process. Each task has a named lease in the store (cleanroom.LeaseStore): the process that holds
// it runs the task, renews the lease while it lives and releases it on Stop; when the holder dies
// without releasing, another process takes the lease over once it expires (LeaseTTL) and runs the
// task from then on.
//
// Tasks are registered in one place, app's periodicTasks; a new periodic task is one more entry
// there.
package periodic

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/cleanroom-oss/cleanroom"
)

// DefaultLeaseTTL is how long a task's lease lasts without renewal: how long the deployment may
// go without a task after its holder died.
const DefaultLeaseTTL = 30 * time.Second

// Task is one piece of periodic work.
type Task struct {
	// Name names the task's lease; every process must use the same name for the same work.
	Name string
	// Every is how often the task runs.
	Every time.Duration
	// Wake, when set, asks for an early run (a nudge after a change); Settle waits that long
	// after a wake so that a burst of changes makes one run.
	Wake   <-chan struct{}
	Settle time.Duration
	// Run does the work. Its error is logged; the task runs again at its next tick.
	Run func(ctx context.Context) error
}

// Scheduler runs tasks under their leases.
type Scheduler struct {
	Leases cleanroom.LeaseStore
	Logger *slog.Logger
	// Holder names this process in the leases (default host:pid:random).
	Holder string
	// LeaseTTL is the lease time (default DefaultLeaseTTL); holders renew every third of it.
	LeaseTTL time.Duration
	// Now is the clock of the leases (default time.Now).
	Now func() time.Time

	mu     sync.Mutex
	tasks  []Task
	held   map[string]bool
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a scheduler over leases with the defaults.
func New(leases cleanroom.LeaseStore, logger *slog.Logger) *Scheduler {
	host, _ := os.Hostname()
	var b [4]byte
	rand.Read(b[:])
	return &Scheduler{Leases: leases, Logger: logger, Holder: fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b[:])),
		LeaseTTL: DefaultLeaseTTL, Now: time.Now, held: map[string]bool{}}
}

// Add registers a task. Call before Start; a task with Every <= 0 is left out.
func (s *Scheduler) Add(t Task) {
	if t.Every > 0 {
		s.tasks = append(s.tasks, t)
	}
}

// Tasks returns the names of the registered tasks.
func (s *Scheduler) Tasks() []string {
	names := make([]string, len(s.tasks))
	for i, t := range s.tasks {
		names[i] = t.Name
	}
	return names
}

// take takes or renews the task's lease and records whether this process holds it.
func (s *Scheduler) take(ctx context.Context, name string) bool {
	now := s.Now()
	ok, err := s.Leases.TakeLease(ctx, name, s.Holder, now, now.Add(s.LeaseTTL))
	if err != nil {
		if ctx.Err() == nil {
			s.Logger.Warn("periodic task lease failed", "task", name, "err", err)
		}
		ok = false
	}
	s.mu.Lock()
	if ok != s.held[name] {
		s.Logger.Debug("periodic task lease", "task", name, "held", ok, "holder", s.Holder)
	}
	s.held[name] = ok
	s.mu.Unlock()
	return ok
}

// Holds reports whether this process held the task's lease at its last attempt.
func (s *Scheduler) Holds(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held[name]
}

// Tick runs, once, every registered task whose lease this process holds or can take now, and
// returns the names of those it ran. The tasks' loops (Start) call it task by task; tests call it
// to step several schedulers in turn.
func (s *Scheduler) Tick(ctx context.Context) []string {
	var ran []string
	for _, t := range s.tasks {
		if s.runTask(ctx, t) {
			ran = append(ran, t.Name)
		}
	}
	return ran
}

func (s *Scheduler) runTask(ctx context.Context, t Task) bool {
	if !s.take(ctx, t.Name) {
		return false
	}
	if err := t.Run(ctx); err != nil && ctx.Err() == nil {
		s.Logger.Warn("periodic task failed", "task", t.Name, "err", err)
	}
	return true
}

// Start runs each task in a goroutine of its own until Stop: at once, then every Every and after
// each Wake, each time only if this process holds (or takes) the task's lease; between runs it
// renews the lease (and a process without it tries to take it) every third of LeaseTTL.
func (s *Scheduler) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	for _, t := range s.tasks {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.loop(ctx, t)
		}()
	}
}

func (s *Scheduler) loop(ctx context.Context, t Task) {
	tick := time.NewTicker(t.Every)
	defer tick.Stop()
	renew := time.NewTicker(max(s.LeaseTTL/3, time.Millisecond))
	defer renew.Stop()
	for {
		s.runTask(ctx, t)
	wait:
		for {
			select {
			case <-ctx.Done():
				return
			case <-renew.C:
				s.take(ctx, t.Name)
				continue
			case <-tick.C:
			case <-t.Wake:
				if !s.Holds(t.Name) {
					// Another process runs the task; the nudge reached it too (or its next tick
					// will see the change).
					continue
				}
				if t.Settle > 0 {
					select {
					case <-ctx.Done():
						return
					case <-time.After(t.Settle):
					}
				}
			}
			break wait
		}
	}
}

// Stop ends the loops, waits for running tasks to return, and releases the leases this process
// holds so that another process takes them at once.
func (s *Scheduler) Stop(ctx context.Context) error {
	if s.cancel != nil {
		s.cancel()
		s.wg.Wait()
	}
	return s.Release(ctx)
}

// Release gives up every lease this process holds.
func (s *Scheduler) Release(ctx context.Context) error {
	s.mu.Lock()
	var names []string
	for n, h := range s.held {
		if h {
			names = append(names, n)
		}
		s.held[n] = false
	}
	s.mu.Unlock()
	for _, n := range names {
		if err := s.Leases.ReleaseLease(ctx, n, s.Holder); err != nil {
			return err
		}
	}
	return nil
}
