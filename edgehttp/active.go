package edgehttp

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/cleanroom-oss/cleanroom/activation"
	"github.com/cleanroom-oss/cleanroom/edge"
	"github.com/cleanroom-oss/cleanroom/versions"
)

// activeFolder holds the active-user sets among the files of the publisher's edge owner.
const activeFolder = "active/"

// storeActive stores a publisher's active users as of today: the sealed set of their hashes and
// last days (edge.ActiveSet, a file of versions.EdgeOwner under activeFolder), then the counts with the set's
// location (activation.ActiveUsers), then deletes the older sets.
func (s *Server) storeActive(ctx context.Context, id string, p *publisher, today int32) error {
	set := p.seen.Set(today)
	vs := s.opt.Versions
	f, err := vs.PutFile(ctx, versions.EdgeOwner(id), activeFolder+edge.DayString(today)+"-"+strconv.FormatInt(s.opt.Now().UnixNano(), 10), set.Write)
	if err != nil {
		return err
	}
	users, codes := edge.ActiveCounts(p.seen, p.engine.Snapshot(), today)
	a := &activation.ActiveUsers{PublisherID: id, Day: edge.DayString(today), Users: users, Codes: codes, Dropped: p.seen.Dropped(),
		SetKey: f.Key, WrappedKey: f.WrappedKey}
	if err := activation.WriteActiveUsers(ctx, vs.Blobs, a); err != nil {
		vs.DeleteFile(context.WithoutCancel(ctx), f)
		return err
	}
	keys, err := vs.Blobs.List(ctx, versions.EdgeOwner(id).Prefix()+activeFolder)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if k != f.Key {
			vs.DeleteFile(ctx, versions.File{Key: k})
		}
	}
	return nil
}

// restoreActive fills a publisher's new last-seen table from the active set the edge stored
// last (before a restart, or by another edge process on the same data directory), and returns
// that set's day (0 when none), so that the day's counts are not stored again emptier.
func (s *Server) restoreActive(ctx context.Context, id string, seen *edge.LastSeen) (int32, error) {
	a, err := activation.ReadActiveUsers(ctx, s.opt.Versions.Blobs, id)
	if err != nil || a == nil || a.SetKey == "" {
		return 0, err
	}
	f, err := s.opt.Versions.OpenFile(ctx, versions.Edge, versions.File{Key: a.SetKey, WrappedKey: a.WrappedKey}, edge.KindActiveSet)
	if err != nil {
		return 0, fmt.Errorf("edge: active users of publisher %s: %w", id, err)
	}
	set, err := edge.ActiveSetFromFile(f)
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
