package ingest

import (
	"encoding/binary"
	"io"
	"math/bits"
	"slices"
	"sync"

	"github.com/cleanroom-oss/cleanroom/identity"
)

// rec is one accepted row: its fingerprint and its segment set.
type rec struct {
	fp identity.Fingerprint
	// segs is a bitmask of segment indices when run.masks is set, and otherwise a reference to
	// a list (see segLists); 0 is the empty set in both.
	segs uint64
}

// Chunk sizes of a recList, in records.
const (
	minChunk = 32
	maxChunk = 2048
)

// chunkPool keeps the record chunks of full size that sorted lists gave back, for lists to
// fill again: after the first spill, memory is reused rather than allocated (first touches of
// fresh memory are expensive, and garbage would let the heap grow past the budget until the
// next collection). It is safe for concurrent use.
type chunkPool struct {
	mu   sync.Mutex
	free [][]rec
}

// get returns an empty chunk: a free one of maxChunk records, or a new one of size records.
func (p *chunkPool) get(size int) []rec {
	p.mu.Lock()
	if n := len(p.free); n > 0 {
		c := p.free[n-1]
		p.free = p.free[:n-1]
		p.mu.Unlock()
		return c
	}
	p.mu.Unlock()
	return make([]rec, 0, size)
}

// put gives a chunk back; chunks smaller than maxChunk are left to the garbage collector.
func (p *chunkPool) put(c []rec) {
	if cap(c) != maxChunk {
		return
	}
	p.mu.Lock()
	p.free = append(p.free, c[:0])
	p.mu.Unlock()
}

// store copies a into chunks of the pool.
func (p *chunkPool) store(a []rec) [][]rec {
	var out [][]rec
	for len(a) > 0 {
		c := p.get(min(len(a), maxChunk))
		c = c[:min(len(a), cap(c))]
		copy(c, a)
		out = append(out, c)
		a = a[len(c):]
	}
	return out
}

// listRef returns the reference to the segment list at offset off of pool p. A pool starts with
// the empty list at offset 0, so the reference 0 is the empty set, as for bitmasks.
func listRef(p, off int) uint64 { return uint64(p)<<40 | uint64(off) }

// segLists resolves list references: pool p is pools[p], and a list is its length followed by
// its sorted, unique segment indices. The pools are the workers'; taskSorters add their own.
type segLists struct {
	pools [][]uint32
}

func (s *segLists) list(ref uint64) []uint32 {
	p := s.pools[ref>>40]
	off := ref & (1<<40 - 1)
	n := uint64(p[off])
	return p[off+1 : off+1+n]
}

// taskSorter sorts and deduplicates the records of one task (one tag and leading fingerprint
// byte) at a time, for one goroutine: gather the task's chunks into a scratch array that stays
// in cache, sort it, merge the records of equal fingerprints (the union of their segment sets).
// Unions of lists go to the sorter's own pool, mine, numbered pool.
type taskSorter struct {
	masks      bool
	lists      *segLists
	pool       int      // the pool number of mine
	mine       []uint32 // unions of lists
	ids        []uint32 // scratch for a union
	a, scratch []rec
}

// gather appends the records of chunks to the task.
func (ts *taskSorter) gather(chunks [][]rec) {
	for _, c := range chunks {
		ts.a = append(ts.a, c...)
	}
}

// sorted sorts and deduplicates the gathered records and returns them; they are valid until the
// next gather.
func (ts *taskSorter) sorted() []rec {
	ts.scratch = sortRecs(ts.a, ts.scratch)
	u := ts.dedup(ts.a)
	a := ts.a[:u]
	ts.a = ts.a[:0]
	return a
}

// reset forgets the unions made so far.
func (ts *taskSorter) reset() { ts.mine = ts.mine[:min(len(ts.mine), 1)] }

