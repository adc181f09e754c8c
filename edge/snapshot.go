package edge

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/bits"
	"runtime"
	"slices"
	"sync"
	"unsafe"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// KindSnapshot is the vault file kind of an edge snapshot.
const KindSnapshot = "edge-snapshot"

// MaxCohorts is the largest number of served cohorts a snapshot holds (cohort indexes are uint16).
const MaxCohorts = math.MaxUint16

// Section names of a snapshot file.
const (
	secEntries = "entries"
	secMembers = "members"
	secCodes   = "codes"
)

// ServedCohort is one cohort served to its members: its code for the publisher's ad server
// (cleanroom.Cohort.Code) and the publisher ordinals of its members.
type ServedCohort struct {
	Code    uint32
	Members *roaring.Bitmap
}

// Input is what a snapshot is built from: the user index of a publisher version (keyed user-ID
// hashes and their ordinals, as vault.PublisherVersion's UserKeys and UserOrds: sorted, unique,
// live users only) and the cohorts served, each with its member bitmap over the same ordinals.
type Input struct {
	// Users is the number of ordinals (vault.PublisherVersion.Users); every ordinal is below it.
	Users uint32
	// UserKeys holds the keyed hashes (pubsync.UserHasher) of the live users, sorted and unique.
	UserKeys []uint64
	// UserOrds is parallel to UserKeys: each user's ordinal.
	UserOrds []uint32
	// Cohorts are the served cohorts, at most MaxCohorts, with distinct non-zero codes.
	Cohorts []ServedCohort
}

// InputFromVersion returns the input for the served cohorts over publisher version v. The
// version's arrays are shared, not copied.
func InputFromVersion(v *vault.PublisherVersion, served []ServedCohort) Input {
	return Input{Users: v.Users, UserKeys: v.UserKeys, UserOrds: v.UserOrds, Cohorts: served}
}

// Snapshot maps the keyed hash of a publisher's user ID to the cohorts served to that user. It
// is immutable and safe for concurrent use.
//
// Layout (the file's sections are used in place): one 16-byte entry per user served at least one
// cohort, sorted by hash: the hash, the number of cohorts N, and the cohorts' indexes into the
// code table, inline for up to 3 cohorts, else where they start in the members array. A small bucket table
// over the top bits of the hash (built when the snapshot is loaded, one entry per 16 to 32 users)
// and interpolation within the bucket (the hashes are uniform) find a user's entry in about one
// cache miss, a second for a user in more than 3 cohorts, instead of a binary search's
// twenty-odd.
//
// Memory per served user: 16 bytes of entry + 0.125 to 0.25 bytes of bucket table, + 2 bytes per
// cohort for a user in more than 3 (inline up to 3). Users in no served cohort take nothing. 50M
// users in up to 3 cohorts each take about 16.2 B × 50M = 810 MB.
type Snapshot struct {
	entries []entry
	members []uint16
	codes   []uint32
	pairs   int // (user, cohort) pairs
	shift   uint
	bucket  []uint32
}

// entry is one served user, in N cohorts. Up to inlineCohorts of them are in the entry
// (In[:N]); more are in members[off : off+N], off being In[0] | In[1]<<16.
type entry struct {
	Key uint64
	In  [inlineCohorts]uint16
	N   uint16
}

// inlineCohorts is the number of cohort indexes an entry holds itself.
const inlineCohorts = 3

func (e *entry) off() uint32 { return uint32(e.In[0]) | uint32(e.In[1])<<16 }

// snapshotMeta is the JSON description in the file's header.
type snapshotMeta struct {
	Users       int `json:"users"`
	Memberships int `json:"memberships"`
	Cohorts     int `json:"cohorts"`
}

