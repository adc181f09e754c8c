package uploads

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/pubsync"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// UserKeyPurpose names the key, derived from the master key, under which publisher user IDs are
// hashed in the user index (raw user IDs are never stored).
const UserKeyPurpose = "publisher-user-id/v1"

// publisherLocks serialises changes to one publisher's audience within this process: each
// change reads the current version and writes the next one.
var publisherLocks sync.Map

func lockPublisher(id string) func() {
	m, _ := publisherLocks.LoadOrStore(id, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// PublisherOptions are the sync options for this deployment.
func (s *Service) PublisherOptions() pubsync.Options {
	return pubsync.Options{FingerprintKey: s.Keys.Derive(FingerprintPurpose), UserKey: s.Keys.Derive(UserKeyPurpose), MaxTypes: s.MaxIdentifierTypes}
}

// PublisherTaxonomy returns a publisher's stored custom-cohort taxonomy.
func (s *Service) PublisherTaxonomy(ctx context.Context, publisherID string) (*pubsync.Taxonomy, error) {
	return LoadPublisherTaxonomy(ctx, s.Store, publisherID)
}

// processPublisher syncs a publisher's bulk profile file into a new publisher version.
func (s *Service) processPublisher(ctx context.Context, job *cleanroom.Job, report func(cleanroom.Progress)) error {
	var args jobArgsBody
	if err := json.Unmarshal(job.Args, &args); err != nil {
		return permanent(fmt.Errorf("bad job arguments: %w", err))
	}
	u, err := s.Store.FindUpload(ctx, args.UploadID)
	if err != nil {
		return err
	}
	if u.State == cleanroom.UploadProcessed {
		return nil
	}
	defer lockPublisher(u.TargetID)()
	processing := cleanroom.UploadProcessing
	if _, err := s.Store.UpdateUpload(ctx, u.ID, cleanroom.UploadUpdate{State: &processing}, s.now()); err != nil {
		return err
	}
	tax, err := s.PublisherTaxonomy(ctx, u.TargetID)
	if err != nil {
		return s.failPublisherUpload(ctx, u, nil, err)
	}
	in, err := s.Open(ctx, u)
	if err != nil {
		return err
	}
	defer in.Close()
	opt := s.PublisherOptions()
	opt.MaxErrorRate = u.MaxErrorRate
	opt.Progress = func(p pubsync.Progress) {
		report(cleanroom.Progress{Done: min(p.Bytes, u.Size), Total: u.Size, Message: p.Phase})
	}
	v, rep, err := pubsync.Sync(ctx, in, tax, opt)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return s.failPublisherUpload(ctx, u, rep, err)
	}
	report(cleanroom.Progress{Done: u.Size, Total: u.Size, Message: "storing the version"})
	ver, err := s.storePublisherVersion(ctx, u.OrgID, u.TargetID, v, rep, u.ID)
	if err != nil {
		return err
	}
	repJSON, _ := json.Marshal(rep)
	done := cleanroom.UploadProcessed
	if _, err := s.Store.UpdateUpload(ctx, u.ID, cleanroom.UploadUpdate{State: &done, Report: repJSON, VersionID: &ver.ID}, s.now()); err != nil {
		return err
	}
	if err := s.deleteParts(ctx, u.ID); err != nil {
		return err
	}
	return s.pruneVersions(ctx, u.TargetID)
}

func (s *Service) failPublisherUpload(ctx context.Context, u *cleanroom.Upload, rep *pubsync.Report, cause error) error {
	failed := cleanroom.UploadFailed
	msg := cleanroom.ErrorText(cause)
	upd := cleanroom.UploadUpdate{State: &failed, Error: &msg}
	if rep != nil {
		upd.Report, _ = json.Marshal(rep)
	}
	if _, err := s.Store.UpdateUpload(ctx, u.ID, upd, s.now()); err != nil {
		return err
	}
	if err := s.deleteParts(ctx, u.ID); err != nil {
		return err
	}
	return permanent(cause)
}

// storePublisherVersion encrypts v under a fresh data key, stores it and makes it current.
func (s *Service) storePublisherVersion(ctx context.Context, orgID, publisherID string, v *vault.PublisherVersion, rep *pubsync.Report, uploadID string) (*cleanroom.Version, error) {
	stats, _ := json.Marshal(map[string]any{"users": v.Live(), "identifiers": v.Rows(), "cohorts": len(v.Cohorts)})
	return s.storeVersion(ctx, orgID, cleanroom.UploadPublisher, publisherID, fmt.Sprintf("vaults/%s/publisher", publisherID),
		int64(v.Rows()), stats, uploadID, v.Write)
}

// OpenVersion decrypts and loads a publisher version.
func (s *Service) OpenVersion(ctx context.Context, ver *cleanroom.Version) (*vault.PublisherVersion, error) {
	dataKey, err := s.Keys.Unwrap(ver.WrappedKey, VersionKeyLabel(ver.ID))
	if err != nil {
		return nil, err
	}
	return vault.OpenPublisher(ctx, s.Blobs, ver.BlobKey, dataKey, 0)
}

// ApplyEvents applies a batch of identify and membership events to the publisher's current
// version, producing the next version. The batch is processed in memory and never stored as is.
func (s *Service) ApplyEvents(ctx context.Context, orgID, publisherID string, batch pubsync.Batch) (*cleanroom.Version, *pubsync.Report, error) {
	defer lockPublisher(publisherID)()
	cur, err := s.Store.CurrentVersion(ctx, publisherID)
	if err != nil {
		if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
			return nil, nil, cleanroom.Errorf(cleanroom.ECONFLICT, "The publisher has no audience yet.").
				Hint("Upload a bulk profile file first (POST /v1/publisher/uploads); events update it.")
		}
		return nil, nil, err
	}
	base, err := s.OpenVersion(ctx, cur)
	if err != nil {
		return nil, nil, err
	}
	v, rep, err := pubsync.Apply(base, batch, s.PublisherOptions())
	if err != nil {
		return nil, rep, err
	}
	ver, err := s.storePublisherVersion(ctx, orgID, publisherID, v, rep, "")
	if err != nil {
		return nil, rep, err
	}
	return ver, rep, s.pruneVersions(ctx, publisherID)
}

