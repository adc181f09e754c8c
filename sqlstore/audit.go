package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/cleanroom-oss/cleanroom"
)

const auditColumns = `time, request_id, actor_user_id, actor_kind, actor_token_id, org_id, partner_org_id, action, target_type, target_id, details`

// AppendAudit stores e and sets its ID. IDs increase with every entry. A zero e.Time becomes the
// store clock's time; e.Time is written back normalised (UTC, microseconds).
func (db *DB) AppendAudit(ctx context.Context, e *cleanroom.AuditEntry) error {
	details := ""
	if len(e.Details) > 0 {
		b, err := json.Marshal(e.Details)
		if err != nil {
			return fmt.Errorf("sqlstore: append audit: encode details: %w", err)
		}
		details = string(b)
	}
	e.Time = db.orNow(e.Time)
	err := db.write.QueryRowContext(ctx, db.q(`INSERT INTO audit (`+auditColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		micros(e.Time), e.RequestID, e.ActorUserID, e.ActorKind, e.ActorTokenID, e.OrgID, e.PartnerOrgID,
		e.Action, e.TargetType, e.TargetID, details).Scan(&e.ID)
	if err != nil {
		return fmt.Errorf("sqlstore: append audit: %w", err)
	}
	return nil
}

// ListAudit returns entries newest first. With f.OrgID set it returns the entries that concern
// the org, as OrgID or as PartnerOrgID; with f.Action set, only that action's.
func (db *DB) ListAudit(ctx context.Context, f cleanroom.AuditFilter) ([]*cleanroom.AuditEntry, string, error) {
	before, err := decodeIntCursor(f.Page.After)
	if err != nil {
		return nil, "", err
	}
	var w where
	if f.OrgID != "" {
		w.add(`(org_id = ? OR partner_org_id = ?)`, f.OrgID, f.OrgID)
	}
	if f.Action != "" {
		w.add(`action = ?`, f.Action)
	}
	if f.ActionPrefix != "" {
		// substr, not LIKE: no wildcard in the prefix needs escaping, and no collation orders it.
		w.add(`substr(action, 1, ?) = ?`, utf8.RuneCountInString(f.ActionPrefix), f.ActionPrefix)
	}
	if f.ActorUserID != "" {
		w.add(`actor_user_id = ?`, f.ActorUserID)
	}
	if f.TargetType != "" {
		w.add(`target_type = ?`, f.TargetType)
	}
	if f.TargetID != "" {
		w.add(`target_id = ?`, f.TargetID)
	}
	if !f.Since.IsZero() {
		w.add(`time >= ?`, micros(cleanroom.UTC(f.Since)))
	}
	if !f.Until.IsZero() {
		w.add(`time < ?`, micros(cleanroom.UTC(f.Until)))
	}
	if before > 0 {
		w.add(`id < ?`, before)
	}
	size := f.Page.Size()
	rows, err := db.read.QueryContext(ctx, db.q(`SELECT id, `+auditColumns+` FROM audit`+w.String()+` ORDER BY id DESC LIMIT ?`),
		append(w.args, size+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("sqlstore: list audit: %w", err)
	}
	es, err := collect(rows, scanAudit)
	if err != nil {
		return nil, "", fmt.Errorf("sqlstore: list audit: %w", err)
	}
	es, next := page(es, size, func(e *cleanroom.AuditEntry) string { return encodeIntCursor(e.ID) })
	return es, next, nil
}

func scanAudit(s scanner) (*cleanroom.AuditEntry, error) {
	var (
		e       cleanroom.AuditEntry
		t       int64
		details string
	)
	err := s.Scan(&e.ID, &t, &e.RequestID, &e.ActorUserID, &e.ActorKind, &e.ActorTokenID, &e.OrgID, &e.PartnerOrgID,
		&e.Action, &e.TargetType, &e.TargetID, &details)
	if err != nil {
		return nil, err
	}
	e.Time = fromMicros(t)
	if details != "" {
		if err := json.Unmarshal([]byte(details), &e.Details); err != nil {
			return nil, fmt.Errorf("audit entry %d: decode details: %w", e.ID, err)
		}
	}
	return &e, nil
}