// Build builds the snapshot of in, users in the order of UserKeys; erased ordinals (no entry in
// UserKeys) are left out. Both cores share every pass:
//
//  1. One pass over the member bitmaps in cache-sized blocks of ordinals: count each ordinal's
//     cohorts and write them into the ordinal's 8-byte slot (the entry without its key: up to 3
//     cohort indexes inline, else an offset into an overflow list in ordinal order, where the
//     cohorts beyond 3 go from a spill list; a second pass writes them instead when the users
//     are in so many cohorts that the spill list would outgrow a quarter of the ordinals).
//  2. Two passes in key order: one gathers the slots in key order (one cache miss per user,
//     independent of the previous user's, so the misses overlap) and counts the served users
//     and overflow cohorts of each range of keys; the other writes the entries, which are the
//     gathered slots with their keys, sequentially.
func Build(in Input) (*Snapshot, error) {
	if err := checkInput(in); err != nil {
		return nil, err
	}
	codes := make([]uint32, len(in.Cohorts))
	for i, c := range in.Cohorts {
		codes[i] = c.Code
	}
	// 1. Each ordinal's cohorts, in its slot: one pass over the bitmaps counts them (N) and
	// writes the first inlineCohorts; the others spill, with their ordinals, and go to an
	// overflow list in ordinal order. Where users are in many cohorts (more spills than a
	// quarter of the ordinals), a second pass writes the overflow list in place of the spills.
	phase(0)
	slots := vault.MakeLarge[slot](int(in.Users))
	workers := runtime.GOMAXPROCS(0)
	spills := make([][]spill, workers)
	over := make([]bool, workers)
	budget := int(in.Users)/4/workers + 1024
	forBlocks(in, func(w, ci int, ords []uint32) {
		for _, o := range ords {
			s := &slots[o]
			if s.N < inlineCohorts {
				s.In[s.N] = uint16(ci)
			} else if !over[w] {
				spills[w] = append(spills[w], spill{o, uint16(ci)})
				over[w] = len(spills[w]) > budget
			}
			s.N++
		}
	})
	phase(1)
	var ov []uint16
	var err error
	if slices.Contains(over, true) {
		spills = nil
		ov, err = fillOverflow(in, slots)
	} else {
		ov, err = placeSpills(slots, spills)
	}
	if err != nil {
		return nil, err
	}
	// 2. In key order: gather the slots (the one pass of random reads) and count, then write
	// the served users' entries in one sequential pass (a slot's unused inline indexes zeroed,
	// an offset moved onto the members array, which is in key order).
	phase(2)
	type part struct{ n, extra, pairs int }
	parts := make([]part, runtime.GOMAXPROCS(0)+1)
	byKey := vault.MakeLarge[slot](len(in.UserOrds))
	parallel(len(in.UserOrds), func(w, lo, hi int) {
		var p part
		for i, o := range in.UserOrds[lo:hi] {
			byKey[lo+i] = slots[o]
			if k := int(slots[o].N); k > 0 {
				p.n++
				p.pairs += k
				if k > inlineCohorts {
					p.extra += k
				}
			}
		}
		parts[w+1] = p
	})
	for w := 1; w < len(parts); w++ {
		parts[w].n += parts[w-1].n
		parts[w].extra += parts[w-1].extra
		parts[w].pairs += parts[w-1].pairs
	}
	slots = nil
	all := parts[len(parts)-1]
	s := &Snapshot{codes: codes, pairs: all.pairs}
	phase(3)
	s.entries = vault.MakeLarge[entry](all.n)
	s.members = vault.MakeLarge[uint16](all.extra)
	parallel(len(in.UserOrds), func(w, lo, hi int) {
		j, m := parts[w].n, parts[w].extra
		for i, sl := range byKey[lo:hi] {
			if sl.N == 0 {
				continue
			}
			e := &s.entries[j]
			j++
			e.Key, e.N = in.UserKeys[lo+i], sl.N
			if sl.N <= inlineCohorts {
				e.In = sl.In
				for k := sl.N; k < inlineCohorts; k++ {
					e.In[k] = 0
				}
				continue
			}
			m += copy(s.members[m:], ov[sl.off():sl.off()+uint32(sl.N)])
			e.In = [inlineCohorts]uint16{uint16(m - int(sl.N)), uint16((m - int(sl.N)) >> 16), 0}
		}
	})
	phase(4)
	s.index()
	phase(5)
	return s, nil
}

