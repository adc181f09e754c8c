package uploads

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/bridge"
	"github.com/cleanroom-oss/cleanroom/identity"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// bridgeKind marks a stored taxonomy as a bridge registration.
const bridgeKind = "bridge"

// BridgeRegistration is an identity bridge provider registered by the operator for a publisher.
// The mapping it uploads is the publisher's vault data: its uploads and versions belong to the
// publisher's org, with the bridge as their target and owner. It is stored as the taxonomy of the
// bridge's ID (no table of its own).
type BridgeRegistration struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	PublisherID string    `json:"publisher_id"`
	Tags        []string  `json:"tags"`
	CreatedAt   time.Time `json:"created_at"`
}

// storedBridge is a registration as stored: marked so that no other taxonomy reads as one.
type storedBridge struct {
	Kind string `json:"kind"`
	BridgeRegistration
}

// Registry returns the tag registry the bridge's files are parsed with: the built-in tags plus
// the bridge's custom tags.
func (b *BridgeRegistration) Registry() (*identity.Registry, error) {
	r, err := identity.NewRegistry(b.Tags...)
	if err != nil {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "%s", strings.TrimPrefix(err.Error(), "identity: ")).With("field", "tags")
	}
	return r, nil
}

// RegisterBridge records a new bridge for a publisher (checked by the caller). Custom tags must
// be valid custom tag names.
func (s *Service) RegisterBridge(ctx context.Context, name, publisherID string, tags []string) (*BridgeRegistration, error) {
	name = strings.TrimSpace(name)
	if err := cleanroom.ValidateName("bridge name", name); err != nil {
		return nil, err
	}
	if tags == nil {
		tags = []string{}
	}
	b := &BridgeRegistration{ID: uuid.Must(uuid.NewV7()).String(), Name: name, PublisherID: publisherID, Tags: tags, CreatedAt: s.now()}
	if _, err := b.Registry(); err != nil {
		return nil, err
	}
	body, err := json.Marshal(storedBridge{bridgeKind, *b})
	if err != nil {
		return nil, err
	}
	if err := s.Store.PutTaxonomy(ctx, b.ID, body, s.now()); err != nil {
		return nil, err
	}
	defer lockPublisher(publisherID)()
	ids, err := s.publisherBridgeIDs(ctx, publisherID)
	if err != nil {
		return nil, err
	}
	list, err := json.Marshal(append(ids, b.ID))
	if err != nil {
		return nil, err
	}
	if err := s.Store.PutTaxonomy(ctx, bridgeListKey(publisherID), list, s.now()); err != nil {
		return nil, err
	}
	return b, nil
}

// bridgeListKey is where the IDs of a publisher's bridges are stored (as a taxonomy record).
func bridgeListKey(publisherID string) string { return "bridges-of:" + publisherID }

// publisherBridgeIDs returns the IDs of the bridges registered for a publisher, oldest first.
func (s *Service) publisherBridgeIDs(ctx context.Context, publisherID string) ([]string, error) {
	body, err := s.Store.FindTaxonomy(ctx, bridgeListKey(publisherID))
	if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
		return []string{}, nil
	} else if err != nil {
		return nil, err
	}
	var ids []string
	if err := json.Unmarshal(body, &ids); err != nil {
		return nil, fmt.Errorf("uploads: bridges of %s: %w", publisherID, err)
	}
	return ids, nil
}

