package vault

import (
	"errors"
	"fmt"

	"github.com/RoaringBitmap/roaring/v2"
)

// Kinds of engagement attribute.
const (
	// AttributeNumber is a count per user (page views in the last 30 days, say), kept as the
	// bucket it falls in: Values are the buckets' labels.
	AttributeNumber = "number"
	// AttributeList is a set of categories per user (IAB content categories read, say): Values
	// are the categories.
	AttributeList = "list"
)

// AttributeInfo describes one engagement attribute of a publisher version: its values and, in
// PublisherVersion.AttributeMembers, the users holding each.
type AttributeInfo struct {
	// Name is the attribute's column name in the profile file.
	Name string `json:"name"`
	// Kind is AttributeNumber or AttributeList.
	Kind string `json:"kind"`
	// Values are the bucket labels of a number, in order, or the categories of a list, sorted.
	Values []string `json:"values"`
}

// Section names of the optional engagement attributes; a version written before they existed has
// neither and reads as one without attributes.
const (
	pubSectionAttrBitmaps   = "attr_bitmaps"
	pubSectionAttrBitmapOff = "attr_bitmap_off"
)

// attributeBitmaps returns the attribute value bitmaps in order, attribute by attribute.
func (v *PublisherVersion) attributeBitmaps() []*roaring.Bitmap {
	var all []*roaring.Bitmap
	for _, ms := range v.AttributeMembers {
		all = append(all, ms...)
	}
	return all
}

// readAttributes opens the attribute bitmaps of a decrypted file, if it has them.
func (v *PublisherVersion) readAttributes(f *File, attrs []AttributeInfo) error {
	v.Attributes = attrs
	if len(attrs) == 0 {
		return nil
	}
	if !f.Has(pubSectionAttrBitmaps) || !f.Has(pubSectionAttrBitmapOff) {
		return errors.New("attributes listed without their bitmaps")
	}
	off, err := View[uint64](f, pubSectionAttrBitmapOff)
	if err != nil {
		return err
	}
	bm := f.Bytes(pubSectionAttrBitmaps)
	n := 0
	for _, a := range attrs {
		n += len(a.Values)
	}
	if len(off) != n+1 || off[0] != 0 || off[n] != uint64(len(bm)) {
		return errors.New("the attribute bitmap offsets do not match the attribute table")
	}
	v.AttributeMembers = make([][]*roaring.Bitmap, len(attrs))
	i := 0
	for a := range attrs {
		v.AttributeMembers[a] = make([]*roaring.Bitmap, len(attrs[a].Values))
		for k := range attrs[a].Values {
			if off[i+1] < off[i] || off[i]%8 != 0 {
				return fmt.Errorf("attribute bitmap %d has bad offsets", i)
			}
			if v.AttributeMembers[a][k], err = pubBitmapView(bm[off[i]:off[i+1]]); err != nil {
				return fmt.Errorf("attribute bitmap %d: %w", i, err)
			}
			i++
		}
	}
	return nil
}

// validateAttributes checks the attribute table and bitmaps: names unique and non-empty, a known
// kind, values unique, one bitmap per value, below Users and disjoint from Deleted.
func (v *PublisherVersion) validateAttributes() error {
	if len(v.AttributeMembers) != len(v.Attributes) {
		return fmt.Errorf("%d attribute bitmap lists for %d attributes", len(v.AttributeMembers), len(v.Attributes))
	}
	names := map[string]bool{}
	for a, info := range v.Attributes {
		if info.Name == "" || names[info.Name] {
			return fmt.Errorf("attribute %d: name empty or repeated", a)
		}
		names[info.Name] = true
		if info.Kind != AttributeNumber && info.Kind != AttributeList {
			return fmt.Errorf("attribute %s: unknown kind %q", info.Name, info.Kind)
		}
		if len(v.AttributeMembers[a]) != len(info.Values) {
			return fmt.Errorf("attribute %s: %d bitmaps for %d values", info.Name, len(v.AttributeMembers[a]), len(info.Values))
		}
		vals := map[string]bool{}
		for k, val := range info.Values {
			if val == "" || vals[val] {
				return fmt.Errorf("attribute %s: value %d empty or repeated", info.Name, k)
			}
			vals[val] = true
			m := v.AttributeMembers[a][k]
			if m == nil {
				return fmt.Errorf("attribute %s: value %q has no bitmap", info.Name, val)
			}
			if !m.IsEmpty() && m.Maximum() >= v.Users {
				return fmt.Errorf("attribute %s: value %q has an ordinal not below Users (%d)", info.Name, val, v.Users)
			}
			if v.Deleted != nil && m.Intersects(v.Deleted) {
				return fmt.Errorf("attribute %s: value %q holds deleted ordinals", info.Name, val)
			}
		}
	}
	return nil
}