// segments appends the segment indices of r to dst.
func (ts *taskSorter) segments(dst []uint32, r *rec) []uint32 {
	if ts.masks {
		for m := r.segs; m != 0; m &= m - 1 {
			dst = append(dst, uint32(bits.TrailingZeros64(m)))
		}
		return dst
	}
	return append(dst, ts.list(r.segs)...)
}

// nsegs returns the size of r's segment set.
func (ts *taskSorter) nsegs(r *rec) int {
	if ts.masks {
		return bits.OnesCount64(r.segs)
	}
	return len(ts.list(r.segs))
}

// dedup merges runs of equal fingerprints in the sorted records a, in place, and returns the
// number of records left at the start of a. A run's segment set is the union of its records'.
func (ts *taskSorter) dedup(a []rec) (uniq int) {
	for i := 0; i < len(a); {
		x := a[i]
		j := i + 1
		for j < len(a) && a[j].fp == x.fp {
			j++
		}
		if j > i+1 {
			x.segs = ts.union(a[i:j])
		}
		a[uniq] = x
		uniq++
		i = j
	}
	return uniq
}

// union returns the union of the segment sets of the records of run. A union of lists is
// computed once per run, however long.
func (ts *taskSorter) union(run []rec) uint64 {
	if ts.masks {
		var m uint64
		for _, r := range run {
			m |= r.segs
		}
		return m
	}
	ids := ts.ids[:0]
	for _, r := range run {
		ids = append(ids, ts.list(r.segs)...)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	ts.ids = ids
	if len(ids) == 0 {
		return 0
	}
	if len(ts.mine) == 0 {
		ts.mine = append(ts.mine, 0) // offset 0 is the empty list
	}
	off := len(ts.mine)
	ts.mine = append(ts.mine, uint32(len(ids)))
	ts.mine = append(ts.mine, ids...)
	return listRef(ts.pool, off)
}

// list returns the list ref refers to, which may be in the sorter's own pool.
func (ts *taskSorter) list(ref uint64) []uint32 {
	if ref == 0 {
		return nil
	}
	if int(ref>>40) == ts.pool {
		off := ref & (1<<40 - 1)
		return ts.mine[off+1 : off+1+uint64(ts.mine[off])]
	}
	return ts.lists.list(ref)
}

// parallel runs fn(0) ... fn(n-1) on n goroutines and waits for them.
func parallel(n int, fn func(i int)) {
	if n == 1 {
		fn(0)
		return
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { fn(i) })
	}
	wg.Wait()
}

// msdMin is the size (in records, 768 KiB) from which sortRecs first splits the records by their
// second fingerprint byte: the radix passes over the whole array then leave the cache, while
// the 256 parts each fit in it.
const msdMin = 1 << 15

// sortRecs sorts records that share their first fingerprint byte by fingerprint, using (and
// returning, possibly grown) scratch. Fingerprints are uniformly random, so an LSD radix sort on
// bytes 1 to 3 leaves only rare runs of equal 4-byte prefixes out of order, and one insertion
// pass then finishes the job in linear time. A large array is first split by byte 1 (one pass),
// and each part sorted by bytes 3 and 2 in cache.
func sortRecs(a, scratch []rec) []rec {
	if len(a) < 64 {
		insertionSort(a)
		return scratch
	}
	if cap(scratch) < len(a) {
		scratch = make([]rec, len(a)+len(a)/4)
	}
	if len(a) >= msdMin {
		var start [257]int
		for i := range a {
			start[int(a[i].fp[1])+1]++
		}
		for d := 1; d <= 256; d++ {
			start[d] += start[d-1]
		}
		pos := [256]int(start[:256])
		tmp := scratch[:len(a)]
		for i := range a {
			d := a[i].fp[1]
			tmp[pos[d]] = a[i]
			pos[d]++
		}
		for d := range 256 {
			lo, hi := start[d], start[d+1]
			if hi-lo > 1 {
				radixPasses(tmp[lo:hi], a[lo:hi], byte32)
			}
			copy(a[lo:hi], tmp[lo:hi])
		}
		insertionSort(a)
		return scratch
	}
	if src := radixPasses(a, scratch[:len(a)], byte321); &src[0] != &a[0] {
		copy(a, src)
	}
	insertionSort(a)
	return scratch
}

