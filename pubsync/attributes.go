package pubsync

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/rows"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// Engagement attributes: optional profile columns named number:<name> (a count per user, such
// as page views in the last 30 days) or list:<name> (comma-separated categories, such as the IAB
// content categories the user read). They feed advanced insights: the version keeps, for each
// attribute value (a number's bucket, a list's category), the bitmap of users holding it.
const (
	// MaxAttributes is the most engagement attribute columns a profile file may have.
	MaxAttributes = 8
	// MaxAttributeValues is the most distinct categories a list attribute keeps; further ones
	// are dropped (counted as too_many_attribute_values).
	MaxAttributeValues = 1000
	// maxAttributeValueBytes is the longest category.
	maxAttributeValueBytes = 64

	// ReasonBadAttribute: an engagement attribute's value is not a whole number from 0 (number)
	// or a category of 1 to 64 printable ASCII characters without spaces (list). The value is
	// dropped, the user kept.
	ReasonBadAttribute = "bad_attribute"
	// ReasonTooManyAttributeValues: a list attribute has more than MaxAttributeValues distinct
	// categories; the memberships of the further ones are dropped.
	ReasonTooManyAttributeValues = "too_many_attribute_values"
)

// NumberBuckets are the buckets a number attribute's values are kept in, by their lower bound:
// "0", "1-4", "5-9", "10-19", "20-49", "50-99", "100+".
var NumberBuckets = []struct {
	Label string
	From  uint64
}{{"0", 0}, {"1-4", 1}, {"5-9", 5}, {"10-19", 10}, {"20-49", 20}, {"50-99", 50}, {"100+", 100}}

// bucketOfNumber returns the bucket of n.
func bucketOfNumber(n uint64) uint32 {
	b := 0
	for i, nb := range NumberBuckets {
		if n >= nb.From {
			b = i
		}
	}
	return uint32(b)
}

// attrCol is an engagement attribute column of the header.
type attrCol struct {
	name string
	kind string // vault.AttributeNumber or vault.AttributeList
	col  int    // position in the row
}

// parseAttrColumn reports whether a header name is an engagement attribute column, and checks
// its name.
func parseAttrColumn(n string, col int) (attrCol, bool, error) {
	kind, name, ok := strings.Cut(n, ":")
	if !ok || kind != vault.AttributeNumber && kind != vault.AttributeList {
		return attrCol{}, false, nil
	}
	if name == "" || len(name) > 64 || strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
		return attrCol{}, false, cleanroom.Errorf(cleanroom.EINVALID, "The header's attribute column %q has a bad name.", truncate(n, 40)).
			Hint("Name engagement attributes number:<name> or list:<name>, the name in lower-case letters, digits and underscores, such as number:page_views_30d.")
	}
	return attrCol{name: name, kind: kind, col: col}, true, nil
}

// addAttrColumn adds an attribute column to the layout.
func (l *layout) addAttrColumn(a attrCol) error {
	for _, x := range l.attrs {
		if x.name == a.name {
			return cleanroom.Errorf(cleanroom.EINVALID, "The header names attribute %q twice.", a.name).
				Hint("Give each engagement attribute one column.")
		}
	}
	if len(l.attrs) >= MaxAttributes {
		return cleanroom.Errorf(cleanroom.EINVALID, "The header has more than %d engagement attribute columns.", MaxAttributes).
			Hint("Keep the attributes advanced insights should show; leave the others out of the file.")
	}
	l.attrs = append(l.attrs, a)
	return nil
}

// blockAttr is a block's values of one attribute: pairs of (value, block-local user), value a
// bucket (number) or an index into values (list), sorted by value then user.
type blockAttr struct {
	values []string
	pairs  []cohortPair
}

// attrScratch is a worker's state for one attribute while it parses a block.
type attrScratch struct {
	dict  map[string]uint32
	out   blockAttr
	seen  []uint32
	first bool
}

// attributes parses the attribute fields of user local.
func (w *worker) attributes(field func(i int) []byte, local uint32) {
	if len(w.lay.attrs) == 0 {
		return
	}
	if w.attrs == nil {
		w.attrs = make([]attrScratch, len(w.lay.attrs))
	}
	for a, col := range w.lay.attrs {
		st := &w.attrs[a]
		f := rows.TrimSpace(field(col.col))
		if len(f) == 0 {
			continue
		}
		if col.kind == vault.AttributeNumber {
			n, err := strconv.ParseUint(string(f), 10, 64)
			if err != nil {
				w.addErr(ReasonBadAttribute, fmt.Sprintf("the %s value is not a whole number from 0; it is dropped", col.name),
					"Write the count as digits only, such as 12, or leave the field empty when unknown.")
				continue
			}
			st.out.pairs = append(st.out.pairs, cohortPair{bucketOfNumber(n), local})
			continue
		}
		st.seen = st.seen[:0]
		bad := false
		for item := range strings.SplitSeq(string(f), ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			if len(item) > maxAttributeValueBytes || cleanroom.ValidateSegmentID("category", item) != nil {
				bad = true
				continue
			}
			if st.dict == nil {
				st.dict = map[string]uint32{}
			}
			id, ok := st.dict[item]
			if !ok {
				id = uint32(len(st.out.values))
				st.dict[item] = id
				st.out.values = append(st.out.values, item)
			}
			if !slices.Contains(st.seen, id) {
				st.seen = append(st.seen, id)
				st.out.pairs = append(st.out.pairs, cohortPair{id, local})
			}
		}
		if bad {
			w.addErr(ReasonBadAttribute, fmt.Sprintf("a %s category is empty, longer than %d characters or holds spaces or non-ASCII characters; it is dropped", col.name, maxAttributeValueBytes),
				"Write categories as IDs such as IAB1-2, separated by commas.")
		}
	}
}

