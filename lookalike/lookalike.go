package lookalike

import (
	"context"
	"errors"
	"fmt"
	"math"
	mathbits "math/bits"
	"runtime"
	"slices"
	"sync"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// Defaults and limits.
const (
	DefaultMinFeatures = 10
	DefaultMinSeeds    = 100
	DefaultHoldout     = 0.2
	DefaultL2          = 3.0
	// MinCohortMembers is the fewest live members a cohort needs to be a feature.
	MinCohortMembers = 100
	// MaxCountries is how many of the most common countries become features.
	MaxCountries = 20
	// MaxSeedShare is the largest share of the live users the seeds may be: beyond it the users
	// left to find are too few for a lookalike to be worth it.
	MaxSeedShare = 0.9
	// Bins is the number of score bins the curve and the cuts use.
	Bins = 1 << 16
	// scale is the fixed-point scale of weights when scoring.
	scale = 1 << 16
	// maxNegatives caps the sampled negatives; negativesPerSeed is how many are drawn per
	// training seed (and at least minNegatives).
	maxNegatives     = 200_000
	minNegatives     = 20_000
	negativesPerSeed = 4
	maxIterations    = 30
)

// Options tunes training. Zero fields take the defaults.
type Options struct {
	// Features are the indexes into pub.Cohorts that may be used; nil means all.
	Features []int
	// Country adds the most common countries as features.
	Country bool
	// MinFeatures is the fewest usable feature cohorts (DefaultMinFeatures).
	MinFeatures int
	// MinSeeds is the fewest seeds (DefaultMinSeeds).
	MinSeeds int
	// Holdout is the share of seeds held out for evaluation (DefaultHoldout).
	Holdout float64
	// L2 is the regularisation strength (DefaultL2).
	L2 float64
	// Seed makes the sampling deterministic.
	Seed uint64
	// Workers bounds the goroutines (< 1: GOMAXPROCS).
	Workers int
	// Progress, if set, is told how far training has got, in [0,1].
	Progress func(done float64)
}

func (o Options) withDefaults() Options {
	if o.MinFeatures <= 0 {
		o.MinFeatures = DefaultMinFeatures
	}
	if o.MinSeeds <= 0 {
		o.MinSeeds = DefaultMinSeeds
	}
	if o.Holdout <= 0 || o.Holdout >= 1 {
		o.Holdout = DefaultHoldout
	}
	if o.L2 <= 0 {
		o.L2 = DefaultL2
	}
	if o.Workers < 1 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.Progress == nil {
		o.Progress = func(float64) {}
	}
	return o
}

// Feature is one input of the model with its fitted weight.
type Feature struct {
	// Kind is "cohort" or "country".
	Kind string `json:"kind"`
	// ID is the cohort ID or the country code; Name the cohort's display name.
	ID     string  `json:"id"`
	Name   string  `json:"name,omitempty"`
	Weight float64 `json:"weight"`
}

// Model is a trained lookalike: the weights and the score bins its similarities are cut on.
type Model struct {
	Bias float64 `json:"bias"`
	// Features are sorted by the magnitude of their weight, strongest first.
	Features []Feature `json:"features"`
	// Lo and Hi bound the fixed-point scores (weights x 65536) of the training sample: the range
	// cut into Bins score bins. Cuts[k] is the first bin of similarity k/1000, from the live
	// non-seed users of the version the model was trained on.
	Lo   int64   `json:"lo"`
	Hi   int64   `json:"hi"`
	Cuts []int32 `json:"cuts"`
}

// Point is one point of the similarity-reach curve (see the package documentation).
type Point struct {
	Similarity float64 `json:"similarity"`
	Reach      int     `json:"reach"`
	Recall     float64 `json:"recall"`
	Precision  float64 `json:"precision"`
	Lift       float64 `json:"lift"`
}

// Result is a trained model with its evaluation.
type Result struct {
	Model *Model
	// Curve is ordered by similarity, highest first; reach grows along it.
	Curve []Point
	// Seeds counts the live seeds; TrainSeeds and HoldoutSeeds their split; Negatives the
	// sampled non-seed users.
	Seeds, TrainSeeds, HoldoutSeeds, Negatives int
	// BaseRate is the seeds' share of the live users; AUC the holdout's.
	BaseRate, AUC float64
	// UsableFeatures counts the feature cohorts used.
	UsableFeatures int
}

// curveSimilarities are the similarities of the curve's points.
var curveSimilarities = []float64{0.99, 0.98, 0.97, 0.96, 0.95, 0.94, 0.93, 0.92, 0.91, 0.90, 0.88, 0.86, 0.84, 0.82, 0.80,
	0.75, 0.70, 0.65, 0.60, 0.55, 0.50, 0.40, 0.30, 0.20, 0.10, 0}

// design is the model's inputs: feature cohorts and countries.
type design struct {
	cohorts   []int    // indexes into pub.Cohorts
	countries []uint16 // packed codes
}

func (d *design) width() int { return len(d.cohorts) + len(d.countries) }

// Train fits a model of seeds over pub and evaluates it. Errors: EINVALID when there are fewer
// than MinFeatures usable feature cohorts, fewer than MinSeeds live seeds, or seeds that cover
// more than MaxSeedShare of the users; ctx's error when it ends.
func Train(ctx context.Context, pub *vault.PublisherVersion, seeds *roaring.Bitmap, opt Options) (*Result, error) {
	opt = opt.withDefaults()
	if pub == nil || seeds == nil {
		return nil, errors.New("lookalike: nil input")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	live := int(pub.Live())
	seeds = seeds.Clone()
	if pub.Deleted != nil {
		seeds.AndNot(pub.Deleted)
	}
	seeds.RemoveRange(uint64(pub.Users), math.MaxUint32+1)
	nSeeds := int(seeds.GetCardinality())
	if nSeeds < opt.MinSeeds {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "Only %d matched users to learn from; a lookalike needs at least %d.", nSeeds, opt.MinSeeds).
			With("seeds", nSeeds).With("min_seeds", opt.MinSeeds).
			Hint("Widen the query (any instead of all, more segments, no geo-lock) or upload more data, so that more users match.")
	}
	if float64(nSeeds) > MaxSeedShare*float64(live) {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "The matched users are %.0f%% of the publisher's live users; too few are left to find lookalikes among.",
			100*float64(nSeeds)/float64(max(1, live))).
			With("seeds", nSeeds).With("live_users", live).
			Hint("Use a matched cohort instead, or narrow the query to the customers worth finding more of.")
	}
	d, err := chooseFeatures(pub, opt)
	if err != nil {
		return nil, err
	}
	opt.Progress(0.05)
	train, holdout := splitSeeds(seeds, opt)
	negs := sampleNegatives(pub, seeds, min(maxNegatives, max(minNegatives, negativesPerSeed*len(train))), opt.Seed)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, labels, err := buildRows(ctx, pub, d, train, negs, opt.Workers)
	if err != nil {
		return nil, err
	}
	opt.Progress(0.15)
	w, err := fit(ctx, rows, labels, d.width(), opt.L2)
	if err != nil {
		return nil, err
	}
	opt.Progress(0.35)
	m := &Model{Bias: w[d.width()]}
	for i, c := range d.cohorts {
		info := pub.Cohorts[c]
		m.Features = append(m.Features, Feature{Kind: "cohort", ID: info.ID, Name: info.Name, Weight: w[i]})
	}
	for i, c := range d.countries {
		m.Features = append(m.Features, Feature{Kind: "country", ID: vault.CountryCode(c), Weight: w[len(d.cohorts)+i]})
	}
	slices.SortStableFunc(m.Features, func(a, b Feature) int {
		switch x, y := math.Abs(a.Weight), math.Abs(b.Weight); {
		case x > y:
			return -1
		case x < y:
			return 1
		}
		return 0
	})
	// The score bins span the sample's scores (exactly as score computes them: fixed-point sums),
	// so that one pass over the users is enough; the few users beyond go to the end bins.
	fw := make([]int64, d.width())
	for i := range fw {
		fw[i] = fixed(w[i])
	}
	m.Lo, m.Hi = math.MaxInt64, math.MinInt64
	for _, row := range rows {
		z := fixed(m.Bias)
		for _, f := range row {
			z += fw[f]
		}
		m.Lo, m.Hi = min(m.Lo, z), max(m.Hi, z)
	}
	if m.Lo > m.Hi {
		m.Lo, m.Hi = 0, 0
	}
	res, err := m.evaluate(ctx, pub, seeds, holdout, opt.Workers, func(done float64) { opt.Progress(0.35 + 0.6*done) })
	if err != nil {
		return nil, err
	}
	res.Seeds, res.TrainSeeds, res.HoldoutSeeds, res.Negatives = nSeeds, len(train), len(holdout), len(negs)
	res.BaseRate = float64(nSeeds) / float64(live)
	res.UsableFeatures = len(d.cohorts)
	for i := range res.Curve {
		p := &res.Curve[i]
		p.Precision = min(1, p.Lift*res.BaseRate)
	}
	opt.Progress(1)
	return res, nil
}

