package cleanroom

import (
	"errors"
	"fmt"
)

// Cohort query operators.
const (
	// OpAll is the intersection of the conditions: users that meet every one.
	OpAll = "all"
	// OpAny is the union of the conditions: users that meet at least one.
	OpAny = "any"
)

// Cohort query limits.
const (
	// MaxConditions is the most conditions a query may hold, groups and leaves at every level
	// counted.
	MaxConditions = 100
	// MaxCountries is the most country codes a geo-lock may list.
	MaxCountries = 250
)

// CohortQuery selects publisher users: its conditions combined by Op, then, when Country is not
// empty, only users located in one of those countries. In JSON:
//
//	{"op": "all", "conditions": [
//	    {"data_source": "ds1", "segment": "lapsed"},
//	    {"op": "any", "conditions": [{"publisher_cohort": "travel"}, {"data_source": "ds2", "segment": "vip"}]}
//	 ], "country": ["DE", "FR"]}
//
// Groups nest one level: a condition of the top level may be a group, a condition of a group
// may not.
type CohortQuery struct {
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
// one kind, IDs (data source, segment, publisher cohort) that follow ValidateSegmentID
// (no control characters such as NUL, no spaces or commas, at most 128 bytes), and country codes
// of two capital letters, at most MaxCountries. Returns an EINVALID *Error naming the
// problem and, for an ID, the field (such as query.conditions[1].conditions[0].segment).
func (q CohortQuery) Validate() error {
	n := 0
	if err := validateGroup(q.Op, q.Conditions, 1, "query", "query", &n); err != nil {
		return err
	}
	if len(q.Country) > MaxCountries {
		return Errorf(EINVALID, "The geo-lock lists %d countries; the most is %d.", len(q.Country), MaxCountries).
			With("field", "country")
	}
	for _, c := range q.Country {
		if !IsCountryCode(c) {
			return Errorf(EINVALID, "The country %q is not a two-letter ISO 3166-1 code in capitals.", truncate(c, 8)).
				With("field", "country").Hint("Use codes such as US, DE or FR.")
		}
	}
	return nil
}

// validateGroup checks a group at the given depth (1 for the top), found at path in the request
// (query, query.conditions[2]), and adds its conditions to *n.
func validateGroup(op string, conds []Condition, depth int, where, path string, n *int) error {
	if op != OpAll && op != OpAny {
		return Errorf(EINVALID, "The %s's op must be %q or %q.", where, OpAll, OpAny).With("field", "op")
	}
	if len(conds) == 0 {
		return Errorf(EINVALID, "The %s has no conditions.", where).With("field", path).
			Hint("Add at least one data-source segment or publisher cohort.")
	}
	for i, c := range conds {
		at := fmt.Sprintf("%s.conditions[%d]", path, i)
		if *n++; *n > MaxConditions {
			return Errorf(EINVALID, "The query has more than %d conditions.", MaxConditions).With("field", "query")
		}
		leaf := c.DataSource != "" || c.Segment != "" || c.PublisherCohort != ""
		switch {
		case c.IsGroup() && leaf:
			return Errorf(EINVALID, "A condition is both a group and a segment or cohort.").With("field", at).
				Hint("Put the segment or cohort in the group's conditions.")
		case c.IsGroup():
			if depth >= 2 {
				return Errorf(EINVALID, "Groups nest only one level deep.").With("field", at).
					Hint("Flatten the inner group into its parent, or move it to the top level.")
			}
			if err := validateGroup(c.Op, c.Conditions, depth+1, "group", at, n); err != nil {
				return err
			}
			continue
		case c.PublisherCohort != "" && (c.DataSource != "" || c.Segment != ""):
			return Errorf(EINVALID, "A condition names both a publisher cohort and a data source.").With("field", at).
				Hint("Use one condition for each.")
		case c.PublisherCohort != "":
		case c.DataSource == "":
			return Errorf(EINVALID, "A segment condition has no data source.").With("field", "data_source")
		}
		for _, id := range []struct{ what, field, value string }{
			{"data source ID", "data_source", c.DataSource},
			{"segment ID", "segment", c.Segment},
			{"publisher cohort ID", "publisher_cohort", c.PublisherCohort},
		} {
			if id.value == "" {
				continue
			}
			if err := ValidateSegmentID(id.what, id.value); err != nil {
				var e *Error
				errors.As(err, &e)
				return e.With("field", at+"."+id.field)
			}
		}
	}
	return nil
}

// IsCountryCode reports whether code has the form of an ISO 3166-1 alpha-2 code: two capital
// letters.
func IsCountryCode(code string) bool {
	return len(code) == 2 && code[0] >= 'A' && code[0] <= 'Z' && code[1] >= 'A' && code[1] <= 'Z'
}
