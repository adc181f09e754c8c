package sqlstore

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/cleanroom-oss/cleanroom"
)

// ListPrivacySettings implements cleanroom.PrivacyStore.
func (db *DB) ListPrivacySettings(ctx context.Context, connectionID string) ([]cleanroom.PrivacySetting, error) {
	rows, err := db.read.QueryContext(ctx, db.q(`SELECT connection_id, party_id, k, epsilon, budget, period, updated_by, updated_at
		FROM privacy_settings WHERE connection_id = ? ORDER BY party_id`), connectionID)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list privacy settings: %w", err)
	}
	defer rows.Close()
	out := []cleanroom.PrivacySetting{}
	for rows.Next() {
		var s cleanroom.PrivacySetting
		var at int64
		if err := rows.Scan(&s.ConnectionID, &s.PartyID, &s.K, &s.Epsilon, &s.Budget, &s.Period, &s.UpdatedBy, &at); err != nil {
			return nil, fmt.Errorf("sqlstore: list privacy settings: %w", err)
		}
		s.UpdatedAt = fromMicros(at)
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: list privacy settings: %w", err)
	}
	return out, nil
}

// requireConnectionTx returns ENOTFOUND unless the connection exists.
func (db *DB) requireConnectionTx(ctx context.Context, tx *sql.Tx, op, id string) error {
	var one int
	err := tx.QueryRowContext(ctx, db.q(`SELECT 1 FROM connections WHERE id = ?`), id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return errConnectionNotFound()
	} else if err != nil {
		return fmt.Errorf("sqlstore: %s: %w", op, err)
	}
	return nil
}

// PutPrivacySetting implements cleanroom.PrivacyStore.
func (db *DB) PutPrivacySetting(ctx context.Context, s *cleanroom.PrivacySetting) error {
	s.UpdatedAt = db.orNow(s.UpdatedAt)
	return db.inTx(ctx, "put privacy setting", func(tx *sql.Tx) error {
		if err := db.requireConnectionTx(ctx, tx, "put privacy setting", s.ConnectionID); err != nil {
			return err
		}
		if err := db.requireOrgsTx(ctx, tx, "put privacy setting", s.PartyID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, db.q(`INSERT INTO privacy_settings (connection_id, party_id, k, epsilon, budget, period, updated_by, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (connection_id, party_id) DO UPDATE SET k = excluded.k, epsilon = excluded.epsilon,
				budget = excluded.budget, period = excluded.period, updated_by = excluded.updated_by, updated_at = excluded.updated_at`),
			s.ConnectionID, s.PartyID, s.K, s.Epsilon, s.Budget, s.Period, s.UpdatedBy, micros(s.UpdatedAt))
		if err != nil {
			return fmt.Errorf("sqlstore: put privacy setting: %w", err)
		}
		return nil
	})
}

// ChargePrivacy implements cleanroom.PrivacyStore. The window's row is created if missing and
// then read under a row lock (PostgreSQL; SQLite's write transaction excludes other writers), so
// concurrent charges of one window take turns and never overspend.
func (db *DB) ChargePrivacy(ctx context.Context, w cleanroom.PrivacyWindow, q [32]byte, cost, limit int64) (spent int64, charged, over bool, err error) {
	const op = "charge privacy budget"
	start, question := micros(w.Start), hex.EncodeToString(q[:])
	err = db.inTx(ctx, op, func(tx *sql.Tx) error {
		if err := db.requireConnectionTx(ctx, tx, op, w.ConnectionID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM privacy_windows WHERE connection_id = ? AND party_id = ? AND window_start < ?`),
			w.ConnectionID, w.PartyID, start); err != nil {
			return fmt.Errorf("sqlstore: %s: %w", op, err)
		}
		if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO privacy_windows (connection_id, party_id, period, window_start, spent)
			VALUES (?, ?, ?, ?, 0) ON CONFLICT (connection_id, party_id, period, window_start) DO NOTHING`),
			w.ConnectionID, w.PartyID, w.Period, start); err != nil {
			return fmt.Errorf("sqlstore: %s: %w", op, err)
		}
		if err := tx.QueryRowContext(ctx, db.q(`SELECT spent FROM privacy_windows
			WHERE connection_id = ? AND party_id = ? AND period = ? AND window_start = ?`+db.forUpdate()),
			w.ConnectionID, w.PartyID, w.Period, start).Scan(&spent); err != nil {
			return fmt.Errorf("sqlstore: %s: %w", op, err)
		}
		var one int
		switch err := tx.QueryRowContext(ctx, db.q(`SELECT 1 FROM privacy_questions
			WHERE connection_id = ? AND party_id = ? AND period = ? AND window_start = ? AND question = ?`),
			w.ConnectionID, w.PartyID, w.Period, start, question).Scan(&one); {
		case err == nil:
			return nil // asked before in this window: free
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("sqlstore: %s: %w", op, err)
		}
		if spent+cost > limit {
			over = true
			return nil
		}
		if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO privacy_questions (connection_id, party_id, period, window_start, question, cost)
			VALUES (?, ?, ?, ?, ?, ?)`), w.ConnectionID, w.PartyID, w.Period, start, question, cost); err != nil {
			return fmt.Errorf("sqlstore: %s: %w", op, err)
		}
		if _, err := tx.ExecContext(ctx, db.q(`UPDATE privacy_windows SET spent = spent + ?
			WHERE connection_id = ? AND party_id = ? AND period = ? AND window_start = ?`),
			cost, w.ConnectionID, w.PartyID, w.Period, start); err != nil {
			return fmt.Errorf("sqlstore: %s: %w", op, err)
		}
		spent += cost
		charged = true
		return nil
	})
	if err != nil {
		return 0, false, false, err
	}
	return spent, charged, over, nil
}

// PrivacySpent implements cleanroom.PrivacyStore.
func (db *DB) PrivacySpent(ctx context.Context, w cleanroom.PrivacyWindow, q [32]byte) (int64, bool, error) {
	var spent int64
	err := db.read.QueryRowContext(ctx, db.q(`SELECT spent FROM privacy_windows
		WHERE connection_id = ? AND party_id = ? AND period = ? AND window_start = ?`),
		w.ConnectionID, w.PartyID, w.Period, micros(w.Start)).Scan(&spent)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	} else if err != nil {
		return 0, false, fmt.Errorf("sqlstore: privacy spent: %w", err)
	}
	var one int
	err = db.read.QueryRowContext(ctx, db.q(`SELECT 1 FROM privacy_questions
		WHERE connection_id = ? AND party_id = ? AND period = ? AND window_start = ? AND question = ?`),
		w.ConnectionID, w.PartyID, w.Period, micros(w.Start), hex.EncodeToString(q[:])).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return spent, false, nil
	} else if err != nil {
		return 0, false, fmt.Errorf("sqlstore: privacy spent: %w", err)
	}
	return spent, true, nil
}
