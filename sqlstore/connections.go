package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cleanroom-oss/cleanroom"
)

// Connections, standard-cohort opt-outs, grants and provisional access (cleanroom.ConnectionStore).
//
// A connection's shared custom cohorts are a JSON array in a TEXT column; an empty list is stored
// as '[]' and read back as an empty, non-nil slice.
//
// The rule that a data source has at most one active grant to a grantee cannot be a unique index,
// as expiry depends on the time: CreateGrant checks it inside its write transaction after locking
// the data source's row (PostgreSQL; on SQLite the write transaction excludes other writers), so
// two concurrent grants of the same data source take turns.

const connectionColumns = `id, publisher_id, partner_id, workflow, standard_cohorts, matched_cohorts, modeled_audiences,
	insights, advanced_insights, custom_cohorts, shared_custom_cohorts, created_at, updated_at`

func scanConnection(s scanner) (*cleanroom.Connection, error) {
	var (
		c         cleanroom.Connection
		shared    string
		crt, updt int64
	)
	p := &c.Permissions
	err := s.Scan(&c.ID, &c.PublisherID, &c.PartnerID, &c.Workflow, &p.StandardCohorts, &p.MatchedCohorts, &p.ModeledAudiences,
		&p.Insights, &p.AdvancedInsights, &p.CustomCohorts, &shared, &crt, &updt)
	if err != nil {
		return nil, err
	}
	if p.SharedCustomCohorts, err = decodeIDList(shared); err != nil {
		return nil, fmt.Errorf("connection %s: shared_custom_cohorts: %w", c.ID, err)
	}
	c.CreatedAt, c.UpdatedAt = fromMicros(crt), fromMicros(updt)
	return &c, nil
}

// encodeIDList stores a list of IDs as a JSON array, nil as [].
func encodeIDList(ids []string) (string, error) {
	if ids == nil {
		ids = []string{}
	}
	b, err := json.Marshal(ids)
	return string(b), err
}

// decodeIDList reads a JSON array of IDs; an empty array (or null) becomes an empty, non-nil slice.
func decodeIDList(s string) ([]string, error) {
	var ids []string
	if err := json.Unmarshal([]byte(s), &ids); err != nil {
		return nil, err
	}
	if ids == nil {
		ids = []string{}
	}
	return ids, nil
}

func errConnectionNotFound() error {
	return cleanroom.Errorf(cleanroom.ENOTFOUND, "Connection not found.")
}

func errGrantNotFound() error { return cleanroom.Errorf(cleanroom.ENOTFOUND, "Grant not found.") }

