package pipeline

import (
	"context"

	"github.com/cleanroom-oss/cleanroom"
)

// PublisherBridgesOf lists the bridges registered for a publisher. Operators only.
func (s *Service) PublisherBridgesOf(ctx context.Context, c *cleanroom.Caller, publisherID string) ([]*cleanroom.Bridge, error) {
	if err := c.RequireOperator(); err != nil {
		return nil, err
	}
	return s.Store.ListBridges(ctx, publisherID)
}

// BridgeUploads lists a bridge's uploads, newest first. Operators only.
func (s *Service) BridgeUploads(ctx context.Context, c *cleanroom.Caller, bridgeID string, p cleanroom.Page) ([]*cleanroom.Upload, string, error) {
	b, err := s.OperatorBridge(ctx, c, bridgeID)
	if err != nil {
		return nil, "", err
	}
	return s.Store.ListUploads(ctx, cleanroom.UploadBridge, b.ID, p)
}

// PublisherUploads lists the uploads to the caller's publisher audience (profile files, event
// batches, erasures), newest first, each processing one with its job's progress. Publishers'
// people only.
func (s *Service) PublisherUploads(ctx context.Context, c *cleanroom.Caller, p cleanroom.Page) ([]*cleanroom.Upload, string, error) {
	if err := publisher(c); err != nil {
		return nil, "", err
	}
	if err := c.InOrg(cleanroom.RoleViewer); err != nil {
		return nil, "", err
	}
	ups, next, err := s.Store.ListUploads(ctx, cleanroom.UploadPublisher, c.OrgID(), p)
	for _, u := range ups {
		s.withProgress(ctx, u)
	}
	return ups, next, err
}
