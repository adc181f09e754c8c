package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cleanroom-oss/cleanroom"
)

// Cohorts' metadata (cleanroom.CohortStore). A cohort's targets live in cohort_targets; each
// publisher's next cohort code in cohort_codes, which only counts up.

const cohortColumns = `id, org_id, name, description, kind, query, country, status, status_reason, progress,
	similarity, include_seeds, inputs, generation, built_at, created_by, created_at, updated_at`

const targetColumns = `cohort_id, connection_id, publisher_id, code, size, seeds, active, reason, model, diagnostics,
	blob_key, wrapped_key, built_at`

func scanCohort(s scanner) (*cleanroom.Cohort, error) {
	var (
		c                   cleanroom.Cohort
		query, country      string
		similarity          float64
		built, crt, updated int64
	)
	err := s.Scan(&c.ID, &c.OrgID, &c.Name, &c.Description, &c.Kind, &query, &country, &c.Status, &c.StatusReason, &c.Progress,
		&similarity, &c.IncludeSeeds, &c.Inputs, &c.Generation, &built, &c.CreatedBy, &crt, &updated)
	if err != nil {
		return nil, err
	}
	c.Query = decodeJSON(query)
	if c.Country, err = decodeIDList(country); err != nil {
		return nil, fmt.Errorf("cohort %s: country: %w", c.ID, err)
	}
	if similarity >= 0 {
		c.Similarity = &similarity
	}
	c.BuiltAt, c.CreatedAt, c.UpdatedAt = fromMicros(built), fromMicros(crt), fromMicros(updated)
	c.Targets = []cleanroom.CohortTarget{}
	return &c, nil
}

type targetRow struct {
	cohortID string
	cleanroom.CohortTarget
}

func scanTarget(s scanner) (targetRow, error) {
	var (
		t                  targetRow
		model, diagnostics string
		built              int64
	)
	err := s.Scan(&t.cohortID, &t.ConnectionID, &t.PublisherID, &t.Code, &t.Size, &t.Seeds, &t.Active, &t.Reason, &model, &diagnostics,
		&t.BlobKey, &t.WrappedKey, &built)
	if err != nil {
		return t, err
	}
	t.Model, t.Diagnostics = decodeJSON(model), decodeJSON(diagnostics)
	t.WrappedKey = nilIfEmpty(t.WrappedKey)
	t.BuiltAt = fromMicros(built)
	return t, nil
}

func errCohortNotFound() error { return cleanroom.Errorf(cleanroom.ENOTFOUND, "Cohort not found.") }

func cohortErr(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return errCohortNotFound()
	}
	return fmt.Errorf("sqlstore: %s: %w", op, err)
}

func similarityColumn(s *float64) float64 {
	if s == nil {
		return -1
	}
	return *s
}

// CreateCohort inserts c and its targets, each with the next code of its publisher (written
// back into c). Empty Status becomes building, Generation 1; zero times become the store clock's.
// Returns ENOTFOUND if the org does not exist and ECONFLICT if the ID is taken.
func (db *DB) CreateCohort(ctx context.Context, c *cleanroom.Cohort) error {
	if c.Status == "" {
		c.Status = cleanroom.CohortBuilding
	}
	if c.Generation == 0 {
		c.Generation = 1
	}
	c.CreatedAt = db.orNow(c.CreatedAt)
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = c.CreatedAt
	}
	c.UpdatedAt = cleanroom.UTC(c.UpdatedAt)
	country, err := encodeIDList(c.Country)
	if err != nil {
		return fmt.Errorf("sqlstore: create cohort: %w", err)
	}
	query, err := encodeJSON("query", c.Query)
	if err != nil {
		return err
	}
	return db.inTx(ctx, "create cohort", func(tx *sql.Tx) error {
		if err := db.requireOrgsTx(ctx, tx, "create cohort", c.OrgID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, db.q(`INSERT INTO cohorts (`+cohortColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			c.ID, c.OrgID, c.Name, c.Description, string(c.Kind), query, country, string(c.Status), c.StatusReason, c.Progress,
			similarityColumn(c.Similarity), c.IncludeSeeds, c.Inputs, c.Generation, micros(c.BuiltAt), c.CreatedBy,
			micros(c.CreatedAt), micros(c.UpdatedAt))
		switch {
		case db.dialect.IsUniqueViolation(err):
			return cleanroom.Errorf(cleanroom.ECONFLICT, "A cohort with this ID already exists.").Wrap(err)
		case err != nil:
			return fmt.Errorf("sqlstore: create cohort: %w", err)
		}
		targets, err := db.replaceTargetsTx(ctx, tx, c.ID, nil, c.Targets)
		if err != nil {
			return err
		}
		c.Targets = targets
		return nil
	})
}

