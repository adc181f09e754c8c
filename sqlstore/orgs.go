package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/cleanroom-oss/cleanroom"
)

const orgColumns = `id, name, kind, parent_id, demand_side_id, clean_room_enabled_at, dpa_signed_at, created_at, updated_at`

func scanOrg(s scanner) (*cleanroom.Org, error) {
	var (
		o                       cleanroom.Org
		parent, demandSide      sql.NullString
		enabled, dpa, crt, updt int64
	)
	if err := s.Scan(&o.ID, &o.Name, &o.Kind, &parent, &demandSide, &enabled, &dpa, &crt, &updt); err != nil {
		return nil, err
	}
	o.ParentID, o.DemandSideID = parent.String, demandSide.String
	o.CleanRoomEnabledAt, o.DPASignedAt = fromMicros(enabled), fromMicros(dpa)
	o.CreatedAt, o.UpdatedAt = fromMicros(crt), fromMicros(updt)
	return &o, nil
}

func errOrgNotFound() error { return cleanroom.Errorf(cleanroom.ENOTFOUND, "Organization not found.") }

// CreateOrg inserts org. A zero CreatedAt becomes the store clock's time and a zero UpdatedAt
// becomes CreatedAt; both are written back normalised (UTC, microseconds).
func (db *DB) CreateOrg(ctx context.Context, org *cleanroom.Org) error {
	return db.inTx(ctx, "create org", func(tx *sql.Tx) error { return db.insertOrg(ctx, tx, org) })
}

func (db *DB) insertOrg(ctx context.Context, tx *sql.Tx, o *cleanroom.Org) error {
	o.CreatedAt = db.orNow(o.CreatedAt)
	if o.UpdatedAt.IsZero() {
		o.UpdatedAt = o.CreatedAt
	}
	o.UpdatedAt = cleanroom.UTC(o.UpdatedAt)
	o.CleanRoomEnabledAt, o.DPASignedAt = cleanroom.UTC(o.CleanRoomEnabledAt), cleanroom.UTC(o.DPASignedAt)
	_, err := tx.ExecContext(ctx, db.q(`INSERT INTO orgs (`+orgColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		o.ID, o.Name, string(o.Kind), nullable(o.ParentID), nullable(o.DemandSideID),
		micros(o.CleanRoomEnabledAt), micros(o.DPASignedAt), micros(o.CreatedAt), micros(o.UpdatedAt))
	if db.dialect.IsUniqueViolation(err) {
		return cleanroom.Errorf(cleanroom.ECONFLICT, "An organization with this ID already exists.").Wrap(err)
	}
	if err != nil {
		return fmt.Errorf("sqlstore: insert org: %w", err)
	}
	return nil
}

// FindOrg returns an org by ID.
func (db *DB) FindOrg(ctx context.Context, id string) (*cleanroom.Org, error) {
	o, err := scanOrg(db.read.QueryRowContext(ctx, db.q(`SELECT `+orgColumns+` FROM orgs WHERE id = ?`), id))
	return o, orgErr("find org", err)
}

// findOrgTx reads an org inside a write transaction, locking its row where the dialect can.
func (db *DB) findOrgTx(ctx context.Context, tx *sql.Tx, id string) (*cleanroom.Org, error) {
	o, err := scanOrg(tx.QueryRowContext(ctx, db.q(`SELECT `+orgColumns+` FROM orgs WHERE id = ?`+db.forUpdate()), id))
	return o, orgErr("find org", err)
}

func orgErr(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return errOrgNotFound()
	}
	return fmt.Errorf("sqlstore: %s: %w", op, err)
}

// ListOrgs returns orgs ordered by ID.
func (db *DB) ListOrgs(ctx context.Context, p cleanroom.Page) ([]*cleanroom.Org, string, error) {
	after, err := decodeCursor(p.After)
	if err != nil {
		return nil, "", err
	}
	rows, err := db.read.QueryContext(ctx, db.q(`SELECT `+orgColumns+` FROM orgs WHERE id > ? ORDER BY id LIMIT ?`),
		after, p.Size()+1)
	if err != nil {
		return nil, "", fmt.Errorf("sqlstore: list orgs: %w", err)
	}
	orgs, err := collect(rows, scanOrg)
	if err != nil {
		return nil, "", fmt.Errorf("sqlstore: list orgs: %w", err)
	}
	orgs, next := page(orgs, p.Size(), func(o *cleanroom.Org) string { return encodeCursor(o.ID) })
	return orgs, next, nil
}

