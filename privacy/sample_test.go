package privacy_test

import (
	"math"
	"math/big"
	"testing"

	"github.com/cleanroom-oss/cleanroom/privacy"
)

func seedOf(s string) [32]byte { return privacy.Seed([]byte("test key"), []byte(s)) }

// laplacePMF is the discrete Laplace pmf of scale b.
func laplacePMF(b float64) func(int64) float64 {
	q := math.Exp(-1 / b)
	return func(z int64) float64 { return (1 - q) / (1 + q) * math.Pow(q, math.Abs(float64(z))) }
}

// gaussianPMF is the discrete Gaussian pmf of variance parameter s2, normalised numerically.
func gaussianPMF(s2 float64) func(int64) float64 {
	w := func(z int64) float64 { return math.Exp(-float64(z) * float64(z) / (2 * s2)) }
	var norm float64
	r := int64(50*math.Sqrt(s2)) + 50
	for z := -r; z <= r; z++ {
		norm += w(z)
	}
	return func(z int64) float64 { return w(z) / norm }
}

// chiSquare returns Pearson's statistic of the sample counts against pmf and its degrees of
// freedom: one bin per value whose expected count is at least 5, the two tails pooled.
func chiSquare(counts map[int64]int, n int, pmf func(int64) float64) (stat float64, df int) {
	lo, hi := int64(0), int64(0)
	for float64(n)*pmf(lo-1) >= 5 {
		lo--
	}
	for float64(n)*pmf(hi+1) >= 5 {
		hi++
	}
	var inside float64
	for z := lo; z <= hi; z++ {
		e := float64(n) * pmf(z)
		inside += pmf(z)
		d := float64(counts[z]) - e
		stat += d * d / e
		df++
	}
	var below, above int
	for z, c := range counts {
		if z < lo {
			below += c
		} else if z > hi {
			above += c
		}
	}
	// The tails are symmetric: each holds half the mass outside [lo, hi].
	tail := float64(n) * (1 - inside) / 2
	for _, o := range []int{below, above} {
		d := float64(o) - tail
		stat += d * d / tail
		df++
	}
	return stat, df - 1
}

// chiSquareCritical is the 0.999 quantile of the chi-square distribution with df degrees of
// freedom (Wilson–Hilferty).
func chiSquareCritical(df int) float64 {
	k := float64(df)
	z := 3.0902
	return k * math.Pow(1-2/(9*k)+z*math.Sqrt(2/(9*k)), 3)
}

func TestSamplersFitTheirDistributions(t *testing.T) {
	tests := []struct {
		name   string
		n      int
		sample func(privacy.Source) int64
		pmf    func(int64) float64
		fits   bool
	}{
		{"laplace scale 2 (ε 0.5)", 60000,
			func(s privacy.Source) int64 { return privacy.DiscreteLaplace(s, big.NewRat(2, 1)) }, laplacePMF(2), true},
		{"laplace scale 10/3", 60000,
			func(s privacy.Source) int64 { return privacy.DiscreteLaplace(s, big.NewRat(10, 3)) }, laplacePMF(10.0 / 3), true},
		{"laplace scale 1/2", 60000,
			func(s privacy.Source) int64 { return privacy.DiscreteLaplace(s, big.NewRat(1, 2)) }, laplacePMF(0.5), true},
		{"gaussian σ² 4", 40000,
			func(s privacy.Source) int64 { return privacy.DiscreteGaussian(s, big.NewRat(4, 1)) }, gaussianPMF(4), true},
		{"gaussian σ² 25/4", 40000,
			func(s privacy.Source) int64 { return privacy.DiscreteGaussian(s, big.NewRat(25, 4)) }, gaussianPMF(6.25), true},
		{"gaussian σ² 1/3", 40000,
			func(s privacy.Source) int64 { return privacy.DiscreteGaussian(s, big.NewRat(1, 3)) }, gaussianPMF(1.0 / 3), true},
		// The test has the power to see a wrong distribution: a scale 10% off is rejected.
		{"laplace scale 2.2 is not scale 2", 60000,
			func(s privacy.Source) int64 { return privacy.DiscreteLaplace(s, big.NewRat(11, 5)) }, laplacePMF(2), false},
		{"gaussian σ² 4.8 is not σ² 4", 40000,
			func(s privacy.Source) int64 { return privacy.DiscreteGaussian(s, big.NewRat(24, 5)) }, gaussianPMF(4), false},
		{"laplace scale 2 is not gaussian σ² 8 (same variance)", 60000,
			func(s privacy.Source) int64 { return privacy.DiscreteLaplace(s, big.NewRat(2, 1)) }, gaussianPMF(8), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := privacy.NewSource(seedOf(tt.name))
			counts := map[int64]int{}
			for range tt.n {
				counts[tt.sample(src)]++
			}
			stat, df := chiSquare(counts, tt.n, tt.pmf)
			crit := chiSquareCritical(df)
			if fits := stat <= crit; fits != tt.fits {
				t.Errorf("chi-square %.1f, df %d, critical %.1f at 0.999: fits = %v, want %v", stat, df, crit, fits, tt.fits)
			}
		})
	}
}

func TestBernoulliExpFrequencies(t *testing.T) {
	const n = 100000
	for _, g := range []*big.Rat{big.NewRat(0, 1), big.NewRat(1, 3), big.NewRat(1, 1), big.NewRat(5, 2), big.NewRat(7, 1), big.NewRat(123456789, 100000000)} {
		t.Run(g.String(), func(t *testing.T) {
			src := privacy.NewSource(seedOf("bernoulli " + g.String()))
			hits := 0
			for range n {
				if privacy.BernoulliExp(src, g) {
					hits++
				}
			}
			f, _ := g.Float64()
			p := math.Exp(-f)
			sd := math.Sqrt(float64(n) * p * (1 - p))
			if d := math.Abs(float64(hits) - n*p); d > 4.5*sd+0.5 {
				t.Errorf("%d of %d, want %.1f ± %.1f", hits, n, n*p, 4.5*sd)
			}
		})
	}
}

func TestSamplersPanicOnBadParameters(t *testing.T) {
	src := privacy.NewSource(seedOf("panic"))
	for name, f := range map[string]func(){
		"negative γ":  func() { privacy.BernoulliExp(src, big.NewRat(-1, 2)) },
		"zero scale":  func() { privacy.DiscreteLaplace(src, new(big.Rat)) },
		"negative σ²": func() { privacy.DiscreteGaussian(src, big.NewRat(-1, 1)) },
		"nil scale":   func() { privacy.DiscreteLaplace(src, nil) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			f()
		})
	}
}

func TestLargeDenominators(t *testing.T) {
	// Rationals beyond 64 bits take the big-integer path of the uniform draw; the mean of a
	// Bernoulli(exp(-γ)) must still be right.
	den := new(big.Int).Lsh(big.NewInt(1), 100)
	num := new(big.Int).Rsh(den, 1) // γ = 1/2
	g := new(big.Rat).SetFrac(num, den)
	src := privacy.NewSource(seedOf("large"))
	const n = 50000
	hits := 0
	for range n {
		if privacy.BernoulliExp(src, g) {
			hits++
		}
	}
	p := math.Exp(-0.5)
	if sd := math.Sqrt(n * p * (1 - p)); math.Abs(float64(hits)-n*p) > 4.5*sd {
		t.Errorf("%d of %d, want %.0f", hits, n, n*p)
	}
}
