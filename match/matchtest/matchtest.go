// Package matchtest generates synthetic advertiser and publisher versions in memory, for the
// tests and benchmarks of package match and for comparing it with other engines
// (bench/duckdb). The output is a pure function of the Config: the same Config gives the same
// versions whatever the number of cores.
//
// Fingerprints are uniform random 128-bit values, generated already sorted: each identifier
// type's fingerprint space is cut into Chunks ranges of the high 64 bits, and in each range the
// values are laid out by random increments, so 100M sorted fingerprints take a few seconds on
// two cores and no sort. A share Overlap of the advertiser's rows of each type the publisher
// holds are publisher fingerprints (a uniform sample of them), the rest are fresh values. Some
// publisher fingerprints (of types with MaxShared > 1, such as household IP addresses) belong
// to several users. Publisher ordinals are drawn uniformly from the live users, so a user holds
// on average PubRows/Users identifiers and some hold none.
package matchtest

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cleanroom-oss/cleanroom/identity"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// TagShare is one identifier type's share of a side's rows.
type TagShare struct {
	Tag   identity.Tag
	Share float64
	// MaxShared, publisher side only: when > 1, three in ten of the type's fingerprints belong
	// to 2..MaxShared users.
	MaxShared int
}

// Config describes a synthetic advertiser and publisher.
type Config struct {
	// Seed selects the data.
	Seed uint64
	// AdvRows is the advertiser's number of rows (unique fingerprints over all its tags).
	AdvRows int
	// PubRows is the publisher's number of identity rows.
	PubRows int
	// Users is the publisher's number of ordinals, deleted ones included.
	Users uint32
	// Overlap is the share of the advertiser's rows of a tag the publisher holds whose
	// fingerprint the publisher holds.
	Overlap float64
	// Segments is the number of advertiser segments; each row is in 1..MaxSegsPerRow of them,
	// low-numbered segments more often. MaxSegsPerRow 0 means 3.
	Segments      int
	MaxSegsPerRow int
	// Deleted is the share of erased publisher users (no identifiers, no country), at most 0.9.
	Deleted float64
	// AdvTags and PubTags split each side's rows over identifier types.
	AdvTags, PubTags []TagShare
	// UserIndex fills the publisher's user index (UserKeys, UserOrds) so that the version
	// validates; the match does not read it (12 bytes per user).
	UserIndex bool
}

// Default returns the benchmark configuration for advRows advertiser rows and pubRows
// publisher identifiers: pubRows/2 users, 40% overlap, 12 segments with 1 to 3 per row, 0.2% of
// users erased; the advertiser holds emails (60% of rows), mobile IDs (25%), IP addresses (10%)
// and phone numbers (5%), the publisher emails (45%), mobile IDs (30%) and IP addresses (25%,
// some shared by up to 3 users), so the phone rows match nothing.
func Default(seed uint64, advRows, pubRows int) Config {
	return Config{
		Seed: seed, AdvRows: advRows, PubRows: pubRows, Users: uint32(max(1, pubRows/2)),
		Overlap: 0.4, Segments: 12, MaxSegsPerRow: 3, Deleted: 0.002,
		AdvTags: []TagShare{
			{Tag: identity.TagEmailSHA256, Share: 0.60},
			{Tag: identity.TagMAID, Share: 0.25},
			{Tag: identity.TagIPAddress, Share: 0.10},
			{Tag: identity.TagPhoneSHA256, Share: 0.05},
		},
		PubTags: []TagShare{
			{Tag: identity.TagEmailSHA256, Share: 0.45},
			{Tag: identity.TagMAID, Share: 0.30},
			{Tag: identity.TagIPAddress, Share: 0.25, MaxShared: 3},
		},
	}
}

// Chunks is the number of fingerprint ranges each tag is generated in; part of the output's
// definition.
const Chunks = 64

