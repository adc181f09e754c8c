package match_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/google/go-cmp/cmp"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/match"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// queryWorld is random publisher data and match results for query tests.
type queryWorld struct {
	pub     *vault.PublisherVersion
	sources map[string]*match.Result
}

func randomBitmap(r *rand.Rand, users uint32, p int) *roaring.Bitmap {
	b := roaring.New()
	for o := range users {
		if r.IntN(100) < p {
			b.Add(o)
		}
	}
	return b
}

func newQueryWorld(r *rand.Rand) queryWorld {
	users := uint32(1 + r.IntN(300))
	pub := randomPublisher(r, nil, nil, 0, users)
	for c := range 4 {
		pub.Cohorts = append(pub.Cohorts, vault.CohortInfo{ID: fmt.Sprintf("c%d", c), Standard: c < 2})
		m := randomBitmap(r, users, 10+r.IntN(60))
		m.AndNot(pub.Deleted)
		pub.Members = append(pub.Members, m)
	}
	if err := pub.Validate(); err != nil {
		panic(err)
	}
	w := queryWorld{pub: pub, sources: map[string]*match.Result{}}
	for _, ds := range []string{"ds1", "ds2"} {
		// Lookups may hand Evaluate deleted users too: it must drop them.
		res := &match.Result{Segments: []string{"a", "b", "c"}, Any: roaring.New()}
		for range res.Segments {
			b := randomBitmap(r, users, 5+r.IntN(60))
			res.Matched = append(res.Matched, b)
			res.Any.Or(b)
		}
		res.Any.Or(randomBitmap(r, users, 5))
		w.sources[ds] = res
	}
	return w
}

func (w queryWorld) randomLeaf(r *rand.Rand) cleanroom.Condition {
	if r.IntN(3) == 0 {
		return cleanroom.Condition{PublisherCohort: w.pub.Cohorts[r.IntN(len(w.pub.Cohorts))].ID}
	}
	return cleanroom.Condition{DataSource: []string{"ds1", "ds2"}[r.IntN(2)], Segment: []string{"", "a", "b", "c"}[r.IntN(4)]}
}

func randomOp(r *rand.Rand) string { return []string{cleanroom.OpAll, cleanroom.OpAny}[r.IntN(2)] }

func (w queryWorld) randomQuery(r *rand.Rand) cleanroom.CohortQuery {
	q := cleanroom.CohortQuery{Op: randomOp(r)}
	for range 1 + r.IntN(4) {
		if r.IntN(3) == 0 {
			g := cleanroom.Condition{Op: randomOp(r)}
			for range 1 + r.IntN(3) {
				g.Conditions = append(g.Conditions, w.randomLeaf(r))
			}
			q.Conditions = append(q.Conditions, g)
		} else {
			q.Conditions = append(q.Conditions, w.randomLeaf(r))
		}
	}
	for _, c := range []string{"US", "DE", "FR", "GB"} {
		if r.IntN(4) == 0 {
			q.Country = append(q.Country, c)
		}
	}
	return q
}

// naiveEval evaluates q with maps.
func (w queryWorld) naiveEval(q cleanroom.CohortQuery) map[uint32]bool {
	var leaf func(c cleanroom.Condition) map[uint32]bool
	group := func(op string, conds []cleanroom.Condition) map[uint32]bool {
		var acc map[uint32]bool
		for i, c := range conds {
			s := leaf(c)
			if i == 0 {
				acc = s
				continue
			}
			next := map[uint32]bool{}
			for o := range w.pub.Users {
				if op == cleanroom.OpAll && acc[o] && s[o] || op == cleanroom.OpAny && (acc[o] || s[o]) {
					next[o] = true
				}
			}
			acc = next
		}
		return acc
	}
	leaf = func(c cleanroom.Condition) map[uint32]bool {
		switch {
		case c.IsGroup():
			return group(c.Op, c.Conditions)
		case c.PublisherCohort != "":
			i, _ := w.pub.CohortIndex(c.PublisherCohort)
			return setOf(w.pub.Members[i])
		default:
			b, _ := w.sources[c.DataSource].Segment(c.Segment)
			return setOf(b)
		}
	}
	out := map[uint32]bool{}
	for o := range group(q.Op, q.Conditions) {
		if w.pub.Deleted.Contains(o) {
			continue
		}
		if len(q.Country) > 0 {
			code := vault.CountryCode(w.pub.Country[o])
			found := false
			for _, c := range q.Country {
				found = found || c == code
			}
			if !found {
				continue
			}
		}
		out[o] = true
	}
	return out
}

