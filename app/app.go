// Package app is the one place that wires the clean room together: it opens the data directory,
// the master key, the metadata and blob stores, builds the services, the API and the dashboard,
// and runs the HTTP server and the job workers. cmd/cleanroom and the tests that need the whole
// application use it, so they run the same wiring.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/accounts"
	"github.com/cleanroom-oss/cleanroom/activation"
	"github.com/cleanroom-oss/cleanroom/api"
	"github.com/cleanroom-oss/cleanroom/cohorts"
	"github.com/cleanroom-oss/cleanroom/connections"
	"github.com/cleanroom-oss/cleanroom/delivery"
	"github.com/cleanroom-oss/cleanroom/disclosure"
	"github.com/cleanroom-oss/cleanroom/edge"
	"github.com/cleanroom-oss/cleanroom/edgehttp"
	"github.com/cleanroom-oss/cleanroom/edgeredis"
	"github.com/cleanroom-oss/cleanroom/httpx"
	"github.com/cleanroom-oss/cleanroom/imports"
	"github.com/cleanroom-oss/cleanroom/ingest"
	"github.com/cleanroom-oss/cleanroom/jobs"
	"github.com/cleanroom-oss/cleanroom/keyring"
	"github.com/cleanroom-oss/cleanroom/periodic"
	"github.com/cleanroom-oss/cleanroom/pipeline"
	"github.com/cleanroom-oss/cleanroom/postgres"
	"github.com/cleanroom-oss/cleanroom/rows"
	"github.com/cleanroom-oss/cleanroom/sqlite"
	"github.com/cleanroom-oss/cleanroom/uploads"
	"github.com/cleanroom-oss/cleanroom/versions"
	"github.com/cleanroom-oss/cleanroom/web"
)

// Main is a cleanroom process: the store, keys and services, and (after Serve) the HTTP server
// and job workers. It is the only place that wires packages together; tests use it to run the
// real wiring.
type Main struct {
	Config Config
	Logger *slog.Logger

	// Store is the metadata store; set it before Open to use a store already open (Close then
	// leaves it open), else Open opens the one the configuration names.
	Store       cleanroom.Store
	Blobs       cleanroom.BlobStore
	Keys        *keyring.Master
	Accounts    *accounts.Service
	Connections *connections.Service
	Uploads     *uploads.Service
	Versions    *versions.Store
	Pipeline    *pipeline.Service
	Cohorts     *cohorts.Service
	Activation  *activation.Service
	Disclosure  *disclosure.Service
	// Delivery reports what the edge's served cohorts delivered.
	Delivery *delivery.Service
	// Imports takes data sources' and audiences' files from their buckets.
	Imports *imports.Service
	// Edge serves /edge (set by Handler in a process with the edge role).
	Edge *edgehttp.Server
	Jobs *jobs.Runner
	// Periodic runs the deployment's periodic work (periodicTasks) in a worker process, each task
	// once across the deployment.
	Periodic *periodic.Scheduler
	// Set by Handler: the sessions shared by the API and the dashboard, the API, the dashboard.
	Auth *httpx.Auth
	API  *api.Server
	Web  *web.Dashboard

	// Now, when set before Open, is the clock of the services that apply time-bound rules
	// (sessions, tokens, grants, cohorts) and of the API, for tests; the job queue keeps the
	// wall clock.
	Now func() time.Time

	// KeyCreated reports that Open generated a new master key.
	KeyCreated bool

	ln     net.Listener
	server *http.Server
	// edgeLn and edgeServer serve the edge with its own HTTP loop (ServeEdge, Config.EdgeAddr).
	edgeLn     net.Listener
	edgeServer *edgehttp.HTTPServer
	// registry holds the process's metrics (set by Handler); metricsLn and metricsServer serve
	// them when Config.MetricsAddr is set.
	registry      *prometheus.Registry
	metricsLn     net.Listener
	metricsServer *http.Server
	done          chan error
	stopped       chan struct{}
	// borrowedStore says Store was given before Open, so Close leaves it open.
	borrowedStore bool
	cancel        context.CancelFunc
	// background counts the loops that write to the data directory (the edge's loads and
	// stores, the publisher's check), which Close waits for before closing what they use.
	background sync.WaitGroup
	// roles are the process's roles (Config.Role); pg is the store when it is PostgreSQL, which
	// carries notifications between the processes.
	roles Roles
	pg    *postgres.DB
}

// NewMain returns a Main with the default configuration, logging to stderr.
func NewMain() *Main {
	return &Main{Config: DefaultConfig()}
}

// NewLogger builds the process logger from the configuration.
func NewLogger(c Config, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", c.LogLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.LogFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", c.LogFormat)
}

