package app_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/app"
	"github.com/cleanroom-oss/cleanroom/postgres"
)

// pgDSN returns the DSN of a fresh PostgreSQL schema (skips without $CLEANROOM_TEST_POSTGRES).
func pgDSN(t *testing.T) string {
	cfg := postgres.TestSchema(t)
	dsn := os.Getenv(postgres.TestDSNEnv)
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "search_path=" + cfg.RuntimeParams["search_path"]
}

// openMain opens a process of a deployment: its own data directory, the shared database (dsn; ""
// for SQLite in dir) and master key.
func openMain(t *testing.T, dir, dsn, role string, key string, configure func(*app.Config)) *app.Main {
	t.Helper()
	m := app.NewMain()
	if dir == "" {
		dir = t.TempDir()
	}
	m.Config.DataDir, m.Config.Database, m.Config.Role, m.Config.MasterKey = dir, dsn, role, key
	m.Config.Addr = "127.0.0.1:0"
	m.Logger = slog.New(slog.DiscardHandler)
	if configure != nil {
		configure(&m.Config)
	}
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

const testKey = "abababababababababababababababababababababababababababababababab"

func TestParseRoles(t *testing.T) {
	for _, c := range []struct {
		in   string
		want app.Roles
		err  bool
	}{
		{"", app.Roles{API: true, Worker: true, Edge: true}, false},
		{"api", app.Roles{API: true}, false},
		{"worker, edge", app.Roles{Worker: true, Edge: true}, false},
		{"api,worker,edge", app.Roles{API: true, Worker: true, Edge: true}, false},
		{"api,jobs", app.Roles{}, true},
	} {
		got, err := app.ParseRoles(c.in)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("ParseRoles(%q) = %+v, %v; want %+v (error %v)", c.in, got, err, c.want, c.err)
		}
	}
}

// TestPeriodicOnceAcrossMains: two processes on one database each register the deployment's
// periodic tasks; stepped in turn, each task runs in one of them only, and the other takes the
// tasks over as soon as the first closes (it releases its leases).
func TestPeriodicOnceAcrossMains(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			var dsn, dir string
			if db == "postgres" {
				dsn = pgDSN(t)
			} else {
				dir = t.TempDir() // both open the same SQLite file
			}
			a := openMain(t, dir, dsn, "worker", testKey, nil)
			b := openMain(t, dir, dsn, "worker", testKey, nil)
			tasks := a.Periodic.Tasks()
			if want := []string{"cohort-refresh", "edge-publish", "session-sweep", "import-schedule"}; !slices.Equal(tasks, want) {
				t.Fatalf("tasks %v, want %v", tasks, want)
			}
			ctx := context.Background()
			for range 3 {
				if got := a.Periodic.Tick(ctx); !slices.Equal(got, tasks) {
					t.Fatalf("a ran %v, want %v", got, tasks)
				}
				if got := b.Periodic.Tick(ctx); len(got) != 0 {
					t.Fatalf("b ran %v as well", got)
				}
			}
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
			if got := b.Periodic.Tick(ctx); !slices.Equal(got, tasks) {
				t.Fatalf("after a closed, b ran %v, want %v", got, tasks)
			}
		})
	}
}

