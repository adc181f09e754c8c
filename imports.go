package cleanroom

import (
	"context"
	"time"
)

// ImportSchedule says how often an import source is checked for new objects.
type ImportSchedule string

// Import schedules.
const (
	ImportOff    ImportSchedule = "off"    // on demand only
	ImportHourly ImportSchedule = "hourly" // every hour
	ImportDaily  ImportSchedule = "daily"  // every day
)

// Interval is how long the schedule waits between runs (0 when it is off).
func (s ImportSchedule) Interval() time.Duration {
	switch s {
	case ImportHourly:
		return time.Hour
	case ImportDaily:
		return 24 * time.Hour
	}
	return 0
}

// Valid reports whether s is a known schedule.
func (s ImportSchedule) Valid() bool { return s == ImportOff || s == ImportHourly || s == ImportDaily }

// ImportSource is where a data source (or a publisher's audience) pulls its files from: a
// prefix of the party's own S3-compatible bucket. Each new object under the prefix becomes an
// upload to the target, processed as any other. The secret access key is kept only wrapped under
// the master key (label "import-secret:<id>") and never leaves the server.
type ImportSource struct {
	ID    string `json:"id"`
	OrgID string `json:"org_id"`
	// Target and TargetID name what the objects feed: a data source, or a publisher's audience
	// (TargetID is then the publisher's org ID).
	Target   UploadTarget `json:"target"`
	TargetID string       `json:"target_id"`
	// Endpoint is the S3 endpoint's base URL (https://s3.eu-west-1.amazonaws.com).
	Endpoint    string `json:"endpoint"`
	Bucket      string `json:"bucket"`
	Prefix      string `json:"prefix"`
	Region      string `json:"region,omitempty"`
	AccessKeyID string `json:"access_key_id"`
	// WrappedSecret is the secret access key, wrapped; SecretSet says there is one.
	WrappedSecret []byte         `json:"-"`
	SecretSet     bool           `json:"secret_set"`
	Schedule      ImportSchedule `json:"schedule"`
	Enabled       bool           `json:"enabled"`
	// MaxErrorRate is the uploads' share of bad rows above which a file is refused (0: 5%).
	MaxErrorRate float64 `json:"max_error_rate,omitempty"`
	// NextRunAt is when the schedule runs next (zero: not scheduled).
	NextRunAt time.Time `json:"next_run_at,omitzero"`
	// LastCheckedAt is when the bucket was last read; LastError what went wrong then (a
	// user-safe message with its fix), empty when the check succeeded.
	LastCheckedAt time.Time `json:"last_checked_at,omitzero"`
	LastError     string    `json:"last_error,omitempty"`
	UpdatedBy     string    `json:"updated_by"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// ImportedObject records an object of an import source's bucket that was taken in: its key,
// ETag and size (together, which object it was), and the upload it became. An object is imported
// once: a new object (another key, or the same key with other contents) makes a new record.
// Error, when set, says why the object was skipped without an upload (too large, empty).
type ImportedObject struct {
	SourceID  string    `json:"source_id"`
	Bucket    string    `json:"bucket"`
	Key       string    `json:"key"`
	ETag      string    `json:"etag"`
	Size      int64     `json:"size"`
	UploadID  string    `json:"upload_id,omitempty"`
	Error     string    `json:"error,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// Upload is the upload it became, filled in by the service for display.
	Upload *Upload `json:"upload,omitempty"`
}

// ImportStore stores import sources and the objects they imported.
type ImportStore interface {
	// CreateImportSource inserts s. Returns ECONFLICT if its target has an import source already,
	// ENOTFOUND if the org (or the data source) does not exist.
	CreateImportSource(ctx context.Context, s *ImportSource) error
	// UpdateImportSource replaces the settings of s (by ID): endpoint, bucket, prefix, region,
	// access key, wrapped secret, schedule, enabled, max error rate, next run, updated by and at.
	// Returns ENOTFOUND if there is none.
	UpdateImportSource(ctx context.Context, s *ImportSource) error
	// FindImportSource returns a target's import source. Returns ENOTFOUND if there is none.
	FindImportSource(ctx context.Context, target UploadTarget, targetID string) (*ImportSource, error)
	// FindImportSourceByID returns an import source. Returns ENOTFOUND if there is none.
	FindImportSourceByID(ctx context.Context, id string) (*ImportSource, error)
	// DeleteImportSource removes an import source and its imported objects' records (not their
	// uploads). Returns ENOTFOUND if there is none.
	DeleteImportSource(ctx context.Context, id string) error
	// RecordImportCheck sets when the source's bucket was last read and the error then ("" for
	// none). Returns ENOTFOUND if there is none.
	RecordImportCheck(ctx context.Context, id string, at time.Time, lastError string) error
	// ClaimDueImports returns up to limit enabled, scheduled sources whose next run is at or
	// before now, and moves each one's next run to now plus its schedule's interval in the same
	// statement: of callers racing (several processes), each due source goes to exactly one.
	ClaimDueImports(ctx context.Context, now time.Time, limit int) ([]*ImportSource, error)

	// AddImportedObject records o. Returns ECONFLICT if the source has a record of the same
	// object (bucket, key, ETag and size) already: another run took it.
	AddImportedObject(ctx context.Context, o *ImportedObject) error
	// FindImportedObject returns the record of an object. Returns ENOTFOUND if there is none.
	FindImportedObject(ctx context.Context, sourceID, bucket, key, etag string, size int64) (*ImportedObject, error)
	// ListImportedObjects returns a source's imported objects, newest first.
	ListImportedObjects(ctx context.Context, sourceID string, page Page) ([]*ImportedObject, string, error)
}