func TestEvaluateRandom(t *testing.T) {
	for seed := range uint64(40) {
		r := rand.New(rand.NewPCG(seed, 13))
		w := newQueryWorld(r)
		for k := range 25 {
			q := w.randomQuery(r)
			got, err := match.Evaluate(q, match.Resolver(w.sources, w.pub), w.pub)
			if err != nil {
				t.Fatalf("seed %d query %d: %v", seed, k, err)
			}
			if diff := cmp.Diff(w.naiveEval(q), setOf(got)); diff != "" {
				js, _ := json.Marshal(q)
				t.Fatalf("seed %d query %s (-want +got):\n%s", seed, js, diff)
			}
		}
	}
}

// Evaluating must not modify the bitmaps the lookup returns.
func TestEvaluateLeavesInputs(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	w := newQueryWorld(r)
	before := w.sources["ds1"].Matched[0].Clone()
	q := cleanroom.CohortQuery{Op: cleanroom.OpAny, Conditions: []cleanroom.Condition{{DataSource: "ds1", Segment: "a"}}, Country: []string{"US"}}
	if _, err := match.Evaluate(q, match.Resolver(w.sources, w.pub), w.pub); err != nil {
		t.Fatal(err)
	}
	if !before.Equals(w.sources["ds1"].Matched[0]) {
		t.Fatal("Evaluate modified a lookup bitmap")
	}
}

func TestQueryJSON(t *testing.T) {
	const js = `{"op": "all", "conditions": [
		{"data_source": "ds1", "segment": "a"},
		{"op": "any", "conditions": [{"publisher_cohort": "c1"}, {"data_source": "ds2", "segment": "b"}]}
	], "country": ["DE", "FR"]}`
	var q cleanroom.CohortQuery
	if err := json.Unmarshal([]byte(js), &q); err != nil {
		t.Fatal(err)
	}
	want := cleanroom.CohortQuery{Op: "all", Country: []string{"DE", "FR"}, Conditions: []cleanroom.Condition{
		{DataSource: "ds1", Segment: "a"},
		{Op: "any", Conditions: []cleanroom.Condition{{PublisherCohort: "c1"}, {DataSource: "ds2", Segment: "b"}}},
	}}
	if diff := cmp.Diff(want, q); diff != "" {
		t.Fatalf("decoded (-want +got):\n%s", diff)
	}
	if err := q.Validate(); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(q)
	if err != nil {
		t.Fatal(err)
	}
	var back cleanroom.CohortQuery
	if err := json.Unmarshal(out, &back); err != nil || !cmp.Equal(q, back) {
		t.Fatalf("round trip: %s, %v", out, err)
	}
	if strings.Contains(string(out), `"segment":""`) || strings.Contains(string(out), `"conditions":null`) {
		t.Errorf("empty fields encoded: %s", out)
	}
}

func TestQueryValidate(t *testing.T) {
	leaf := cleanroom.Condition{DataSource: "ds1", Segment: "a"}
	leaves := func(n int) []cleanroom.Condition {
		c := make([]cleanroom.Condition, n)
		for i := range c {
			c[i] = leaf
		}
		return c
	}
	ok := []cleanroom.CohortQuery{
		{Op: "any", Conditions: leaves(1)},
		{Op: "all", Conditions: leaves(cleanroom.MaxConditions)},
		{Op: "all", Conditions: []cleanroom.Condition{{DataSource: "ds1"}}}, // the whole data source
		{Op: "all", Conditions: []cleanroom.Condition{{Op: "any", Conditions: leaves(98)}, leaf}},
		{Op: "any", Conditions: leaves(2), Country: []string{"US", "GB"}},
	}
	for i, q := range ok {
		if err := q.Validate(); err != nil {
			t.Errorf("valid query %d: %v", i, err)
		}
	}
	bad := map[string]cleanroom.CohortQuery{
		"no op":              {Conditions: leaves(1)},
		"unknown op":         {Op: "none", Conditions: leaves(1)},
		"no conditions":      {Op: "all"},
		"empty group":        {Op: "all", Conditions: []cleanroom.Condition{{Op: "any"}}},
		"group without op":   {Op: "all", Conditions: []cleanroom.Condition{{Conditions: leaves(1)}}},
		"too deep":           {Op: "all", Conditions: []cleanroom.Condition{{Op: "any", Conditions: []cleanroom.Condition{{Op: "all", Conditions: leaves(1)}}}}},
		"too many":           {Op: "all", Conditions: leaves(cleanroom.MaxConditions + 1)},
		"too many nested":    {Op: "all", Conditions: []cleanroom.Condition{{Op: "any", Conditions: leaves(99)}, leaf}},
		"group and leaf":     {Op: "all", Conditions: []cleanroom.Condition{{Op: "any", DataSource: "ds1", Conditions: leaves(1)}}},
		"cohort and segment": {Op: "all", Conditions: []cleanroom.Condition{{PublisherCohort: "c1", DataSource: "ds1"}}},
		"segment without ds": {Op: "all", Conditions: []cleanroom.Condition{{Segment: "a"}}},
		"empty condition":    {Op: "all", Conditions: []cleanroom.Condition{{}}},
		"lowercase country":  {Op: "all", Conditions: leaves(1), Country: []string{"de"}},
		"three letters":      {Op: "all", Conditions: leaves(1), Country: []string{"USA"}},
		"too many countries": {Op: "all", Conditions: leaves(1), Country: strings.Split(strings.Repeat("US,", cleanroom.MaxCountries+1), ",")[:cleanroom.MaxCountries+1]},
	}
	for name, q := range bad {
		err := q.Validate()
		if cleanroom.ErrorCode(err) != cleanroom.EINVALID {
			t.Errorf("%s: error %v, want EINVALID", name, err)
		}
		w := newQueryWorld(rand.New(rand.NewPCG(1, 1)))
		if _, err := match.Evaluate(q, match.Resolver(w.sources, w.pub), w.pub); cleanroom.ErrorCode(err) != cleanroom.EINVALID {
			t.Errorf("%s: Evaluate error %v, want EINVALID", name, err)
		}
	}
}