// buildPhase, when set (by a benchmark or a test), is called as each phase of Build begins (0
// the pass over the bitmaps, 1 the overflow list, 2 counting the entries, 3 writing them, 4
// indexing) and with 5 at its end; with 6 when the overflow list takes a second pass.
var buildPhase func(int)

func phase(p int) {
	if buildPhase != nil {
		buildPhase(p)
	}
}

// spill is a cohort of an ordinal beyond the inlineCohorts its slot holds.
type spill struct {
	o uint32
	c uint16
}

// placeSpills gives every slot in more than inlineCohorts cohorts its place in an overflow list
// in ordinal order and moves its cohorts there: the inline ones, then the spilled ones (each
// worker's spills are in block order, and in cohort order within a block).
func placeSpills(slots []slot, spills [][]spill) ([]uint16, error) {
	base := make([]uint64, len(spills)+1)
	for w, sp := range spills {
		slices.SortStableFunc(sp, func(a, b spill) int { return cmp.Compare(a.o, b.o) })
		n := uint64(len(sp))
		for i := range sp {
			if i == 0 || sp[i].o != sp[i-1].o {
				n += inlineCohorts
			}
		}
		base[w+1] = base[w] + n
	}
	if base[len(spills)] > math.MaxUint32 {
		return nil, fmt.Errorf("edge: too many memberships for one snapshot")
	}
	ov := vault.MakeLarge[uint16](int(base[len(spills)]))
	var wg sync.WaitGroup
	for w, sp := range spills {
		wg.Go(func() {
			off := base[w]
			for i := 0; i < len(sp); {
				o, s := sp[i].o, &slots[sp[i].o]
				at := off
				off += uint64(copy(ov[off:], s.In[:]))
				for ; i < len(sp) && sp[i].o == o; i++ {
					ov[off] = sp[i].c
					off++
				}
				s.In = [inlineCohorts]uint16{uint16(at), uint16(at >> 16), 0}
			}
		})
	}
	wg.Wait()
	return ov, nil
}

// fillOverflow gives every slot in more than inlineCohorts cohorts its place in an overflow list
// in ordinal order, then writes every slot's cohorts again in a second pass over the bitmaps:
// inline, or in the overflow list.
func fillOverflow(in Input, slots []slot) ([]uint16, error) {
	phase(6)
	sums := make([]uint64, runtime.GOMAXPROCS(0)+1)
	parallel(len(slots), func(w, lo, hi int) {
		n := uint64(0)
		for _, s := range slots[lo:hi] {
			if s.N > inlineCohorts {
				n += uint64(s.N)
			}
		}
		sums[w+1] = n
	})
	for w := 1; w < len(sums); w++ {
		sums[w] += sums[w-1]
	}
	if sums[len(sums)-1] > math.MaxUint32 {
		return nil, fmt.Errorf("edge: too many memberships for one snapshot")
	}
	parallel(len(slots), func(w, lo, hi int) {
		off := sums[w]
		for i := lo; i < hi; i++ {
			s := &slots[i]
			if s.N > inlineCohorts {
				s.In = [inlineCohorts]uint16{uint16(off), uint16(off >> 16), 0} // In[2]: cohorts written
				off += uint64(s.N)
			} else {
				s.In = [inlineCohorts]uint16{noCohort, noCohort, noCohort}
			}
		}
	})
	ov := vault.MakeLarge[uint16](int(sums[len(sums)-1]))
	forBlocks(in, func(_, ci int, ords []uint32) {
		for _, o := range ords {
			s := &slots[o]
			switch {
			case s.N > inlineCohorts:
				ov[s.off()+uint32(s.In[2])] = uint16(ci)
				s.In[2]++
			case s.In[0] == noCohort:
				s.In[0] = uint16(ci)
			case s.In[1] == noCohort:
				s.In[1] = uint16(ci)
			default:
				s.In[2] = uint16(ci)
			}
		}
	})
	return ov, nil
}

// slot is an ordinal's cohorts during a build: an entry without its key. Unwritten inline
// indexes are noCohort; an overflowing slot's In[2] counts the cohorts written so far.
type slot struct {
	In [inlineCohorts]uint16
	N  uint16
}

