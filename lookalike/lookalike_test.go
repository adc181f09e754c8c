package lookalike_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/lookalike"
	"github.com/cleanroom-oss/cleanroom/synth"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// audience is a publisher version built in memory from a synthetic universe, with each user's
// hidden interests (the ground truth) as bitmaps.
type audience struct {
	pub       *vault.PublisherVersion
	interests []*roaring.Bitmap
}

// buildAudience fills a publisher version's countries and cohort bitmaps from a universe, in
// parallel. Identity rows are left out: models read only cohorts and countries.
func buildAudience(tb testing.TB, users, cohorts int) *audience {
	tb.Helper()
	u, err := synth.NewUniverse(synth.UniverseConfig{Seed: 42, Users: users, Cohorts: cohorts})
	if err != nil {
		tb.Fatal(err)
	}
	pub := &vault.PublisherVersion{Users: uint32(users), Country: make([]uint16, users), TagStart: []uint64{0}}
	for _, c := range u.Cohorts() {
		pub.Cohorts = append(pub.Cohorts, vault.CohortInfo{ID: c.ID, Name: c.Name, IABID: c.IABID, Standard: c.Standard})
	}
	nint := len(u.Interests())
	workers := runtime.GOMAXPROCS(0)
	parts := make([][]*roaring.Bitmap, workers)
	iparts := make([][]*roaring.Bitmap, workers)
	chunk := (users + workers - 1) / workers
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			members := make([][]uint32, cohorts)
			ints := make([][]uint32, nint)
			var usr synth.User
			for i := w * chunk; i < min(users, (w+1)*chunk); i++ {
				u.Traits(i, &usr)
				pub.Country[i] = vault.PackCountry(usr.Country)
				for _, c := range usr.Cohorts {
					members[c] = append(members[c], uint32(i))
				}
				for _, k := range usr.Interests {
					ints[k] = append(ints[k], uint32(i))
				}
			}
			for _, m := range members {
				parts[w] = append(parts[w], roaring.BitmapOf(m...))
			}
			for _, m := range ints {
				iparts[w] = append(iparts[w], roaring.BitmapOf(m...))
			}
		})
	}
	wg.Wait()
	a := &audience{pub: pub}
	for c := range cohorts {
		b := roaring.New()
		for w := range workers {
			b.Or(parts[w][c])
		}
		b.RunOptimize()
		pub.Members = append(pub.Members, b)
	}
	for k := range nint {
		b := roaring.New()
		for w := range workers {
			b.Or(iparts[w][k])
		}
		a.interests = append(a.interests, b)
	}
	return a
}

// seedsOf returns every step-th user with interest k: the advertiser's matched customers.
func (a *audience) seedsOf(k, step int) *roaring.Bitmap {
	out := roaring.New()
	for i, o := range a.interests[k].ToArray() {
		if i%step == 0 {
			out.Add(o)
		}
	}
	return out
}

var (
	smallOnce sync.Once
	small     *audience
)

func smallAudience(t *testing.T) *audience {
	smallOnce.Do(func() { small = buildAudience(t, 200_000, 500) })
	return small
}

// erase returns a copy of a's version in which every step-th user is erased as pubsync erases
// one: a tombstone in Deleted, out of every cohort, no country.
func erase(t *testing.T, a *audience, step uint32) *vault.PublisherVersion {
	t.Helper()
	v := *a.pub
	v.Deleted = roaring.New()
	for o := uint32(0); o < v.Users; o += step {
		v.Deleted.Add(o)
	}
	v.Country = slices.Clone(a.pub.Country)
	for _, o := range v.Deleted.ToArray() {
		v.Country[o] = 0
	}
	v.Members = make([]*roaring.Bitmap, len(a.pub.Members))
	for c, m := range a.pub.Members {
		v.Members[c] = roaring.AndNot(m, v.Deleted)
	}
	return &v
}

