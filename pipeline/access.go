package pipeline

import (
	"context"
	"io"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/ingest"
	"github.com/cleanroom-oss/cleanroom/pubsync"
	"github.com/cleanroom-oss/cleanroom/uploads"
	"github.com/cleanroom-oss/cleanroom/versions"
)

// This file is the pipeline as callers reach it: every operation takes the caller and applies
// the rules of who may send, see and change which data, so that the API and the dashboard only
// translate requests. Data sources' rules are the connections service's (Conns).

// publisher returns EFORBIDDEN unless the caller acts in a publisher with the clean room enabled.
func publisher(c *cleanroom.Caller) error {
	if c.Org == nil || c.Org.Kind != cleanroom.OrgPublisher {
		return cleanroom.Errorf(cleanroom.EFORBIDDEN, "Audience sync is done in a publisher's supply-side workspace.").
			Hint("Switch to the publisher's organization.")
	}
	if !c.Org.CleanRoomEnabled() {
		return cleanroom.Errorf(cleanroom.EFORBIDDEN, "The clean room is not enabled for %s.", c.Org.Name).
			Hint("Ask the operator to enable it; that creates the vault your audience is kept in.")
	}
	return nil
}

// publisherWriter returns EFORBIDDEN unless the caller may change the publisher's audience: a
// member or admin of a publisher with the clean room enabled.
func publisherWriter(c *cleanroom.Caller) error {
	if err := publisher(c); err != nil {
		return err
	}
	return c.InOrg(cleanroom.RoleMember)
}

// BeginDataSourceUpload opens an upload of a file to a data source the caller manages, once the
// data source has a taxonomy.
func (s *Service) BeginDataSourceUpload(ctx context.Context, c *cleanroom.Caller, dataSourceID string, sp uploads.Spec) (*cleanroom.Upload, error) {
	ds, err := s.Conns.ManagedDataSource(ctx, c, dataSourceID)
	if err != nil {
		return nil, err
	}
	if _, err := s.Store.FindTaxonomy(ctx, ds.ID); cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
		return nil, cleanroom.Errorf(cleanroom.ECONFLICT, "Data source %q has no taxonomy yet.", ds.Name).
			Hint("Upload the segment taxonomy CSV (segment_id,segment_name) first: on the data source's page in the dashboard, or with PUT /v1/data-sources/%s/taxonomy.", ds.ID)
	} else if err != nil {
		return nil, err
	}
	sp.OrgID, sp.UserID, sp.Target, sp.TargetID = c.OrgID(), c.UserID(), cleanroom.UploadDataSource, ds.ID
	return s.Uploads.Begin(ctx, sp)
}

// BeginPublisherUpload opens an upload of a profile file to the caller's publisher audience,
// once the publisher has a cohort taxonomy.
func (s *Service) BeginPublisherUpload(ctx context.Context, c *cleanroom.Caller, sp uploads.Spec) (*cleanroom.Upload, error) {
	if err := publisherWriter(c); err != nil {
		return nil, err
	}
	if _, err := s.Store.FindTaxonomy(ctx, c.OrgID()); cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
		return nil, cleanroom.Errorf(cleanroom.ECONFLICT, "There is no cohort taxonomy yet.").
			Hint("Upload it first with PUT /v1/publisher/taxonomy (cohort_id,name,iab_id,standard).")
	} else if err != nil {
		return nil, err
	}
	sp.OrgID, sp.UserID, sp.Target, sp.TargetID = c.OrgID(), c.UserID(), cleanroom.UploadPublisher, c.OrgID()
	return s.Uploads.Begin(ctx, sp)
}

// BeginBridgeUpload opens an upload of a bridge's mapping, kept in its publisher's vault.
// Operators only.
func (s *Service) BeginBridgeUpload(ctx context.Context, c *cleanroom.Caller, bridgeID string, sp uploads.Spec) (*cleanroom.Upload, *cleanroom.Bridge, error) {
	b, err := s.OperatorBridge(ctx, c, bridgeID)
	if err != nil {
		return nil, nil, err
	}
	sp.OrgID, sp.UserID, sp.Target, sp.TargetID = b.PublisherID, c.UserID(), cleanroom.UploadBridge, b.ID
	u, err := s.Uploads.Begin(ctx, sp)
	return u, b, err
}

