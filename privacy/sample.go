package privacy

import (
	"math/big"
	"math/bits"
	"math/rand/v2"
)

// Source is the deterministic random source the samplers draw from: 64 uniformly random bits per
// call. *rand.ChaCha8 (math/rand/v2) is one; NewSource makes it from a seed.
type Source interface {
	Uint64() uint64
}

// NewSource returns the random source of a release: ChaCha8 seeded with seed (from Seed or
// Derive). ChaCha8's output for a seed is fixed, so a seed always gives the same noise.
func NewSource(seed [32]byte) Source { return rand.NewChaCha8(seed) }

var (
	bigOne = big.NewInt(1)
	bigTwo = big.NewInt(2)
)

// uniformBelow returns a uniform integer in [0, n) for n >= 1, by rejection: draw as many bits as
// n has and retry when the draw is n or more (fewer than two tries on average). It is exact and
// ours, so the mapping of random words to a range never changes under us.
func uniformBelow(src Source, n *big.Int) *big.Int {
	if n.IsUint64() {
		return new(big.Int).SetUint64(uniformBelow64(src, n.Uint64()))
	}
	bitLen := n.BitLen()
	words := (bitLen + 63) / 64
	topMask := ^uint64(0) >> (uint(words*64 - bitLen))
	buf := make([]big.Word, 0, words*64/bits.UintSize)
	x := new(big.Int)
	for {
		buf = buf[:0]
		for i := range words {
			w := src.Uint64()
			if i == words-1 {
				w &= topMask
			}
			if bits.UintSize == 64 {
				buf = append(buf, big.Word(w))
			} else {
				buf = append(buf, big.Word(uint32(w)), big.Word(uint32(w>>32)))
			}
		}
		x.SetBits(buf)
		if x.Cmp(n) < 0 {
			return new(big.Int).Set(x)
		}
	}
}

// uniformBelow64 is uniformBelow for n that fits in 64 bits.
func uniformBelow64(src Source, n uint64) uint64 {
	if n == 0 {
		panic("privacy: uniform draw below 0")
	}
	mask := ^uint64(0) >> uint(bits.LeadingZeros64(n-1))
	if n == 1 {
		return 0
	}
	for {
		if x := src.Uint64() & mask; x < n {
			return x
		}
	}
}

// bernoulli returns true with probability num/den, for 0 <= num <= den and den >= 1.
func bernoulli(src Source, num, den *big.Int) bool {
	if den.IsUint64() {
		return uniformBelow64(src, den.Uint64()) < num.Uint64()
	}
	return uniformBelow(src, den).Cmp(num) < 0
}

// bernoulliExp returns true with probability exp(-num/den), for num >= 0 and den >= 1
// (Canonne, Kamath and Steinke 2020, Algorithm 1).
func bernoulliExp(src Source, num, den *big.Int) bool {
	if num.IsUint64() && den.IsUint64() {
		return bernoulliExp64(src, num.Uint64(), den.Uint64())
	}
	if num.Cmp(den) <= 0 {
		return bernoulliExpAtMostOne(src, num, den)
	}
	// exp(-γ) = exp(-1)^floor(γ) · exp(-(γ - floor(γ))): floor(γ) draws of Bernoulli(exp(-1)),
	// all of which must succeed, then one of the fractional part.
	q, r := new(big.Int).QuoRem(num, den, new(big.Int))
	for i := new(big.Int); i.Cmp(q) < 0; i.Add(i, bigOne) {
		if !bernoulliExpAtMostOne(src, bigOne, bigOne) {
			return false
		}
	}
	return bernoulliExpAtMostOne(src, r, den)
}

// bernoulliExpAtMostOne is bernoulliExp for γ = num/den in [0, 1]: draw Bernoulli(γ/K) for
// K = 1, 2, ... until one fails; the result is true when the failing K is odd.
func bernoulliExpAtMostOne(src Source, num, den *big.Int) bool {
	return bernoulliExpAtMostOneFrom(src, num, den, 1)
}

// bernoulliExpAtMostOneFrom is bernoulliExpAtMostOne's loop from K = k.
func bernoulliExpAtMostOneFrom(src Source, num, den *big.Int, k int64) bool {
	d := new(big.Int)
	kk := new(big.Int)
	for {
		d.Mul(den, kk.SetInt64(k))
		if !bernoulli(src, num, d) {
			break
		}
		k++
	}
	return k%2 == 1
}

// bernoulliExp64 is bernoulliExp for γ = num/den whose parts fit in 64 bits, without allocating.
// It draws exactly what bernoulliExp would.
func bernoulliExp64(src Source, num, den uint64) bool {
	if num > den {
		for range num / den {
			if !bernoulliExpAtMostOne64(src, 1, 1) {
				return false
			}
		}
		num %= den
	}
	return bernoulliExpAtMostOne64(src, num, den)
}

// bernoulliExpAtMostOne64 is bernoulliExpAtMostOne for 64-bit parts; when den·K no longer fits
// in 64 bits (which needs an astronomically long run) it goes on with big integers.
func bernoulliExpAtMostOne64(src Source, num, den uint64) bool {
	for k := uint64(1); ; k++ {
		hi, dk := bits.Mul64(den, k)
		if hi != 0 {
			return bernoulliExpAtMostOneFrom(src, new(big.Int).SetUint64(num), new(big.Int).SetUint64(den), int64(k))
		}
		if uniformBelow64(src, dk) >= num {
			return k%2 == 1
		}
	}
}

