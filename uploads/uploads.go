// Package uploads receives files in parts and turns them into versions. The upload protocol is
// resumable: a client sends parts at byte offsets; each part is encrypted on arrival with the
// upload's own key (raw hashes never touch the disk in the clear) and recorded with the running
// SHA-256 of the file, so an interrupted upload continues from the last acknowledged byte and the
// whole file's checksum is still verified at the end. Completing an upload queues a job that
// streams the decrypted parts through the right engine (advertiser ingest, publisher sync, bridge
// mapping), writes the new version's encrypted file, switches the owner to it atomically and
// deletes the parts.
package uploads

import (
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/keyring"
	"github.com/cleanroom-oss/cleanroom/rows"
	"github.com/cleanroom-oss/cleanroom/sealed"
)

// Limits.
const (
	DefaultMaxUploadBytes = 20 << 30 // a whole file
	DefaultMaxPartBytes   = 64 << 20 // one request's part
)

// Store is what the service needs of the metadata store.
type Store interface {
	cleanroom.IngestStore
	cleanroom.DataSourceStore
	cleanroom.AuditStore
}

// Enqueuer queues background jobs (jobs.Runner).
type Enqueuer interface {
	Enqueue(ctx context.Context, j *cleanroom.Job) error
}

// Service runs uploads.
type Service struct {
	Store Store
	Blobs cleanroom.BlobStore
	Keys  *keyring.Master
	Jobs  Enqueuer
	Now   func() time.Time
	// AfterVersion, when set, is called after a new version is stored (cohorts refresh then).
	AfterVersion func(ctx context.Context)
	// MaxUploadBytes bounds a file; MaxPartBytes one part.
	MaxUploadBytes int64
	MaxPartBytes   int64
	// MaxIdentifierTypes is how many identifier types a publisher may sync (0: pubsync's default of 5).
	MaxIdentifierTypes int
	// FileLimits bound each uploaded file's decompressed size and lines (zero fields: the rows
	// package's defaults).
	FileLimits rows.Limits
	// IngestMemory is the memory budget of processing one advertiser file (0: ingest's
	// default); TempDir is where files beyond it are spilled (empty: the system's).
	IngestMemory int64
	TempDir      string
}

// New returns a service with default limits.
func New(store Store, blobs cleanroom.BlobStore, keys *keyring.Master, jobs Enqueuer) *Service {
	return &Service{Store: store, Blobs: blobs, Keys: keys, Jobs: jobs, Now: time.Now,
		MaxUploadBytes: DefaultMaxUploadBytes, MaxPartBytes: DefaultMaxPartBytes}
}

func (s *Service) now() time.Time { return cleanroom.UTC(s.Now()) }

// keyLabel binds an upload's wrapped key to the upload.
func keyLabel(uploadID string) string { return "upload:" + uploadID }

// JobKind is the kind of the job that processes uploads to a target.
func JobKind(t cleanroom.UploadTarget) string { return "ingest." + string(t) }

// Begin opens an upload of size bytes (sha256, optional, is the client's hex digest of the whole
// file) to a target in org.
func (s *Service) Begin(ctx context.Context, orgID, userID string, target cleanroom.UploadTarget, targetID, name string, size int64, sha string, maxErrorRate float64) (*cleanroom.Upload, error) {
	if maxErrorRate < 0 || maxErrorRate > 1 {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "max_error_rate must lie between 0 and 1 (0 means the default, 0.05).").With("field", "max_error_rate")
	}
	if size <= 0 {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "size must be the file's size in bytes.").With("field", "size")
	}
	if size > s.MaxUploadBytes {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "The file is %d bytes; this deployment accepts files up to %d bytes.", size, s.MaxUploadBytes).
			With("field", "size").Hint("Split the file, or ask the operator to raise --max-upload-bytes.")
	}
	sha = strings.ToLower(strings.TrimSpace(sha))
	if sha != "" {
		if b, err := hex.DecodeString(sha); err != nil || len(b) != sha256.Size {
			return nil, cleanroom.Errorf(cleanroom.EINVALID, "sha256 must be the file's SHA-256 as 64 hex characters.").With("field", "sha256")
		}
	}
	if name == "" {
		name = "upload"
	}
	if err := cleanroom.ValidateName("file name", name); err != nil {
		return nil, err
	}
	id := uuid.Must(uuid.NewV7()).String()
	wrapped, err := s.Keys.Wrap(keyring.NewDataKey(), keyLabel(id))
	if err != nil {
		return nil, err
	}
	state, err := sha256.New().(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return nil, err
	}
	now := s.now()
	u := &cleanroom.Upload{ID: id, OrgID: orgID, Target: target, TargetID: targetID, Name: name, Size: size,
		State: cleanroom.UploadOpen, SHA256: sha, MaxErrorRate: maxErrorRate, HashState: state, WrappedKey: wrapped, CreatedBy: userID, CreatedAt: now, UpdatedAt: now}
	if err := s.Store.CreateUpload(ctx, u); err != nil {
		return nil, err
	}
	return u, nil
}