// chooseFeatures picks the usable feature cohorts and the countries.
func chooseFeatures(pub *vault.PublisherVersion, opt Options) (*design, error) {
	live := uint64(pub.Live())
	idx := opt.Features
	if idx == nil {
		idx = make([]int, len(pub.Cohorts))
		for i := range idx {
			idx[i] = i
		}
	}
	d := &design{}
	for _, c := range idx {
		if c < 0 || c >= len(pub.Members) || pub.Members[c] == nil {
			continue
		}
		n := pub.Members[c].GetCardinality()
		if n >= MinCohortMembers && float64(n) < 0.99*float64(live) {
			d.cohorts = append(d.cohorts, c)
		}
	}
	if len(d.cohorts) < opt.MinFeatures {
		return nil, cleanroom.Errorf(cleanroom.EINVALID,
			"The publisher offers %d custom cohorts with at least %d members to model with; a lookalike needs at least %d.",
			len(d.cohorts), MinCohortMembers, opt.MinFeatures).
			With("usable_cohorts", len(d.cohorts)).With("min_cohorts", opt.MinFeatures).
			Hint("Ask the publisher to sync more custom cohorts (interests, sections read, engagement), or build a matched cohort instead.")
	}
	if opt.Country {
		var counts [1 << 16]int
		for _, c := range pub.Country {
			counts[c]++
		}
		counts[0] = 0
		type cc struct {
			code uint16
			n    int
		}
		var all []cc
		for c, n := range counts {
			if n >= MinCohortMembers && float64(n) < 0.99*float64(live) {
				all = append(all, cc{uint16(c), n})
			}
		}
		slices.SortFunc(all, func(a, b cc) int {
			if a.n != b.n {
				return b.n - a.n
			}
			return int(a.code) - int(b.code)
		})
		for i := 0; i < len(all) && i < MaxCountries; i++ {
			d.countries = append(d.countries, all[i].code)
		}
	}
	return d, nil
}

