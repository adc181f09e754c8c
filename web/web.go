// Package web serves the dashboard: server-rendered pages (html/template, embedded) with a little
// plain JavaScript and no build step. It shares sessions and CSRF tokens with the API: a dashboard
// login is an API session, and every form carries the session's CSRF token.
package web

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

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
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Dashboard is the web dashboard.
type Dashboard struct {
	Services
	store  cleanroom.Store
	log    *slog.Logger
	pages  map[string]*template.Template
	mux    *http.ServeMux
	cop    *http.CrossOriginProtection
	static http.Handler

	// RefreshEvery is how often a page showing work under way (a cohort building, an upload
	// processing) fetches itself again to update that part (DefaultRefresh when 0).
	RefreshEvery time.Duration

	// UploadPartBytes is the size of the parts the in-page upload sends (0: its default, 4 MiB).
	UploadPartBytes int64

	// Process describes the process serving the dashboard (the operator's health view).
	Process Process
}

// Process is what the operator's health view says of the process serving it (set by app).
type Process struct {
	// Roles are its roles (api, worker, edge); Database and Blobs the kinds of its stores.
	Roles, Database, Blobs string
	// Redis says the edge's frequency counters live in Redis.
	Redis bool
}

// DefaultRefresh is how often a busy page refreshes its changing parts.
const DefaultRefresh = 3 * time.Second

// refresh returns the period, in milliseconds, a page refreshes its changing parts at while busy,
// else 0 (the templates' "refresh" block renders nothing).
func (d *Dashboard) refresh(busy bool) int64 {
	if !busy {
		return 0
	}
	if d.RefreshEvery > 0 {
		return max(1, d.RefreshEvery.Milliseconds())
	}
	return DefaultRefresh.Milliseconds()
}

// Services are what the dashboard works through: the same services and sessions as the API.
type Services struct {
	Store       cleanroom.Store
	Auth        *httpx.Auth
	Accounts    *accounts.Service
	Connections *connections.Service
	Jobs        *jobs.Queue
	Pipeline    *pipeline.Service
	// Cohorts is nil on a deployment without cohorts.
	Cohorts *cohorts.Service
	// Activation is nil on a deployment without it.
	Activation *activation.Service
	// Privacy is the release gate's settings; nil on a deployment without it.
	Privacy *disclosure.Service
	Now     func() time.Time

	// Delivery is nil on a deployment without delivery reports.
	Delivery *delivery.Service
	// Imports is nil on a deployment without bucket imports.
	Imports *imports.Service
}

func (s *Services) now() time.Time {
	if s.Now == nil {
		return cleanroom.UTC(time.Now())
	}
	return cleanroom.UTC(s.Now())
}

