// Package versions is the version store: the one place that writes, reads and deletes the
// encrypted bulk files of the clean room and holds their data keys. It keeps the versions of an
// owner (an advertiser's data source, a publisher's audience, an identity bridge's mapping) and
// the other sealed files an owner has (a cohort's member files; the edge's snapshots),
// over the blob store for the files and the metadata store for the version records.
//
// Every file is encrypted under a data key of its own, wrapped by the master key under a label
// that binds it to the file, so deleting the record and the file shreds it. A new version is
// written beside the current one and then made current by a compare-and-swap on the owner's
// current version (Commit): when another version became current meanwhile, Commit fails with
// ECONFLICT and the caller builds again on the new one, so no change (an erasure, say) is lost
// however many processes write.
package versions

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/keyring"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// Kind is the kind of an owner.
type Kind string

// Owner kinds. Versions have one of the first three (the version records' owner types); cohorts
// have files only.
const (
	DataSource      = Kind(cleanroom.UploadDataSource)
	Publisher       = Kind(cleanroom.UploadPublisher)
	Bridge          = Kind(cleanroom.UploadBridge)
	Cohort     Kind = "cohort"
	// Snapshot owns a publisher's edge snapshots (files only; package activation keeps the
	// record of the current one).
	Snapshot Kind = "snapshot"
	// Edge owns what edge replicas store of a publisher's traffic, sealed (files only, under
	// edges/<publisher>/; package activation keeps the pointers to the current ones).
	Edge Kind = "edge"
)

// Owner is what versions and files belong to.
type Owner struct {
	Kind Kind
	ID   string
	// OrgID is the org whose vault holds the files: the data source's, the publisher itself,
	// the bridge's publisher, the cohort's org.
	OrgID string
}

// DataSourceOwner returns the owner of a data source's versions.
func DataSourceOwner(ds *cleanroom.DataSource) Owner {
	return Owner{Kind: DataSource, ID: ds.ID, OrgID: ds.OrgID}
}

// PublisherOwner returns the owner of a publisher's audience versions.
func PublisherOwner(publisherID string) Owner {
	return Owner{Kind: Publisher, ID: publisherID, OrgID: publisherID}
}

// BridgeOwner returns the owner of a bridge's mapping versions (kept in its publisher's vault).
func BridgeOwner(b *cleanroom.Bridge) Owner {
	return Owner{Kind: Bridge, ID: b.ID, OrgID: b.PublisherID}
}

// CohortOwner returns the owner of a cohort's member files.
func CohortOwner(co *cleanroom.Cohort) Owner { return Owner{Kind: Cohort, ID: co.ID, OrgID: co.OrgID} }

// SnapshotOwner returns the owner of a publisher's edge snapshots (in the publisher's vault).
func SnapshotOwner(publisherID string) Owner {
	return Owner{Kind: Snapshot, ID: publisherID, OrgID: publisherID}
}

// EdgeOwner returns the owner of the files edge replicas store for a publisher.
func EdgeOwner(publisherID string) Owner {
	return Owner{Kind: Edge, ID: publisherID, OrgID: publisherID}
}

// Prefix returns the blob key prefix under which the owner's files are stored, ending in "/".
func (o Owner) Prefix() string {
	switch o.Kind {
	case DataSource:
		return fmt.Sprintf("vaults/%s/data-sources/%s/", o.OrgID, o.ID)
	case Publisher:
		return fmt.Sprintf("vaults/%s/publisher/", o.ID)
	case Bridge:
		return fmt.Sprintf("vaults/%s/bridges/%s/", o.OrgID, o.ID)
	}
	return fmt.Sprintf("%ss/%s/", o.Kind, o.ID)
}

// Writer writes a file encrypted under dataKey at key in blobs and returns its size; the version
// types of package vault have Write methods of this form.
type Writer func(ctx context.Context, blobs cleanroom.BlobStore, key string, dataKey []byte) (int64, error)

// Store is the version store.
type Store struct {
	Meta   cleanroom.VersionStore
	Blobs  cleanroom.BlobStore
	Keys   *keyring.Master
	Logger *slog.Logger
	Now    func() time.Time
	// AfterCommit, when set, is called after a new version became current (cohorts refresh then).
	AfterCommit func(ctx context.Context)
}

// New returns a version store.
func New(meta cleanroom.VersionStore, blobs cleanroom.BlobStore, keys *keyring.Master, logger *slog.Logger) *Store {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Store{Meta: meta, Blobs: blobs, Keys: keys, Logger: logger, Now: time.Now}
}

// versionLabel binds a version's wrapped data key to the version.
func versionLabel(versionID string) string { return "version:" + versionID }

// fileLabel binds a file's wrapped data key to its owner kind and key ("cohort:cohorts/...").
func fileLabel(k Kind, key string) string { return string(k) + ":" + key }

// Record describes a version for its record: what the API lists.
type Record struct {
	Rows     int64
	Stats    json.RawMessage
	UploadID string
}