func (s *slot) off() uint32 { return uint32(s.In[0]) | uint32(s.In[1])<<16 }

// noCohort marks an unwritten inline cohort index (MaxCohorts keeps indexes below it).
const noCohort = math.MaxUint16

// checkInput checks in's shape and codes: parallel, sorted unique keys; ordinals and members
// below Users; at most MaxCohorts cohorts with distinct non-zero codes.
func checkInput(in Input) error {
	if len(in.UserKeys) != len(in.UserOrds) {
		return fmt.Errorf("edge: %d user keys but %d ordinals", len(in.UserKeys), len(in.UserOrds))
	}
	if len(in.Cohorts) > MaxCohorts {
		return fmt.Errorf("edge: %d cohorts, at most %d are served", len(in.Cohorts), MaxCohorts)
	}
	seen := make(map[uint32]bool, len(in.Cohorts))
	for i, c := range in.Cohorts {
		if c.Code == 0 || seen[c.Code] {
			return fmt.Errorf("edge: cohort %d has a zero or repeated code %d", i, c.Code)
		}
		seen[c.Code] = true
		if c.Members != nil && !c.Members.IsEmpty() && c.Members.Maximum() >= in.Users {
			return fmt.Errorf("edge: cohort %d has ordinal %d, beyond the %d users", c.Code, c.Members.Maximum(), in.Users)
		}
	}
	errs := make([]error, runtime.GOMAXPROCS(0))
	parallel(len(in.UserOrds), func(w, lo, hi int) {
		for i := lo; i < hi; i++ {
			if i > 0 && in.UserKeys[i] <= in.UserKeys[i-1] {
				errs[w] = fmt.Errorf("edge: user keys are not sorted and unique at %d", i)
				return
			}
			if in.UserOrds[i] >= in.Users {
				errs[w] = fmt.Errorf("edge: user ordinal %d beyond the %d users", in.UserOrds[i], in.Users)
				return
			}
		}
	})
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// parallel splits [0, n) into GOMAXPROCS contiguous ranges, in order, and runs f(w, lo, hi) on
// range w of each concurrently (a single call below 1<<16 items).
func parallel(n int, f func(w, lo, hi int)) {
	workers := runtime.GOMAXPROCS(0)
	if n < 1<<16 {
		for w := range workers {
			lo, hi := 0, 0
			if w == workers-1 {
				hi = n
			}
			f(w, lo, hi)
		}
		return
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() { f(w, n*w/workers, n*(w+1)/workers) })
	}
	wg.Wait()
}

// blockBits sets the ordinals a build pass handles at a time (2^17: 1 MiB of slots, which stay
// in cache while every cohort's members in the block are visited).
const blockBits = 17

// batch is the number of members a build pass reads from a bitmap at a time.
const batch = 64

// forBlocks calls f(worker, cohort, ordinals) for every member of every cohort, ordinals ascending, block
// of ordinals by block, cohorts in order within a block, so that per-ordinal arrays are written
// within a cache-sized window and an ordinal sees its cohorts in order. Blocks are split over
// GOMAXPROCS workers (each owns a contiguous range of blocks, so f never sees an ordinal of
// another worker's range). Members are read from the bitmaps batch by batch (a few calls per
// batch instead of several per member).
func forBlocks(in Input, f func(w, ci int, ords []uint32)) {
	blocks := int((uint64(in.Users) + 1<<blockBits - 1) >> blockBits)
	workers := min(runtime.GOMAXPROCS(0), blocks)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			first, last := blocks*w/workers, blocks*(w+1)/workers
			type cursor struct {
				it     roaring.ManyIntIterator
				buf    []uint32
				pos, n int
			}
			curs := make([]cursor, len(in.Cohorts))
			bufs := make([]uint32, len(in.Cohorts)*batch)
			empty := roaring.New()
			start := uint32(first) << blockBits
			for ci, c := range in.Cohorts {
				cur := &curs[ci]
				cur.buf = bufs[ci*batch : (ci+1)*batch : (ci+1)*batch]
				if c.Members == nil {
					cur.it.Initialize(empty)
					continue
				}
				cur.it.Initialize(c.Members)
				// Skip the members before the worker's first block.
				for {
					cur.n, cur.pos = cur.it.NextMany(cur.buf), 0
					if cur.n == 0 || cur.buf[cur.n-1] >= start {
						break
					}
				}
				for cur.pos < cur.n && cur.buf[cur.pos] < start {
					cur.pos++
				}
			}
			for b := first; b < last; b++ {
				hi := uint32(min(uint64(b+1)<<blockBits, uint64(in.Users)))
				for ci := range curs {
					cur := &curs[ci]
					for cur.n > 0 {
						if cur.pos == cur.n {
							cur.n, cur.pos = cur.it.NextMany(cur.buf), 0
							continue
						}
						j := cur.pos
						for j < cur.n && cur.buf[j] < hi {
							j++
						}
						if j > cur.pos {
							f(w, ci, cur.buf[cur.pos:j])
						}
						cur.pos = j
						if j < cur.n {
							break
						}
					}
				}
			}
		})
	}
	wg.Wait()
}