// mix is a 64-bit hash (splitmix64's finaliser) for deterministic sampling.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// splitSeeds splits the seeds into training and holdout ordinals by a keyed hash.
func splitSeeds(seeds *roaring.Bitmap, opt Options) (train, holdout []uint32) {
	cut := uint64(opt.Holdout * (1 << 32))
	it := seeds.ManyIterator()
	buf := make([]uint32, 4096)
	for n := it.NextMany(buf); n > 0; n = it.NextMany(buf) {
		for _, o := range buf[:n] {
			if mix(uint64(o)^opt.Seed<<32)&(1<<32-1) < cut {
				holdout = append(holdout, o)
			} else {
				train = append(train, o)
			}
		}
	}
	return train, holdout
}

// sampleNegatives draws up to n distinct live non-seed ordinals, uniformly, sorted.
func sampleNegatives(pub *vault.PublisherVersion, seeds *roaring.Bitmap, n int, seed uint64) []uint32 {
	avail := int(pub.Live()) - int(seeds.GetCardinality())
	n = min(n, avail)
	picked := roaring.New()
	state := seed ^ 0x5eed
	for got, tries := 0, 0; got < n && tries < 50*n+1000; tries++ {
		state = mix(state)
		o := uint32(state % uint64(pub.Users))
		if seeds.Contains(o) || (pub.Deleted != nil && pub.Deleted.Contains(o)) {
			continue
		}
		if picked.CheckedAdd(o) {
			got++
		}
	}
	return picked.ToArray()
}