func (s *Service) key(u *cleanroom.Upload) ([]byte, error) {
	return s.Keys.Unwrap(u.WrappedKey, keyLabel(u.ID))
}

// WritePart stores the bytes of r as the part at offset. partSHA (optional, hex) is checked
// against the part's bytes. The part is encrypted as it streams to the blob store; only when it is
// stored whole is it recorded, so a broken connection leaves the upload at the previous offset.
func (s *Service) WritePart(ctx context.Context, u *cleanroom.Upload, offset int64, r io.Reader, partSHA string) (*cleanroom.Upload, error) {
	if u.State != cleanroom.UploadOpen {
		return nil, cleanroom.Errorf(cleanroom.ECONFLICT, "The upload is %s; it takes no more parts.", u.State)
	}
	if offset != u.Received {
		return nil, cleanroom.Errorf(cleanroom.ECONFLICT, "The upload is at byte %d, not %d.", u.Received, offset).
			With("offset", u.Received).Hint("Resume from byte %d.", u.Received)
	}
	key, err := s.key(u)
	if err != nil {
		return nil, err
	}
	fileHash := sha256.New()
	if err := fileHash.(encoding.BinaryUnmarshaler).UnmarshalBinary(u.HashState); err != nil {
		return nil, fmt.Errorf("uploads: restore hash state: %w", err)
	}
	partHash := sha256.New()
	limit := min(s.MaxPartBytes, u.Size-u.Received)
	counted := &countingReader{r: io.LimitReader(r, limit+1), hashes: []hash.Hash{fileHash, partHash}}
	blobKey := fmt.Sprintf("uploads/%s/%012d-%s", u.ID, offset, uuid.Must(uuid.NewV7()).String())
	pr, pw := io.Pipe()
	go func() {
		sw, err := sealed.NewWriter(pw, key)
		if err == nil {
			_, err = io.Copy(sw, counted)
			if err == nil {
				err = sw.Close()
			}
		}
		pw.CloseWithError(err)
	}()
	_, err = s.Blobs.Put(ctx, blobKey, pr)
	pr.CloseWithError(err)
	fail := func(e error) (*cleanroom.Upload, error) {
		s.Blobs.Delete(context.WithoutCancel(ctx), blobKey)
		return nil, e
	}
	if err != nil {
		return fail(fmt.Errorf("uploads: store part: %w", err))
	}
	switch {
	case counted.n == 0:
		return fail(cleanroom.Errorf(cleanroom.EINVALID, "The part is empty."))
	case counted.n > limit:
		return fail(cleanroom.Errorf(cleanroom.EINVALID, "The part runs past the declared file size or the part limit (%d bytes left, %d per part).", u.Size-u.Received, s.MaxPartBytes).
			Hint("Send parts of at most %d bytes, and no more than the size declared when the upload began.", s.MaxPartBytes))
	}
	if partSHA != "" && !strings.EqualFold(partSHA, hex.EncodeToString(partHash.Sum(nil))) {
		return fail(cleanroom.Errorf(cleanroom.EINVALID, "The part's SHA-256 does not match its bytes; it was damaged in transit.").
			Hint("Send the part again from byte %d.", offset))
	}
	state, err := fileHash.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return fail(err)
	}
	next, err := s.Store.AddUploadPart(ctx, &cleanroom.UploadPart{UploadID: u.ID, Offset: offset, Size: counted.n, BlobKey: blobKey}, state, s.now())
	if err != nil {
		return fail(err)
	}
	return next, nil
}

type countingReader struct {
	r      io.Reader
	n      int64
	hashes []hash.Hash
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	for _, h := range c.hashes {
		h.Write(p[:n])
	}
	return n, err
}

