package vault

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/identity"
)

// KindBridge is the kind of the file that holds one identity bridge mapping version.
const KindBridge = "bridge-version/v1"

// BridgePair is a (from, to) pair of identifier types a bridge maps between.
type BridgePair struct {
	From identity.Tag `json:"from"`
	To   identity.Tag `json:"to"`
}

func (p BridgePair) less(q BridgePair) bool {
	return p.From < q.From || p.From == q.From && p.To < q.To
}

// BridgeVersion is one immutable version of an identity bridge provider's mapping: links from an
// identifier of one type to an identifier of another, as fingerprints only (raw values are never
// stored).
//
// The links of Pairs[i] are rows [PairStart[i], PairStart[i+1]) of the parallel arrays From and
// To, sorted by From then To (identity.Fingerprint.Compare) and unique, so the identifiers an
// identifier maps to are one binary search away and a match can merge a sorted fingerprint
// array with From.
//
// A version opened with OpenBridge shares the decrypted file's memory: it must not be modified.
type BridgeVersion struct {
	// Pairs is the tag-pair table, sorted by From then To, unique, From != To.
	Pairs []BridgePair
	// PairStart has len(Pairs)+1 entries running from 0 to len(From).
	PairStart []uint64
	// From and To are the links, parallel arrays of equal length.
	From []identity.Fingerprint
	To   []identity.Fingerprint
}

// BridgeLink is one link of a pair, for building a version.
type BridgeLink struct{ From, To identity.Fingerprint }

type bridgeMeta struct {
	Pairs []BridgePair `json:"pairs"`
	Rows  int          `json:"rows"`
}

// Section names of a bridge version file.
const (
	bridgeSectionPairStart = "pair_start"
	bridgeSectionFrom      = "from"
	bridgeSectionTo        = "to"
)

// NewBridgeVersion builds a version from links grouped by pair: it sorts the pairs and each
// pair's links and drops duplicate links and empty pairs. The map's slices are sorted in place.
func NewBridgeVersion(links map[BridgePair][]BridgeLink) *BridgeVersion {
	v := &BridgeVersion{Pairs: []BridgePair{}, PairStart: []uint64{0}, From: []identity.Fingerprint{}, To: []identity.Fingerprint{}}
	for p, ls := range links {
		if len(ls) > 0 {
			v.Pairs = append(v.Pairs, p)
		}
	}
	sort.Slice(v.Pairs, func(i, j int) bool { return v.Pairs[i].less(v.Pairs[j]) })
	for _, p := range v.Pairs {
		ls := links[p]
		sort.Slice(ls, func(i, j int) bool { return compareLink(ls[i], ls[j]) < 0 })
		for i, l := range ls {
			if i > 0 && compareLink(ls[i-1], l) == 0 {
				continue
			}
			v.From = append(v.From, l.From)
			v.To = append(v.To, l.To)
		}
		v.PairStart = append(v.PairStart, uint64(len(v.From)))
	}
	return v
}

func compareLink(a, b BridgeLink) int {
	if c := a.From.Compare(b.From); c != 0 {
		return c
	}
	return a.To.Compare(b.To)
}

// Rows returns the number of links over all pairs.
func (v *BridgeVersion) Rows() int { return len(v.From) }

// PairRange returns the row range [start, end) of the pair (from, to), or false if the version
// has no link of that pair.
func (v *BridgeVersion) PairRange(from, to identity.Tag) (start, end int, ok bool) {
	want := BridgePair{from, to}
	i := sort.Search(len(v.Pairs), func(i int) bool { return !v.Pairs[i].less(want) })
	if i == len(v.Pairs) || v.Pairs[i] != want {
		return 0, 0, false
	}
	return int(v.PairStart[i]), int(v.PairStart[i+1]), true
}

// Lookup returns the fingerprints of type to that fp (of type from) maps to, sorted, sharing v's
// memory; nil if none.
func (v *BridgeVersion) Lookup(from, to identity.Tag, fp identity.Fingerprint) []identity.Fingerprint {
	start, end, ok := v.PairRange(from, to)
	if !ok {
		return nil
	}
	lo := start + sort.Search(end-start, func(i int) bool { return v.From[start+i].Compare(fp) >= 0 })
	hi := lo
	for hi < end && v.From[hi] == fp {
		hi++
	}
	if lo == hi {
		return nil
	}
	return v.To[lo:hi:hi]
}

