package vault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/identity"
)

// KindAdvertiser is the kind of the file that holds one advertiser data source version.
const KindAdvertiser = "advertiser-version/v1"

// AdvertiserVersion is one immutable version of an advertiser data source, in the layout the
// match reads: per identifier type, a sorted array of unique fingerprints, and per fingerprint
// the set of the advertiser's segments it belongs to.
//
// The fingerprints of Tags[i] are FPs[TagStart[i]:TagStart[i+1]], sorted bytewise (the order of
// identity.Fingerprint.Compare) and unique, so a match is a merge of two sorted arrays. Row r
// (the fingerprint FPs[r]) is in the segments Segs[SegOff[r]:SegOff[r+1]], indices into
// Segments, sorted and unique. A row with no segment is kept: it still counts for matches over
// all of the advertiser's users.
//
// A version opened with OpenAdvertiser shares the decrypted file's memory: it must not be
// modified.
type AdvertiserVersion struct {
	// Tags is the tag table, sorted by name, without duplicates.
	Tags []identity.Tag
	// TagStart has len(Tags)+1 entries: the rows of Tags[i] are [TagStart[i], TagStart[i+1]).
	TagStart []uint32
	// FPs holds the fingerprints, unique and sorted within each tag's range.
	FPs []identity.Fingerprint
	// SegOff has len(FPs)+1 entries: row r's segments are Segs[SegOff[r]:SegOff[r+1]].
	SegOff []uint32
	// Segs holds indices into Segments, sorted and unique within each row.
	Segs []uint32
	// Segments holds the data source's segment IDs in taxonomy order.
	Segments []string
}

// advertiserMeta is the JSON description stored in the file's header. The arrays are sections.
type advertiserMeta struct {
	Tags     []identity.Tag `json:"tags"`
	Segments []string       `json:"segments"`
	Rows     int            `json:"rows"`
}

// Section names of an advertiser version file.
const (
	advSectionTagStart = "tag_start"
	advSectionFPs      = "fps"
	advSectionSegOff   = "seg_off"
	advSectionSegs     = "segs"
)

// Rows returns the number of rows (unique fingerprints over all tags).
func (v *AdvertiserVersion) Rows() int { return len(v.FPs) }

// TagRange returns the row range [start, end) of tag, or (0, 0, false) if the version has no
// row of that tag.
func (v *AdvertiserVersion) TagRange(tag identity.Tag) (start, end int, ok bool) {
	i, found := slices.BinarySearch(v.Tags, tag)
	if !found {
		return 0, 0, false
	}
	return int(v.TagStart[i]), int(v.TagStart[i+1]), true
}

// RowSegments returns the segment indices of row r, sharing v's memory.
func (v *AdvertiserVersion) RowSegments(r int) []uint32 {
	return v.Segs[v.SegOff[r]:v.SegOff[r+1]:v.SegOff[r+1]]
}

// Write validates v, encrypts it under dataKey and stores it at key as a file of kind
// KindAdvertiser, returning the number of bytes stored. The blob store makes the write atomic.
// Only fingerprints, segment indices and the tag and segment tables are written.
func (v *AdvertiserVersion) Write(ctx context.Context, blobs cleanroom.BlobStore, key string, dataKey []byte) (int64, error) {
	if err := v.Validate(); err != nil {
		return 0, err
	}
	meta := advertiserMeta{Tags: v.Tags, Segments: v.Segments, Rows: len(v.FPs)}
	return Write(ctx, blobs, key, dataKey, KindAdvertiser, meta, []Section{
		{Name: advSectionTagStart, Data: Raw(v.TagStart)},
		{Name: advSectionFPs, Data: Raw(v.FPs)},
		{Name: advSectionSegOff, Data: Raw(v.SegOff)},
		{Name: advSectionSegs, Data: Raw(v.Segs)},
	})
}

// AdvertiserStream is an advertiser version too large to hold in memory, described by its sizes
// and written section by section: Write stores the same file as AdvertiserVersion.Write would for
// the same arrays.
type AdvertiserStream struct {
	// Tags, TagStart and Segments are as in AdvertiserVersion.
	Tags     []identity.Tag
	TagStart []uint32
	Segments []string
	// Rows is len(FPs); SegEntries is len(Segs).
	Rows, SegEntries int64
	// WriteFPs writes FPs (16 bytes per row), WriteSegOff SegOff (Rows+1 little-endian uint32)
	// and WriteSegs Segs (SegEntries little-endian uint32). Each may be called more than once.
	WriteFPs, WriteSegOff, WriteSegs func(w io.Writer) error
}

// Write encrypts the version under dataKey and stores it at key as a file of kind
// KindAdvertiser, returning the number of bytes stored. The arrays are not validated as
// AdvertiserVersion.Write does (they are never whole in memory): OpenAdvertiser checks them.
func (s *AdvertiserStream) Write(ctx context.Context, blobs cleanroom.BlobStore, key string, dataKey []byte) (int64, error) {
	if len(s.TagStart) != len(s.Tags)+1 || int64(s.TagStart[len(s.Tags)]) != s.Rows ||
		s.Rows > 1<<32-1 || s.SegEntries > 1<<32-1 {
		return 0, errors.New("vault: advertiser stream: tag table and sizes disagree")
	}
	meta := advertiserMeta{Tags: s.Tags, Segments: s.Segments, Rows: int(s.Rows)}
	return WriteStream(ctx, blobs, key, dataKey, KindAdvertiser, meta, []StreamSection{
		{Name: advSectionTagStart, Size: 4 * int64(len(s.TagStart)), Write: func(w io.Writer) error {
			_, err := w.Write(Raw(s.TagStart))
			return err
		}},
		{Name: advSectionFPs, Size: 16 * s.Rows, Write: s.WriteFPs},
		{Name: advSectionSegOff, Size: 4 * (s.Rows + 1), Write: s.WriteSegOff},
		{Name: advSectionSegs, Size: 4 * s.SegEntries, Write: s.WriteSegs},
	})
}

