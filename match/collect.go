package match

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cleanroom-oss/cleanroom/identity"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// How matches are collected. Setting a bit per match in a bitset of Users bits per set is
// simple but slow at scale: with 50M users each set's bitset is 6 MB, and bits set at random
// miss every cache and the TLB. Instead, while merging, each worker appends a 4-byte entry
// (set << 16 | ordinal's low 16 bits) to a block list per ordinal range of 2^16 ordinals, which
// is exactly one roaring container (sequential writes, a few cache lines hot per range). Then
// each range is handled by one goroutine: it sets its entries' bits in a scratch of 8 KiB per
// set, small enough for the core's L2 cache, writes each non-empty (set, range) out as a
// roaring container in the portable serialization format, and clears the scratch. Last, each
// set's containers are concatenated, in key order, into one buffer that roaring opens in place
// (FromBuffer). Entry blocks and the containers' staging buffers are pooled between matches,
// so a match touches little fresh memory besides its results (on the 2-core benchmark VM a page
// fault costs about 10 µs: a first version that set bits in per-worker dense bitsets spent as
// much time faulting in 180 MB per match as merging).
//
// Costs at the benchmark size (10M advertiser rows, 100M publisher identifiers, 50M users, 12
// segments; ~4.4M matched identifiers, ~13M entries): entries 52 MB (pooled), results ~30 MB;
// CPU time roughly merge 45%, appending entries 20%, building containers 20%, copying the
// results 10%.
const (
	// rangeBits is the number of ordinal bits a range covers: one roaring container.
	rangeBits = 16
	// maxPassSets is the most sets one merge pass collects (the set index is an entry's high 16
	// bits). A data source with more segments is matched in several passes.
	maxPassSets = 1 << (32 - rangeBits)
	// scratchSets is the most sets for which a goroutine holds one scratch bitset (8 KiB) per
	// set; with more, it sorts each range's entries by set and uses one.
	scratchSets = 32
	// blockLen is the number of entries per block; slabLen the size of the pooled slabs
	// blocks are cut from.
	blockLen, slabLen = 2048, 1 << 18
	// arenaLen is the size of the pooled buffers serialized containers are written to.
	arenaLen = 1 << 20
	// containerWords is the size in words of a bitmap container; arrayMax the most values of an
	// array container.
	containerWords, arrayMax = 1 << rangeBits / 64, 4096
)

var (
	slabPool  sync.Pool // *[]uint32 of slabLen
	arenaPool sync.Pool // *[]byte of arenaLen
)

// pass is one merge over the jobs collecting a subset of the sets: the segments [segLo,
// segHi) and, in the first pass, the jobs' user sets and their union. Set k of a pass is
// segment segLo+k for k < jobLo = segHi-segLo, then the jobs' sets, then the union (anySet),
// which has no entries: it is the OR of the job sets, range by range.
type pass struct {
	segLo, segHi int
	first        bool // collect the job sets and count the diagnostics
	users        uint32
	nsets        int
	jobLo        int
	anySet       int // -1 when the pass has no job sets
}

// newPass returns the pass that collects as many segments from lo on as fit and, when first,
// the njobs job sets and their union.
func newPass(lo, nseg, njobs int, first bool, users uint32) *pass {
	room := maxPassSets
	if first && njobs > 0 {
		room -= njobs + 1
	}
	p := &pass{segLo: lo, segHi: min(nseg, lo+room), first: first, users: users, anySet: -1}
	p.jobLo = p.segHi - p.segLo
	p.nsets = p.jobLo
	if first && njobs > 0 {
		p.nsets += njobs + 1
		p.anySet = p.nsets - 1
	}
	return p
}

// worker is one goroutine's share of a pass: its entries and counters.
type worker struct {
	p *pass
	// cur and full hold, per ordinal range, the block being filled and the full blocks.
	cur   [][]uint32
	full  [][][]uint32
	slab  []uint32
	slabs []*[]uint32 // taken from slabPool

	advMatched []int      // per job: advertiser elements with a match
	pubMatched []int      // per job: publisher rows matched
	advHit     [][]uint64 // per bridged job: bitset of the advertiser rows matched
	buf        []hit
}

// ranges returns the number of ordinal ranges of n users.
func ranges(n uint32) int { return int((uint64(n) + 1<<rangeBits - 1) >> rangeBits) }

