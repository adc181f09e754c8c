package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/app"
)

// run executes the CLI in-process and returns its exit code, stdout and stderr.
func run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Execute(args, strings.NewReader(stdin), &out, &errb)
	return code, strings.TrimSpace(out.String()), errb.String()
}

const pw = "a long enough password"

// TestBootstrap runs the documented bootstrap with the real CLI and the real Main wiring: create
// an operator, an org, its admin and a token, enable the clean room, record the DPA, then serve
// and use the token, the password login, health, readiness, metrics and the dashboard.
func TestBootstrap(t *testing.T) {
	dir := t.TempDir()
	data := []string{"--data", dir, "--log-level", "error"}
	admin := func(stdin string, args ...string) (int, string, string) {
		return run(t, stdin, append(append([]string{"admin"}, args...), data...)...)
	}
	if code, out, errs := admin(pw+"\n", "create-operator", "--email", "op@example.com", "--password-stdin"); code != 0 || out != "" {
		t.Fatalf("create-operator: %d %q %s", code, out, errs)
	}
	if fi, err := os.Stat(dir + "/master.key"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("master key file: %v %v", fi, err)
	}
	code, orgID, errs := admin("", "create-org", "--name", "Daily Planet", "--kind", "publisher")
	if code != 0 || !cleanroom.IsID(orgID) {
		t.Fatalf("create-org: %d %q %s", code, orgID, errs)
	}
	if code, _, errs := admin(pw+"\n", "add-user", "--org", orgID, "--email", "Lois@Example.com", "--role", "admin", "--password-stdin"); code != 0 {
		t.Fatalf("add-user: %d %s", code, errs)
	}
	code, token, errs := admin("", "create-token", "--email", "lois@example.com")
	if code != 0 || !strings.HasPrefix(token, "crt_") {
		t.Fatalf("create-token: %d %q %s", code, token, errs)
	}
	code, opToken, _ := admin("", "create-token", "--email", "op@example.com")
	if code != 0 || !strings.HasPrefix(opToken, "crt_") {
		t.Fatalf("operator create-token: %d", code)
	}
	code, demandSide, errs := admin("", "enable-clean-room", "--org", orgID)
	if code != 0 || !cleanroom.IsID(demandSide) {
		t.Fatalf("enable-clean-room: %d %q %s", code, demandSide, errs)
	}
	if code, _, errs := admin("", "record-dpa", "--org", orgID, "--signed-at", "2026-10-01"); code != 0 {
		t.Fatalf("record-dpa: %d %s", code, errs)
	}
	// Generated passwords are printed once.
	code, generated, _ := admin("", "add-user", "--org", orgID, "--email", "jimmy@example.com", "--role", "viewer")
	if code != 0 || len(generated) < 12 {
		t.Fatalf("add-user with a generated password: %d %q", code, generated)
	}
	code, list, _ := admin("", "list-orgs")
	if code != 0 || !strings.Contains(list, "Daily Planet") || !strings.Contains(list, demandSide) || !strings.Contains(list, "2026-10-01") {
		t.Errorf("list-orgs: %d\n%s", code, list)
	}

	// Mistakes get one line naming the fix, and an exit code by kind.
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"create-org", "--name", "X", "--kind", "agency"}, 2, "publisher, advertiser"},
		{[]string{"add-user", "--org", "12345", "--email", "x@example.com"}, 2, "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"},
		{[]string{"enable-clean-room", "--org", orgID}, 4, "already enabled"},
		{[]string{"create-token", "--email", "nobody@example.com"}, 3, "not found"},
	} {
		code, _, errs := admin("", c.args...)
		if code != c.code || !strings.Contains(errs, c.want) || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q on one line", c.args, code, errs, c.code, c.want)
		}
	}

	// Serve the same data directory.
	m := app.NewMain()
	m.Config.DataDir, m.Config.Addr, m.Config.MetricsAddr = dir, "127.0.0.1:0", "127.0.0.1:0"
	m.Logger = slog.New(slog.DiscardHandler)
	ctx := context.Background()
	if err := m.Open(ctx); err != nil {
		t.Fatal(err)
	}
	if m.KeyCreated {
		t.Error("the master key was generated again")
	}
	release := make(chan struct{})
	started := make(chan struct{})
	m.Jobs.Register("test.block", func(ctx context.Context, j *cleanroom.Job, report func(cleanroom.Progress)) error {
		close(started)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-release:
			return nil
		}
	})
	if err := m.Serve(); err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			m.Close()
		}
	}()
	get := func(path, tok string) (int, string) {
		base := m.URL()
		if path == "/metrics" {
			base = strings.TrimSuffix(m.MetricsURL(), "/metrics")
		}
		req, _ := http.NewRequest("GET", base+path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	status, body := get("/v1/org", token)
	var org cleanroom.Org
	json.Unmarshal([]byte(body), &org)
	if status != 200 || org.ID != orgID || !org.CleanRoomEnabled() || org.DemandSideID != demandSide || org.DPASignedAt.IsZero() {
		t.Errorf("GET /v1/org: %d %s", status, body)
	}
	if status, body := get("/v1/admin/orgs", opToken); status != 200 || !strings.Contains(body, demandSide) {
		t.Errorf("operator lists orgs: %d %s", status, body)
	}
	if status, body := get("/v1/audit", opToken); status != 200 || !strings.Contains(body, "org.clean_room.enable") || !strings.Contains(body, `"via":"cli"`) {
		t.Errorf("audit of CLI actions: %d %s", status, body)
	}
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/v1/openapi.json": 200, "/": http.StatusSeeOther, "/login": 200} {
		if status, _ := get(path, ""); status != want {
			t.Errorf("GET %s: %d, want %d", path, status, want)
		}
	}
	// Every response says nosniff: API, errors, the dashboard and its static files.
	for _, path := range []string{"/v1/org", "/v1/nope", "/healthz", "/login", "/", "/static/style.css", "/static/app.js", "/nope"} {
		res, err := http.Get(m.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s (%d) lacks X-Content-Type-Options: nosniff", path, res.StatusCode)
		}
	}
	// The metrics are on their own listener, not on the public port.
	if res, err := http.Get(m.URL() + "/metrics"); err != nil || res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /metrics on the public port: %v %v, want 404", res.StatusCode, err)
	} else {
		res.Body.Close()
	}
	res, err := http.Post(m.URL()+"/v1/session", "application/json", strings.NewReader(`{"email":"lois@example.com","password":"`+pw+`"}`))
	if err != nil || res.StatusCode != http.StatusCreated {
		t.Fatalf("password login: %v %v", res.StatusCode, err)
	}
	res.Body.Close()
	status, metrics := get("/metrics", "")
	if status != 200 || !regexp.MustCompile(`cleanroom_http_requests_total\{method="GET",route="GET /v1/org",status="200"\} 1`).MatchString(metrics) ||
		!strings.Contains(metrics, "cleanroom_http_request_duration_seconds_bucket") {
		t.Errorf("metrics lack request counts by route:\n%.2000s", metrics)
	}

	// Graceful shutdown: a running job is handed back to the queue, and the server stops.
	j := &cleanroom.Job{Kind: "test.block", OrgID: orgID}
	if err := m.Jobs.Enqueue(ctx, j); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("job did not start")
	}
	if status, body := get("/metrics", ""); !strings.Contains(body, `cleanroom_jobs{kind="test.block",state="running"} 1`) {
		t.Errorf("metrics lack job counts: %d", status)
	}
	closed = true
	if err := m.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := m.Wait(); err != nil {
		t.Fatalf("wait: %v", err)
	}
	if _, err := http.Get(m.URL() + "/healthz"); err == nil {
		t.Error("server still answers after Close")
	}
	// Reopen: the job is queued again, not lost.
	m2 := app.NewMain()
	m2.Config.DataDir = dir
	m2.Logger = slog.New(slog.DiscardHandler)
	if err := m2.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	got, err := m2.Store.FindJob(ctx, j.ID)
	if err != nil || got.State != cleanroom.JobQueued {
		t.Errorf("job after shutdown: %+v %v", got, err)
	}
}

