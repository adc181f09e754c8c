package vault

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/identity"
)

// KindPublisher is the kind of the file that holds one publisher vault version.
const KindPublisher = "publisher-version/v1"

// CohortInfo describes one of the publisher's custom cohorts: the taxonomy entry a member bitmap
// belongs to.
type CohortInfo struct {
	// ID is the cohort ID (cleanroom.ValidateSegmentID rules), unique within the version.
	ID string `json:"id"`
	// Name is the display name.
	Name string `json:"name"`
	// IABID is the cohort's IAB Audience Taxonomy ID, 0 when it has none.
	IABID int `json:"iab_id,omitempty"`
	// Standard marks a standard cohort (one mapped to the IAB Audience Taxonomy).
	Standard bool `json:"standard,omitempty"`
}

// PublisherVersion is one immutable version of a publisher's audience in the layout the matcher,
// the lookalike model and the edge read. Users are numbered by pubDense ordinals 0..Users-1, which
// are never reused: an erased user keeps its ordinal as a tombstone in Deleted.
//
//   - User index: UserKeys holds, sorted and unique, a keyed 64-bit hash of the user ID of every
//     live user (the key is the caller's; raw user IDs are never stored), and UserOrds[i] is the
//     ordinal of UserKeys[i]. Every live ordinal appears exactly once; deleted ones never do.
//   - Identity index: for Tags[t] (sorted by name), rows [TagStart[t], TagStart[t+1]) of the
//     parallel arrays FPs and Ords hold (fingerprint, ordinal) pairs sorted by fingerprint (the
//     order of identity.Fingerprint.Compare), then by ordinal, without repeated pairs. One
//     fingerprint may appear on several rows when several users share an identifier (a
//     household IP address, say). 16 + 4 = 20 bytes per identifier.
//   - Country[o] is user o's country as two ASCII capital letters packed by PackCountry, 0 when
//     unknown.
//   - Members[c] is the bitmap of the ordinals in cohort Cohorts[c]; Deleted is the bitmap of
//     erased ordinals, which are in no cohort, have no identity row and no country.
//
// A version returned by OpenPublisher shares the decrypted file's memory (arrays and bitmaps are
// views): it must not be modified. Derive a new version instead (package pubsync).
type PublisherVersion struct {
	// Users is the number of ordinals handed out, deleted ones included.
	Users uint32
	// UserKeys holds the keyed 64-bit hashes of the live users' IDs, sorted and unique.
	UserKeys []uint64
	// UserOrds is parallel to UserKeys: the ordinal of each user.
	UserOrds []uint32
	// Tags is the identifier type table, sorted by name, without duplicates.
	Tags []identity.Tag
	// TagStart has len(Tags)+1 entries: the identity rows of Tags[t] are [TagStart[t], TagStart[t+1]).
	TagStart []uint64
	// FPs holds the fingerprints, sorted within each tag's range.
	FPs []identity.Fingerprint
	// Ords is parallel to FPs: the ordinal of the user the identifier belongs to.
	Ords []uint32
	// Country has Users entries: each user's country packed by PackCountry, 0 when unknown.
	Country []uint16
	// Cohorts is the publisher's custom cohort taxonomy.
	Cohorts []CohortInfo
	// Members is parallel to Cohorts: the ordinals in each cohort.
	Members []*roaring.Bitmap
	// Deleted holds the erased ordinals (tombstones). A nil Deleted is read as empty.
	Deleted *roaring.Bitmap
	// Attributes are the publisher's engagement attributes (optional; none in versions written
	// before they existed), and AttributeMembers[a][k] the users holding value k of attribute a.
	Attributes       []AttributeInfo
	AttributeMembers [][]*roaring.Bitmap
	// FingerprintKeyCheck and UserKeyCheck identify the keys the fingerprints and the user-ID
	// hashes were made with (a keyed hash of a fixed label, not the key), so that an update made
	// with other keys is refused instead of silently matching nothing. 0 means unknown.
	FingerprintKeyCheck uint64
	UserKeyCheck        uint64
}

// PackCountry returns the packed form of an ISO 3166-1 alpha-2 code given as two ASCII capital
// letters, or 0 (unknown) for anything else. It does not check that the code is assigned.
func PackCountry(code string) uint16 {
	if !cleanroom.IsCountryCode(code) {
		return 0
	}
	return uint16(code[0])<<8 | uint16(code[1])
}

// CountryCode returns the two-letter code packed in c, or "" for 0 or a value PackCountry does
// not produce.
func CountryCode(c uint16) string {
	a, b := byte(c>>8), byte(c)
	if a < 'A' || a > 'Z' || b < 'A' || b > 'Z' {
		return ""
	}
	return string([]byte{a, b})
}

