package cohorts

import (
	"testing"

	"github.com/cleanroom-oss/cleanroom"
)

// TestCanonicalQuestion: queries that select the same users in another order, or a geo-lock
// given as nil or empty, are the same question; anything that changes the count is another.
func TestCanonicalQuestion(t *testing.T) {
	a, b, c := cleanroom.Condition{DataSource: "a"}, cleanroom.Condition{DataSource: "b", Segment: "s1"}, cleanroom.Condition{PublisherCohort: "c"}
	q := func(op string, cs ...cleanroom.Condition) cleanroom.CohortQuery {
		return cleanroom.CohortQuery{Op: op, Conditions: cs}
	}
	group := func(op string, cs ...cleanroom.Condition) cleanroom.Condition {
		return cleanroom.Condition{Op: op, Conditions: cs}
	}
	sim := 0.8
	base := string(canonical(cleanroom.CohortMatched, q("any", a, group("all", b, c)), nil, nil, false))
	for _, tc := range []struct {
		name string
		got  []byte
		same bool
	}{
		{"conditions reordered", canonical(cleanroom.CohortMatched, q("any", group("all", c, b), a), []string{}, nil, false), true},
		{"another op", canonical(cleanroom.CohortMatched, q("all", a, group("all", b, c)), nil, nil, false), false},
		{"another segment", canonical(cleanroom.CohortMatched, q("any", a, group("all", cleanroom.Condition{DataSource: "b", Segment: "s2"}, c)), nil, nil, false), false},
		{"a geo-lock", canonical(cleanroom.CohortMatched, q("any", a, group("all", b, c)), []string{"GB"}, nil, false), false},
		{"modeled", canonical(cleanroom.CohortModeled, q("any", a, group("all", b, c)), nil, nil, false), false},
		{"a similarity", canonical(cleanroom.CohortMatched, q("any", a, group("all", b, c)), nil, &sim, false), false},
		{"with seeds", canonical(cleanroom.CohortMatched, q("any", a, group("all", b, c)), nil, nil, true), false},
	} {
		if (string(tc.got) == base) != tc.same {
			t.Errorf("%s: %s vs %s, want same %v", tc.name, tc.got, base, tc.same)
		}
	}
	if got := string(canonical(cleanroom.CohortMatched, q("any", b, a), []string{"DE", "GB"}, nil, false)); got !=
		string(canonical(cleanroom.CohortMatched, q("any", a, b), []string{"GB", "DE"}, nil, false)) {
		t.Errorf("country order changes the question: %s", got)
	}
}
