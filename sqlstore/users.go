package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/cleanroom-oss/cleanroom"
)

const userColumns = `id, email, name, operator, service_account, password_hash, created_at, updated_at`

// userColumnsU is userColumns qualified with the alias u, for joins.
const userColumnsU = `u.id, u.email, u.name, u.operator, u.service_account, u.password_hash, u.created_at, u.updated_at`

func scanUserInto(u *cleanroom.User, extra ...any) []any {
	return append([]any{&u.ID, &u.Email, &u.Name, &u.Operator, &u.ServiceAccount, &u.PasswordHash}, extra...)
}

func scanUser(s scanner) (*cleanroom.User, error) {
	var (
		u         cleanroom.User
		crt, updt int64
	)
	if err := s.Scan(scanUserInto(&u, &crt, &updt)...); err != nil {
		return nil, err
	}
	u.CreatedAt, u.UpdatedAt = fromMicros(crt), fromMicros(updt)
	return &u, nil
}

func errUserNotFound() error { return cleanroom.Errorf(cleanroom.ENOTFOUND, "User not found.") }
func errMemberNotFound() error {
	return cleanroom.Errorf(cleanroom.ENOTFOUND, "The user is not a member of this organization.")
}

// CreateUser inserts u. A zero CreatedAt becomes the store clock's time and a zero UpdatedAt
// becomes CreatedAt; both are written back normalised. The email is stored as given: callers
// normalise it with cleanroom.NormalizeEmail.
func (db *DB) CreateUser(ctx context.Context, u *cleanroom.User) error {
	u.CreatedAt = db.orNow(u.CreatedAt)
	if u.UpdatedAt.IsZero() {
		u.UpdatedAt = u.CreatedAt
	}
	u.UpdatedAt = cleanroom.UTC(u.UpdatedAt)
	_, err := db.write.ExecContext(ctx, db.q(`INSERT INTO users (`+userColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
		u.ID, u.Email, u.Name, u.Operator, u.ServiceAccount, u.PasswordHash, micros(u.CreatedAt), micros(u.UpdatedAt))
	if db.dialect.IsUniqueViolation(err) {
		return cleanroom.Errorf(cleanroom.ECONFLICT, "A user with this email address already exists.").
			With("field", "email").Wrap(err)
	}
	if err != nil {
		return fmt.Errorf("sqlstore: create user: %w", err)
	}
	return nil
}

// FindUser returns a user by ID.
func (db *DB) FindUser(ctx context.Context, id string) (*cleanroom.User, error) {
	return db.findUser(ctx, "find user", `id = ?`, id)
}

// FindUserByEmail returns a user by normalised email.
func (db *DB) FindUserByEmail(ctx context.Context, email string) (*cleanroom.User, error) {
	return db.findUser(ctx, "find user by email", `email = ?`, email)
}

func (db *DB) findUser(ctx context.Context, op, cond string, arg any) (*cleanroom.User, error) {
	u, err := scanUser(db.read.QueryRowContext(ctx, db.q(`SELECT `+userColumns+` FROM users WHERE `+cond), arg))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, errUserNotFound()
	case err != nil:
		return nil, fmt.Errorf("sqlstore: %s: %w", op, err)
	}
	return u, nil
}

// SetPassword replaces a user's password hash.
func (db *DB) SetPassword(ctx context.Context, userID, hash string, now time.Time) error {
	ok, err := execOne(ctx, db.write, db.q(`UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?`),
		hash, micros(cleanroom.UTC(now)), userID)
	switch {
	case err != nil:
		return fmt.Errorf("sqlstore: set password: %w", err)
	case !ok:
		return errUserNotFound()
	}
	return nil
}

// CountOperators returns the number of operator users.
func (db *DB) CountOperators(ctx context.Context) (int, error) {
	var n int
	if err := db.read.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM users WHERE operator = ?`), true).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlstore: count operators: %w", err)
	}
	return n, nil
}

// PutMembership adds the user to the org or changes its role there. A zero CreatedAt becomes the
// store clock's time; on a role change the stored CreatedAt is kept and written back to m.
func (db *DB) PutMembership(ctx context.Context, m *cleanroom.Membership) error {
	return db.inTx(ctx, "put membership", func(tx *sql.Tx) error {
		var users, orgs int
		err := tx.QueryRowContext(ctx, db.q(`SELECT
			(SELECT COUNT(*) FROM users WHERE id = ?),
			(SELECT COUNT(*) FROM orgs WHERE id = ?)`), m.UserID, m.OrgID).Scan(&users, &orgs)
		switch {
		case err != nil:
			return fmt.Errorf("sqlstore: put membership: %w", err)
		case users == 0:
			return errUserNotFound()
		case orgs == 0:
			return errOrgNotFound()
		}
		var crt int64
		err = tx.QueryRowContext(ctx, db.q(`INSERT INTO memberships (user_id, org_id, role, represents_id, created_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (user_id, org_id) DO UPDATE SET role = excluded.role, represents_id = excluded.represents_id
			RETURNING created_at`),
			m.UserID, m.OrgID, string(m.Role), nullable(m.RepresentsID), micros(db.orNow(m.CreatedAt))).Scan(&crt)
		if err != nil {
			return fmt.Errorf("sqlstore: put membership: %w", err)
		}
		m.CreatedAt = fromMicros(crt)
		return nil
	})
}

// DeleteMembership removes a user from an org, deletes the user's sessions acting in that org and
// revokes the user's tokens for it (at the store clock's time), in one transaction.
func (db *DB) DeleteMembership(ctx context.Context, orgID, userID string) error {
	return db.inTx(ctx, "delete membership", func(tx *sql.Tx) error {
		ok, err := execOne(ctx, tx, db.q(`DELETE FROM memberships WHERE org_id = ? AND user_id = ?`), orgID, userID)
		switch {
		case err != nil:
			return fmt.Errorf("sqlstore: delete membership: %w", err)
		case !ok:
			return errMemberNotFound()
		}
		if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM sessions WHERE user_id = ? AND org_id = ?`), userID, orgID); err != nil {
			return fmt.Errorf("sqlstore: delete membership: delete sessions: %w", err)
		}
		_, err = tx.ExecContext(ctx, db.q(`UPDATE tokens SET revoked_at = ? WHERE user_id = ? AND org_id = ? AND revoked_at = 0`),
			micros(db.now()), userID, orgID)
		if err != nil {
			return fmt.Errorf("sqlstore: delete membership: revoke tokens: %w", err)
		}
		return nil
	})
}

