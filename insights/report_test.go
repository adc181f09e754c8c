package insights_test

import (
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cleanroom-oss/cleanroom/insights"
	"github.com/cleanroom-oss/cleanroom/privacy"
	"github.com/cleanroom-oss/cleanroom/vault"
)

func exactly(k int64) insights.ParamsReleaser {
	return insights.ParamsReleaser{Params: privacy.Params{K: k, Mechanism: privacy.NoNoise}}
}

func near(p *float64, want float64) bool { return p != nil && math.Abs(*p-want) < 1e-9 }

// TestReleaseDerived checks the report's derived values against the released counts, and that a
// value derived from a suppressed count is suppressed with it.
func TestReleaseDerived(t *testing.T) {
	c := &insights.Counts{Size: 1000, Base: 100000,
		Segments: []insights.SegmentCount{
			{ID: "low", Overlap: 100, Size: 20000},  // index 100 × 0.1 / 0.2 = 50
			{ID: "high", Overlap: 300, Size: 10000}, // index 100 × 0.3 / 0.1 = 300
			{ID: "tiny", Overlap: 99, Size: 5000},   // overlap below k: suppressed, with its shares and index
			{ID: "rare", Overlap: 150, Size: 99},    // segment below k (impossible, but its index must go too)
		},
		Types:     []insights.TypeCount{{Type: "email_sha256", AdvertiserRows: 5000, Matched: 1000}, {Type: "maid", AdvertiserRows: 500, Matched: 99}},
		Countries: []insights.Distribution{{"DE", 600, 50000}, {"FR", 350, 40000}, {"US", 50, 10000}},
	}
	r := insights.Release(c, exactly(100))
	if *r.Size != 1000 || *r.Base != 100000 {
		t.Fatalf("size %v base %v", r.Size, r.Base)
	}
	byID := map[string]insights.Affinity{}
	for _, a := range r.Affinities {
		byID[a.CohortID] = a
	}
	if a := byID["high"]; !near(a.Index, 300) || !near(a.AudienceShare, 0.3) || !near(a.BaseShare, 0.1) || !a.Top {
		t.Errorf("high: %+v", a)
	}
	if a := byID["low"]; !near(a.Index, 50) || a.Top {
		t.Errorf("low: %+v", a)
	}
	if a := byID["tiny"]; a.Overlap != nil || a.AudienceShare != nil || a.Index != nil || a.CohortSize == nil || !near(a.BaseShare, 0.05) {
		t.Errorf("tiny: a suppressed overlap must take its share and index with it: %+v", a)
	}
	if a := byID["rare"]; a.CohortSize != nil || a.BaseShare != nil || a.Index != nil {
		t.Errorf("rare: a suppressed cohort size must take its share and index with it: %+v", a)
	}
	var order []string
	for _, a := range r.Affinities {
		order = append(order, a.CohortID)
	}
	if diff := cmp.Diff([]string{"high", "low", "rare", "tiny"}, order); diff != "" {
		t.Errorf("order by index, suppressed last (-want +got):\n%s", diff)
	}
	if m := r.MatchRates[0]; m.AdvertiserRows != 5000 || !near(m.MatchRate, 0.2) {
		t.Errorf("email match rate: %+v", m)
	}
	if m := r.MatchRates[1]; m.MatchedRows != nil || m.MatchRate != nil {
		t.Errorf("maid: matched rows below k must be suppressed with the rate: %+v", m)
	}
	// Countries: US is below k in the cohort; with the total shown, the smallest shown cell (FR)
	// is suppressed too, so the total minus the others does not give US.
	us, fr, de := r.Countries[2], r.Countries[1], r.Countries[0]
	if us.Cohort != nil || us.CohortShare != nil || us.Index != nil || fr.Cohort != nil || fr.Index != nil {
		t.Errorf("complementary suppression: US %+v FR %+v", us, fr)
	}
	if !near(de.CohortShare, 0.6) || !near(de.BaseShare, 0.5) || !near(de.Index, 120) {
		t.Errorf("DE: %+v", de)
	}
}

func TestReleaseTop(t *testing.T) {
	c := &insights.Counts{Size: 10000, Base: 1000000}
	for i := range 15 {
		// Index 100 × (overlap/10000) / (10000/1000000) = overlap / 1: 100 + 10 i.
		c.Segments = append(c.Segments, insights.SegmentCount{ID: string(rune('a' + i)), Overlap: int64(100 + 10*i), Size: 10000})
	}
	r := insights.Release(c, exactly(100))
	var top []string
	for _, a := range r.Affinities {
		if a.Top {
			top = append(top, a.CohortID)
		}
	}
	// Indexes 240 down to 150 are the ten highest; all are at least TopIndex.
	if diff := cmp.Diff([]string{"o", "n", "m", "l", "k", "j", "i", "h", "g", "f"}, top); diff != "" {
		t.Errorf("top affinities (-want +got):\n%s", diff)
	}
}

