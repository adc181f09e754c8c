package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/cleanroom-oss/cleanroom"
)

const tokenColumns = `id, user_id, org_id, name, prefix, hash, created_at, last_used_at, expires_at, revoked_at`

func scanToken(s scanner) (*cleanroom.Token, error) {
	var (
		t                       cleanroom.Token
		org                     sql.NullString
		crt, used, exp, revoked int64
	)
	if err := s.Scan(&t.ID, &t.UserID, &org, &t.Name, &t.Prefix, &t.Hash, &crt, &used, &exp, &revoked); err != nil {
		return nil, err
	}
	t.OrgID = org.String
	t.CreatedAt, t.LastUsedAt = fromMicros(crt), fromMicros(used)
	t.ExpiresAt, t.RevokedAt = fromMicros(exp), fromMicros(revoked)
	return &t, nil
}

func errTokenNotFound() error { return cleanroom.Errorf(cleanroom.ENOTFOUND, "Token not found.") }

// CreateToken inserts t. A zero CreatedAt becomes the store clock's time; times are written back
// normalised.
func (db *DB) CreateToken(ctx context.Context, t *cleanroom.Token) error {
	t.CreatedAt = db.orNow(t.CreatedAt)
	t.LastUsedAt, t.ExpiresAt, t.RevokedAt = cleanroom.UTC(t.LastUsedAt), cleanroom.UTC(t.ExpiresAt), cleanroom.UTC(t.RevokedAt)
	_, err := db.write.ExecContext(ctx, db.q(`INSERT INTO tokens (`+tokenColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		t.ID, t.UserID, nullable(t.OrgID), t.Name, t.Prefix, t.Hash,
		micros(t.CreatedAt), micros(t.LastUsedAt), micros(t.ExpiresAt), micros(t.RevokedAt))
	if db.dialect.IsUniqueViolation(err) {
		return cleanroom.Errorf(cleanroom.ECONFLICT, "A token with this ID or secret already exists.").Wrap(err)
	}
	if err != nil {
		return fmt.Errorf("sqlstore: create token: %w", err)
	}
	return nil
}

// FindTokenByHash returns the token with this hash, revoked or not.
func (db *DB) FindTokenByHash(ctx context.Context, hash []byte) (*cleanroom.Token, error) {
	return db.findToken(ctx, "find token by hash", `hash = ?`, hash)
}

// FindToken returns a token by ID.
func (db *DB) FindToken(ctx context.Context, id string) (*cleanroom.Token, error) {
	return db.findToken(ctx, "find token", `id = ?`, id)
}

func (db *DB) findToken(ctx context.Context, op, cond string, arg any) (*cleanroom.Token, error) {
	t, err := scanToken(db.read.QueryRowContext(ctx, db.q(`SELECT `+tokenColumns+` FROM tokens WHERE `+cond), arg))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, errTokenNotFound()
	case err != nil:
		return nil, fmt.Errorf("sqlstore: %s: %w", op, err)
	}
	return t, nil
}

