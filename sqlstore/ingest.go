package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cleanroom-oss/cleanroom"
)

// Uploads, their parts, taxonomies and versions (cleanroom.IngestStore).
//
// JSON (an upload's report, a version's stats, a taxonomy) is TEXT holding the caller's bytes as
// they are, so it reads back byte for byte; '' stands for none and reads back as nil. Byte strings
// (hash states, wrapped keys) are never NULL; an empty one reads back as nil.
//
// An upload's row is its lock: AddUploadPart and UpdateUpload read it FOR UPDATE (PostgreSQL; on
// SQLite the write transaction excludes other writers), so two parts sent at the same offset
// cannot both be recorded.
//
// Versions are numbered 1, 2, ... per owner, and current_versions points each owner at one of
// them. CreateVersion moves the owner's current_versions row, if it still points at the version
// the new one was built on, before it numbers the new version, so concurrent creations for one
// owner take turns on that row (on SQLite, on the write lock) and only one of them wins a base.

const uploadColumns = `id, org_id, target, target_id, name, size, received, parts, state, sha256, hash_state, wrapped_key,
	job_id, report, error, version_id, created_by, created_at, updated_at, max_error_rate, confirm_drop`

func scanUpload(s scanner) (*cleanroom.Upload, error) {
	var (
		u              cleanroom.Upload
		hashState, key []byte
		report         string
		crt, updt      int64
	)
	err := s.Scan(&u.ID, &u.OrgID, &u.Target, &u.TargetID, &u.Name, &u.Size, &u.Received, &u.Parts, &u.State, &u.SHA256,
		&hashState, &key, &u.JobID, &report, &u.Error, &u.VersionID, &u.CreatedBy, &crt, &updt, &u.MaxErrorRate, &u.ConfirmDrop)
	if err != nil {
		return nil, err
	}
	u.HashState, u.WrappedKey, u.Report = nilIfEmpty(hashState), nilIfEmpty(key), decodeJSON(report)
	u.CreatedAt, u.UpdatedAt = fromMicros(crt), fromMicros(updt)
	return &u, nil
}

// nilIfEmpty returns b, or nil when it is empty, as empty byte strings read back.
func nilIfEmpty[T ~[]byte](b T) T {
	if len(b) == 0 {
		return nil
	}
	return b
}

// notNullBytes stores b, nil as an empty byte string: the columns are NOT NULL.
func notNullBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// encodeJSON returns the stored form of an optional JSON value: its bytes, "" for none. Malformed
// JSON is refused rather than stored, as it could not be served back.
func encodeJSON(what string, raw json.RawMessage) (string, error) {
	if len(raw) == 0 {
		return "", nil
	}
	if !json.Valid(raw) || !utf8.Valid(raw) {
		return "", fmt.Errorf("%s is not valid JSON", what)
	}
	return string(raw), nil
}

// decodeJSON reads back what encodeJSON stored.
func decodeJSON(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}

func errUploadNotFound() error { return cleanroom.Errorf(cleanroom.ENOTFOUND, "Upload not found.") }

func uploadErr(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return errUploadNotFound()
	}
	return fmt.Errorf("sqlstore: %s: %w", op, err)
}