// Open opens the data directory, the metadata store (applying migrations), the master key and
// the services. It does not listen.
func (m *Main) Open(ctx context.Context) error {
	if m.Logger == nil {
		l, err := NewLogger(m.Config, os.Stderr)
		if err != nil {
			return err
		}
		m.Logger = l
	}
	c := &m.Config
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	var err error
	if m.Keys, m.KeyCreated, err = loadKeys(c, true); err != nil {
		return err
	}
	if m.KeyCreated {
		m.Logger.Warn("generated a new master key; back it up, without it the vault files cannot be read", "path", c.KeyPath())
	}
	// A failed open leaves m.Store nil (not an interface holding a nil pointer), so Close works.
	switch {
	case m.Store != nil:
		// A store given before Open (tests on a prepared database); its owner closes it.
		m.borrowedStore = true
	case c.Database == "":
		var db *sqlite.DB
		if db, err = sqlite.Open(ctx, c.SQLitePath()); err == nil {
			m.Store = db
		}
	case strings.HasPrefix(c.Database, "postgres://") || strings.HasPrefix(c.Database, "postgresql://"):
		var db *postgres.DB
		if db, err = postgres.Open(ctx, c.Database); err == nil {
			m.Store = db
		}
	default:
		return fmt.Errorf("--database must be a postgres:// URL (or empty for SQLite in the data directory)")
	}
	if err != nil {
		return fmt.Errorf("open metadata store: %w", err)
	}
	if m.Blobs, err = OpenBlobs(ctx, *c); err != nil {
		return err
	}
	if err = openRoot(ctx, m.Blobs, m.Keys); err != nil {
		return err
	}
	if err = checkRoot(ctx, m.Store, m.Keys); err != nil {
		return err
	}
	m.Accounts = accounts.New(m.Store, m.Keys)
	m.Connections = connections.New(m.Store)
	m.Jobs = jobs.NewRunner(m.Store, m.Logger)
	m.Jobs.Workers = c.Workers
	if c.JobLease > 0 {
		m.Jobs.Lease = c.JobLease
	}
	if err := ingest.RemoveTemp(c.TempDir()); err != nil {
		return fmt.Errorf("temporary files: %w", err)
	}
	m.Uploads = uploads.New(m.Store, m.Blobs, m.Keys, m.Jobs)
	m.Uploads.MaxUploadBytes = c.MaxUploadBytes
	m.Versions = versions.New(m.Store, m.Blobs, m.Keys, m.Logger)
	m.Pipeline = pipeline.New(m.Store, m.Uploads, m.Versions, m.Keys, m.Logger)
	m.Pipeline.MaxIdentifierTypes = c.MaxIdentifierTypes
	m.Pipeline.FileLimits = rows.Limits{MaxBytes: c.MaxFileBytes, MaxRows: c.MaxFileRows}
	m.Pipeline.IngestMemory, m.Pipeline.TempDir = c.IngestMemory, c.TempDir()
	m.Pipeline.Conns = m.Connections
	m.Pipeline.Register(m.Jobs)
	m.Cohorts = cohorts.New(m.Store, m.Connections, m.Pipeline, m.Jobs, c.CacheVersions)
	m.Cohorts.ActivationMinimum = c.ActivationMinimum
	if m.Disclosure, err = c.disclosure(m.Store, m.Keys); err != nil {
		return err
	}
	m.Cohorts.Disclosure = m.Disclosure
	m.Cohorts.Register(m.Jobs)
	m.Activation = activation.New(m.Store, m.Cohorts, m.Versions, m.Keys, m.Jobs, m.Logger)
	m.Activation.DataName, m.Activation.Segtax = orDefault(c.ORTB2DataName, "cleanroom"), c.ORTB2Segtax
	if err := (&edge.Format{GAMKey: "crc", XandrKey: "crc", Name: m.Activation.DataName, Segtax: c.ORTB2Segtax}).Check(); err != nil {
		return fmt.Errorf("--ortb2-data-name %q, --ortb2-segtax %d: %s", m.Activation.DataName, c.ORTB2Segtax, cleanroom.ErrorText(err))
	}
	m.Activation.Register(m.Jobs)
	m.Versions.AfterCommit = func(context.Context) { m.Cohorts.Nudge(); m.Activation.Nudge() }
	m.Imports = imports.New(m.Store, m.Connections, m.Pipeline, m.Keys, m.Jobs, m.Logger)
	m.Imports.Policy = imports.Policy{AllowPrivate: c.ImportAllowPrivate, AllowHTTP: c.ImportAllowHTTP}
	m.Imports.Register(m.Jobs)
	m.Delivery = &delivery.Service{Store: m.Store, Conns: m.Connections, Blobs: m.Blobs, Versions: m.Versions, Gate: m.Disclosure, Now: m.Now}
	if m.Now != nil {
		m.Accounts.Now, m.Connections.Now, m.Cohorts.Now, m.Disclosure.Now, m.Activation.Now = m.Now, m.Now, m.Now, m.Now, m.Now
		m.Accounts.Throttle.SetClock(m.Now)
		m.Imports.Now = m.Now
	}
	// Sizes and estimates state the users active at the edge, as the delivery service reads them.
	m.Cohorts.ActiveSets = m.Delivery.ActiveSet
	return m.openShared()
}

