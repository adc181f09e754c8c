package api_test

import (
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cleanroom-oss/cleanroom/api"
)

// TestMetricsBounded: requests with made-up methods and paths add no series to the HTTP
// metrics (each label takes a bounded set of values), and the API's port does not serve the
// metrics at all.
func TestMetricsBounded(t *testing.T) {
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	s := api.New(e.store, e.acc, slog.New(slog.DiscardHandler))
	s.Registry = reg
	srv := httptest.NewServer(s.Handler(http.NotFoundHandler()))
	defer srv.Close()

	rng := rand.New(rand.NewPCG(1, 2))
	word := func() string {
		const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
		b := make([]byte, 3+rng.IntN(8))
		for i := range b {
			b[i] = letters[rng.IntN(len(letters))]
		}
		return string(b)
	}
	paths := []func() string{
		func() string { return "/" + word() },
		func() string { return "/v1/" + word() },
		func() string { return "/v1/org" },
		func() string { return "/v1/users/" + word() },
		func() string { return "/v1/" + word() + "/" + word() + "?x=" + word() },
	}
	known := []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}
	do := func(method, path string) {
		req, err := http.NewRequest(method, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	series := func() int {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, mf := range mfs {
			n += len(mf.GetMetric())
		}
		return n
	}
	// Each kind of path with each known method and one made-up method, then 3,000 requests
	// with random methods and paths of the same kinds.
	for _, p := range paths {
		for _, m := range append(known, "MADEUP") {
			do(m, p())
		}
	}
	before := series()
	for range 3000 {
		method := strings.ToUpper(word())
		if rng.IntN(4) == 0 {
			method = known[rng.IntN(len(known))]
		}
		do(method, paths[rng.IntN(len(paths))]())
	}
	if after := series(); after != before {
		t.Errorf("3,000 requests with made-up methods and paths took the series from %d to %d", before, after)
	} else {
		t.Logf("%d series before and after 3,000 requests with made-up methods and paths", before)
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "method" && !slices.Contains([]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}, l.GetValue()) {
					t.Errorf("method label %q", l.GetValue())
				}
			}
		}
	}

	res, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /metrics on the API's port: %d, want 404", res.StatusCode)
	}
	// The metrics handler serves them, on the listener the process gives it.
	mh := httptest.NewServer(api.MetricsHandler(reg))
	defer mh.Close()
	res, err = http.Get(mh.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), `cleanroom_http_requests_total{method="other"`) {
		t.Errorf("metrics handler: %d %.500s", res.StatusCode, body)
	}
	if res.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("metrics handler headers: %v", res.Header)
	}
}

// TestSecurityHeaders: every response (routes, errors, health, unknown paths, the dashboard's)
// says nosniff; Strict-Transport-Security is sent over TLS, or when --secure-cookies says a TLS
// proxy is in front, and not over plain HTTP.
func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t)
	dash := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<p>page</p>") })
	for _, c := range []struct {
		name     string
		tls      bool
		secure   bool
		wantHSTS bool
	}{
		{"plain HTTP", false, false, false},
		{"TLS", true, false, true},
		{"TLS proxy in front", false, true, true},
	} {
		s := api.New(e.store, e.acc, slog.New(slog.DiscardHandler))
		s.Auth.SecureCookies = c.secure
		var srv *httptest.Server
		if c.tls {
			srv = httptest.NewTLSServer(s.Handler(dash))
		} else {
			srv = httptest.NewServer(s.Handler(dash))
		}
		for _, q := range []struct{ method, path, token string }{
			{"GET", "/v1/org", e.tokens["a-admin"]},
			{"GET", "/v1/org", ""},
			{"GET", "/v1/nope", ""},
			{"DELETE", "/v1/openapi.json", ""},
			{"GET", "/healthz", ""},
			{"GET", "/v1/openapi.json", ""},
			{"GET", "/", ""},
			{"GET", "/static/app.css", ""},
		} {
			req, _ := http.NewRequest(q.method, srv.URL+q.path, nil)
			if q.token != "" {
				req.Header.Set("Authorization", "Bearer "+q.token)
			}
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("%s: %s %s (%d): X-Content-Type-Options %q", c.name, q.method, q.path, res.StatusCode, got)
			}
			if hsts := res.Header.Get("Strict-Transport-Security"); (hsts != "") != c.wantHSTS {
				t.Errorf("%s: %s %s: Strict-Transport-Security %q", c.name, q.method, q.path, hsts)
			}
		}
		srv.Close()
	}
}
