package app_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/cleanroom-oss/cleanroom/app"
	"github.com/cleanroom-oss/cleanroom/app/apptest"
)

// TestServeEdgeAddr: serve --edge-addr answers the edge's routes and /healthz on a listener of
// its own (the edge's own HTTP loop), besides /edge on --addr, and Close stops it.
func TestServeEdgeAddr(t *testing.T) {
	m := apptest.Open(t, apptest.Options{Configure: func(c *app.Config) {
		c.Addr, c.EdgeAddr, c.EdgeRefresh, c.CohortRefresh = "127.0.0.1:0", "127.0.0.1:0", 0, 0
	}})
	if err := m.Serve(); err != nil {
		t.Fatal(err)
	}
	if m.EdgeURL() == "" || m.EdgeURL() == m.URL() {
		t.Fatalf("edge URL %q, URL %q", m.EdgeURL(), m.URL())
	}
	get := func(u string) (int, string) {
		t.Helper()
		res, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	for _, tt := range []struct {
		url    string
		status int
	}{
		{m.EdgeURL() + "/healthz", 200},
		{m.EdgeURL() + "/edge/v1/01900000-0000-7000-8000-0000000000ff/targeting?uid=a", 404},
		{m.URL() + "/edge/v1/01900000-0000-7000-8000-0000000000ff/targeting?uid=a", 404},
		{m.EdgeURL() + "/api/v1/me", 404},
	} {
		if status, body := get(tt.url); status != tt.status {
			t.Errorf("GET %s: %d %s, want %d", tt.url, status, body, tt.status)
		}
	}
	edge := m.EdgeURL()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(edge + "/healthz"); err == nil {
		t.Errorf("the edge listener still answers after Close")
	}
}

// TestORTB2DataNameChecked: a user.data name that is not a domain's characters (it would reach
// every bidder's request) or a negative segtax stops the application from opening.
func TestORTB2DataNameChecked(t *testing.T) {
	for _, tt := range []struct {
		name   string
		segtax int
		ok     bool
	}{
		{"planet-cr.example", 600, true},
		{"", 0, true}, // the default, cleanroom
		{`evil"name`, 0, false},
		{"a b", 0, false},
		{"planet.example", -1, false},
	} {
		m := app.NewMain()
		m.Logger = slog.New(slog.DiscardHandler)
		m.Config.DataDir, m.Config.Addr, m.Config.EdgeRefresh, m.Config.CohortRefresh = t.TempDir(), "127.0.0.1:0", 0, 0
		m.Config.ORTB2DataName, m.Config.ORTB2Segtax = tt.name, tt.segtax
		err := m.Open(context.Background())
		if err == nil {
			m.Close()
		}
		t.Logf("%q, %d: %v", tt.name, tt.segtax, err)
		if (err == nil) != tt.ok {
			t.Errorf("%q, %d: %v", tt.name, tt.segtax, err)
		}
	}
}
