package cleanroom

import (
	"context"
	"encoding/json"
	"time"
)

// UploadTarget says what an upload feeds.
type UploadTarget string

// Upload targets.
const (
	UploadDataSource UploadTarget = "data_source" // an advertiser data file into a data source
	UploadPublisher  UploadTarget = "publisher"   // a publisher's bulk profile file
	UploadBridge     UploadTarget = "bridge"      // an identity bridge provider's mapping
)

// UploadState is where an upload is.
type UploadState string

// Upload states: open (receiving parts) -> complete (queued) -> processing -> processed | failed;
// open -> aborted.
const (
	UploadOpen       UploadState = "open"
	UploadComplete   UploadState = "complete"
	UploadProcessing UploadState = "processing"
	UploadProcessed  UploadState = "processed"
	UploadFailed     UploadState = "failed"
	UploadAborted    UploadState = "aborted"
)

// Upload is a file arriving in parts. Each part is encrypted on arrival with the upload's own key
// (raw hashes never touch the disk in the clear), and the running SHA-256 of the whole file is
// kept so the client's checksum can be verified at the end however often it resumed.
type Upload struct {
	ID       string       `json:"id"`
	OrgID    string       `json:"org_id"`
	Target   UploadTarget `json:"target"`
	TargetID string       `json:"target_id"`
	Name     string       `json:"name"`
	// Size is the declared total size in bytes; Received how many bytes are stored (the offset
	// at which the next part starts).
	Size     int64       `json:"size"`
	Received int64       `json:"received"`
	Parts    int         `json:"parts"`
	State    UploadState `json:"state"`
	// SHA256 is the client's declared digest of the whole file (hex), checked at completion.
	SHA256 string `json:"sha256,omitempty"`
	// MaxErrorRate is the share of bad rows (0 to 1) above which processing refuses the file;
	// 0 means the default (5%).
	MaxErrorRate float64 `json:"max_error_rate,omitempty"`
	// ConfirmDrop allows a publisher profile file to replace the audience with fewer than half
	// of its current users (without it such a sync is refused).
	ConfirmDrop bool   `json:"confirm_drop,omitempty"`
	HashState   []byte `json:"-"` // marshalled running SHA-256
	WrappedKey  []byte `json:"-"`
	JobID       int64  `json:"job_id,omitempty"`
	// Report is the processing report (rows read, rejected by reason, first errors, ...).
	Report    json.RawMessage `json:"report,omitempty"`
	Error     string          `json:"error,omitempty"`
	VersionID string          `json:"version_id,omitempty"`
	// Progress is the processing job's progress, filled in by the API while it runs.
	Progress  *Progress `json:"progress,omitempty"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ErrorRateHint is the hint of every refusal of a file for its share of bad rows: it names the
// setting that changes the threshold (an upload's MaxErrorRate, max_error_rate in the API).
const ErrorRateHint = "Fix the rows the report lists; or, to use the file without them, upload it again with a " +
	"higher max_error_rate (a share from 0 to 1, in the request that starts the upload, or cleanroom upload --max-error-rate)."

// UploadPart records one stored part.
type UploadPart struct {
	UploadID string
	Seq      int
	Offset   int64
	Size     int64
	BlobKey  string
}

// Version is an immutable, processed data set: a data source's data, a publisher's audience or
// a bridge mapping. Its file is encrypted with its own data key, stored wrapped by the master key;
// deleting the version row and file shreds it.
type Version struct {
	ID         string          `json:"id"`
	OrgID      string          `json:"org_id"`
	OwnerType  UploadTarget    `json:"owner_type"`
	OwnerID    string          `json:"owner_id"`
	Seq        int             `json:"seq"`
	BlobKey    string          `json:"-"`
	WrappedKey []byte          `json:"-"`
	Bytes      int64           `json:"bytes"`
	Rows       int64           `json:"rows"`
	Stats      json.RawMessage `json:"stats,omitempty"`
	UploadID   string          `json:"upload_id,omitempty"`
	CreatedAt  time.Time       `json:"created_at"`
}

// UploadUpdate holds the fields of an upload that change; nil means unchanged.
type UploadUpdate struct {
	State     *UploadState
	JobID     *int64
	Report    json.RawMessage
	Error     *string
	VersionID *string
}

// IngestStore stores uploads, their parts, taxonomies, versions and bridges.
type IngestStore interface {
	// CreateUpload inserts u.
	CreateUpload(ctx context.Context, u *Upload) error
	// FindUpload returns an upload by ID. Returns ENOTFOUND if there is none.
	FindUpload(ctx context.Context, id string) (*Upload, error)
	// ListUploads returns the uploads to a target, newest first.
	ListUploads(ctx context.Context, target UploadTarget, targetID string, page Page) ([]*Upload, string, error)
	// AddUploadPart records a stored part and advances the upload's offset and hash state, in one
	// transaction, if the upload is open and its offset still equals p.Offset. Returns ECONFLICT
	// (with the current offset in the details as "offset") otherwise.
	AddUploadPart(ctx context.Context, p *UploadPart, hashState []byte, now time.Time) (*Upload, error)
	// ListUploadParts returns an upload's parts in order.
	ListUploadParts(ctx context.Context, uploadID string) ([]*UploadPart, error)
	// UpdateUpload applies upd. Returns ENOTFOUND if there is none.
	UpdateUpload(ctx context.Context, id string, upd UploadUpdate, now time.Time) (*Upload, error)
	// DeleteUploadParts forgets an upload's parts (after their files are deleted).
	DeleteUploadParts(ctx context.Context, uploadID string) error
	// DeleteUploads removes every upload to a target with its parts' records (after their files
	// are deleted), and returns how many it removed. Nothing of them is left: not the file name,
	// not the checksum, not the report.
	DeleteUploads(ctx context.Context, target UploadTarget, targetID string) (int, error)

	// PutTaxonomy stores the taxonomy (as JSON) of a data source or publisher, replacing any.
	PutTaxonomy(ctx context.Context, ownerID string, body json.RawMessage, now time.Time) error
	// FindTaxonomy returns a stored taxonomy. Returns ENOTFOUND if there is none.
	FindTaxonomy(ctx context.Context, ownerID string) (json.RawMessage, error)
	// DeleteTaxonomy removes the owner's taxonomy; removing a missing one is not an error.
	DeleteTaxonomy(ctx context.Context, ownerID string) error

	VersionStore
	BridgeStore
}

// VersionStore keeps the records of versions (their files live in the blob store) and each
// owner's current version.
type VersionStore interface {
	// CreateVersion inserts v with the next Seq for its owner and makes it the owner's current
	// version, in one transaction, if the owner's current version is still base (the ID of the
	// version v was built from; "" when v was built with no current version). Readers see the
	// previous version or this one, never neither. Returns ECONFLICT if the owner's current
	// version is no longer base (with the current version's ID, "" for none, in the details as
	// "current"): the caller builds v again on the new current version and retries. Returns
	// ECONFLICT too if the ID is taken, and ENOTFOUND if the org does not exist.
	CreateVersion(ctx context.Context, v *Version, base string) error
	// CurrentVersion returns the owner's current version. Returns ENOTFOUND if it has none.
	CurrentVersion(ctx context.Context, ownerID string) (*Version, error)
	// ListVersions returns an owner's versions, newest first.
	ListVersions(ctx context.Context, ownerID string) ([]*Version, error)
	// DeleteVersion removes a version row (its file is deleted by the caller first).
	// Returns ENOTFOUND if there is none.
	DeleteVersion(ctx context.Context, id string) error
}

// Bridge is an identity bridge provider registered by the operator for a publisher. The mapping
// it uploads (tag+value to tag+value) is the publisher's vault data: its uploads and versions
// belong to the publisher's org, with the bridge as their target and owner.
type Bridge struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	PublisherID string `json:"publisher_id"`
	// Tags are the custom identifier tags the bridge's files may use besides the built-in ones.
	Tags      []string  `json:"tags"`
	CreatedAt time.Time `json:"created_at"`
}

// BridgeStore stores bridge registrations.
type BridgeStore interface {
	// CreateBridge inserts b. Returns ENOTFOUND if the publisher org does not exist and ECONFLICT
	// if the ID is taken.
	CreateBridge(ctx context.Context, b *Bridge) error
	// FindBridge returns a bridge by ID. Returns ENOTFOUND if there is none.
	FindBridge(ctx context.Context, id string) (*Bridge, error)
	// ListBridges returns the bridges registered for a publisher, oldest first.
	ListBridges(ctx context.Context, publisherID string) ([]*Bridge, error)
}
