package uploads

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/ingest"
	"github.com/cleanroom-oss/cleanroom/jobs"
	"github.com/cleanroom-oss/cleanroom/keyring"
)

// FingerprintPurpose names the key, derived from the master key, under which identifiers are
// fingerprinted. Changing it would make every stored version unmatchable.
const FingerprintPurpose = "identity-fingerprint/v1"

// VersionKeyLabel binds a version's wrapped data key to the version.
func VersionKeyLabel(versionID string) string { return "version:" + versionID }

// keepVersions is how many versions of a data source are kept: the current one and the one
// before it (for comparison and rollback).
const keepVersions = 2

// Register adds the upload processing handlers to r.
func (s *Service) Register(r *jobs.Runner) {
	r.Register(JobKind(cleanroom.UploadDataSource), s.processDataSource)
	r.Register(JobKind(cleanroom.UploadPublisher), s.processPublisher)
	r.Register(JobKind(cleanroom.UploadBridge), s.processBridge)
}

type jobArgsBody struct {
	UploadID string `json:"upload_id"`
}

// permanent marks an error retrying cannot fix (the jobs package treats EINVALID that way).
func permanent(err error) error {
	var e *cleanroom.Error
	if errors.As(err, &e) && e.Code == cleanroom.EINVALID {
		return err
	}
	return cleanroom.Errorf(cleanroom.EINVALID, "%s", cleanroom.ErrorMessage(err)).Wrap(err)
}

// processDataSource ingests an advertiser data file into a new data source version. On failure
// the data source keeps its previous version, and the upload keeps the report saying why.
func (s *Service) processDataSource(ctx context.Context, job *cleanroom.Job, report func(cleanroom.Progress)) error {
	var args jobArgsBody
	if err := json.Unmarshal(job.Args, &args); err != nil {
		return permanent(fmt.Errorf("bad job arguments: %w", err))
	}
	u, err := s.Store.FindUpload(ctx, args.UploadID)
	if err != nil {
		return err
	}
	if u.State == cleanroom.UploadProcessed {
		return nil // a retry after the work was recorded
	}
	ds, err := s.Store.FindDataSource(ctx, u.TargetID)
	if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
		return permanent(cleanroom.Errorf(cleanroom.EINVALID, "The data source was unlinked before its upload was processed."))
	} else if err != nil {
		return err
	}
	processing := cleanroom.UploadProcessing
	if _, err := s.Store.UpdateUpload(ctx, u.ID, cleanroom.UploadUpdate{State: &processing}, s.now()); err != nil {
		return err
	}
	tax, err := DataSourceTaxonomy(ctx, s.Store, ds.ID)
	if err != nil {
		return s.failUpload(ctx, u, ds, nil, err)
	}
	in, err := s.Open(ctx, u)
	if err != nil {
		return err
	}
	defer in.Close()
	report(cleanroom.Progress{Done: 0, Total: u.Size, Message: "reading"})
	v, rep, err := ingest.Advertiser(ctx, in, tax, ingest.Options{
		FingerprintKey: s.Keys.Derive(FingerprintPurpose),
		MaxErrorRate:   u.MaxErrorRate,
		Progress: func(p ingest.Progress) {
			report(cleanroom.Progress{Done: min(p.BytesRead, u.Size), Total: u.Size, Message: fmt.Sprintf("%d rows read", p.Rows)})
		},
	})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return s.failUpload(ctx, u, ds, rep, err)
	}
	report(cleanroom.Progress{Done: u.Size, Total: u.Size, Message: "storing the version"})
	repJSON, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	stats, _ := json.Marshal(map[string]any{"per_tag": rep.PerTag, "per_segment": rep.PerSegment, "rows_accepted": rep.RowsAccepted})
	ver, err := s.storeVersion(ctx, ds.OrgID, cleanroom.UploadDataSource, ds.ID, fmt.Sprintf("vaults/%s/data-sources/%s", ds.OrgID, ds.ID),
		int64(len(v.FPs)), stats, u.ID, v.Write)
	if err != nil {
		return err
	}
	vid := ver.ID
	// The version is in place: record the outcome, then clean up.
	done := cleanroom.UploadProcessed
	if _, err := s.Store.UpdateUpload(ctx, u.ID, cleanroom.UploadUpdate{State: &done, Report: repJSON, VersionID: &vid}, s.now()); err != nil {
		return err
	}
	ready := cleanroom.DataSourceReady
	if _, err := s.Store.UpdateDataSource(ctx, ds.ID, cleanroom.DataSourceUpdate{Status: &ready}, s.now()); err != nil {
		return err
	}
	if err := s.deleteParts(ctx, u.ID); err != nil {
		return err
	}
	return s.pruneVersions(ctx, ds.ID)
}

