package insights_test

import (
	"bytes"
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/google/go-cmp/cmp"

	"github.com/cleanroom-oss/cleanroom/benchenv"
	"github.com/cleanroom-oss/cleanroom/identity"
	"github.com/cleanroom-oss/cleanroom/insights"
	"github.com/cleanroom-oss/cleanroom/match"
	"github.com/cleanroom-oss/cleanroom/pubsync"
	"github.com/cleanroom-oss/cleanroom/synth"
	"github.com/cleanroom-oss/cleanroom/vault"
)

var (
	fpKey   = bytes.Repeat([]byte{7}, 32)
	userKey = bytes.Repeat([]byte{9}, 32)
)

// synthVersion syncs a synth universe (the data of cleanroom gen) into a publisher version.
func synthVersion(t testing.TB, u *synth.Universe) *vault.PublisherVersion {
	t.Helper()
	var taxText, profiles bytes.Buffer
	if err := u.WriteTaxonomy(&taxText); err != nil {
		t.Fatal(err)
	}
	if _, err := u.WriteProfiles(&profiles, synth.WriteOptions{Engagement: true}); err != nil {
		t.Fatal(err)
	}
	tax, errs, err := pubsync.ParseTaxonomy(&taxText)
	if err != nil {
		t.Fatal(err, errs)
	}
	v, _, err := pubsync.Sync(context.Background(), &profiles, tax, pubsync.Options{FingerprintKey: fpKey, UserKey: userKey})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestComputeBruteForce checks every count against a brute-force count over the synth
// universe's ground truth (each user's cohorts, country and engagement), for an advertiser's
// matched users as the cohort, with some users erased.
func TestComputeBruteForce(t *testing.T) {
	u, err := synth.NewUniverse(synth.UniverseConfig{Seed: 11, Users: 20000, Cohorts: 60})
	if err != nil {
		t.Fatal(err)
	}
	v := synthVersion(t, u)
	var erase []string
	erased := map[int]bool{}
	for i := 5; i < u.Users(); i += 97 {
		erase = append(erase, synth.UserID(i))
		erased[i] = true
	}
	if v, _, err = pubsync.Erase(v, erase, pubsync.Options{UserKey: userKey}); err != nil {
		t.Fatal(err)
	}
	a, err := synth.NewAdvertiser(u, synth.AdvertiserConfig{Seed: 5, Rows: 12000, Overlap: 0.6})
	if err != nil {
		t.Fatal(err)
	}
	members := roaring.New()
	for j := range a.Persons() {
		if o := a.PersonUser(j); o >= 0 {
			members.Add(uint32(o)) // erased ones included: Compute leaves them out
		}
	}
	visible := []int{}
	for i := 0; i < 60; i += 2 {
		visible = append(visible, i)
	}
	stats := []match.TagStats{
		{Tag: identity.TagEmailSHA256, AdvertiserRows: 100, MatchedAdvertiserRows: 40},
		{Tag: identity.TagEmailSHA256, Bridged: true, AdvertiserRows: 10, MatchedAdvertiserRows: 5},
		{Tag: identity.TagMAID, AdvertiserRows: 50, MatchedAdvertiserRows: 0},
		{Tag: identity.TagIPAddress, AdvertiserRows: 0},
	}
	got, err := insights.Compute(insights.Input{Members: members, Pub: v, Cohorts: visible, Types: stats, Attributes: true, Workers: 3})
	if err != nil {
		t.Fatal(err)
	}

	// Brute force from the ground truth.
	want := &insights.Counts{Segments: make([]insights.SegmentCount, len(visible))}
	cohorts := u.Cohorts()
	for k, i := range visible {
		c := cohorts[i]
		want.Segments[k] = insights.SegmentCount{ID: c.ID, Name: c.Name, IABID: c.IABID, Standard: c.Standard}
	}
	byCountry := map[string]*insights.Distribution{}
	views := make([]insights.Distribution, len(pubsync.NumberBuckets))
	for k, nb := range pubsync.NumberBuckets {
		views[k].Value = nb.Label
	}
	byCategory := map[string]*insights.Distribution{}
	for i := range u.Users() {
		e := u.Engagement(i)
		for _, c := range e.Categories {
			if byCategory[c] == nil {
				byCategory[c] = &insights.Distribution{Value: c}
			}
		}
		if erased[i] {
			continue
		}
		usr := u.User(i)
		in := members.Contains(uint32(i))
		add := func(d *insights.Distribution) {
			d.Base++
			if in {
				d.Cohort++
			}
		}
		if e.PageViews >= 0 {
			k := 0
			for j, nb := range pubsync.NumberBuckets {
				if uint64(e.PageViews) >= nb.From {
					k = j
				}
			}
			add(&views[k])
		}
		for _, c := range e.Categories {
			add(byCategory[c])
		}
		want.Base++
		d := byCountry[usr.Country]
		if d == nil {
			d = &insights.Distribution{Value: usr.Country}
			byCountry[usr.Country] = d
		}
		d.Base++
		if in {
			want.Size++
			d.Cohort++
		}
		for _, c := range usr.Cohorts {
			for k, i := range visible {
				if i == c {
					want.Segments[k].Size++
					if in {
						want.Segments[k].Overlap++
					}
				}
			}
		}
	}
	for _, cc := range sortedKeys(byCountry) {
		want.Countries = append(want.Countries, *byCountry[cc])
	}
	var cats []insights.Distribution
	for _, c := range sortedKeys(byCategory) {
		cats = append(cats, *byCategory[c])
	}
	want.Attributes = []insights.AttributeCount{{Name: "page_views_30d", Kind: vault.AttributeNumber, Values: views},
		{Name: "iab_categories", Kind: vault.AttributeList, Values: cats}}
	want.Types = []insights.TypeCount{
		{Type: string(identity.TagEmailSHA256), AdvertiserRows: 110, Matched: 45},
		{Type: string(identity.TagMAID), AdvertiserRows: 50, Matched: 0},
	}
	if len(cats) < 10 || views[2].Base == 0 {
		t.Fatalf("the universe has too little engagement to test: %v %v", cats, views)
	}
	if want.Size < 1000 || want.Size == int64(members.GetCardinality()) {
		t.Fatalf("the test's cohort is too small or has no erased users: %d of %d", want.Size, members.GetCardinality())
	}
	// Categories are kept in natural order (IAB2 before IAB10); compare them sorted as strings.
	slices.SortFunc(got.Attributes[1].Values, func(a, b insights.Distribution) int { return strings.Compare(a.Value, b.Value) })
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("counts differ from the brute force (-want +got):\n%s", diff)
	}
}

