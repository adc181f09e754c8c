package insights_test

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cleanroom-oss/cleanroom/insights"
	"github.com/cleanroom-oss/cleanroom/privacy"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// sample returns a random bitmap of about p × users ordinals (geometric gaps).
func sample(r *rand.Rand, users int, p float64) *roaring.Bitmap {
	out := roaring.New()
	buf := make([]uint32, 0, 1<<16)
	lq := math.Log1p(-p)
	for o := -1; ; {
		o += 1 + int(math.Log(1-r.Float64())/lq)
		if o >= users {
			break
		}
		if buf = append(buf, uint32(o)); len(buf) == cap(buf) {
			out.AddMany(buf)
			buf = buf[:0]
		}
	}
	out.AddMany(buf)
	out.RunOptimize()
	return out
}

// benchData is a publisher version of users users with nseg cohorts whose sizes follow a power
// law from 40% down (as synth's), random countries, and a random cohort of size users.
func benchData(users, size, nseg int) (*vault.PublisherVersion, *roaring.Bitmap) {
	r := rand.New(rand.NewPCG(1, 2))
	v := &vault.PublisherVersion{Users: uint32(users), Country: make([]uint16, users)}
	codes := []uint16{vault.PackCountry("US"), vault.PackCountry("GB"), vault.PackCountry("DE"), vault.PackCountry("FR"), 0}
	for i := range v.Country {
		v.Country[i] = codes[r.IntN(len(codes))]
	}
	for k := range nseg {
		p := max(0.0005, 0.4*math.Pow(float64(k+1), -1.1))
		v.Cohorts = append(v.Cohorts, vault.CohortInfo{ID: "c" + strconv.Itoa(k)})
		v.Members = append(v.Members, sample(r, users, p))
	}
	return v, sample(r, users, float64(size)/float64(users))
}

// BenchmarkRelease measures releasing the counts of 500 publisher cohorts and 5 countries with the
// default privacy parameters (about 1,000 noisy counts).
func BenchmarkRelease(b *testing.B) {
	c := &insights.Counts{Size: 10_000_000, Base: 50_000_000}
	for k := range 500 {
		c.Segments = append(c.Segments, insights.SegmentCount{ID: "c" + strconv.Itoa(k), Overlap: int64(1000 * (k + 1)), Size: int64(5000 * (k + 1))})
	}
	for _, cc := range []string{"DE", "FR", "GB", "US", ""} {
		c.Countries = append(c.Countries, insights.Distribution{Value: cc, Cohort: 2_000_000, Base: 10_000_000})
	}
	rel := insights.ParamsReleaser{Params: privacy.DefaultParams(), Seed: [32]byte{1}}
	for b.Loop() {
		insights.Release(c, rel)
	}
}