// finishAttributes hands the block's attribute values to its result and resets the scratch.
func (w *worker) finishAttributes() {
	if len(w.attrs) == 0 {
		return
	}
	w.res.attrs = make([]blockAttr, len(w.attrs))
	for a := range w.attrs {
		st := &w.attrs[a]
		slices.SortStableFunc(st.out.pairs, func(x, y cohortPair) int { return cmp.Compare(x.c, y.c) })
		w.res.attrs[a] = st.out
		st.out = blockAttr{}
		clear(st.dict)
	}
}

// syncAttr is an attribute being built: its values and their bitmaps over pre-ordinals.
type syncAttr struct {
	index   map[string]int
	values  []string
	members []*roaring.Bitmap
}

// commitAttributes adds a committed block's attribute values to the bitmaps.
func (s *syncer) commitAttributes(b *blockResult) {
	if len(s.lay.attrs) == 0 {
		return
	}
	if s.attrs == nil {
		s.attrs = make([]syncAttr, len(s.lay.attrs))
		for a, col := range s.lay.attrs {
			if col.kind == vault.AttributeNumber {
				for _, nb := range NumberBuckets {
					s.attrs[a].values = append(s.attrs[a].values, nb.Label)
					s.attrs[a].members = append(s.attrs[a].members, roaring.New())
				}
			} else {
				s.attrs[a].index = map[string]int{}
			}
		}
	}
	for a, ba := range b.attrs {
		sa := &s.attrs[a]
		for i := 0; i < len(ba.pairs); {
			j := i
			for j < len(ba.pairs) && ba.pairs[j].c == ba.pairs[i].c {
				j++
			}
			g := int(ba.pairs[i].c)
			if s.lay.attrs[a].kind == vault.AttributeList {
				val := ba.values[g]
				var ok bool
				if g, ok = sa.index[val]; !ok {
					if len(sa.values) >= MaxAttributeValues {
						if s.errs.rejected == nil {
							s.errs.rejected = map[string]int64{}
						}
						s.errs.rejected[ReasonTooManyAttributeValues] += int64(j - i)
						i = j
						continue
					}
					g = len(sa.values)
					sa.index[val] = g
					sa.values = append(sa.values, val)
					sa.members = append(sa.members, roaring.New())
				}
			}
			s.ordBuf = s.ordBuf[:0]
			for _, p := range ba.pairs[i:j] {
				s.ordBuf = append(s.ordBuf, b.base+p.u)
			}
			sa.members[g].AddMany(s.ordBuf)
			i = j
		}
	}
	b.attrs = nil
}

// assembleAttributes sets the version's attributes: bitmaps renumbered when rows were dropped,
// a list's categories in natural order (IAB2 before IAB10).
func (s *syncer) assembleAttributes(v *vault.PublisherVersion, remap []uint32) {
	for a, col := range s.lay.attrs {
		info := vault.AttributeInfo{Name: col.name, Kind: col.kind, Values: []string{}}
		var ms []*roaring.Bitmap
		if s.attrs != nil {
			sa := s.attrs[a]
			order := make([]int, len(sa.values))
			for i := range order {
				order[i] = i
			}
			if col.kind == vault.AttributeList {
				slices.SortFunc(order, func(x, y int) int { return naturalCompare(sa.values[x], sa.values[y]) })
			}
			for _, i := range order {
				m := sa.members[i]
				if remap != nil {
					m = remapBitmap(m, remap)
				}
				if col.kind == vault.AttributeList && m.IsEmpty() {
					continue // held only by duplicate rows
				}
				info.Values = append(info.Values, sa.values[i])
				ms = append(ms, m)
			}
		} else if col.kind == vault.AttributeNumber { // a file without users
			for _, nb := range NumberBuckets {
				info.Values = append(info.Values, nb.Label)
				ms = append(ms, roaring.New())
			}
		}
		v.Attributes = append(v.Attributes, info)
		v.AttributeMembers = append(v.AttributeMembers, ms)
	}
}

// naturalCompare orders strings with runs of digits compared as numbers: "IAB2" < "IAB10".
func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		da, db := digitRun(a), digitRun(b)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if c := cmp.Compare(len(na), len(nb)); c != 0 {
				return c
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return cmp.Compare(a[0], b[0])
		}
		a, b = a[1:], b[1:]
	}
	return cmp.Compare(len(a), len(b))
}

// digitRun returns the length of the run of ASCII digits s starts with.
func digitRun(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}
