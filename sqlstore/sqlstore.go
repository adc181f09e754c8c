// Package sqlstore implements cleanroom.Store over database/sql with hand-written SQL. It is the one
// implementation behind both metadata backends: the sqlite and postgres packages open a database,
// describe its SQL dialect with a Dialect and embed their own migrations; everything else (queries,
// transactions, pagination, the job queue, the migration runner) lives here.
//
// Conventions shared by both schemas: IDs are TEXT UUIDs, except audit entries and jobs, which have
// integer identity IDs; times are 64-bit integers holding Unix microseconds in UTC, 0 standing for
// the zero time; JSON (audit details, job arguments) is TEXT; an empty optional reference to an org
// is NULL so that foreign keys hold.
package sqlstore

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/cleanroom-oss/cleanroom"
)

// Dialect describes what differs between the SQL databases sqlstore runs on. Queries are written
// once, with ? placeholders and SQL that SQLite and PostgreSQL both accept; a Dialect fills in the
// rest.
//
// How a write transaction begins is not a field: the write pool's BeginTx must start a transaction
// that takes the write lock up front where the database has one (SQLite: open the write pool with
// _txlock=immediate), so that two writers never both read under a shared lock and then deadlock
// when upgrading it. PostgreSQL's row locks need nothing extra.
type Dialect struct {
	// Name names the database in errors ("sqlite", "postgres").
	Name string
	// Rebind rewrites a query's ? placeholders into the database's own form; nil keeps them (see
	// DollarPlaceholders for PostgreSQL's $1..$n).
	Rebind func(query string) string
	// RowLocks reports whether SELECT ... FOR UPDATE [SKIP LOCKED] is available. Without it
	// (SQLite), write transactions are serialised by the database lock instead.
	RowLocks bool
	// IsUniqueViolation reports whether err says an insert or update broke a unique or primary key
	// constraint; such errors become ECONFLICT where the interface promises it.
	IsUniqueViolation func(err error) bool
	// MigrationLock is a statement run first in each migration transaction so that two processes
	// migrating the same database take turns (PostgreSQL: pg_advisory_xact_lock); "" when the write
	// transaction itself already excludes other writers (SQLite).
	MigrationLock string
	// SerialLock is a query that tries, without waiting, to take a transaction-scoped lock on the
	// serial key given as its one argument and returns whether it did (PostgreSQL:
	// pg_try_advisory_xact_lock); "" when the write transaction already excludes other claimers
	// (SQLite). See ClaimJob.
	SerialLock string
}

// DB is a cleanroom.Store over a database/sql database. Create it with New.
type DB struct {
	dialect    Dialect
	read       *sql.DB
	write      *sql.DB
	migrations []migration

	// Now is the clock used where the interface gives no time: the CreatedAt of a new row when the
	// caller left it zero, and the revocation time of the tokens that DeleteMembership revokes.
	// It defaults to time.Now.
	Now func() time.Time
}

var _ cleanroom.Store = (*DB)(nil)

// New returns a store over the given pools. Reads go to read and writes to write; they may be the
// same pool (PostgreSQL). SQLite uses a write pool of one connection, so writes queue in Go instead
// of spinning on the database lock, and a larger read pool, as WAL lets readers run beside the
// writer. migrations holds the dialect's numbered .sql files at its root (see Migrate); New only
// reads their names and contents, it does not apply them.
func New(d Dialect, read, write *sql.DB, migrations fs.FS) (*DB, error) {
	if d.IsUniqueViolation == nil {
		return nil, fmt.Errorf("sqlstore: dialect %q has no IsUniqueViolation", d.Name)
	}
	ms, err := loadMigrations(migrations)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: %s: %w", d.Name, err)
	}
	return &DB{dialect: d, read: read, write: write, migrations: ms, Now: time.Now}, nil
}

// Close closes the pools. Closing twice is harmless.
func (db *DB) Close() error {
	err := db.write.Close()
	if db.read != db.write {
		err = errors.Join(err, db.read.Close())
	}
	if err != nil {
		return fmt.Errorf("sqlstore: close: %w", err)
	}
	return nil
}

// SQL returns the write pool, for maintenance (backups) and for tests that check what the Store
// methods cannot show, such as the audit table refusing updates. Application code goes through
// the Store methods.
func (db *DB) SQL() *sql.DB { return db.write }