// Draft is a version whose file is written but which is not current yet: Commit makes it current,
// Discard deletes its file.
type Draft struct {
	Owner   Owner
	id, key string
	wrapped []byte
	bytes   int64
}

// Put writes a new version's file for o under a fresh data key, to be committed.
func (s *Store) Put(ctx context.Context, o Owner, w Writer) (*Draft, error) {
	d := &Draft{Owner: o, id: uuid.Must(uuid.NewV7()).String()}
	d.key = o.Prefix() + d.id
	dataKey := keyring.NewDataKey()
	var err error
	if d.wrapped, err = s.Keys.Wrap(dataKey, versionLabel(d.id)); err != nil {
		return nil, err
	}
	if d.bytes, err = w(ctx, s.Blobs, d.key, dataKey); err != nil {
		s.Blobs.Delete(context.WithoutCancel(ctx), d.key)
		return nil, err
	}
	return d, nil
}

// Discard deletes a draft's file.
func (s *Store) Discard(ctx context.Context, d *Draft) error {
	return s.Blobs.Delete(context.WithoutCancel(ctx), d.key)
}

// Commit records the draft and makes it the owner's current version, if the owner's current
// version is still base (its ID, "" for none). Returns ECONFLICT when it is not (the details'
// "current" names the version that is): build the version again on that one, or commit the same
// draft on it when the draft does not depend on its base. The draft's file stays until Commit
// succeeds or Discard deletes it.
func (s *Store) Commit(ctx context.Context, d *Draft, base string, rec Record) (*cleanroom.Version, error) {
	v := &cleanroom.Version{ID: d.id, OrgID: d.Owner.OrgID, OwnerType: cleanroom.UploadTarget(d.Owner.Kind), OwnerID: d.Owner.ID,
		BlobKey: d.key, WrappedKey: d.wrapped, Bytes: d.bytes, Rows: rec.Rows, Stats: rec.Stats, UploadID: rec.UploadID,
		CreatedAt: cleanroom.UTC(s.Now())}
	if err := s.Meta.CreateVersion(ctx, v, base); err != nil {
		return nil, err
	}
	if s.AfterCommit != nil {
		s.AfterCommit(ctx)
	}
	return v, nil
}

// Create writes a version's file and commits it on base in one step; the file is deleted if
// the commit fails (ECONFLICT included).
func (s *Store) Create(ctx context.Context, o Owner, base string, w Writer, rec Record) (*cleanroom.Version, error) {
	d, err := s.Put(ctx, o, w)
	if err != nil {
		return nil, err
	}
	v, err := s.Commit(ctx, d, base, rec)
	if err != nil {
		s.Discard(ctx, d)
		return nil, err
	}
	return v, nil
}

// Current returns the owner's current version. Returns ENOTFOUND if it has none.
func (s *Store) Current(ctx context.Context, o Owner) (*cleanroom.Version, error) {
	return s.Meta.CurrentVersion(ctx, o.ID)
}

// Base returns the ID of the owner's current version, "" when it has none: the base of the next.
func (s *Store) Base(ctx context.Context, o Owner) (*cleanroom.Version, string, error) {
	v, err := s.Current(ctx, o)
	switch {
	case cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND:
		return nil, "", nil
	case err != nil:
		return nil, "", err
	}
	return v, v.ID, nil
}

// List returns the owner's versions, newest first.
func (s *Store) List(ctx context.Context, o Owner) ([]*cleanroom.Version, error) {
	return s.Meta.ListVersions(ctx, o.ID)
}

// Prune deletes all but the newest keep versions of the owner (at least the current one is
// kept), each file before its record.
func (s *Store) Prune(ctx context.Context, o Owner, keep int) error {
	vs, err := s.List(ctx, o)
	if err != nil {
		return err
	}
	_, base, err := s.Base(ctx, o)
	if err != nil {
		return err
	}
	kept := 0
	for _, v := range vs {
		if v.ID == base || kept < keep {
			kept++
			continue
		}
		if err := s.delete(ctx, v); err != nil {
			return err
		}
	}
	return nil
}

