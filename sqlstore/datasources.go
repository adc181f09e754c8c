package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/cleanroom-oss/cleanroom"
)

// Data sources' metadata (cleanroom.DataSourceStore). An empty AdvertiserID is stored as NULL so
// that its foreign key holds.

const dataSourceColumns = `id, org_id, advertiser_id, name, description, status, created_by, created_at, updated_at`

func scanDataSource(s scanner) (*cleanroom.DataSource, error) {
	var (
		d          cleanroom.DataSource
		advertiser sql.NullString
		crt, updt  int64
	)
	if err := s.Scan(&d.ID, &d.OrgID, &advertiser, &d.Name, &d.Description, &d.Status, &d.CreatedBy, &crt, &updt); err != nil {
		return nil, err
	}
	d.AdvertiserID = advertiser.String
	d.CreatedAt, d.UpdatedAt = fromMicros(crt), fromMicros(updt)
	return &d, nil
}

func errDataSourceNotFound() error {
	return cleanroom.Errorf(cleanroom.ENOTFOUND, "Data source not found.")
}

// CreateDataSource inserts d. An empty Status becomes DataSourceEmpty, a zero CreatedAt the store
// clock's time and a zero UpdatedAt CreatedAt; all are written back normalised. Returns ENOTFOUND
// if the org or the advertiser does not exist and ECONFLICT if the ID is taken.
func (db *DB) CreateDataSource(ctx context.Context, d *cleanroom.DataSource) error {
	if d.Status == "" {
		d.Status = cleanroom.DataSourceEmpty
	}
	d.CreatedAt = db.orNow(d.CreatedAt)
	if d.UpdatedAt.IsZero() {
		d.UpdatedAt = d.CreatedAt
	}
	d.UpdatedAt = cleanroom.UTC(d.UpdatedAt)
	return db.inTx(ctx, "create data source", func(tx *sql.Tx) error {
		if err := db.requireOrgsTx(ctx, tx, "create data source", d.OrgID, d.AdvertiserID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, db.q(`INSERT INTO data_sources (`+dataSourceColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			d.ID, d.OrgID, nullable(d.AdvertiserID), d.Name, d.Description, string(d.Status), d.CreatedBy,
			micros(d.CreatedAt), micros(d.UpdatedAt))
		switch {
		case db.dialect.IsUniqueViolation(err):
			return cleanroom.Errorf(cleanroom.ECONFLICT, "A data source with this ID already exists.").Wrap(err)
		case err != nil:
			return fmt.Errorf("sqlstore: create data source: %w", err)
		}
		return nil
	})
}

// FindDataSource returns a data source by ID.
func (db *DB) FindDataSource(ctx context.Context, id string) (*cleanroom.DataSource, error) {
	d, err := scanDataSource(db.read.QueryRowContext(ctx, db.q(`SELECT `+dataSourceColumns+` FROM data_sources WHERE id = ?`), id))
	return d, dataSourceErr("find data source", err)
}

func dataSourceErr(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return errDataSourceNotFound()
	}
	return fmt.Errorf("sqlstore: %s: %w", op, err)
}

// ListDataSources returns data sources ordered by ID, filtered by the non-empty fields of f: an
// org's (OrgID), and of those an advertiser's (AdvertiserID).
func (db *DB) ListDataSources(ctx context.Context, f cleanroom.DataSourceFilter) ([]*cleanroom.DataSource, string, error) {
	after, err := decodeCursor(f.Page.After)
	if err != nil {
		return nil, "", err
	}
	var w where
	if f.OrgID != "" {
		w.add(`org_id = ?`, f.OrgID)
	}
	if f.AdvertiserID != "" {
		w.add(`advertiser_id = ?`, f.AdvertiserID)
	}
	w.add(`id > ?`, after)
	rows, err := db.read.QueryContext(ctx, db.q(`SELECT `+dataSourceColumns+` FROM data_sources`+w.String()+` ORDER BY id LIMIT ?`),
		append(w.args, f.Page.Size()+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("sqlstore: list data sources: %w", err)
	}
	ds, err := collect(rows, scanDataSource)
	if err != nil {
		return nil, "", fmt.Errorf("sqlstore: list data sources: %w", err)
	}
	ds, next := page(ds, f.Page.Size(), func(d *cleanroom.DataSource) string { return encodeCursor(d.ID) })
	return ds, next, nil
}

// UpdateDataSource applies upd, sets UpdatedAt to now and returns the updated data source.
func (db *DB) UpdateDataSource(ctx context.Context, id string, upd cleanroom.DataSourceUpdate, now time.Time) (*cleanroom.DataSource, error) {
	var d *cleanroom.DataSource
	err := db.inTx(ctx, "update data source", func(tx *sql.Tx) error {
		var err error
		d, err = scanDataSource(tx.QueryRowContext(ctx, db.q(`SELECT `+dataSourceColumns+` FROM data_sources WHERE id = ?`+db.forUpdate()), id))
		if err != nil {
			return dataSourceErr("update data source", err)
		}
		if upd.Name != nil {
			d.Name = *upd.Name
		}
		if upd.Description != nil {
			d.Description = *upd.Description
		}
		if upd.Status != nil {
			d.Status = *upd.Status
		}
		d.UpdatedAt = cleanroom.UTC(now)
		_, err = tx.ExecContext(ctx, db.q(`UPDATE data_sources SET name = ?, description = ?, status = ?, updated_at = ? WHERE id = ?`),
			d.Name, d.Description, string(d.Status), micros(d.UpdatedAt), id)
		if err != nil {
			return fmt.Errorf("sqlstore: update data source: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// DeleteDataSource removes a data source; its grants go with it (ON DELETE CASCADE).
func (db *DB) DeleteDataSource(ctx context.Context, id string) error {
	found, err := execOne(ctx, db.write, db.q(`DELETE FROM data_sources WHERE id = ?`), id)
	switch {
	case err != nil:
		return fmt.Errorf("sqlstore: delete data source: %w", err)
	case !found:
		return errDataSourceNotFound()
	}
	return nil
}
