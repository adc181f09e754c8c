package sqlstore_test

import (
	"database/sql"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/sqlite"
	"github.com/cleanroom-oss/cleanroom/sqlstore"
)

func TestDollarPlaceholders(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`SELECT 1`, `SELECT 1`},
		{`SELECT a FROM t WHERE id = ? AND b IN (?, ?)`, `SELECT a FROM t WHERE id = $1 AND b IN ($2, $3)`},
		{`UPDATE t SET s = 'what?' WHERE id = ?`, `UPDATE t SET s = 'what?' WHERE id = $1`},
		{`SELECT "odd?name" FROM t WHERE x = ? AND y = 'it''s ?' AND z = ?`, `SELECT "odd?name" FROM t WHERE x = $1 AND y = 'it''s ?' AND z = $2`},
	} {
		if got := sqlstore.DollarPlaceholders(c.in); got != c.want {
			t.Errorf("DollarPlaceholders(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// rawSQLite opens a bare SQLite database file for the migration runner, as package sqlite would.
func rawSQLite(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "m.db")+"?_txlock=immediate&_foreign_keys=1")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

func newStore(t *testing.T, db *sql.DB, migrations fstest.MapFS) *sqlstore.DB {
	t.Helper()
	s, err := sqlstore.New(sqlite.Dialect, db, db, migrations)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func versions(t *testing.T, db *sql.DB) []int {
	t.Helper()
	rows, err := db.Query(`SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var vs []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	return vs
}

func file(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }

func TestMigrate(t *testing.T) {
	db := rawSQLite(t)
	// Version 10 needs version 2's table: applied in name order, 10 would come first and fail.
	v1 := fstest.MapFS{
		"10_add_column.sql": file(`ALTER TABLE b ADD COLUMN note TEXT`),
		"2_b.sql":           file(`CREATE TABLE b (id INTEGER PRIMARY KEY)`),
		"1_a.sql":           file(`CREATE TABLE a (id INTEGER PRIMARY KEY); CREATE TABLE a2 (id INTEGER PRIMARY KEY);`),
		"README.md":         file(`not a migration`),
	}
	s := newStore(t, db, v1)
	if got := cleanroom.ErrorCode(s.Ready(t.Context())); got != cleanroom.EUNAVAILABLE {
		t.Fatalf("Ready before migrating: code %q, want %q", got, cleanroom.EUNAVAILABLE)
	}
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{1, 2, 10}, versions(t, db)); diff != "" {
		t.Fatalf("applied versions (-want +got):\n%s", diff)
	}
	if err := s.Ready(t.Context()); err != nil {
		t.Fatalf("Ready after migrating: %v", err)
	}
	// Again: nothing is applied twice (CREATE TABLE would fail).
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}

	// A newer binary brings version 11; until it is applied the store is not ready.
	v2 := fstest.MapFS{"11_c.sql": file(`CREATE TABLE c (id INTEGER PRIMARY KEY)`)}
	for k, v := range v1 {
		v2[k] = v
	}
	s2 := newStore(t, db, v2)
	if got := cleanroom.ErrorCode(s2.Ready(t.Context())); got != cleanroom.EUNAVAILABLE {
		t.Fatalf("Ready with version 11 pending: code %q, want %q", got, cleanroom.EUNAVAILABLE)
	}
	if err := s2.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := s2.Ready(t.Context()); err != nil {
		t.Fatalf("Ready after version 11: %v", err)
	}
}

func TestMigrateFailureRollsBack(t *testing.T) {
	db := rawSQLite(t)
	s := newStore(t, db, fstest.MapFS{
		"1_a.sql": file(`CREATE TABLE a (id INTEGER PRIMARY KEY)`),
		"2_b.sql": file(`CREATE TABLE b (id INTEGER PRIMARY KEY); INSERT INTO nowhere VALUES (1);`),
	})
	if err := s.Migrate(t.Context()); err == nil {
		t.Fatal("Migrate with a broken migration succeeded")
	}
	if diff := cmp.Diff([]int{1}, versions(t, db)); diff != "" {
		t.Fatalf("applied versions (-want +got):\n%s", diff)
	}
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE name = 'b'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatal("the failed migration's table exists: it was not rolled back")
	}
}

func TestNewRejectsBadMigrations(t *testing.T) {
	db := rawSQLite(t)
	for name, fsys := range map[string]fstest.MapFS{
		"none":             {},
		"unnumbered":       {"init.sql": file(`SELECT 1`)},
		"version zero":     {"0_init.sql": file(`SELECT 1`)},
		"duplicate":        {"1_a.sql": file(`SELECT 1`), "01_b.sql": file(`SELECT 1`)},
		"upper-case names": {"1_Init.sql": file(`SELECT 1`)},
	} {
		if _, err := sqlstore.New(sqlite.Dialect, db, db, fsys); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}