// CreateUpload inserts u. An empty State becomes UploadOpen, a zero CreatedAt the store clock's
// time and a zero UpdatedAt CreatedAt; all are written back normalised, and so are an empty
// HashState, WrappedKey or Report (as nil, the way they read back). Returns ENOTFOUND if the org
// does not exist and ECONFLICT if the ID is taken. The target is not checked: TargetID may name a
// data source, a publisher org or a bridge.
func (db *DB) CreateUpload(ctx context.Context, u *cleanroom.Upload) error {
	report, err := encodeJSON("report", u.Report)
	if err != nil {
		return fmt.Errorf("sqlstore: create upload: %w", err)
	}
	if u.State == "" {
		u.State = cleanroom.UploadOpen
	}
	u.CreatedAt = db.orNow(u.CreatedAt)
	if u.UpdatedAt.IsZero() {
		u.UpdatedAt = u.CreatedAt
	}
	u.UpdatedAt = cleanroom.UTC(u.UpdatedAt)
	u.HashState, u.WrappedKey, u.Report = nilIfEmpty(u.HashState), nilIfEmpty(u.WrappedKey), nilIfEmpty(u.Report)
	return db.inTx(ctx, "create upload", func(tx *sql.Tx) error {
		if err := db.requireOrgsTx(ctx, tx, "create upload", u.OrgID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, db.q(`INSERT INTO uploads (`+uploadColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			u.ID, u.OrgID, string(u.Target), u.TargetID, u.Name, u.Size, u.Received, u.Parts, string(u.State), u.SHA256,
			notNullBytes(u.HashState), notNullBytes(u.WrappedKey), u.JobID, report, u.Error, u.VersionID, u.CreatedBy,
			micros(u.CreatedAt), micros(u.UpdatedAt), u.MaxErrorRate, u.ConfirmDrop)
		switch {
		case db.dialect.IsUniqueViolation(err):
			return cleanroom.Errorf(cleanroom.ECONFLICT, "An upload with this ID already exists.").Wrap(err)
		case err != nil:
			return fmt.Errorf("sqlstore: create upload: %w", err)
		}
		return nil
	})
}

// FindUpload returns an upload by ID.
func (db *DB) FindUpload(ctx context.Context, id string) (*cleanroom.Upload, error) {
	u, err := scanUpload(db.read.QueryRowContext(ctx, db.q(`SELECT `+uploadColumns+` FROM uploads WHERE id = ?`), id))
	if err != nil {
		return nil, uploadErr("find upload", err)
	}
	return u, nil
}

// uploadCursor is the sort key of an upload in ListUploads: its creation time (microseconds) and
// ID, comma-separated.
func uploadCursor(u *cleanroom.Upload) string {
	return encodeCursor(strconv.FormatInt(micros(u.CreatedAt), 10) + "," + u.ID)
}

// decodeUploadCursor returns the key of an uploadCursor; ok is false for the first page.
func decodeUploadCursor(c string) (created int64, id string, ok bool, err error) {
	k, err := decodeCursor(c)
	if err != nil || k == "" {
		return 0, "", false, err
	}
	t, id, found := strings.Cut(k, ",")
	created, perr := strconv.ParseInt(t, 10, 64)
	if !found || perr != nil || id == "" {
		return 0, "", false, badCursor(perr)
	}
	return created, id, true, nil
}

// ListUploads returns the uploads to a target, newest first (CreatedAt, then ID, descending), an
// empty non-nil slice for none.
func (db *DB) ListUploads(ctx context.Context, target cleanroom.UploadTarget, targetID string, p cleanroom.Page) ([]*cleanroom.Upload, string, error) {
	created, afterID, more, err := decodeUploadCursor(p.After)
	if err != nil {
		return nil, "", err
	}
	var w where
	w.add(`target = ?`, string(target))
	w.add(`target_id = ?`, targetID)
	if more {
		w.add(`(created_at < ? OR (created_at = ? AND id < ?))`, created, created, afterID)
	}
	rows, err := db.read.QueryContext(ctx, db.q(`SELECT `+uploadColumns+` FROM uploads`+w.String()+
		` ORDER BY created_at DESC, id DESC LIMIT ?`), append(w.args, p.Size()+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("sqlstore: list uploads: %w", err)
	}
	us, err := collect(rows, scanUpload)
	if err != nil {
		return nil, "", fmt.Errorf("sqlstore: list uploads: %w", err)
	}
	if us == nil {
		us = []*cleanroom.Upload{}
	}
	us, next := page(us, p.Size(), uploadCursor)
	return us, next, nil
}

// AddUploadPart records p as the upload's next part, in one transaction with the upload's row
// locked: it sets p.Seq (the upload's part count plus one; written back only on success),
// advances Received by p.Size, counts the part, stores hashState and sets UpdatedAt to now (the
// store clock's time when zero). It returns the updated upload. Returns ENOTFOUND if the upload
// does not exist, and ECONFLICT if it is not open ("The upload is <state>, not open.") or its
// offset is not p.Offset ("The upload is at byte N, not M.", with N as the detail "offset").
func (db *DB) AddUploadPart(ctx context.Context, p *cleanroom.UploadPart, hashState []byte, now time.Time) (*cleanroom.Upload, error) {
	now = db.orNow(now)
	var (
		u   *cleanroom.Upload
		seq int
	)
	err := db.inTx(ctx, "add upload part", func(tx *sql.Tx) error {
		var err error
		u, err = scanUpload(tx.QueryRowContext(ctx, db.q(`SELECT `+uploadColumns+` FROM uploads WHERE id = ?`+db.forUpdate()), p.UploadID))
		if err != nil {
			return uploadErr("add upload part", err)
		}
		switch {
		case u.State != cleanroom.UploadOpen:
			return cleanroom.Errorf(cleanroom.ECONFLICT, "The upload is %s, not open.", u.State)
		case u.Received != p.Offset:
			return cleanroom.Errorf(cleanroom.ECONFLICT, "The upload is at byte %d, not %d.", u.Received, p.Offset).
				With("offset", u.Received)
		}
		seq = u.Parts + 1
		_, err = tx.ExecContext(ctx, db.q(`INSERT INTO upload_parts (upload_id, seq, "offset", size, blob_key) VALUES (?, ?, ?, ?, ?)`),
			p.UploadID, seq, p.Offset, p.Size, p.BlobKey)
		if err != nil {
			return fmt.Errorf("sqlstore: add upload part: %w", err)
		}
		u.Received, u.Parts, u.HashState, u.UpdatedAt = u.Received+p.Size, seq, nilIfEmpty(hashState), now
		_, err = tx.ExecContext(ctx, db.q(`UPDATE uploads SET received = ?, parts = ?, hash_state = ?, updated_at = ? WHERE id = ?`),
			u.Received, u.Parts, notNullBytes(u.HashState), micros(u.UpdatedAt), u.ID)
		if err != nil {
			return fmt.Errorf("sqlstore: add upload part: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	p.Seq = seq
	return u, nil
}

// ListUploadParts returns an upload's parts in order (by Seq), an empty non-nil slice for none
// (or for an upload that does not exist).
func (db *DB) ListUploadParts(ctx context.Context, uploadID string) ([]*cleanroom.UploadPart, error) {
	rows, err := db.read.QueryContext(ctx, db.q(`SELECT upload_id, seq, "offset", size, blob_key FROM upload_parts
		WHERE upload_id = ? ORDER BY seq`), uploadID)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list upload parts: %w", err)
	}
	ps, err := collect(rows, func(s scanner) (*cleanroom.UploadPart, error) {
		var p cleanroom.UploadPart
		return &p, s.Scan(&p.UploadID, &p.Seq, &p.Offset, &p.Size, &p.BlobKey)
	})
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list upload parts: %w", err)
	}
	if ps == nil {
		ps = []*cleanroom.UploadPart{}
	}
	return ps, nil
}

// UpdateUpload applies upd, sets UpdatedAt to now (the store clock's time when zero) and returns
// the updated upload. A non-nil Report replaces the stored one; an empty non-nil one removes it.
// State changes are not checked against the upload's life cycle: that is the caller's business.
func (db *DB) UpdateUpload(ctx context.Context, id string, upd cleanroom.UploadUpdate, now time.Time) (*cleanroom.Upload, error) {
	report, err := encodeJSON("report", upd.Report)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: update upload: %w", err)
	}
	now = db.orNow(now)
	var u *cleanroom.Upload
	err = db.inTx(ctx, "update upload", func(tx *sql.Tx) error {
		var err error
		u, err = scanUpload(tx.QueryRowContext(ctx, db.q(`SELECT `+uploadColumns+` FROM uploads WHERE id = ?`+db.forUpdate()), id))
		if err != nil {
			return uploadErr("update upload", err)
		}
		if upd.State != nil {
			u.State = *upd.State
		}
		if upd.JobID != nil {
			u.JobID = *upd.JobID
		}
		if upd.Report != nil {
			u.Report = decodeJSON(report)
		}
		if upd.Error != nil {
			u.Error = *upd.Error
		}
		if upd.VersionID != nil {
			u.VersionID = *upd.VersionID
		}
		u.UpdatedAt = now
		_, err = tx.ExecContext(ctx, db.q(`UPDATE uploads SET state = ?, job_id = ?, report = ?, error = ?, version_id = ?, updated_at = ?
			WHERE id = ?`), string(u.State), u.JobID, string(u.Report), u.Error, u.VersionID, micros(u.UpdatedAt), id)
		if err != nil {
			return fmt.Errorf("sqlstore: update upload: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// DeleteUploadParts forgets an upload's parts. The upload keeps its Received and Parts, so a
// part recorded later (there should be none) would not reuse a Seq. Forgetting the parts of an
// upload without any is not an error.
func (db *DB) DeleteUploadParts(ctx context.Context, uploadID string) error {
	if _, err := db.write.ExecContext(ctx, db.q(`DELETE FROM upload_parts WHERE upload_id = ?`), uploadID); err != nil {
		return fmt.Errorf("sqlstore: delete upload parts: %w", err)
	}
	return nil
}

// DeleteUploads removes every upload to a target; their parts' records go with them (ON DELETE
// CASCADE). It returns how many uploads it removed.
func (db *DB) DeleteUploads(ctx context.Context, target cleanroom.UploadTarget, targetID string) (int, error) {
	res, err := db.write.ExecContext(ctx, db.q(`DELETE FROM uploads WHERE target = ? AND target_id = ?`), string(target), targetID)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: delete uploads: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlstore: delete uploads: %w", err)
	}
	return int(n), nil
}

// PutTaxonomy stores body as the owner's taxonomy, replacing any, with the time now (the store
// clock's when zero). body must be JSON; it is stored and read back byte for byte. The owner is
// not checked, and deleting it does not delete its taxonomy.
func (db *DB) PutTaxonomy(ctx context.Context, ownerID string, body json.RawMessage, now time.Time) error {
	if len(body) == 0 {
		return errors.New("sqlstore: put taxonomy: empty body")
	}
	b, err := encodeJSON("taxonomy", body)
	if err != nil {
		return fmt.Errorf("sqlstore: put taxonomy: %w", err)
	}
	_, err = db.write.ExecContext(ctx, db.q(`INSERT INTO taxonomies (owner_id, body, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (owner_id) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at`),
		ownerID, b, micros(db.orNow(now)))
	if err != nil {
		return fmt.Errorf("sqlstore: put taxonomy: %w", err)
	}
	return nil
}

// FindTaxonomy returns the owner's taxonomy.
func (db *DB) FindTaxonomy(ctx context.Context, ownerID string) (json.RawMessage, error) {
	var body string
	err := db.read.QueryRowContext(ctx, db.q(`SELECT body FROM taxonomies WHERE owner_id = ?`), ownerID).Scan(&body)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, cleanroom.Errorf(cleanroom.ENOTFOUND, "No taxonomy has been uploaded yet.")
	case err != nil:
		return nil, fmt.Errorf("sqlstore: find taxonomy: %w", err)
	}
	return json.RawMessage(body), nil
}

// DeleteTaxonomy removes the owner's taxonomy, if it has one.
func (db *DB) DeleteTaxonomy(ctx context.Context, ownerID string) error {
	if _, err := db.write.ExecContext(ctx, db.q(`DELETE FROM taxonomies WHERE owner_id = ?`), ownerID); err != nil {
		return fmt.Errorf("sqlstore: delete taxonomy: %w", err)
	}
	return nil
}

const versionColumns = `id, org_id, owner_type, owner_id, seq, blob_key, wrapped_key, bytes, rows, stats, upload_id, created_at`

func scanVersion(s scanner) (*cleanroom.Version, error) {
	var (
		v     cleanroom.Version
		key   []byte
		stats string
		crt   int64
	)
	err := s.Scan(&v.ID, &v.OrgID, &v.OwnerType, &v.OwnerID, &v.Seq, &v.BlobKey, &key, &v.Bytes, &v.Rows, &stats, &v.UploadID, &crt)
	if err != nil {
		return nil, err
	}
	v.WrappedKey, v.Stats, v.CreatedAt = nilIfEmpty(key), decodeJSON(stats), fromMicros(crt)
	return &v, nil
}

func errVersionNotFound() error { return cleanroom.Errorf(cleanroom.ENOTFOUND, "Version not found.") }

// CreateVersion inserts v with the next Seq for its owner (1 for the first; one more than the
// highest stored, so a deleted newest version's Seq is used again) and makes it the owner's current
// version, in one transaction, if the owner's current version is still base ("" for none). A zero
// CreatedAt becomes the store clock's time; Seq and CreatedAt are written back normalised, and so
// are an empty WrappedKey or Stats (as nil). Returns ECONFLICT ("The current version changed while
// this one was being built.", with the current version's ID as the detail "current") if base is
// no longer current, ECONFLICT if the ID is taken, and ENOTFOUND if the org does not exist.
//
// The pointer is moved by a conditional write on the owner's current_versions row: an UPDATE
// whose WHERE names base, or, for an owner without a current version, an INSERT that does nothing
// if a row exists. Two creations on one base therefore take turns on that row (PostgreSQL's row
// lock, or the unique key for a first version; SQLite's write lock), and the second finds the
// row changed and fails. Only then is the version numbered. The pointer's foreign key is checked
// at commit, when the version exists.
func (db *DB) CreateVersion(ctx context.Context, v *cleanroom.Version, base string) error {
	stats, err := encodeJSON("stats", v.Stats)
	if err != nil {
		return fmt.Errorf("sqlstore: create version: %w", err)
	}
	v.CreatedAt = db.orNow(v.CreatedAt)
	v.WrappedKey, v.Stats = nilIfEmpty(v.WrappedKey), nilIfEmpty(v.Stats)
	var seq int
	err = db.inTx(ctx, "create version", func(tx *sql.Tx) error {
		if err := db.requireOrgsTx(ctx, tx, "create version", v.OrgID); err != nil {
			return err
		}
		// Unique violations here are the ID's: on versions' key, or on current_versions' version_id
		// when the ID is another owner's current version. Seqs cannot clash, as creations for the
		// owner wait for each other at this statement.
		taken := func(err error) error {
			return cleanroom.Errorf(cleanroom.ECONFLICT, "A version with this ID already exists.").Wrap(err)
		}
		var moved bool
		var err error
		if base == "" {
			moved, err = execOne(ctx, tx, db.q(`INSERT INTO current_versions (owner_id, version_id) VALUES (?, ?)
				ON CONFLICT (owner_id) DO NOTHING`), v.OwnerID, v.ID)
		} else {
			moved, err = execOne(ctx, tx, db.q(`UPDATE current_versions SET version_id = ? WHERE owner_id = ? AND version_id = ?`),
				v.ID, v.OwnerID, base)
		}
		switch {
		case db.dialect.IsUniqueViolation(err):
			return taken(err)
		case err != nil:
			return fmt.Errorf("sqlstore: create version: set current: %w", err)
		case !moved:
			var cur string
			err := tx.QueryRowContext(ctx, db.q(`SELECT version_id FROM current_versions WHERE owner_id = ?`), v.OwnerID).Scan(&cur)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("sqlstore: create version: %w", err)
			}
			return cleanroom.Errorf(cleanroom.ECONFLICT, "The current version changed while this one was being built.").With("current", cur)
		}
		if err := tx.QueryRowContext(ctx, db.q(`SELECT COALESCE(MAX(seq), 0) + 1 FROM versions WHERE owner_id = ?`), v.OwnerID).Scan(&seq); err != nil {
			return fmt.Errorf("sqlstore: create version: %w", err)
		}
		_, err = tx.ExecContext(ctx, db.q(`INSERT INTO versions (`+versionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			v.ID, v.OrgID, string(v.OwnerType), v.OwnerID, seq, v.BlobKey, notNullBytes(v.WrappedKey), v.Bytes, v.Rows, stats,
			v.UploadID, micros(v.CreatedAt))
		switch {
		case db.dialect.IsUniqueViolation(err):
			return taken(err)
		case err != nil:
			return fmt.Errorf("sqlstore: create version: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	v.Seq = seq
	return nil
}

// CurrentVersion returns the owner's current version: the newest created, unless it was deleted,
// in which case the owner has none (see DeleteVersion).
func (db *DB) CurrentVersion(ctx context.Context, ownerID string) (*cleanroom.Version, error) {
	v, err := scanVersion(db.read.QueryRowContext(ctx, db.q(`SELECT `+versionColumns+` FROM versions
		WHERE id = (SELECT version_id FROM current_versions WHERE owner_id = ?)`), ownerID))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, cleanroom.Errorf(cleanroom.ENOTFOUND, "No version has been processed yet.")
	case err != nil:
		return nil, fmt.Errorf("sqlstore: current version: %w", err)
	}
	return v, nil
}

// ListVersions returns an owner's versions, newest (highest Seq) first, an empty non-nil slice
// for none.
func (db *DB) ListVersions(ctx context.Context, ownerID string) ([]*cleanroom.Version, error) {
	rows, err := db.read.QueryContext(ctx, db.q(`SELECT `+versionColumns+` FROM versions WHERE owner_id = ? ORDER BY seq DESC`), ownerID)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list versions: %w", err)
	}
	vs, err := collect(rows, scanVersion)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list versions: %w", err)
	}
	if vs == nil {
		vs = []*cleanroom.Version{}
	}
	return vs, nil
}

// DeleteVersion removes a version row. Returns ENOTFOUND if there is none.
//
// Deleting the owner's current version leaves the owner with no current version at all
// (current_versions loses its row by ON DELETE CASCADE): CurrentVersion then returns ENOTFOUND
// rather than falling back to an older version, whose data may be stale or already shredded.
// Callers delete old versions, not the current one, except when unlinking the owner, which
// deletes every version.
func (db *DB) DeleteVersion(ctx context.Context, id string) error {
	found, err := execOne(ctx, db.write, db.q(`DELETE FROM versions WHERE id = ?`), id)
	switch {
	case err != nil:
		return fmt.Errorf("sqlstore: delete version: %w", err)
	case !found:
		return errVersionNotFound()
	}
	return nil
}

var _ cleanroom.IngestStore = (*DB)(nil)
