package match_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/cleanroom-oss/cleanroom/identity"
	"github.com/cleanroom-oss/cleanroom/match"
	"github.com/cleanroom-oss/cleanroom/match/matchtest"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// universe is a pool of fingerprints per tag that both sides draw from, so that they share
// many. Half of them share their high 8 bytes with another, to exercise the low-half compare.
func universe(r *rand.Rand, n int) []identity.Fingerprint {
	fps := make([]identity.Fingerprint, n)
	for i := range fps {
		for k := range fps[i] {
			fps[i][k] = byte(r.IntN(256))
		}
		if i%2 == 1 {
			copy(fps[i][:8], fps[i-1][:8])
		}
		if r.IntN(10) == 0 {
			fps[i][0] = 0xff // bunch some at the top of the range
		}
	}
	return fps
}

var tagPool = []identity.Tag{identity.TagAppNexus, identity.TagEmailSHA256, identity.TagIPAddress, identity.TagMAID, identity.TagPhoneSHA256}

// randomAdvertiser draws an advertiser version over some tags of pools, each row's fingerprint
// from the pool (or fresh), unique per tag, with 0..3 of nseg segments.
func randomAdvertiser(r *rand.Rand, pools map[identity.Tag][]identity.Fingerprint, tags []identity.Tag, rows, nseg int) *vault.AdvertiserVersion {
	v := &vault.AdvertiserVersion{TagStart: []uint32{0}, SegOff: []uint32{0}, Tags: []identity.Tag{}, Segments: []string{}}
	for s := range nseg {
		v.Segments = append(v.Segments, fmt.Sprintf("seg%d", s))
	}
	for _, tag := range tags {
		set := map[identity.Fingerprint]bool{}
		n := r.IntN(rows + 1)
		for range n {
			if pool := pools[tag]; len(pool) > 0 && r.IntN(4) > 0 {
				set[pool[r.IntN(len(pool))]] = true
			} else {
				set[universe(r, 1)[0]] = true
			}
		}
		fps := make([]identity.Fingerprint, 0, len(set))
		for fp := range set {
			fps = append(fps, fp)
		}
		slices.SortFunc(fps, identity.Fingerprint.Compare)
		v.Tags = append(v.Tags, tag)
		for _, fp := range fps {
			v.FPs = append(v.FPs, fp)
			if nseg > 0 {
				segs := map[uint32]bool{}
				for range r.IntN(4) {
					segs[uint32(r.IntN(nseg))] = true
				}
				for s := range uint32(nseg) {
					if segs[s] {
						v.Segs = append(v.Segs, s)
					}
				}
			}
			v.SegOff = append(v.SegOff, uint32(len(v.Segs)))
		}
		v.TagStart = append(v.TagStart, uint32(len(v.FPs)))
	}
	return v
}

// randomPublisher draws a publisher version of users ordinals over some tags: rows of (pool
// fingerprint, live user), so fingerprints repeat across users and users hold several.
func randomPublisher(r *rand.Rand, pools map[identity.Tag][]identity.Fingerprint, tags []identity.Tag, rows int, users uint32) *vault.PublisherVersion {
	v := &vault.PublisherVersion{Users: users, TagStart: []uint64{0}, Tags: []identity.Tag{},
		Cohorts: []vault.CohortInfo{}, Members: []*roaring.Bitmap{}, Deleted: roaring.New()}
	for o := range users {
		if r.IntN(10) == 0 {
			v.Deleted.Add(o)
		}
	}
	v.Country = make([]uint16, users)
	for o := range users {
		if !v.Deleted.Contains(o) {
			v.UserKeys = append(v.UserKeys, uint64(o))
			v.UserOrds = append(v.UserOrds, o)
			v.Country[o] = vault.PackCountry([]string{"", "US", "DE", "FR"}[r.IntN(4)])
		}
	}
	live := v.UserOrds
	for _, tag := range tags {
		type row struct {
			fp  identity.Fingerprint
			ord uint32
		}
		set := map[row]bool{}
		for range r.IntN(rows + 1) {
			if len(live) == 0 {
				break
			}
			fp := universe(r, 1)[0]
			if pool := pools[tag]; len(pool) > 0 && r.IntN(5) > 0 {
				fp = pool[r.IntN(len(pool))]
			}
			set[row{fp, live[r.IntN(len(live))]}] = true
		}
		rs := make([]row, 0, len(set))
		for x := range set {
			rs = append(rs, x)
		}
		slices.SortFunc(rs, func(a, b row) int {
			if c := a.fp.Compare(b.fp); c != 0 {
				return c
			}
			return int(a.ord) - int(b.ord)
		})
		v.Tags = append(v.Tags, tag)
		for _, x := range rs {
			v.FPs = append(v.FPs, x.fp)
			v.Ords = append(v.Ords, x.ord)
		}
		v.TagStart = append(v.TagStart, uint64(len(v.FPs)))
	}
	return v
}