// Erase removes users (opt-out, erasure request) from the publisher's audience: a new version
// without them, and every older version deleted, so no stored file holds them any more.
func (s *Service) Erase(ctx context.Context, orgID, publisherID string, userIDs []string) (*cleanroom.Version, int, error) {
	defer lockPublisher(publisherID)()
	cur, err := s.Store.CurrentVersion(ctx, publisherID)
	if err != nil {
		return nil, 0, err
	}
	base, err := s.OpenVersion(ctx, cur)
	if err != nil {
		return nil, 0, err
	}
	v, n, err := pubsync.Erase(base, userIDs, s.PublisherOptions())
	if err != nil {
		return nil, 0, err
	}
	ver, err := s.storePublisherVersion(ctx, orgID, publisherID, v, nil, "")
	if err != nil {
		return nil, 0, err
	}
	vs, err := s.Store.ListVersions(ctx, publisherID)
	if err != nil {
		return nil, 0, err
	}
	for _, old := range vs {
		if old.ID == ver.ID {
			continue
		}
		if err := s.Blobs.Delete(ctx, old.BlobKey); err != nil {
			return nil, 0, err
		}
		if err := s.Store.DeleteVersion(ctx, old.ID); err != nil {
			return nil, 0, err
		}
	}
	return ver, n, nil
}

// OpenAdvertiserVersion decrypts and loads a data source version.
func (s *Service) OpenAdvertiserVersion(ctx context.Context, ver *cleanroom.Version) (*vault.AdvertiserVersion, error) {
	dataKey, err := s.Keys.Unwrap(ver.WrappedKey, VersionKeyLabel(ver.ID))
	if err != nil {
		return nil, err
	}
	return vault.OpenAdvertiser(ctx, s.Blobs, ver.BlobKey, dataKey, 0)
}