// UpdateOrg applies upd, sets UpdatedAt to now and returns the updated org.
func (db *DB) UpdateOrg(ctx context.Context, id string, upd cleanroom.OrgUpdate, now time.Time) (*cleanroom.Org, error) {
	var o *cleanroom.Org
	err := db.inTx(ctx, "update org", func(tx *sql.Tx) error {
		var err error
		if o, err = db.findOrgTx(ctx, tx, id); err != nil {
			return err
		}
		if upd.Name != nil {
			o.Name = *upd.Name
		}
		if upd.DPASignedAt != nil {
			o.DPASignedAt = cleanroom.UTC(*upd.DPASignedAt)
		}
		o.UpdatedAt = cleanroom.UTC(now)
		_, err = tx.ExecContext(ctx, db.q(`UPDATE orgs SET name = ?, dpa_signed_at = ?, updated_at = ? WHERE id = ?`),
			o.Name, micros(o.DPASignedAt), micros(o.UpdatedAt), id)
		if err != nil {
			return fmt.Errorf("sqlstore: update org: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return o, nil
}

// EnableCleanRoom marks the org enabled and stores its vault; for a publisher it also creates the
// demand-side workspace and its vault, all in one transaction. The vaults' OrgID and the workspace's
// ParentID are set here; the workspace must be of kind OrgDemandSide.
func (db *DB) EnableCleanRoom(ctx context.Context, id string, vault *cleanroom.Vault, demandSide *cleanroom.Org, demandSideVault *cleanroom.Vault, now time.Time) (*cleanroom.Org, error) {
	now = cleanroom.UTC(now)
	var o *cleanroom.Org
	err := db.inTx(ctx, "enable clean room", func(tx *sql.Tx) error {
		var err error
		if o, err = db.findOrgTx(ctx, tx, id); err != nil {
			return err
		}
		if o.CleanRoomEnabled() {
			return cleanroom.Errorf(cleanroom.ECONFLICT, "The clean room is already enabled for this organization.")
		}
		publisher := o.Kind == cleanroom.OrgPublisher
		switch {
		case publisher && (demandSide == nil || demandSideVault == nil):
			return fmt.Errorf("sqlstore: enable clean room: publisher %s needs a demand-side workspace and its vault", id)
		case !publisher && (demandSide != nil || demandSideVault != nil):
			return fmt.Errorf("sqlstore: enable clean room: only a publisher gets a demand-side workspace, %s is a %s", id, o.Kind)
		case publisher && demandSide.Kind != cleanroom.OrgDemandSide:
			return fmt.Errorf("sqlstore: enable clean room: workspace kind is %q, want %q", demandSide.Kind, cleanroom.OrgDemandSide)
		}
		vault.OrgID = id
		if err := db.insertVault(ctx, tx, vault, now); err != nil {
			return err
		}
		if publisher {
			demandSide.ParentID = id
			demandSide.DemandSideID = ""
			demandSide.CleanRoomEnabledAt, demandSide.CreatedAt, demandSide.UpdatedAt = now, now, now
			if err := db.insertOrg(ctx, tx, demandSide); err != nil {
				return err
			}
			demandSideVault.OrgID = demandSide.ID
			if err := db.insertVault(ctx, tx, demandSideVault, now); err != nil {
				return err
			}
			o.DemandSideID = demandSide.ID
		}
		o.CleanRoomEnabledAt, o.UpdatedAt = now, now
		_, err = tx.ExecContext(ctx, db.q(`UPDATE orgs SET clean_room_enabled_at = ?, demand_side_id = ?, updated_at = ? WHERE id = ?`),
			micros(now), nullable(o.DemandSideID), micros(now), id)
		if err != nil {
			return fmt.Errorf("sqlstore: enable clean room: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return o, nil
}

func (db *DB) insertVault(ctx context.Context, tx *sql.Tx, v *cleanroom.Vault, now time.Time) error {
	v.CreatedAt = now
	if v.WrappedKey == nil {
		v.WrappedKey = []byte{}
	}
	_, err := tx.ExecContext(ctx, db.q(`INSERT INTO vaults (org_id, created_at, wrapped_key) VALUES (?, ?, ?)`),
		v.OrgID, micros(v.CreatedAt), v.WrappedKey)
	if db.dialect.IsUniqueViolation(err) {
		return cleanroom.Errorf(cleanroom.ECONFLICT, "The organization already has a vault.").Wrap(err)
	}
	if err != nil {
		return fmt.Errorf("sqlstore: insert vault: %w", err)
	}
	return nil
}

// FindVault returns an org's vault.
func (db *DB) FindVault(ctx context.Context, orgID string) (*cleanroom.Vault, error) {
	var (
		v   cleanroom.Vault
		crt int64
	)
	err := db.read.QueryRowContext(ctx, db.q(`SELECT org_id, created_at, wrapped_key FROM vaults WHERE org_id = ?`), orgID).
		Scan(&v.OrgID, &crt, &v.WrappedKey)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, cleanroom.Errorf(cleanroom.ENOTFOUND, "Vault not found.")
	case err != nil:
		return nil, fmt.Errorf("sqlstore: find vault: %w", err)
	}
	v.CreatedAt = fromMicros(crt)
	return &v, nil
}
