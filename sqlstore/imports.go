package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cleanroom-oss/cleanroom"
)

// Import sources and the objects they imported (cleanroom.ImportStore).

const importSourceColumns = `id, org_id, target, target_id, endpoint, bucket, prefix, region, access_key_id, wrapped_secret,
	schedule, enabled, max_error_rate, next_run_at, last_checked_at, last_error, updated_by, created_at, updated_at`

func scanImportSource(s scanner) (*cleanroom.ImportSource, error) {
	var (
		src                      cleanroom.ImportSource
		next, checked, crt, updt int64
		target, schedule         string
	)
	if err := s.Scan(&src.ID, &src.OrgID, &target, &src.TargetID, &src.Endpoint, &src.Bucket, &src.Prefix, &src.Region,
		&src.AccessKeyID, &src.WrappedSecret, &schedule, &src.Enabled, &src.MaxErrorRate, &next, &checked, &src.LastError,
		&src.UpdatedBy, &crt, &updt); err != nil {
		return nil, err
	}
	src.Target, src.Schedule = cleanroom.UploadTarget(target), cleanroom.ImportSchedule(schedule)
	src.SecretSet = len(src.WrappedSecret) > 0
	src.NextRunAt, src.LastCheckedAt = fromMicros(next), fromMicros(checked)
	src.CreatedAt, src.UpdatedAt = fromMicros(crt), fromMicros(updt)
	return &src, nil
}

func errImportSourceNotFound() error {
	return cleanroom.Errorf(cleanroom.ENOTFOUND, "Import source not found.")
}

func importSourceErr(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return errImportSourceNotFound()
	}
	return fmt.Errorf("sqlstore: %s: %w", op, err)
}

