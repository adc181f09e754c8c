package pubsync

import (
	"io"
	"math"
	"strconv"
)

// genReader streams a synthetic profile file: the header, then one line per user with
// realistic identifiers (SHA-256-like hex digests, MAIDs, IPv4 and IPv6 addresses, Xandr IDs;
// about 2.07 per user, some IP addresses shared between users), 0 to 8 cohorts drawn from a
// power law over genCohorts cohorts, and a country. It generates a few hundred users at a time,
// so a file of any size costs a few hundred KiB of memory. Values are pseudo-random, not
// hashes of anything: generating them costs a small fraction of what parsing them does.
type genReader struct {
	users, next int
	seed        uint64
	buf         []byte
	off         int
	cohortCDF   []uint64
	countryCDF  []uint64
	cohortLUT   []uint16 // cohort drawn by the leading 16 bits of a random number
	countryLUT  []uint8  // likewise for countries
	cohortIDs   []string
}

const genCohorts = 500

var genCountries = []struct {
	code   string
	weight float64
}{{"US", 40}, {"GB", 14}, {"DE", 10}, {"FR", 8}, {"CA", 6}, {"AU", 5}, {"ES", 5}, {"IT", 5}, {"NL", 4}, {"", 3}}

func newGenReader(users int, seed uint64) *genReader {
	g := &genReader{users: users, seed: seed}
	g.buf = append(g.buf, "user_id\tcountry\tidentifiers\tcohorts\n"...)
	w := make([]float64, genCohorts)
	for i := range w {
		w[i] = 1 / math.Pow(float64(i+3), 1.1)
	}
	g.cohortCDF = cdf(w)
	g.cohortLUT = make([]uint16, 1<<16)
	for i := range g.cohortLUT {
		g.cohortLUT[i] = uint16(pick(g.cohortCDF, uint64(i)<<48|1<<47))
	}
	w = w[:0]
	for _, c := range genCountries {
		w = append(w, c.weight)
	}
	g.countryCDF = cdf(w)
	g.countryLUT = make([]uint8, 1<<16)
	for i := range g.countryLUT {
		g.countryLUT[i] = uint8(pick(g.countryCDF, uint64(i)<<48|1<<47))
	}
	for i := range genCohorts {
		g.cohortIDs = append(g.cohortIDs, "c"+strconv.Itoa(i))
	}
	return g
}

// cdf returns the cumulative distribution of weights scaled to [0, 2^64).
func cdf(w []float64) []uint64 {
	total := 0.0
	for _, x := range w {
		total += x
	}
	out := make([]uint64, len(w))
	acc := 0.0
	for i, x := range w {
		acc += x
		out[i] = uint64(math.Min(acc/total, 1) * 0x1p63 * 2)
		if i == len(w)-1 || out[i] == 0 && acc >= total {
			out[i] = math.MaxUint64
		}
	}
	return out
}