// New returns the dashboard handler.
func New(svc Services, log *slog.Logger) *Dashboard {
	d := &Dashboard{Services: svc, store: svc.Store, log: log, pages: map[string]*template.Template{}, mux: http.NewServeMux(),
		cop: http.NewCrossOriginProtection()}
	funcs := template.FuncMap{
		"when": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.UTC().Format("2006-01-02 15:04 UTC")
		},
	}
	for k, v := range cohortFuncs {
		funcs[k] = v
	}
	for k, v := range insightFuncs {
		if _, dup := funcs[k]; dup {
			panic("web: template func " + k + " defined twice")
		}
		funcs[k] = v
	}
	for k, v := range dashboardFuncs {
		if _, dup := funcs[k]; dup {
			panic("web: template func " + k + " defined twice")
		}
		funcs[k] = v
	}
	funcs["deref"] = func(x *float64) float64 { return *x }
	funcs["list"] = func(s ...string) []string { return s }
	// seconds rounds a period in milliseconds up to whole seconds (a meta refresh's unit).
	funcs["seconds"] = func(ms int64) int64 { return (ms + 999) / 1000 }
	// Every template but the layout is a page (parsed with the layout).
	entries, _ := fs.ReadDir(templateFS, "templates")
	for _, e := range entries {
		if page := e.Name(); page != "layout.html" {
			d.pages[page] = template.Must(template.New("").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+page))
		}
	}
	sub, _ := fs.Sub(staticFS, "static")
	d.static = http.StripPrefix("/static/", http.FileServerFS(sub))
	d.mux.Handle("GET /static/", d.static)
	d.mux.HandleFunc("GET /login", d.loginPage)
	d.mux.HandleFunc("POST /login", d.loginSubmit)
	d.mux.HandleFunc("POST /logout", d.signedIn(d.logout))
	d.mux.HandleFunc("POST /org", d.signedIn(d.switchOrg))
	d.mux.HandleFunc("GET /{$}", d.signedIn(d.overview))
	d.mux.HandleFunc("POST /invitations/{id}/{answer}", d.signedIn(d.answerInvitation))
	d.mux.HandleFunc("POST /org/invitations/{id}/withdraw", d.signedIn(d.withdrawInvitation))
	d.mux.HandleFunc("GET /audit", d.signedIn(d.auditPage))
	d.mux.HandleFunc("GET /audit.csv", d.signedIn(d.auditExport))
	d.mux.HandleFunc("GET /data-sources", d.signedIn(d.dataSourcesPage))
	d.mux.HandleFunc("GET /cohorts", d.signedIn(d.cohortsPage))
	d.mux.HandleFunc("POST /cohorts", d.signedIn(d.createCohort))
	d.mux.HandleFunc("GET /cohorts/{id}", d.signedIn(d.cohortPage))
	d.mux.HandleFunc("POST /cohorts/{id}", d.signedIn(d.changeCohort))
	d.mux.HandleFunc("GET /activation", d.signedIn(d.activationPage))
	d.mux.HandleFunc("GET /activation/export.csv", d.signedIn(d.exportCSV))
	d.mux.HandleFunc("GET /activation/export.json", d.signedIn(d.exportCSV))
	d.mux.HandleFunc("POST /activation/settings", d.signedIn(d.saveAdServerSettings))
	d.mux.HandleFunc("POST /activation/{id}/cap", d.signedIn(d.saveFrequencyCap))
	d.mux.HandleFunc("POST /activation/{id}/{connection}", d.signedIn(d.saveCohortActivation))
	d.mux.HandleFunc("GET /cohorts/{id}/insights", d.signedIn(d.insightsPage))
	d.mux.HandleFunc("GET /served", d.signedIn(d.servedPage))
	d.mux.HandleFunc("GET /delivery", d.signedIn(d.deliveryPage))
	d.mux.HandleFunc("GET /connections/{id}/privacy", d.signedIn(d.privacyPage))
	d.mux.HandleFunc("POST /connections/{id}/privacy", d.signedIn(d.changePrivacy))
	d.settingsRoutes()
	d.jobsRoutes()
	d.connectionsRoutes()
	d.dataSourceRoutes()
	d.operatorRoutes()
	d.audienceRoutes()
	d.importRoutes()
	d.mux.HandleFunc("/", d.notFound)
	return d
}

// ServeHTTP implements http.Handler, refusing cross-origin form posts.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "same-origin")
	if err := d.cop.Check(r); err != nil {
		http.Error(w, "Cross-origin request refused.", http.StatusForbidden)
		return
	}
	d.mux.ServeHTTP(w, r)
}

// page is what every template gets.
type page struct {
	Title  string
	Caller *cleanroom.Caller
	CSRF   string
	Orgs   []orgChoice
	Error  string
	Flash  string
	Data   any
}

type orgChoice struct {
	ID, Name string
	Kind     cleanroom.OrgKind
	Role     cleanroom.Role
	Current  bool
}