// ListTokens returns an org's tokens ordered by ID; userID "" lists every user's. orgID "" lists
// operator tokens, which belong to no org.
func (db *DB) ListTokens(ctx context.Context, orgID, userID string, p cleanroom.Page) ([]*cleanroom.Token, string, error) {
	after, err := decodeCursor(p.After)
	if err != nil {
		return nil, "", err
	}
	var w where
	if orgID == "" {
		w.add(`org_id IS NULL`)
	} else {
		w.add(`org_id = ?`, orgID)
	}
	if userID != "" {
		w.add(`user_id = ?`, userID)
	}
	w.add(`id > ?`, after)
	rows, err := db.read.QueryContext(ctx, db.q(`SELECT `+tokenColumns+` FROM tokens`+w.String()+` ORDER BY id LIMIT ?`),
		append(w.args, p.Size()+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("sqlstore: list tokens: %w", err)
	}
	ts, err := collect(rows, scanToken)
	if err != nil {
		return nil, "", fmt.Errorf("sqlstore: list tokens: %w", err)
	}
	ts, next := page(ts, p.Size(), func(t *cleanroom.Token) string { return encodeCursor(t.ID) })
	return ts, next, nil
}

// RevokeToken marks a token revoked at now. Revoking a revoked token keeps the first revocation time.
func (db *DB) RevokeToken(ctx context.Context, id string, now time.Time) error {
	ok, err := execOne(ctx, db.write, db.q(`UPDATE tokens SET revoked_at = CASE WHEN revoked_at = 0 THEN ? ELSE revoked_at END WHERE id = ?`),
		micros(cleanroom.UTC(now)), id)
	switch {
	case err != nil:
		return fmt.Errorf("sqlstore: revoke token: %w", err)
	case !ok:
		return errTokenNotFound()
	}
	return nil
}

// TouchToken records that a token was used at now; LastUsedAt never moves back. Returns ENOTFOUND
// if there is no such token.
func (db *DB) TouchToken(ctx context.Context, id string, now time.Time) error {
	us := micros(cleanroom.UTC(now))
	ok, err := execOne(ctx, db.write, db.q(`UPDATE tokens SET last_used_at = CASE WHEN last_used_at < ? THEN ? ELSE last_used_at END WHERE id = ?`),
		us, us, id)
	switch {
	case err != nil:
		return fmt.Errorf("sqlstore: touch token: %w", err)
	case !ok:
		return errTokenNotFound()
	}
	return nil
}

const sessionColumns = `hash, user_id, org_id, csrf_token, created_at, last_seen_at, expires_at`

func errSessionNotFound() error { return cleanroom.Errorf(cleanroom.ENOTFOUND, "Session not found.") }

// CreateSession inserts s. A zero CreatedAt becomes the store clock's time; times are written
// back normalised. Returns ECONFLICT if a session with the same hash exists.
func (db *DB) CreateSession(ctx context.Context, s *cleanroom.Session) error {
	s.CreatedAt = db.orNow(s.CreatedAt)
	s.LastSeenAt, s.ExpiresAt = cleanroom.UTC(s.LastSeenAt), cleanroom.UTC(s.ExpiresAt)
	_, err := db.write.ExecContext(ctx, db.q(`INSERT INTO sessions (`+sessionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`),
		s.Hash, s.UserID, nullable(s.OrgID), s.CSRFToken, micros(s.CreatedAt), micros(s.LastSeenAt), micros(s.ExpiresAt))
	if db.dialect.IsUniqueViolation(err) {
		return cleanroom.Errorf(cleanroom.ECONFLICT, "The session exists already.").Wrap(err)
	}
	if err != nil {
		return fmt.Errorf("sqlstore: create session: %w", err)
	}
	return nil
}

// FindSession returns the session with this hash if it expires after now.
func (db *DB) FindSession(ctx context.Context, hash []byte, now time.Time) (*cleanroom.Session, error) {
	var (
		s              cleanroom.Session
		org            sql.NullString
		crt, seen, exp int64
	)
	err := db.read.QueryRowContext(ctx, db.q(`SELECT `+sessionColumns+` FROM sessions WHERE hash = ? AND expires_at > ?`),
		hash, micros(cleanroom.UTC(now))).Scan(&s.Hash, &s.UserID, &org, &s.CSRFToken, &crt, &seen, &exp)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, errSessionNotFound()
	case err != nil:
		return nil, fmt.Errorf("sqlstore: find session: %w", err)
	}
	s.OrgID = org.String
	s.CreatedAt, s.LastSeenAt, s.ExpiresAt = fromMicros(crt), fromMicros(seen), fromMicros(exp)
	return &s, nil
}

// UpdateSession stores the session's org, last-seen and expiry times. Returns ENOTFOUND if the
// session is gone (logged out meanwhile).
func (db *DB) UpdateSession(ctx context.Context, s *cleanroom.Session) error {
	s.LastSeenAt, s.ExpiresAt = cleanroom.UTC(s.LastSeenAt), cleanroom.UTC(s.ExpiresAt)
	ok, err := execOne(ctx, db.write, db.q(`UPDATE sessions SET org_id = ?, last_seen_at = ?, expires_at = ? WHERE hash = ?`),
		nullable(s.OrgID), micros(s.LastSeenAt), micros(s.ExpiresAt), s.Hash)
	switch {
	case err != nil:
		return fmt.Errorf("sqlstore: update session: %w", err)
	case !ok:
		return errSessionNotFound()
	}
	return nil
}

// DeleteSession removes a session; deleting a missing session is not an error.
func (db *DB) DeleteSession(ctx context.Context, hash []byte) error {
	if _, err := db.write.ExecContext(ctx, db.q(`DELETE FROM sessions WHERE hash = ?`), hash); err != nil {
		return fmt.Errorf("sqlstore: delete session: %w", err)
	}
	return nil
}

// DeleteUserSessions removes every session of userID except the one whose hash is keep (nil
// keeps none) and returns how many it removed.
func (db *DB) DeleteUserSessions(ctx context.Context, userID string, keep []byte) (int, error) {
	if keep == nil {
		keep = []byte{} // no session has an empty hash
	}
	res, err := db.write.ExecContext(ctx, db.q(`DELETE FROM sessions WHERE user_id = ? AND hash <> ?`), userID, keep)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: delete user sessions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlstore: delete user sessions: %w", err)
	}
	return int(n), nil
}

// DeleteExpiredSessions removes sessions whose expiry is not after now and returns how many: the
// same sessions that FindSession no longer returns.
func (db *DB) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	res, err := db.write.ExecContext(ctx, db.q(`DELETE FROM sessions WHERE expires_at <= ?`), micros(cleanroom.UTC(now)))
	if err != nil {
		return 0, fmt.Errorf("sqlstore: delete expired sessions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlstore: delete expired sessions: %w", err)
	}
	return int(n), nil
}