// Upload returns an upload the caller may see, or with write set change (send parts, complete,
// abort): one of its org's, whose data source it reads (writes: manages), whose publisher
// audience it may change, or, for an identity bridge's mapping, an operator's. Everything else is
// not found. A processing upload carries its job's progress.
func (s *Service) Upload(ctx context.Context, c *cleanroom.Caller, id string, write bool) (*cleanroom.Upload, error) {
	notFound := cleanroom.Errorf(cleanroom.ENOTFOUND, "Upload not found.")
	u, err := s.Store.FindUpload(ctx, id)
	if err != nil {
		return nil, err
	}
	if u.Target == cleanroom.UploadBridge {
		// An identity bridge's mapping is the operator's to handle, wherever the operator acts
		// (operators register bridges for any publisher); nobody else's.
		if c.RequireOperator() != nil {
			return nil, notFound
		}
	} else if c.OrgID() == "" || u.OrgID != c.OrgID() {
		return nil, notFound
	}
	switch u.Target {
	case cleanroom.UploadDataSource:
		if write {
			_, err = s.Conns.ManagedDataSource(ctx, c, u.TargetID)
		} else {
			_, _, err = s.Conns.ReadableDataSource(ctx, c, u.TargetID)
		}
		if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
			return nil, notFound
		} else if err != nil {
			return nil, err
		}
	case cleanroom.UploadPublisher:
		if c.Role == cleanroom.RoleLimited {
			return nil, notFound
		}
		if write {
			if err := publisherWriter(c); err != nil {
				return nil, err
			}
		}
	}
	if !write {
		s.withProgress(ctx, u)
	}
	return u, nil
}

// withProgress sets a processing upload's progress from its job.
func (s *Service) withProgress(ctx context.Context, u *cleanroom.Upload) {
	if u.JobID == 0 || (u.State != cleanroom.UploadComplete && u.State != cleanroom.UploadProcessing) {
		return
	}
	if j, err := s.Store.FindJob(ctx, u.JobID); err == nil {
		u.Progress = &cleanroom.Progress{Done: j.ProgressDone, Total: j.ProgressTotal, Message: j.Message}
	}
}

// WritePart stores one part of an upload the caller may change.
func (s *Service) WritePart(ctx context.Context, c *cleanroom.Caller, id string, offset int64, r io.Reader, partSHA string) (*cleanroom.Upload, error) {
	u, err := s.Upload(ctx, c, id, true)
	if err != nil {
		return nil, err
	}
	return s.Uploads.WritePart(ctx, u, offset, r, partSHA)
}

// Complete checks an upload the caller may change and queues its processing; a data source then
// reads processing.
func (s *Service) Complete(ctx context.Context, c *cleanroom.Caller, id string) (*cleanroom.Upload, error) {
	u, err := s.Upload(ctx, c, id, true)
	if err != nil {
		return nil, err
	}
	return s.QueueUpload(ctx, u)
}

// Abort abandons an open upload the caller may change and deletes its parts.
func (s *Service) Abort(ctx context.Context, c *cleanroom.Caller, id string) (*cleanroom.Upload, error) {
	u, err := s.Upload(ctx, c, id, true)
	if err != nil {
		return nil, err
	}
	return s.Uploads.Abort(ctx, u)
}

// DataSourceUploads lists the uploads of a data source whose contents the caller reads, newest
// first, with the progress of those processing.
func (s *Service) DataSourceUploads(ctx context.Context, c *cleanroom.Caller, dataSourceID string, p cleanroom.Page) ([]*cleanroom.Upload, string, error) {
	ds, _, err := s.Conns.ReadableDataSource(ctx, c, dataSourceID)
	if err != nil {
		return nil, "", err
	}
	us, next, err := s.Store.ListUploads(ctx, cleanroom.UploadDataSource, ds.ID, p)
	for _, u := range us {
		s.withProgress(ctx, u)
	}
	return us, next, err
}

// DataSourceVersions lists the versions of a data source whose contents the caller reads.
func (s *Service) DataSourceVersions(ctx context.Context, c *cleanroom.Caller, dataSourceID string) ([]*cleanroom.Version, error) {
	ds, _, err := s.Conns.ReadableDataSource(ctx, c, dataSourceID)
	if err != nil {
		return nil, err
	}
	return s.Versions.List(ctx, versions.DataSourceOwner(ds))
}

// SetDataSourceTaxonomy replaces the segment taxonomy of a data source the caller manages.
func (s *Service) SetDataSourceTaxonomy(ctx context.Context, c *cleanroom.Caller, dataSourceID string, tax *ingest.Taxonomy) (*cleanroom.DataSource, error) {
	ds, err := s.Conns.ManagedDataSource(ctx, c, dataSourceID)
	if err != nil {
		return nil, err
	}
	return ds, PutDataSourceTaxonomy(ctx, s.Store, ds.ID, tax, s.now())
}

