package periodic_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/periodic"
	"github.com/cleanroom-oss/cleanroom/postgres"
	"github.com/cleanroom-oss/cleanroom/sqlite"
)

// stores opens the lease stores the test runs on: SQLite, and PostgreSQL when
// $CLEANROOM_TEST_POSTGRES is set.
func stores(t *testing.T) map[string]func(t *testing.T) cleanroom.LeaseStore {
	return map[string]func(t *testing.T) cleanroom.LeaseStore{
		"sqlite": func(t *testing.T) cleanroom.LeaseStore {
			db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		},
		"postgres": func(t *testing.T) cleanroom.LeaseStore { return postgres.MustOpenTest(t) },
	}
}

// TestTickRunsOnceAcrossProcesses steps two schedulers on one store in turn: each round runs each
// task once, by the lease's holder; a holder that dies without releasing is replaced once its
// lease expires; one that stops hands its tasks over at once.
func TestTickRunsOnceAcrossProcesses(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			store := open(t)
			now := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
			runs := map[string]int{}
			mk := func(holder string) *periodic.Scheduler {
				s := periodic.New(store, slog.New(slog.DiscardHandler))
				s.Holder, s.LeaseTTL, s.Now = holder, 30*time.Second, func() time.Time { return now }
				for _, task := range []string{"refresh", "sweep"} {
					s.Add(periodic.Task{Name: task, Every: time.Second, Run: func(context.Context) error { runs[holder+"/"+task]++; return nil }})
				}
				return s
			}
			a, b := mk("a"), mk("b")
			ctx := t.Context()
			for range 5 {
				if got := a.Tick(ctx); !slices.Equal(got, []string{"refresh", "sweep"}) {
					t.Fatalf("a ran %v, want both tasks", got)
				}
				if got := b.Tick(ctx); len(got) != 0 {
					t.Fatalf("b ran %v while a holds the leases", got)
				}
				now = now.Add(time.Second)
			}
			// a dies: nobody renews its leases; b takes them once they expire, not before.
			now = now.Add(28 * time.Second) // a last renewed at 4 s, until 34 s
			if got := b.Tick(ctx); len(got) != 0 {
				t.Fatalf("b ran %v before a's leases expired", got)
			}
			now = now.Add(time.Second)
			if got := b.Tick(ctx); len(got) != 2 {
				t.Fatalf("b ran %v after a's leases expired, want both tasks", got)
			}
			// b stops: it releases, and a (restarted) takes over without waiting.
			if err := b.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			if got := a.Tick(ctx); len(got) != 2 {
				t.Fatalf("a ran %v after b released, want both tasks", got)
			}
			want := map[string]int{"a/refresh": 6, "a/sweep": 6, "b/refresh": 1, "b/sweep": 1}
			if !maps(runs, want) {
				t.Fatalf("runs = %v, want %v", runs, want)
			}
		})
	}
}

// TestStartRunsOnlyHolder runs two started schedulers on one store until the task ran ten times:
// every run was the one holder's (the other never holds the lease while the holder lives).
func TestStartRunsOnlyHolder(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			store := open(t)
			ran := make(chan string, 100)
			var ss []*periodic.Scheduler
			for _, h := range []string{"a", "b"} {
				s := periodic.New(store, slog.New(slog.DiscardHandler))
				s.Holder, s.LeaseTTL = h, time.Minute
				s.Add(periodic.Task{Name: "refresh", Every: 5 * time.Millisecond, Run: func(context.Context) error { ran <- h; return nil }})
				s.Start()
				ss = append(ss, s)
			}
			first := <-ran
			for range 9 {
				if h := <-ran; h != first {
					t.Fatalf("task ran in %s and %s", first, h)
				}
			}
			for _, s := range ss {
				if err := s.Stop(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func maps(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
