package edge

import (
	"context"
	"fmt"
	"math"
	"math/bits"
	"runtime"
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

// Build builds the snapshot of in: two passes over the member bitmaps (count per ordinal, then
// fill), users kept in the order of UserKeys. Erased ordinals (no entry in UserKeys) are left out.
func Build(in Input) (*Snapshot, error) {
	if len(in.UserKeys) != len(in.UserOrds) {
		return nil, fmt.Errorf("edge: %d user keys but %d ordinals", len(in.UserKeys), len(in.UserOrds))
	}
	if len(in.Cohorts) > MaxCohorts {
		return nil, fmt.Errorf("edge: %d cohorts, at most %d are served", len(in.Cohorts), MaxCohorts)
	}
	codes := make([]uint32, len(in.Cohorts))
	seen := make(map[uint32]bool, len(in.Cohorts))
	for i, c := range in.Cohorts {
		if c.Code == 0 || seen[c.Code] {
			return nil, fmt.Errorf("edge: cohort %d has a zero or repeated code %d", i, c.Code)
		}
		seen[c.Code] = true
		codes[i] = c.Code
		if c.Members != nil && !c.Members.IsEmpty() && c.Members.Maximum() >= in.Users {
			return nil, fmt.Errorf("edge: cohort %d has ordinal %d, beyond the %d users", c.Code, c.Members.Maximum(), in.Users)
		}
	}
	for i := range in.UserOrds {
		if i > 0 && in.UserKeys[i] <= in.UserKeys[i-1] {
			return nil, fmt.Errorf("edge: user keys are not sorted and unique at %d", i)
		}
		if in.UserOrds[i] >= in.Users {
			return nil, fmt.Errorf("edge: user ordinal %d beyond the %d users", in.UserOrds[i], in.Users)
		}
	}
	// The cohorts of each ordinal, in ordinal order: ordOff[o]..ordOff[o+1] in ordList.
	ordOff := vault.MakeLarge[uint32](int(in.Users) + 1)
	forBlocks(in, func(lo, hi uint32, ci int, o uint32) { ordOff[o+1]++ })
	for o := 1; o < len(ordOff); o++ {
		if ordOff[o] > math.MaxUint32-ordOff[o-1] {
			return nil, fmt.Errorf("edge: too many memberships for one snapshot")
		}
		ordOff[o] += ordOff[o-1]
	}
	total := ordOff[in.Users]
	ordList := vault.MakeLarge[uint16](int(total))
	fill := vault.MakeLarge[uint32](int(in.Users))
	copy(fill, ordOff[:in.Users])
	forBlocks(in, func(lo, hi uint32, ci int, o uint32) { ordList[fill[o]] = uint16(ci); fill[o]++ })
	fill = nil
	// Then in key order: the served users' entries and their other cohorts. Erased ordinals
	// (absent from UserOrds) are left out.
	s := &Snapshot{codes: codes}
	n, extra := 0, 0
	for _, o := range in.UserOrds {
		if k := int(ordOff[o+1] - ordOff[o]); k > 0 {
			n++
			if k > inlineCohorts {
				extra += k
			}
		}
	}
	s.members = vault.MakeLarge[uint16](extra)[:0]
	s.entries = vault.MakeLarge[entry](n)[:0]
	for i, o := range in.UserOrds {
		l := ordList[ordOff[o]:ordOff[o+1]]
		if len(l) == 0 {
			continue
		}
		e := entry{Key: in.UserKeys[i], N: uint16(len(l))}
		if len(l) <= inlineCohorts {
			copy(e.In[:], l)
		} else {
			e.In[0], e.In[1] = uint16(len(s.members)), uint16(len(s.members)>>16)
			s.members = append(s.members, l...)
		}
		s.entries = append(s.entries, e)
		s.pairs += len(l)
	}
	s.index()
	return s, nil
}

// blockBits sets the ordinals a build pass handles at a time (2^18: 1 MiB of per-ordinal
// counters, which stay in cache while every cohort's members in the block are visited).
const blockBits = 18

// forBlocks calls f(lo, hi, cohort, ordinal) for every member of every cohort, block of ordinals
// by block ([lo, hi)), cohorts in order within a block, so that per-ordinal arrays are written
// within a cache-sized window. Blocks are split over GOMAXPROCS workers (each owns a contiguous
// range of blocks, so f never sees an ordinal of another worker's range).
func forBlocks(in Input, f func(lo, hi uint32, ci int, o uint32)) {
	blocks := int((uint64(in.Users) + 1<<blockBits - 1) >> blockBits)
	workers := min(runtime.GOMAXPROCS(0), blocks)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			first, last := blocks*w/workers, blocks*(w+1)/workers
			its := make([]roaring.IntPeekable, len(in.Cohorts))
			for ci, c := range in.Cohorts {
				if c.Members != nil {
					its[ci] = c.Members.Iterator()
					its[ci].AdvanceIfNeeded(uint32(first) << blockBits)
				}
			}
			for b := first; b < last; b++ {
				lo := uint32(b) << blockBits
				hi := uint32(min(uint64(b+1)<<blockBits, uint64(in.Users)))
				for ci, it := range its {
					if it == nil {
						continue
					}
					for it.HasNext() && it.PeekNext() < hi {
						f(lo, hi, ci, it.Next())
					}
				}
			}
		}()
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
