package lookalike_test

import (
	"context"
	"errors"
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
	pub := &vault.PublisherVersion{Users: uint32(users), Country: make([]uint16, users)}
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

// quality returns, at reach = 5x the seeds, the share of selected users with interest k and that
// interest's base rate among the non-seed users.
func quality(t testing.TB, a *audience, res *lookalike.Result, seeds *roaring.Bitmap, k int) (precision, base float64) {
	t.Helper()
	want := 5 * int(seeds.GetCardinality())
	p := res.Curve[0]
	for _, q := range res.Curve {
		if q.Reach <= want {
			p = q
		}
	}
	sel, err := res.Model.Select(context.Background(), a.pub, seeds, p.Similarity, false)
	if err != nil {
		t.Fatal(err)
	}
	if int(sel.GetCardinality()) != p.Reach {
		t.Fatalf("select at %.3f: %d users, curve says %d", p.Similarity, sel.GetCardinality(), p.Reach)
	}
	hits := roaring.And(sel, a.interests[k]).GetCardinality()
	nonSeeds := roaring.AndNot(a.interests[k], seeds).GetCardinality()
	return float64(hits) / float64(sel.GetCardinality()), float64(nonSeeds) / float64(uint64(a.pub.Users)-seeds.GetCardinality())
}

func TestTrainCurveAndSelect(t *testing.T) {
	a := smallAudience(t)
	seeds := a.seedsOf(5, 10)
	res, err := lookalike.Train(context.Background(), a.pub, seeds, lookalike.Options{Country: true, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res)
	if len(res.Curve) < 20 {
		t.Fatalf("%d curve points, want >= 20", len(res.Curve))
	}
	for i, p := range res.Curve {
		if p.Similarity < 0 || p.Similarity > 1 || p.Recall < 0 || p.Recall > 1 || p.Precision < 0 || p.Precision > 1 {
			t.Errorf("point %d out of range: %+v", i, p)
		}
		if i > 0 && (p.Similarity >= res.Curve[i-1].Similarity || p.Reach < res.Curve[i-1].Reach || p.Recall < res.Curve[i-1].Recall) {
			t.Errorf("point %d does not follow %d: %+v after %+v", i, i-1, p, res.Curve[i-1])
		}
	}
	nonSeeds := int(a.pub.Live()) - int(seeds.GetCardinality())
	if last := res.Curve[len(res.Curve)-1]; last.Similarity != 0 || last.Reach != nonSeeds || last.Recall != 1 {
		t.Errorf("similarity 0 should reach every non-seed user and every held-out seed: %+v (non-seeds %d)", last, nonSeeds)
	}
	// Reach tracks the similarity: about the top (1-s) share.
	for _, p := range res.Curve {
		if want := (1 - p.Similarity) * float64(nonSeeds); math.Abs(float64(p.Reach)-want) > 0.02*float64(nonSeeds) {
			t.Errorf("similarity %.2f reaches %d, want about %.0f", p.Similarity, p.Reach, want)
		}
	}
	if res.AUC < 0.6 { // a random ranking scores 0.5
		t.Errorf("holdout AUC %.3f: the model learned little", res.AUC)
	}
	if len(res.Model.Features) < 10 || res.Model.Features[0].Name == "" ||
		math.Abs(res.Model.Features[0].Weight) < math.Abs(res.Model.Features[len(res.Model.Features)-1].Weight) {
		t.Errorf("features not explained or not sorted: %+v", res.Model.Features[:3])
	}
	// Select agrees with the curve at several points, never returns seeds or erased users, and
	// adds the seeds on request.
	for _, i := range []int{0, 9, 14, 20} {
		p := res.Curve[i]
		sel, err := res.Model.Select(context.Background(), a.pub, seeds, p.Similarity, false)
		if err != nil {
			t.Fatal(err)
		}
		if int(sel.GetCardinality()) != p.Reach || sel.Intersects(seeds) {
			t.Errorf("select at %.2f: %d users (curve %d), seeds included: %v", p.Similarity, sel.GetCardinality(), p.Reach, sel.Intersects(seeds))
		}
		with, _ := res.Model.Select(context.Background(), a.pub, seeds, p.Similarity, true)
		if with.GetCardinality() != sel.GetCardinality()+seeds.GetCardinality() {
			t.Errorf("with seeds: %d, want %d", with.GetCardinality(), sel.GetCardinality()+seeds.GetCardinality())
		}
	}
	// Planted interest: at 5x the seeds' reach, far more of the selected users have it than
	// the base rate.
	prec, base := quality(t, a, res, seeds, 5)
	t.Logf("precision at 5x seed reach %.3f, base rate %.3f, lift %.1f", prec, base, prec/base)
	if prec < 3*base {
		t.Errorf("precision %.3f is under 3x the base rate %.3f", prec, base)
	}
}

func TestTrainDeterministicAndErasures(t *testing.T) {
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
	if !slices.Equal(r1.Model.Cuts, r2.Model.Cuts) || !slices.Equal(r1.Model.Features, r2.Model.Features) || !slices.Equal(r1.Curve, r2.Curve) {
		t.Error("the same inputs gave different models")
	}
	// Erased users are never selected, even with a cut at 0.
	erased := *a.pub
	erased.Deleted = roaring.New()
	for o := uint32(0); o < erased.Users; o += 7 {
		erased.Deleted.Add(o)
	}
	sel, err := r1.Model.Select(context.Background(), &erased, seeds, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	if sel.Intersects(erased.Deleted) {
		t.Error("an erased user was selected")
	}
	if want := uint64(erased.Live()); sel.GetCardinality() != want {
		t.Errorf("cut at 0 with seeds: %d users, want every live user (%d)", sel.GetCardinality(), want)
	}
}

func TestTrainRefusals(t *testing.T) {
	a := smallAudience(t)
	for _, c := range []struct {
		name  string
		seeds *roaring.Bitmap
		opt   lookalike.Options
		msg   string
	}{
		{"too few seeds", roaring.BitmapOf(1, 2, 3), lookalike.Options{}, "Only 3 matched users"},
		{"seeds are almost everyone", func() *roaring.Bitmap { b := roaring.New(); b.AddRange(0, 150_000); return b }(), lookalike.Options{}, "no one left"},
		{"too few feature cohorts", a.seedsOf(1, 10), lookalike.Options{Features: []int{0, 1, 2, 3, 4}}, "a lookalike needs at least 10"},
	} {
		_, err := lookalike.Train(context.Background(), a.pub, c.seeds, c.opt)
		var e *cleanroom.Error
		if !errorsAs(err, &e) || e.Code != cleanroom.EINVALID || !contains(e.Message, c.msg) || e.Details["hint"] == nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := lookalike.Train(ctx, a.pub, a.seedsOf(1, 10), lookalike.Options{}); err == nil {
		t.Error("a cancelled training succeeded")
	}
}

func errorsAs(err error, target **cleanroom.Error) bool { return errors.As(err, target) }

func contains(s, sub string) bool { return strings.Contains(s, sub) }
