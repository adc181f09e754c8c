package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/cleanroom-oss/cleanroom"
)

const invitationColumns = `id, org_id, email, role, represents_id, state, invited_by, created_at, expires_at, decided_at`

func scanInvitation(s scanner) (*cleanroom.Invitation, error) {
	var (
		inv               cleanroom.Invitation
		rep               sql.NullString
		crt, exp, decided int64
	)
	if err := s.Scan(&inv.ID, &inv.OrgID, &inv.Email, &inv.Role, &rep, &inv.State, &inv.InvitedBy, &crt, &exp, &decided); err != nil {
		return nil, err
	}
	inv.RepresentsID = rep.String
	inv.CreatedAt, inv.ExpiresAt, inv.DecidedAt = fromMicros(crt), fromMicros(exp), fromMicros(decided)
	return &inv, nil
}

func errInvitationNotFound() error {
	return cleanroom.Errorf(cleanroom.ENOTFOUND, "Invitation not found.")
}

// CreateInvitation inserts a pending invitation. A pending invitation of the same address to the
// same org that has expired by inv.CreatedAt is marked expired first, so it does not stand in the
// way.
func (db *DB) CreateInvitation(ctx context.Context, inv *cleanroom.Invitation) error {
	inv.CreatedAt, inv.ExpiresAt = db.orNow(inv.CreatedAt), cleanroom.UTC(inv.ExpiresAt)
	inv.State, inv.DecidedAt = cleanroom.InvitationPending, time.Time{}
	return db.inTx(ctx, "create invitation", func(tx *sql.Tx) error {
		if _, err := db.findOrgTx(ctx, tx, inv.OrgID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, db.q(`UPDATE invitations SET state = 'expired', decided_at = expires_at
			WHERE org_id = ? AND email = ? AND state = 'pending' AND expires_at <= ?`), inv.OrgID, inv.Email, micros(inv.CreatedAt))
		if err != nil {
			return fmt.Errorf("sqlstore: create invitation: expire: %w", err)
		}
		var members int
		err = tx.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM `+effectiveMemberships+` m JOIN users u ON u.id = m.user_id
			WHERE m.org_id = ? AND u.email = ?`), inv.OrgID, inv.Email).Scan(&members)
		if err != nil {
			return fmt.Errorf("sqlstore: create invitation: %w", err)
		}
		if members > 0 {
			return cleanroom.Errorf(cleanroom.ECONFLICT, "%s is already a member of this organization.", inv.Email).
				With("field", "email").Hint("Change the member's role instead.")
		}
		_, err = tx.ExecContext(ctx, db.q(`INSERT INTO invitations (`+invitationColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			inv.ID, inv.OrgID, inv.Email, string(inv.Role), nullable(inv.RepresentsID), string(inv.State), inv.InvitedBy,
			micros(inv.CreatedAt), micros(inv.ExpiresAt), int64(0))
		if db.dialect.IsUniqueViolation(err) {
			return cleanroom.Errorf(cleanroom.ECONFLICT, "%s already has a pending invitation to this organization.", inv.Email).
				With("field", "email").Hint("Withdraw it (DELETE /v1/invitations/{id}) to invite the address again.").Wrap(err)
		}
		if err != nil {
			return fmt.Errorf("sqlstore: create invitation: %w", err)
		}
		return nil
	})
}

// FindInvitation returns an invitation by ID.
func (db *DB) FindInvitation(ctx context.Context, id string) (*cleanroom.Invitation, error) {
	inv, err := scanInvitation(db.read.QueryRowContext(ctx, db.q(`SELECT `+invitationColumns+` FROM invitations WHERE id = ?`), id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, errInvitationNotFound()
	case err != nil:
		return nil, fmt.Errorf("sqlstore: find invitation: %w", err)
	}
	return inv, nil
}

// ListInvitations returns an org's invitations ordered by ID.
func (db *DB) ListInvitations(ctx context.Context, orgID string, p cleanroom.Page) ([]*cleanroom.Invitation, string, error) {
	after, err := decodeCursor(p.After)
	if err != nil {
		return nil, "", err
	}
	rows, err := db.read.QueryContext(ctx, db.q(`SELECT `+invitationColumns+` FROM invitations WHERE org_id = ? AND id > ? ORDER BY id LIMIT ?`),
		orgID, after, p.Size()+1)
	if err != nil {
		return nil, "", fmt.Errorf("sqlstore: list invitations: %w", err)
	}
	invs, err := collect(rows, scanInvitation)
	if err != nil {
		return nil, "", fmt.Errorf("sqlstore: list invitations: %w", err)
	}
	invs, next := page(invs, p.Size(), func(inv *cleanroom.Invitation) string { return encodeCursor(inv.ID) })
	return invs, next, nil
}

// ListInvitationsFor returns the invitations to email pending at now, ordered by ID.
func (db *DB) ListInvitationsFor(ctx context.Context, email string, now time.Time) ([]*cleanroom.Invitation, error) {
	rows, err := db.read.QueryContext(ctx, db.q(`SELECT `+invitationColumns+` FROM invitations
		WHERE email = ? AND state = 'pending' AND expires_at > ? ORDER BY id`), email, micros(cleanroom.UTC(now)))
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list invitations for: %w", err)
	}
	invs, err := collect(rows, scanInvitation)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list invitations for: %w", err)
	}
	return invs, nil
}

// AcceptInvitation marks a pending invitation accepted and stores the membership it gives.
func (db *DB) AcceptInvitation(ctx context.Context, id string, m *cleanroom.Membership, now time.Time) error {
	now = cleanroom.UTC(now)
	return db.inTx(ctx, "accept invitation", func(tx *sql.Tx) error {
		inv, err := scanInvitation(tx.QueryRowContext(ctx, db.q(`SELECT `+invitationColumns+` FROM invitations WHERE id = ?`+db.forUpdate()), id))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return errInvitationNotFound()
		case err != nil:
			return fmt.Errorf("sqlstore: accept invitation: %w", err)
		}
		if !inv.Pending(now) {
			return errNotPending(inv.At(now))
		}
		var members int
		err = tx.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM `+effectiveMemberships+` m WHERE m.org_id = ? AND m.user_id = ?`),
			m.OrgID, m.UserID).Scan(&members)
		if err != nil {
			return fmt.Errorf("sqlstore: accept invitation: %w", err)
		}
		if members > 0 {
			return cleanroom.Errorf(cleanroom.ECONFLICT, "You are already a member of this organization.")
		}
		m.CreatedAt = now
		_, err = tx.ExecContext(ctx, db.q(`INSERT INTO memberships (user_id, org_id, role, represents_id, created_at) VALUES (?, ?, ?, ?, ?)`),
			m.UserID, m.OrgID, string(m.Role), nullable(m.RepresentsID), micros(now))
		if db.dialect.IsUniqueViolation(err) {
			return cleanroom.Errorf(cleanroom.ECONFLICT, "You are already a member of this organization.").Wrap(err)
		}
		if err != nil {
			return fmt.Errorf("sqlstore: accept invitation: %w", err)
		}
		_, err = tx.ExecContext(ctx, db.q(`UPDATE invitations SET state = 'accepted', decided_at = ? WHERE id = ?`), micros(now), id)
		if err != nil {
			return fmt.Errorf("sqlstore: accept invitation: %w", err)
		}
		return nil
	})
}

// DecideInvitation moves an invitation from one state to another.
func (db *DB) DecideInvitation(ctx context.Context, id string, from, to cleanroom.InvitationState, now time.Time) error {
	now = cleanroom.UTC(now)
	cond := ``
	if from == cleanroom.InvitationPending {
		cond = ` AND expires_at > ?`
	}
	args := []any{string(to), micros(now), id, string(from)}
	if cond != "" {
		args = append(args, micros(now))
	}
	changed, err := execOne(ctx, db.write, db.q(`UPDATE invitations SET state = ?, decided_at = ? WHERE id = ? AND state = ?`+cond), args...)
	if err != nil {
		return fmt.Errorf("sqlstore: decide invitation: %w", err)
	}
	if changed {
		return nil
	}
	inv, err := db.FindInvitation(ctx, id)
	if err != nil {
		return err
	}
	return errNotPending(inv.At(now))
}

// errNotPending says that an invitation is no longer in the state a change needs.
func errNotPending(inv *cleanroom.Invitation) error {
	return cleanroom.Errorf(cleanroom.ECONFLICT, "The invitation is %s.", inv.State).With("state", inv.State)
}