// TestEnvTwins: every flag can be set from its CLEANROOM_* twin; the command line wins.
func TestEnvTwins(t *testing.T) {
	env := map[string]string{"CLEANROOM_ADDR": "127.0.0.1:9999", "CLEANROOM_DATA": "/srv/cr", "CLEANROOM_WORKERS": "7", "CLEANROOM_LOG_LEVEL": "debug"}
	m := app.NewMain()
	cmd := &cobra.Command{Use: "x", RunE: func(*cobra.Command, []string) error { return nil }}
	storageFlags(cmd.Flags(), &m.Config)
	serverFlags(cmd.Flags(), &m.Config)
	if err := cmd.ParseFlags([]string{"--log-level", "warn"}); err != nil {
		t.Fatal(err)
	}
	if err := applyEnv(cmd, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	c := m.Config
	if c.Addr != "127.0.0.1:9999" || c.DataDir != "/srv/cr" || c.Workers != 7 || c.LogLevel != "warn" {
		t.Errorf("config = %+v", c)
	}
	env["CLEANROOM_WORKERS"] = "many"
	m = app.NewMain()
	cmd = &cobra.Command{Use: "x"}
	serverFlags(cmd.Flags(), &m.Config)
	if err := applyEnv(cmd, func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "CLEANROOM_WORKERS") {
		t.Errorf("bad env value: %v", err)
	}
}

// TestREADMEDocumentsFlags: the README's configuration table names every serve flag and its
// environment twin.
func TestREADMEDocumentsFlags(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := app.NewMain()
	cmd := &cobra.Command{Use: "x"}
	storageFlags(cmd.Flags(), &m.Config)
	serverFlags(cmd.Flags(), &m.Config)
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		row := "`--" + f.Name + "`"
		if !strings.Contains(string(readme), row) || !strings.Contains(string(readme), "`"+EnvName(f.Name)+"`") {
			t.Errorf("README lacks the flag %s / %s", row, EnvName(f.Name))
		}
	})
	if !strings.Contains(string(readme), "`CLEANROOM_MASTER_KEY`") {
		t.Error("README lacks CLEANROOM_MASTER_KEY")
	}
}

