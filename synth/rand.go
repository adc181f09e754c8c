package synth

import (
	"math"
	"math/rand/v2"
)

// Streams separate the random draws made for different purposes, so that adding a draw to one
// purpose never shifts the draws of another.
const (
	streamUser       uint64 = iota + 1 // a universe user's coverage, interests and cohorts
	streamCohorts                      // the universe's cohort definitions
	streamIdentity                     // a person's raw identity (salt-keyed, seed-independent)
	streamPerson                       // an advertiser person's identifiers, segments and mistakes
	streamSegments                     // the advertiser's segment definitions
	streamOverlap                      // which advertiser persons come from the universe
	streamPII                          // how a person's raw PII is written
	streamPublicKeys                   // keys of the per-salt bijections (phone numbers, IPv4)
	streamEngagement                   // a universe user's engagement attributes
)

// mix64 is the SplitMix64 finaliser: a bijective scramble of x in which every input bit affects
// every output bit.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// hash3 hashes three values into one well-mixed 64-bit value.
func hash3(a, b, c uint64) uint64 {
	return mix64(mix64(mix64(a^0x9e3779b97f4a7c15)+b) + c)
}

// rng is a small, fast PCG generator. Each user or person gets its own, seeded from (seed,
// stream, index), so any of them can be generated alone and chunks can be generated in parallel.
type rng struct {
	pcg rand.PCG
}

// newRNG returns the generator of one (seed, stream, index).
func newRNG(seed, stream, index uint64) rng {
	var r rng
	r.pcg.Seed(hash3(seed, stream, index), hash3(index, seed, stream^0x5851f42d4c957f2d))
	return r
}

// u64 returns 64 uniformly random bits.
func (r *rng) u64() uint64 { return r.pcg.Uint64() }

// float returns a uniform float64 in [0, 1).
func (r *rng) float() float64 { return float64(r.pcg.Uint64()>>11) * 0x1p-53 }

// below returns a uniform int in [0, n) for 0 < n < 2^32.
func (r *rng) below(n int) int { return int((r.pcg.Uint64() >> 32) * uint64(n) >> 32) }

// chance returns true with the probability that threshold t encodes (see threshold).
func (r *rng) chance(t uint64) bool { return r.pcg.Uint64() < t }

// threshold returns the uint64 t such that a uniform 64-bit value is below t with probability p.
func threshold(p float64) uint64 {
	switch {
	case p <= 0:
		return 0
	case p >= 1:
		return math.MaxUint64
	}
	return uint64(p * 0x1p64)
}

// poisson draws from a Poisson distribution by Knuth's product method, in pieces of mean at most
// poissonPiece so that exp(-mean) never underflows.
type poisson struct {
	pieces int     // number of pieces
	limit  float64 // exp(-mean/pieces)
}

const poissonPiece = 16

func newPoisson(mean float64) poisson {
	if mean <= 0 {
		return poisson{}
	}
	pieces := int(math.Ceil(mean / poissonPiece))
	return poisson{pieces: pieces, limit: math.Exp(-mean / float64(pieces))}
}

func (p poisson) draw(r *rng) int {
	n := 0
	for range p.pieces {
		prod := r.float()
		for prod > p.limit {
			n++
			prod *= r.float()
		}
	}
	return n
}

// aliasTable draws an index with probability proportional to its weight in constant time
// (Walker's alias method, Vose's construction).
type aliasTable struct {
	n     uint64
	prob  []uint64 // keep index i when the low 32 bits of the draw are below prob[i] (of 2^32)
	alias []int32
}

func newAliasTable(weights []float64) aliasTable {
	n := len(weights)
	t := aliasTable{n: uint64(n), prob: make([]uint64, n), alias: make([]int32, n)}
	if n == 0 {
		return t
	}
	sum := 0.0
	for _, w := range weights {
		sum += w
	}
	scaled := make([]float64, n)
	var small, large []int
	for i, w := range weights {
		scaled[i] = w * float64(n) / sum
		if scaled[i] < 1 {
			small = append(small, i)
		} else {
			large = append(large, i)
		}
	}
	for len(small) > 0 && len(large) > 0 {
		s, l := small[len(small)-1], large[len(large)-1]
		small = small[:len(small)-1]
		t.prob[s] = uint64(scaled[s] * 0x1p32)
		t.alias[s] = int32(l)
		scaled[l] -= 1 - scaled[s]
		if scaled[l] < 1 {
			large = large[:len(large)-1]
			small = append(small, l)
		}
	}
	for _, i := range append(small, large...) { // left over by rounding: keep always
		t.prob[i] = 1 << 32
		t.alias[i] = int32(i)
	}
	return t
}

// draw maps 64 random bits to an index: the high half picks a column, the low half the coin.
func (t *aliasTable) draw(u uint64) int {
	i := (u >> 32) * t.n >> 32
	if u&0xffffffff < t.prob[i] {
		return int(i)
	}
	return int(t.alias[i])
}

// permutation is a keyed bijection of [0, n): a four-round Feistel network on the smallest
// even number of bits that covers n, with cycle walking to stay inside [0, n).
type permutation struct {
	n    uint64
	half uint // bits per Feistel half
	keys [4]uint64
}

func newPermutation(n, key uint64) permutation {
	p := permutation{n: n, half: 1}
	for uint64(1)<<(2*p.half) < n {
		p.half++
	}
	for i := range p.keys {
		p.keys[i] = hash3(key, uint64(i), 0x7065726d)
	}
	return p
}

// at returns the image of x < n.
func (p *permutation) at(x uint64) uint64 {
	mask := uint64(1)<<p.half - 1
	for {
		l, r := x>>p.half, x&mask
		for _, k := range p.keys {
			l, r = r, l^(mix64(r^k)&mask)
		}
		x = l<<p.half | r
		if x < p.n {
			return x
		}
	}
}