func newWorker(p *pass, jobs []job) *worker {
	n := ranges(p.users)
	w := &worker{
		p:          p,
		cur:        make([][]uint32, n),
		full:       make([][][]uint32, n),
		advMatched: make([]int, len(jobs)),
		pubMatched: make([]int, len(jobs)),
		advHit:     make([][]uint64, len(jobs)),
		buf:        make([]hit, 1024),
	}
	if p.first {
		for ji, j := range jobs {
			if j.rows != nil {
				w.advHit[ji] = make([]uint64, (j.advRows+63)/64)
			}
		}
	}
	return w
}

// run merges one task and appends its entries.
func (w *worker) run(adv *vault.AdvertiserVersion, jobs []job, t task) {
	jb := &jobs[t.job]
	ords := jb.ords[t.p0:t.p1]
	m := merger{adv: jb.adv[t.a0:t.a1], pub: jb.pub[t.p0:t.p1], ords: ords}
	first := w.p.first
	var advMatched, pubMatched int
	var last *identity.Fingerprint // the last advertiser fingerprint matched, for repeats
	for {
		n := m.next(w.buf)
		if n == 0 {
			break
		}
		hits := w.buf[:n]
		if first {
			for _, h := range hits {
				fp := &m.adv[h.a]
				if last == nil || *last != *fp {
					pubMatched += h.n
					advMatched++
				}
				last = fp
			}
			if jb.rows != nil {
				rows := jb.rows[t.a0:t.a1]
				for _, h := range hits {
					r := int(rows[h.a]) - jb.advBase
					w.advHit[t.job][r>>6] |= 1 << (r & 63)
				}
			}
		}
		w.addEntries(adv, jb, t, hits, ords)
	}
	w.advMatched[t.job] += advMatched
	w.pubMatched[t.job] += pubMatched
}

// rowOf returns the advertiser row of element i of job jb.
func (jb *job) rowOf(i int) int {
	if jb.rows != nil {
		return int(jb.rows[i])
	}
	return jb.advBase + i
}

// addEntries appends, for every ordinal of the hits, an entry for the job's user set (first
// pass) and one for each of the hit row's segments in the pass.
func (w *worker) addEntries(adv *vault.AdvertiserVersion, jb *job, t task, hits []hit, ords []uint32) {
	p := w.p
	segLo := uint32(p.segLo)
	jobSet := uint32(p.segHi-p.segLo+t.job) << rangeBits
	whole := p.segLo == 0 && p.segHi == len(adv.Segments)
	extra := 0
	if p.first {
		extra = 1
	}
	for _, h := range hits {
		r := jb.rowOf(t.a0 + h.a)
		segs := adv.Segs[adv.SegOff[r]:adv.SegOff[r+1]]
		if !whole {
			segs = segmentsIn(segs, p.segLo, p.segHi)
		}
		need := extra + len(segs)
		if need == 0 {
			continue
		}
		run := ords[h.p : h.p+h.n]
		if h.n == 1 {
			run = []uint32{h.o} // loaded by the merge; does not escape
		}
		for _, o := range run {
			b := o >> rangeBits
			lo := o & (1<<rangeBits - 1)
			blk := w.cur[b]
			if cap(blk)-len(blk) < need {
				blk = w.newBlock(b, need)
			}
			if extra > 0 {
				blk = append(blk, jobSet|lo)
			}
			for _, s := range segs {
				blk = append(blk, (s-segLo)<<rangeBits|lo)
			}
			w.cur[b] = blk
		}
	}
}

// segmentsIn returns the part of the sorted segment list segs in [lo, hi).
func segmentsIn(segs []uint32, lo, hi int) []uint32 {
	i, j := 0, len(segs)
	for i < j && int(segs[i]) < lo {
		i++
	}
	for j > i && int(segs[j-1]) >= hi {
		j--
	}
	return segs[i:j]
}

// newBlock files range b's current block and returns an empty one with room for at least need
// entries.
func (w *worker) newBlock(b uint32, need int) []uint32 {
	if len(w.cur[b]) > 0 {
		w.full[b] = append(w.full[b], w.cur[b])
	}
	n := max(blockLen, need)
	if len(w.slab) < n {
		if n > slabLen {
			w.slab = make([]uint32, n)
		} else {
			s, _ := slabPool.Get().(*[]uint32)
			if s == nil {
				b := make([]uint32, slabLen)
				s = &b
			}
			w.slabs = append(w.slabs, s)
			w.slab = *s
		}
	}
	blk := w.slab[:0:n]
	w.slab = w.slab[n:]
	return blk
}

// release returns w's slabs to the pool.
func (w *worker) release() {
	for _, s := range w.slabs {
		slabPool.Put(s)
	}
	w.slabs, w.slab, w.cur, w.full = nil, nil, nil, nil
}