// bucketBits sets the bucket table's size: one bucket per about 2^bucketBits served users (16
// to 32), 4 bytes each, so the table is small enough to stay in cache (128 KiB at 1M users).
const bucketBits = 4

// index builds the bucket table over the keys' top bits.
func (s *Snapshot) index() {
	b := 0
	if n := len(s.entries); n >= 1<<(bucketBits+1) {
		b = bits.Len(uint(n)) - 1 - bucketBits
	}
	s.shift = uint(64 - b)
	s.bucket = vault.MakeLarge[uint32](1<<b + 1)
	j := 0
	for t := range 1 << b {
		for j < len(s.entries) && s.entries[j].Key>>s.shift < uint64(t) {
			j++
		}
		s.bucket[t] = uint32(j)
	}
	s.bucket[1<<b] = uint32(len(s.entries))
}

// find returns the entry of the user whose hash is h, nil for an unknown user. The hashes are
// uniform, so the position within the bucket is interpolated from the hash's lower bits and the
// search walks the few entries from there: usually one cache line of entries.
func (s *Snapshot) find(h uint64) *entry {
	t := h >> s.shift // 0 when shift is 64
	lo, hi := s.bucket[t], s.bucket[t+1]
	if lo == hi {
		return nil
	}
	frac := h << (64 - s.shift) // the bits below the bucket's, as a fraction of 2^64
	i := lo + uint32(uint64(hi-lo)*(frac>>32)>>32)
	if s.entries[i].Key < h {
		for i++; i < hi && s.entries[i].Key < h; i++ {
		}
	} else {
		for i > lo && s.entries[i-1].Key >= h {
			i--
		}
	}
	if i < hi && s.entries[i].Key == h {
		return &s.entries[i]
	}
	return nil
}

// cohorts returns the cohort indexes of e.
func (s *Snapshot) cohorts(e *entry) []uint16 {
	if e.N <= inlineCohorts {
		return e.In[:e.N]
	}
	return s.members[e.off() : e.off()+uint32(e.N)]
}

// Lookup appends the codes of every cohort served to the user whose hash is h to dst, without
// caps (Engine.Decide applies them), and returns it; dst unchanged for an unknown user.
func (s *Snapshot) Lookup(h uint64, dst []uint32) []uint32 {
	e := s.find(h)
	if e == nil {
		return dst
	}
	for _, c := range s.cohorts(e) {
		dst = append(dst, s.codes[c])
	}
	return dst
}

// Users returns the number of users served at least one cohort.
func (s *Snapshot) Users() int { return len(s.entries) }

// Memberships returns the number of (user, cohort) pairs.
func (s *Snapshot) Memberships() int { return s.pairs }