// Handler builds the API and the dashboard over the opened services and returns the HTTP
// handler, without listening (tests serve it with httptest). Serve calls it.
func (m *Main) Handler() (http.Handler, error) {
	c := &m.Config
	m.Auth = httpx.NewAuth(m.Accounts, m.Logger)
	m.Auth.SecureCookies = c.SecureCookies || c.TLSCert != ""
	for _, p := range c.TrustedProxies {
		prefix, err := netip.ParsePrefix(strings.TrimSpace(p))
		if err != nil {
			return nil, fmt.Errorf("--trusted-proxies: %q is not a CIDR such as 10.0.0.0/8 or 127.0.0.1/32", p)
		}
		m.Auth.TrustedProxies = append(m.Auth.TrustedProxies, prefix)
	}
	m.registry = prometheus.NewRegistry()
	m.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), m.Jobs)
	m.API = api.New(m.Store, m.Accounts, m.Logger)
	if m.Now != nil {
		m.API.Now, m.API.Jobs.Now = m.Now, m.Now
	}
	m.API.Auth = m.Auth
	m.API.Connections = m.Connections
	m.API.Uploads = m.Uploads
	m.API.Pipeline = m.Pipeline
	m.API.Cohorts = m.Cohorts
	m.API.Privacy = m.Disclosure
	m.API.MaxBodyBytes = c.MaxBodyBytes
	m.API.Registry = m.registry
	m.API.Activation = m.Activation
	m.API.Delivery = m.Delivery
	m.API.Imports = m.Imports
	mux := http.NewServeMux()
	if m.roles.Edge {
		var err error
		if m.Edge, err = m.NewEdge(); err != nil {
			return nil, err
		}
		mux.Handle("/edge/", m.Edge)
	}
	m.Web = web.New(web.Services{Store: m.Store, Auth: m.Auth, Accounts: m.Accounts, Connections: m.Connections, Jobs: m.API.Jobs, Pipeline: m.Pipeline, Cohorts: m.Cohorts, Privacy: m.Disclosure, Activation: m.Activation, Delivery: m.Delivery, Imports: m.Imports, Now: m.Now}, m.Logger)
	m.Web.Process = web.Process{Roles: m.roles.String(), Database: m.databaseKind(), Blobs: "local", Redis: m.Config.Redis != ""}
	if m.Config.Blobs != "" {
		m.Web.Process.Blobs = "s3"
	}
	if m.roles.API {
		mux.Handle("/", m.API.Handler(m.Web))
	} else {
		m.rolesHandler(mux)
	}
	return mux, nil
}

// NewEdge returns the edge over the data directory's blob store and master key: what Handler
// mounts under /edge and what `cleanroom edge` serves alone. It needs no metadata store.
func (m *Main) NewEdge() (*edgehttp.Server, error) {
	opt := edgehttp.Options{
		Versions: versions.New(nil, m.Blobs, m.Keys, m.Logger), UserKey: m.Keys.Derive(pipeline.UserKeyPurpose),
		CounterDir: m.Config.CounterDir(), MaxAge: m.Config.EdgeCacheMaxAge, Logger: m.Logger, Now: m.Now,
		Redis:       edgeredis.Options{URL: m.Config.Redis, Grace: m.Config.RedisOutageGrace},
		EdgeID:      m.Config.EdgeReplicaID(),
		MaxCounters: m.Config.EdgeMaxCounters, MaxLastSeen: m.Config.EdgeMaxUsers, MaxDeliveryUsers: m.Config.EdgeMaxUsers,
	}
	if m.Auth != nil {
		opt.ClientAddr = m.Auth.ClientAddr
	}
	return edgehttp.New(opt)
}

