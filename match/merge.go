package match

import (
	"encoding/binary"

	"github.com/cleanroom-oss/cleanroom/identity"
)

// fpHi and fpLo return the high and low halves of a fingerprint read as a big-endian 128-bit
// number. Comparing (fpHi, fpLo) lexicographically is identity.Fingerprint.Compare.
func fpHi(f *identity.Fingerprint) uint64 { return binary.BigEndian.Uint64(f[:8]) }
func fpLo(f *identity.Fingerprint) uint64 { return binary.BigEndian.Uint64(f[8:]) }

// fpLess reports whether a sorts before b.
func fpLess(a, b *identity.Fingerprint) bool {
	ah, bh := fpHi(a), fpHi(b)
	return ah < bh || ah == bh && fpLo(a) < fpLo(b)
}

// lowerBound returns the index of the first element of s not less than f.
func lowerBound(s []identity.Fingerprint, f *identity.Fingerprint) int {
	lo, hi := 0, len(s)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if fpLess(&s[m], f) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// hit is one match found by a merge: advertiser element a (an index into the merged advertiser
// slice) holds the fingerprint of the publisher rows [p, p+n); o is the ordinal of row p when
// the merger has ordinals.
type hit struct {
	a, p, n int
	o       uint32
}

// merger is a resumable merge join of two sorted fingerprint arrays. Both may repeat a
// fingerprint: each advertiser element is reported with the whole run of equal publisher rows,
// and repeated advertiser elements are each reported with the same run.
type merger struct {
	adv, pub []identity.Fingerprint
	// ords, when not nil, is parallel to pub: the merge loads each hit's first ordinal as it
	// finds it, while the row is in cache, instead of a later pass missing the cache.
	ords []uint32
	i, j int // next advertiser element; first publisher row not yet known to be smaller
}

// chunk is how many publisher rows the merge compares with an advertiser row at once, without
// branches: with uniform fingerprints the publisher side is typically 5 to 25 rows ahead per
// advertiser row, where a branch per row would be mispredicted once per advertiser row.
const chunk = 16

// gallopGap is the gap, in rows, past which the merge gallops instead of scanning chunks: only
// long gaps (an advertiser far smaller than the publisher) skip enough cache lines to pay.
const gallopGap = 256

// next fills buf with hits and returns how many it wrote; 0 means the merge is done.
//
// Per advertiser row, it first counts the publisher rows below it in chunks of 16 (a sum of
// comparisons, which compiles to flag-setting instructions rather than branches), then decides
// "match" without a branch either, by always writing the hit and advancing the count only on
// equality. Two rare cases take a slow path: a publisher row with the same high half but a
// smaller low half (a 64-bit prefix collision), and a run of several publisher rows with the
// fingerprint.
func (m *merger) next(buf []hit) int {
	adv, pub := m.adv, m.pub
	i, j := m.i, m.j
	np := len(pub)
	n := 0
	for i < len(adv) && n < len(buf) {
		a := &adv[i]
		ah := fpHi(a)
		for j+chunk <= np {
			c := countBelow((*[chunk]identity.Fingerprint)(pub[j:j+chunk]), ah)
			j += c
			if c < chunk {
				break
			}
			if j+gallopGap <= np && fpHi(&pub[j+gallopGap-1]) < ah {
				j = skip(pub, j+gallopGap, ah)
				break
			}
		}
		if j+chunk > np { // the last rows, one by one
			for j < np && fpHi(&pub[j]) < ah {
				j++
			}
			if j == np {
				i = len(adv)
				break
			}
		}
		p := &pub[j]
		al := fpLo(a)
		ph, pl := fpHi(p), fpLo(p)
		eq := b2i((ph^ah)|(pl^al) == 0)
		slow := b2i(ph == ah) & b2i(pl < al) // prefix collision: pub[j] is still smaller
		if j+1 < np {
			q := &pub[j+1]
			slow |= eq & b2i(fpHi(q) == ah) & b2i(fpLo(q) == al) // a run of rows
		}
		if slow != 0 {
			for j < np && fpHi(&pub[j]) == ah && fpLo(&pub[j]) < al {
				j++
			}
			k := j
			for k < np && pub[k] == *a {
				k++
			}
			if k > j {
				buf[n] = hit{a: i, p: j, n: k - j}
				if m.ords != nil {
					buf[n].o = m.ords[j]
				}
				n++
			}
		} else {
			buf[n] = hit{a: i, p: j, n: 1}
			if m.ords != nil {
				buf[n].o = m.ords[j]
			}
			n += eq
		}
		// j stays on the run: a repeated advertiser fingerprint finds it again.
		i++
	}
	m.i, m.j = i, j
	return n
}

// countBelow returns how many of the sorted rows p have a high half below ah.
func countBelow(p *[chunk]identity.Fingerprint, ah uint64) int {
	return b2i(fpHi(&p[0]) < ah) + b2i(fpHi(&p[1]) < ah) + b2i(fpHi(&p[2]) < ah) + b2i(fpHi(&p[3]) < ah) +
		b2i(fpHi(&p[4]) < ah) + b2i(fpHi(&p[5]) < ah) + b2i(fpHi(&p[6]) < ah) + b2i(fpHi(&p[7]) < ah) +
		b2i(fpHi(&p[8]) < ah) + b2i(fpHi(&p[9]) < ah) + b2i(fpHi(&p[10]) < ah) + b2i(fpHi(&p[11]) < ah) +
		b2i(fpHi(&p[12]) < ah) + b2i(fpHi(&p[13]) < ah) + b2i(fpHi(&p[14]) < ah) + b2i(fpHi(&p[15]) < ah)
}

// b2i is 1 for true, 0 for false; the compiler turns it into a flag-setting instruction.
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// skip returns the index of the first publisher row at or after j whose high half is at least
// ah, given fpHi(&pub[j-1]) < ah: exponential search, then a binary search in the last step.
func skip(pub []identity.Fingerprint, j int, ah uint64) int {
	np := len(pub)
	// Gallop: probe j, j+2, j+6, j+14, ...
	lo, step := j, 1
	hi := np
	for p := j; p < np; p = lo + step {
		if fpHi(&pub[p]) >= ah {
			hi = p
			break
		}
		lo = p + 1
		step <<= 1
	}
	// The answer is in [lo, hi].
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if fpHi(&pub[m]) < ah {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}