// naive computes what Segments should return with maps.
func naive(adv *vault.AdvertiserVersion, pub *vault.PublisherVersion, bridges []*match.Bridge) (segs []map[uint32]bool, anyUsers map[uint32]bool, stats []match.TagStats) {
	type key struct {
		tag identity.Tag
		fp  identity.Fingerprint
	}
	pubOrds := map[key][]int{} // rows
	for t, tag := range pub.Tags {
		for i := pub.TagStart[t]; i < pub.TagStart[t+1]; i++ {
			k := key{tag, pub.FPs[i]}
			pubOrds[k] = append(pubOrds[k], int(i))
		}
	}
	segs = make([]map[uint32]bool, len(adv.Segments))
	for s := range segs {
		segs[s] = map[uint32]bool{}
	}
	anyUsers = map[uint32]bool{}
	deleted := func(o uint32) bool { return pub.Deleted != nil && pub.Deleted.Contains(o) }
	// matchRows matches advertiser rows, each with the publisher keys it maps to, and returns
	// the entry's counts.
	matchRows := func(st match.TagStats, rows []int, keys func(r int) []key) match.TagStats {
		pubRows := map[int]bool{}
		users := map[uint32]bool{}
		for _, r := range rows {
			ks := keys(r)
			if len(ks) > 0 {
				st.BridgedRows++
			}
			hit := false
			for _, k := range ks {
				for _, i := range pubOrds[k] {
					hit = true
					pubRows[i] = true
					o := pub.Ords[i]
					if deleted(o) {
						continue
					}
					users[o] = true
					anyUsers[o] = true
					for _, s := range adv.RowSegments(r) {
						segs[s][o] = true
					}
				}
			}
			if hit {
				st.MatchedAdvertiserRows++
			}
		}
		st.MatchedPublisherIdentifiers = len(pubRows)
		st.MatchedPublisherUsers = len(users)
		if !st.Bridged {
			st.BridgedRows = 0
		}
		return st
	}
	for t, tag := range adv.Tags {
		var rows []int
		for r := int(adv.TagStart[t]); r < int(adv.TagStart[t+1]); r++ {
			rows = append(rows, r)
		}
		if p0, p1, ok := pub.TagRange(tag); ok {
			st := match.TagStats{Tag: tag, PublisherTag: tag, AdvertiserRows: len(rows), PublisherIdentifiers: p1 - p0}
			stats = append(stats, matchRows(st, rows, func(r int) []key { return []key{{tag, adv.FPs[r]}} }))
			continue
		}
		used := false
		for _, b := range bridges {
			p0, p1, ok := pub.TagRange(b.To)
			if b.From != tag || !ok {
				continue
			}
			used = true
			st := match.TagStats{Tag: tag, PublisherTag: b.To, Bridged: true, AdvertiserRows: len(rows), PublisherIdentifiers: p1 - p0}
			stats = append(stats, matchRows(st, rows, func(r int) []key {
				var ks []key
				for i, from := range b.FromFPs {
					if from == adv.FPs[r] {
						ks = append(ks, key{b.To, b.ToFPs[i]})
					}
				}
				return ks
			}))
		}
		if !used {
			stats = append(stats, match.TagStats{Tag: tag, AdvertiserRows: len(rows)})
		}
	}
	for t, tag := range pub.Tags {
		if !slices.Contains(adv.Tags, tag) {
			stats = append(stats, match.TagStats{Tag: tag, PublisherIdentifiers: int(pub.TagStart[t+1] - pub.TagStart[t])})
		}
	}
	slices.SortStableFunc(stats, func(a, b match.TagStats) int {
		return strings.Compare(string(a.Tag)+"\x00"+string(a.PublisherTag), string(b.Tag)+"\x00"+string(b.PublisherTag))
	})
	return segs, anyUsers, stats
}

func setOf(b *roaring.Bitmap) map[uint32]bool {
	m := map[uint32]bool{}
	for _, o := range b.ToArray() {
		m[o] = true
	}
	return m
}

