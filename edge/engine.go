package edge

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/cleanroom-oss/cleanroom/pubsync"
)

// Cap is a cohort's frequency cap: at most Limit impressions per user per Period.
type Cap struct {
	Code   uint32
	Limit  uint32
	Period Period
}

// Config is what the edge serves a publisher with besides the snapshot: the frequency caps, the
// time zone their windows are in, and the tables that map a reported impression to its cohort.
type Config struct {
	// Location is the publisher's time zone (IANA, from time.LoadLocation); nil means UTC.
	Location *time.Location
	// Caps holds at most one cap per cohort code.
	Caps []Cap
	// LineItems maps a GAM line item ID to the code of the cohort it targets.
	LineItems map[string]uint32
	// Deals maps a Xandr deal ID to the code of the cohort it targets.
	Deals map[string]uint32
}

type rule struct {
	limit  uint32
	period Period
}

// state is what one swap installs: read by every decision through one atomic load.
type state struct {
	snap      *Snapshot
	counters  CapCounter
	loc       *time.Location
	rules     []rule // by the snapshot's cohort index
	byCode    map[uint32]rule
	lineItems map[string]uint32
	deals     map[string]uint32
}

// Engine is a publisher's edge: it answers which cohort codes to send for a user (Decide) and
// counts reported impressions into the caps (Record). The snapshot and config are swapped in
// atomically (Swap); a decision never waits on a build or a swap. Safe for concurrent use.
type Engine struct {
	hasher   *pubsync.UserHasher
	counters CapCounter
	delivery *Delivery
	state    atomic.Pointer[state]
}

// SetDelivery makes Record also aggregate impressions into d (see Delivery). Call it before the
// engine is used.
func (e *Engine) SetDelivery(d *Delivery) { e.delivery = d }

// NewEngine returns an engine that hashes user IDs with hasher (the publisher's, the one its
// versions' user index was made with) and counts impressions in counters (nil: Counters in
// memory only, with the default bound). It serves nothing until the first Swap.
func NewEngine(hasher *pubsync.UserHasher, counters CapCounter) *Engine {
	if counters == nil {
		counters, _ = OpenCounters(CounterOptions{}, time.Time{}, time.UTC) // no journal: cannot fail
	}
	return &Engine{hasher: hasher, counters: counters}
}

// Hash returns the keyed hash of a user ID as the page sends it (the same hash as the publisher
// version's user index).
func (e *Engine) Hash(userID string) uint64 { return e.hasher.Hash(userID) }

// Swap validates cfg and makes snap and cfg the ones decisions and impressions use, atomically.
func (e *Engine) Swap(snap *Snapshot, cfg Config) error {
	st := &state{snap: snap, counters: e.counters, loc: cfg.Location, byCode: make(map[uint32]rule, len(cfg.Caps)),
		lineItems: cfg.LineItems, deals: cfg.Deals}
	if st.loc == nil {
		st.loc = time.UTC
	}
	for _, c := range cfg.Caps {
		if c.Limit == 0 || c.Period < Day || c.Period > Month {
			return fmt.Errorf("edge: cap of cohort %d: a limit of at least 1 per day, week or month is needed", c.Code)
		}
		if _, dup := st.byCode[c.Code]; dup {
			return fmt.Errorf("edge: cohort %d has two caps", c.Code)
		}
		st.byCode[c.Code] = rule{c.Limit, c.Period}
	}
	st.rules = make([]rule, len(snap.codes))
	for i, code := range snap.codes {
		st.rules[i] = st.byCode[code]
	}
	for id, code := range cfg.LineItems {
		if err := checkID("line item", id, true); err != nil || code == 0 {
			return fmt.Errorf("edge: line item %q of cohort %d is not valid", id, code)
		}
	}
	for id, code := range cfg.Deals {
		if err := checkID("deal", id, false); err != nil || code == 0 {
			return fmt.Errorf("edge: deal %q of cohort %d is not valid", id, code)
		}
	}
	e.state.Store(st)
	return nil
}

// Snapshot returns the snapshot in use, nil before the first Swap.
func (e *Engine) Snapshot() *Snapshot {
	if st := e.state.Load(); st != nil {
		return st.snap
	}
	return nil
}

