package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cleanroom-oss/cleanroom"
)

// Activation metadata (cleanroom.ActivationStore): ad_server_settings (the settings as JSON),
// cohort_activations (switches and the deal as JSON) and frequency_caps.

// FindAdServerSettings returns a publisher's settings.
func (db *DB) FindAdServerSettings(ctx context.Context, publisherID string) (*cleanroom.AdServerSettings, error) {
	var body string
	var updated int64
	err := db.read.QueryRowContext(ctx, db.q(`SELECT body, updated_at FROM ad_server_settings WHERE publisher_id = ?`), publisherID).
		Scan(&body, &updated)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, cleanroom.Errorf(cleanroom.ENOTFOUND, "No ad-server settings have been saved.")
	case err != nil:
		return nil, fmt.Errorf("sqlstore: find ad-server settings: %w", err)
	}
	var s cleanroom.AdServerSettings
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		return nil, fmt.Errorf("sqlstore: ad-server settings of %s: %w", publisherID, err)
	}
	s.PublisherID, s.UpdatedAt = publisherID, fromMicros(updated)
	if s.Origins == nil {
		s.Origins = []string{}
	}
	return &s, nil
}

// PutAdServerSettings stores a publisher's settings.
func (db *DB) PutAdServerSettings(ctx context.Context, s *cleanroom.AdServerSettings) error {
	s.UpdatedAt = db.orNow(s.UpdatedAt)
	body, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("sqlstore: put ad-server settings: %w", err)
	}
	_, err = db.write.ExecContext(ctx, db.q(`INSERT INTO ad_server_settings (publisher_id, body, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (publisher_id) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at`),
		s.PublisherID, string(body), micros(s.UpdatedAt))
	if err != nil {
		return fmt.Errorf("sqlstore: put ad-server settings: %w", err)
	}
	return nil
}

func scanActivation(s scanner) (*cleanroom.CohortActivation, error) {
	var (
		a       cleanroom.CohortActivation
		deal    string
		updated int64
	)
	if err := s.Scan(&a.CohortID, &a.ConnectionID, &a.PublisherID, &a.Direct, &a.Programmatic, &deal, &updated); err != nil {
		return nil, err
	}
	if deal != "" {
		a.Deal = &cleanroom.Deal{}
		if err := json.Unmarshal([]byte(deal), a.Deal); err != nil {
			return nil, fmt.Errorf("deal of cohort %s: %w", a.CohortID, err)
		}
	}
	a.UpdatedAt = fromMicros(updated)
	return &a, nil
}

// ListCohortActivations returns a cohort's activations, or a publisher's.
func (db *DB) ListCohortActivations(ctx context.Context, cohortID, publisherID string) ([]*cleanroom.CohortActivation, error) {
	var w where
	if cohortID != "" {
		w.add("cohort_id = ?", cohortID)
	}
	if publisherID != "" {
		w.add("publisher_id = ?", publisherID)
	}
	rows, err := db.read.QueryContext(ctx, db.q(`SELECT cohort_id, connection_id, publisher_id, direct, programmatic, deal, updated_at
		FROM cohort_activations`+w.String()+` ORDER BY cohort_id, connection_id`), w.args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list cohort activations: %w", err)
	}
	as, err := collect(rows, scanActivation)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list cohort activations: %w", err)
	}
	return as, nil
}

// PutCohortActivation stores a cohort's activation at a connection.
func (db *DB) PutCohortActivation(ctx context.Context, a *cleanroom.CohortActivation) error {
	a.UpdatedAt = db.orNow(a.UpdatedAt)
	deal := ""
	if a.Deal != nil {
		b, err := json.Marshal(a.Deal)
		if err != nil {
			return fmt.Errorf("sqlstore: put cohort activation: %w", err)
		}
		deal = string(b)
	}
	_, err := db.write.ExecContext(ctx, db.q(`INSERT INTO cohort_activations
		(cohort_id, connection_id, publisher_id, direct, programmatic, deal, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (cohort_id, connection_id) DO UPDATE SET direct = excluded.direct, programmatic = excluded.programmatic,
		deal = excluded.deal, updated_at = excluded.updated_at`),
		a.CohortID, a.ConnectionID, a.PublisherID, a.Direct, a.Programmatic, deal, micros(a.UpdatedAt))
	if err != nil {
		return cohortErr("put cohort activation", err)
	}
	return nil
}

// FindFrequencyCap returns a cohort's cap.
func (db *DB) FindFrequencyCap(ctx context.Context, cohortID string) (*cleanroom.FrequencyCap, error) {
	f := cleanroom.FrequencyCap{CohortID: cohortID}
	var updated int64
	err := db.read.QueryRowContext(ctx, db.q(`SELECT max_impressions, period, updated_at FROM frequency_caps WHERE cohort_id = ?`), cohortID).
		Scan(&f.MaxImpressions, &f.Period, &updated)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, cleanroom.Errorf(cleanroom.ENOTFOUND, "The cohort has no frequency cap.")
	case err != nil:
		return nil, fmt.Errorf("sqlstore: find frequency cap: %w", err)
	}
	f.UpdatedAt = fromMicros(updated)
	return &f, nil
}

// PutFrequencyCap stores a cohort's cap.
func (db *DB) PutFrequencyCap(ctx context.Context, f *cleanroom.FrequencyCap) error {
	f.UpdatedAt = db.orNow(f.UpdatedAt)
	_, err := db.write.ExecContext(ctx, db.q(`INSERT INTO frequency_caps (cohort_id, max_impressions, period, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (cohort_id) DO UPDATE SET max_impressions = excluded.max_impressions, period = excluded.period,
		updated_at = excluded.updated_at`), f.CohortID, f.MaxImpressions, string(f.Period), micros(f.UpdatedAt))
	if err != nil {
		return cohortErr("put frequency cap", err)
	}
	return nil
}

// DeleteFrequencyCap removes a cohort's cap.
func (db *DB) DeleteFrequencyCap(ctx context.Context, cohortID string) error {
	if _, err := db.write.ExecContext(ctx, db.q(`DELETE FROM frequency_caps WHERE cohort_id = ?`), cohortID); err != nil {
		return fmt.Errorf("sqlstore: delete frequency cap: %w", err)
	}
	return nil
}