// PruneOlder deletes every version of the owner older than v (an erasure's: no stored file may
// still hold the erased users).
func (s *Store) PruneOlder(ctx context.Context, o Owner, v *cleanroom.Version) error {
	vs, err := s.List(ctx, o)
	if err != nil {
		return err
	}
	for _, old := range vs {
		if old.Seq < v.Seq {
			if err := s.delete(ctx, old); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Store) delete(ctx context.Context, v *cleanroom.Version) error {
	if err := s.Blobs.Delete(ctx, v.BlobKey); err != nil {
		return err
	}
	err := s.Meta.DeleteVersion(ctx, v.ID)
	if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
		return nil // deleted by another process meanwhile
	}
	return err
}

// Shred deletes everything stored for the owner: every version's file and record (its wrapped
// key with it), and every other file under the owner's prefix (drafts a crash left behind, member
// files). It returns how many versions it shredded.
func (s *Store) Shred(ctx context.Context, o Owner) (int, error) {
	vs, err := s.List(ctx, o)
	if err != nil {
		return 0, err
	}
	for _, v := range vs {
		if err := s.delete(ctx, v); err != nil {
			return 0, err
		}
	}
	keys, err := s.Blobs.List(ctx, o.Prefix())
	if err != nil {
		return 0, err
	}
	for _, k := range keys {
		if err := s.Blobs.Delete(ctx, k); err != nil {
			return 0, err
		}
	}
	return len(vs), nil
}

// Opener reads and decrypts a version's file; package vault's OpenPublisher, OpenAdvertiser and
// OpenBridge have this form.
type Opener[T any] func(ctx context.Context, blobs cleanroom.BlobStore, key string, dataKey []byte, workers int) (T, error)

// unreadable is the user-safe error for a stored file that cannot be read: the cause (a missing
// or damaged file, a wrong key) is for the log.
func (s *Store) unreadable(what, id, key string, err error) error {
	s.Logger.Error("stored file unreadable", "what", what, "id", id, "key", key, "err", err)
	return cleanroom.Errorf(cleanroom.EINTERNAL, "A stored %s could not be read; the operator can find why in the server log.", what).Wrap(err)
}

// Open decrypts and loads a version with open.
func Open[T any](ctx context.Context, s *Store, v *cleanroom.Version, open Opener[T]) (T, error) {
	var zero T
	dataKey, err := s.Keys.Unwrap(v.WrappedKey, versionLabel(v.ID))
	if err != nil {
		return zero, s.unreadable("version", v.ID, v.BlobKey, err)
	}
	x, err := open(ctx, s.Blobs, v.BlobKey, dataKey, 0)
	if err != nil {
		if ctx.Err() != nil {
			return zero, ctx.Err()
		}
		return zero, s.unreadable("version", v.ID, v.BlobKey, err)
	}
	return x, nil
}

// OpenPublisher loads a publisher version.
func (s *Store) OpenPublisher(ctx context.Context, v *cleanroom.Version) (*vault.PublisherVersion, error) {
	return Open(ctx, s, v, vault.OpenPublisher)
}

// OpenAdvertiser loads a data source version.
func (s *Store) OpenAdvertiser(ctx context.Context, v *cleanroom.Version) (*vault.AdvertiserVersion, error) {
	return Open(ctx, s, v, vault.OpenAdvertiser)
}

// OpenBridge loads a bridge version.
func (s *Store) OpenBridge(ctx context.Context, v *cleanroom.Version) (*vault.BridgeVersion, error) {
	return Open(ctx, s, v, vault.OpenBridge)
}

// File is a sealed file of an owner other than a version (a cohort's members): where it is and
// its data key, wrapped by the master key. The caller keeps both in its own record.
type File struct {
	Key        string
	WrappedKey []byte
}

// PutFile writes a file named name (unique for the owner) under a fresh data key.
func (s *Store) PutFile(ctx context.Context, o Owner, name string, w Writer) (File, error) {
	f := File{Key: o.Prefix() + name}
	dataKey := keyring.NewDataKey()
	var err error
	if f.WrappedKey, err = s.Keys.Wrap(dataKey, fileLabel(o.Kind, f.Key)); err != nil {
		return File{}, err
	}
	if _, err := w(ctx, s.Blobs, f.Key, dataKey); err != nil {
		s.Blobs.Delete(context.WithoutCancel(ctx), f.Key)
		return File{}, err
	}
	return f, nil
}

// OpenOwnedFile is OpenFile of a file that must be o's: one named by a record that is not sealed
// (the edge's manifests and replica pointers in the blob store) is refused unless it lies under
// o's prefix, so that such a record, rewritten by someone who can write the bucket, cannot make
// one owner read another's file.
func (s *Store) OpenOwnedFile(ctx context.Context, o Owner, f File, kind string) (*vault.File, error) {
	if !strings.HasPrefix(f.Key, o.Prefix()) || slices.Contains(strings.Split(f.Key, "/"), "..") {
		return nil, fmt.Errorf("versions: file %q is not one of %s %s's", f.Key, o.Kind, o.ID)
	}
	return s.OpenFile(ctx, o.Kind, f, kind)
}

// OpenFile decrypts a file of the owner's kind k that holds a vault file of the given kind.
func (s *Store) OpenFile(ctx context.Context, k Kind, f File, kind string) (*vault.File, error) {
	dataKey, err := s.Keys.Unwrap(f.WrappedKey, fileLabel(k, f.Key))
	if err != nil {
		return nil, s.unreadable("file", string(k), f.Key, err)
	}
	vf, err := vault.Open(ctx, s.Blobs, f.Key, dataKey, kind, 0)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, s.unreadable("file", string(k), f.Key, err)
	}
	return vf, nil
}

// DeleteFile deletes a file; deleting a missing one is not an error.
func (s *Store) DeleteFile(ctx context.Context, f File) error {
	return s.Blobs.Delete(ctx, f.Key)
}