// The fingerprint bytes of the radix passes, least significant first (at most 3).
var (
	byte32  = []int{3, 2}
	byte321 = []int{3, 2, 1}
)

// radixPasses sorts src stably by the fingerprint bytes given, least significant first, using
// dst, and returns the one of the two that holds the result.
func radixPasses(src, dst []rec, byteIdx []int) []rec {
	var counts [3][256]int
	for i := range src {
		for p, b := range byteIdx {
			counts[p][src[i].fp[b]]++
		}
	}
	for p, b := range byteIdx {
		c := &counts[p]
		if c[src[0].fp[b]] == len(src) {
			continue // every record has the same byte here
		}
		sum := 0
		for d := range c {
			c[d], sum = sum, sum+c[d]
		}
		for i := range src {
			d := src[i].fp[b]
			dst[c[d]] = src[i]
			c[d]++
		}
		src, dst = dst, src
	}
	return src
}

// insertionSort sorts a by fingerprint; it is linear on input that is almost sorted.
func insertionSort(a []rec) {
	for i := 1; i < len(a); i++ {
		if !fpLess(&a[i].fp, &a[i-1].fp) {
			continue
		}
		x := a[i]
		j := i
		for j > 0 && fpLess(&x.fp, &a[j-1].fp) {
			a[j] = a[j-1]
			j--
		}
		a[j] = x
	}
}

// fpLess reports whether fingerprint a sorts before b (bytewise, as identity.Fingerprint.Compare).
func fpLess(a, b *identity.Fingerprint) bool {
	ah, bh := binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(b[:8])
	if ah != bh {
		return ah < bh
	}
	return binary.BigEndian.Uint64(a[8:]) < binary.BigEndian.Uint64(b[8:])
}

// memSource is a version held in memory: per task (in the version's order), its sorted,
// deduplicated records, in chunks.
type memSource struct {
	masks bool
	lists *segLists // the workers' pools, then the sorters'
	tasks [][][]rec
}

// list returns the segment list of r (not in mask mode).
func (m *memSource) list(r *rec) []uint32 {
	if r.segs == 0 {
		return nil
	}
	return m.lists.list(r.segs)
}

// The sections are made on another goroutine (pipeline) while w encrypts them.

func (m *memSource) writeFPs(w io.Writer) error {
	return pipeline(w, func(out *pipeWriter) error {
		for _, chunks := range m.tasks {
			for _, c := range chunks {
				for i := range c {
					if err := out.raw(c[i].fp[:]); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
}

func (m *memSource) writeSegOff(w io.Writer) error {
	return pipeline(w, func(out *pipeWriter) error {
		var off uint32
		for _, chunks := range m.tasks {
			for _, c := range chunks {
				for i := range c {
					if err := out.u32(off); err != nil {
						return err
					}
					if m.masks {
						off += uint32(bits.OnesCount64(c[i].segs))
					} else {
						off += uint32(len(m.list(&c[i])))
					}
				}
			}
		}
		return out.u32(off)
	})
}

func (m *memSource) writeSegs(w io.Writer) error {
	return pipeline(w, func(out *pipeWriter) error {
		for _, chunks := range m.tasks {
			for _, c := range chunks {
				for i := range c {
					if m.masks {
						for s := c[i].segs; s != 0; s &= s - 1 {
							if err := out.u32(uint32(bits.TrailingZeros64(s))); err != nil {
								return err
							}
						}
						continue
					}
					for _, s := range m.list(&c[i]) {
						if err := out.u32(s); err != nil {
							return err
						}
					}
				}
			}
		}
		return nil
	})
}
