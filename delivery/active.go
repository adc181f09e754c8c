package delivery

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cleanroom-oss/cleanroom/activation"
	"github.com/cleanroom-oss/cleanroom/edge"
	"github.com/cleanroom-oss/cleanroom/versions"
)

// ActiveSet returns the set of a publisher's users active in the 30 days up to the latest day
// the edge replicas stored them (the union of the replicas that stored that day: a user seen by
// two counts once), and an ID of that set (it names the data of every count taken from it, for
// the disclosure gate); nil and "" before any edge has stored active users. It is the one reader
// of the sets for the cohort service (cohorts.Service.ActiveSets, wired by app).
func (s *Service) ActiveSet(ctx context.Context, publisherID string) (*edge.ActiveSet, string, error) {
	rf, err := activation.ReadReplicaFiles(ctx, s.Blobs, publisherID, "", "") // no delivery days
	if err != nil {
		return nil, "", err
	}
	day := ""
	for _, f := range rf.Active {
		day = max(day, f.Day)
	}
	var files []activation.ReplicaFile
	for _, f := range rf.Active {
		if f.Day == day {
			files = append(files, f) // a replica that stopped: its users are days old
		}
	}
	if len(files) == 0 {
		return s.legacyActiveSet(ctx, publisherID)
	}
	slices.SortFunc(files, func(a, b activation.ReplicaFile) int { return strings.Compare(a.Key, b.Key) })
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintln(h, f.Key)
	}
	id := "active:" + hex.EncodeToString(h.Sum(nil)[:16])
	if set, ok := s.active.get(publisherID, id); ok {
		return set, id, nil
	}
	t, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return nil, "", fmt.Errorf("delivery: active users of %s: day %q: %w", publisherID, day, err)
	}
	var sets []*edge.ActiveSet
	for _, f := range files {
		vf, err := s.Versions.OpenOwnedFile(ctx, versions.EdgeOwner(publisherID), versions.File{Key: f.Key, WrappedKey: f.WrappedKey}, edge.KindActiveSets)
		if err != nil {
			return nil, "", err
		}
		set, err := edge.ActiveSetOfReplica(vf, edge.DayOf(t, time.UTC))
		if err != nil {
			return nil, "", fmt.Errorf("delivery: active users of edge %s: %w", f.EdgeID, err)
		}
		sets = append(sets, set)
	}
	set := edge.Merge(sets...)
	s.active.put(publisherID, id, set)
	return set, id, nil
}

// legacyActiveSet reads the set an edge of an earlier release stored (activation.ActiveUsers
// with the set's location).
func (s *Service) legacyActiveSet(ctx context.Context, publisherID string) (*edge.ActiveSet, string, error) {
	a, err := activation.ReadActiveUsers(ctx, s.Blobs, publisherID)
	if err != nil || a == nil || a.SetKey == "" {
		return nil, "", err
	}
	id := "active:" + a.SetKey
	if set, ok := s.active.get(publisherID, id); ok {
		return set, id, nil
	}
	f, err := s.Versions.OpenOwnedFile(ctx, versions.EdgeOwner(publisherID), versions.File{Key: a.SetKey, WrappedKey: a.WrappedKey}, edge.KindActiveSet)
	if err != nil {
		return nil, "", err
	}
	set, err := edge.ActiveSetFromFile(f)
	if err != nil {
		return nil, "", err
	}
	s.active.put(publisherID, id, set)
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

func (c *activeCache) get(publisherID, id string) (*edge.ActiveSet, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if a, ok := c.sets[publisherID]; ok && a.id == id {
		return a.set, true
	}
	return nil, false
}

func (c *activeCache) put(publisherID, id string, set *edge.ActiveSet) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sets == nil {
		c.sets = map[string]activeSet{}
	}
	c.sets[publisherID] = activeSet{id, set}
}