// quality selects the non-seed users at the similarity whose reach is 5x the seeds, and returns
// the share of them with interest k and that interest's base rate among the live non-seed users.
func quality(tb testing.TB, a *audience, res *lookalike.Result, seeds *roaring.Bitmap, k int) (precision, base float64) {
	tb.Helper()
	live := roaring.New()
	live.AddRange(0, uint64(a.pub.Users))
	if a.pub.Deleted != nil {
		live.AndNot(a.pub.Deleted)
	}
	nonSeeds := roaring.AndNot(live, seeds)
	want := 5 * float64(seeds.GetCardinality())
	sim := math.Round((1-want/float64(nonSeeds.GetCardinality()))*1000) / 1000
	sel, err := res.Model.Select(context.Background(), a.pub, seeds, sim, false)
	if err != nil {
		tb.Fatal(err)
	}
	if got := float64(sel.GetCardinality()); math.Abs(got-want) > 0.1*want {
		tb.Fatalf("select at similarity %.3f: %.0f users, want about %.0f (5x the seeds)", sim, got, want)
	}
	hits := roaring.And(sel, a.interests[k]).GetCardinality()
	others := roaring.And(nonSeeds, a.interests[k]).GetCardinality()
	return float64(hits) / float64(sel.GetCardinality()), float64(others) / float64(nonSeeds.GetCardinality())
}

// checkCurve checks the curve's shape: enough points, similarity descending in [0,1], reach and
// recall growing, every share in [0,1], and the last point reaching every live non-seed user.
func checkCurve(t *testing.T, res *lookalike.Result, nonSeeds int) {
	t.Helper()
	if len(res.Curve) < 20 {
		t.Fatalf("%d curve points, want >= 20", len(res.Curve))
	}
	for i, p := range res.Curve {
		if p.Similarity < 0 || p.Similarity > 1 || p.Recall < 0 || p.Recall > 1 || p.Precision < 0 || p.Precision > 1 || p.Lift < 0 {
			t.Errorf("point %d out of range: %+v", i, p)
		}
		if i > 0 && (p.Similarity >= res.Curve[i-1].Similarity || p.Reach < res.Curve[i-1].Reach || p.Recall < res.Curve[i-1].Recall) {
			t.Errorf("point %d does not follow %d: %+v after %+v", i, i-1, p, res.Curve[i-1])
		}
		if want := min(1, p.Lift*res.BaseRate); math.Abs(p.Precision-want) > 1e-12 {
			t.Errorf("point %d: precision %v, want lift x base rate %v", i, p.Precision, want)
		}
	}
	if last := res.Curve[len(res.Curve)-1]; last.Similarity != 0 || last.Reach != nonSeeds || last.Recall != 1 {
		t.Errorf("similarity 0 should reach every non-seed user and every held-out seed: %+v (non-seeds %d)", last, nonSeeds)
	}
	// Reach tracks the similarity: about the top (1-s) share.
	for _, p := range res.Curve {
		if want := (1 - p.Similarity) * float64(nonSeeds); math.Abs(float64(p.Reach)-want) > 0.02*float64(nonSeeds) {
			t.Errorf("similarity %.2f reaches %d, want about %.0f", p.Similarity, p.Reach, want)
		}
	}
}

// checkSelect checks Select against the curve at a few points: exactly the curve's reach, no seed
// and no erased user, and the live seeds added on request.
func checkSelect(t *testing.T, pub *vault.PublisherVersion, m *lookalike.Model, curve []lookalike.Point, seeds *roaring.Bitmap) {
	t.Helper()
	liveSeeds := seeds.Clone()
	if pub.Deleted != nil {
		liveSeeds.AndNot(pub.Deleted)
	}
	for _, i := range []int{0, 4, 9, 14, 20, len(curve) - 1} {
		p := curve[i]
		sel, err := m.Select(context.Background(), pub, seeds, p.Similarity, false)
		if err != nil {
			t.Fatal(err)
		}
		if int(sel.GetCardinality()) != p.Reach {
			t.Errorf("select at %.2f: %d users, the curve says %d", p.Similarity, sel.GetCardinality(), p.Reach)
		}
		if sel.Intersects(seeds) {
			t.Errorf("select at %.2f returned seeds without includeSeeds", p.Similarity)
		}
		with, err := m.Select(context.Background(), pub, seeds, p.Similarity, true)
		if err != nil {
			t.Fatal(err)
		}
		if !with.Equals(roaring.Or(sel, liveSeeds)) {
			t.Errorf("select at %.2f with seeds: %d users, want the %d selected and the %d live seeds", p.Similarity,
				with.GetCardinality(), sel.GetCardinality(), liveSeeds.GetCardinality())
		}
		if pub.Deleted != nil && with.Intersects(pub.Deleted) {
			t.Errorf("select at %.2f returned erased users", p.Similarity)
		}
	}
}

