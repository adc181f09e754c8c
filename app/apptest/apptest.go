// Package apptest opens the whole application (package app) for tests: SQLite and blobs in a
// temporary data directory, a fresh master key, cheap password hashing and a discarded log.
package apptest

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/app"
	"github.com/cleanroom-oss/cleanroom/auth"
)

// Options change the test application before it opens.
type Options struct {
	// Now is the services' clock (see app.Main.Now); nil for the wall clock.
	Now func() time.Time
	// Log receives the application's log; nil discards it.
	Log io.Writer
	// Store, when set, is the metadata store to use (e.g. a PostgreSQL test schema); by default
	// SQLite in the data directory.
	Store cleanroom.Store
	// Configure, when set, adjusts the configuration before Open.
	Configure func(*app.Config)
}

// Open opens the application in a new temporary data directory, closed when the test ends. Its
// services are ready; call Handler for the HTTP handler.
func Open(tb testing.TB, o Options) *app.Main {
	tb.Helper()
	m := app.NewMain()
	m.Config.DataDir = tb.TempDir()
	m.Now, m.Store = o.Now, o.Store
	if o.Log != nil {
		m.Logger = slog.New(slog.NewTextHandler(o.Log, nil))
	} else {
		m.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Configure != nil {
		o.Configure(&m.Config)
	}
	if err := m.Open(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	m.Accounts.Passwords = auth.TestParams
	return m
}
