package identity

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"math/rand/v2"
	"testing"
)

// TestMACMatchesStdlib: the MAC gives crypto/hmac's bytes for keys and messages of every
// length around the block boundaries, on the fast path where the processor has it and on the
// standard one.
func TestMACMatchesStdlib(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, klen := range []int{1, 16, 32, 63, 64, 65, 100} {
		key := make([]byte, klen)
		for i := range key {
			key[i] = byte(rng.Uint32())
		}
		want := hmac.New(sha256.New, key)
		for _, m := range []*macSHA256{newMAC(key), {slow: hmac.New(sha256.New, key)}} {
			m = m.clone()
			for n := 0; n <= 300; n++ {
				msg := make([]byte, n)
				for i := range msg {
					msg[i] = byte(rng.Uint32())
				}
				want.Reset()
				want.Write(msg)
				exp := want.Sum(nil)
				got := make([]byte, 32)
				m.sum(got, msg)
				if !bytes.Equal(got, exp) {
					t.Fatalf("key %d bytes, message %d bytes (fast %v): got %x, want %x", klen, n, m.slow == nil, got, exp)
				}
			}
		}
	}
}

// TestSHABlock: the compression function gives SHA-256 of a padded message.
func TestSHABlock(t *testing.T) {
	if !hasSHA {
		t.Skip("no SHA extensions on this processor: the standard library's HMAC is used")
	}
	for _, n := range []int{0, 3, 55, 56, 64, 119, 200} {
		msg := bytes.Repeat([]byte{'a' + byte(n%26)}, n)
		blocks := (n + 9 + 63) / 64
		b := make([]byte, 64*blocks)
		copy(b, msg)
		b[n] = 0x80
		for i := range 8 {
			b[len(b)-1-i] = byte(uint64(n*8) >> (8 * i))
		}
		st := sha256IV
		blockSHANI(&st, &b[0], blocks)
		want := sha256.Sum256(msg)
		for i, x := range st {
			if got := [4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)}; !bytes.Equal(got[:], want[4*i:4*i+4]) {
				t.Fatalf("%d bytes: word %d is %x, want %x", n, i, got, want[4*i:4*i+4])
			}
		}
	}
}

func BenchmarkSHABlock(b *testing.B) {
	if !hasSHA {
		b.Skip("no SHA extensions")
	}
	var blk [64]byte
	st := sha256IV
	for b.Loop() {
		blockSHANI(&st, &blk[0], 1)
	}
}

func BenchmarkMACStdlib(b *testing.B) {
	m := &macSHA256{slow: hmac.New(sha256.New, make([]byte, 32))}
	msg := make([]byte, 70)
	var out [16]byte
	for b.Loop() {
		m.sum(out[:], msg)
	}
}

func BenchmarkMACFast(b *testing.B) {
	m := newMAC(make([]byte, 32))
	msg := make([]byte, 70)
	var out [16]byte
	for b.Loop() {
		m.sum(out[:], msg)
	}
}
