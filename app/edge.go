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

	"github.com/cleanroom-oss/cleanroom/httpx"
	"github.com/cleanroom-oss/cleanroom/localblob"
)

// ServeEdge runs the edge alone (`cleanroom edge`): it opens only the master key and the blob
// store, no metadata store, serves /edge on Config.Addr, and loads the snapshots that `serve`
// publishes there every Config.EdgeRefresh and, when Config.Database names the deployment's
// PostgreSQL, as soon as a notification says one was published (a listening connection, never
// on a request's path). Close stops it.
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
	if m.Blobs, err = localblob.Open(c.BlobDir()); err != nil {
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
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		cancel()
		return fmt.Errorf("listen on %s: %w", c.Addr, err)
	}
	m.ln = ln
	mux := http.NewServeMux()
	mux.Handle("/edge/", m.Edge)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"status":"ok"}`)) })
	m.server = m.httpServer(mux)
	m.done = make(chan error, 1)
	m.stopped = make(chan struct{})
	go func() {
		defer close(m.stopped)
		err := m.server.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		m.done <- err
	}()
	if c.EdgeRefresh > 0 {
		go m.Edge.Run(ctx, c.EdgeRefresh)
	}
	if c.Database != "" {
		// A wake-up as soon as a snapshot is published; the poll above stays as the fallback.
		m.roles = Roles{Edge: true}
		go m.listener(c.Database).Run(ctx)
	}
	m.Logger.Info("serving the edge", "url", m.URL(), "data", c.DataDir)
	return nil
}
