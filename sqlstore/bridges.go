package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cleanroom-oss/cleanroom"
)

// Bridge registrations (cleanroom.BridgeStore). tags is TEXT holding a JSON array of strings.

const bridgeColumns = `id, publisher_id, name, tags, created_at`

func scanBridge(s scanner) (*cleanroom.Bridge, error) {
	var (
		b    cleanroom.Bridge
		tags string
		crt  int64
	)
	if err := s.Scan(&b.ID, &b.PublisherID, &b.Name, &tags, &crt); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(tags), &b.Tags); err != nil {
		return nil, fmt.Errorf("tags of bridge %s: %w", b.ID, err)
	}
	if b.Tags == nil {
		b.Tags = []string{}
	}
	b.CreatedAt = fromMicros(crt)
	return &b, nil
}

// CreateBridge inserts b. A nil Tags is stored (and written back) as an empty list, a zero
// CreatedAt as the store clock's time. Returns ENOTFOUND if the publisher org does not exist and
// ECONFLICT if the ID is taken.
func (db *DB) CreateBridge(ctx context.Context, b *cleanroom.Bridge) error {
	if b.Tags == nil {
		b.Tags = []string{}
	}
	tags, err := json.Marshal(b.Tags)
	if err != nil {
		return fmt.Errorf("sqlstore: create bridge: %w", err)
	}
	b.CreatedAt = db.orNow(b.CreatedAt)
	return db.inTx(ctx, "create bridge", func(tx *sql.Tx) error {
		if err := db.requireOrgsTx(ctx, tx, "create bridge", b.PublisherID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, db.q(`INSERT INTO bridges (`+bridgeColumns+`) VALUES (?, ?, ?, ?, ?)`),
			b.ID, b.PublisherID, b.Name, string(tags), micros(b.CreatedAt))
		switch {
		case db.dialect.IsUniqueViolation(err):
			return cleanroom.Errorf(cleanroom.ECONFLICT, "A bridge with this ID already exists.").Wrap(err)
		case err != nil:
			return fmt.Errorf("sqlstore: create bridge: %w", err)
		}
		return nil
	})
}

// FindBridge returns a bridge by ID.
func (db *DB) FindBridge(ctx context.Context, id string) (*cleanroom.Bridge, error) {
	b, err := scanBridge(db.read.QueryRowContext(ctx, db.q(`SELECT `+bridgeColumns+` FROM bridges WHERE id = ?`), id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, cleanroom.Errorf(cleanroom.ENOTFOUND, "Bridge not found.")
	case err != nil:
		return nil, fmt.Errorf("sqlstore: find bridge: %w", err)
	}
	return b, nil
}

// ListBridges returns a publisher's bridges, oldest first (CreatedAt, then ID), an empty non-nil
// slice for none.
func (db *DB) ListBridges(ctx context.Context, publisherID string) ([]*cleanroom.Bridge, error) {
	rows, err := db.read.QueryContext(ctx, db.q(`SELECT `+bridgeColumns+` FROM bridges WHERE publisher_id = ?
		ORDER BY created_at, id`), publisherID)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list bridges: %w", err)
	}
	bs, err := collect(rows, scanBridge)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list bridges: %w", err)
	}
	if bs == nil {
		bs = []*cleanroom.Bridge{}
	}
	return bs, nil
}

var _ cleanroom.BridgeStore = (*DB)(nil)
