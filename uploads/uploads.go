// Package uploads is the upload protocol: files received in parts and kept, encrypted, until they
// are processed. The protocol is resumable: a client sends parts at byte offsets; each part is
// encrypted on arrival with the upload's own key (raw hashes never touch the disk in the clear)
// and recorded with the running SHA-256 of the file, so an interrupted upload continues from the
// last acknowledged byte and the whole file's checksum is still verified at the end. Completing an
// upload queues its processing job (package pipeline runs it), which reads the parts back with
// Open. Small inputs that arrive whole (a publisher's event batch) are kept the same way (Submit).
package uploads

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/keyring"
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
	// MaxUploadBytes bounds a file; MaxPartBytes one part.
	MaxUploadBytes int64
	MaxPartBytes   int64
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

// SerialKey is the serial key of the jobs that process uploads to a target: changes to one target
// (a data source, a publisher's audience, a bridge) run one at a time, in order.
func SerialKey(t cleanroom.UploadTarget, targetID string) string { return string(t) + ":" + targetID }

// Spec is what an upload is and where it goes.
type Spec struct {
	OrgID, UserID string
	Target        cleanroom.UploadTarget
	TargetID      string
	// Name is the file's name (default "upload").
	Name string
	// Size is the file's size in bytes; SHA256, optional, the client's hex digest of it.
	Size   int64
	SHA256 string
	// MaxErrorRate is the share of bad rows above which processing refuses the file (0: 5%).
	MaxErrorRate float64
	// ConfirmDrop lets a publisher profile file drop more than half of the audience.
	ConfirmDrop bool
}

// Begin opens an upload.
func (s *Service) Begin(ctx context.Context, sp Spec) (*cleanroom.Upload, error) {
	orgID, userID, target, targetID, name, size, sha, maxErrorRate := sp.OrgID, sp.UserID, sp.Target, sp.TargetID, sp.Name, sp.Size, sp.SHA256, sp.MaxErrorRate
	if sp.ConfirmDrop && target != cleanroom.UploadPublisher {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "confirm_drop applies to publisher profile files only.").With("field", "confirm_drop")
	}
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
		State: cleanroom.UploadOpen, SHA256: sha, MaxErrorRate: maxErrorRate, ConfirmDrop: sp.ConfirmDrop, HashState: state, WrappedKey: wrapped, CreatedBy: userID, CreatedAt: now, UpdatedAt: now}
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
	u, _, err := s.queue(ctx, u, JobKind(u.Target))
	return u, err
}

// queue enqueues the job of kind that processes u, serialised with the other changes to its
// target, and marks u complete.
func (s *Service) queue(ctx context.Context, u *cleanroom.Upload, kind string) (*cleanroom.Upload, *cleanroom.Job, error) {
	args, err := json.Marshal(JobArgs{UploadID: u.ID})
	if err != nil {
		return nil, nil, err
	}
	j := &cleanroom.Job{Kind: kind, OrgID: u.OrgID, Args: args, MaxAttempts: 3, SerialKey: SerialKey(u.Target, u.TargetID)}
	if err := s.Jobs.Enqueue(ctx, j); err != nil {
		return nil, nil, err
	}
	st := cleanroom.UploadComplete
	u, err = s.Store.UpdateUpload(ctx, u.ID, cleanroom.UploadUpdate{State: &st, JobID: &j.ID}, s.now())
	return u, j, err
}

// JobArgs are the arguments of an upload's processing job.
type JobArgs struct {
	UploadID string `json:"upload_id"`
}

// Submit stores body, which arrived whole, as a complete upload (in parts of at most MaxPartBytes)
// and queues the job of kind that processes it, serialised with the other changes to the target.
func (s *Service) Submit(ctx context.Context, sp Spec, body []byte, kind string) (*cleanroom.Upload, *cleanroom.Job, error) {
	sp.Size = int64(len(body))
	u, err := s.Begin(ctx, sp)
	if err != nil {
		return nil, nil, err
	}
	for off := int64(0); off < sp.Size; off = u.Received {
		if u, err = s.WritePart(ctx, u, off, bytes.NewReader(body[off:min(off+s.MaxPartBytes, sp.Size)]), ""); err != nil {
			return nil, nil, err
		}
	}
	return s.queue(ctx, u, kind)
}

// Abort ends an open upload and deletes its parts.
func (s *Service) Abort(ctx context.Context, u *cleanroom.Upload) (*cleanroom.Upload, error) {
	if u.State != cleanroom.UploadOpen && u.State != cleanroom.UploadFailed {
		return nil, cleanroom.Errorf(cleanroom.ECONFLICT, "The upload is %s and cannot be aborted.", u.State)
	}
	if err := s.DeleteParts(ctx, u.ID); err != nil {
		return nil, err
	}
	st := cleanroom.UploadAborted
	return s.Store.UpdateUpload(ctx, u.ID, cleanroom.UploadUpdate{State: &st}, s.now())
}

// DeleteParts deletes an upload's part files and their records (once it is processed or given
// up).
func (s *Service) DeleteParts(ctx context.Context, uploadID string) error {
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

// DeleteAll deletes every upload to a target: the part files, then the records, so that nothing
// of them is left (not the file name, the checksum or the report). It returns how many uploads it
// deleted.
func (s *Service) DeleteAll(ctx context.Context, target cleanroom.UploadTarget, targetID string) (int, error) {
	page := cleanroom.Page{Limit: cleanroom.MaxPageLimit}
	for {
		us, next, err := s.Store.ListUploads(ctx, target, targetID, page)
		if err != nil {
			return 0, err
		}
		for _, u := range us {
			if err := s.DeleteParts(ctx, u.ID); err != nil {
				return 0, err
			}
		}
		if next == "" {
			break
		}
		page.After = next
	}
	return s.Store.DeleteUploads(ctx, target, targetID)
}