// Generate builds the advertiser and publisher versions cfg describes, in parallel over
// GOMAXPROCS goroutines.
func Generate(cfg Config) (*vault.AdvertiserVersion, *vault.PublisherVersion) {
	if cfg.MaxSegsPerRow <= 0 {
		cfg.MaxSegsPerRow = 3
	}
	cfg.Deleted = min(max(cfg.Deleted, 0), 0.9) // live users must remain to hold identifiers
	advTags := sortedShares(cfg.AdvTags)
	pubTags := sortedShares(cfg.PubTags)
	advCounts := apportion(cfg.AdvRows, advTags)
	pubCounts := apportion(cfg.PubRows, pubTags)

	g := &gen{cfg: cfg, delCut: uint64(cfg.Deleted * (1 << 32))}
	if cfg.Users == 0 {
		cfg.Users, g.cfg.Users = 1, 1
	}
	pub := &vault.PublisherVersion{Users: cfg.Users, Cohorts: []vault.CohortInfo{}, Members: []*roaring.Bitmap{}}
	pub.TagStart = make([]uint64, 1, len(pubTags)+1)
	for i, t := range pubTags {
		pub.Tags = append(pub.Tags, t.Tag)
		pub.TagStart = append(pub.TagStart, pub.TagStart[i]+uint64(pubCounts[i]))
	}
	pub.FPs = make([]identity.Fingerprint, cfg.PubRows)
	pub.Ords = make([]uint32, cfg.PubRows)

	type piece struct {
		fps  []identity.Fingerprint
		segs [][]uint32
	}
	advPieces := make([][]piece, len(advTags))
	for i := range advPieces {
		advPieces[i] = make([]piece, Chunks)
	}
	// Publisher chunks write in place; they also return their distinct fingerprints, which
	// the advertiser chunk of the same range samples.
	type item struct{ adv, pub, chunk int } // tag indices, -1 when that side lacks the tag
	var items []item
	for ai, t := range advTags {
		pi := slices.IndexFunc(pubTags, func(p TagShare) bool { return p.Tag == t.Tag })
		for c := range Chunks {
			items = append(items, item{ai, pi, c})
		}
	}
	for pi, t := range pubTags {
		if !slices.ContainsFunc(advTags, func(a TagShare) bool { return a.Tag == t.Tag }) {
			for c := range Chunks {
				items = append(items, item{-1, pi, c})
			}
		}
	}
	forEach(len(items), func(k int) {
		it := items[k]
		var distinct []identity.Fingerprint
		if it.pub >= 0 {
			n := pubCounts[it.pub]
			lo, hi := chunkBounds(n, it.chunk)
			base := int(pub.TagStart[it.pub])
			distinct = g.pubChunk(pubTags[it.pub], it.pub, it.chunk, pub.FPs[base+lo:base+hi], pub.Ords[base+lo:base+hi])
		}
		if it.adv >= 0 {
			lo, hi := chunkBounds(advCounts[it.adv], it.chunk)
			fps, segs := g.advChunk(it.adv, it.chunk, hi-lo, distinct)
			advPieces[it.adv][it.chunk] = piece{fps, segs}
		}
	})

	adv := &vault.AdvertiserVersion{TagStart: []uint32{0}, SegOff: []uint32{0}}
	adv.FPs = make([]identity.Fingerprint, 0, cfg.AdvRows)
	for ai, t := range advTags {
		adv.Tags = append(adv.Tags, t.Tag)
		for _, p := range advPieces[ai] {
			adv.FPs = append(adv.FPs, p.fps...)
			for _, s := range p.segs {
				adv.Segs = append(adv.Segs, s...)
				adv.SegOff = append(adv.SegOff, uint32(len(adv.Segs)))
			}
		}
		adv.TagStart = append(adv.TagStart, uint32(len(adv.FPs)))
	}
	for s := range cfg.Segments {
		adv.Segments = append(adv.Segments, "s"+strconv.Itoa(s))
	}
	if adv.Tags == nil {
		adv.Tags = []identity.Tag{}
	}

	g.users(pub)
	return adv, pub
}

// gen holds the generator's configuration.
type gen struct {
	cfg    Config
	delCut uint64 // a user is deleted when the top half of its hash is below delCut
}

// rng is a PCG generator with the few draws the generator needs.
type rng struct{ p rand.PCG }

func newRNG(seed uint64, stream ...uint64) *rng {
	h := seed ^ 0x9e3779b97f4a7c15
	for _, s := range stream {
		h = mix(h ^ s)
	}
	r := &rng{}
	r.p.Seed(h, mix(h+1))
	return r
}