// requireOrgsTx returns ENOTFOUND unless every non-empty ID names an org. Foreign keys would refuse
// the row anyway, but with an error that differs by database and says nothing to users.
func (db *DB) requireOrgsTx(ctx context.Context, tx *sql.Tx, op string, ids ...string) error {
	var want []any
	for _, id := range ids {
		if id != "" && !slices.Contains(want, any(id)) {
			want = append(want, id)
		}
	}
	if len(want) == 0 {
		return nil
	}
	var n int
	err := tx.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM orgs WHERE id IN (`+placeholders(len(want))+`)`), want...).Scan(&n)
	switch {
	case err != nil:
		return fmt.Errorf("sqlstore: %s: %w", op, err)
	case n != len(want):
		return errOrgNotFound()
	}
	return nil
}

// CreateConnection inserts c. A zero CreatedAt becomes the store clock's time and a zero UpdatedAt
// becomes CreatedAt; both are written back normalised, as is a nil SharedCustomCohorts (as an
// empty list). Returns ENOTFOUND if either org does not exist, and ECONFLICT if the publisher is
// already connected to the partner or the ID is taken.
func (db *DB) CreateConnection(ctx context.Context, c *cleanroom.Connection) error {
	c.CreatedAt = db.orNow(c.CreatedAt)
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = c.CreatedAt
	}
	c.UpdatedAt = cleanroom.UTC(c.UpdatedAt)
	if c.Permissions.SharedCustomCohorts == nil {
		c.Permissions.SharedCustomCohorts = []string{}
	}
	shared, err := encodeIDList(c.Permissions.SharedCustomCohorts)
	if err != nil {
		return fmt.Errorf("sqlstore: create connection: %w", err)
	}
	p := c.Permissions
	return db.inTx(ctx, "create connection", func(tx *sql.Tx) error {
		if err := db.requireOrgsTx(ctx, tx, "create connection", c.PublisherID, c.PartnerID); err != nil {
			return err
		}
		// ON CONFLICT names the pair, so a taken pair inserts nothing (and, on PostgreSQL, waits
		// for a concurrent insert of the same pair), while a taken ID still fails.
		inserted, err := execOne(ctx, tx, db.q(`INSERT INTO connections (`+connectionColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (publisher_id, partner_id) DO NOTHING`),
			c.ID, c.PublisherID, c.PartnerID, string(c.Workflow), p.StandardCohorts, p.MatchedCohorts, p.ModeledAudiences,
			p.Insights, p.AdvancedInsights, p.CustomCohorts, shared, micros(c.CreatedAt), micros(c.UpdatedAt))
		switch {
		case db.dialect.IsUniqueViolation(err):
			return cleanroom.Errorf(cleanroom.ECONFLICT, "A connection with this ID already exists.").Wrap(err)
		case err != nil:
			return fmt.Errorf("sqlstore: create connection: %w", err)
		case !inserted:
			return cleanroom.Errorf(cleanroom.ECONFLICT, "This publisher is already connected to that organization.").
				With("field", "partner_id")
		}
		return nil
	})
}

