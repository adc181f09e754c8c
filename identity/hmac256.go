package identity

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash"
)

// macSHA256 is HMAC-SHA256 under one key, for the short messages fingerprints hash. Where the
// processor has the SHA extensions (hasSHA), it runs the compression function itself from the
// keyed states after the key's inner and outer blocks, precomputed once: a fingerprint then
// costs its three compressions and little else, about half of what crypto/hmac spends on the
// same message (its hashes copy and re-parse their state around every block). Elsewhere it is
// crypto/hmac. Both give the same bytes; the tests compare them on messages of every length.
type macSHA256 struct {
	inner, outer [8]uint32 // the states after K⊕ipad and K⊕opad (fast path)
	buf          []byte    // the padded message, reused
	slow         hash.Hash // crypto/hmac, when the fast path is not available
}

// sha256IV is SHA-256's initial state.
var sha256IV = [8]uint32{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19}

func newMAC(key []byte) *macSHA256 {
	if !hasSHA {
		return &macSHA256{slow: hmac.New(sha256.New, key)}
	}
	m := &macSHA256{}
	var block [64]byte
	k := key
	if len(k) > 64 {
		s := sha256.Sum256(k)
		k = s[:]
	}
	for i, pad := range [2]byte{0x36, 0x5c} {
		clear(block[:])
		copy(block[:], k)
		for j := range block {
			block[j] ^= pad
		}
		st := sha256IV
		blockSHANI(&st, &block[0], 1)
		if i == 0 {
			m.inner = st
		} else {
			m.outer = st
		}
	}
	return m
}

// clone returns a MAC with the same key and its own scratch.
func (m *macSHA256) clone() *macSHA256 {
	if m.slow != nil {
		c, err := m.slow.(hash.Cloner).Clone()
		if err != nil {
			// HMAC-SHA256 from the standard library always supports cloning.
			panic("identity: cannot clone the HMAC-SHA256 state: " + err.Error())
		}
		return &macSHA256{slow: c}
	}
	return &macSHA256{inner: m.inner, outer: m.outer}
}

// sum writes the first len(dst) (at most 32) bytes of the MAC of msg to dst.
func (m *macSHA256) sum(dst []byte, msg []byte) {
	if m.slow != nil {
		var s [sha256.Size]byte
		m.slow.Reset()
		m.slow.Write(msg)
		copy(dst, m.slow.Sum(s[:0]))
		return
	}
	// Inner hash: msg after the 64-byte key block, padded: 0x80, zeros, the bit length.
	n := (len(msg) + 9 + 63) / 64
	if cap(m.buf) < 64*n {
		m.buf = make([]byte, 64*n)
	}
	b := m.buf[:64*n]
	copy(b, msg)
	b[len(msg)] = 0x80
	clear(b[len(msg)+1 : len(b)-8])
	binary.BigEndian.PutUint64(b[len(b)-8:], uint64(64+len(msg))*8)
	st := m.inner
	blockSHANI(&st, &b[0], n)
	// Outer hash: the inner digest after the key's other block, in one padded block.
	var o [64]byte
	for i, x := range st {
		binary.BigEndian.PutUint32(o[4*i:], x)
	}
	o[32] = 0x80
	binary.BigEndian.PutUint64(o[56:], (64+32)*8)
	st = m.outer
	blockSHANI(&st, &o[0], 1)
	var d [32]byte
	for i, x := range st {
		binary.BigEndian.PutUint32(d[4*i:], x)
	}
	copy(dst, d[:])
}