// Serve starts the job workers and the HTTP server on Config.Addr and returns once it listens.
// Wait blocks until the server stops; Close stops it gracefully.
func (m *Main) Serve() error {
	c := &m.Config
	handler, err := m.Handler()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel

	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		cancel()
		return fmt.Errorf("listen on %s: %w", c.Addr, err)
	}
	m.ln = ln
	m.server = m.httpServer(handler)
	if c.MetricsAddr != "" {
		if m.metricsLn, err = net.Listen("tcp", c.MetricsAddr); err != nil {
			ln.Close()
			cancel()
			return fmt.Errorf("--metrics-addr: listen on %s: %w", c.MetricsAddr, err)
		}
		m.metricsServer = m.httpServer(api.MetricsHandler(m.registry))
		go func() {
			if err := m.metricsServer.Serve(m.metricsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				m.Logger.Error("metrics listener stopped", "err", err)
			}
		}()
	}
	if c.EdgeAddr != "" && m.Edge != nil {
		if err := m.listenEdge(c.EdgeAddr, "--edge-addr"); err != nil {
			ln.Close()
			if m.metricsLn != nil {
				m.metricsLn.Close()
			}
			cancel()
			return err
		}
		go func() {
			if err := m.edgeServer.Serve(m.edgeLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				m.Logger.Error("edge listener stopped", "err", err)
			}
		}()
	}
	if m.roles.Worker {
		m.Jobs.Start()
		m.Periodic.Start()
	}
	m.done = make(chan error, 1)
	m.stopped = make(chan struct{})
	go func() {
		defer close(m.stopped)
		var err error
		if c.TLSCert != "" || c.TLSKey != "" {
			err = m.server.ServeTLS(ln, c.TLSCert, c.TLSKey)
		} else {
			err = m.server.Serve(ln)
		}
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		m.done <- err
	}()
	if m.pg != nil && c.Database != "" {
		go m.listener(c.Database).Run(ctx)
	}
	if m.roles.Edge && c.EdgeRefresh > 0 {
		m.background.Go(func() { m.Edge.Run(ctx, c.EdgeRefresh) })
	}
	attrs := []any{"url", m.URL(), "roles", m.roles.String()}
	for _, a := range [][2]string{{"edge", m.EdgeURL()}, {"metrics", m.MetricsURL()}} {
		if a[1] != "" { // listeners not configured are left out of the line
			attrs = append(attrs, a[0], a[1])
		}
	}
	m.Logger.Info("serving", append(attrs, "database", m.databaseKind(), "data", c.DataDir)...)
	return nil
}

// httpServer returns an HTTP server of h with the process's timeouts and error log.
func (m *Main) httpServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(m.Logger.Handler(), slog.LevelWarn),
	}
}

// MetricsURL is the URL of the metrics (on their own listener), or "" when they are not served.
func (m *Main) MetricsURL() string {
	if m.metricsLn == nil {
		return ""
	}
	return "http://" + m.metricsLn.Addr().String() + "/metrics"
}

func (m *Main) databaseKind() string {
	if m.Config.Database == "" {
		return "sqlite"
	}
	return "postgres"
}

// URL is the base URL the server listens on.
func (m *Main) URL() string {
	if m.ln == nil {
		return ""
	}
	scheme := "http"
	if m.Config.TLSCert != "" {
		scheme = "https"
	}
	return scheme + "://" + m.ln.Addr().String()
}

// Stopped is closed when the HTTP server has stopped (after Serve).
func (m *Main) Stopped() <-chan struct{} { return m.stopped }

// Wait blocks until the HTTP server stops and returns its error.
func (m *Main) Wait() error {
	if m.done == nil {
		return nil
	}
	return <-m.done
}

// Close shuts down gracefully: the server stops accepting, in-flight requests finish, running
// jobs are interrupted and handed back to the queue, then the store closes.
func (m *Main) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), m.Config.ShutdownTimeout)
	defer cancel()
	var errs []error
	if m.cancel != nil {
		m.cancel()
	}
	if m.server != nil {
		errs = append(errs, m.server.Shutdown(ctx))
	}
	if m.metricsServer != nil {
		errs = append(errs, m.metricsServer.Shutdown(ctx))
	}
	if m.edgeServer != nil {
		errs = append(errs, m.edgeServer.Shutdown(ctx))
	}
	if m.Jobs != nil {
		errs = append(errs, m.Jobs.Stop(ctx))
	}
	if m.Periodic != nil && m.Store != nil {
		errs = append(errs, m.Periodic.Stop(ctx))
	}
	m.background.Wait() // their context is cancelled: each ends after its current step
	if m.Edge != nil {
		errs = append(errs, m.Edge.Close())
	}
	if m.Store != nil && !m.borrowedStore {
		errs = append(errs, m.Store.Close())
	}
	return errors.Join(errs...)
}