// CreateImportSource implements cleanroom.ImportStore. A zero CreatedAt becomes the store
// clock's time, a zero UpdatedAt CreatedAt.
func (db *DB) CreateImportSource(ctx context.Context, s *cleanroom.ImportSource) error {
	const op = "create import source"
	s.CreatedAt = db.orNow(s.CreatedAt)
	if s.UpdatedAt.IsZero() {
		s.UpdatedAt = s.CreatedAt
	}
	s.UpdatedAt = cleanroom.UTC(s.UpdatedAt)
	var dataSource any
	if s.Target == cleanroom.UploadDataSource {
		dataSource = s.TargetID
	}
	return db.inTx(ctx, op, func(tx *sql.Tx) error {
		if err := db.requireOrgsTx(ctx, tx, op, s.OrgID); err != nil {
			return err
		}
		if dataSource != nil {
			var one int
			err := tx.QueryRowContext(ctx, db.q(`SELECT 1 FROM data_sources WHERE id = ?`), dataSource).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				return errDataSourceNotFound()
			} else if err != nil {
				return fmt.Errorf("sqlstore: %s: %w", op, err)
			}
		}
		_, err := tx.ExecContext(ctx, db.q(`INSERT INTO import_sources (`+importSourceColumns+`, data_source_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			s.ID, s.OrgID, string(s.Target), s.TargetID, s.Endpoint, s.Bucket, s.Prefix, s.Region, s.AccessKeyID,
			nonNil(s.WrappedSecret), string(s.Schedule), s.Enabled, s.MaxErrorRate, micros(s.NextRunAt), micros(s.LastCheckedAt),
			s.LastError, s.UpdatedBy, micros(s.CreatedAt), micros(s.UpdatedAt), dataSource)
		switch {
		case db.dialect.IsUniqueViolation(err):
			return cleanroom.Errorf(cleanroom.ECONFLICT, "This has an import source already.").Wrap(err)
		case err != nil:
			return fmt.Errorf("sqlstore: %s: %w", op, err)
		}
		s.SecretSet = len(s.WrappedSecret) > 0
		return nil
	})
}

// nonNil keeps an empty byte slice from being stored as NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// UpdateImportSource implements cleanroom.ImportStore.
func (db *DB) UpdateImportSource(ctx context.Context, s *cleanroom.ImportSource) error {
	s.UpdatedAt = db.orNow(s.UpdatedAt)
	ok, err := execOne(ctx, db.write, db.q(`UPDATE import_sources SET endpoint = ?, bucket = ?, prefix = ?, region = ?,
		access_key_id = ?, wrapped_secret = ?, schedule = ?, enabled = ?, max_error_rate = ?, next_run_at = ?, updated_by = ?, updated_at = ?
		WHERE id = ?`),
		s.Endpoint, s.Bucket, s.Prefix, s.Region, s.AccessKeyID, nonNil(s.WrappedSecret), string(s.Schedule), s.Enabled,
		s.MaxErrorRate, micros(s.NextRunAt), s.UpdatedBy, micros(s.UpdatedAt), s.ID)
	if err != nil {
		return fmt.Errorf("sqlstore: update import source: %w", err)
	}
	if !ok {
		return errImportSourceNotFound()
	}
	s.SecretSet = len(s.WrappedSecret) > 0
	return nil
}

// FindImportSource implements cleanroom.ImportStore.
func (db *DB) FindImportSource(ctx context.Context, target cleanroom.UploadTarget, targetID string) (*cleanroom.ImportSource, error) {
	s, err := scanImportSource(db.read.QueryRowContext(ctx, db.q(`SELECT `+importSourceColumns+` FROM import_sources
		WHERE target = ? AND target_id = ?`), string(target), targetID))
	return s, importSourceErr("find import source", err)
}

// FindImportSourceByID implements cleanroom.ImportStore.
func (db *DB) FindImportSourceByID(ctx context.Context, id string) (*cleanroom.ImportSource, error) {
	s, err := scanImportSource(db.read.QueryRowContext(ctx, db.q(`SELECT `+importSourceColumns+` FROM import_sources WHERE id = ?`), id))
	return s, importSourceErr("find import source", err)
}

// DeleteImportSource implements cleanroom.ImportStore.
func (db *DB) DeleteImportSource(ctx context.Context, id string) error {
	ok, err := execOne(ctx, db.write, db.q(`DELETE FROM import_sources WHERE id = ?`), id)
	if err != nil {
		return fmt.Errorf("sqlstore: delete import source: %w", err)
	}
	if !ok {
		return errImportSourceNotFound()
	}
	return nil
}

// RecordImportCheck implements cleanroom.ImportStore.
func (db *DB) RecordImportCheck(ctx context.Context, id string, at time.Time, lastError string) error {
	ok, err := execOne(ctx, db.write, db.q(`UPDATE import_sources SET last_checked_at = ?, last_error = ? WHERE id = ?`),
		micros(cleanroom.UTC(at)), lastError, id)
	if err != nil {
		return fmt.Errorf("sqlstore: record import check: %w", err)
	}
	if !ok {
		return errImportSourceNotFound()
	}
	return nil
}

// ClaimDueImports implements cleanroom.ImportStore with one UPDATE ... RETURNING: the condition
// is evaluated again on each row as it is updated (PostgreSQL re-checks a row another transaction
// changed meanwhile; SQLite has one writer), so two processes never both claim a run.
func (db *DB) ClaimDueImports(ctx context.Context, now time.Time, limit int) ([]*cleanroom.ImportSource, error) {
	now = cleanroom.UTC(now)
	at := micros(now)
	const due = `enabled = ? AND schedule <> 'off' AND next_run_at > 0 AND next_run_at <= ?`
	rows, err := db.write.QueryContext(ctx, db.q(`UPDATE import_sources
		SET next_run_at = CASE schedule WHEN 'hourly' THEN CAST(? AS BIGINT) ELSE CAST(? AS BIGINT) END
		WHERE `+due+` AND id IN (SELECT id FROM import_sources WHERE `+due+` ORDER BY next_run_at, id LIMIT ?)
		RETURNING `+importSourceColumns),
		micros(now.Add(cleanroom.ImportHourly.Interval())), micros(now.Add(cleanroom.ImportDaily.Interval())),
		true, at, true, at, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: claim due imports: %w", err)
	}
	out, err := collect(rows, scanImportSource)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: claim due imports: %w", err)
	}
	return out, nil
}

const importedObjectColumns = `source_id, bucket, object_key, etag, size, upload_id, error, created_at`

func scanImportedObject(s scanner) (*cleanroom.ImportedObject, error) {
	var (
		o      cleanroom.ImportedObject
		upload sql.NullString
		crt    int64
	)
	if err := s.Scan(&o.SourceID, &o.Bucket, &o.Key, &o.ETag, &o.Size, &upload, &o.Error, &crt); err != nil {
		return nil, err
	}
	o.UploadID, o.CreatedAt = upload.String, fromMicros(crt)
	return &o, nil
}

// AddImportedObject implements cleanroom.ImportStore. A zero CreatedAt becomes the store clock's
// time.
func (db *DB) AddImportedObject(ctx context.Context, o *cleanroom.ImportedObject) error {
	o.CreatedAt = db.orNow(o.CreatedAt)
	_, err := db.write.ExecContext(ctx, db.q(`INSERT INTO imported_objects (`+importedObjectColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
		o.SourceID, o.Bucket, o.Key, o.ETag, o.Size, nullable(o.UploadID), o.Error, micros(o.CreatedAt))
	switch {
	case db.dialect.IsUniqueViolation(err):
		return cleanroom.Errorf(cleanroom.ECONFLICT, "The object was imported already.").Wrap(err)
	case err != nil:
		return fmt.Errorf("sqlstore: add imported object: %w", err)
	}
	return nil
}

// FindImportedObject implements cleanroom.ImportStore.
func (db *DB) FindImportedObject(ctx context.Context, sourceID, bucket, key, etag string, size int64) (*cleanroom.ImportedObject, error) {
	o, err := scanImportedObject(db.read.QueryRowContext(ctx, db.q(`SELECT `+importedObjectColumns+` FROM imported_objects
		WHERE source_id = ? AND bucket = ? AND object_key = ? AND etag = ? AND size = ?`), sourceID, bucket, key, etag, size))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, cleanroom.Errorf(cleanroom.ENOTFOUND, "The object was not imported.")
	case err != nil:
		return nil, fmt.Errorf("sqlstore: find imported object: %w", err)
	}
	return o, nil
}

// ListImportedObjects implements cleanroom.ImportStore: newest first (then by key), paged by a
// cursor over (created_at, bucket, key, etag, size).
func (db *DB) ListImportedObjects(ctx context.Context, sourceID string, p cleanroom.Page) ([]*cleanroom.ImportedObject, string, error) {
	var w where
	w.add(`source_id = ?`, sourceID)
	if p.After != "" {
		k, err := decodeCursor(p.After)
		if err != nil {
			return nil, "", err
		}
		var cur struct {
			At        int64
			Bucket    string
			Key, ETag string
			Size      int64
		}
		if err := json.Unmarshal([]byte(k), &cur); err != nil {
			return nil, "", badCursor(err)
		}
		w.add(`(created_at < ? OR (created_at = ? AND (bucket > ? OR (bucket = ? AND (object_key > ? OR (object_key = ? AND (etag > ? OR (etag = ? AND size > ?))))))))`,
			cur.At, cur.At, cur.Bucket, cur.Bucket, cur.Key, cur.Key, cur.ETag, cur.ETag, cur.Size)
	}
	rows, err := db.read.QueryContext(ctx, db.q(`SELECT `+importedObjectColumns+` FROM imported_objects`+w.String()+
		` ORDER BY created_at DESC, bucket, object_key, etag, size LIMIT ?`), append(w.args, p.Size()+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("sqlstore: list imported objects: %w", err)
	}
	objs, err := collect(rows, scanImportedObject)
	if err != nil {
		return nil, "", fmt.Errorf("sqlstore: list imported objects: %w", err)
	}
	if objs == nil {
		objs = []*cleanroom.ImportedObject{}
	}
	objs, next := page(objs, p.Size(), func(o *cleanroom.ImportedObject) string {
		b, _ := json.Marshal(struct {
			At        int64
			Bucket    string
			Key, ETag string
			Size      int64
		}{micros(o.CreatedAt), o.Bucket, o.Key, o.ETag, o.Size})
		return encodeCursor(string(b))
	})
	return objs, next, nil
}
