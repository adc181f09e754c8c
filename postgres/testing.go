package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// TestDSNEnv names the environment variable that holds the DSN of a PostgreSQL database the
// tests may use; tests that need PostgreSQL skip when it is unset. .ci/run sets it.
const TestDSNEnv = "CLEANROOM_TEST_POSTGRES"

// TB is the part of testing.TB that MustOpenTest uses; *testing.T and *testing.B satisfy it. It
// is declared here so that binaries importing this package do not link package testing.
type TB interface {
	Helper()
	Cleanup(func())
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
}

// MustOpenTest opens a store in a fresh, randomly named schema of the database that
// $CLEANROOM_TEST_POSTGRES names, so that tests (and test processes) running at the same time
// never see each other's rows. The schema is dropped when the test ends. It skips the test when
// the variable is unset.
func MustOpenTest(tb TB) *DB {
	tb.Helper()
	cfg := TestSchema(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := OpenConfig(ctx, cfg)
	if err != nil {
		tb.Fatalf("postgres.MustOpenTest: %v", err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Fatalf("postgres.MustOpenTest: close: %v", err)
		}
	})
	return db
}

// TestSchema creates a fresh, empty, randomly named schema in the database that
// $CLEANROOM_TEST_POSTGRES names, drops it when the test ends, and returns a connection
// configuration whose search_path is that schema. It skips the test when the variable is unset.
// Close every pool opened with the configuration before the test ends.
func TestSchema(tb TB) *pgx.ConnConfig {
	tb.Helper()
	dsn := os.Getenv(TestDSNEnv)
	if dsn == "" {
		tb.Skipf("set %s to a PostgreSQL DSN (e.g. postgres://postgres@127.0.0.1:5432/cleanroom_test) to run the PostgreSQL tests", TestDSNEnv)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		tb.Fatalf("postgres.TestSchema: %s: %v", TestDSNEnv, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatalf("postgres.TestSchema: %v", err)
	}
	schema := "cleanroom_test_" + hex.EncodeToString(b[:])
	ident := pgx.Identifier{schema}.Sanitize()

	admin := stdlib.OpenDB(*cfg)
	// DDL cannot take the schema name as a parameter; it is ours, quoted as an identifier.
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+ident); err != nil {
		admin.Close()
		tb.Fatalf("postgres.TestSchema: create schema: %v", err)
	}
	tb.Cleanup(func() {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+ident+" CASCADE"); err != nil {
			tb.Fatalf("postgres.TestSchema: drop schema %s: %v", schema, err)
		}
	})
	scfg := cfg.Copy()
	scfg.RuntimeParams["search_path"] = schema
	return scfg
}