// ForEachUser calls fn with the keyed hash of every user served the cohort of code, in hash
// order; nothing when the snapshot does not serve it. (A publisher's next snapshot carries a
// cohort over by hash while the cohort is rebuilt on a new audience version.)
func (s *Snapshot) ForEachUser(code uint32, fn func(hash uint64)) {
	idx := -1
	for i, c := range s.codes {
		if c == code {
			idx = i
		}
	}
	if idx < 0 {
		return
	}
	for i := range s.entries {
		for _, c := range s.cohorts(&s.entries[i]) {
			if int(c) == idx {
				fn(s.entries[i].Key)
				break
			}
		}
	}
}

// Codes returns the codes of the served cohorts, in the snapshot's cohort order. It must not be
// modified.
func (s *Snapshot) Codes() []uint32 { return s.codes }

// Bytes returns the memory the snapshot's arrays take, bucket table included.
func (s *Snapshot) Bytes() int64 {
	return int64(len(s.entries))*int64(unsafe.Sizeof(entry{})) + int64(len(s.members))*2 + int64(len(s.codes))*4 + int64(len(s.bucket))*4
}

// Write encrypts the snapshot under dataKey and stores it at key as a vault file of kind
// KindSnapshot, returning the bytes stored; it has the form of versions.Writer, so the version
// store keeps snapshots like any other sealed file. Only hashes, offsets, cohort indexes and codes
// are written: no user ID.
func (s *Snapshot) Write(ctx context.Context, blobs cleanroom.BlobStore, key string, dataKey []byte) (int64, error) {
	meta := snapshotMeta{Users: s.Users(), Memberships: s.Memberships(), Cohorts: len(s.codes)}
	return vault.Write(ctx, blobs, key, dataKey, KindSnapshot, meta, []vault.Section{
		{Name: secEntries, Data: vault.Raw(s.entries)},
		{Name: secMembers, Data: vault.Raw(s.members)},
		{Name: secCodes, Data: vault.Raw(s.codes)},
	})
}

// OpenSnapshot reads, authenticates and decrypts the snapshot at key.
func OpenSnapshot(ctx context.Context, blobs cleanroom.BlobStore, key string, dataKey []byte) (*Snapshot, error) {
	f, err := vault.Open(ctx, blobs, key, dataKey, KindSnapshot, 0)
	if err != nil {
		return nil, err
	}
	return FromFile(f)
}

// FromFile loads a snapshot from a decrypted vault file (versions.Store.OpenFile with
// KindSnapshot), checking its structure so that a lookup can never go out of bounds. The arrays
// share the file's memory.
func FromFile(f *vault.File) (*Snapshot, error) {
	if f.Kind != KindSnapshot {
		return nil, fmt.Errorf("edge: file is a %q, not a snapshot", f.Kind)
	}
	s := &Snapshot{}
	var err error
	if s.entries, err = vault.View[entry](f, secEntries); err != nil {
		return nil, err
	}
	if s.members, err = vault.View[uint16](f, secMembers); err != nil {
		return nil, err
	}
	if s.codes, err = vault.View[uint32](f, secCodes); err != nil {
		return nil, err
	}
	end := uint64(0)
	for i := range s.entries {
		e := &s.entries[i]
		if i > 0 && e.Key <= s.entries[i-1].Key {
			return nil, fmt.Errorf("edge: snapshot users not sorted at %d", i)
		}
		if e.N == 0 {
			return nil, fmt.Errorf("edge: snapshot entry %d has no cohort", i)
		}
		s.pairs += int(e.N)
		if e.N <= inlineCohorts {
			for _, c := range e.In[:e.N] {
				if int(c) >= len(s.codes) {
					return nil, fmt.Errorf("edge: snapshot entry %d has cohort index %d beyond its %d cohorts", i, c, len(s.codes))
				}
			}
			continue
		}
		if uint64(e.off()) != end {
			return nil, fmt.Errorf("edge: snapshot entry %d is not where the previous one ended", i)
		}
		end += uint64(e.N)
	}
	if end != uint64(len(s.members)) {
		return nil, fmt.Errorf("edge: snapshot entries do not cover its %d members", len(s.members))
	}
	for _, c := range s.members {
		if int(c) >= len(s.codes) {
			return nil, fmt.Errorf("edge: snapshot cohort index %d beyond its %d cohorts", c, len(s.codes))
		}
	}
	s.index()
	return s, nil
}
