// Package sqlite is the default metadata store: cleanroom.Store on an SQLite database file, through
// the pure-Go driver modernc.org/sqlite and the shared implementation in package sqlstore.
//
// The database runs in WAL mode with synchronous=NORMAL, foreign keys on and a 10 s busy timeout.
// Writes go through a pool of one connection whose transactions begin IMMEDIATE (they take the
// write lock up front, so two writers never deadlock upgrading a read lock), and queue in Go
// rather than spinning on the lock; reads go through a pool of read-only connections that WAL lets
// run beside the writer.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"runtime"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/cleanroom-oss/cleanroom/sqlstore"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations are the SQLite schema migrations, numbered .sql files at the root.
var Migrations, _ = fs.Sub(migrationFiles, "migrations") // fails only for an invalid path

// Dialect describes SQLite to sqlstore.
var Dialect = sqlstore.Dialect{
	Name:              "sqlite",
	RowLocks:          false,
	IsUniqueViolation: isUniqueViolation,
}

// isUniqueViolation reports whether err is SQLite's UNIQUE or PRIMARY KEY constraint error.
func isUniqueViolation(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// BusyTimeout is how long a connection waits for a lock held by another process before failing
// with SQLITE_BUSY.
const BusyTimeout = 10 * time.Second

// DB is the SQLite metadata store. It implements cleanroom.Store.
type DB struct {
	*sqlstore.DB
	// Path is the database file.
	Path string
}

// Memory is the path that Open takes for a private in-memory database, for tests that cannot
// have a file; it has one connection and no WAL.
const Memory = ":memory:"

// Open opens (creating if needed) the database file at path and applies pending migrations.
func Open(ctx context.Context, path string) (*DB, error) {
	if path == "" || strings.Contains(path, "?") || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlite: database path %q must be a plain file path", path)
	}
	if path == Memory {
		return openMemory(ctx)
	}
	// The writer comes first: it switches the file to WAL, which is persistent, and migrates
	// before any reader looks at the schema.
	write, err := sql.Open("sqlite", path+"?"+dsnParams(true))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)

	read, err := sql.Open("sqlite", path+"?"+dsnParams(false))
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	readers := max(4, runtime.GOMAXPROCS(0))
	read.SetMaxOpenConns(readers)
	read.SetMaxIdleConns(readers)
	read.SetConnMaxIdleTime(5 * time.Minute)

	return newDB(ctx, path, read, write)
}

// dsnParams returns the driver's query parameters for a writer or a reader connection.
func dsnParams(writer bool) string {
	v := url.Values{}
	v.Set("_busy_timeout", fmt.Sprint(BusyTimeout.Milliseconds()))
	v.Set("_foreign_keys", "1")
	v.Set("_synchronous", "NORMAL")
	if writer {
		v.Set("_journal_mode", "WAL")
		v.Set("_txlock", "immediate")
	} else {
		v.Set("_query_only", "1")
	}
	return v.Encode()
}

func openMemory(ctx context.Context) (*DB, error) {
	v := url.Values{}
	v.Set("_foreign_keys", "1")
	v.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", Memory+"?"+v.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open in-memory database: %w", err)
	}
	// Every connection would be a database of its own: keep exactly one, forever.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	return newDB(ctx, Memory, db, db)
}

func newDB(ctx context.Context, path string, read, write *sql.DB) (*DB, error) {
	s, err := sqlstore.New(Dialect, read, write, Migrations)
	if err == nil {
		err = s.Migrate(ctx)
	}
	if err != nil {
		write.Close()
		read.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return &DB{DB: s, Path: path}, nil
}