// FindConnection returns a connection by ID.
func (db *DB) FindConnection(ctx context.Context, id string) (*cleanroom.Connection, error) {
	c, err := scanConnection(db.read.QueryRowContext(ctx, db.q(`SELECT `+connectionColumns+` FROM connections WHERE id = ?`), id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, errConnectionNotFound()
	case err != nil:
		return nil, fmt.Errorf("sqlstore: find connection: %w", err)
	}
	return c, nil
}

// ListConnections returns connections ordered by ID: a publisher's (PublisherID set), those naming
// a partner (PartnerID set), the one between the two (both set) or all (neither).
func (db *DB) ListConnections(ctx context.Context, f cleanroom.ConnectionFilter) ([]*cleanroom.Connection, string, error) {
	after, err := decodeCursor(f.Page.After)
	if err != nil {
		return nil, "", err
	}
	var w where
	if f.PublisherID != "" {
		w.add(`publisher_id = ?`, f.PublisherID)
	}
	if f.PartnerID != "" {
		w.add(`partner_id = ?`, f.PartnerID)
	}
	w.add(`id > ?`, after)
	rows, err := db.read.QueryContext(ctx, db.q(`SELECT `+connectionColumns+` FROM connections`+w.String()+` ORDER BY id LIMIT ?`),
		append(w.args, f.Page.Size()+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("sqlstore: list connections: %w", err)
	}
	conns, err := collect(rows, scanConnection)
	if err != nil {
		return nil, "", fmt.Errorf("sqlstore: list connections: %w", err)
	}
	conns, next := page(conns, f.Page.Size(), func(c *cleanroom.Connection) string { return encodeCursor(c.ID) })
	return conns, next, nil
}

// UpdateConnection replaces a connection's permissions, sets UpdatedAt to now and returns the
// updated connection.
func (db *DB) UpdateConnection(ctx context.Context, id string, upd cleanroom.ConnectionUpdate, now time.Time) (*cleanroom.Connection, error) {
	p := upd.Permissions
	shared, err := encodeIDList(p.SharedCustomCohorts)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: update connection: %w", err)
	}
	var c *cleanroom.Connection
	err = db.inTx(ctx, "update connection", func(tx *sql.Tx) error {
		found, err := execOne(ctx, tx, db.q(`UPDATE connections SET standard_cohorts = ?, matched_cohorts = ?, modeled_audiences = ?,
			insights = ?, advanced_insights = ?, custom_cohorts = ?, shared_custom_cohorts = ?, updated_at = ? WHERE id = ?`),
			p.StandardCohorts, p.MatchedCohorts, p.ModeledAudiences, p.Insights, p.AdvancedInsights, p.CustomCohorts, shared,
			micros(cleanroom.UTC(now)), id)
		switch {
		case err != nil:
			return fmt.Errorf("sqlstore: update connection: %w", err)
		case !found:
			return errConnectionNotFound()
		}
		c, err = scanConnection(tx.QueryRowContext(ctx, db.q(`SELECT `+connectionColumns+` FROM connections WHERE id = ?`), id))
		if err != nil {
			return fmt.Errorf("sqlstore: update connection: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// DeleteConnection removes a connection.
func (db *DB) DeleteConnection(ctx context.Context, id string) error {
	found, err := execOne(ctx, db.write, db.q(`DELETE FROM connections WHERE id = ?`), id)
	switch {
	case err != nil:
		return fmt.Errorf("sqlstore: delete connection: %w", err)
	case !found:
		return errConnectionNotFound()
	}
	return nil
}

// SetStandardOptOuts replaces the publisher's opt-outs with cohortIDs (duplicates count once) in
// one transaction; every stored opt-out gets the time now (the store clock's when zero). Returns
// ENOTFOUND if the publisher does not exist. The publisher's row is locked so that concurrent
// replacements take turns rather than mixing.
func (db *DB) SetStandardOptOuts(ctx context.Context, publisherID string, cohortIDs []string, now time.Time) error {
	now = db.orNow(now)
	ids := slices.Clone(cohortIDs)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	return db.inTx(ctx, "set standard opt-outs", func(tx *sql.Tx) error {
		var got string
		err := tx.QueryRowContext(ctx, db.q(`SELECT id FROM orgs WHERE id = ?`+db.forUpdate()), publisherID).Scan(&got)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return errOrgNotFound()
		case err != nil:
			return fmt.Errorf("sqlstore: set standard opt-outs: %w", err)
		}
		if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM standard_opt_outs WHERE publisher_id = ?`), publisherID); err != nil {
			return fmt.Errorf("sqlstore: set standard opt-outs: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}
		ins, err := tx.PrepareContext(ctx, db.q(`INSERT INTO standard_opt_outs (publisher_id, cohort_id, created_at) VALUES (?, ?, ?)`))
		if err != nil {
			return fmt.Errorf("sqlstore: set standard opt-outs: %w", err)
		}
		defer ins.Close()
		for _, id := range ids {
			if _, err := ins.ExecContext(ctx, publisherID, id, micros(now)); err != nil {
				return fmt.Errorf("sqlstore: set standard opt-outs: %w", err)
			}
		}
		return nil
	})
}

// ListStandardOptOuts returns the publisher's opted-out standard cohorts in byte order (as
// sort.Strings sorts), an empty non-nil slice for none.
func (db *DB) ListStandardOptOuts(ctx context.Context, publisherID string) ([]string, error) {
	rows, err := db.read.QueryContext(ctx, db.q(`SELECT cohort_id FROM standard_opt_outs WHERE publisher_id = ? ORDER BY cohort_id`), publisherID)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list standard opt-outs: %w", err)
	}
	ids, err := collect(rows, func(s scanner) (string, error) {
		var id string
		return id, s.Scan(&id)
	})
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list standard opt-outs: %w", err)
	}
	if ids == nil {
		ids = []string{}
	}
	// The schemas sort in byte order (PostgreSQL's column collation is "C"); sorting again costs
	// little and holds even if a database's collation differs.
	slices.Sort(ids)
	return ids, nil
}

const grantColumns = `id, data_source_id, owner_id, grantee_id, allow_matched, allow_modeled, allow_insights,
	expires_at, revoked_at, created_at, created_by`

func scanGrant(s scanner) (*cleanroom.Grant, error) {
	var (
		g                 cleanroom.Grant
		exp, revoked, crt int64
	)
	err := s.Scan(&g.ID, &g.DataSourceID, &g.OwnerID, &g.GranteeID, &g.AllowMatched, &g.AllowModeled, &g.AllowInsights,
		&exp, &revoked, &crt, &g.CreatedBy)
	if err != nil {
		return nil, err
	}
	g.ExpiresAt, g.RevokedAt, g.CreatedAt = fromMicros(exp), fromMicros(revoked), fromMicros(crt)
	return &g, nil
}

// CreateGrant inserts g. A zero CreatedAt becomes the store clock's time; times are written back
// normalised. Returns ENOTFOUND if the data source, owner or grantee does not exist, and ECONFLICT
// if the ID is taken or the data source has a grant to the same grantee that is in force at the
// new grant's CreatedAt: not revoked and not expired (ExpiresAt zero or after CreatedAt, as
// cleanroom.Grant.Active has it).
func (db *DB) CreateGrant(ctx context.Context, g *cleanroom.Grant) error {
	g.CreatedAt = db.orNow(g.CreatedAt)
	g.ExpiresAt, g.RevokedAt = cleanroom.UTC(g.ExpiresAt), cleanroom.UTC(g.RevokedAt)
	return db.inTx(ctx, "create grant", func(tx *sql.Tx) error {
		// Locking the data source serialises the grants of it, so the check below holds until
		// the insert commits.
		var dsID string
		err := tx.QueryRowContext(ctx, db.q(`SELECT id FROM data_sources WHERE id = ?`+db.forUpdate()), g.DataSourceID).Scan(&dsID)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return errDataSourceNotFound()
		case err != nil:
			return fmt.Errorf("sqlstore: create grant: %w", err)
		}
		if err := db.requireOrgsTx(ctx, tx, "create grant", g.OwnerID, g.GranteeID); err != nil {
			return err
		}
		var active int
		err = tx.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM grants WHERE data_source_id = ? AND grantee_id = ?
			AND revoked_at = 0 AND (expires_at = 0 OR expires_at > ?)`), g.DataSourceID, g.GranteeID, micros(g.CreatedAt)).Scan(&active)
		switch {
		case err != nil:
			return fmt.Errorf("sqlstore: create grant: %w", err)
		case active > 0:
			return cleanroom.Errorf(cleanroom.ECONFLICT, "The data source is already granted to that organization.").
				With("field", "grantee_id").Hint("Revoke the grant in force first to change its terms.")
		}
		_, err = tx.ExecContext(ctx, db.q(`INSERT INTO grants (`+grantColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			g.ID, g.DataSourceID, g.OwnerID, g.GranteeID, g.AllowMatched, g.AllowModeled, g.AllowInsights,
			micros(g.ExpiresAt), micros(g.RevokedAt), micros(g.CreatedAt), g.CreatedBy)
		switch {
		case db.dialect.IsUniqueViolation(err):
			return cleanroom.Errorf(cleanroom.ECONFLICT, "A grant with this ID already exists.").Wrap(err)
		case err != nil:
			return fmt.Errorf("sqlstore: create grant: %w", err)
		}
		return nil
	})
}

// FindGrant returns a grant by ID.
func (db *DB) FindGrant(ctx context.Context, id string) (*cleanroom.Grant, error) {
	g, err := scanGrant(db.read.QueryRowContext(ctx, db.q(`SELECT `+grantColumns+` FROM grants WHERE id = ?`), id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, errGrantNotFound()
	case err != nil:
		return nil, fmt.Errorf("sqlstore: find grant: %w", err)
	}
	return g, nil
}

// ListGrants returns the grants of a data source (dataSourceID set), to a grantee (granteeID set)
// or of a data source to a grantee (both set), newest first (CreatedAt, then ID, descending),
// revoked and expired ones included. With neither set it returns an error rather than every
// grant of every org.
func (db *DB) ListGrants(ctx context.Context, dataSourceID, granteeID string) ([]*cleanroom.Grant, error) {
	var w where
	if dataSourceID != "" {
		w.add(`data_source_id = ?`, dataSourceID)
	}
	if granteeID != "" {
		w.add(`grantee_id = ?`, granteeID)
	}
	if len(w.conds) == 0 {
		return nil, errors.New("sqlstore: list grants: neither a data source nor a grantee given")
	}
	rows, err := db.read.QueryContext(ctx, db.q(`SELECT `+grantColumns+` FROM grants`+w.String()+` ORDER BY created_at DESC, id DESC`), w.args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list grants: %w", err)
	}
	gs, err := collect(rows, scanGrant)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list grants: %w", err)
	}
	return gs, nil
}

// RevokeGrant marks a grant revoked at now (the store clock's time when zero, since a zero time
// would read as not revoked).
func (db *DB) RevokeGrant(ctx context.Context, id string, now time.Time) error {
	return db.inTx(ctx, "revoke grant", func(tx *sql.Tx) error {
		revoked, err := execOne(ctx, tx, db.q(`UPDATE grants SET revoked_at = ? WHERE id = ? AND revoked_at = 0`), micros(db.orNow(now)), id)
		if err != nil {
			return fmt.Errorf("sqlstore: revoke grant: %w", err)
		}
		if revoked {
			return nil
		}
		var n int
		if err := tx.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM grants WHERE id = ?`), id).Scan(&n); err != nil {
			return fmt.Errorf("sqlstore: revoke grant: %w", err)
		}
		if n == 0 {
			return errGrantNotFound()
		}
		return cleanroom.Errorf(cleanroom.ECONFLICT, "The grant was already revoked.")
	})
}

const provisionalColumns = `id, org_id, publisher_id, expires_at, reason, created_at, created_by`

func scanProvisional(s scanner) (*cleanroom.ProvisionalAccess, error) {
	var (
		p        cleanroom.ProvisionalAccess
		exp, crt int64
	)
	if err := s.Scan(&p.ID, &p.OrgID, &p.PublisherID, &exp, &p.Reason, &crt, &p.CreatedBy); err != nil {
		return nil, err
	}
	p.ExpiresAt, p.CreatedAt = fromMicros(exp), fromMicros(crt)
	return &p, nil
}

// CreateProvisionalAccess inserts p. A zero CreatedAt becomes the store clock's time; times are
// written back normalised. Returns ENOTFOUND if the org or the publisher does not exist and
// ECONFLICT if the ID is taken.
func (db *DB) CreateProvisionalAccess(ctx context.Context, p *cleanroom.ProvisionalAccess) error {
	p.CreatedAt = db.orNow(p.CreatedAt)
	p.ExpiresAt = cleanroom.UTC(p.ExpiresAt)
	return db.inTx(ctx, "create provisional access", func(tx *sql.Tx) error {
		if err := db.requireOrgsTx(ctx, tx, "create provisional access", p.OrgID, p.PublisherID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, db.q(`INSERT INTO provisional_access (`+provisionalColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`),
			p.ID, p.OrgID, p.PublisherID, micros(p.ExpiresAt), p.Reason, micros(p.CreatedAt), p.CreatedBy)
		switch {
		case db.dialect.IsUniqueViolation(err):
			return cleanroom.Errorf(cleanroom.ECONFLICT, "Provisional access with this ID already exists.").Wrap(err)
		case err != nil:
			return fmt.Errorf("sqlstore: create provisional access: %w", err)
		}
		return nil
	})
}

// ListProvisionalAccess returns an org's provisional access records (all when orgID is empty),
// newest first (CreatedAt, then ID, descending), expired ones included.
func (db *DB) ListProvisionalAccess(ctx context.Context, orgID string) ([]*cleanroom.ProvisionalAccess, error) {
	var w where
	if orgID != "" {
		w.add(`org_id = ?`, orgID)
	}
	rows, err := db.read.QueryContext(ctx, db.q(`SELECT `+provisionalColumns+` FROM provisional_access`+w.String()+
		` ORDER BY created_at DESC, id DESC`), w.args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list provisional access: %w", err)
	}
	ps, err := collect(rows, scanProvisional)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list provisional access: %w", err)
	}
	return ps, nil
}
