package cohorts

import (
	"context"
	"sync"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/match"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// cache keeps recently used decrypted versions (they are immutable, so a version ID names its
// content for good). Builds of several cohorts over one publisher then decrypt its audience
// once. Entries are evicted least recently used first.
type cache struct {
	mu      sync.Mutex
	max     int
	tick    int64
	entries map[string]*entry
}

type entry struct {
	once sync.Once
	used int64
	val  any
	err  error
}

func newCache(n int) *cache { return &cache{max: n, entries: map[string]*entry{}} }

// get returns the value for a version, loading it once.
func (c *cache) get(id string, load func() (any, error)) (any, error) {
	c.mu.Lock()
	e, ok := c.entries[id]
	if !ok {
		e = &entry{}
		c.entries[id] = e
		for len(c.entries) > c.max {
			var oldest string
			var at int64 = -1
			for k, v := range c.entries {
				if k != id && (at < 0 || v.used < at) {
					oldest, at = k, v.used
				}
			}
			delete(c.entries, oldest)
		}
	}
	c.tick++
	e.used = c.tick
	c.mu.Unlock()
	e.once.Do(func() { e.val, e.err = load() })
	if e.err != nil {
		c.mu.Lock()
		if c.entries[id] == e {
			delete(c.entries, id)
		}
		c.mu.Unlock()
	}
	return e.val, e.err
}

func (s *Service) publisherVersion(ctx context.Context, v *cleanroom.Version) (*vault.PublisherVersion, error) {
	x, err := s.cache.get(v.ID, func() (any, error) { return s.versions().OpenPublisher(context.WithoutCancel(ctx), v) })
	if err != nil {
		return nil, err
	}
	return x.(*vault.PublisherVersion), nil
}

func (s *Service) advertiserVersion(ctx context.Context, v *cleanroom.Version) (*vault.AdvertiserVersion, error) {
	x, err := s.cache.get(v.ID, func() (any, error) { return s.versions().OpenAdvertiser(context.WithoutCancel(ctx), v) })
	if err != nil {
		return nil, err
	}
	return x.(*vault.AdvertiserVersion), nil
}

func (s *Service) bridges(ctx context.Context, vs []*cleanroom.Version) ([]*match.Bridge, error) {
	var out []*match.Bridge
	for _, v := range vs {
		x, err := s.cache.get(v.ID, func() (any, error) { return s.versions().OpenBridge(context.WithoutCancel(ctx), v) })
		if err != nil {
			return nil, err
		}
		out = append(out, match.BridgesOf(x.(*vault.BridgeVersion))...)
	}
	return out, nil
}