// Complete checks that the whole file arrived intact and queues its processing.
func (s *Service) Complete(ctx context.Context, u *cleanroom.Upload) (*cleanroom.Upload, error) {
	if u.State != cleanroom.UploadOpen {
		return nil, cleanroom.Errorf(cleanroom.ECONFLICT, "The upload is %s already.", u.State)
	}
	if u.Received != u.Size {
		return nil, cleanroom.Errorf(cleanroom.ECONFLICT, "The upload has %d of %d bytes.", u.Received, u.Size).
			With("offset", u.Received).Hint("Send the rest from byte %d, then complete it.", u.Received)
	}
	if u.SHA256 != "" {
		h := sha256.New()
		if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(u.HashState); err != nil {
			return nil, err
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != u.SHA256 {
			return nil, cleanroom.Errorf(cleanroom.EINVALID, "The file's SHA-256 is %s, not the declared %s; it was damaged or changed during the upload.", got, u.SHA256).
				Hint("Abort this upload and upload the file again.")
		}
	}
	j := &cleanroom.Job{Kind: JobKind(u.Target), OrgID: u.OrgID, Args: jobArgs(u.ID), MaxAttempts: 3}
	if err := s.Jobs.Enqueue(ctx, j); err != nil {
		return nil, err
	}
	st := cleanroom.UploadComplete
	return s.Store.UpdateUpload(ctx, u.ID, cleanroom.UploadUpdate{State: &st, JobID: &j.ID}, s.now())
}

func jobArgs(uploadID string) []byte { return []byte(`{"upload_id":"` + uploadID + `"}`) }

// Abort ends an open upload and deletes its parts.
func (s *Service) Abort(ctx context.Context, u *cleanroom.Upload) (*cleanroom.Upload, error) {
	if u.State != cleanroom.UploadOpen && u.State != cleanroom.UploadFailed {
		return nil, cleanroom.Errorf(cleanroom.ECONFLICT, "The upload is %s and cannot be aborted.", u.State)
	}
	if err := s.deleteParts(ctx, u.ID); err != nil {
		return nil, err
	}
	st := cleanroom.UploadAborted
	return s.Store.UpdateUpload(ctx, u.ID, cleanroom.UploadUpdate{State: &st}, s.now())
}

// deleteParts deletes an upload's part files and their records.
func (s *Service) deleteParts(ctx context.Context, uploadID string) error {
	parts, err := s.Store.ListUploadParts(ctx, uploadID)
	if err != nil {
		return err
	}
	for _, p := range parts {
		if err := s.Blobs.Delete(ctx, p.BlobKey); err != nil {
			return err
		}
	}
	return s.Store.DeleteUploadParts(ctx, uploadID)
}

// Open returns the upload's plaintext: its parts decrypted and concatenated in order.
func (s *Service) Open(ctx context.Context, u *cleanroom.Upload) (io.ReadCloser, error) {
	key, err := s.key(u)
	if err != nil {
		return nil, err
	}
	parts, err := s.Store.ListUploadParts(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	var total int64
	for _, p := range parts {
		total += p.Size
	}
	if total != u.Size {
		return nil, fmt.Errorf("uploads: %s has %d bytes in parts, want %d", u.ID, total, u.Size)
	}
	return &partsReader{ctx: ctx, s: s, key: key, parts: parts}, nil
}

// partsReader reads the decrypted parts one after the other.
type partsReader struct {
	ctx   context.Context
	s     *Service
	key   []byte
	parts []*cleanroom.UploadPart
	cur   io.ReadCloser
	dec   io.Reader
}

func (p *partsReader) Read(b []byte) (int, error) {
	for {
		if p.dec == nil {
			if len(p.parts) == 0 {
				return 0, io.EOF
			}
			rc, err := p.s.Blobs.Open(p.ctx, p.parts[0].BlobKey)
			if err != nil {
				return 0, err
			}
			dec, err := sealed.NewReader(rc, p.key)
			if err != nil {
				rc.Close()
				return 0, fmt.Errorf("uploads: part %d: %w", p.parts[0].Seq, err)
			}
			p.cur, p.dec, p.parts = rc, dec, p.parts[1:]
		}
		n, err := p.dec.Read(b)
		if errors.Is(err, io.EOF) {
			p.cur.Close()
			p.cur, p.dec = nil, nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (p *partsReader) Close() error {
	if p.cur != nil {
		return p.cur.Close()
	}
	return nil
}

// Unlink deletes a data source and everything stored of its data: every version's file and
// wrapped key, every upload's parts, and the data source with its grants. It returns how many
// versions were shredded.
func (s *Service) Unlink(ctx context.Context, ds *cleanroom.DataSource) (int, error) {
	vs, err := s.Store.ListVersions(ctx, ds.ID)
	if err != nil {
		return 0, err
	}
	for _, v := range vs {
		if err := s.Blobs.Delete(ctx, v.BlobKey); err != nil {
			return 0, err
		}
		if err := s.Store.DeleteVersion(ctx, v.ID); err != nil {
			return 0, err
		}
	}
	page := cleanroom.Page{Limit: cleanroom.MaxPageLimit}
	for {
		us, next, err := s.Store.ListUploads(ctx, cleanroom.UploadDataSource, ds.ID, page)
		if err != nil {
			return 0, err
		}
		for _, u := range us {
			if err := s.deleteParts(ctx, u.ID); err != nil {
				return 0, err
			}
			if u.State == cleanroom.UploadOpen {
				st := cleanroom.UploadAborted
				if _, err := s.Store.UpdateUpload(ctx, u.ID, cleanroom.UploadUpdate{State: &st}, s.now()); err != nil {
					return 0, err
				}
			}
		}
		if next == "" {
			break
		}
		page.After = next
	}
	return len(vs), s.Store.DeleteDataSource(ctx, ds.ID)
}