func (r *rng) u64() uint64 { return r.p.Uint64() }

// below returns a uniform value in [0, n) (Lemire's multiply-shift; the bias is below 2^-32
// for the n used here).
func (r *rng) below(n uint64) uint64 {
	h, _ := bits.Mul64(r.p.Uint64(), n)
	return h
}

func (r *rng) float() float64 { return float64(r.p.Uint64()>>11) / (1 << 53) }

// mix is the splitmix64 finaliser.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// deleted reports whether user o is erased.
func (g *gen) deleted(o uint32) bool {
	return mix(g.cfg.Seed^0xde1e7ed^uint64(o)<<20)>>32 < g.delCut
}

// liveUser draws a live user uniformly.
func (g *gen) liveUser(r *rng) uint32 {
	for {
		o := uint32(r.below(uint64(g.cfg.Users)))
		if !g.deleted(o) {
			return o
		}
	}
}

// chunkBounds returns the rows [lo, hi) of chunk c of n rows.
func chunkBounds(n, c int) (int, int) {
	return n * c / Chunks, n * (c + 1) / Chunks
}

// sortedValues fills dst with len(dst) strictly increasing high halves in chunk c's range,
// laid out by random increments, and random low halves.
func sortedValues(r *rng, dst []identity.Fingerprint, c int) {
	m := uint64(len(dst))
	if m == 0 {
		return
	}
	width := uint64(math.MaxUint64/Chunks) + 1 // 2^64 / Chunks
	start := width * uint64(c)
	// Mean gap leaves room for 8 standard deviations of the sum of the gaps.
	mean := width / (m + 8*uint64(math.Sqrt(float64(m))) + 8)
	for {
		x := start
		ok := true
		for i := range dst {
			x += 1 + r.below(2*mean)
			if x-start >= width-1 {
				ok = false
				break
			}
			putFP(&dst[i], x, r.u64())
		}
		if ok {
			return
		}
		mean /= 2 // practically never: retry with smaller steps
	}
}

func putFP(f *identity.Fingerprint, hi, lo uint64) {
	for k := range 8 {
		f[k] = byte(hi >> (56 - 8*k))
		f[8+k] = byte(lo >> (56 - 8*k))
	}
}

// pubChunk fills one chunk of a publisher tag's rows and returns its distinct fingerprints.
func (g *gen) pubChunk(t TagShare, ti, c int, fps []identity.Fingerprint, ords []uint32) []identity.Fingerprint {
	r := newRNG(g.cfg.Seed, 1, uint64(ti), uint64(c))
	// Run lengths: users per fingerprint.
	var runs []uint8
	for n := 0; n < len(fps); {
		l := 1
		if t.MaxShared > 1 && r.below(10) < 3 {
			l = 2 + int(r.below(uint64(t.MaxShared-1)))
		}
		l = min(l, len(fps)-n)
		runs = append(runs, uint8(l))
		n += l
	}
	distinct := make([]identity.Fingerprint, len(runs))
	sortedValues(r, distinct, c)
	i := 0
	for k, l := range runs {
		run := ords[i : i+int(l)]
		for x := range run {
			for {
				run[x] = g.liveUser(r)
				if !slices.Contains(run[:x], run[x]) {
					break
				}
			}
			fps[i+x] = distinct[k]
		}
		slices.Sort(run)
		i += int(l)
	}
	return distinct
}