// OpenAdvertiser reads, authenticates and decrypts the advertiser version stored at key (in
// parallel over workers; < 1 means GOMAXPROCS) and checks its invariants. The arrays of the
// result are views into the decrypted file, not copies. Returns an error wrapping
// cleanroom.ErrBlobNotFound if there is no such file, and an error if the file is damaged, of
// another kind, or breaks an invariant.
func OpenAdvertiser(ctx context.Context, blobs cleanroom.BlobStore, key string, dataKey []byte, workers int) (*AdvertiserVersion, error) {
	f, err := Open(ctx, blobs, key, dataKey, KindAdvertiser, workers)
	if err != nil {
		return nil, err
	}
	var meta advertiserMeta
	if err := f.DecodeMeta(&meta); err != nil {
		return nil, fmt.Errorf("vault: %s: meta: %w", key, err)
	}
	v := &AdvertiserVersion{Tags: meta.Tags, Segments: meta.Segments}
	if v.Tags == nil {
		v.Tags = []identity.Tag{}
	}
	if v.Segments == nil {
		v.Segments = []string{}
	}
	for _, s := range []struct {
		name string
		dst  *[]uint32
	}{{advSectionTagStart, &v.TagStart}, {advSectionSegOff, &v.SegOff}, {advSectionSegs, &v.Segs}} {
		if !f.Has(s.name) {
			return nil, fmt.Errorf("vault: %s: no section %q", key, s.name)
		}
		if *s.dst, err = View[uint32](f, s.name); err != nil {
			return nil, err
		}
	}
	if !f.Has(advSectionFPs) {
		return nil, fmt.Errorf("vault: %s: no section %q", key, advSectionFPs)
	}
	if v.FPs, err = View[identity.Fingerprint](f, advSectionFPs); err != nil {
		return nil, err
	}
	if meta.Rows != len(v.FPs) {
		return nil, fmt.Errorf("vault: %s: header says %d rows, the file has %d", key, meta.Rows, len(v.FPs))
	}
	if err := v.Validate(); err != nil {
		return nil, fmt.Errorf("vault: %s: %w", key, err)
	}
	return v, nil
}

// Validate checks v's invariants: the tag table sorted and unique, the offset arrays of the
// right lengths, starting at 0, non-decreasing and ending at the array they index, the
// fingerprints sorted and unique within each tag, each row's segments sorted, unique and in
// range, and the segment IDs unique. It runs in one pass over the arrays.
func (v *AdvertiserVersion) Validate() error {
	if len(v.FPs) > 1<<32-1 || len(v.Segs) > 1<<32-1 {
		return errors.New("vault: advertiser version: more rows or segment entries than 32-bit offsets address")
	}
	for i := 1; i < len(v.Tags); i++ {
		if v.Tags[i-1] >= v.Tags[i] {
			return fmt.Errorf("vault: advertiser version: tags not sorted and unique at %d", i)
		}
	}
	if err := advCheckOffsets("TagStart", v.TagStart, len(v.Tags), len(v.FPs)); err != nil {
		return err
	}
	if err := advCheckOffsets("SegOff", v.SegOff, len(v.FPs), len(v.Segs)); err != nil {
		return err
	}
	seen := make(map[string]struct{}, len(v.Segments))
	for _, s := range v.Segments {
		if _, dup := seen[s]; dup {
			return errors.New("vault: advertiser version: a segment ID is listed twice")
		}
		seen[s] = struct{}{}
	}
	for t := range v.Tags {
		fps := v.FPs[v.TagStart[t]:v.TagStart[t+1]]
		for i := 1; i < len(fps); i++ {
			if fps[i-1].Compare(fps[i]) >= 0 {
				return fmt.Errorf("vault: advertiser version: fingerprints of tag %s not sorted and unique at row %d",
					v.Tags[t], int(v.TagStart[t])+i)
			}
		}
	}
	nseg := uint32(len(v.Segments))
	for r := range len(v.FPs) {
		segs := v.Segs[v.SegOff[r]:v.SegOff[r+1]]
		for i, s := range segs {
			if s >= nseg {
				return fmt.Errorf("vault: advertiser version: row %d has segment index %d of %d", r, s, nseg)
			}
			if i > 0 && segs[i-1] >= s {
				return fmt.Errorf("vault: advertiser version: segments of row %d not sorted and unique", r)
			}
		}
	}
	return nil
}

// advCheckOffsets checks that off is an offset array over n items into an array of length total:
// n+1 entries, starting at 0, non-decreasing, ending at total.
func advCheckOffsets(name string, off []uint32, n, total int) error {
	if len(off) != n+1 {
		return fmt.Errorf("vault: advertiser version: %s has %d entries, want %d", name, len(off), n+1)
	}
	if off[0] != 0 || int(off[n]) != total {
		return fmt.Errorf("vault: advertiser version: %s must run from 0 to %d", name, total)
	}
	for i := 1; i < len(off); i++ {
		if off[i] < off[i-1] {
			return fmt.Errorf("vault: advertiser version: %s decreases at %d", name, i)
		}
	}
	return nil
}
