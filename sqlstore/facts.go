package sqlstore

import (
	"context"
	"fmt"
)

// RecordFact implements cleanroom.FactStore.
func (db *DB) RecordFact(ctx context.Context, name, value string) (string, error) {
	if _, err := db.write.ExecContext(ctx, db.q(`INSERT INTO deployment_facts (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`), name, value); err != nil {
		return "", fmt.Errorf("sqlstore: record fact %s: %w", name, err)
	}
	var stored string
	if err := db.write.QueryRowContext(ctx, db.q(`SELECT value FROM deployment_facts WHERE name = ?`), name).Scan(&stored); err != nil {
		return "", fmt.Errorf("sqlstore: read fact %s: %w", name, err)
	}
	return stored, nil
}
