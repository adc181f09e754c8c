package pubsync

import (
	"encoding/binary"
	"runtime"
	"sync"
	"sync/atomic"
)

// Both radix sorts below sort one bucket: records whose keys share their leading bucketBits
// bits. Two LSD passes of d-bit digits order the records by the next 2d key bits, then an
// insertion pass orders the few records that still tie, by the whole key. Buckets are small
// (tens of thousands of records), so the passes run in the CPU caches.

// smallSort is the size below which a bucket is only insertion-sorted.
const smallSort = 48

// digitBits returns the digit width for a bucket of n records.
func digitBits(n int) uint {
	if n >= 16384 {
		return 11
	}
	return 8
}

// Bucketing is a stable counting sort by the leading bucketBits bits, done in two passes of
// half the bits each (through tmp) so that each pass writes to 64 places at a time, which the
// caches follow, rather than 4096. off receives the numBuckets+1 bucket offsets.
const halfBits = bucketBits / 2

func bucketRecs(in, tmp, out []rec, off []uint32) {
	var coarse [1<<halfBits + 1]uint32
	fine := off[1:]
	clear(off)
	for i := range in {
		fine[bucketOf(&in[i].fp)]++
	}
	for k, n := range fine {
		coarse[k>>halfBits+1] += n
	}
	prefix(coarse[1:])
	prefix(fine)
	for i := range in {
		c := bucketOf(&in[i].fp) >> halfBits
		tmp[coarse[c+1]] = in[i]
		coarse[c+1]++
	}
	// Scattering advances each bucket's start to its end: fine (off[1:]) ends up holding the
	// ends, so off holds the starts and the ends.
	for i := range tmp {
		k := bucketOf(&tmp[i].fp)
		out[fine[k]] = tmp[i]
		fine[k]++
	}
}

func bucketURecs(in, tmp, out []urec, off []uint32) {
	var coarse [1<<halfBits + 1]uint32
	fine := off[1:]
	clear(off)
	for i := range in {
		fine[in[i].hash()>>(64-bucketBits)]++
	}
	for k, n := range fine {
		coarse[k>>halfBits+1] += n
	}
	prefix(coarse[1:])
	prefix(fine)
	for i := range in {
		c := in[i].hash() >> (64 - halfBits)
		tmp[coarse[c+1]] = in[i]
		coarse[c+1]++
	}
	for i := range tmp {
		k := tmp[i].hash() >> (64 - bucketBits)
		out[fine[k]] = tmp[i]
		fine[k]++
	}
}

// recKey returns the leading 64 bits of a record's fingerprint.
func recKey(r *rec) uint64 { return binary.BigEndian.Uint64(r.fp[:8]) }

// recLess orders records by fingerprint, then ordinal.
func recLess(a, b *rec) bool {
	ka, kb := recKey(a), recKey(b)
	if ka != kb {
		return ka < kb
	}
	la, lb := binary.BigEndian.Uint64(a.fp[8:]), binary.BigEndian.Uint64(b.fp[8:])
	if la != lb {
		return la < lb
	}
	return a.ord < b.ord
}

// recCompare is recLess as a three-way comparison.
func recCompare(a, b rec) int {
	switch {
	case recLess(&a, &b):
		return -1
	case a == b:
		return 0
	}
	return 1
}

// counts is scratch for the radix passes of one goroutine.
type counts [2][1 << 11]uint32

// sortRecs sorts a bucket of records by (fingerprint, ordinal), using tmp (at least len(a)) and
// cnt as scratch. The result is in a.
func sortRecs(a, tmp []rec, cnt *counts) {
	if len(a) >= smallSort {
		d := digitBits(len(a))
		mask := uint64(1)<<d - 1
		lo, hi := 64-bucketBits-2*d, 64-bucketBits-d
		c0, c1 := cnt[0][:mask+1], cnt[1][:mask+1]
		clear(c0)
		clear(c1)
		for i := range a {
			k := recKey(&a[i])
			c0[k>>lo&mask]++
			c1[k>>hi&mask]++
		}
		prefix(c0)
		prefix(c1)
		tmp = tmp[:len(a)]
		for i := range a {
			j := recKey(&a[i]) >> lo & mask
			tmp[c0[j]] = a[i]
			c0[j]++
		}
		for i := range tmp {
			j := recKey(&tmp[i]) >> hi & mask
			a[c1[j]] = tmp[i]
			c1[j]++
		}
	}
	for i := 1; i < len(a); i++ {
		if !recLess(&a[i], &a[i-1]) {
			continue
		}
		x := a[i]
		j := i
		for j > 0 && recLess(&x, &a[j-1]) {
			a[j] = a[j-1]
			j--
		}
		a[j] = x
	}
}

// urec is a user-index record being built: a user-ID hash and the user's pre-ordinal (its
// position among all users of the file, duplicates included).
//
// The hash is kept as two 32-bit halves so that a record takes 12 bytes rather than 16.
type urec struct {
	h0, h1 uint32 // the low and high halves of the hash
	p      uint32
}

func newURec(h uint64, p uint32) urec { return urec{uint32(h), uint32(h >> 32), p} }

// hash returns the record's user-ID hash.
func (r *urec) hash() uint64 { return uint64(r.h1)<<32 | uint64(r.h0) }

func urecLess(a, b *urec) bool { return a.hash() < b.hash() || a.hash() == b.hash() && a.p < b.p }

// sortURecs sorts a bucket of user records by (hash, pre-ordinal), using tmp and cnt as
// scratch. The result is in a.
func sortURecs(a, tmp []urec, cnt *counts) {
	if len(a) >= smallSort {
		d := digitBits(len(a))
		mask := uint64(1)<<d - 1
		lo, hi := 64-bucketBits-2*d, 64-bucketBits-d
		c0, c1 := cnt[0][:mask+1], cnt[1][:mask+1]
		clear(c0)
		clear(c1)
		for i := range a {
			c0[a[i].hash()>>lo&mask]++
			c1[a[i].hash()>>hi&mask]++
		}
		prefix(c0)
		prefix(c1)
		tmp = tmp[:len(a)]
		for i := range a {
			j := a[i].hash() >> lo & mask
			tmp[c0[j]] = a[i]
			c0[j]++
		}
		for i := range tmp {
			j := tmp[i].hash() >> hi & mask
			a[c1[j]] = tmp[i]
			c1[j]++
		}
	}
	for i := 1; i < len(a); i++ {
		if !urecLess(&a[i], &a[i-1]) {
			continue
		}
		x := a[i]
		j := i
		for j > 0 && urecLess(&x, &a[j-1]) {
			a[j] = a[j-1]
			j--
		}
		a[j] = x
	}
}

// prefix turns counts into exclusive prefix sums.
func prefix(c []uint32) {
	sum := uint32(0)
	for i, n := range c {
		c[i] = sum
		sum += n
	}
}

// parallel calls fn(w, i) for i in [0, n) on up to workers goroutines, handing out indices in
// chunks of grain; w identifies the goroutine (0 <= w < workers) so fn can use per-goroutine
// scratch space.
func parallel(n, workers, grain int, fn func(w, i int)) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = max(1, min(workers, (n+grain-1)/grain))
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for {
				lo := int(next.Add(int64(grain))) - grain
				if lo >= n {
					return
				}
				for i := lo; i < min(lo+grain, n); i++ {
					fn(w, i)
				}
			}
		})
	}
	wg.Wait()
}