// discreteLaplace returns a sample of the discrete Laplace distribution of scale t/s
// (P[Z=z] ∝ exp(-|z|·s/t)) for t, s >= 1 (Canonne, Kamath and Steinke 2020, Algorithm 2).
func discreteLaplace(src Source, t, s *big.Int) *big.Int {
	if t.IsUint64() && s.IsUint64() {
		return discreteLaplace64(src, t.Uint64(), s.Uint64())
	}
	x := new(big.Int)
	for {
		u := uniformBelow(src, t)
		if !bernoulliExp(src, u, t) {
			continue
		}
		var v int64
		for bernoulliExp(src, bigOne, bigOne) {
			v++
		}
		x.Mul(t, big.NewInt(v))
		x.Add(x, u)
		y := new(big.Int).Quo(x, s)
		negative := bernoulli(src, bigOne, bigTwo)
		if negative && y.Sign() == 0 {
			continue
		}
		if negative {
			y.Neg(y)
		}
		return y
	}
}

// discreteLaplace64 is discreteLaplace for 64-bit t and s: the same draws, in machine integers
// while U + t·V fits in 64 bits.
func discreteLaplace64(src Source, t, s uint64) *big.Int {
	for {
		u := uniformBelow64(src, t)
		if !bernoulliExp64(src, u, t) {
			continue
		}
		var v uint64
		for bernoulliExpAtMostOne64(src, 1, 1) {
			v++
		}
		hi, x := bits.Mul64(t, v)
		x, carry := bits.Add64(x, u, 0)
		y := new(big.Int)
		if hi == 0 && carry == 0 {
			y.SetUint64(x / s)
		} else {
			y.Mul(new(big.Int).SetUint64(t), new(big.Int).SetUint64(v))
			y.Add(y, new(big.Int).SetUint64(u))
			y.Quo(y, new(big.Int).SetUint64(s))
		}
		negative := uniformBelow64(src, 2) < 1
		if negative && y.Sign() == 0 {
			continue
		}
		if negative {
			y.Neg(y)
		}
		return y
	}
}

// discreteGaussian returns a sample of the discrete Gaussian distribution with parameter σ² =
// n/d (P[Z=z] ∝ exp(-z²/(2σ²))) for n, d >= 1 (Canonne, Kamath and Steinke 2020, Algorithm 3):
// a discrete Laplace proposal of scale t = floor(σ)+1, accepted with probability
// exp(-(|Y| - σ²/t)²/(2σ²)).
func discreteGaussian(src Source, n, d *big.Int) *big.Int {
	t := new(big.Int).Quo(n, d) // floor(σ²)
	t.Sqrt(t)                   // floor(σ) = floor(sqrt(floor(σ²)))
	t.Add(t, bigOne)
	dt := new(big.Int).Mul(d, t)
	// γ = (|Y|·d·t - n)² / (2·n·d·t²)
	den := new(big.Int).Mul(n, dt)
	den.Mul(den, t)
	den.Lsh(den, 1)
	num := new(big.Int)
	for {
		y := discreteLaplace(src, t, bigOne)
		num.Abs(y)
		num.Mul(num, dt)
		num.Sub(num, n)
		num.Mul(num, num)
		if bernoulliExp(src, num, den) {
			return y
		}
	}
}

// ratParts returns the numerator and denominator of r, which must be positive (or, with
// allowZero, zero); it panics otherwise, as the samplers' inputs are checked by their callers.
func ratParts(r *big.Rat, what string, allowZero bool) (num, den *big.Int) {
	if r == nil || r.Sign() < 0 || (r.Sign() == 0 && !allowZero) {
		panic("privacy: " + what + " out of range")
	}
	return new(big.Int).Set(r.Num()), new(big.Int).Set(r.Denom())
}

// BernoulliExp returns true with probability exp(-γ), exactly, for a rational γ >= 0. It panics
// on a negative or nil γ.
func BernoulliExp(src Source, gamma *big.Rat) bool {
	num, den := ratParts(gamma, "γ", true)
	return bernoulliExp(src, num, den)
}

// DiscreteLaplace returns a sample of the discrete Laplace distribution on the integers with the
// given rational scale b > 0: P[Z=z] = (1-e^{-1/b})/(1+e^{-1/b}) · e^{-|z|/b}. Adding it to a count
// of sensitivity one gives (1/b)-differential privacy. It panics on a scale that is not positive.
// A sample beyond the int64 range (impossible in practice for any usable scale) saturates.
func DiscreteLaplace(src Source, scale *big.Rat) int64 {
	t, s := ratParts(scale, "scale", false)
	return saturate(discreteLaplace(src, t, s))
}

// DiscreteGaussian returns a sample of the discrete Gaussian distribution on the integers with
// the given rational σ² > 0: P[Z=z] ∝ e^{-z²/(2σ²)}. Adding it to a count of sensitivity one gives
// (1/(2σ²))-zero-concentrated differential privacy. It panics on a σ² that is not positive.
func DiscreteGaussian(src Source, sigma2 *big.Rat) int64 {
	n, d := ratParts(sigma2, "σ²", false)
	return saturate(discreteGaussian(src, n, d))
}

func saturate(x *big.Int) int64 {
	switch {
	case x.IsInt64():
		return x.Int64()
	case x.Sign() > 0:
		return 1<<63 - 1
	default:
		return -1 << 63
	}
}