// PublisherBridges returns the current versions of the bridges registered for a publisher that
// have one (a bridge whose mapping was never uploaded has none).
func (s *Service) PublisherBridges(ctx context.Context, publisherID string) ([]*cleanroom.Version, error) {
	ids, err := s.publisherBridgeIDs(ctx, publisherID)
	if err != nil {
		return nil, err
	}
	var out []*cleanroom.Version
	for _, id := range ids {
		v, err := s.Store.CurrentVersion(ctx, id)
		if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
			continue
		} else if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Bridge returns a registered bridge. Returns ENOTFOUND if id names none.
func (s *Service) Bridge(ctx context.Context, id string) (*BridgeRegistration, error) {
	body, err := s.Store.FindTaxonomy(ctx, id)
	if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
		return nil, cleanroom.Errorf(cleanroom.ENOTFOUND, "Bridge not found.")
	} else if err != nil {
		return nil, err
	}
	var sb storedBridge
	if json.Unmarshal(body, &sb) != nil || sb.Kind != bridgeKind || sb.ID != id {
		return nil, cleanroom.Errorf(cleanroom.ENOTFOUND, "Bridge not found.")
	}
	b := &sb.BridgeRegistration
	if b.Tags == nil {
		b.Tags = []string{}
	}
	return b, nil
}

// OpenBridgeVersion decrypts and loads a bridge version.
func (s *Service) OpenBridgeVersion(ctx context.Context, ver *cleanroom.Version) (*vault.BridgeVersion, error) {
	dataKey, err := s.Keys.Unwrap(ver.WrappedKey, VersionKeyLabel(ver.ID))
	if err != nil {
		return nil, err
	}
	return vault.OpenBridge(ctx, s.Blobs, ver.BlobKey, dataKey, 0)
}

// processBridge parses a bridge provider's mapping file into a new bridge version, stored in the
// publisher's vault. On failure the bridge keeps its previous version.
func (s *Service) processBridge(ctx context.Context, job *cleanroom.Job, report func(cleanroom.Progress)) error {
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
	defer lockPublisher(u.TargetID)() // one change at a time per bridge
	processing := cleanroom.UploadProcessing
	if _, err := s.Store.UpdateUpload(ctx, u.ID, cleanroom.UploadUpdate{State: &processing}, s.now()); err != nil {
		return err
	}
	b, err := s.Bridge(ctx, u.TargetID)
	if err == nil && b.PublisherID != u.OrgID {
		err = cleanroom.Errorf(cleanroom.EINVALID, "The upload does not belong to the bridge's publisher.")
	}
	if err != nil {
		if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
			err = cleanroom.Errorf(cleanroom.EINVALID, "The bridge is no longer registered.")
		}
		return s.failBridgeUpload(ctx, u, nil, err)
	}
	reg, err := b.Registry()
	if err != nil {
		return s.failBridgeUpload(ctx, u, nil, err)
	}
	in, err := s.Open(ctx, u)
	if err != nil {
		return err
	}
	defer in.Close()
	report(cleanroom.Progress{Done: 0, Total: u.Size, Message: "reading"})
	v, rep, err := bridge.Parse(ctx, in, bridge.Options{Registry: reg, FingerprintKey: s.Keys.Derive(FingerprintPurpose), MaxErrorRate: u.MaxErrorRate})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return s.failBridgeUpload(ctx, u, rep, err)
	}
	report(cleanroom.Progress{Done: u.Size, Total: u.Size, Message: "storing the version"})
	stats, _ := json.Marshal(map[string]any{"pairs": rep.Pairs, "links": v.Rows()})
	ver, err := s.storeVersion(ctx, u.OrgID, cleanroom.UploadBridge, b.ID, fmt.Sprintf("vaults/%s/bridges/%s", u.OrgID, b.ID),
		int64(v.Rows()), stats, u.ID, v.Write)
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
	return s.pruneVersions(ctx, b.ID)
}

// failBridgeUpload records the report, then fails the upload as a publisher upload fails.
func (s *Service) failBridgeUpload(ctx context.Context, u *cleanroom.Upload, rep *bridge.Report, cause error) error {
	if rep != nil {
		repJSON, _ := json.Marshal(rep)
		if _, err := s.Store.UpdateUpload(ctx, u.ID, cleanroom.UploadUpdate{Report: repJSON}, s.now()); err != nil {
			return err
		}
	}
	return s.failPublisherUpload(ctx, u, nil, cause)
}