// check runs Segments with several worker counts and compares each result with the naive one.
func check(t *testing.T, adv *vault.AdvertiserVersion, pub *vault.PublisherVersion, bridges []*match.Bridge) {
	t.Helper()
	wantSegs, wantAny, wantStats := naive(adv, pub, bridges)
	for _, workers := range []int{1, 2, 5} {
		res, err := match.Segments(adv, pub, match.Options{Workers: workers, Bridges: bridges})
		if err != nil {
			t.Fatalf("workers %d: %v", workers, err)
		}
		if !slices.Equal(res.Segments, adv.Segments) || len(res.Matched) != len(adv.Segments) {
			t.Fatalf("segments %v, %d bitmaps; want %v", res.Segments, len(res.Matched), adv.Segments)
		}
		for s := range wantSegs {
			if err := res.Matched[s].Validate(); err != nil {
				t.Fatalf("workers %d, segment %d: invalid bitmap: %v", workers, s, err)
			}
			if diff := cmp.Diff(wantSegs[s], setOf(res.Matched[s])); diff != "" {
				t.Fatalf("workers %d, segment %d (-want +got):\n%s", workers, s, diff)
			}
		}
		if diff := cmp.Diff(wantAny, setOf(res.Any)); diff != "" {
			t.Fatalf("workers %d, any (-want +got):\n%s", workers, diff)
		}
		if diff := cmp.Diff(wantStats, res.Tags, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("workers %d, stats (-want +got):\n%s", workers, diff)
		}
	}
}

func TestSegmentsRandom(t *testing.T) {
	for seed := range uint64(60) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 7))
			pools := map[identity.Tag][]identity.Fingerprint{}
			for _, tag := range tagPool {
				pools[tag] = universe(r, 1+r.IntN(300))
			}
			pick := func() []identity.Tag {
				var tags []identity.Tag
				for _, tag := range tagPool {
					if r.IntN(3) > 0 {
						tags = append(tags, tag)
					}
				}
				return tags
			}
			adv := randomAdvertiser(r, pools, pick(), 400, r.IntN(6))
			pub := randomPublisher(r, pools, pick(), 1500, uint32(1+r.IntN(200)))
			if err := adv.Validate(); err != nil {
				t.Fatal(err)
			}
			if err := pub.Validate(); err != nil {
				t.Fatal(err)
			}
			check(t, adv, pub, nil)
		})
	}
}

func TestSegmentsEdges(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	pools := map[identity.Tag][]identity.Fingerprint{identity.TagEmailSHA256: universe(r, 50), identity.TagMAID: universe(r, 50)}
	both := []identity.Tag{identity.TagEmailSHA256, identity.TagMAID}
	emptyAdv := &vault.AdvertiserVersion{Tags: []identity.Tag{}, TagStart: []uint32{0}, SegOff: []uint32{0}, Segments: []string{"a"}}
	emptyPub := &vault.PublisherVersion{Tags: []identity.Tag{}, TagStart: []uint64{0}, Cohorts: []vault.CohortInfo{}, Members: []*roaring.Bitmap{}}
	for name, tc := range map[string]struct {
		adv *vault.AdvertiserVersion
		pub *vault.PublisherVersion
	}{
		"empty advertiser":    {emptyAdv, randomPublisher(r, pools, both, 100, 30)},
		"empty publisher":     {randomAdvertiser(r, pools, both, 100, 3), emptyPub},
		"both empty":          {emptyAdv, emptyPub},
		"no shared tag":       {randomAdvertiser(r, pools, both[:1], 100, 3), randomPublisher(r, pools, both[1:], 100, 30)},
		"no segments":         {randomAdvertiser(r, pools, both, 100, 0), randomPublisher(r, pools, both, 100, 30)},
		"one user":            {randomAdvertiser(r, pools, both, 100, 2), randomPublisher(r, pools, both, 100, 1)},
		"empty tag ranges":    {randomAdvertiser(r, pools, both, 0, 2), randomPublisher(r, pools, both, 0, 5)},
		"publisher all users": {randomAdvertiser(r, pools, both, 60, 2), randomPublisher(r, pools, both, 5000, 40)},
	} {
		t.Run(name, func(t *testing.T) { check(t, tc.adv, tc.pub, nil) })
	}
}