// TestReleaseDeterministic checks that the same question on the same data gets the same noisy
// report, and another seed another one.
func TestReleaseDeterministic(t *testing.T) {
	c := &insights.Counts{Size: 5000, Base: 100000, Segments: []insights.SegmentCount{{ID: "a", Overlap: 700, Size: 9000}},
		Countries: []insights.Distribution{{"DE", 3000, 60000}, {"FR", 2000, 40000}}}
	rel := func(seed byte) *insights.Report {
		return insights.Release(c, insights.ParamsReleaser{Params: privacy.DefaultParams(), Seed: [32]byte{seed}})
	}
	a, b := rel(1), rel(1)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Fatalf("same seed, different reports:\n%s", diff)
	}
	differs := false
	for s := byte(2); s < 10 && !differs; s++ {
		differs = !cmp.Equal(a, rel(s))
	}
	if !differs {
		t.Fatal("the noise does not depend on the seed")
	}
	if *a.Size == 5000 && *a.Affinities[0].Overlap == 700 && *a.Countries[0].Cohort == 3000 {
		t.Fatal("default params released exact counts")
	}
}

func TestWriteCSV(t *testing.T) {
	c := &insights.Counts{Size: 1000, Base: 100000,
		Segments:   []insights.SegmentCount{{ID: "a", Name: "Cooks, amateur", Overlap: 300, Size: 10000}, {ID: "b", Overlap: 5, Size: 10000}},
		Types:      []insights.TypeCount{{Type: "maid", AdvertiserRows: 500, Matched: 250}},
		Countries:  []insights.Distribution{{"DE", 1000, 100000}},
		Attributes: []insights.AttributeCount{{Name: "views", Kind: "number", Values: []insights.Distribution{{"0", 1000, 100000}}}},
	}
	var b strings.Builder
	if err := insights.Release(c, exactly(100)).WriteCSV(&b); err != nil {
		t.Fatal(err)
	}
	want := "section,id,name,cohort_users,base_users,cohort_share,base_share,index,top\n" +
		"size,,,1000,100000,,,,\n" +
		"match_rate,maid,,250,500,0.5000,,,\n" +
		"affinity,a,\"Cooks, amateur\",300,10000,0.3000,0.1000,300.0000,true\n" +
		"affinity,b,,,10000,,0.1000,,false\n" +
		"country,DE,,1000,100000,1.0000,1.0000,100.0000,\n" +
		"attribute:views,0,,1000,100000,1.0000,1.0000,100.0000,\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("CSV (-want +got):\n%s", diff)
	}
}

// TestReleaseCategories checks a list attribute: each category released on its own, shares over
// the cohort's size and the base, suppressed with a suppressed category.
func TestReleaseCategories(t *testing.T) {
	c := &insights.Counts{Size: 1000, Base: 100000, Countries: []insights.Distribution{{"DE", 1000, 100000}},
		Attributes: []insights.AttributeCount{{Name: "iab", Kind: vault.AttributeList,
			Values: []insights.Distribution{{"IAB1", 800, 40000}, {"IAB2", 600, 90000}, {"IAB3", 20, 30000}}}}}
	r := insights.Release(c, exactly(100))
	v := r.Attributes[0].Values
	if !near(v[0].CohortShare, 0.8) || !near(v[0].BaseShare, 0.4) || !near(v[0].Index, 200) {
		t.Errorf("IAB1: %+v", v[0])
	}
	// Shares of overlapping categories add up to more than 1: they are not a partition, and
	// none is suppressed to protect another.
	if !near(v[1].CohortShare, 0.6) || v[2].Cohort != nil || v[2].CohortShare != nil || v[2].Index != nil || !near(v[2].BaseShare, 0.3) {
		t.Errorf("IAB2, IAB3: %+v %+v", v[1], v[2])
	}
}

// TestReleaseBaseSeed checks that the numbers of the publisher's base alone take their noise from
// the base's seed: reports on two cohorts (two seeds) show them alike, and the cohort's own
// numbers differently.
func TestReleaseBaseSeed(t *testing.T) {
	c := &insights.Counts{Size: 5000, Base: 100000, Segments: []insights.SegmentCount{{ID: "a", Overlap: 700, Size: 9000}},
		Countries:  []insights.Distribution{{"DE", 3000, 60000}, {"FR", 2000, 40000}},
		Attributes: []insights.AttributeCount{{Name: "iab", Kind: vault.AttributeList, Values: []insights.Distribution{{"IAB1", 800, 40000}}}}}
	sameSize, sameOverlap := 0, 0
	for s := byte(1); s < 20; s++ {
		a := insights.Release(c, insights.ParamsReleaser{Params: privacy.DefaultParams(), Seed: [32]byte{s}, BaseSeed: [32]byte{99}})
		b := insights.Release(c, insights.ParamsReleaser{Params: privacy.DefaultParams(), Seed: [32]byte{s, 1}, BaseSeed: [32]byte{99}})
		if *a.Base != *b.Base || *a.Affinities[0].CohortSize != *b.Affinities[0].CohortSize || *a.Countries[0].Base != *b.Countries[0].Base ||
			*a.Attributes[0].Values[0].Base != *b.Attributes[0].Values[0].Base {
			t.Fatalf("the base's numbers differ between cohorts: %v %v", *a.Base, *b.Base)
		}
		if *a.Size == *b.Size {
			sameSize++
		}
		if *a.Affinities[0].Overlap == *b.Affinities[0].Overlap {
			sameOverlap++
		}
	}
	if sameSize == 19 || sameOverlap == 19 {
		t.Errorf("the cohort's numbers do not depend on its seed (%d, %d of 19 alike)", sameSize, sameOverlap)
	}
}
