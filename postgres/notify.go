package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// NotifyChannel is the one PostgreSQL channel the processes of a deployment tell each other
// things on (LISTEN/NOTIFY): a job was queued, cohorts or publishers should be checked, a
// publisher's edge snapshot was published. A payload is "<schema> <topic> <argument>", so that
// deployments (and test runs) sharing a database in separate schemas do not hear each other.
const NotifyChannel = "cleanroom"

// Notify sends topic and arg to every process listening on the database's schema (Listener).
// A notification is a wake-up, never the only carrier of a change: listeners that miss one (not
// connected at the time) catch up by their periodic checks.
func (db *DB) Notify(ctx context.Context, topic, arg string) error {
	_, err := db.SQL().ExecContext(ctx, `SELECT pg_notify($1, COALESCE(current_schema(), '') || ' ' || $2 || ' ' || $3)`, NotifyChannel, topic, arg)
	if err != nil {
		return fmt.Errorf("postgres: notify %s: %w", topic, err)
	}
	return nil
}

// Listener receives the notifications of a database's schema on a connection of its own (not
// from the store's pool, so a process without the store, such as the edge, can listen).
type Listener struct {
	// DSN is the database, as given to Open (its search_path selects the schema).
	DSN    string
	Logger *slog.Logger
	// Connected, when set, is called each time the listener (re)connects and listens: what was
	// notified while it was not connected is lost, so callers check everything then.
	Connected func()
	// Handle is called with each notification's topic and argument, one at a time.
	Handle func(topic, arg string)
	// Retry is the wait before reconnecting after an error (default 1 s).
	Retry time.Duration
}

// Run listens until ctx ends, reconnecting after errors.
func (l *Listener) Run(ctx context.Context) {
	retry := l.Retry
	if retry <= 0 {
		retry = time.Second
	}
	for ctx.Err() == nil {
		err := l.listen(ctx)
		if ctx.Err() != nil {
			return
		}
		l.Logger.Warn("postgres listener lost its connection; reconnecting", "err", err, "retry", retry)
		select {
		case <-ctx.Done():
			return
		case <-time.After(retry):
		}
	}
}

func (l *Listener) listen(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, l.DSN)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var schema string
	if err := conn.QueryRow(ctx, `SELECT COALESCE(current_schema(), '')`).Scan(&schema); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{NotifyChannel}.Sanitize()); err != nil {
		return err
	}
	if l.Connected != nil {
		l.Connected()
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		s, topic, ok := strings.Cut(n.Payload, " ")
		if !ok || s != schema {
			continue
		}
		topic, arg, _ := strings.Cut(topic, " ")
		l.Handle(topic, arg)
	}
}