// Write validates v, encrypts it under dataKey and stores it at key as a file of kind
// KindBridge, returning the number of bytes stored. Only the pair table and fingerprints are
// written.
func (v *BridgeVersion) Write(ctx context.Context, blobs cleanroom.BlobStore, key string, dataKey []byte) (int64, error) {
	if err := v.Validate(); err != nil {
		return 0, err
	}
	meta := bridgeMeta{Pairs: v.Pairs, Rows: len(v.From)}
	return Write(ctx, blobs, key, dataKey, KindBridge, meta, []Section{
		{bridgeSectionPairStart, Raw(v.PairStart)},
		{bridgeSectionFrom, Raw(v.From)},
		{bridgeSectionTo, Raw(v.To)},
	})
}

// OpenBridge reads, authenticates and decrypts the bridge version stored at key and checks its
// invariants. Returns an error wrapping cleanroom.ErrBlobNotFound if there is no such file.
func OpenBridge(ctx context.Context, blobs cleanroom.BlobStore, key string, dataKey []byte, workers int) (*BridgeVersion, error) {
	if workers < 1 {
		workers = 1
	}
	f, err := Open(ctx, blobs, key, dataKey, KindBridge, workers)
	if err != nil {
		return nil, err
	}
	v, err := bridgeFromFile(f)
	if err != nil {
		return nil, fmt.Errorf("vault: %s: %w", key, err)
	}
	return v, nil
}

func bridgeFromFile(f *File) (*BridgeVersion, error) {
	var meta bridgeMeta
	if err := f.DecodeMeta(&meta); err != nil {
		return nil, fmt.Errorf("meta: %w", err)
	}
	for _, name := range []string{bridgeSectionPairStart, bridgeSectionFrom, bridgeSectionTo} {
		if !f.Has(name) {
			return nil, fmt.Errorf("no section %q", name)
		}
	}
	v := &BridgeVersion{Pairs: meta.Pairs}
	if v.Pairs == nil {
		v.Pairs = []BridgePair{}
	}
	var err error
	if v.PairStart, err = View[uint64](f, bridgeSectionPairStart); err != nil {
		return nil, err
	}
	if v.From, err = View[identity.Fingerprint](f, bridgeSectionFrom); err != nil {
		return nil, err
	}
	if v.To, err = View[identity.Fingerprint](f, bridgeSectionTo); err != nil {
		return nil, err
	}
	if meta.Rows != len(v.From) {
		return nil, errors.New("the header's row count does not match the sections")
	}
	if err := v.Validate(); err != nil {
		return nil, err
	}
	return v, nil
}

// Validate checks v's invariants: the pair table sorted by From then To, unique, with non-empty
// and distinct tags; PairStart running from 0 to len(From) without decreasing; From and To of
// equal length; each pair's links strictly increasing by (From, To).
func (v *BridgeVersion) Validate() error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("vault: bridge version: "+format, args...)
	}
	for i, p := range v.Pairs {
		if p.From == "" || p.To == "" || p.From == p.To {
			return fail("pair %d has an empty tag or maps a tag to itself", i)
		}
		if i > 0 && !v.Pairs[i-1].less(p) {
			return fail("pairs not sorted and unique at %d", i)
		}
	}
	if len(v.To) != len(v.From) {
		return fail("%d targets for %d sources", len(v.To), len(v.From))
	}
	if len(v.PairStart) != len(v.Pairs)+1 || v.PairStart[0] != 0 || v.PairStart[len(v.Pairs)] != uint64(len(v.From)) {
		return fail("PairStart must have %d entries running from 0 to %d", len(v.Pairs)+1, len(v.From))
	}
	for p := range v.Pairs {
		if v.PairStart[p+1] < v.PairStart[p] {
			return fail("PairStart decreases at %d", p+1)
		}
	}
	for p := range v.Pairs {
		lo, hi := v.PairStart[p], v.PairStart[p+1]
		for i := lo + 1; i < hi; i++ {
			if compareLink(BridgeLink{v.From[i-1], v.To[i-1]}, BridgeLink{v.From[i], v.To[i]}) >= 0 {
				return fail("links of %s->%s not sorted and unique at row %d", v.Pairs[p].From, v.Pairs[p].To, i)
			}
		}
	}
	return nil
}
