package insights

import (
	"cmp"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cleanroom-oss/cleanroom/match"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// Input is what Compute reads: a cohort's members at one publisher and that publisher's version.
type Input struct {
	// Members are the cohort's users at the publisher (publisher ordinals). Erased ordinals of
	// Pub are left out of every count.
	Members *roaring.Bitmap
	// Pub is the publisher version the counts are taken over.
	Pub *vault.PublisherVersion
	// Cohorts are the indexes into Pub.Cohorts of the publisher cohorts the advertiser may see;
	// the others are not counted.
	Cohorts []int
	// Types are the match's per-identifier-type statistics (match.Result.Tags of each data
	// source the cohort's query reads); entries of one type are added up.
	Types []match.TagStats
	// Attributes adds the engagement attributes of Pub (advanced insights).
	Attributes bool
	// Workers bounds the goroutines (< 1: GOMAXPROCS).
	Workers int
}

// Counts are the exact numbers of a cohort's insights. They never leave the deployment as they
// are: Release turns them into a Report.
type Counts struct {
	// Size is the cohort's live users; Base the publisher's.
	Size, Base int64
	// Segments are the publisher cohorts of Input.Cohorts, in that order.
	Segments []SegmentCount
	// Countries are the countries of the base, sorted by code, "" (unknown) last when present.
	Countries []Distribution
	// Types are the identifier types, sorted.
	Types []TypeCount
	// Attributes are the publisher's engagement attributes (when asked for), in the version's
	// order; each value's counts in the cohort and the base.
	Attributes []AttributeCount
}

// SegmentCount is a cohort's overlap with one publisher cohort.
type SegmentCount struct {
	ID, Name string
	IABID    int
	Standard bool
	// Overlap is the cohort's users in the publisher cohort; Size the publisher cohort's users.
	Overlap, Size int64
}

// Distribution is one value of a breakdown (a country, a bucket, a category): its users in the
// cohort and in the base.
type Distribution struct {
	Value        string
	Cohort, Base int64
}

// TypeCount is the match of one identifier type: the advertiser's rows of it and those matched.
type TypeCount struct {
	Type                    string
	AdvertiserRows, Matched int64
}

// AttributeCount is the distribution of one engagement attribute.
type AttributeCount struct {
	Name string
	// Kind is vault.AttributeNumber (Values are buckets) or vault.AttributeList (categories).
	Kind   string
	Values []Distribution
}

// Compute counts a cohort's insights exactly. It fails when an index of in.Cohorts is out of
// range or the members hold an ordinal the version does not have.
func Compute(in Input) (*Counts, error) {
	pub := in.Pub
	for _, i := range in.Cohorts {
		if i < 0 || i >= len(pub.Members) {
			return nil, fmt.Errorf("insights: publisher cohort index %d out of range", i)
		}
	}
	members := in.Members
	if members == nil {
		members = roaring.New()
	}
	if !members.IsEmpty() && members.Maximum() >= pub.Users {
		return nil, fmt.Errorf("insights: the cohort holds ordinal %d, the publisher version has %d users", members.Maximum(), pub.Users)
	}
	if pub.Deleted != nil && !pub.Deleted.IsEmpty() && members.Intersects(pub.Deleted) {
		members = roaring.AndNot(members, pub.Deleted)
	}
	c := &Counts{Size: int64(members.GetCardinality()), Base: int64(pub.Live())}
	c.Segments = make([]SegmentCount, len(in.Cohorts))
	for k, i := range in.Cohorts {
		info := pub.Cohorts[i]
		c.Segments[k] = SegmentCount{ID: info.ID, Name: info.Name, IABID: info.IABID, Standard: info.Standard}
	}
	workers := in.Workers
	if workers < 1 {
		workers = runtime.GOMAXPROCS(0)
	}
	// Overlaps: one AndCardinality per publisher cohort, cohorts taken from a shared counter.
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, max(1, len(in.Cohorts))) {
		wg.Go(func() {
			for {
				k := int(next.Add(1) - 1)
				if k >= len(in.Cohorts) {
					return
				}
				m := pub.Members[in.Cohorts[k]]
				c.Segments[k].Size = int64(m.GetCardinality())
				c.Segments[k].Overlap = int64(members.AndCardinality(m))
			}
		})
	}
	var countries [2][]int64 // cohort, base: by packed country, [0] unknown
	wg.Go(func() { countries = countCountries(members, pub) })
	wg.Wait()
	c.Countries = countryDistribution(countries)
	c.Types = typeCounts(in.Types)
	if in.Attributes {
		c.Attributes = attributeCounts(members, pub)
	}
	return c, nil
}

// countCountries counts the cohort's and the base's users by packed country (index 0 unknown).
func countCountries(members *roaring.Bitmap, pub *vault.PublisherVersion) [2][]int64 {
	var out [2][]int64
	out[0], out[1] = make([]int64, 1<<16), make([]int64, 1<<16)
	it := members.ManyIterator()
	buf := make([]uint32, 4096)
	for n := it.NextMany(buf); n > 0; n = it.NextMany(buf) {
		for _, o := range buf[:n] {
			out[0][pub.Country[o]]++
		}
	}
	for _, cc := range pub.Country {
		out[1][cc]++
	}
	if pub.Deleted != nil { // erased users have country 0: they are not in the base
		out[1][0] -= int64(pub.Deleted.GetCardinality())
	}
	return out
}

// countryDistribution lists the countries present in the base, by code, unknown last.
func countryDistribution(cs [2][]int64) []Distribution {
	out := []Distribution{}
	for cc := 1; cc < len(cs[1]); cc++ {
		if cs[1][cc] > 0 {
			out = append(out, Distribution{Value: vault.CountryCode(uint16(cc)), Cohort: cs[0][cc], Base: cs[1][cc]})
		}
	}
	if cs[1][0] > 0 {
		out = append(out, Distribution{Value: "", Cohort: cs[0][0], Base: cs[1][0]})
	}
	return out
}

// typeCounts adds up the match statistics by identifier type.
func typeCounts(stats []match.TagStats) []TypeCount {
	by := map[string]*TypeCount{}
	for _, s := range stats {
		if s.AdvertiserRows == 0 {
			continue // a publisher type the advertiser does not hold
		}
		t := by[string(s.Tag)]
		if t == nil {
			t = &TypeCount{Type: string(s.Tag)}
			by[string(s.Tag)] = t
		}
		t.AdvertiserRows += int64(s.AdvertiserRows)
		t.Matched += int64(s.MatchedAdvertiserRows)
	}
	out := make([]TypeCount, 0, len(by))
	for _, t := range by {
		out = append(out, *t)
	}
	slices.SortFunc(out, func(a, b TypeCount) int { return cmp.Compare(a.Type, b.Type) })
	return out
}

// attributeCounts counts each attribute value's users in the cohort and the base.
func attributeCounts(members *roaring.Bitmap, pub *vault.PublisherVersion) []AttributeCount {
	out := make([]AttributeCount, len(pub.Attributes))
	for a, info := range pub.Attributes {
		ac := AttributeCount{Name: info.Name, Kind: info.Kind, Values: make([]Distribution, len(info.Values))}
		for v, val := range info.Values {
			m := pub.AttributeMembers[a][v]
			ac.Values[v] = Distribution{Value: val, Cohort: int64(members.AndCardinality(m)), Base: int64(m.GetCardinality())}
		}
		out[a] = ac
	}
	return out
}