// buildRows returns the sparse feature rows (feature indexes, ascending) of the training seeds
// then the negatives (both ascending and disjoint), with their labels. Workers intersect the
// feature cohorts with the sample in parallel; the rows are then laid out in one array.
func buildRows(ctx context.Context, pub *vault.PublisherVersion, d *design, train, negs []uint32, workers int) ([][]int32, []float64, error) {
	n := len(train) + len(negs)
	labels := make([]float64, n)
	for i := range train {
		labels[i] = 1
	}
	// sorted is the sample ascending and rowOf[i] the row of sorted[i]: a merge of the two lists.
	sorted := make([]uint32, 0, n)
	rowOf := make([]int32, 0, n)
	for i, j := 0, 0; i < len(train) || j < len(negs); {
		if j == len(negs) || i < len(train) && train[i] < negs[j] {
			sorted, rowOf = append(sorted, train[i]), append(rowOf, int32(i))
			i++
		} else {
			sorted, rowOf = append(sorted, negs[j]), append(rowOf, int32(len(train)+j))
			j++
		}
	}
	// The sample as a bitset over ordinals with, per word, the number of sample ordinals before
	// it: the position in sorted of a sampled ordinal is a popcount away. Walking each cohort's
	// bitmap against it is cheaper than intersecting bitmaps with the sample.
	bits := make([]uint64, (uint64(pub.Users)+63)/64)
	for _, o := range sorted {
		bits[o>>6] |= 1 << (o & 63)
	}
	before := make([]uint32, len(bits))
	var seen uint32
	for i, w := range bits {
		before[i] = seen
		seen += uint32(mathbits.OnesCount64(w))
	}
	// hits[f] lists the rows having feature f.
	hits := make([][]int32, d.width())
	workers = max(1, min(workers, len(d.cohorts)))
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			buf := make([]uint32, 4096)
			for f := w; f < len(d.cohorts); f += workers {
				if err := ctx.Err(); err != nil {
					errs[w] = err
					return
				}
				it := pub.Members[d.cohorts[f]].ManyIterator()
				for k := it.NextMany(buf); k > 0; k = it.NextMany(buf) {
					for _, o := range buf[:k] {
						if word := bits[o>>6]; word&(1<<(o&63)) != 0 {
							pos := before[o>>6] + uint32(mathbits.OnesCount64(word&(1<<(o&63)-1)))
							hits[f] = append(hits[f], rowOf[pos])
						}
					}
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	country := map[uint16]int32{}
	for i, c := range d.countries {
		country[c] = int32(len(d.cohorts) + i)
	}
	for i, o := range sorted {
		if int(o) < len(pub.Country) {
			if f, ok := country[pub.Country[o]]; ok {
				hits[f] = append(hits[f], rowOf[i])
			}
		}
	}
	// Lay the rows out in one array, features ascending within each.
	count := make([]int, n+1)
	for _, rs := range hits {
		for _, r := range rs {
			count[r+1]++
		}
	}
	for r := range n {
		count[r+1] += count[r]
	}
	flat := make([]int32, count[n])
	rows := make([][]int32, n)
	for r := range rows {
		rows[r] = flat[count[r]:count[r]:count[r+1]]
	}
	for f, rs := range hits {
		for _, r := range rs {
			rows[r] = append(rows[r], int32(f))
		}
	}
	return rows, labels, nil
}

// fit fits L2-regularised logistic regression by Newton's method with a backtracking line search
// (so that every step lowers the penalised loss). The returned weights have width+1 entries, the
// last the bias (not regularised). A feature no row has keeps weight 0: its gradient and its
// Hessian off-diagonal are 0 and its diagonal is l2.
func fit(ctx context.Context, rows [][]int32, y []float64, width int, l2 float64) ([]float64, error) {
	p := width + 1
	w := make([]float64, p)
	// Start the bias at the log-odds of the labels.
	var pos float64
	for _, v := range y {
		pos += v
	}
	w[width] = math.Log((pos + 0.5) / (float64(len(y)) - pos + 0.5))
	h := make([]float64, p*p)
	hb := make([]float64, p) // the bias column
	g := make([]float64, p)
	trial := make([]float64, p)
	current := penalisedLoss(rows, y, w, width, l2)
	for iter := 0; iter < maxIterations; iter++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		clear(h)
		clear(hb)
		clear(g)
		for r, row := range rows {
			z := w[width]
			for _, f := range row {
				z += w[f]
			}
			pr := 1 / (1 + math.Exp(-z))
			e, v := pr-y[r], pr*(1-pr)
			g[width] += e
			hb[width] += v
			for i, a := range row {
				g[a] += e
				hb[a] += v
				ha := h[int(a)*p:]
				for _, b := range row[:i+1] {
					ha[b] += v
				}
			}
		}
		for i := range width {
			g[i] += l2 * w[i]
			h[i*p+i] += l2
		}
		// Rows are ascending, so h holds the lower triangle of the feature block: mirror it, then
		// put in the bias row and column.
		for i := range width {
			for j := range i {
				h[j*p+i] = h[i*p+j]
			}
		}
		for a := range p {
			h[a*p+width], h[width*p+a] = hb[a], hb[a]
		}
		step, err := solve(h, g, p)
		if err != nil {
			return nil, err
		}
		// Armijo backtracking: the full Newton step is almost always taken; halve it while it
		// does not lower the loss by a share of what the gradient promises.
		slope := 0.0
		for i := range p {
			slope += g[i] * step[i]
		}
		t, next := 1.0, current
		for range 30 {
			for i := range p {
				trial[i] = w[i] - t*step[i]
			}
			next = penalisedLoss(rows, y, trial, width, l2)
			if next <= current-1e-4*t*slope {
				break
			}
			t /= 2
		}
		if next > current { // no progress possible in float64: w is the optimum
			break
		}
		biggest := 0.0
		for i := range p {
			biggest = max(biggest, math.Abs(t*step[i]))
		}
		copy(w, trial)
		current = next
		if biggest < 1e-6 {
			break
		}
	}
	return w, nil
}

// penalisedLoss returns the negative log-likelihood of the labels y under weights w plus the L2
// penalty l2/2 |w|^2 (the bias, w[width], is not penalised).
func penalisedLoss(rows [][]int32, y, w []float64, width int, l2 float64) float64 {
	loss := 0.0
	for r, row := range rows {
		z := w[width]
		for _, f := range row {
			z += w[f]
		}
		// log(1 + e^z) - y z, computed without overflow.
		if z > 0 {
			loss += z + math.Log1p(math.Exp(-z)) - y[r]*z
		} else {
			loss += math.Log1p(math.Exp(z)) - y[r]*z
		}
	}
	for i := range width {
		loss += l2 / 2 * w[i] * w[i]
	}
	return loss
}

// solve solves h x = g for a symmetric positive definite h (p x p) by Cholesky.
func solve(h, g []float64, p int) ([]float64, error) {
	l := make([]float64, p*p)
	for i := range p {
		for j := 0; j <= i; j++ {
			s := h[i*p+j]
			for k := range j {
				s -= l[i*p+k] * l[j*p+k]
			}
			if i == j {
				if s <= 0 {
					s = 1e-9 // only when there is no row at all (the L2 term keeps features positive)
				}
				l[i*p+i] = math.Sqrt(s)
			} else {
				l[i*p+j] = s / l[j*p+j]
			}
		}
	}
	x := make([]float64, p)
	for i := range p {
		s := g[i]
		for k := range i {
			s -= l[i*p+k] * x[k]
		}
		x[i] = s / l[i*p+i]
	}
	for i := p - 1; i >= 0; i-- {
		s := x[i]
		for k := i + 1; k < p; k++ {
			s -= l[k*p+i] * x[k]
		}
		x[i] = s / l[i*p+i]
	}
	for _, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, errors.New("lookalike: the fit did not converge")
		}
	}
	return x, nil
}