func TestTrainCurveAndSelect(t *testing.T) {
	a := smallAudience(t)
	seeds := a.seedsOf(5, 10)
	res, err := lookalike.Train(context.Background(), a.pub, seeds, lookalike.Options{Country: true, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res)
	n := int(seeds.GetCardinality())
	if res.Seeds != n || res.TrainSeeds+res.HoldoutSeeds != n || math.Abs(float64(res.HoldoutSeeds)-0.2*float64(n)) > 0.05*float64(n) {
		t.Errorf("seeds %d split %d + %d, want %d split about 80/20", res.Seeds, res.TrainSeeds, res.HoldoutSeeds, n)
	}
	if res.Negatives < res.TrainSeeds {
		t.Errorf("%d negatives for %d training seeds", res.Negatives, res.TrainSeeds)
	}
	checkCurve(t, res, int(a.pub.Live())-n)
	if res.AUC < 0.55 { // a random ranking scores 0.5 (give or take 0.02 with ~300 held-out seeds)
		t.Errorf("holdout AUC %.3f: the model learned little", res.AUC)
	}
	// Explained: named features, strongest first, and the strongest tied to the planted interest.
	fs := res.Model.Features
	kinds := map[string]int{}
	for _, f := range fs {
		kinds[f.Kind]++
		if f.ID == "" || f.Kind == "cohort" && f.Name == "" {
			t.Errorf("feature without ID or name: %+v", f)
		}
	}
	if kinds["cohort"] != res.UsableFeatures || kinds["country"] < 5 || kinds["country"] > lookalike.MaxCountries || len(kinds) != 2 {
		t.Fatalf("features by kind %v, want %d cohorts and 5 to %d countries", kinds, res.UsableFeatures, lookalike.MaxCountries)
	}
	for i := 1; i < len(fs); i++ {
		if math.Abs(fs[i].Weight) > math.Abs(fs[i-1].Weight) {
			t.Fatalf("features not sorted by |weight| at %d: %+v after %+v", i, fs[i], fs[i-1])
		}
	}
	interest := synthInterestName(t, 5)
	// About 1 cohort in 26 is tied to the interest: most of the strongest should be.
	tied := 0
	for _, f := range fs[:5] {
		if f.Kind == "cohort" && f.Weight > 0 && strings.HasPrefix(f.Name, interest) {
			tied++
		}
	}
	if tied < 3 {
		t.Errorf("%d of the 5 strongest features are %q cohorts: %+v", tied, interest, fs[:5])
	}
	checkSelect(t, a.pub, res.Model, res.Curve, seeds)
	// Planted interest: at 5x the seeds' reach, far more of the selected users have it than the
	// base rate.
	prec, base := quality(t, a, res, seeds, 5)
	t.Logf("precision at 5x seed reach %.3f, base rate %.3f, lift %.1f", prec, base, prec/base)
	if prec < 3*base {
		t.Errorf("precision %.3f is under 3x the base rate %.3f", prec, base)
	}
}

// synthInterestName returns the name of the planted interest k of the audiences built here.
func synthInterestName(t *testing.T, k int) string {
	u, err := synth.NewUniverse(synth.UniverseConfig{Seed: 42, Users: 1})
	if err != nil {
		t.Fatal(err)
	}
	return u.Interests()[k].Name
}

func TestTrainDeterministic(t *testing.T) {
	a := smallAudience(t)
	seeds := a.seedsOf(2, 20)
	r1, err := lookalike.Train(context.Background(), a.pub, seeds, lookalike.Options{Country: true, Seed: 9, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := lookalike.Train(context.Background(), a.pub, seeds, lookalike.Options{Country: true, Seed: 9, Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r1.Model.Cuts, r2.Model.Cuts) || !slices.Equal(r1.Model.Features, r2.Model.Features) ||
		r1.Model.Bias != r2.Model.Bias || !slices.Equal(r1.Curve, r2.Curve) || r1.AUC != r2.AUC {
		t.Error("the same inputs gave different models")
	}
	// Another sampling seed gives another (but similar) model.
	r3, err := lookalike.Train(context.Background(), a.pub, seeds, lookalike.Options{Country: true, Seed: 10})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(r1.Model.Features, r3.Model.Features) {
		t.Error("Options.Seed does not change the sampling")
	}
	// The model survives JSON (it is stored in a cohort's metadata) and selects the same users.
	raw, err := json.Marshal(r1.Model)
	if err != nil {
		t.Fatal(err)
	}
	var m lookalike.Model
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	p := r1.Curve[12]
	s1, err := r1.Model.Select(context.Background(), a.pub, seeds, p.Similarity, false)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := m.Select(context.Background(), a.pub, seeds, p.Similarity, false)
	if err != nil {
		t.Fatal(err)
	}
	if !s1.Equals(s2) || int(s2.GetCardinality()) != p.Reach {
		t.Errorf("the decoded model selects %d users, the original %d, the curve says %d", s2.GetCardinality(), s1.GetCardinality(), p.Reach)
	}
}

func TestTrainWithErasedUsers(t *testing.T) {
	a := smallAudience(t)
	pub := erase(t, a, 7)
	if err := pub.Validate(); err == nil || !strings.Contains(err.Error(), "user keys") {
		t.Fatalf("the erased version breaks more than the (absent) user index: %v", err)
	}
	seeds := a.seedsOf(5, 10) // some of them erased: they must be ignored
	liveSeeds := roaring.AndNot(seeds, pub.Deleted)
	if liveSeeds.GetCardinality() == seeds.GetCardinality() {
		t.Fatal("no seed is erased: the test checks nothing")
	}
	res, err := lookalike.Train(context.Background(), pub, seeds, lookalike.Options{Country: true, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.Seeds != int(liveSeeds.GetCardinality()) {
		t.Errorf("%d seeds counted, want the %d live ones", res.Seeds, liveSeeds.GetCardinality())
	}
	if want := float64(liveSeeds.GetCardinality()) / float64(pub.Live()); math.Abs(res.BaseRate-want) > 1e-12 {
		t.Errorf("base rate %v, want %v", res.BaseRate, want)
	}
	checkCurve(t, res, int(pub.Live())-int(liveSeeds.GetCardinality()))
	checkSelect(t, pub, res.Model, res.Curve, seeds)
	all, err := res.Model.Select(context.Background(), pub, seeds, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	if all.GetCardinality() != uint64(pub.Live()) || all.Intersects(pub.Deleted) {
		t.Errorf("cut at 0 with seeds: %d users, want every live user (%d) and no erased one", all.GetCardinality(), pub.Live())
	}
	// A model trained before the erasures never selects the erased users either.
	before, err := lookalike.Train(context.Background(), a.pub, seeds, lookalike.Options{Country: true, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	sel, err := before.Model.Select(context.Background(), pub, seeds, 0.5, true)
	if err != nil {
		t.Fatal(err)
	}
	if sel.IsEmpty() || sel.Intersects(pub.Deleted) {
		t.Errorf("a model of the previous version selected %d users, erased ones among them: %v", sel.GetCardinality(), sel.Intersects(pub.Deleted))
	}
}

func TestTrainRefusals(t *testing.T) {
	a := smallAudience(t)
	few := []int{0, 1, 2, 3, 4, len(a.pub.Cohorts) + 3, -1} // out-of-range indexes are not features
	usable := 0
	for _, c := range few[:5] {
		if a.pub.Members[c].GetCardinality() >= lookalike.MinCohortMembers {
			usable++
		}
	}
	almostAll := roaring.New()
	almostAll.AddRange(0, uint64(0.95*float64(a.pub.Users)))
	for _, c := range []struct {
		name  string
		seeds *roaring.Bitmap
		opt   lookalike.Options
		msg   string
		hint  string
	}{
		{"too few seeds", roaring.BitmapOf(1, 2, 3, a.pub.Users+5), lookalike.Options{},
			"Only 3 matched users to learn from; a lookalike needs at least 100.", "Widen the query"},
		{"too few seeds for the caller's minimum", a.seedsOf(5, 100), lookalike.Options{MinSeeds: 1000},
			fmt.Sprintf("Only %d matched users to learn from; a lookalike needs at least 1000.", a.seedsOf(5, 100).GetCardinality()), "Widen the query"},
		{"seeds are almost everyone", almostAll, lookalike.Options{}, "are 95% of the publisher's live users", "matched cohort"},
		{"too few feature cohorts", a.seedsOf(1, 10), lookalike.Options{Features: few},
			fmt.Sprintf("The publisher offers %d custom cohorts with at least 100 members to model with; a lookalike needs at least 10.", usable),
			"sync more custom cohorts"},
	} {
		_, err := lookalike.Train(context.Background(), a.pub, c.seeds, c.opt)
		var e *cleanroom.Error
		if !errors.As(err, &e) || e.Code != cleanroom.EINVALID || !strings.Contains(e.Message, c.msg) {
			t.Errorf("%s: got %v, want %s: %q", c.name, err, cleanroom.EINVALID, c.msg)
			continue
		}
		if h, _ := e.Details["hint"].(string); !strings.Contains(h, c.hint) {
			t.Errorf("%s: hint %q, want one mentioning %q", c.name, h, c.hint)
		}
	}
	// Features that do qualify are enough.
	ten := make([]int, 0, 10)
	for c := range a.pub.Cohorts {
		if len(ten) < 10 && a.pub.Members[c].GetCardinality() >= 1000 {
			ten = append(ten, c)
		}
	}
	res, err := lookalike.Train(context.Background(), a.pub, a.seedsOf(1, 10), lookalike.Options{Features: ten})
	if err != nil || res.UsableFeatures != 10 || len(res.Model.Features) != 10 {
		t.Errorf("ten usable cohorts, no country: %v, %v", res, err)
	}
}

func TestTrainCancelled(t *testing.T) {
	a := smallAudience(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := lookalike.Train(ctx, a.pub, a.seedsOf(1, 10), lookalike.Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled training: %v", err)
	}
	res, err := lookalike.Train(context.Background(), a.pub, a.seedsOf(1, 10), lookalike.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := res.Model.Select(ctx, a.pub, a.seedsOf(1, 10), 0.9, false); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled selection: %v", err)
	}
	// Cancelling halfway (at the first progress report after the sampling) stops it too.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	var reports []float64
	_, err = lookalike.Train(ctx, a.pub, a.seedsOf(1, 10), lookalike.Options{Progress: func(d float64) {
		reports = append(reports, d)
		if d > 0.1 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) || len(reports) > 3 {
		t.Errorf("cancelled at progress %v: %v", reports, err)
	}
}

func TestTrainProgress(t *testing.T) {
	a := smallAudience(t)
	var reports []float64
	if _, err := lookalike.Train(context.Background(), a.pub, a.seedsOf(1, 10), lookalike.Options{Progress: func(d float64) {
		reports = append(reports, d)
	}}); err != nil {
		t.Fatal(err)
	}
	if len(reports) < 3 || len(reports) > 50 || !slices.IsSorted(reports) || reports[0] < 0 || reports[len(reports)-1] != 1 {
		t.Errorf("progress reports %v: want a few, ascending, ending at 1", reports)
	}
}
