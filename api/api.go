// Package api serves the JSON API under /v1, plus /healthz and /readyz (metrics are served on a
// listener of their own, see MetricsHandler). Every route is
// declared once in the route table (routes.go) with its access rule and audit action; one wrapper
// authenticates the caller, enforces CSRF protection on cookie-authenticated writes, checks the
// role, limits the body, runs the handler, records the audit entry and renders errors in the one
// error shape. Tenancy is enforced by handlers loading resources only within the caller's org
// (see owned), so another org's resource is "not found", never "forbidden".
package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/accounts"
	"github.com/cleanroom-oss/cleanroom/activation"
	"github.com/cleanroom-oss/cleanroom/auth"
	"github.com/cleanroom-oss/cleanroom/cohorts"
	"github.com/cleanroom-oss/cleanroom/connections"
	"github.com/cleanroom-oss/cleanroom/delivery"
	"github.com/cleanroom-oss/cleanroom/disclosure"
	"github.com/cleanroom-oss/cleanroom/httpx"
	"github.com/cleanroom-oss/cleanroom/imports"
	"github.com/cleanroom-oss/cleanroom/jobs"
	"github.com/cleanroom-oss/cleanroom/pipeline"
	"github.com/cleanroom-oss/cleanroom/uploads"
)

// Server is the API. Set its fields, then call Handler.
type Server struct {
	Store       cleanroom.Store
	Accounts    *accounts.Service
	Connections *connections.Service
	// Uploads receives files and Pipeline processes them; nil on a server that takes none.
	Uploads  *uploads.Service
	Pipeline *pipeline.Service
	// Jobs shows the job queue to its people.
	Jobs *jobs.Queue
	// Cohorts builds cohorts; nil on a server without cohorts.
	Cohorts *cohorts.Service
	// Activation takes cohorts to the ad servers; nil on a server without it.
	Activation *activation.Service
	// Privacy is the release gate's settings; nil on a server without it.
	Privacy *disclosure.Service
	Logger  *slog.Logger
	Now     func() time.Time
	// MaxBodyBytes limits JSON request bodies (default 1 MiB).
	MaxBodyBytes int64
	// Auth reads credentials, signs in and sets session cookies (shared with the dashboard).
	Auth *httpx.Auth
	// Registry receives the HTTP metrics. They are not served on the API's port: the process
	// serves them on a listener of its own (MetricsHandler), since they show every tenant's
	// activity.
	Registry prometheus.Registerer

	// Delivery reports what served cohorts delivered; nil on a server without it.
	Delivery *delivery.Service
	// Imports takes files from buckets; nil on a server without it.
	Imports *imports.Service

	mux      *http.ServeMux
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	cop      *http.CrossOriginProtection
}

// New returns a server with defaults for the optional fields.
func New(store cleanroom.Store, acc *accounts.Service, logger *slog.Logger) *Server {
	return &Server{
		Store: store, Accounts: acc, Connections: connections.New(store), Jobs: &jobs.Queue{Store: store, Now: time.Now},
		Logger: logger, Now: time.Now,
		MaxBodyBytes: 1 << 20,
		Auth:         httpx.NewAuth(acc, logger),
	}
}

func (s *Server) now() time.Time { return cleanroom.UTC(s.Now()) }

// Handler returns the HTTP handler: the API, health, and web (the dashboard) for every other
// path; web may be nil. Every response carries the security headers (see secure).
func (s *Server) Handler(web http.Handler) http.Handler {
	s.mux = http.NewServeMux()
	s.cop = http.NewCrossOriginProtection()
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cleanroom_http_requests_total", Help: "HTTP requests by route pattern, method and status.",
	}, []string{"route", "method", "status"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "cleanroom_http_request_duration_seconds", Help: "HTTP request latency by route pattern.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
	}, []string{"route", "method"})
	if s.Registry != nil {
		s.Registry.MustRegister(s.requests, s.latency)
	}
	for _, rt := range s.routes() {
		s.mux.Handle(rt.Method+" "+rt.Path, s.wrap(rt))
	}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.HandleFunc("/v1/", s.noRoute)
	if web != nil {
		s.mux.Handle("/", web)
	}
	return s.instrument(secure(s.mux, s.Auth != nil && s.Auth.SecureCookies))
}

// secure sets the headers every response carries: X-Content-Type-Options: nosniff, so that no
// browser runs an answer as another type than the one declared, and Strict-Transport-Security
// when the request came over TLS or behindTLS says a TLS-terminating proxy is in front (the
// --secure-cookies setting).
func secure(h http.Handler, behindTLS bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if r.TLS != nil || behindTLS {
			w.Header().Set("Strict-Transport-Security", "max-age=31536000")
		}
		h.ServeHTTP(w, r)
	})
}

// MetricsHandler serves the Prometheus metrics of g at GET /metrics (404 elsewhere), with the
// same security headers as the API. Serve it on a listener of its own, reachable only by the
// monitoring system: the metrics show every tenant's activity.
func MetricsHandler(g prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	return secure(mux, false)
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if err := s.Store.Ready(ctx); err != nil {
		s.Logger.Warn("not ready", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": cleanroom.ErrorMessage(err)})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// noRoute answers unknown /v1 paths (404) and known paths with another method (405), in the error shape.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "/v1/" && pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		for _, m := range allow {
			w.Header().Add("Allow", m)
		}
		writeError(w, r, s.Logger, "", &httpx.StatusError{Status: http.StatusMethodNotAllowed, Err: cleanroom.Errorf(cleanroom.EINVALID, "%s is not allowed on %s.", r.Method, r.URL.Path).With("allowed", allow)})
		return
	}
	writeError(w, r, s.Logger, "", cleanroom.Errorf(cleanroom.ENOTFOUND, "There is no API route %s %s.", r.Method, r.URL.Path).
		Hint("See /v1/openapi.json for the routes."))
}