// fixed converts a weight to fixed point.
func fixed(w float64) int64 { return int64(math.Round(w * scale)) }

// scoreBlock is the number of ordinals scored at a time, so that the workers' block accumulators
// (8 bytes an ordinal) stay in the processor's cache. A variable for tests.
var scoreBlock = 1 << 20

// score computes every user's fixed-point score and hands them to visit, in order, a block at a
// time: visit(lo, s) gets the scores of ordinals lo to lo+len(s)-1 in a buffer that is reused
// afterwards. Erased users get a score too (meaningless, the callers skip them). Within a block
// the feature cohorts are dealt between the workers, each adding its cohorts' weights into its own
// accumulator, which are then added up; each cohort's iterator carries on from block to block.
// Integer sums make the scores independent of the split. Memory: one block per worker, not an
// array over all users.
func (m *Model) score(ctx context.Context, pub *vault.PublisherVersion, workers int, visit func(lo int, s []int64)) error {
	cohortIdx := make(map[string]int, len(pub.Cohorts))
	for i, c := range pub.Cohorts {
		cohortIdx[c.ID] = i
	}
	type term struct {
		cohort int
		w      int64
		// The cohort's iterator and the values it has returned but not yet added.
		it       roaring.ManyIntIterable
		buf      []uint32
		pos, end int
		done     bool
	}
	var terms []*term
	countryW := make([]int64, 1<<16)
	for _, f := range m.Features {
		switch f.Kind {
		case "cohort":
			if i, ok := cohortIdx[f.ID]; ok && fixed(f.Weight) != 0 {
				terms = append(terms, &term{cohort: i, w: fixed(f.Weight)})
			}
		case "country":
			countryW[vault.PackCountry(f.ID)] = fixed(f.Weight)
		}
	}
	// Largest first, dealt round-robin so that the workers get similar work.
	slices.SortStableFunc(terms, func(a, b *term) int {
		return int(int64(pub.Members[b.cohort].GetCardinality()) - int64(pub.Members[a.cohort].GetCardinality()))
	})
	for _, t := range terms {
		t.it = pub.Members[t.cohort].ManyIterator()
		t.buf = make([]uint32, 1024)
	}
	n := int(pub.Users)
	workers = max(1, workers)
	block := max(1, min(n, scoreBlock))
	local := make([][]int64, workers) // worker 0's accumulator is the one handed to visit
	for w := range workers {
		local[w] = make([]int64, block)
	}
	bias := fixed(m.Bias)
	var wg sync.WaitGroup
	for lo := 0; lo < n; lo += block {
		if err := ctx.Err(); err != nil {
			return err
		}
		hi := min(n, lo+block)
		for w := range workers {
			wg.Go(func() {
				acc := local[w][:hi-lo]
				if w == 0 {
					for i, c := range pub.Country[lo:hi] {
						acc[i] = bias + countryW[c]
					}
				} else {
					clear(acc)
				}
				for k := w; k < len(terms); k += workers {
					t := terms[k]
					for !t.done {
						if t.pos == t.end {
							t.pos, t.end = 0, t.it.NextMany(t.buf)
							if t.end == 0 {
								t.done = true
								break
							}
						}
						vals := t.buf[t.pos:t.end]
						take := len(vals)
						if vals[take-1] >= uint32(hi) {
							take, _ = slices.BinarySearch(vals, uint32(hi))
						}
						wt := t.w
						for _, o := range vals[:take] {
							acc[o-uint32(lo)] += wt
						}
						t.pos += take
						if take < len(vals) {
							break
						}
					}
				}
			})
		}
		wg.Wait()
		if workers > 1 {
			part := (hi - lo + workers - 1) / workers
			for s := lo; s < hi; s += part {
				e := min(hi, s+part)
				wg.Go(func() {
					dst := local[0][s-lo : e-lo]
					for w := 1; w < workers; w++ {
						src := local[w][s-lo : e-lo]
						for i := range dst {
							dst[i] += src[i]
						}
					}
				})
			}
			wg.Wait()
		}
		visit(lo, local[0][:hi-lo])
	}
	return nil
}

