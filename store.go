package cleanroom

import (
	"context"
	"io"
)

// Store is the metadata store: everything but bulk identity data. The sqlite and postgres
// packages implement it and pass the same test suite (storetest).
type Store interface {
	OrgStore
	UserStore
	InvitationStore
	AuthStore
	AuditStore
	JobStore
	ConnectionStore
	DataSourceStore
	IngestStore
	CohortStore

	// Ready returns nil when the database answers and every migration is applied.
	// Returns EUNAVAILABLE otherwise.
	Ready(ctx context.Context) error
	// Close releases the database.
	Close() error
}

// BlobStore keeps bulk files (encrypted identity data, uploads) by key. Keys are slash-separated
// relative paths of [a-z0-9._-] segments. Put is atomic: a reader sees the whole new file or the
// old one (or none), never part of one. Implementations: localblob (a directory); an
// S3-compatible bucket can follow, so the interface stays this narrow.
type BlobStore interface {
	// Put writes r to key, replacing any file there, and returns the bytes written.
	Put(ctx context.Context, key string, r io.Reader) (int64, error)
	// Open opens key for reading. Returns ENOTFOUND if there is no such file.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// Stat returns the size of key. Returns ENOTFOUND if there is no such file.
	Stat(ctx context.Context, key string) (int64, error)
	// Delete removes key; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// List returns the keys under prefix, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
}