// instrument records request counts and latencies by route pattern. Every label takes a bounded
// set of values whatever clients send, so that no request adds a series: the route is a pattern
// of the mux (or "other"), the method one of metricMethods (or "other"), the status a code from
// 100 to 599 (or "other").
func (s *Server) instrument(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		_, pattern := s.mux.Handler(r)
		if pattern == "" || pattern == "/" {
			pattern = "other"
		}
		method := metricMethod(r.Method)
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r)
		s.requests.WithLabelValues(pattern, method, metricStatus(rec.status)).Inc()
		s.latency.WithLabelValues(pattern, method).Observe(time.Since(start).Seconds())
	})
}

// metricMethods are the HTTP methods that get a metrics label of their own.
var metricMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodOptions}

// metricMethod is the method's metrics label: itself when it is one of metricMethods, else "other".
func metricMethod(m string) string {
	if slices.Contains(metricMethods, m) {
		return m
	}
	return "other"
}

// metricStatus is the status's metrics label.
func metricStatus(code int) string {
	if code < 100 || code > 599 {
		return "other"
	}
	return strconv.Itoa(code)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// call is one API request being handled: who is calling, and what the audit entry will say.
type call struct {
	*cleanroom.Caller
	RequestID string
	route     *route
	audit     cleanroom.AuditEntry
	status    int
	body      any
	location  string
}

// target names the resource the request acted on, for the audit entry.
func (c *call) target(typ, id string) {
	c.audit.TargetType, c.audit.TargetID = typ, id
}

// detail adds a fact to the audit entry: resource IDs and counts, never a secret or a value of
// anyone's data.
func (c *call) detail(key string, v any) {
	if c.audit.Details == nil {
		c.audit.Details = map[string]any{}
	}
	c.audit.Details[key] = v
}

// reply sets the response.
func (c *call) reply(status int, body any) error {
	c.status, c.body = status, body
	return nil
}

// created replies 201 with a Location header.
func (c *call) created(location string, body any) error {
	c.location = location
	return c.reply(http.StatusCreated, body)
}

// newRequestID returns the client's X-Request-Id when it is sane, else a random one.
func newRequestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); id != "" && len(id) <= 64 && printableASCII(id) {
		return id
	}
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// wrap turns a route into an http.Handler: the one place where authentication, CSRF, role
// checks, body limits, auditing and error rendering happen.
func (s *Server) wrap(rt *route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &call{RequestID: newRequestID(r), route: rt}
		w.Header().Set("X-Request-Id", c.RequestID)
		if err := s.serve(w, r, c); err != nil {
			writeError(w, r, s.Logger, c.RequestID, err)
			return
		}
		if rt.Audit != "" {
			s.record(r.Context(), c, rt.Audit)
		}
		switch {
		case c.status == 0: // the handler wrote the response itself
			return
		case c.location != "":
			w.Header().Set("Location", c.location)
		}
		if c.status == http.StatusNoContent {
			w.WriteHeader(c.status)
			return
		}
		writeJSON(w, c.status, c.body)
	})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, c *call) error {
	rt := c.route
	if err := s.cop.Check(r); err != nil {
		return cleanroom.Errorf(cleanroom.EFORBIDDEN, "Cross-origin request refused.").
			Hint("Call the API from the dashboard's own origin, or with a bearer token from a non-browser client.")
	}
	if rt.Access != public {
		caller, err := s.Auth.Authenticate(r)
		if err != nil {
			return err
		}
		c.Caller = caller
		if caller.Session != nil && !safeMethod(r.Method) {
			if !auth.EqualSecret(r.Header.Get(httpx.CSRFHeader), caller.Session.CSRFToken) {
				return cleanroom.Errorf(cleanroom.EFORBIDDEN, "The CSRF token is missing or wrong.").
					Hint("Send the session's csrf_token (from GET /v1/me) in the %s header.", httpx.CSRFHeader)
			}
		}
		if err := rt.allows(caller); err != nil {
			return err
		}
	}
	limit := s.MaxBodyBytes
	if rawBodyRoutes[rt.Method+" "+rt.Path] {
		limit = max(limit, maxTaxonomyBytes)
		if s.Uploads != nil {
			limit = max(limit, s.Uploads.MaxPartBytes+1)
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	c.status = http.StatusOK
	return rt.handle(s, w, r, c)
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// record appends the audit entry for a successful request. A failure is logged loudly: the change
// itself has happened.
func (s *Server) record(ctx context.Context, c *call, action string) {
	e := c.audit
	e.Time, e.RequestID, e.Action = s.now(), c.RequestID, action
	e.By(c.Caller)
	if err := s.Store.AppendAudit(context.WithoutCancel(ctx), &e); err != nil {
		s.Logger.Error("audit append failed", "action", action, "request_id", c.RequestID, "err", err)
	}
}