// advChunk generates n advertiser rows of a tag in chunk c: a share Overlap sampled from the
// publisher's distinct fingerprints of the range (nil when the publisher lacks the tag), the
// rest fresh; and each row's segments.
func (g *gen) advChunk(ti, c, n int, distinct []identity.Fingerprint) ([]identity.Fingerprint, [][]uint32) {
	r := newRNG(g.cfg.Seed, 2, uint64(ti), uint64(c))
	matched := 0
	if distinct != nil {
		matched = min(len(distinct), int(math.Round(g.cfg.Overlap*float64(n))))
	}
	// Selection sampling keeps the publisher's order.
	picked := make([]identity.Fingerprint, 0, matched)
	for k := range distinct {
		need, left := uint64(matched-len(picked)), uint64(len(distinct)-k)
		if need == 0 {
			break
		}
		if r.below(left) < need {
			picked = append(picked, distinct[k])
		}
	}
	fresh := make([]identity.Fingerprint, n-matched)
	sortedValues(r, fresh, c)
	out := make([]identity.Fingerprint, 0, n)
	i, j := 0, 0
	for i < len(picked) || j < len(fresh) {
		switch {
		case j == len(fresh) || i < len(picked) && picked[i].Less(fresh[j]):
			out = append(out, picked[i])
			i++
		case i == len(picked) || fresh[j].Less(picked[i]):
			out = append(out, fresh[j])
			j++
		default: // equal (a 2^-128 event): keep one
			out = append(out, picked[i])
			i++
			j++
		}
	}
	segs := make([][]uint32, len(out))
	flat := make([]uint32, 0, len(out)*2)
	for k := range segs {
		if g.cfg.Segments == 0 {
			continue
		}
		want := min(1+int(r.below(uint64(g.cfg.MaxSegsPerRow))), g.cfg.Segments)
		s0 := len(flat)
		for len(flat)-s0 < want {
			u := r.float()
			s := uint32(float64(g.cfg.Segments) * u * u) // low segments more popular
			if !slices.Contains(flat[s0:], s) {
				flat = append(flat, s)
			}
		}
		slices.Sort(flat[s0:])
		segs[k] = flat[s0:len(flat):len(flat)]
	}
	return out, segs
}

// countries and their weights (per mille) for users; the rest have none.
var countries = []struct {
	code   string
	weight uint64
}{{"US", 400}, {"GB", 200}, {"DE", 150}, {"FR", 100}, {"SE", 50}}

// users fills pub's countries, Deleted and, when asked, the user index.
func (g *gen) users(pub *vault.PublisherVersion) {
	n := pub.Users
	pub.Country = make([]uint16, n)
	const block = 1 << 20
	blocks := int((uint64(n) + block - 1) / block)
	dels := make([][]uint32, blocks)
	forEach(blocks, func(b int) {
		r := newRNG(g.cfg.Seed, 3, uint64(b))
		lo, hi := uint32(b*block), uint32(min(uint64(n), uint64(b+1)*block))
		for o := lo; o < hi; o++ {
			if g.deleted(o) {
				dels[b] = append(dels[b], o)
				continue
			}
			x := r.below(1000)
			for _, c := range countries {
				if x < c.weight {
					pub.Country[o] = vault.PackCountry(c.code)
					break
				}
				x -= c.weight
			}
		}
	})
	pub.Deleted = roaring.New()
	for _, d := range dels {
		pub.Deleted.AddMany(d)
	}
	if g.cfg.UserIndex {
		live := int(n) - int(pub.Deleted.GetCardinality())
		pub.UserKeys = make([]uint64, 0, live)
		pub.UserOrds = make([]uint32, 0, live)
		for o := range n {
			if !pub.Deleted.Contains(o) {
				pub.UserKeys = append(pub.UserKeys, uint64(o))
				pub.UserOrds = append(pub.UserOrds, o)
			}
		}
	}
}

// sortedShares returns the shares sorted by tag, as versions list their tags.
func sortedShares(s []TagShare) []TagShare {
	s = slices.Clone(s)
	slices.SortFunc(s, func(a, b TagShare) int {
		switch {
		case a.Tag < b.Tag:
			return -1
		case a.Tag > b.Tag:
			return 1
		}
		return 0
	})
	return s
}

// apportion splits n rows over the shares (normalised), the rounding remainder to the last.
func apportion(n int, shares []TagShare) []int {
	var total float64
	for _, s := range shares {
		total += s.Share
	}
	out := make([]int, len(shares))
	left := n
	for i, s := range shares {
		if i == len(shares)-1 {
			out[i] = left
			break
		}
		out[i] = min(left, int(float64(n)*s.Share/total))
		left -= out[i]
	}
	return out
}

// forEach runs f(0..n-1) on GOMAXPROCS goroutines.
func forEach(n int, f func(int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(n, runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			for k := int(next.Add(1) - 1); k < n; k = int(next.Add(1) - 1) {
				f(k)
			}
		})
	}
	wg.Wait()
}
