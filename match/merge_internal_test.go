package match

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/cleanroom-oss/cleanroom/identity"
	"github.com/cleanroom-oss/cleanroom/match/matchtest"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// naiveMerge returns the hits of a nested-loop join, in the merger's order.
func naiveMerge(adv, pub []identity.Fingerprint) []hit {
	var out []hit
	for i, a := range adv {
		for j := 0; j < len(pub); j++ {
			if pub[j] == a {
				k := j
				for k < len(pub) && pub[k] == a {
					k++
				}
				out = append(out, hit{a: i, p: j, n: k - j})
				break
			}
		}
	}
	return out
}

// TestMerger checks the merge join, with long gaps (galloping), repeats on both sides and
// equal high halves, against a nested loop, with small and large batches.
func TestMerger(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	fp := func(hi, lo uint64) identity.Fingerprint {
		var f identity.Fingerprint
		for k := range 8 {
			f[k], f[8+k] = byte(hi>>(56-8*k)), byte(lo>>(56-8*k))
		}
		return f
	}
	for round := range 300 {
		var pool []identity.Fingerprint
		for range 1 + r.IntN(200) {
			pool = append(pool, fp(r.Uint64N(uint64(1+r.IntN(1000))), r.Uint64N(4)))
		}
		draw := func(n int, unique bool) []identity.Fingerprint {
			var s []identity.Fingerprint
			for range n {
				s = append(s, pool[r.IntN(len(pool))])
			}
			slices.SortFunc(s, identity.Fingerprint.Compare)
			if unique {
				s = slices.Compact(s)
			}
			return s
		}
		adv := draw(r.IntN(50), round%2 == 0)
		pub := draw(r.IntN(5000), false)
		want := naiveMerge(adv, pub)
		for _, size := range []int{1, 3, 1024} {
			m := merger{adv: adv, pub: pub}
			buf := make([]hit, size)
			var got []hit
			for n := m.next(buf); n > 0; n = m.next(buf) {
				got = append(got, buf[:n]...)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("round %d, batch %d: got %v, want %v", round, size, got, want)
			}
		}
	}
}

var kernelData struct {
	once sync.Once
	adv  *vault.AdvertiserVersion
	pub  *vault.PublisherVersion
}

// BenchmarkMergeKernel runs the merge join alone (no collection) over the email tag of the
// 1M x 10M benchmark data, on one goroutine.
func BenchmarkMergeKernel(b *testing.B) {
	kernelData.once.Do(func() {
		kernelData.adv, kernelData.pub = matchtest.Generate(matchtest.Default(1, 1_000_000, 10_000_000))
	})
	a0, a1, _ := kernelData.adv.TagRange(identity.TagEmailSHA256)
	p0, p1, _ := kernelData.pub.TagRange(identity.TagEmailSHA256)
	adv, pub := kernelData.adv.FPs[a0:a1], kernelData.pub.FPs[p0:p1]
	buf := make([]hit, 1024)
	hits := 0
	for b.Loop() {
		m := merger{adv: adv, pub: pub}
		hits = 0
		for n := m.next(buf); n > 0; n = m.next(buf) {
			hits += n
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(adv)), "ns/adv-row")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(pub)), "ns/pub-row")
	b.ReportMetric(float64(hits), "hits")
}