// publisherMeta is the JSON description stored in the file's header. The arrays are sections.
type publisherMeta struct {
	Users               uint32         `json:"users"`
	Tags                []identity.Tag `json:"tags"`
	Cohorts             []CohortInfo   `json:"cohorts"`
	Rows                int            `json:"rows"`
	UserKeys            int            `json:"user_keys"`
	FingerprintKeyCheck uint64         `json:"fingerprint_key_check,omitempty"`
	UserKeyCheck        uint64         `json:"user_key_check,omitempty"`
	// Attributes is absent in versions written before engagement attributes existed.
	Attributes []AttributeInfo `json:"attributes,omitempty"`
}

// Section names of a publisher version file.
const (
	pubSectionUserKeys  = "user_keys"
	pubSectionUserOrds  = "user_ords"
	pubSectionTagStart  = "tag_start"
	pubSectionFPs       = "fps"
	pubSectionOrds      = "ords"
	pubSectionCountry   = "country"
	pubSectionBitmaps   = "bitmaps"
	pubSectionBitmapOff = "bitmap_off"
)

// Rows returns the number of identity rows over all tags.
func (v *PublisherVersion) Rows() int { return len(v.FPs) }

// Live returns the number of users not erased.
func (v *PublisherVersion) Live() uint32 {
	if v.Deleted == nil {
		return v.Users
	}
	return v.Users - uint32(v.Deleted.GetCardinality())
}

// TagRange returns the identity rows [start, end) of tag, or (0, 0, false) if the version has no
// such tag.
func (v *PublisherVersion) TagRange(tag identity.Tag) (start, end int, ok bool) {
	i, found := slices.BinarySearch(v.Tags, tag)
	if !found {
		return 0, 0, false
	}
	return int(v.TagStart[i]), int(v.TagStart[i+1]), true
}

// lookupRange returns the rows of tag whose fingerprint is fp.
func (v *PublisherVersion) lookupRange(tag identity.Tag, fp identity.Fingerprint) (int, int) {
	start, end, ok := v.TagRange(tag)
	if !ok {
		return 0, 0
	}
	fps := v.FPs[start:end]
	i, _ := slices.BinarySearchFunc(fps, fp, identity.Fingerprint.Compare)
	j := i
	for j < len(fps) && fps[j] == fp {
		j++
	}
	return start + i, start + j
}

// Lookup returns the lowest ordinal of a user with identifier fp of type tag, by binary search.
// It reports false when no user has it.
func (v *PublisherVersion) Lookup(tag identity.Tag, fp identity.Fingerprint) (uint32, bool) {
	i, j := v.lookupRange(tag, fp)
	if i == j {
		return 0, false
	}
	return v.Ords[i], true
}

// LookupAll returns the ordinals of every user with identifier fp of type tag, ascending,
// sharing v's memory; nil when there is none.
func (v *PublisherVersion) LookupAll(tag identity.Tag, fp identity.Fingerprint) []uint32 {
	i, j := v.lookupRange(tag, fp)
	if i == j {
		return nil
	}
	return v.Ords[i:j:j]
}

// FindUser returns the ordinal of the live user whose keyed user-ID hash is h.
func (v *PublisherVersion) FindUser(h uint64) (uint32, bool) {
	i, found := slices.BinarySearch(v.UserKeys, h)
	if !found {
		return 0, false
	}
	return v.UserOrds[i], true
}

// CohortIndex returns the index in Cohorts of the cohort with the given ID.
func (v *PublisherVersion) CohortIndex(id string) (int, bool) {
	for i := range v.Cohorts {
		if v.Cohorts[i].ID == id {
			return i, true
		}
	}
	return 0, false
}