// A version whose identity rows name erased users (which Validate forbids, but a stale index
// could hold) still yields no erased ordinal.
func TestSegmentsDropsDeleted(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	pools := map[identity.Tag][]identity.Fingerprint{identity.TagEmailSHA256: universe(r, 40)}
	tags := []identity.Tag{identity.TagEmailSHA256}
	adv := randomAdvertiser(r, pools, tags, 100, 3)
	pub := randomPublisher(r, pools, tags, 400, 50)
	pub.Deleted = roaring.New()
	for _, o := range pub.Ords {
		if o%3 == 0 {
			pub.Deleted.Add(o)
		}
	}
	check(t, adv, pub, nil)
	res, err := match.Segments(adv, pub, match.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Any.IsEmpty() || res.Any.AndCardinality(pub.Deleted) != 0 {
		t.Fatalf("any has %d users, %d of them deleted", res.Any.GetCardinality(), res.Any.AndCardinality(pub.Deleted))
	}
}

func TestSegmentsGenerated(t *testing.T) {
	cfg := matchtest.Default(42, 20_000, 200_000)
	cfg.UserIndex = true
	adv, pub := matchtest.Generate(cfg)
	if err := adv.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := pub.Validate(); err != nil {
		t.Fatal(err)
	}
	if adv.Rows() != cfg.AdvRows || pub.Rows() != cfg.PubRows {
		t.Fatalf("%d advertiser rows, %d publisher rows; want %d, %d", adv.Rows(), pub.Rows(), cfg.AdvRows, cfg.PubRows)
	}
	check(t, adv, pub, nil)

	// Deterministic whatever the parallelism, and about the configured overlap.
	adv2, pub2 := matchtest.Generate(cfg)
	if !slices.Equal(adv.FPs, adv2.FPs) || !slices.Equal(adv.Segs, adv2.Segs) || !slices.Equal(pub.FPs, pub2.FPs) ||
		!slices.Equal(pub.Ords, pub2.Ords) || !slices.Equal(pub.Country, pub2.Country) || !pub.Deleted.Equals(pub2.Deleted) {
		t.Fatal("two generations of one config differ")
	}
	res, err := match.Segments(adv, pub, match.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var shared, matched int
	for _, s := range res.Tags {
		if s.PublisherTag != "" {
			shared += s.AdvertiserRows
			matched += s.MatchedAdvertiserRows
		}
	}
	if rate := float64(matched) / float64(shared); rate < 0.38 || rate > 0.42 {
		t.Errorf("match rate %.3f, want about %.2f", rate, cfg.Overlap)
	}
}

func TestSegmentsMalformed(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	pools := map[identity.Tag][]identity.Fingerprint{identity.TagMAID: universe(r, 30)}
	tags := []identity.Tag{identity.TagMAID}
	adv := randomAdvertiser(r, pools, tags, 50, 2)
	pub := randomPublisher(r, pools, tags, 200, 20)
	pub.Users = 1 // ordinals beyond Users
	if _, err := match.Segments(adv, pub, match.Options{}); err == nil {
		t.Errorf("no error for ordinals beyond Users")
	}
	pub.Ords = pub.Ords[1:]
	if _, err := match.Segments(adv, pub, match.Options{}); err == nil {
		t.Error("no error for mismatched arrays")
	}
	if _, err := match.Segments(nil, pub, match.Options{}); err == nil {
		t.Error("no error for a nil version")
	}
}

func TestResultSegment(t *testing.T) {
	res := &match.Result{Segments: []string{"a", "b"}, Matched: []*roaring.Bitmap{roaring.BitmapOf(1), roaring.BitmapOf(2)}, Any: roaring.BitmapOf(1, 2, 3)}
	if b, ok := res.Segment("b"); !ok || !b.Equals(roaring.BitmapOf(2)) {
		t.Errorf(`Segment("b") = %v, %v`, b, ok)
	}
	if b, ok := res.Segment(""); !ok || b != res.Any {
		t.Errorf(`Segment("") = %v, %v; want Any`, b, ok)
	}
	if _, ok := res.Segment("c"); ok {
		t.Error(`Segment("c") found`)
	}
}

// Many segments take the sorted path (more than 32 sets), and more than 65536 several merge
// passes; many users spread ordinals over several containers.
func TestSegmentsManySetsAndUsers(t *testing.T) {
	for _, tc := range []struct {
		name  string
		nseg  int
		rows  int
		users uint32
	}{
		{"40 segments", 40, 400, 150},
		{"70000 segments", 70_000, 300, 100},
		{"300k users", 6, 3000, 300_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(tc.nseg), 3))
			pools := map[identity.Tag][]identity.Fingerprint{identity.TagEmailSHA256: universe(r, tc.rows), identity.TagMAID: universe(r, tc.rows)}
			tags := []identity.Tag{identity.TagEmailSHA256, identity.TagMAID}
			adv := randomAdvertiser(r, pools, tags, tc.rows, 0)
			// Rows in up to 8 segments spread over the whole taxonomy.
			adv.Segments, adv.Segs, adv.SegOff = nil, nil, []uint32{0}
			for s := range tc.nseg {
				adv.Segments = append(adv.Segments, fmt.Sprint("s", s))
			}
			for range adv.FPs {
				segs := map[uint32]bool{}
				for range r.IntN(9) {
					segs[uint32(r.IntN(tc.nseg))] = true
				}
				sorted := make([]uint32, 0, len(segs))
				for s := range segs {
					sorted = append(sorted, s)
				}
				slices.Sort(sorted)
				adv.Segs = append(adv.Segs, sorted...)
				adv.SegOff = append(adv.SegOff, uint32(len(adv.Segs)))
			}
			if err := adv.Validate(); err != nil {
				t.Fatal(err)
			}
			pub := randomPublisher(r, pools, tags, 4*tc.rows, tc.users)
			check(t, adv, pub, nil)
		})
	}
}