func scanMember(s scanner) (*cleanroom.Member, error) {
	var (
		m              cleanroom.Member
		crt, updt      int64
		rep, inherited sql.NullString
	)
	if err := s.Scan(scanUserInto(&m.User, &crt, &updt, &m.Role, &rep, &inherited)...); err != nil {
		return nil, err
	}
	m.CreatedAt, m.UpdatedAt, m.RepresentsID, m.InheritedFrom = fromMicros(crt), fromMicros(updt), rep.String, inherited.String
	return &m, nil
}

// effectiveMemberships is every membership as it applies (see cleanroom.UserStore): the stored
// ones, and the admins of each publisher as admins of its demand-side workspace, with
// inherited_from naming the publisher. This is the one place the rule lives; FindMember,
// ListMembers and ListMemberships (and so authentication, tokens, sessions and the org switcher)
// read memberships through it. A stored workspace membership of a publisher admin gives way to
// the derived admin role.
const effectiveMemberships = `(
	SELECT m.user_id, m.org_id, m.role, m.represents_id, m.created_at, NULL AS inherited_from
	FROM memberships m
	WHERE NOT EXISTS (SELECT 1 FROM orgs w JOIN memberships p ON p.org_id = w.parent_id
		WHERE w.id = m.org_id AND p.user_id = m.user_id AND p.role = 'admin')
	UNION ALL
	SELECT p.user_id, w.id, 'admin', NULL, p.created_at, w.parent_id
	FROM orgs w JOIN memberships p ON p.org_id = w.parent_id AND p.role = 'admin'
	WHERE w.kind = 'demand_side'
)`

const memberQuery = `SELECT ` + userColumnsU + `, m.role, m.represents_id, m.inherited_from FROM ` + effectiveMemberships +
	` m JOIN users u ON u.id = m.user_id`

// FindMember returns a member of an org, stored or derived.
func (db *DB) FindMember(ctx context.Context, orgID, userID string) (*cleanroom.Member, error) {
	m, err := scanMember(db.read.QueryRowContext(ctx, db.q(memberQuery+` WHERE m.org_id = ? AND m.user_id = ?`), orgID, userID))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, errMemberNotFound()
	case err != nil:
		return nil, fmt.Errorf("sqlstore: find member: %w", err)
	}
	return m, nil
}

// ListMembers returns an org's members, stored and derived, ordered by user ID.
func (db *DB) ListMembers(ctx context.Context, orgID string, p cleanroom.Page) ([]*cleanroom.Member, string, error) {
	after, err := decodeCursor(p.After)
	if err != nil {
		return nil, "", err
	}
	rows, err := db.read.QueryContext(ctx, db.q(memberQuery+` WHERE m.org_id = ? AND m.user_id > ? ORDER BY m.user_id LIMIT ?`),
		orgID, after, p.Size()+1)
	if err != nil {
		return nil, "", fmt.Errorf("sqlstore: list members: %w", err)
	}
	ms, err := collect(rows, scanMember)
	if err != nil {
		return nil, "", fmt.Errorf("sqlstore: list members: %w", err)
	}
	ms, next := page(ms, p.Size(), func(m *cleanroom.Member) string { return encodeCursor(m.ID) })
	return ms, next, nil
}

// ListMemberships returns the orgs a user belongs to, stored and derived, ordered by org ID.
func (db *DB) ListMemberships(ctx context.Context, userID string) ([]*cleanroom.Membership, error) {
	rows, err := db.read.QueryContext(ctx, db.q(`SELECT user_id, org_id, role, represents_id, created_at, inherited_from FROM `+
		effectiveMemberships+` m WHERE user_id = ? ORDER BY org_id`), userID)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list memberships: %w", err)
	}
	ms, err := collect(rows, func(s scanner) (*cleanroom.Membership, error) {
		var (
			m              cleanroom.Membership
			crt            int64
			rep, inherited sql.NullString
		)
		if err := s.Scan(&m.UserID, &m.OrgID, &m.Role, &rep, &crt, &inherited); err != nil {
			return nil, err
		}
		m.CreatedAt, m.RepresentsID, m.InheritedFrom = fromMicros(crt), rep.String, inherited.String
		return &m, nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list memberships: %w", err)
	}
	return ms, nil
}