// Write validates v, encrypts it under dataKey and stores it at key as a file of kind
// KindPublisher, returning the number of bytes stored. The blob store makes the write atomic.
// Only hashes, fingerprints, ordinals, packed countries, bitmaps and the tag and cohort tables are
// written: no user ID or identifier.
func (v *PublisherVersion) Write(ctx context.Context, blobs cleanroom.BlobStore, key string, dataKey []byte) (int64, error) {
	if err := v.Validate(); err != nil {
		return 0, err
	}
	bm, off, err := serializeBitmaps(append(slices.Clip(v.Members), v.deletedOrEmpty()))
	if err != nil {
		return 0, err
	}
	meta := publisherMeta{
		Users: v.Users, Tags: v.Tags, Cohorts: v.Cohorts, Rows: len(v.FPs), UserKeys: len(v.UserKeys),
		FingerprintKeyCheck: v.FingerprintKeyCheck, UserKeyCheck: v.UserKeyCheck, Attributes: v.Attributes,
	}
	var extra []Section
	if len(v.Attributes) > 0 {
		abm, aoff, err := serializeBitmaps(v.attributeBitmaps())
		if err != nil {
			return 0, err
		}
		extra = []Section{{Name: pubSectionAttrBitmaps, Data: abm}, {Name: pubSectionAttrBitmapOff, Data: Raw(aoff)}}
	}
	return Write(ctx, blobs, key, dataKey, KindPublisher, meta, append([]Section{
		{Name: pubSectionUserKeys, Data: Raw(v.UserKeys)},
		{Name: pubSectionUserOrds, Data: Raw(v.UserOrds)},
		{Name: pubSectionTagStart, Data: Raw(v.TagStart)},
		{Name: pubSectionFPs, Data: Raw(v.FPs)},
		{Name: pubSectionOrds, Data: Raw(v.Ords)},
		{Name: pubSectionCountry, Data: Raw(v.Country)},
		{Name: pubSectionBitmaps, Data: bm},
		{Name: pubSectionBitmapOff, Data: Raw(off)},
	}, extra...))
}

// deletedOrEmpty returns Deleted, or an empty bitmap when it is nil.
func (v *PublisherVersion) deletedOrEmpty() *roaring.Bitmap {
	if v.Deleted == nil {
		return roaring.New()
	}
	return v.Deleted
}