// nextCodeTx takes the publisher's next cohort code.
func (db *DB) nextCodeTx(ctx context.Context, tx *sql.Tx, publisherID string) (int64, error) {
	_, err := tx.ExecContext(ctx, db.q(`INSERT INTO cohort_codes (publisher_id, next_code) VALUES (?, ?) ON CONFLICT (publisher_id) DO NOTHING`),
		publisherID, cleanroom.FirstCohortCode)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: cohort code: %w", err)
	}
	var code int64
	err = tx.QueryRowContext(ctx, db.q(`UPDATE cohort_codes SET next_code = next_code + 1 WHERE publisher_id = ? RETURNING next_code - 1`),
		publisherID).Scan(&code)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: cohort code: %w", err)
	}
	return code, nil
}

// replaceTargetsTx makes the cohort's targets want: kept connections keep their codes (and the
// publisher they were coded for), new ones get their publisher's next code, missing ones are
// deleted. old is the stored targets. Returns the stored targets, ordered by code.
func (db *DB) replaceTargetsTx(ctx context.Context, tx *sql.Tx, cohortID string, old, want []cleanroom.CohortTarget) ([]cleanroom.CohortTarget, error) {
	byConn := map[string]cleanroom.CohortTarget{}
	for _, t := range old {
		byConn[t.ConnectionID] = t
	}
	keep := map[string]bool{}
	out := make([]cleanroom.CohortTarget, 0, len(want))
	for _, t := range want {
		keep[t.ConnectionID] = true
		if prev, ok := byConn[t.ConnectionID]; ok {
			t.Code, t.PublisherID = prev.Code, prev.PublisherID
			_, err := tx.ExecContext(ctx, db.q(`UPDATE cohort_targets SET size = ?, seeds = ?, active = ?, reason = ?, model = ?,
				diagnostics = ?, blob_key = ?, wrapped_key = ?, built_at = ? WHERE cohort_id = ? AND connection_id = ?`),
				t.Size, t.Seeds, t.Active, t.Reason, string(t.Model), string(t.Diagnostics), t.BlobKey, notNullBytes(t.WrappedKey),
				micros(t.BuiltAt), cohortID, t.ConnectionID)
			if err != nil {
				return nil, fmt.Errorf("sqlstore: update cohort target: %w", err)
			}
		} else {
			code, err := db.nextCodeTx(ctx, tx, t.PublisherID)
			if err != nil {
				return nil, err
			}
			t.Code = code
			_, err = tx.ExecContext(ctx, db.q(`INSERT INTO cohort_targets (`+targetColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
				cohortID, t.ConnectionID, t.PublisherID, t.Code, t.Size, t.Seeds, t.Active, t.Reason, string(t.Model),
				string(t.Diagnostics), t.BlobKey, notNullBytes(t.WrappedKey), micros(t.BuiltAt))
			if err != nil {
				return nil, fmt.Errorf("sqlstore: insert cohort target: %w", err)
			}
		}
		t.BuiltAt = cleanroom.UTC(t.BuiltAt)
		out = append(out, t)
	}
	for _, t := range old {
		if keep[t.ConnectionID] {
			continue
		}
		if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM cohort_targets WHERE cohort_id = ? AND connection_id = ?`), cohortID, t.ConnectionID); err != nil {
			return nil, fmt.Errorf("sqlstore: delete cohort target: %w", err)
		}
	}
	slices.SortFunc(out, func(a, b cleanroom.CohortTarget) int { return int(a.Code - b.Code) })
	return out, nil
}

// FindCohort returns a cohort by ID with its targets.
func (db *DB) FindCohort(ctx context.Context, id string) (*cleanroom.Cohort, error) {
	return db.findCohort(ctx, db.read, id)
}

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (db *DB) findCohort(ctx context.Context, q queryer, id string) (*cleanroom.Cohort, error) {
	c, err := scanCohort(q.QueryRowContext(ctx, db.q(`SELECT `+cohortColumns+` FROM cohorts WHERE id = ?`), id))
	if err != nil {
		return nil, cohortErr("find cohort", err)
	}
	if err := db.loadTargets(ctx, q, []*cleanroom.Cohort{c}); err != nil {
		return nil, err
	}
	return c, nil
}

// loadTargets fills the cohorts' targets, ordered by code.
func (db *DB) loadTargets(ctx context.Context, q queryer, cs []*cleanroom.Cohort) error {
	if len(cs) == 0 {
		return nil
	}
	ids := make([]any, len(cs))
	byID := map[string]*cleanroom.Cohort{}
	for i, c := range cs {
		ids[i] = c.ID
		byID[c.ID] = c
	}
	rows, err := q.QueryContext(ctx, db.q(`SELECT `+targetColumns+` FROM cohort_targets WHERE cohort_id IN (`+placeholders(len(ids))+`) ORDER BY code`), ids...)
	if err != nil {
		return fmt.Errorf("sqlstore: cohort targets: %w", err)
	}
	ts, err := collect(rows, scanTarget)
	if err != nil {
		return fmt.Errorf("sqlstore: cohort targets: %w", err)
	}
	for _, t := range ts {
		c := byID[t.cohortID]
		c.Targets = append(c.Targets, t.CohortTarget)
	}
	return nil
}

// ListCohorts returns cohorts ordered by ID, filtered by the non-empty fields of f: a
// workspace's (OrgID), those with a target at a publisher (PublisherID).
func (db *DB) ListCohorts(ctx context.Context, f cleanroom.CohortFilter) ([]*cleanroom.Cohort, string, error) {
	after, err := decodeCursor(f.Page.After)
	if err != nil {
		return nil, "", err
	}
	var w where
	if f.OrgID != "" {
		w.add(`org_id = ?`, f.OrgID)
	}
	if f.PublisherID != "" {
		w.add(`id IN (SELECT cohort_id FROM cohort_targets WHERE publisher_id = ?)`, f.PublisherID)
	}
	w.add(`id > ?`, after)
	rows, err := db.read.QueryContext(ctx, db.q(`SELECT `+cohortColumns+` FROM cohorts`+w.String()+` ORDER BY id LIMIT ?`),
		append(w.args, f.Page.Size()+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("sqlstore: list cohorts: %w", err)
	}
	cs, err := collect(rows, scanCohort)
	if err != nil {
		return nil, "", fmt.Errorf("sqlstore: list cohorts: %w", err)
	}
	cs, next := page(cs, f.Page.Size(), func(c *cleanroom.Cohort) string { return encodeCursor(c.ID) })
	if err := db.loadTargets(ctx, db.read, cs); err != nil {
		return nil, "", err
	}
	return cs, next, nil
}

// UpdateCohort applies upd in one transaction, sets UpdatedAt to now and returns the cohort.
// With IfGeneration set it returns ECONFLICT when the cohort has moved to another generation.
func (db *DB) UpdateCohort(ctx context.Context, id string, upd cleanroom.CohortUpdate, now time.Time) (*cleanroom.Cohort, error) {
	var out *cleanroom.Cohort
	err := db.inTx(ctx, "update cohort", func(tx *sql.Tx) error {
		cur, err := scanCohort(tx.QueryRowContext(ctx, db.q(`SELECT `+cohortColumns+` FROM cohorts WHERE id = ?`+db.forUpdate()), id))
		if err != nil {
			return cohortErr("update cohort", err)
		}
		if upd.IfGeneration != nil && *upd.IfGeneration != cur.Generation {
			return cleanroom.Errorf(cleanroom.ECONFLICT, "The cohort changed while it was being built.")
		}
		if err := db.loadTargets(ctx, tx, []*cleanroom.Cohort{cur}); err != nil {
			return err
		}
		var set []string
		var args []any
		add := func(col string, v any) { set = append(set, col+" = ?"); args = append(args, v) }
		if upd.Name != nil {
			add("name", *upd.Name)
		}
		if upd.Description != nil {
			add("description", *upd.Description)
		}
		if upd.Query != nil {
			q, err := encodeJSON("query", upd.Query)
			if err != nil {
				return err
			}
			add("query", q)
		}
		if upd.Country != nil {
			s, err := encodeIDList(*upd.Country)
			if err != nil {
				return fmt.Errorf("sqlstore: update cohort: %w", err)
			}
			add("country", s)
		}
		if upd.Status != nil {
			add("status", string(*upd.Status))
		}
		if upd.StatusReason != nil {
			add("status_reason", *upd.StatusReason)
		}
		if upd.Progress != nil {
			add("progress", *upd.Progress)
		}
		if upd.Similarity != nil {
			add("similarity", similarityColumn(*upd.Similarity))
		}
		if upd.IncludeSeeds != nil {
			add("include_seeds", *upd.IncludeSeeds)
		}
		if upd.Inputs != nil {
			add("inputs", *upd.Inputs)
		}
		if upd.BuiltAt != nil {
			add("built_at", micros(cleanroom.UTC(*upd.BuiltAt)))
		}
		if upd.BumpGeneration {
			set = append(set, "generation = generation + 1")
		}
		add("updated_at", micros(cleanroom.UTC(now)))
		args = append(args, id)
		if _, err := tx.ExecContext(ctx, db.q(`UPDATE cohorts SET `+strings.Join(set, ", ")+` WHERE id = ?`), args...); err != nil {
			return fmt.Errorf("sqlstore: update cohort: %w", err)
		}
		if upd.Targets != nil {
			if _, err := db.replaceTargetsTx(ctx, tx, id, cur.Targets, *upd.Targets); err != nil {
				return err
			}
		}
		out, err = db.findCohort(ctx, tx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteCohort removes a cohort and its targets; the codes stay taken.
func (db *DB) DeleteCohort(ctx context.Context, id string) error {
	found, err := execOne(ctx, db.write, db.q(`DELETE FROM cohorts WHERE id = ?`), id)
	switch {
	case err != nil:
		return fmt.Errorf("sqlstore: delete cohort: %w", err)
	case !found:
		return errCohortNotFound()
	}
	return nil
}
