package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/cleanroom-oss/cleanroom/edgehttp"
	"github.com/cleanroom-oss/cleanroom/httpx"
)

// ServeEdge runs the edge alone (`cleanroom edge`): it opens only the master key and the blob
// store, no metadata store, serves /edge and /healthz on Config.Addr with the edge's own HTTP loop
// (edgehttp.HTTPServer), and loads the snapshots that `serve` publishes there every
// Config.EdgeRefresh and, when Config.Database names the deployment's PostgreSQL, as soon as a
// notification says one was published (a listening connection, never on a request's path).
// Close stops it.
func (m *Main) ServeEdge() error {
	c := &m.Config
	if m.Logger == nil {
		l, err := NewLogger(*c, os.Stderr)
		if err != nil {
			return err
		}
		m.Logger = l
	}
	if c.Database != "" && !strings.HasPrefix(c.Database, "postgres://") && !strings.HasPrefix(c.Database, "postgresql://") {
		return fmt.Errorf("--database must be a postgres:// URL (the edge only listens there for published snapshots)")
	}
	var err error
	if m.Keys, _, err = loadKeys(c, false); err != nil {
		return err
	}
	if m.Blobs, err = OpenBlobs(context.Background(), *c); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	if err := openRoot(ctx, m.Blobs, m.Keys); err != nil {
		return err
	}
	m.Auth = httpx.NewAuth(nil, m.Logger)
	for _, p := range c.TrustedProxies {
		prefix, err := netip.ParsePrefix(strings.TrimSpace(p))
		if err != nil {
			return fmt.Errorf("--trusted-proxies: %q is not a CIDR such as 10.0.0.0/8 or 127.0.0.1/32", p)
		}
		m.Auth.TrustedProxies = append(m.Auth.TrustedProxies, prefix)
	}
	if m.Edge, err = m.NewEdge(); err != nil {
		return err
	}
	if err := m.Edge.Load(ctx); err != nil {
		m.Logger.Warn("edge load failed", "err", err)
	}
	if err := m.listenEdge(c.Addr, "--addr"); err != nil {
		cancel()
		return err
	}
	m.ln = m.edgeLn
	m.done = make(chan error, 1)
	m.stopped = make(chan struct{})
	go func() {
		defer close(m.stopped)
		err := m.edgeServer.Serve(m.edgeLn)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		m.done <- err
	}()
	if c.EdgeRefresh > 0 {
		m.background.Go(func() { m.Edge.Run(ctx, c.EdgeRefresh) })
	}
	if c.Database != "" {
		// A wake-up as soon as a snapshot is published; the poll above stays as the fallback.
		m.roles = Roles{Edge: true}
		go m.listener(c.Database).Run(ctx)
	}
	m.Logger.Info("serving the edge", "url", m.URL(), "data", c.DataDir)
	return nil
}

// listenEdge listens on addr (named flag in errors) for the edge's own HTTP loop, which answers
// the targeting route itself and every other request with the edge's routes and /healthz, with
// the same timeouts as the main listener. Serve it with m.edgeServer.Serve(m.edgeLn).
func (m *Main) listenEdge(addr, flag string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s: listen on %s: %w", flag, addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/edge/", m.Edge)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"status":"ok"}`)) })
	m.edgeLn = ln
	m.edgeServer = m.Edge.NewHTTPServer(edgehttp.LoopOptions{Fallback: mux, ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout: 2 * time.Minute, Logger: m.Logger})
	return nil
}

// EdgeURL is the base URL of the edge's own listener (ServeEdge, Config.EdgeAddr), or "".
func (m *Main) EdgeURL() string {
	if m.edgeLn == nil {
		return ""
	}
	return "http://" + m.edgeLn.Addr().String()
}
