package app

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/periodic"
	"github.com/cleanroom-oss/cleanroom/postgres"
)

// The roles a serving process takes (--role): any of them, together or in processes of their own
// sharing one PostgreSQL database and one blob store.
const (
	// RoleAPI serves the API (/v1) and the dashboard. It queues jobs but runs none.
	RoleAPI = "api"
	// RoleWorker runs the job queue's jobs and the deployment's periodic work (package periodic:
	// each task once across all workers).
	RoleWorker = "worker"
	// RoleEdge serves /edge from the published snapshots.
	RoleEdge = "edge"
)

// AllRoles is the default: one process does everything.
const AllRoles = RoleAPI + "," + RoleWorker + "," + RoleEdge

// Roles says which roles a process takes.
type Roles struct{ API, Worker, Edge bool }

// ParseRoles reads a comma-separated list of roles; "" is every role.
func ParseRoles(s string) (Roles, error) {
	if strings.TrimSpace(s) == "" {
		s = AllRoles
	}
	var r Roles
	for _, p := range strings.Split(s, ",") {
		switch strings.TrimSpace(p) {
		case RoleAPI:
			r.API = true
		case RoleWorker:
			r.Worker = true
		case RoleEdge:
			r.Edge = true
		default:
			return Roles{}, fmt.Errorf("--role %q: want a comma-separated list of api, worker and edge", s)
		}
	}
	return r, nil
}

// String lists the roles as --role takes them.
func (r Roles) String() string {
	var s []string
	for _, x := range []struct {
		on   bool
		name string
	}{{r.API, RoleAPI}, {r.Worker, RoleWorker}, {r.Edge, RoleEdge}} {
		if x.on {
			s = append(s, x.name)
		}
	}
	return strings.Join(s, ",")
}

// Topics of the notifications the processes of a deployment send each other (postgres.Notify).
const (
	topicJobs       = "jobs"       // a job was queued: idle workers look at once
	topicCohorts    = "cohorts"    // cohorts' inputs may have changed: the refresh runs early
	topicPublishers = "publishers" // publishers' edge plans may have changed: the check runs early
	topicEdge       = "edge"       // a publisher's snapshot was published (argument: its ID)
)

// importCheck is how often scheduled imports are checked for a run that is due.
const importCheck = time.Minute

// periodicTasks is the one list of the deployment's periodic work: each runs once across all
// the worker processes, in whichever holds its lease (package periodic). A new periodic task is
// one more entry here.
func (m *Main) periodicTasks() []periodic.Task {
	c := &m.Config
	return []periodic.Task{
		{Name: "cohort-refresh", Every: c.CohortRefresh, Wake: m.Cohorts.Nudged(), Settle: time.Second,
			Run: func(ctx context.Context) error {
				n, err := m.Cohorts.Refresh(ctx)
				if n > 0 {
					m.Logger.Info("cohorts queued for rebuild", "count", n)
				}
				return err
			}},
		{Name: "edge-publish", Every: c.EdgeRefresh, Wake: m.Activation.Nudged(),
			Run: func(ctx context.Context) error {
				n, err := m.Activation.Check(ctx)
				if n > 0 {
					m.Logger.Debug("edge snapshots queued", "count", n)
				}
				return err
			}},
		{Name: "session-sweep", Every: time.Hour, Run: m.sweepSessions},
		{Name: "import-schedule", Every: importCheck,
			Run: func(ctx context.Context) error {
				n, err := m.Imports.EnqueueDue(ctx)
				if n > 0 {
					m.Logger.Info("scheduled imports queued", "count", n)
				}
				return err
			}},
	}
}

// openShared sets up what the processes of a deployment share: the periodic work's scheduler
// and, on PostgreSQL, the notifications that carry nudges and queued jobs to other processes.
func (m *Main) openShared() error {
	var err error
	if m.roles, err = ParseRoles(m.Config.Role); err != nil {
		return err
	}
	m.Periodic = periodic.New(m.Store, m.Logger)
	if m.Config.PeriodicLease > 0 {
		m.Periodic.LeaseTTL = m.Config.PeriodicLease
	}
	for _, t := range m.periodicTasks() {
		m.Periodic.Add(t)
	}
	if pg, ok := m.Store.(*postgres.DB); ok {
		m.pg = pg
		m.Jobs.OnEnqueue = func() { m.notify(topicJobs, "") }
		m.Cohorts.OnNudge = func() { m.notify(topicCohorts, "") }
		m.Activation.OnNudge = func() { m.notify(topicPublishers, "") }
	}
	m.Activation.Published = m.published
	if !m.roles.Worker && m.pg == nil {
		m.Logger.Warn("this process runs no jobs (--role without worker) and SQLite carries no wake-ups: jobs wait until a worker process on the same database file claims them", "roles", m.roles.String())
	}
	return nil
}

// notify tells the other processes of a PostgreSQL deployment (and this one) about topic, in the
// background: a lost notification only delays the work to the next periodic check.
func (m *Main) notify(topic, arg string) {
	if m.pg == nil {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := m.pg.Notify(ctx, topic, arg); err != nil {
			m.Logger.Warn("notify failed", "topic", topic, "err", err)
		}
	}()
}

// published runs after a worker recorded a publisher's new snapshot: every edge loads it, through
// a notification on PostgreSQL (this process's edge too), else this process's edge at once and
// the others at their next --edge-refresh.
func (m *Main) published(publisherID string) {
	if m.pg != nil {
		m.notify(topicEdge, publisherID)
		return
	}
	m.loadEdge(publisherID)
}

func (m *Main) loadEdge(publisherID string) {
	if m.Edge == nil {
		return
	}
	if err := m.Edge.LoadPublisher(context.Background(), publisherID); err != nil {
		m.Logger.Warn("edge load failed", "publisher", publisherID, "err", err)
	}
}

// listener returns the PostgreSQL listener of the notifications a process with roles acts on.
func (m *Main) listener(dsn string) *postgres.Listener {
	return &postgres.Listener{
		DSN: dsn, Logger: m.Logger,
		Connected: func() {
			// What was sent while not listening is caught up: the edge reloads what changed.
			if m.roles.Edge && m.Edge != nil {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				if err := m.Edge.Load(ctx); err != nil {
					m.Logger.Warn("edge load failed", "err", err)
				}
			}
		},
		Handle: func(topic, arg string) {
			switch topic {
			case topicJobs:
				if m.roles.Worker {
					m.Jobs.Notify()
				}
			case topicCohorts:
				m.Cohorts.Wake()
			case topicPublishers:
				m.Activation.Wake()
			case topicEdge:
				if m.roles.Edge {
					m.loadEdge(arg)
				}
			}
		},
	}
}

// rolesHandler is what a process without the API serves beside /edge: health and, with a
// database, readiness.
func (m *Main) rolesHandler(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"ok"}`))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if m.Store != nil {
			if err := m.Store.Ready(r.Context()); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				w.Write([]byte(`{"status":"unavailable"}`))
				return
			}
		}
		w.Write([]byte(`{"status":"ok"}`))
	})
}

// Roles returns the roles the process takes (after Open).
func (m *Main) Roles() Roles { return m.roles }

// sweepSessions deletes expired sessions (the periodic task "session-sweep").
func (m *Main) sweepSessions(ctx context.Context) error {
	n, err := m.Store.DeleteExpiredSessions(ctx, cleanroom.UTC(time.Now()))
	if n > 0 {
		m.Logger.Info("deleted expired sessions", "count", n)
	}
	return err
}
