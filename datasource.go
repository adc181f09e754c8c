package cleanroom

import (
	"context"
	"time"
)

// DataSourceStatus is where a data source's data is.
type DataSourceStatus string

// Data source states. A new source is empty; an upload makes it uploading, then processing; a
// processed upload makes it ready (a new immutable version) or failed (the previous version, if
// any, stays in use).
const (
	DataSourceEmpty      DataSourceStatus = "empty"
	DataSourceUploading  DataSourceStatus = "uploading"
	DataSourceProcessing DataSourceStatus = "processing"
	DataSourceReady      DataSourceStatus = "ready"
	DataSourceFailed     DataSourceStatus = "failed"
)

// DataSource is an advertiser's first-party data set (e.g. "Lapsed customers"): identifiers with
// segment memberships, uploaded as files, processed into immutable versions.
type DataSource struct {
	ID string `json:"id"`
	// OrgID is the workspace the data source lives in.
	OrgID string `json:"org_id"`
	// AdvertiserID is the advertiser whose data it is: the org itself in an advertiser workspace;
	// in a publisher's demand-side workspace, the advertiser of the invited (limited) user who
	// created it, or empty when the publisher's own staff created it.
	AdvertiserID string           `json:"advertiser_id,omitempty"`
	Name         string           `json:"name"`
	Description  string           `json:"description,omitempty"`
	Status       DataSourceStatus `json:"status"`
	CreatedBy    string           `json:"created_by"`
	CreatedAt    time.Time        `json:"created_at"`
	UpdatedAt    time.Time        `json:"updated_at"`
}

// Validate checks the fields a user sets.
func (d *DataSource) Validate() error {
	if err := ValidateName("data source name", d.Name); err != nil {
		return err
	}
	if len(d.Description) > 2000 {
		return Errorf(EINVALID, "The description is longer than 2000 characters.").With("field", "description")
	}
	return nil
}

// DataSourceFilter selects an org's data sources; AdvertiserID, when set, only that advertiser's.
type DataSourceFilter struct {
	OrgID        string
	AdvertiserID string
	Page         Page
}

// DataSourceUpdate holds the fields of a data source that can change; nil means unchanged.
type DataSourceUpdate struct {
	Name        *string
	Description *string
	Status      *DataSourceStatus
}

// DataSourceStore stores data sources' metadata (their bulk data lives in the blob store).
type DataSourceStore interface {
	// CreateDataSource inserts d.
	CreateDataSource(ctx context.Context, d *DataSource) error
	// FindDataSource returns a data source by ID. Returns ENOTFOUND if there is none.
	FindDataSource(ctx context.Context, id string) (*DataSource, error)
	// ListDataSources returns data sources matching f, ordered by ID.
	ListDataSources(ctx context.Context, f DataSourceFilter) ([]*DataSource, string, error)
	// UpdateDataSource applies upd. Returns ENOTFOUND if there is none.
	UpdateDataSource(ctx context.Context, id string, upd DataSourceUpdate, now time.Time) (*DataSource, error)
	// DeleteDataSource removes a data source and its grants. Returns ENOTFOUND if there is none.
	DeleteDataSource(ctx context.Context, id string) error
}
