package edge

import "time"

// CapCounter counts impressions into frequency caps and tells Decide what it knows of a user's
// count. Counters (in this process, journalled to a file) is the default; package edgeredis
// shares the counts of several edge replicas through Redis. Implementations are safe for
// concurrent use.
type CapCounter interface {
	// Count returns user's impressions of cohort code in window w as known here (0 when none
	// are). Decide calls it for every capped cohort of a user, so it never waits on I/O and never
	// allocates. A count at or above the cap withholds the code.
	Count(user uint64, code uint32, w Window) uint32
	// Add counts one impression per hit, in order (one call per batch, so an implementation over
	// the network makes one round trip), and sets each hit's N to its counter's count after it,
	// 0 when the impression could not be counted. now and loc are the batch's time and the
	// publisher's time zone (for sweeping and for the windows' ends).
	Add(hits []Hit, now time.Time, loc *time.Location) error
	// Expire drops the counters of windows that ended before now in loc and returns how many.
	Expire(now time.Time, loc *time.Location) int
	// Close writes what is pending and releases the counter.
	Close() error
}

// Hit is one impression for a CapCounter: the user's keyed hash, the cohort code, the window of
// the cohort's cap the impression fell in, the cap's limit (an implementation may tell others
// once a counter reaches it) and, after Add, N: the counter's count.
type Hit struct {
	User   uint64
	Code   uint32
	Window Window
	Limit  uint32
	N      uint32
}

// Number returns the window's number within its period (the day, week or month number of
// WindowOf).
func (w Window) Number() uint32 { return uint32(w) & (1<<30 - 1) }

// Start returns when window w begins in time zone loc.
func (w Window) Start(loc *time.Location) time.Time {
	n := int64(w.Number())
	switch w.Period() {
	case Day:
		y, m, d := time.Unix(n*86400, 0).UTC().Date()
		return time.Date(y, m, d, 0, 0, 0, 0, loc)
	case Week:
		y, m, d := time.Unix((n*7-3)*86400, 0).UTC().Date() // the Monday of week n
		return time.Date(y, m, d, 0, 0, 0, 0, loc)
	case Month:
		return time.Date(int(n/12), time.Month(n%12+1), 1, 0, 0, 0, 0, loc)
	}
	return time.Time{}
}

// End returns when window w ends in time zone loc (the start of the next window of its period).
func (w Window) End(loc *time.Location) time.Time {
	s := w.Start(loc)
	switch w.Period() {
	case Day:
		return s.AddDate(0, 0, 1)
	case Week:
		return s.AddDate(0, 0, 7)
	case Month:
		return s.AddDate(0, 1, 0)
	}
	return s
}

// Add counts each hit (see CapCounter.Add) and writes the journal records in one write.
func (c *Counters) Add(hits []Hit, now time.Time, loc *time.Location) error {
	cur := currentWindows(now, loc)
	for i := range hits {
		h := &hits[i]
		h.N = c.add(h.User, h.Code, h.Window, &cur)
	}
	return c.flush()
}

// Observe raises the count of (user, code) in window w to at least n (a count learned from
// elsewhere, such as a shared store) and reports whether it was kept (false: the bound is
// reached). Nothing is journalled.
func (c *Counters) Observe(user uint64, code uint32, w Window, n uint32, now time.Time, loc *time.Location) bool {
	cur := currentWindows(now, loc)
	if cur.expired(w) {
		return true
	}
	k := counterKey{user, code}
	sh := c.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	v, ok := sh.m[k]
	if !ok && len(sh.m) >= c.perShard {
		for k2, v2 := range sh.m {
			if cur.expired(v2.window) {
				delete(sh.m, k2)
			}
		}
		if len(sh.m) >= c.perShard {
			c.dropped.Add(1)
			return false
		}
	}
	if v.window != w {
		v = counterVal{window: w}
	}
	if n > v.count {
		v.count = n
		sh.m[k] = v
	} else if !ok {
		sh.m[k] = v
	}
	return true
}

// Range calls fn for every counter of a window that has not ended at now in loc.
func (c *Counters) Range(now time.Time, loc *time.Location, fn func(user uint64, code uint32, w Window, n uint32)) {
	cur := currentWindows(now, loc)
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		for k, v := range sh.m {
			if !cur.expired(v.window) {
				fn(k.user, k.code, v.window, v.count)
			}
		}
		sh.mu.Unlock()
	}
}
