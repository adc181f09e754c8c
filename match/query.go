package match

import (
	"errors"
	"fmt"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// Query operators.
const (
	// OpAll is the intersection of the conditions: users that meet every one.
	OpAll = "all"
	// OpAny is the union of the conditions: users that meet at least one.
	OpAny = "any"
)

// Query limits.
const (
	// MaxConditions is the most conditions a query may hold, groups and leaves at every level
	// counted.
	MaxConditions = 100
	// MaxCountries is the most country codes a geo-lock may list.
	MaxCountries = 250
)

// Query selects publisher users: its conditions combined by Op, then, when Country is not
// empty, only users located in one of those countries. In JSON:
//
//	{"op": "all", "conditions": [
//	    {"data_source": "ds1", "segment": "lapsed"},
//	    {"op": "any", "conditions": [{"publisher_cohort": "travel"}, {"data_source": "ds2", "segment": "vip"}]}
//	 ], "country": ["DE", "FR"]}
//
// Groups nest one level: a condition of the top level may be a group, a condition of a group
// may not.
type Query struct {
	// Op is OpAll or OpAny.
	Op string `json:"op"`
	// Conditions holds at least one condition.
	Conditions []Condition `json:"conditions"`
	// Country is the geo-lock: ISO 3166-1 alpha-2 codes in capitals; empty means any country.
	// A user whose country is unknown is excluded by a geo-lock.
	Country []string `json:"country,omitempty"`
}

// Condition is one term of a query: exactly one of a data-source segment (DataSource, with
// Segment; an empty Segment means every row of the data source), a publisher cohort
// (PublisherCohort: a standard cohort or a custom cohort the publisher shares), or a group (Op
// and Conditions).
type Condition struct {
	DataSource      string      `json:"data_source,omitempty"`
	Segment         string      `json:"segment,omitempty"`
	PublisherCohort string      `json:"publisher_cohort,omitempty"`
	Op              string      `json:"op,omitempty"`
	Conditions      []Condition `json:"conditions,omitempty"`
}

// IsGroup reports whether c is a group of conditions.
func (c Condition) IsGroup() bool { return c.Op != "" || c.Conditions != nil }

// Validate checks q: a known operator and at least one condition in every group, groups nested
// at most one level below the top, at most MaxConditions conditions, each condition of exactly
// one kind, IDs (data source, segment, publisher cohort) that follow cleanroom.ValidateSegmentID
// (no control characters such as NUL, no spaces or commas, at most 128 bytes), and country codes
// of two capital letters, at most MaxCountries. Returns an EINVALID *cleanroom.Error naming the
// problem and, for an ID, the field (such as query.conditions[1].conditions[0].segment).
func (q Query) Validate() error {
	n := 0
	if err := validateGroup(q.Op, q.Conditions, 1, "query", "query", &n); err != nil {
		return err
	}
	if len(q.Country) > MaxCountries {
		return cleanroom.Errorf(cleanroom.EINVALID, "The geo-lock lists %d countries; the most is %d.", len(q.Country), MaxCountries).
			With("field", "country")
	}
	for _, c := range q.Country {
		if vault.PackCountry(c) == 0 {
			return cleanroom.Errorf(cleanroom.EINVALID, "The country %q is not a two-letter ISO 3166-1 code in capitals.", truncate(c, 8)).
				With("field", "country").Hint("Use codes such as US, DE or FR.")
		}
	}
	return nil
}

// validateGroup checks a group at the given depth (1 for the top), found at path in the request
// (query, query.conditions[2]), and adds its conditions to *n.
func validateGroup(op string, conds []Condition, depth int, where, path string, n *int) error {
	if op != OpAll && op != OpAny {
		return cleanroom.Errorf(cleanroom.EINVALID, "The %s's op must be %q or %q.", where, OpAll, OpAny).With("field", "op")
	}
	if len(conds) == 0 {
		return cleanroom.Errorf(cleanroom.EINVALID, "The %s has no conditions.", where).
			Hint("Add at least one data-source segment or publisher cohort.")
	}
	for i, c := range conds {
		at := fmt.Sprintf("%s.conditions[%d]", path, i)
		if *n++; *n > MaxConditions {
			return cleanroom.Errorf(cleanroom.EINVALID, "The query has more than %d conditions.", MaxConditions)
		}
		leaf := c.DataSource != "" || c.Segment != "" || c.PublisherCohort != ""
		switch {
		case c.IsGroup() && leaf:
			return cleanroom.Errorf(cleanroom.EINVALID, "A condition is both a group and a segment or cohort.").
				Hint("Put the segment or cohort in the group's conditions.")
		case c.IsGroup():
			if depth >= 2 {
				return cleanroom.Errorf(cleanroom.EINVALID, "Groups nest only one level deep.").
					Hint("Flatten the inner group into its parent, or move it to the top level.")
			}
			if err := validateGroup(c.Op, c.Conditions, depth+1, "group", at, n); err != nil {
				return err
			}
			continue
		case c.PublisherCohort != "" && (c.DataSource != "" || c.Segment != ""):
			return cleanroom.Errorf(cleanroom.EINVALID, "A condition names both a publisher cohort and a data source.").
				Hint("Use one condition for each.")
		case c.PublisherCohort != "":
		case c.DataSource == "":
			return cleanroom.Errorf(cleanroom.EINVALID, "A segment condition has no data source.").With("field", "data_source")
		}
		for _, id := range []struct{ what, field, value string }{
			{"data source ID", "data_source", c.DataSource},
			{"segment ID", "segment", c.Segment},
			{"publisher cohort ID", "publisher_cohort", c.PublisherCohort},
		} {
			if id.value == "" {
				continue
			}
			if err := cleanroom.ValidateSegmentID(id.what, id.value); err != nil {
				var e *cleanroom.Error
				errors.As(err, &e)
				return e.With("field", at+"."+id.field)
			}
		}
	}
	return nil
}

// truncate shortens s to at most n bytes for an error message.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// Evaluate computes q over pub: each leaf condition's bitmap comes from lookup (a nil bitmap is
// empty; lookup's bitmaps are only read), groups combine them, and the result is restricted to
// q.Country when set. Erased users are never in the result. Returns lookup's error, or an
// EINVALID error if q is invalid.
func Evaluate(q Query, lookup func(cond Condition) (*roaring.Bitmap, error), pub *vault.PublisherVersion) (*roaring.Bitmap, error) {
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
func evalGroup(op string, conds []Condition, lookup func(Condition) (*roaring.Bitmap, error)) (*roaring.Bitmap, error) {
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
		if op == OpAll && b.IsEmpty() {
			return roaring.New(), nil
		}
		parts = append(parts, b)
	}
	if len(parts) == 1 {
		return parts[0].Clone(), nil
	}
	if op == OpAll {
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
func Resolver(sources map[string]*Result, pub *vault.PublisherVersion) func(Condition) (*roaring.Bitmap, error) {
	return func(c Condition) (*roaring.Bitmap, error) {
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