// serializeBitmaps returns the bitmaps in roaring's portable format, each padded to a multiple
// of 8 bytes, and the len(all)+1 offsets of the bitmaps and of the end (the version's are Members
// then Deleted). Bitmaps are serialised in parallel.
func serializeBitmaps(all []*roaring.Bitmap) ([]byte, []uint64, error) {
	off := make([]uint64, len(all)+1)
	for i, b := range all {
		off[i+1] = off[i] + uint64(align8(int64(b.GetSerializedSizeInBytes())))
	}
	buf := make([]byte, off[len(all)])
	var next sync.Mutex
	n := 0
	errs := make([]error, len(all))
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(all)) {
		wg.Go(func() {
			for {
				next.Lock()
				i := n
				n++
				next.Unlock()
				if i >= len(all) {
					return
				}
				w := pubFixedWriter{buf: buf[off[i]:off[i+1]]}
				if _, err := all[i].WriteTo(&w); err != nil {
					errs[i] = err
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, nil, fmt.Errorf("vault: serialise bitmaps: %w", err)
	}
	return buf, off, nil
}

// pubFixedWriter writes into a preallocated slice.
type pubFixedWriter struct {
	buf []byte
	n   int
}

func (w *pubFixedWriter) Write(p []byte) (int, error) {
	if len(p) > len(w.buf)-w.n {
		return 0, errors.New("bitmap larger than its serialised size")
	}
	w.n += copy(w.buf[w.n:], p)
	return len(p), nil
}

// OpenPublisher reads, authenticates and decrypts the publisher version stored at key (in
// parallel over workers; < 1 means GOMAXPROCS) and checks its invariants. The arrays and bitmaps
// of the result are views into the decrypted file, not copies: the version must not be
// modified. Returns an error wrapping cleanroom.ErrBlobNotFound if there is no such file, and
// an error if the file is damaged, of another kind, or breaks an invariant.
func OpenPublisher(ctx context.Context, blobs cleanroom.BlobStore, key string, dataKey []byte, workers int) (*PublisherVersion, error) {
	if workers < 1 {
		workers = runtime.GOMAXPROCS(0)
	}
	f, err := Open(ctx, blobs, key, dataKey, KindPublisher, workers)
	if err != nil {
		return nil, err
	}
	v, err := publisherFromFile(f)
	if err != nil {
		return nil, fmt.Errorf("vault: %s: %w", key, err)
	}
	return v, nil
}

// publisherFromFile builds the version from a decrypted file and validates it.
func publisherFromFile(f *File) (*PublisherVersion, error) {
	var meta publisherMeta
	if err := f.DecodeMeta(&meta); err != nil {
		return nil, fmt.Errorf("meta: %w", err)
	}
	for _, name := range []string{pubSectionUserKeys, pubSectionUserOrds, pubSectionTagStart, pubSectionFPs,
		pubSectionOrds, pubSectionCountry, pubSectionBitmaps, pubSectionBitmapOff} {
		if !f.Has(name) {
			return nil, fmt.Errorf("no section %q", name)
		}
	}
	v := &PublisherVersion{
		Users: meta.Users, Tags: meta.Tags, Cohorts: meta.Cohorts,
		FingerprintKeyCheck: meta.FingerprintKeyCheck, UserKeyCheck: meta.UserKeyCheck,
	}
	if v.Tags == nil {
		v.Tags = []identity.Tag{}
	}
	if v.Cohorts == nil {
		v.Cohorts = []CohortInfo{}
	}
	var err error
	if v.UserKeys, err = View[uint64](f, pubSectionUserKeys); err != nil {
		return nil, err
	}
	if v.UserOrds, err = View[uint32](f, pubSectionUserOrds); err != nil {
		return nil, err
	}
	if v.TagStart, err = View[uint64](f, pubSectionTagStart); err != nil {
		return nil, err
	}
	if v.FPs, err = View[identity.Fingerprint](f, pubSectionFPs); err != nil {
		return nil, err
	}
	if v.Ords, err = View[uint32](f, pubSectionOrds); err != nil {
		return nil, err
	}
	if v.Country, err = View[uint16](f, pubSectionCountry); err != nil {
		return nil, err
	}
	off, err := View[uint64](f, pubSectionBitmapOff)
	if err != nil {
		return nil, err
	}
	if meta.Rows != len(v.FPs) || meta.UserKeys != len(v.UserKeys) {
		return nil, errors.New("the header's row counts do not match the sections")
	}
	bm := f.Bytes(pubSectionBitmaps)
	if len(off) != len(v.Cohorts)+2 || off[0] != 0 || off[len(off)-1] != uint64(len(bm)) {
		return nil, errors.New("the bitmap offsets do not match the cohort table")
	}
	all := make([]*roaring.Bitmap, len(v.Cohorts)+1)
	for i := range all {
		if off[i+1] < off[i] || off[i]%8 != 0 {
			return nil, fmt.Errorf("bitmap %d has bad offsets", i)
		}
		if all[i], err = pubBitmapView(bm[off[i]:off[i+1]]); err != nil {
			return nil, fmt.Errorf("bitmap %d: %w", i, err)
		}
	}
	v.Members, v.Deleted = all[:len(v.Cohorts):len(v.Cohorts)], all[len(v.Cohorts)]
	if err := v.readAttributes(f, meta.Attributes); err != nil {
		return nil, err
	}
	if err := v.Validate(); err != nil {
		return nil, err
	}
	return v, nil
}

// pubBitmapView returns a bitmap reading its containers in place from b (roaring's portable format
// followed by up to 7 bytes of padding). A malformed buffer is an error, not a panic.
func pubBitmapView(b []byte) (rb *roaring.Bitmap, err error) {
	defer func() {
		if r := recover(); r != nil {
			rb, err = nil, fmt.Errorf("malformed bitmap: %v", r)
		}
	}()
	rb = roaring.New()
	n, err := rb.FromBuffer(b)
	if err != nil {
		return nil, err
	}
	if n > int64(len(b)) || align8(n) != int64(len(b)) {
		return nil, errors.New("bitmap length does not match its section slot")
	}
	if err := rb.Validate(); err != nil {
		return nil, err
	}
	return rb, nil
}

// Validate checks v's invariants: the tag table sorted and unique; TagStart running from 0 to
// len(FPs) without decreasing; FPs and Ords of equal length, each tag's (fingerprint, ordinal)
// pairs strictly increasing and every ordinal live and below Users; the user index sorted,
// unique and a one-to-one map onto the live ordinals; Country of length Users with each entry 0
// or two capital letters, and 0 for deleted ordinals; one bitmap per cohort, cohort IDs unique
// and non-empty, every bitmap's values below Users and disjoint from Deleted. It runs in time
// linear in the arrays, with a bitset of Users bits.
func (v *PublisherVersion) Validate() error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("vault: publisher version: "+format, args...)
	}
	deleted := newPubDense(v.Users)
	ndel := uint64(0)
	if v.Deleted != nil && !v.Deleted.IsEmpty() {
		if v.Deleted.Maximum() >= v.Users {
			return fail("a deleted ordinal is not below Users (%d)", v.Users)
		}
		it := v.Deleted.ManyIterator()
		buf := make([]uint32, 4096)
		for n := it.NextMany(buf); n > 0; n = it.NextMany(buf) {
			for _, o := range buf[:n] {
				deleted.set(o)
			}
		}
		ndel = v.Deleted.GetCardinality()
	}
	// Tags and identity index.
	for i, t := range v.Tags {
		if t == "" || i > 0 && v.Tags[i-1] >= t {
			return fail("tags not sorted, unique and non-empty at %d", i)
		}
	}
	if len(v.TagStart) != len(v.Tags)+1 || v.TagStart[0] != 0 || v.TagStart[len(v.Tags)] != uint64(len(v.FPs)) {
		return fail("TagStart must have %d entries running from 0 to %d", len(v.Tags)+1, len(v.FPs))
	}
	if len(v.Ords) != len(v.FPs) {
		return fail("%d ordinals for %d fingerprints", len(v.Ords), len(v.FPs))
	}
	for t := range v.Tags {
		if v.TagStart[t+1] < v.TagStart[t] {
			return fail("TagStart decreases at %d", t+1)
		}
	}
	// The rows are checked in parallel, in chunks.
	const chunk = 1 << 20
	nchunks := (len(v.FPs) + chunk - 1) / chunk
	errs := make([]error, nchunks)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), nchunks) {
		wg.Go(func() {
			for {
				c := int(next.Add(1) - 1)
				if c >= nchunks {
					return
				}
				lo, hi := uint64(c*chunk), uint64(min((c+1)*chunk, len(v.FPs)))
				t, _ := slices.BinarySearch(v.TagStart, lo+1) // the tag of row lo: TagStart[t-1] <= lo < TagStart[t]
				for i := lo; i < hi; i++ {
					for i >= v.TagStart[t] {
						t++
					}
					o := v.Ords[i]
					if o >= v.Users || deleted.has(o) {
						errs[c] = fail("row %d has ordinal %d, which is deleted or not below Users (%d)", i, o, v.Users)
						return
					}
					if i > v.TagStart[t-1] {
						cmp := v.FPs[i-1].Compare(v.FPs[i])
						if cmp > 0 || cmp == 0 && v.Ords[i-1] >= o {
							errs[c] = fail("rows of tag %s not sorted and unique at row %d", v.Tags[t-1], i)
							return
						}
					}
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// User index.
	if len(v.UserOrds) != len(v.UserKeys) {
		return fail("%d user ordinals for %d user keys", len(v.UserOrds), len(v.UserKeys))
	}
	if uint64(len(v.UserKeys))+ndel != uint64(v.Users) {
		return fail("%d user keys and %d deleted ordinals for %d users", len(v.UserKeys), ndel, v.Users)
	}
	seen := newPubDense(v.Users)
	for i, h := range v.UserKeys {
		if i > 0 && v.UserKeys[i-1] >= h {
			return fail("user keys not sorted and unique at %d", i)
		}
		o := v.UserOrds[i]
		if o >= v.Users || deleted.has(o) || seen.has(o) {
			return fail("user key %d maps to ordinal %d, which is deleted, repeated or not below Users", i, o)
		}
		seen.set(o)
	}
	// Countries.
	if uint64(len(v.Country)) != uint64(v.Users) {
		return fail("%d countries for %d users", len(v.Country), v.Users)
	}
	for o, c := range v.Country {
		if c != 0 && (CountryCode(c) == "" || deleted.has(uint32(o))) {
			return fail("ordinal %d has a malformed country or is deleted and has one", o)
		}
	}
	// Cohorts.
	if len(v.Members) != len(v.Cohorts) {
		return fail("%d bitmaps for %d cohorts", len(v.Members), len(v.Cohorts))
	}
	ids := make(map[string]struct{}, len(v.Cohorts))
	for i, c := range v.Cohorts {
		if c.ID == "" {
			return fail("cohort %d has no ID", i)
		}
		if _, dup := ids[c.ID]; dup {
			return fail("cohort %d: ID listed twice", i)
		}
		ids[c.ID] = struct{}{}
		m := v.Members[i]
		if m == nil {
			return fail("cohort %d has no bitmap", i)
		}
		if !m.IsEmpty() && m.Maximum() >= v.Users {
			return fail("cohort %d has an ordinal not below Users (%d)", i, v.Users)
		}
		if ndel > 0 && m.AndCardinality(v.Deleted) != 0 {
			return fail("cohort %d holds deleted ordinals", i)
		}
	}
	if err := v.validateAttributes(); err != nil {
		return fail("%v", err)
	}
	return nil
}

// pubDense is a fixed-size bitset over ordinals.
type pubDense []uint64

func newPubDense(n uint32) pubDense { return make(pubDense, (uint64(n)+63)/64) }

func (d pubDense) set(o uint32)      { d[o>>6] |= 1 << (o & 63) }
func (d pubDense) has(o uint32) bool { return d[o>>6]&(1<<(o&63)) != 0 }