// failUpload records a processing failure: the report and error on the upload, the data source
// back to ready (its previous version stays in use) or failed when it has none.
func (s *Service) failUpload(ctx context.Context, u *cleanroom.Upload, ds *cleanroom.DataSource, rep *ingest.Report, cause error) error {
	failed := cleanroom.UploadFailed
	msg := cleanroom.ErrorText(cause)
	upd := cleanroom.UploadUpdate{State: &failed, Error: &msg}
	if rep != nil {
		upd.Report, _ = json.Marshal(rep)
	}
	if _, err := s.Store.UpdateUpload(ctx, u.ID, upd, s.now()); err != nil {
		return err
	}
	st := cleanroom.DataSourceFailed
	if _, err := s.Store.CurrentVersion(ctx, ds.ID); err == nil {
		st = cleanroom.DataSourceReady
	}
	if _, err := s.Store.UpdateDataSource(ctx, ds.ID, cleanroom.DataSourceUpdate{Status: &st}, s.now()); err != nil {
		return err
	}
	if err := s.deleteParts(ctx, u.ID); err != nil {
		return err
	}
	return permanent(cause)
}

// pruneVersions deletes all but the newest keepVersions versions of an owner, file first.
func (s *Service) pruneVersions(ctx context.Context, ownerID string) error {
	vs, err := s.Store.ListVersions(ctx, ownerID)
	if err != nil {
		return err
	}
	for i, v := range vs {
		if i < keepVersions {
			continue
		}
		if err := s.Blobs.Delete(ctx, v.BlobKey); err != nil {
			return err
		}
		if err := s.Store.DeleteVersion(ctx, v.ID); err != nil {
			return err
		}
	}
	return nil
}

// storeVersion encrypts a version file under a fresh data key (write stores it at the key it is
// given), records it and makes it the owner's current version. The file is removed if the record
// cannot be made.
func (s *Service) storeVersion(ctx context.Context, orgID string, ownerType cleanroom.UploadTarget, ownerID, keyPrefix string,
	rows int64, stats json.RawMessage, uploadID string,
	write func(ctx context.Context, blobs cleanroom.BlobStore, key string, dataKey []byte) (int64, error)) (*cleanroom.Version, error) {
	vid := uuid.Must(uuid.NewV7()).String()
	dataKey := keyring.NewDataKey()
	wrapped, err := s.Keys.Wrap(dataKey, VersionKeyLabel(vid))
	if err != nil {
		return nil, err
	}
	key := keyPrefix + "/" + vid
	n, err := write(ctx, s.Blobs, key, dataKey)
	if err != nil {
		return nil, err
	}
	ver := &cleanroom.Version{ID: vid, OrgID: orgID, OwnerType: ownerType, OwnerID: ownerID,
		BlobKey: key, WrappedKey: wrapped, Bytes: n, Rows: rows, Stats: stats, UploadID: uploadID, CreatedAt: s.now()}
	if err := s.Store.CreateVersion(ctx, ver); err != nil {
		s.Blobs.Delete(context.WithoutCancel(ctx), key)
		return nil, err
	}
	if s.AfterVersion != nil {
		s.AfterVersion(ctx)
	}
	return ver, nil
}
