package delivery

import (
	"context"
	"sync"

	"github.com/cleanroom-oss/cleanroom/activation"
	"github.com/cleanroom-oss/cleanroom/edge"
	"github.com/cleanroom-oss/cleanroom/versions"
)

// ActiveUsers returns a publisher's active users as the edge stored them last (counts per served
// code and the location of the sealed set), nil before the edge has stored any.
func (s *Service) ActiveUsers(ctx context.Context, publisherID string) (*activation.ActiveUsers, error) {
	return activation.ReadActiveUsers(ctx, s.Blobs, publisherID)
}

// ActiveSet returns the set of a publisher's users active in the 30 days up to the day the edge
// stored it last, and an ID of that set (it names the data of every count taken from it, for
// the disclosure gate); nil and "" before the edge has stored a set. It is the one reader of the
// sets for the cohort service (cohorts.Service.ActiveSets, wired by app), so that merging the sets
// of several edge replicas (edge.Merge) lands here.
func (s *Service) ActiveSet(ctx context.Context, publisherID string) (*edge.ActiveSet, string, error) {
	a, err := s.ActiveUsers(ctx, publisherID)
	if err != nil || a == nil || a.SetKey == "" {
		return nil, "", err
	}
	id := "active:" + a.SetKey
	s.active.mu.Lock()
	defer s.active.mu.Unlock()
	if c, ok := s.active.sets[publisherID]; ok && c.id == id {
		return c.set, id, nil
	}
	f, err := s.Versions.OpenFile(ctx, versions.Edge, versions.File{Key: a.SetKey, WrappedKey: a.WrappedKey}, edge.KindActiveSet)
	if err != nil {
		return nil, "", err
	}
	set, err := edge.ActiveSetFromFile(f)
	if err != nil {
		return nil, "", err
	}
	if s.active.sets == nil {
		s.active.sets = map[string]activeSet{}
	}
	s.active.sets[publisherID] = activeSet{id, set}
	return set, id, nil
}

// activeCache keeps the set of each publisher read last (a set is immutable: its ID names it).
type activeCache struct {
	mu   sync.Mutex
	sets map[string]activeSet
}

type activeSet struct {
	id  string
	set *edge.ActiveSet
}
