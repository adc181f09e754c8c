package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/sqlite"
	"github.com/cleanroom-oss/cleanroom/sqlstore"
	"github.com/cleanroom-oss/cleanroom/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) cleanroom.Store { return sqlite.MustOpen(t) })
}

func TestStoreInMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) cleanroom.Store {
		db, err := sqlite.Open(t.Context(), sqlite.Memory)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

func TestOpenTwice(t *testing.T) {
	// A second open of the same file (a restart) finds the schema applied and the data kept.
	path := filepath.Join(t.TempDir(), "db")
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateOrg(ctx, &cleanroom.Org{ID: "01900000-0000-7000-8000-000000000001", Name: "A", Kind: cleanroom.OrgAdvertiser}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Ready(ctx); err != nil {
		t.Fatalf("Ready after reopening: %v", err)
	}
	if _, err := db.FindOrg(ctx, "01900000-0000-7000-8000-000000000001"); err != nil {
		t.Fatalf("org after reopening: %v", err)
	}
}

func TestPragmas(t *testing.T) {
	db := sqlite.MustOpen(t)
	for _, c := range []struct{ pragma, want string }{
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"synchronous", "1"}, // NORMAL
		{"busy_timeout", "10000"},
	} {
		var got string
		if err := db.SQL().QueryRowContext(t.Context(), "PRAGMA "+c.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("PRAGMA %s = %s, want %s", c.pragma, got, c.want)
		}
	}
}

func TestOpenRejectsURIs(t *testing.T) {
	for _, p := range []string{"", "file:x.db", "x.db?mode=ro"} {
		if db, err := sqlite.Open(t.Context(), p); err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded", p)
		}
	}
}

func TestTwoInstancesShareTheQueue(t *testing.T) {
	// Two stores on one file, as two processes would have: their writers take turns through
	// SQLite's lock (BEGIN IMMEDIATE and the busy timeout) without SQLITE_BUSY errors.
	path := filepath.Join(t.TempDir(), "shared.db")
	var stores []cleanroom.Store
	for range 2 {
		db, err := sqlite.Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		stores = append(stores, db)
	}
	storetest.ConcurrentClaims(t, 2, stores...)
}

func TestSerialJobsAcrossInstances(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.db")
	var stores []cleanroom.Store
	for range 2 {
		db, err := sqlite.Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		stores = append(stores, db)
	}
	storetest.ConcurrentSerialClaims(t, 2, stores...)
}

// migrationsUpTo returns the migrations of fsys numbered up to last.
func migrationsUpTo(t *testing.T, fsys fs.FS, last int) fstest.MapFS {
	out := fstest.MapFS{}
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		var v int
		fmt.Sscanf(n, "%d_", &v)
		if v <= last {
			b, _ := fs.ReadFile(fsys, n)
			out[n] = &fstest.MapFile{Data: b}
		}
	}
	return out
}

func TestMigratedBridges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	raw, err := sql.Open("sqlite", path+"?_foreign_keys=1&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	raw.SetMaxOpenConns(1)
	t.Cleanup(func() { raw.Close() })
	old, err := sqlstore.New(sqlite.Dialect, raw, raw, migrationsUpTo(t, sqlite.Migrations, 5))
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	storetest.MigratedBridges(t, raw, func(q string) string { return q }, func() cleanroom.Store {
		s, err := sqlstore.New(sqlite.Dialect, raw, raw, sqlite.Migrations)
		if err == nil {
			err = s.Migrate(t.Context())
		}
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
