package match

import (
	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// Evaluate computes q over pub: each leaf condition's bitmap comes from lookup (a nil bitmap is
// empty; lookup's bitmaps are only read), groups combine them, and the result is restricted to
// q.Country when set. Erased users are never in the result. Returns lookup's error, or an
// EINVALID error if q is invalid.
func Evaluate(q cleanroom.CohortQuery, lookup func(cond cleanroom.Condition) (*roaring.Bitmap, error), pub *vault.PublisherVersion) (*roaring.Bitmap, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	b, err := evalGroup(q.Op, q.Conditions, lookup)
	if err != nil {
		return nil, err
	}
	if b.IsEmpty() {
		return roaring.New(), nil
	}
	if len(q.Country) > 0 {
		b = geoLock(b, q.Country, pub)
	}
	if pub.Deleted != nil && !pub.Deleted.IsEmpty() {
		b.AndNot(pub.Deleted)
	}
	return b, nil
}

// evalGroup returns a new bitmap of the group's users (safe to modify).
func evalGroup(op string, conds []cleanroom.Condition, lookup func(cleanroom.Condition) (*roaring.Bitmap, error)) (*roaring.Bitmap, error) {
	parts := make([]*roaring.Bitmap, 0, len(conds))
	for _, c := range conds {
		var b *roaring.Bitmap
		var err error
		if c.IsGroup() {
			b, err = evalGroup(c.Op, c.Conditions, lookup)
		} else {
			b, err = lookup(c)
		}
		if err != nil {
			return nil, err
		}
		if b == nil {
			b = roaring.New()
		}
		if op == cleanroom.OpAll && b.IsEmpty() {
			return roaring.New(), nil
		}
		parts = append(parts, b)
	}
	if len(parts) == 1 {
		return parts[0].Clone(), nil
	}
	if op == cleanroom.OpAll {
		return roaring.FastAnd(parts...), nil
	}
	return roaring.FastOr(parts...), nil
}

// geoLock returns the users of b whose country is one of codes.
func geoLock(b *roaring.Bitmap, codes []string, pub *vault.PublisherVersion) *roaring.Bitmap {
	var allowed [1 << 16]bool
	for _, c := range codes {
		allowed[vault.PackCountry(c)] = true
	}
	allowed[0] = false
	out := roaring.New()
	buf := make([]uint32, 4096)
	it := b.ManyIterator()
	for n := it.NextMany(buf); n > 0; n = it.NextMany(buf) {
		keep := buf[:0]
		for _, o := range buf[:n] {
			if int(o) < len(pub.Country) && allowed[pub.Country[o]] {
				keep = append(keep, o)
			}
		}
		out.AddMany(keep)
	}
	return out
}

// Resolver returns a lookup function for Evaluate: a data-source condition is answered from
// sources (match results by data source ID, Segment "" meaning Result.Any), a publisher-cohort
// condition from pub's cohort bitmaps. An unknown data source, segment or cohort is an
// EINVALID error. It does not check permissions: the caller passes only the sources and
// checks the cohorts the parties may use.
func Resolver(sources map[string]*Result, pub *vault.PublisherVersion) func(cleanroom.Condition) (*roaring.Bitmap, error) {
	return func(c cleanroom.Condition) (*roaring.Bitmap, error) {
		if c.PublisherCohort != "" {
			i, ok := pub.CohortIndex(c.PublisherCohort)
			if !ok {
				return nil, cleanroom.Errorf(cleanroom.EINVALID, "The publisher has no cohort %q.", truncate(c.PublisherCohort, 64)).
					With("field", "publisher_cohort")
			}
			return pub.Members[i], nil
		}
		r, ok := sources[c.DataSource]
		if !ok {
			return nil, cleanroom.Errorf(cleanroom.EINVALID, "The data source %q is not part of this match.", truncate(c.DataSource, 64)).
				With("field", "data_source")
		}
		b, ok := r.Segment(c.Segment)
		if !ok {
			return nil, cleanroom.Errorf(cleanroom.EINVALID, "The data source %q has no segment %q.", truncate(c.DataSource, 64), truncate(c.Segment, 64)).
				With("field", "segment")
		}
		return b, nil
	}
}

// truncate shortens s to n bytes for an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