// countUnion returns the number of advertiser rows of bridged job ji that any worker matched.
func countUnion(ws []*worker, ji int) int {
	n := 0
	for i := range ws[0].advHit[ji] {
		var x uint64
		for _, w := range ws {
			x |= w.advHit[ji][i]
		}
		n += bits.OnesCount64(x)
	}
	return n
}

// piece is one serialized container of a set.
type piece struct {
	set  uint32
	key  uint16
	card int32
	data []byte
}

// builder is one goroutine's state while turning ranges into containers.
type builder struct {
	scratch []uint64 // one range's bitset per set (up to scratchSets sets)
	sorted  []uint32 // with more sets, a range's entries sorted
	del     []uint64 // the range's deleted ordinals
	any     []uint64 // the union of the range's job sets
	arena   []byte
	arenas  []*[]byte // taken from arenaPool
}

// finish turns the workers' entries into one roaring bitmap per set of the pass, without
// deleted ordinals, on up to par goroutines, and releases the workers' slabs.
func (p *pass) finish(ws []*worker, deleted *roaring.Bitmap, par int) ([]*roaring.Bitmap, error) {
	if deleted != nil && deleted.IsEmpty() {
		deleted = nil
	}
	nr := ranges(p.users)
	pieces := make([][]piece, nr)
	builders := make([]*builder, par)
	var next atomic.Int64
	err := parallel(par, func(g int) error {
		bd := &builder{scratch: make([]uint64, min(p.nsets, scratchSets)*containerWords)}
		builders[g] = bd
		for r := int(next.Add(1) - 1); r < nr; r = int(next.Add(1) - 1) {
			var err error
			if pieces[r], err = bd.build(p, ws, r, deleted); err != nil {
				return err
			}
		}
		return nil
	})
	for _, w := range ws {
		w.release()
	}
	defer func() {
		for _, bd := range builders {
			if bd != nil {
				for _, a := range bd.arenas {
					arenaPool.Put(a)
				}
			}
		}
	}()
	if err != nil {
		return nil, err
	}
	// Gather each set's containers in key order.
	bySet := make([][]piece, p.nsets)
	for _, ps := range pieces {
		for _, pc := range ps {
			bySet[pc.set] = append(bySet[pc.set], pc)
		}
	}
	out := make([]*roaring.Bitmap, p.nsets)
	err = forEach(par, p.nsets, func(s int) error {
		var err error
		out[s], err = assemble(bySet[s])
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// build applies range r's entries from every worker and returns the range's containers, one per
// set with a live ordinal in the range.
func (bd *builder) build(p *pass, ws []*worker, r int, deleted *roaring.Bitmap) ([]piece, error) {
	var blocks [][]uint32
	for _, w := range ws {
		blocks = append(blocks, w.full[r]...)
		if len(w.cur[r]) > 0 {
			blocks = append(blocks, w.cur[r])
		}
	}
	if len(blocks) == 0 {
		return nil, nil
	}
	base := uint32(r) << rangeBits
	if limit := uint64(p.users) - uint64(base); limit < 1<<rangeBits {
		for _, blk := range blocks {
			for _, e := range blk {
				if uint64(e&(1<<rangeBits-1)) >= limit {
					return nil, fmt.Errorf("match: malformed publisher version: an ordinal is not below Users (%d)", p.users)
				}
			}
		}
	}
	hasDel := deleted != nil && bd.deletedMask(deleted, base)
	var out []piece
	anyTouched := false
	emit := func(s int, words []uint64) {
		if pc, ok := bd.container(words, hasDel); ok {
			pc.set, pc.key = uint32(s), uint16(r)
			out = append(out, pc)
			if s >= p.jobLo && s != p.anySet {
				if bd.any == nil {
					bd.any = make([]uint64, containerWords)
				}
				for i, x := range words {
					bd.any[i] |= x
				}
				anyTouched = true
			}
		}
		clear(words)
	}
	if p.nsets <= scratchSets {
		// One scratch bitset per set.
		sc := bd.scratch
		var touched uint64
		for _, blk := range blocks {
			for _, e := range blk {
				s, lo := e>>rangeBits, e&(1<<rangeBits-1)
				sc[int(s)*containerWords+int(lo>>6)] |= 1 << (lo & 63)
				touched |= 1 << s
			}
		}
		for ; touched != 0; touched &= touched - 1 {
			s := bits.TrailingZeros64(touched)
			emit(s, sc[s*containerWords:(s+1)*containerWords])
		}
	} else {
		// Many sets: group the entries by set, then one set at a time.
		all := bd.sorted[:0]
		for _, blk := range blocks {
			all = append(all, blk...)
		}
		slices.Sort(all)
		bd.sorted = all
		words := bd.scratch[:containerWords]
		for i := 0; i < len(all); {
			s := all[i] >> rangeBits
			for ; i < len(all) && all[i]>>rangeBits == s; i++ {
				lo := all[i] & (1<<rangeBits - 1)
				words[lo>>6] |= 1 << (lo & 63)
			}
			emit(int(s), words)
		}
	}
	if anyTouched {
		emit(p.anySet, bd.any)
	}
	return out, nil
}

// deletedMask fills bd.del with the deleted ordinals of the range starting at base and reports
// whether there are any.
func (bd *builder) deletedMask(deleted *roaring.Bitmap, base uint32) bool {
	it := deleted.Iterator()
	it.AdvanceIfNeeded(base)
	if !it.HasNext() || it.PeekNext()-base >= 1<<rangeBits {
		return false
	}
	if bd.del == nil {
		bd.del = make([]uint64, containerWords)
	}
	clear(bd.del)
	for it.HasNext() {
		lo := it.PeekNext() - base
		if lo >= 1<<rangeBits {
			break
		}
		bd.del[lo>>6] |= 1 << (lo & 63)
		it.Next()
	}
	return true
}

// container serializes one container's bitset (without the deleted ordinals when del) in
// roaring's portable format: a bitmap of 1024 little-endian words above arrayMax values, else
// the sorted values as little-endian uint16s. It reports false for an empty container.
func (bd *builder) container(words []uint64, del bool) (piece, bool) {
	card := 0
	for i, x := range words {
		if del {
			x &^= bd.del[i]
			words[i] = x
		}
		card += bits.OnesCount64(x)
	}
	if card == 0 {
		return piece{}, false
	}
	if card > arrayMax {
		data := bd.alloc(containerWords * 8)
		for i, x := range words {
			binary.LittleEndian.PutUint64(data[8*i:], x)
		}
		return piece{card: int32(card), data: data}, true
	}
	data := bd.alloc(2 * card)
	k := 0
	for i, x := range words {
		for x != 0 {
			binary.LittleEndian.PutUint16(data[k:], uint16(i*64+bits.TrailingZeros64(x)))
			k += 2
			x &= x - 1
		}
	}
	return piece{card: int32(card), data: data}, true
}

// alloc returns n bytes from the goroutine's arena.
func (bd *builder) alloc(n int) []byte {
	if len(bd.arena) < n {
		a, _ := arenaPool.Get().(*[]byte)
		if a == nil {
			b := make([]byte, arenaLen)
			a = &b
		}
		bd.arenas = append(bd.arenas, a)
		bd.arena = *a
	}
	b := bd.arena[:n:n]
	bd.arena = bd.arena[n:]
	return b
}

// assemble returns the bitmap of the containers ps, in ascending key order: it writes them in
// roaring's portable format without run containers (cookie 12346, the container count, each
// container's key and cardinality-1, each container's offset, then the containers) to one
// buffer that the bitmap then reads in place.
func assemble(ps []piece) (*roaring.Bitmap, error) {
	if len(ps) == 0 {
		return roaring.New(), nil
	}
	const cookie = 12346
	head := 8 + 8*len(ps)
	size := head
	for _, pc := range ps {
		size += len(pc.data)
	}
	buf := make([]byte, size)
	binary.LittleEndian.PutUint32(buf, cookie)
	binary.LittleEndian.PutUint32(buf[4:], uint32(len(ps)))
	off := head
	for i, pc := range ps {
		binary.LittleEndian.PutUint16(buf[8+4*i:], pc.key)
		binary.LittleEndian.PutUint16(buf[8+4*i+2:], uint16(pc.card-1))
		binary.LittleEndian.PutUint32(buf[8+4*len(ps)+4*i:], uint32(off))
		off += copy(buf[off:], pc.data)
	}
	b := roaring.New()
	if _, err := b.FromBuffer(buf); err != nil {
		return nil, fmt.Errorf("match: build bitmap: %w", err)
	}
	return b, nil
}

// forEach calls f(0..n-1) on up to workers goroutines taking indices from a shared counter,
// and returns the first error.
func forEach(workers, n int, f func(i int) error) error {
	var next atomic.Int64
	return parallel(max(1, min(workers, n)), func(int) error {
		for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
			if err := f(i); err != nil {
				return err
			}
		}
		return nil
	})
}