// excluded marks the ordinals that are never selected as lookalikes: erased users and seeds.
func excluded(pub *vault.PublisherVersion, seeds *roaring.Bitmap) *roaring.Bitmap {
	ex := seeds.Clone()
	if pub.Deleted != nil {
		ex.Or(pub.Deleted)
	}
	return ex
}

// bin maps a score to its bin.
func (m *Model) bin(s int64) int {
	if s <= m.Lo {
		return 0
	}
	if s >= m.Hi {
		return Bins - 1
	}
	return int((s - m.Lo) * Bins / (m.Hi - m.Lo + 1))
}

// evaluate scores every user once, counting the live non-seed users and the held-out seeds
// (ascending) per bin; it sets the model's cuts and returns the curve and the AUC.
func (m *Model) evaluate(ctx context.Context, pub *vault.PublisherVersion, seeds *roaring.Bitmap, holdout []uint32, workers int,
	progress func(float64)) (*Result, error) {
	hist := make([]int64, Bins)
	hold := make([]int64, Bins)
	var total int64
	ex := excluded(pub, seeds).ToArray()
	j, h := 0, 0
	reported := 0.0
	err := m.score(ctx, pub, workers, func(lo int, scores []int64) {
		if done := float64(lo+len(scores)) / float64(pub.Users); done >= reported+0.05 {
			progress(done)
			reported = done
		}
		for i, s := range scores {
			o := uint32(lo + i)
			if h < len(holdout) && holdout[h] == o {
				hold[m.bin(s)]++
				h++
			}
			if j < len(ex) && ex[j] == o {
				j++
				continue
			}
			hist[m.bin(s)]++
			total++
		}
	})
	if err != nil {
		return nil, err
	}
	// above[b]: non-seed users in bins >= b.
	above := make([]int64, Bins+1)
	for b := Bins - 1; b >= 0; b-- {
		above[b] = above[b+1] + hist[b]
	}
	// Cuts[k]: the first bin b whose users at or above make up at most (1 - k/1000) of them.
	m.Cuts = make([]int32, 1001)
	b := 0
	for k := 0; k <= 1000; k++ {
		limit := float64(total) * (1 - float64(k)/1000)
		for b < Bins && float64(above[b]) > limit+1e-9 {
			b++
		}
		m.Cuts[k] = int32(b)
	}
	holdAbove := make([]int64, Bins+1)
	for b := Bins - 1; b >= 0; b-- {
		holdAbove[b] = holdAbove[b+1] + hold[b]
	}
	res := &Result{Model: m}
	for _, s := range curveSimilarities {
		cb := m.Cuts[cutIndex(s)]
		p := Point{Similarity: s, Reach: int(above[cb])}
		if len(holdout) > 0 {
			p.Recall = float64(holdAbove[cb]) / float64(len(holdout))
		}
		if p.Reach > 0 && total > 0 {
			p.Lift = p.Recall / (float64(p.Reach) / float64(total))
		}
		res.Curve = append(res.Curve, p)
	}
	// AUC by Mann-Whitney over the bins.
	if len(holdout) > 0 && total > 0 {
		var below, sum float64
		for b := range Bins {
			sum += float64(hold[b]) * (below + 0.5*float64(hist[b]))
			below += float64(hist[b])
		}
		res.AUC = sum / (float64(len(holdout)) * float64(total))
	}
	return res, nil
}