// render executes the page into a buffer first, so that a template error is a 500 and not a
// page cut off after a 200.
func (d *Dashboard) render(w http.ResponseWriter, status int, name string, p *page) {
	var buf bytes.Buffer
	if err := d.pages[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		d.log.Error("render page", "page", name, "err", err)
		http.Error(w, "The page could not be shown.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// signedIn runs h for a signed-in dashboard user (session only) and checks the CSRF token of
// every POST; others are sent to the login page.
func (d *Dashboard) signedIn(h func(w http.ResponseWriter, r *http.Request, p *page)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := d.Auth.Authenticate(r)
		if err != nil || c.Session == nil {
			// After signing in, the browser GETs next: a form's target (POST /logout) is no page.
			next := r.URL.RequestURI()
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				next = "/"
			}
			http.Redirect(w, r, "/login?next="+url.QueryEscape(next), http.StatusSeeOther)
			return
		}
		p := d.pageFor(r, c)
		if r.Method == http.MethodPost && !auth.EqualSecret(r.PostFormValue("csrf_token"), c.Session.CSRFToken) {
			d.errorPage(w, &page{Caller: p.Caller, CSRF: p.CSRF, Orgs: p.Orgs}, http.StatusForbidden, "The form expired",
				"The form's CSRF token is missing or wrong.", "Go back, reload the page and submit the form again.")
			return
		}
		h(&pageWriter{ResponseWriter: w, p: p}, r, p)
	}
}

// pageWriter is the response of a signed-in page: it carries the page's caller, so an error
// shown by fail has the dashboard's navigation like every other page.
type pageWriter struct {
	http.ResponseWriter
	p *page
}

// Unwrap returns the response underneath, for http.ResponseController.
func (w *pageWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// pageFor returns the page of a signed-in caller, with the orgs it may switch to.
func (d *Dashboard) pageFor(r *http.Request, c *cleanroom.Caller) *page {
	p := &page{Caller: c, CSRF: c.Session.CSRFToken}
	ms, err := d.Accounts.Memberships(r.Context(), c)
	if err != nil {
		d.log.Error("dashboard: memberships", "err", err)
	}
	for _, m := range ms {
		p.Orgs = append(p.Orgs, orgChoice{m.Org.ID, m.Org.Name, m.Org.Kind, m.Role, m.Org.ID == c.OrgID()})
	}
	return p
}

// fail shows the error page for an error no page of its own can show.
func (d *Dashboard) fail(w http.ResponseWriter, err error) {
	// A signed-in page's error keeps the navigation (a fresh page: nothing half-built shows).
	p := &page{}
	if pw, ok := w.(*pageWriter); ok {
		p = &page{Caller: pw.p.Caller, CSRF: pw.p.CSRF, Orgs: pw.p.Orgs}
	}
	if cleanroom.ErrorCode(err) != cleanroom.EINTERNAL {
		d.showFailure(w, p, err)
		return
	}
	d.log.Error("dashboard", "err", err)
	d.errorPage(w, p, http.StatusInternalServerError, "Something went wrong", cleanroom.ErrorMessage(err),
		"Try again in a moment; if it keeps happening, tell the operator the time it happened.")
}

func (d *Dashboard) loginPage(w http.ResponseWriter, r *http.Request) {
	d.render(w, http.StatusOK, "login.html", &page{Title: "Sign in"})
}

func (d *Dashboard) loginSubmit(w http.ResponseWriter, r *http.Request) {
	sess, u, err := d.Auth.Login(w, r, r.PostFormValue("email"), r.PostFormValue("password"), "")
	if err != nil {
		status := httpx.StatusOf(cleanroom.ErrorCode(err))
		if wait, ok := httpx.RetryAfter(err); ok {
			status = http.StatusTooManyRequests
			w.Header().Set("Retry-After", strconv.Itoa(wait))
		}
		// The address typed stays in the form; the password does not.
		d.render(w, status, "login.html", &page{Title: "Sign in", Error: cleanroom.ErrorMessage(err), Data: strings.TrimSpace(r.PostFormValue("email"))})
		return
	}
	d.audit(r, (&cleanroom.AuditEntry{OrgID: sess.OrgID, Action: "session.create", TargetType: "user", TargetID: u.ID,
		Details: map[string]any{"via": "dashboard"}}).By(&cleanroom.Caller{User: u}))
	http.Redirect(w, r, localPath(r.URL.Query().Get("next")), http.StatusSeeOther)
}

// localPath returns next when it is a path on this site, else "/". It refuses "//host" and
// "/\\host", and anything with a control character: browsers drop tabs and newlines from a URL,
// so "/\t/host" would lead to another site too.
func localPath(next string) string {
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || !strings.HasPrefix(next, "/") ||
		strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}

func (d *Dashboard) logout(w http.ResponseWriter, r *http.Request, p *page) {
	if err := d.Auth.Logout(r.Context(), w, r, p.Caller); err != nil {
		d.fail(w, err)
		return
	}
	d.audit(r, (&cleanroom.AuditEntry{Action: "session.delete", TargetType: "user", TargetID: p.Caller.User.ID,
		Details: map[string]any{"via": "dashboard"}}).By(p.Caller))
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (d *Dashboard) switchOrg(w http.ResponseWriter, r *http.Request, p *page) {
	id, err := d.Accounts.SwitchOrg(r.Context(), p.Caller, r.PostFormValue("org_id"))
	if c := cleanroom.ErrorCode(err); c == cleanroom.ENOTFOUND || c == cleanroom.EINVALID {
		// Not an org of the user's (or none chosen): nothing switched, nothing to record.
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	if err != nil {
		d.fail(w, err)
		return
	}
	d.audit(r, (&cleanroom.AuditEntry{OrgID: id, Action: "session.switch_org", TargetType: "org", TargetID: id,
		Details: map[string]any{"via": "dashboard"}}).By(p.Caller))
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (d *Dashboard) audit(r *http.Request, e *cleanroom.AuditEntry) {
	e.Time = cleanroom.UTC(time.Now())
	e.RequestID = r.Header.Get("X-Request-Id")
	if err := d.store.AppendAudit(r.Context(), e); err != nil {
		d.log.Error("audit append failed", "action", e.Action, "err", err)
	}
}
