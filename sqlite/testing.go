package sqlite

import (
	"context"
	"path/filepath"
)

// TB is the part of testing.TB that MustOpen uses; *testing.T and *testing.B satisfy it. It is
// declared here so that binaries importing this package do not link package testing.
type TB interface {
	Helper()
	TempDir() string
	Cleanup(func())
	Fatalf(format string, args ...any)
}

// MustOpen opens a fresh, migrated database in a file under tb's temporary directory (so WAL and
// the separate reader and writer pools are exercised) and closes it when the test ends. Packages
// use it in their own tests to get a real store.
func MustOpen(tb TB) *DB {
	tb.Helper()
	db, err := Open(context.Background(), filepath.Join(tb.TempDir(), "cleanroom.db"))
	if err != nil {
		tb.Fatalf("sqlite.MustOpen: %v", err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Fatalf("sqlite.MustOpen: close: %v", err)
		}
	})
	return db
}
