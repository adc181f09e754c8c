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
