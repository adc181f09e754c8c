package pipeline

import (
	"context"
	"strings"

	"github.com/google/uuid"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/identity"
	"github.com/cleanroom-oss/cleanroom/versions"
)

// registry returns the tag registry a bridge's files are parsed with: the built-in tags plus the
// bridge's custom tags.
func registry(b *cleanroom.Bridge) (*identity.Registry, error) {
	r, err := identity.NewRegistry(b.Tags...)
	if err != nil {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "%s", strings.TrimPrefix(err.Error(), "identity: ")).With("field", "tags")
	}
	return r, nil
}

// RegisterBridge records a new bridge for a publisher (checked by the caller). Custom tags must be
// valid custom tag names.
func (s *Service) RegisterBridge(ctx context.Context, name, publisherID string, tags []string) (*cleanroom.Bridge, error) {
	name = strings.TrimSpace(name)
	if err := cleanroom.ValidateName("bridge name", name); err != nil {
		return nil, err
	}
	if tags == nil {
		tags = []string{}
	}
	b := &cleanroom.Bridge{ID: uuid.Must(uuid.NewV7()).String(), Name: name, PublisherID: publisherID, Tags: tags, CreatedAt: s.now()}
	if _, err := registry(b); err != nil {
		return nil, err
	}
	if err := s.Store.CreateBridge(ctx, b); err != nil {
		return nil, err
	}
	return b, nil
}

// Bridge returns a registered bridge. Returns ENOTFOUND if id names none.
func (s *Service) Bridge(ctx context.Context, id string) (*cleanroom.Bridge, error) {
	return s.Store.FindBridge(ctx, id)
}

// PublisherBridges returns the current versions of the bridges registered for a publisher that
// have one (a bridge whose mapping was never uploaded has none), oldest bridge first.
func (s *Service) PublisherBridges(ctx context.Context, publisherID string) ([]*cleanroom.Version, error) {
	bs, err := s.Store.ListBridges(ctx, publisherID)
	if err != nil {
		return nil, err
	}
	var out []*cleanroom.Version
	for _, b := range bs {
		v, err := s.Versions.Current(ctx, versions.BridgeOwner(b))
		if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
			continue
		} else if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