// DataSourceSegments returns the segment taxonomy of a data source whose contents the caller
// reads. Returns ENOTFOUND when it has none.
func (s *Service) DataSourceSegments(ctx context.Context, c *cleanroom.Caller, dataSourceID string) (*ingest.Taxonomy, *cleanroom.DataSource, error) {
	ds, _, err := s.Conns.ReadableDataSource(ctx, c, dataSourceID)
	if err != nil {
		return nil, nil, err
	}
	tax, err := DataSourceTaxonomy(ctx, s.Store, ds.ID)
	return tax, ds, err
}

// UnlinkDataSource unlinks a data source the caller manages (see Unlink) and returns it with the
// number of versions shredded.
func (s *Service) UnlinkDataSource(ctx context.Context, c *cleanroom.Caller, dataSourceID string) (*cleanroom.DataSource, int, error) {
	ds, err := s.Conns.ManagedDataSource(ctx, c, dataSourceID)
	if err != nil {
		return nil, 0, err
	}
	n, err := s.Unlink(ctx, ds)
	return ds, n, err
}

// SetPublisherTaxonomy replaces the caller's publisher cohort taxonomy.
func (s *Service) SetPublisherTaxonomy(ctx context.Context, c *cleanroom.Caller, tax *pubsync.Taxonomy) error {
	if err := publisherWriter(c); err != nil {
		return err
	}
	return PutPublisherTaxonomy(ctx, s.Store, c.OrgID(), tax, s.now())
}

// PublisherTaxonomyOf returns the caller's publisher cohort taxonomy. Returns ENOTFOUND when it
// has none.
func (s *Service) PublisherTaxonomyOf(ctx context.Context, c *cleanroom.Caller) (*pubsync.Taxonomy, error) {
	if err := publisher(c); err != nil {
		return nil, err
	}
	return LoadPublisherTaxonomy(ctx, s.Store, c.OrgID())
}

// PublisherVersions lists the versions of the caller's publisher audience.
func (s *Service) PublisherVersions(ctx context.Context, c *cleanroom.Caller) ([]*cleanroom.Version, error) {
	if err := publisher(c); err != nil {
		return nil, err
	}
	return s.Versions.List(ctx, versions.PublisherOwner(c.OrgID()))
}

// SendEvents queues a batch of events for the caller's publisher audience (see SubmitEvents).
func (s *Service) SendEvents(ctx context.Context, c *cleanroom.Caller, batch pubsync.Batch) (*cleanroom.Job, error) {
	if err := publisherWriter(c); err != nil {
		return nil, err
	}
	return s.SubmitEvents(ctx, c.OrgID(), c.UserID(), batch)
}

// RequestErasures queues the erasure of users from the caller's publisher audience (see
// SubmitErasures).
func (s *Service) RequestErasures(ctx context.Context, c *cleanroom.Caller, req ErasureRequest) (*cleanroom.Job, error) {
	if err := publisherWriter(c); err != nil {
		return nil, err
	}
	return s.SubmitErasures(ctx, c.OrgID(), c.UserID(), req)
}

// RegisterPublisherBridge registers an identity bridge for a publisher with the clean room
// enabled. Operators only.
func (s *Service) RegisterPublisherBridge(ctx context.Context, c *cleanroom.Caller, name, publisherID string, tags []string) (*cleanroom.Bridge, error) {
	if err := c.RequireOperator(); err != nil {
		return nil, err
	}
	if !cleanroom.IsID(publisherID) {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "publisher_id must be the ID of the publisher the mapping is for.").With("field", "publisher_id")
	}
	pub, err := s.Store.FindOrg(ctx, publisherID)
	if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "There is no organization %s.", publisherID).With("field", "publisher_id")
	} else if err != nil {
		return nil, err
	}
	if pub.Kind != cleanroom.OrgPublisher || !pub.CleanRoomEnabled() {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "%s is not a publisher with the clean room enabled.", pub.Name).With("field", "publisher_id").
			Hint("A bridge's mapping is kept in a publisher's vault: enable the clean room for the publisher first.")
	}
	return s.RegisterBridge(ctx, name, pub.ID, tags)
}

// OperatorBridge returns a registered bridge. Operators only.
func (s *Service) OperatorBridge(ctx context.Context, c *cleanroom.Caller, id string) (*cleanroom.Bridge, error) {
	if err := c.RequireOperator(); err != nil {
		return nil, err
	}
	return s.Bridge(ctx, id)
}

// BridgeVersions lists a bridge's versions. Operators only.
func (s *Service) BridgeVersions(ctx context.Context, c *cleanroom.Caller, b *cleanroom.Bridge) ([]*cleanroom.Version, error) {
	if err := c.RequireOperator(); err != nil {
		return nil, err
	}
	return s.Versions.List(ctx, versions.BridgeOwner(b))
}