// Decide appends to dst the codes to send for the user whose keyed hash is h at time now: the
// cohorts of the snapshot served to the user, less those whose cap the user has reached in the
// current window. An unknown user gets none. It allocates nothing (give dst a capacity of a few
// codes) and takes one shard lock per capped cohort of the user.
func (e *Engine) Decide(h uint64, now time.Time, dst []uint32) []uint32 {
	st := e.state.Load()
	if st == nil {
		return dst
	}
	u := st.snap.find(h)
	if u == nil {
		return dst
	}
	var cur windows
	for _, c := range st.snap.cohorts(u) {
		dst = appendUnlessCapped(st, &cur, h, now, c, dst)
	}
	return dst
}

// e2 appends the code of cohort index c unless the user h reached its cap in the current window
// (computed once per period per decision, in cur).
func appendUnlessCapped(st *state, cur *windows, h uint64, now time.Time, c uint16, dst []uint32) []uint32 {
	code := st.snap.codes[c]
	if r := st.rules[c]; r.limit > 0 {
		w := cur[r.period]
		if w == 0 {
			w = WindowOf(r.period, now, st.loc)
			cur[r.period] = w
		}
		if st.counters.Count(h, code, w) >= r.limit {
			return dst
		}
	}
	return append(dst, code)
}

// DecideUser is Decide for a user ID as the page sends it.
func (e *Engine) DecideUser(userID string, now time.Time, dst []uint32) []uint32 {
	return e.Decide(e.hasher.Hash(userID), now, dst)
}

// Recorded says what became of a batch's impressions.
type Recorded struct {
	// Counted impressions went into a cap's counter.
	Counted int
	// Uncapped impressions are of a cohort without a cap: nothing to count.
	Uncapped int
	// Unknown impressions name a line item or deal the edge does not know.
	Unknown int
	// Stale impressions happened in a window that has ended.
	Stale int
	// Dropped impressions found the counters full (see Counters).
	Dropped int
	// Delivered impressions went into the delivery aggregate (known line item or deal, reported
	// at most DeliveryLateDays late).
	Delivered int
}

// Record counts a validated batch's impressions into the caps of the cohorts their line items
// or deals target, in the window each impression happened in, if that window is still the
// current one at now. The counter gets the batch in one call (one journal write, one round trip).
func (e *Engine) Record(b *Batch, now time.Time) (Recorded, error) {
	var r Recorded
	st := e.state.Load()
	if st == nil {
		r.Unknown = len(b.Events)
		return r, nil
	}
	cur := currentWindows(now, st.loc)
	today := DayOf(now, st.loc)
	hits := make([]Hit, 0, len(b.Events))
	days := make([]int32, 0, len(b.Events)) // per hit: the day it is delivered on, -1 if not
	for i := range b.Events {
		ev := &b.Events[i]
		var code uint32
		var ok bool
		var prefix, id string
		if ev.LineItemID != "" {
			code, ok = st.lineItems[ev.LineItemID]
			prefix, id = "li:", ev.LineItemID
		} else {
			code, ok = st.deals[ev.DealID]
			prefix, id = "deal:", ev.DealID
		}
		if !ok {
			r.Unknown++
			continue
		}
		h := e.hasher.Hash(ev.UserID)
		at := time.UnixMilli(ev.Time)
		day := DayOf(at, st.loc)
		delivered := e.delivery != nil && day >= today-DeliveryLateDays && day <= today
		if delivered {
			e.delivery.add(recImpression, h, code, prefix+id, day)
			r.Delivered++
		} else {
			day = -1
		}
		ru, capped := st.byCode[code]
		if !capped {
			r.Uncapped++
			continue
		}
		w := WindowOf(ru.period, at, st.loc)
		if w != cur[ru.period] {
			r.Stale++
			continue
		}
		hits = append(hits, Hit{User: h, Code: code, Window: w, Limit: ru.limit})
		days = append(days, day)
	}
	var err error
	if len(hits) > 0 {
		err = st.counters.Add(hits, now, st.loc)
	}
	for i, h := range hits {
		switch {
		case h.N == 0:
			r.Dropped++
		default:
			r.Counted++
			// Exactly one impression takes a counter to its cap, whichever replica counts it.
			if h.N == h.Limit && days[i] >= 0 {
				e.delivery.add(recHeld, h.User, h.Code, "", days[i])
			}
		}
	}
	if e.delivery != nil {
		if derr := e.delivery.flush(); derr != nil {
			return r, derr
		}
	}
	return r, err
}
