package edge

import (
	"sync/atomic"
)

// ActiveDays is the window of "active users": those seen in the last 30 days.
const ActiveDays = 30

// DefaultMaxLastSeen is the default bound on a LastSeen table (12 bytes a slot: 48 MiB).
const DefaultMaxLastSeen = 4 << 20

// lastSeenProbe is how many slots a user may take the place of before it is not kept.
const lastSeenProbe = 16

// LastSeen records the last day each user (by keyed hash) asked the edge for targeting, in a
// fixed table (bounded memory; no allocation and no lock: a few atomic operations per request).
// A user seen before ActiveDays ago gives up its slot to a new one; when a user finds no slot
// among the lastSeenProbe it may take, it is not recorded (Dropped), so counts are then lower
// bounds. It is kept in memory; the edge stores it once a day as an ActiveSet, which a
// restarted edge restores.
type LastSeen struct {
	keys    []atomic.Uint64
	days    []atomic.Uint32
	dropped atomic.Int64
}

// NewLastSeen returns a table of n slots (DefaultMaxLastSeen when n <= 0), rounded up to a power
// of two.
func NewLastSeen(n int) *LastSeen {
	if n <= 0 {
		n = DefaultMaxLastSeen
	}
	size := 1
	for size < n {
		size <<= 1
	}
	return &LastSeen{keys: make([]atomic.Uint64, size), days: make([]atomic.Uint32, size)}
}

// Touch records that user h was seen on day (DayOf).
func (l *LastSeen) Touch(h uint64, day int32) {
	if h == 0 {
		h = 1 // 0 marks an empty slot
	}
	d := uint32(day)
	mask := uint64(len(l.keys) - 1)
	i := (h ^ h>>29) & mask
	for range lastSeenProbe {
		k := l.keys[i].Load()
		switch {
		case k == h:
			if l.days[i].Load() != d {
				l.days[i].Store(d)
			}
			return
		case k == 0:
			if l.keys[i].CompareAndSwap(0, h) {
				l.days[i].Store(d)
				return
			}
			if l.keys[i].Load() == h { // another request of the same user took it
				l.days[i].Store(d)
				return
			}
		default:
			if old := l.days[i].Load(); old != 0 && int32(old) <= day-ActiveDays && l.keys[i].CompareAndSwap(k, h) {
				l.days[i].Store(d)
				return
			}
		}
		i = (i + 1) & mask
	}
	l.dropped.Add(1)
}

// Active calls fn for every user seen in the ActiveDays days up to day.
func (l *LastSeen) Active(day int32, fn func(h uint64)) {
	for i := range l.keys {
		k := l.keys[i].Load()
		if k == 0 {
			continue
		}
		if d := int32(l.days[i].Load()); d > day-ActiveDays && d <= day {
			fn(k)
		}
	}
}

// Slots returns the table's number of slots.
func (l *LastSeen) Slots() int { return len(l.keys) }

// LastSeenSlots returns the slots a table for a snapshot of users users gets: twice the users
// (at least 64K), at most limit (DefaultMaxLastSeen when limit <= 0).
func LastSeenSlots(users, limit int) int {
	if limit <= 0 {
		limit = DefaultMaxLastSeen
	}
	n := max(2*users, 1<<16)
	return min(n, limit)
}

// Dropped returns how many touches found no slot.
func (l *LastSeen) Dropped() int64 { return l.dropped.Load() }

// ActiveCounts returns, as of day, the users seen in the last ActiveDays days and, per cohort
// code of snap, how many of them snap serves that code to (before caps). Counts only.
func ActiveCounts(l *LastSeen, snap *Snapshot, day int32) (users int64, perCode map[uint32]int64) {
	perCode = map[uint32]int64{}
	l.Active(day, func(h uint64) {
		users++
		if snap == nil {
			return
		}
		if u := snap.find(h); u != nil {
			for _, c := range snap.cohorts(u) {
				perCode[snap.codes[c]]++
			}
		}
	})
	return users, perCode
}
