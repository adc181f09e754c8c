package lookalike

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cleanroom-oss/cleanroom/vault"
)

// TestScore checks the blocked, parallel scoring against a plain sum per user, for several block
// sizes and worker counts.
func TestScore(t *testing.T) {
	const users, cohorts = 100_003, 40
	r := rand.New(rand.NewPCG(3, 4))
	pub := &vault.PublisherVersion{Users: users, Country: make([]uint16, users)}
	countries := []uint16{vault.PackCountry("FR"), vault.PackCountry("DE"), 0}
	for o := range pub.Country {
		pub.Country[o] = countries[r.IntN(len(countries))]
	}
	m := &Model{Bias: -0.75}
	for c := range cohorts {
		b := roaring.New()
		share := r.Float64() * r.Float64() // mostly small cohorts, a few large
		for o := range uint32(users) {
			if r.Float64() < share {
				b.Add(o)
			}
		}
		if c%3 == 0 {
			b.RunOptimize()
		}
		id := fmt.Sprintf("c%d", c)
		pub.Cohorts = append(pub.Cohorts, vault.CohortInfo{ID: id, Name: id})
		pub.Members = append(pub.Members, b)
		m.Features = append(m.Features, Feature{Kind: "cohort", ID: id, Weight: r.NormFloat64()})
	}
	m.Features = append(m.Features, Feature{Kind: "country", ID: "FR", Weight: 0.5},
		Feature{Kind: "cohort", ID: "gone", Weight: 3}) // a cohort the version no longer has
	want := make([]int64, users)
	for o := range want {
		want[o] = fixed(m.Bias)
		if pub.Country[o] == countries[0] {
			want[o] += fixed(0.5)
		}
		for c, b := range pub.Members {
			if b.Contains(uint32(o)) {
				want[o] += fixed(m.Features[c].Weight)
			}
		}
	}
	defer func(b int) { scoreBlock = b }(scoreBlock)
	for _, block := range []int{1 << 21, 65536, 1000, 7} {
		for _, workers := range []int{1, 2, 3} {
			scoreBlock = block
			got := make([]int64, 0, users)
			err := m.score(context.Background(), pub, workers, func(lo int, s []int64) {
				if lo != len(got) {
					t.Fatalf("block %d, %d workers: a block at %d after %d scores", block, workers, lo, len(got))
				}
				got = append(got, s...)
			})
			if err != nil || len(got) != users {
				t.Fatalf("block %d, %d workers: %d scores, %v", block, workers, len(got), err)
			}
			for o := range want {
				if got[o] != want[o] {
					t.Fatalf("block %d, %d workers: user %d scores %d, want %d", block, workers, o, got[o], want[o])
				}
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.score(ctx, pub, 2, func(int, []int64) {}); err == nil {
		t.Error("a cancelled scoring succeeded")
	}
}
