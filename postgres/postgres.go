// Package postgres is the metadata store for deployments of several instances: cleanroom.Store on
// PostgreSQL, through pgx's database/sql adapter and the shared implementation in package
// sqlstore. Job claims lock rows with FOR UPDATE SKIP LOCKED, so any number of workers on any
// number of machines share the queue.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/cleanroom-oss/cleanroom/sqlstore"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations are the PostgreSQL schema migrations, numbered .sql files at the root.
var Migrations, _ = fs.Sub(migrationFiles, "migrations") // fails only for an invalid path

// Dialect describes PostgreSQL to sqlstore.
var Dialect = sqlstore.Dialect{
	Name:              "postgres",
	Rebind:            sqlstore.DollarPlaceholders,
	RowLocks:          true,
	IsUniqueViolation: isUniqueViolation,
	// One lock per schema: instances starting together take turns migrating, while databases
	// that hold several schemas (test runs) migrate them side by side.
	MigrationLock: `SELECT pg_advisory_xact_lock(hashtext('cleanroom.migrate.' || COALESCE(current_schema(), '')))`,
	// Per schema too, so that test runs sharing a database do not pass over each other's jobs.
	SerialLock: `SELECT pg_try_advisory_xact_lock(hashtext('cleanroom.jobs.' || COALESCE(current_schema(), '') || '.' || ?))`,
}

// uniqueViolation is PostgreSQL's SQLSTATE for a unique or primary key violation.
const uniqueViolation = "23505"

func isUniqueViolation(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == uniqueViolation
}

// DB is the PostgreSQL metadata store. It implements cleanroom.Store.
type DB struct {
	*sqlstore.DB
}

// Pool limits. PostgreSQL serves each connection with a process, so the pool stays small; a
// deployment with many instances divides max_connections between them.
const (
	MaxOpenConns = 16
	MaxIdleConns = 4
)

// Open connects to the database named by dsn (a postgres:// URL or key=value string, as pgx
// parses it) and applies pending migrations. A search_path parameter in the DSN selects the schema.
func Open(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse DSN: %w", err) // pgx redacts the password
	}
	return OpenConfig(ctx, cfg)
}

// OpenConfig is Open for a parsed configuration.
func OpenConfig(ctx context.Context, cfg *pgx.ConnConfig) (*DB, error) {
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(MaxOpenConns)
	db.SetMaxIdleConns(MaxIdleConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	db.SetConnMaxLifetime(time.Hour)

	s, err := sqlstore.New(Dialect, db, db, Migrations)
	if err == nil {
		err = db.PingContext(ctx)
	}
	if err == nil {
		err = s.Migrate(ctx)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: open %s@%s:%d/%s: %w", cfg.User, cfg.Host, cfg.Port, cfg.Database, err)
	}
	return &DB{DB: s}, nil
}
