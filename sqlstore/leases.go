package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/cleanroom-oss/cleanroom"
)

// TakeLease implements cleanroom.LeaseStore with one conditional upsert: the row is written only
// when it is absent, expired or already holder's, so of two processes taking an expired lease at
// once exactly one changes the row (the other's update matches no row).
func (db *DB) TakeLease(ctx context.Context, name, holder string, now, until time.Time) (bool, error) {
	res, err := db.write.ExecContext(ctx, db.q(`INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE leases.holder = excluded.holder OR leases.expires_at <= ?`),
		name, holder, micros(until), micros(now))
	if err != nil {
		return false, fmt.Errorf("sqlstore: take lease %s: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("sqlstore: take lease %s: %w", name, err)
	}
	return n == 1, nil
}

// ReleaseLease implements cleanroom.LeaseStore.
func (db *DB) ReleaseLease(ctx context.Context, name, holder string) error {
	if _, err := db.write.ExecContext(ctx, db.q(`DELETE FROM leases WHERE name = ? AND holder = ?`), name, holder); err != nil {
		return fmt.Errorf("sqlstore: release lease %s: %w", name, err)
	}
	return nil
}

// ListLeases implements cleanroom.LeaseStore.
func (db *DB) ListLeases(ctx context.Context, now time.Time) ([]cleanroom.Lease, error) {
	rows, err := db.read.QueryContext(ctx, db.q(`SELECT name, holder, expires_at FROM leases WHERE expires_at > ? ORDER BY name`), micros(now))
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list leases: %w", err)
	}
	defer rows.Close()
	var out []cleanroom.Lease
	for rows.Next() {
		var l cleanroom.Lease
		var exp int64
		if err := rows.Scan(&l.Name, &l.Holder, &exp); err != nil {
			return nil, fmt.Errorf("sqlstore: list leases: %w", err)
		}
		l.ExpiresAt = fromMicros(exp)
		out = append(out, l)
	}
	return out, rows.Err()
}
