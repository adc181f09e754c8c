package edgehttp

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cleanroom-oss/cleanroom/activation"
	"github.com/cleanroom-oss/cleanroom/edge"
	"github.com/cleanroom-oss/cleanroom/versions"
)

// storeActive stores this replica's active users as of today (sealed, as its delivery records):
// the hashes of the users seen in the last 30 days with their last days (edge.ActiveSet) and, per
// code the snapshot serves, those it serves it to. Package delivery unions the replicas' sets.
func (s *Server) storeActive(ctx context.Context, id string, p *publisher, today int32) error {
	set := p.seen.Set(today)
	_, codes := edge.ActiveSets(p.seen, p.engine.Snapshot(), today)
	f := &activation.ReplicaFile{Day: edge.DayString(today), UpdatedAt: s.opt.Now(), Dropped: p.seen.Dropped()}
	return s.storeReplicaFile(ctx, id, activation.ReplicaActiveKey(id, s.opt.EdgeID), "active", f, edge.ActiveWriter(set.Hashes, set.Days, codes))
}

// restoreActive fills a publisher's new last-seen table from the active users this replica
// stored last (before a restart), and returns their day (0 when none), so that the day's are not
// stored again emptier.
func (s *Server) restoreActive(ctx context.Context, id string, seen *edge.LastSeen) (int32, error) {
	f, err := activation.ReadReplicaFile(ctx, s.opt.Versions.Blobs, activation.ReplicaActiveKey(id, s.opt.EdgeID))
	if err != nil || f == nil {
		return 0, err
	}
	day, err := time.Parse(time.DateOnly, f.Day)
	if err != nil {
		return 0, fmt.Errorf("edge: active users of publisher %s: day %q: %w", id, f.Day, err)
	}
	vf, err := s.opt.Versions.OpenOwnedFile(ctx, versions.EdgeOwner(id), versions.File{Key: f.Key, WrappedKey: f.WrappedKey}, edge.KindActiveSets)
	if err != nil {
		return 0, fmt.Errorf("edge: active users of publisher %s: %w", id, err)
	}
	set, err := edge.ActiveSetOfReplica(vf, edge.DayOf(day, time.UTC))
	if err != nil {
		return 0, fmt.Errorf("edge: active users of publisher %s: %w", id, err)
	}
	seen.Restore(set)
	return set.Day, nil
}

var errNoPublisher = errors.New("edge: no such publisher")

// StoreActive stores one publisher's active users as of now, whether or not the day's were
// stored already (the demo's seeding, tests); Run stores them once a day by itself.
func (s *Server) StoreActive(ctx context.Context, publisherID string) error {
	p := s.get(publisherID)
	if p == nil {
		return errNoPublisher
	}
	today := edge.DayOf(s.opt.Now(), p.loc)
	if err := s.storeActive(ctx, publisherID, p, today); err != nil {
		return err
	}
	p.activeDay.Store(today)
	return nil
}