// Ready pings the database and checks that the newest migration is applied.
func (db *DB) Ready(ctx context.Context) error {
	unavailable := cleanroom.Errorf(cleanroom.EUNAVAILABLE, "The metadata database is not available.")
	for _, p := range []*sql.DB{db.write, db.read} {
		if err := p.PingContext(ctx); err != nil {
			return unavailable.Wrap(fmt.Errorf("sqlstore: %s: ping: %w", db.dialect.Name, err))
		}
	}
	v, err := db.appliedVersion(ctx)
	if err != nil {
		return unavailable.Wrap(fmt.Errorf("sqlstore: %s: read schema version: %w", db.dialect.Name, err))
	}
	if want := db.latestVersion(); v < want {
		return cleanroom.Errorf(cleanroom.EUNAVAILABLE, "The metadata database schema is not up to date.").
			Wrap(fmt.Errorf("sqlstore: %s: schema version %d, want %d", db.dialect.Name, v, want))
	}
	return nil
}

// q rewrites a query's placeholders for the dialect.
func (db *DB) q(query string) string {
	if db.dialect.Rebind == nil {
		return query
	}
	return db.dialect.Rebind(query)
}

// forUpdate is the row-lock clause for a SELECT inside a write transaction, "" without row locks.
func (db *DB) forUpdate() string {
	if db.dialect.RowLocks {
		return " FOR UPDATE"
	}
	return ""
}

// now returns the store clock's time, normalised like every stored time.
func (db *DB) now() time.Time { return cleanroom.UTC(db.Now()) }

// orNow returns t normalised, or the store clock's time when t is zero.
func (db *DB) orNow(t time.Time) time.Time {
	if t.IsZero() {
		return db.now()
	}
	return cleanroom.UTC(t)
}

// inTx runs fn in a write transaction and commits it if fn returns nil. op names the operation
// in wrapped errors; errors that fn returns are passed through as they are.
func (db *DB) inTx(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlstore: %s: begin: %w", op, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlstore: %s: commit: %w", op, err)
	}
	return nil
}

// execOne runs a write statement that must change exactly one row and returns whether it did.
func execOne(ctx context.Context, ex interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, query string, args ...any) (bool, error) {
	res, err := ex.ExecContext(ctx, query, args...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	return n > 0, nil
}

// DollarPlaceholders rewrites ? placeholders into PostgreSQL's $1, $2, ... It leaves question
// marks inside quoted strings and identifiers alone.
func DollarPlaceholders(query string) string {
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	var quote byte
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// placeholders returns "?, ?, ..., ?" with n marks, for IN lists.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// where collects the conditions of a WHERE clause. Conditions are constant SQL with ? placeholders;
// values only ever travel as arguments.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

// String returns the clause with a leading space, "" without conditions.
func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// micros converts a time to its stored form: Unix microseconds, 0 for the zero time.
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// fromMicros converts a stored time back; 0 is the zero time.
func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// nullable stores an empty optional reference as NULL.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Cursors are opaque to clients: the sort key of the last item of a page, base64url-encoded.

func encodeCursor(key string) string { return base64.RawURLEncoding.EncodeToString([]byte(key)) }

func encodeIntCursor(id int64) string { return encodeCursor(strconv.FormatInt(id, 10)) }

// badCursor is the error for a cursor that no page returned.
func badCursor(err error) error {
	return cleanroom.Errorf(cleanroom.EINVALID, "The page cursor is malformed.").
		With("field", "after").
		Hint("Pass the \"next\" value of the previous page unchanged, or none for the first page.").
		Wrap(err)
}

// decodeCursor returns the key of a cursor, "" for the first page.
func decodeCursor(c string) (string, error) {
	if c == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) == 0 {
		return "", badCursor(err)
	}
	return string(b), nil
}

// decodeIntCursor returns the ID of a cursor over integer IDs, 0 for the first page.
func decodeIntCursor(c string) (int64, error) {
	k, err := decodeCursor(c)
	if err != nil || k == "" {
		return 0, err
	}
	id, err := strconv.ParseInt(k, 10, 64)
	if err != nil || id <= 0 {
		return 0, badCursor(err)
	}
	return id, nil
}

// page trims rows fetched with a limit of size+1 to size and returns the next cursor, "" when the
// extra row was not there.
func page[T any](items []T, size int, key func(T) string) ([]T, string) {
	if len(items) <= size {
		return items, ""
	}
	items = items[:size]
	return items, key(items[size-1])
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// collect scans every row with scan.
func collect[T any](rows *sql.Rows, scan func(scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	var items []T
	for rows.Next() {
		it, err := scan(rows)
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	return items, rows.Err()
}
