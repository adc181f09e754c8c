package pipeline

import (
	"context"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/uploads"
)

// This file is the pipeline as an import from a bucket reaches it (package imports): the job acts
// for the party that configured the import, with no caller of its own, so the owner's checks are
// made here on the target itself.

// BeginImport opens an upload of an object taken from a bucket into sp's target (a data source
// or a publisher's audience), once the target exists and has its taxonomy. sp names the org, the
// user the upload is made for, the target, and the file.
func (s *Service) BeginImport(ctx context.Context, sp uploads.Spec) (*cleanroom.Upload, error) {
	switch sp.Target {
	case cleanroom.UploadDataSource:
		ds, err := s.Store.FindDataSource(ctx, sp.TargetID)
		if err != nil {
			return nil, err
		}
		if ds.OrgID != sp.OrgID {
			return nil, cleanroom.Errorf(cleanroom.ENOTFOUND, "Data source not found.")
		}
		if _, err := s.Store.FindTaxonomy(ctx, ds.ID); cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
			return nil, cleanroom.Errorf(cleanroom.ECONFLICT, "Data source %q has no taxonomy yet, so its files cannot be processed.", ds.Name).
				Hint("Upload the segment taxonomy CSV (segment_id,segment_name) on the data source's page or with PUT /v1/data-sources/%s/taxonomy, then run the import again.", ds.ID)
		} else if err != nil {
			return nil, err
		}
	case cleanroom.UploadPublisher:
		org, err := s.Store.FindOrg(ctx, sp.TargetID)
		if err != nil {
			return nil, err
		}
		if err := publisher(&cleanroom.Caller{Org: org}); err != nil {
			return nil, err
		}
		if _, err := s.Store.FindTaxonomy(ctx, org.ID); cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
			return nil, cleanroom.Errorf(cleanroom.ECONFLICT, "There is no cohort taxonomy yet, so profile files cannot be processed.").
				Hint("Upload it first with PUT /v1/publisher/taxonomy (cohort_id,name,iab_id,standard), then run the import again.")
		} else if err != nil {
			return nil, err
		}
	default:
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "Files of kind %q are not imported from buckets.", sp.Target)
	}
	return s.Uploads.Begin(ctx, sp)
}

// QueueUpload checks that every byte of an upload arrived and queues its processing, as Complete
// does for a caller's upload; a data source then reads processing.
func (s *Service) QueueUpload(ctx context.Context, u *cleanroom.Upload) (*cleanroom.Upload, error) {
	u, err := s.Uploads.Complete(ctx, u)
	if err != nil {
		return nil, err
	}
	if u.Target == cleanroom.UploadDataSource {
		st := cleanroom.DataSourceProcessing
		if _, err := s.Store.UpdateDataSource(ctx, u.TargetID, cleanroom.DataSourceUpdate{Status: &st}, s.now()); err != nil {
			return nil, err
		}
	}
	return u, nil
}
