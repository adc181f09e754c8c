package cleanroom

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
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
	ActivationStore
	PrivacyStore
	ImportStore
	LeaseStore
	FactStore
	KeyStore

	// Ready returns nil when the database answers and every migration is applied.
	// Returns EUNAVAILABLE otherwise.
	Ready(ctx context.Context) error
	// Close releases the database.
	Close() error
}

// BlobStore keeps bulk files (encrypted identity data, uploads) by key. Keys are slash-separated
// relative paths of [a-z0-9._-] segments. Put is atomic: a reader sees the whole new file or the
// old one (or none), never part of one. Implementations: localblob (a directory), memblob (in
// memory, for tests) and s3blob (an S3-compatible bucket); all pass the conformance suite
// (blobtest) and also implement BlobRangeReader.
//
// Blob store errors are never *Error values: a key names internal storage, and a missing or
// unreadable file is a fault of the deployment, not of the request, so it reaches users as an
// internal error (a generic message; the detail in the log).
type BlobStore interface {
	// Put writes r to key, replacing any file there, and returns the bytes written.
	Put(ctx context.Context, key string, r io.Reader) (int64, error)
	// Open opens key for reading. Returns an error wrapping ErrBlobNotFound if there is no such
	// file.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// Stat returns the size of key. Returns an error wrapping ErrBlobNotFound if there is no
	// such file.
	Stat(ctx context.Context, key string) (int64, error)
	// Delete removes key; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// List returns the keys under prefix, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
}

// BlobRangeReader is implemented by blob stores that read part of a file without the rest:
// localblob, memblob and s3blob. A version is read in chunks through it (RangeReaderAt), so a
// remote store streams it rather than handing it over whole.
type BlobRangeReader interface {
	// OpenRange opens at most n bytes of key starting at offset off; the reader ends early where
	// the file does (an off at or past the end gives an empty reader). Returns an error wrapping
	// ErrBlobNotFound if there is no such file.
	OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error)
}

// RangeReaderAt returns an io.ReaderAt over key that reads each ReadAt with one OpenRange, so
// parallel readers (sealed.DecryptAllBatched) fetch their chunks at once. Safe for concurrent use.
func RangeReaderAt(ctx context.Context, b BlobRangeReader, key string) io.ReaderAt {
	return rangeReaderAt{ctx, b, key}
}

type rangeReaderAt struct {
	ctx context.Context
	b   BlobRangeReader
	key string
}

func (r rangeReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("blob %s: negative offset %d", r.key, off)
	}
	if len(p) == 0 {
		return 0, nil
	}
	rc, err := r.b.OpenRange(r.ctx, r.key, off, int64(len(p)))
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	n, err := io.ReadFull(rc, p)
	if err == io.ErrUnexpectedEOF {
		err = io.EOF
	}
	return n, err
}

// blobSegment is one segment of a blob key.
var blobSegment = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// CheckBlobKey returns an error unless key is a valid blob key: at most 512 bytes of
// slash-separated segments, each of [a-z0-9._-] starting with a letter or digit (so no empty,
// hidden, "." or ".." segment). Every BlobStore checks keys with it.
func CheckBlobKey(key string) error {
	if key == "" || len(key) > 512 {
		return fmt.Errorf("blob key %q is empty or too long", key)
	}
	for _, s := range strings.Split(key, "/") {
		if !blobSegment.MatchString(s) {
			return fmt.Errorf("blob key %q has a bad segment %q", key, s)
		}
	}
	return nil
}

// ErrBlobNotFound is wrapped by the errors of BlobStore.Open and Stat for a key with no file.
// Test for it with errors.Is. It is deliberately not an ENOTFOUND *Error: the files are the
// deployment's own, so a missing one is an internal fault, never an answer such as "404 Blob
// vaults/... not found" that would name internal paths to a tenant.
var ErrBlobNotFound = errors.New("blob not found")