// TestVersionAndUsage: --version and the version command print the same version; a command line
// cobra cannot run exits 2 with the problem and a pointer to the command's --help.
func TestVersionAndUsage(t *testing.T) {
	want := "cleanroom " + versionString()
	for _, args := range [][]string{{"--version"}, {"version"}} {
		if code, out, errs := run(t, "", args...); code != 0 || out != want {
			t.Errorf("%v: exit %d, %q %q; want %q", args, code, out, errs, want)
		}
	}
	for _, c := range []struct {
		args []string
		help string
	}{
		{[]string{"serve", "--no-such-flag"}, "cleanroom serve"},
		{[]string{"serve", "--workers", "many"}, "cleanroom serve"},
		{[]string{"admin", "create-org", "--name"}, "cleanroom admin create-org"},
		{[]string{"upload", "--server", "http://x"}, "cleanroom upload"},
		{[]string{"no-such-command"}, "cleanroom"},
		{[]string{"version", "extra"}, "cleanroom version"},
		{[]string{"prepare", "--in", "x.csv", "stray"}, "cleanroom prepare"},
	} {
		code, _, errs := run(t, "", c.args...)
		lines := strings.Split(strings.TrimSpace(errs), "\n")
		if code != 2 || len(lines) != 2 || lines[1] != "Run '"+c.help+" --help' for usage." {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and a line pointing to %s --help", c.args, code, errs, c.help)
		}
	}
	// Mistakes found once the command runs keep their own exit codes and one line.
	if code, _, errs := run(t, "", "admin", "create-org", "--name", "X", "--kind", "agency", "--data", t.TempDir()); code != 2 || strings.Contains(errs, "--help") {
		t.Errorf("invalid input: exit %d %q", code, errs)
	}
}