func TestResolverErrors(t *testing.T) {
	w := newQueryWorld(rand.New(rand.NewPCG(4, 4)))
	for name, c := range map[string]cleanroom.Condition{
		"unknown data source": {DataSource: "nope", Segment: "a"},
		"unknown segment":     {DataSource: "ds1", Segment: "nope"},
		"unknown cohort":      {PublisherCohort: "nope"},
	} {
		q := cleanroom.CohortQuery{Op: cleanroom.OpAny, Conditions: []cleanroom.Condition{c}}
		if _, err := match.Evaluate(q, match.Resolver(w.sources, w.pub), w.pub); cleanroom.ErrorCode(err) != cleanroom.EINVALID {
			t.Errorf("%s: error %v, want EINVALID", name, err)
		}
	}
	boom := errors.New("boom")
	q := cleanroom.CohortQuery{Op: cleanroom.OpAll, Conditions: []cleanroom.Condition{{PublisherCohort: "c0"}}}
	if _, err := match.Evaluate(q, func(cleanroom.Condition) (*roaring.Bitmap, error) { return nil, boom }, w.pub); !errors.Is(err, boom) {
		t.Errorf("lookup error %v not returned", err)
	}
	// A nil bitmap is empty.
	got, err := match.Evaluate(q, func(cleanroom.Condition) (*roaring.Bitmap, error) { return nil, nil }, w.pub)
	if err != nil || !got.IsEmpty() {
		t.Errorf("nil lookup: %v, %v", got, err)
	}
}

// TestQueryValidateIDs: NUL and other control characters (and spaces, commas, over-long IDs) in
// the IDs a query names are refused, with an error naming the field where the ID is.
func TestQueryValidateIDs(t *testing.T) {
	leaf := cleanroom.Condition{DataSource: "ds1", Segment: "a"}
	for _, c := range []struct {
		name  string
		q     cleanroom.CohortQuery
		field string
		msg   string
	}{
		{"NUL in a segment", cleanroom.CohortQuery{Op: "any", Conditions: []cleanroom.Condition{leaf, {DataSource: "ds1", Segment: "a\x00b"}}},
			"query.conditions[1].segment", "control character"},
		{"line break in a publisher cohort", cleanroom.CohortQuery{Op: "any", Conditions: []cleanroom.Condition{{PublisherCohort: "c1\n"}}},
			"query.conditions[0].publisher_cohort", "control character"},
		{"escape in a nested cohort", cleanroom.CohortQuery{Op: "all", Conditions: []cleanroom.Condition{leaf,
			{Op: "any", Conditions: []cleanroom.Condition{leaf, {PublisherCohort: "\x1b[31m"}}}}},
			"query.conditions[1].conditions[1].publisher_cohort", "control character"},
		{"DEL in a data source", cleanroom.CohortQuery{Op: "any", Conditions: []cleanroom.Condition{{DataSource: "ds\x7f", Segment: "a"}}},
			"query.conditions[0].data_source", "control character"},
		{"space in a segment", cleanroom.CohortQuery{Op: "any", Conditions: []cleanroom.Condition{{DataSource: "ds1", Segment: "a b"}}},
			"query.conditions[0].segment", "space"},
		{"long cohort", cleanroom.CohortQuery{Op: "any", Conditions: []cleanroom.Condition{{PublisherCohort: strings.Repeat("c", 129)}}},
			"query.conditions[0].publisher_cohort", "1 to 128"},
	} {
		err := c.q.Validate()
		if cleanroom.ErrorCode(err) != cleanroom.EINVALID || cleanroom.ErrorDetails(err)["field"] != c.field ||
			!strings.Contains(cleanroom.ErrorMessage(err), c.msg) {
			t.Errorf("%s: %v (details %v), want EINVALID on %s mentioning %q", c.name, err, cleanroom.ErrorDetails(err), c.field, c.msg)
		}
	}
}