// TestRolesOnPostgres: an api process and a worker-and-edge process on one PostgreSQL database.
// The api serves /v1 and no /edge and runs no job; the worker serves /edge and no /v1; a job the
// api queues wakes the worker at once (its poll is an hour), and a nudge of the cohorts in the
// api reaches the worker's refresher.
func TestRolesOnPostgres(t *testing.T) {
	dsn := pgDSN(t)
	noRefresh := func(c *app.Config) { c.CohortRefresh, c.EdgeRefresh = 0, 0 }
	api := openMain(t, "", dsn, "api", testKey, noRefresh)
	worker := openMain(t, "", dsn, "worker,edge", testKey, noRefresh)
	ran := make(chan string, 4)
	for name, m := range map[string]*app.Main{"api": api, "worker": worker} {
		m.Jobs.Register("test.echo", func(ctx context.Context, j *cleanroom.Job, _ func(cleanroom.Progress)) error {
			ran <- name
			return nil
		})
	}
	worker.Jobs.Poll = time.Hour
	for _, m := range []*app.Main{api, worker} {
		if err := m.Serve(); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		m    *app.Main
		path string
		want int
	}{
		{api, "/v1/me", http.StatusUnauthorized},
		{api, "/edge/v1/x/targeting", http.StatusNotFound},
		{worker, "/v1/me", http.StatusNotFound},
		{worker, "/readyz", http.StatusOK},
		{worker, "/edge/v1/0190-none/tag.js", http.StatusNotFound},
	} {
		res, err := http.Get(c.m.URL() + c.path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != c.want {
			t.Errorf("%s %s: %d, want %d", c.m.Roles(), c.path, res.StatusCode, c.want)
		}
	}
	if worker.Edge == nil || api.Edge != nil {
		t.Errorf("edge in api: %v, in worker: %v; want only in the worker", api.Edge != nil, worker.Edge != nil)
	}

	// The listener may not listen yet: queue until the worker ran one (a bound, not an assert).
	ctx := context.Background()
	deadline := time.Now().Add(2 * time.Minute)
	var got string
	for got == "" {
		if time.Now().After(deadline) {
			t.Fatal("the worker never ran the job the api queued")
		}
		if err := api.Jobs.Enqueue(ctx, &cleanroom.Job{Kind: "test.echo", Args: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
		select {
		case got = <-ran:
		case <-time.After(2 * time.Second):
		}
	}
	if got != "worker" {
		t.Fatalf("the job ran in the %s process", got)
	}
	// Nudged until heard (a bound, not an assert).
	for heard := false; !heard; {
		if time.Now().After(deadline) {
			t.Fatal("the api's nudge never reached the worker")
		}
		api.Cohorts.Nudge()
		select {
		case <-worker.Cohorts.Nudged():
			heard = true
		case <-time.After(2 * time.Second):
		}
	}
}

// TestQueueAcrossMains: two worker processes on one PostgreSQL database share the queue: each of
// 60 jobs runs once, and the jobs of one serial key run one at a time, in the order queued,
// whichever process claims them.
func TestQueueAcrossMains(t *testing.T) {
	dsn := pgDSN(t)
	noRefresh := func(c *app.Config) { c.CohortRefresh, c.EdgeRefresh, c.Workers = 0, 0, 3 }
	a := openMain(t, "", dsn, "worker", testKey, noRefresh)
	b := openMain(t, "", dsn, "worker", testKey, noRefresh)
	var mu sync.Mutex
	runs := map[int64]int{}
	var order []int
	busy := 0
	overlap := false
	byProcess := map[string]int{}
	for name, m := range map[string]*app.Main{"a": a, "b": b} {
		m.Jobs.Register("test.count", func(ctx context.Context, j *cleanroom.Job, _ func(cleanroom.Progress)) error {
			mu.Lock()
			runs[j.ID]++
			byProcess[name]++
			serial := j.SerialKey != ""
			if serial {
				if busy++; busy > 1 {
					overlap = true
				}
				var n int
				json.Unmarshal(j.Args, &n)
				order = append(order, n)
			}
			mu.Unlock()
			time.Sleep(2 * time.Millisecond) // room for another claim to overlap
			if serial {
				mu.Lock()
				busy--
				mu.Unlock()
			}
			return nil
		})
	}
	ctx := context.Background()
	var ids []int64
	for i := range 60 {
		j := &cleanroom.Job{Kind: "test.count", Args: []byte(strconv.Itoa(i))}
		if i%2 == 0 {
			j.SerialKey = "publisher:p1"
		}
		if err := a.Jobs.Enqueue(ctx, j); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	for _, m := range []*app.Main{a, b} {
		if err := m.Serve(); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		counts, err := a.Store.CountJobs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if counts["test.count"][cleanroom.JobSucceeded] == 60 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("jobs did not finish: %v", counts)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		if runs[id] != 1 {
			t.Errorf("job %d ran %d times", id, runs[id])
		}
	}
	if overlap {
		t.Error("two jobs of one serial key ran at once")
	}
	if !slices.IsSorted(order) || len(order) != 30 {
		t.Errorf("serial jobs ran in the order %v", order)
	}
	t.Logf("jobs run by process: %v", byProcess)
}