// cutIndex returns the index into Cuts of a similarity.
func cutIndex(s float64) int { return int(math.Round(min(1, max(0, s)) * 1000)) }

// Select returns the live non-seed users at or above similarity cut (rounded to 0.001), plus the
// seeds when includeSeeds, scoring pub again. On the version the model was trained on, the
// non-seed part has exactly the curve's reach at that similarity.
func (m *Model) Select(ctx context.Context, pub *vault.PublisherVersion, seeds *roaring.Bitmap, cut float64, includeSeeds bool) (*roaring.Bitmap, error) {
	if len(m.Cuts) != 1001 {
		return nil, errors.New("lookalike: the model has no cuts")
	}
	if cut < 0 || cut > 1 || math.IsNaN(cut) {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "The similarity must be between 0 and 1.")
	}
	ex := excluded(pub, seeds).ToArray()
	cb := int(m.Cuts[cutIndex(cut)])
	out := roaring.New()
	buf := make([]uint32, 0, 8192)
	j := 0
	err := m.score(ctx, pub, runtime.GOMAXPROCS(0), func(lo int, scores []int64) {
		for i, s := range scores {
			o := uint32(lo + i)
			if j < len(ex) && ex[j] == o {
				j++
				continue
			}
			if m.bin(s) >= cb {
				buf = append(buf, o)
				if len(buf) == cap(buf) {
					out.AddMany(buf)
					buf = buf[:0]
				}
			}
		}
	})
	if err != nil {
		return nil, err
	}
	out.AddMany(buf)
	if includeSeeds {
		live := seeds.Clone()
		if pub.Deleted != nil {
			live.AndNot(pub.Deleted)
		}
		live.RemoveRange(uint64(pub.Users), math.MaxUint32+1)
		out.Or(live)
	}
	return out, nil
}

// String describes a result in one line, for logs and benchmarks.
func (r *Result) String() string {
	return fmt.Sprintf("seeds %d (train %d, holdout %d), negatives %d, features %d, AUC %.3f", r.Seeds, r.TrainSeeds,
		r.HoldoutSeeds, r.Negatives, r.UsableFeatures, r.AUC)
}