// pick returns the index drawn by u from a CDF.
func pick(c []uint64, u uint64) int {
	lo, hi := 0, len(c)-1
	for lo < hi {
		m := (lo + hi) / 2
		if c[m] < u {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// splitmix is a fast PRNG.
type splitmix uint64

func (s *splitmix) next() uint64 {
	*s += 0x9e3779b97f4a7c15
	z := uint64(*s)
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

const hexDigits = "0123456789abcdef"

// hexPairs[x] is the two hex digits of byte x.
var hexPairs = func() (t [256][2]byte) {
	for i := range t {
		t[i] = [2]byte{hexDigits[i>>4], hexDigits[i&15]}
	}
	return t
}()

// hexQuads[x] is the four hex digits of the 16-bit x.
var hexQuads = func() (t [1 << 16][4]byte) {
	for i := range t {
		t[i] = [4]byte{hexDigits[i>>12], hexDigits[i>>8&15], hexDigits[i>>4&15], hexDigits[i&15]}
	}
	return t
}()

// octets[x] is x in decimal, for IPv4 addresses.
var octets = func() (t [256]string) {
	for i := range t {
		t[i] = strconv.Itoa(i)
	}
	return t
}()

func appendHex(b []byte, words ...uint64) []byte {
	for _, x := range words {
		q0, q1, q2, q3 := hexQuads[x>>48], hexQuads[x>>32&0xffff], hexQuads[x>>16&0xffff], hexQuads[x&0xffff]
		b = append(b, q0[:]...)
		b = append(b, q1[:]...)
		b = append(b, q2[:]...)
		b = append(b, q3[:]...)
	}
	return b
}

// Read implements io.Reader.
func (g *genReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if g.off == len(g.buf) {
			if g.next >= g.users {
				if n == 0 {
					return 0, io.EOF
				}
				return n, nil
			}
			g.buf, g.off = g.buf[:0], 0
			for end := min(g.next+512, g.users); g.next < end; g.next++ {
				g.buf = g.appendUser(g.buf, g.next)
			}
		}
		c := copy(p[n:], g.buf[g.off:])
		g.off += c
		n += c
	}
	return n, nil
}

// appendUser appends user i's line.
func (g *genReader) appendUser(b []byte, i int) []byte {
	r := splitmix(g.seed ^ uint64(i)*0x9e3779b97f4a7c15)
	b = append(b, 'u')
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, '\t')
	b = append(b, genCountries[g.countryLUT[r.next()>>48]].code...)
	b = append(b, '\t')
	n := 0
	sep := func() {
		if n > 0 {
			b = append(b, ',')
		}
		n++
	}
	x := r.next()
	if x%100 < 70 { // email 70%, a second one for 10% of them
		sep()
		b = append(b, "email_sha256="...)
		b = appendHex(b, r.next(), r.next(), r.next(), r.next())
		if x/100%10 == 0 {
			b = append(b, ",email_sha256="...)
			b = appendHex(b, r.next(), r.next(), r.next(), r.next())
		}
	}
	x = r.next()
	if x%100 < 10 { // phone 10%
		sep()
		b = append(b, "phone_sha256="...)
		b = appendHex(b, r.next(), r.next(), r.next(), r.next())
	}
	if x/100%100 < 40 { // MAID 40%
		sep()
		b = append(b, "maid="...)
		var hb [32]byte
		h := appendHex(hb[:0], r.next(), r.next())
		b = append(b, h[0:8]...)
		b = append(b, '-')
		b = append(b, h[8:12]...)
		b = append(b, "-4"...)
		b = append(b, h[13:16]...)
		b = append(b, '-')
		b = append(b, h[16:20]...)
		b = append(b, '-')
		b = append(b, h[20:32]...)
	}
	x = r.next()
	if x%100 < 50 { // IP 50%: 5% of them from a shared pool of 10000 (households, carriers)
		sep()
		b = append(b, "ip_address="...)
		a := r.next()
		if x/100%20 == 0 {
			a = uint64(x/2000%10000) * 0x9e3779b97f4a7c15
		}
		if x/100%10 == 1 { // IPv6, 10% of them
			b = append(b, "2001:db8:"...)
			for k := range 6 {
				if k > 0 {
					b = append(b, ':')
				}
				b = strconv.AppendUint(b, a>>(k*10)&0x3ff+1, 16)
			}
		} else {
			first := a%223 + 1 // 1..223: no 0, multicast or broadcast
			if first == 127 {
				first = 128
			}
			b = append(b, octets[first]...)
			for k := range 3 {
				b = append(b, '.')
				b = append(b, octets[a>>(8+8*k)&0xff]...)
			}
		}
	}
	if x/100%100 >= 70 { // Xandr 30%
		sep()
		b = append(b, "appnexus="...)
		b = strconv.AppendUint(b, r.next()|1<<40, 10)
	}
	b = append(b, '\t')
	k := int(r.next() % 9)
	var picked [8]uint16
	m := 0
	for range k {
		c := g.cohortLUT[r.next()>>48]
		dup := false
		for _, p := range picked[:m] {
			dup = dup || p == c
		}
		if dup {
			continue
		}
		if m > 0 {
			b = append(b, ',')
		}
		picked[m] = c
		m++
		b = append(b, g.cohortIDs[c]...)
	}
	return append(b, '\n')
}