func sortedKeys(m map[string]*insights.Distribution) []string { return slices.Sorted(maps.Keys(m)) }

// TestComputeAttributes checks the engagement distributions against a brute force over the
// attribute bitmaps' values.
func TestComputeAttributes(t *testing.T) {
	v := &vault.PublisherVersion{Users: 1000, Country: make([]uint16, 1000), Deleted: roaring.BitmapOf(999)}
	views, cats := []*roaring.Bitmap{roaring.New(), roaring.New()}, []*roaring.Bitmap{roaring.New(), roaring.New(), roaring.New()}
	members := roaring.New()
	for o := range uint32(999) {
		views[o%2].Add(o)
		cats[o%3].Add(o)
		if o%3 == 0 {
			cats[1].Add(o)
		}
		if o%5 == 0 {
			members.Add(o)
		}
	}
	members.Add(999) // erased: not counted
	v.Attributes = []vault.AttributeInfo{{Name: "page_views_30d", Kind: vault.AttributeNumber, Values: []string{"0", "1-4"}},
		{Name: "iab_categories", Kind: vault.AttributeList, Values: []string{"IAB1", "IAB2", "IAB3"}}}
	v.AttributeMembers = [][]*roaring.Bitmap{views, cats}
	got, err := insights.Compute(insights.Input{Members: members, Pub: v, Attributes: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []insights.AttributeCount{
		{Name: "page_views_30d", Kind: vault.AttributeNumber, Values: []insights.Distribution{{"0", 100, 500}, {"1-4", 100, 499}}},
		{Name: "iab_categories", Kind: vault.AttributeList, Values: []insights.Distribution{{"IAB1", 67, 333}, {"IAB2", 133, 666}, {"IAB3", 67, 333}}},
	}
	if diff := cmp.Diff(want, got.Attributes); diff != "" {
		t.Fatalf("attributes (-want +got):\n%s", diff)
	}
	if got.Size != 200 || got.Base != 999 {
		t.Fatalf("size %d base %d", got.Size, got.Base)
	}
	if got, err := insights.Compute(insights.Input{Members: members, Pub: v}); err != nil || got.Attributes != nil {
		t.Fatalf("attributes counted without being asked for: %v %v", got.Attributes, err)
	}
}

func TestComputeErrors(t *testing.T) {
	v := &vault.PublisherVersion{Users: 10, Country: make([]uint16, 10)}
	for i, in := range []insights.Input{
		{Members: roaring.BitmapOf(10), Pub: v},
		{Members: roaring.BitmapOf(1), Pub: v, Cohorts: []int{0}},
	} {
		if _, err := insights.Compute(in); err == nil {
			t.Errorf("case %d: no error", i)
		}
	}
}

// BenchmarkOverlap measures index and overlap (Compute without attributes) for a cohort of
// CLEANROOM_BENCH_COHORT users against CLEANROOM_BENCH_SEGMENTS publisher cohorts over
// CLEANROOM_BENCH_USERS users (defaults 1M, 500, 5M; the target is 10M, 500, 50M in <= 1 s):
//
//	CLEANROOM_BENCH_USERS=50000000 CLEANROOM_BENCH_COHORT=10000000 go test ./insights -run '^$' -bench Overlap -benchtime 5x
func BenchmarkOverlap(b *testing.B) {
	users := benchenv.Int(b, "CLEANROOM_BENCH_USERS", 5_000_000)
	size := benchenv.Int(b, "CLEANROOM_BENCH_COHORT", 1_000_000)
	nseg := benchenv.Int(b, "CLEANROOM_BENCH_SEGMENTS", 500)
	v, members := benchData(users, size, nseg)
	all := make([]int, nseg)
	for i := range all {
		all[i] = i
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := insights.Compute(insights.Input{Members: members, Pub: v, Cohorts: all}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Seconds())/float64(b.N), "s/report")
}
