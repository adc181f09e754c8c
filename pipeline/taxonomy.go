package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/ingest"
	"github.com/cleanroom-oss/cleanroom/pubsync"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// The stored forms of taxonomies (JSON in the metadata store, one per owner): this file is the one
// place that knows them.

// TaxonomyStore is the part of the metadata store that keeps taxonomies.
type TaxonomyStore interface {
	PutTaxonomy(ctx context.Context, ownerID string, body json.RawMessage, now time.Time) error
	FindTaxonomy(ctx context.Context, ownerID string) (json.RawMessage, error)
}

// storedSegments is a data source's segment taxonomy as stored (and as the API shows it).
type storedSegments struct {
	Segments []ingest.Segment `json:"segments"`
}

// storedCohorts is a publisher's custom-cohort taxonomy as stored (and as the API shows it).
type storedCohorts struct {
	Cohorts []vault.CohortInfo `json:"cohorts"`
}

// PutDataSourceTaxonomy stores a data source's segment taxonomy, replacing any.
func PutDataSourceTaxonomy(ctx context.Context, st TaxonomyStore, dataSourceID string, tax *ingest.Taxonomy, now time.Time) error {
	return putJSON(ctx, st, dataSourceID, storedSegments{Segments: tax.Segments()}, now)
}

// DataSourceTaxonomy returns a data source's stored segment taxonomy. Returns ENOTFOUND if it
// has none.
func DataSourceTaxonomy(ctx context.Context, st TaxonomyStore, dataSourceID string) (*ingest.Taxonomy, error) {
	var stored storedSegments
	if err := findJSON(ctx, st, dataSourceID, &stored); err != nil {
		return nil, err
	}
	return ingest.NewTaxonomy(stored.Segments)
}

// PutPublisherTaxonomy stores a publisher's custom-cohort taxonomy, replacing any.
func PutPublisherTaxonomy(ctx context.Context, st TaxonomyStore, publisherID string, tax *pubsync.Taxonomy, now time.Time) error {
	return putJSON(ctx, st, publisherID, storedCohorts{Cohorts: tax.Cohorts()}, now)
}

// LoadPublisherTaxonomy returns a publisher's stored custom-cohort taxonomy. Returns ENOTFOUND if
// it has none.
func LoadPublisherTaxonomy(ctx context.Context, st TaxonomyStore, publisherID string) (*pubsync.Taxonomy, error) {
	var stored storedCohorts
	if err := findJSON(ctx, st, publisherID, &stored); err != nil {
		return nil, err
	}
	return pubsync.NewTaxonomy(stored.Cohorts)
}

func putJSON(ctx context.Context, st TaxonomyStore, ownerID string, v any, now time.Time) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return st.PutTaxonomy(ctx, ownerID, b, cleanroom.UTC(now))
}

func findJSON(ctx context.Context, st TaxonomyStore, ownerID string, v any) error {
	b, err := st.FindTaxonomy(ctx, ownerID)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("pipeline: taxonomy of %s: %w", ownerID, err)
	}
	return nil
}
