package pubsync

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math/bits"

	"github.com/cleanroom-oss/cleanroom/identity"
)

// UserKeySize is the length in bytes of Options.UserKey.
const UserKeySize = 32

// UserHasher maps a publisher user ID to the keyed 64-bit hash stored in a version's user index
// (vault.PublisherVersion.UserKeys): SipHash-2-4 under a 128-bit key derived from the user key
// with HMAC-SHA256. Without the key the hash cannot be linked to the user ID. It is immutable
// and safe for concurrent use.
//
// Two different user IDs share a hash with probability about n²/2^65 for n users (7·10⁻⁵ for
// 50 million); Sync would then report the second as a duplicate_user.
type UserHasher struct {
	k0, k1 uint64
	check  uint64
}

// NewUserHasher returns the hasher for key, which must be UserKeySize random bytes (in a
// deployment, derived from the master key). Returns an error for a key of the wrong length or
// of all zeros.
func NewUserHasher(key []byte) (*UserHasher, error) {
	if len(key) != UserKeySize {
		return nil, errors.New("pubsync: a user key must be 32 bytes")
	}
	zero := true
	for _, b := range key {
		zero = zero && b == 0
	}
	if zero {
		return nil, errors.New("pubsync: the user key is all zeros")
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("cleanroom/pubsync/user-id-hash/v1"))
	k := mac.Sum(nil)
	mac.Reset()
	mac.Write([]byte("cleanroom/pubsync/user-key-check/v1"))
	c := mac.Sum(nil)
	return &UserHasher{
		k0:    binary.LittleEndian.Uint64(k[0:8]),
		k1:    binary.LittleEndian.Uint64(k[8:16]),
		check: binary.BigEndian.Uint64(c[:8]) | 1, // never 0, which means unknown
	}, nil
}

// Hash returns the keyed hash of a user ID (its bytes as given; Sync trims surrounding
// whitespace first).
func (h *UserHasher) Hash(userID string) uint64 {
	return sipHash24(h.k0, h.k1, []byte(userID))
}

// hashBytes is Hash for a byte slice, without converting it.
func (h *UserHasher) hashBytes(userID []byte) uint64 { return sipHash24(h.k0, h.k1, userID) }

// Check returns the key check stored in versions (vault.PublisherVersion.UserKeyCheck).
func (h *UserHasher) Check() uint64 { return h.check }

// fingerprintKeyCheck returns the key check of a fingerprint key: the first 8 bytes of the
// fingerprint of a fixed label under the empty tag, which no real identifier has.
func fingerprintKeyCheck(fp *identity.Fingerprinter) uint64 {
	f := fp.Fingerprint("", "cleanroom/pubsync/fingerprint-key-check/v1")
	return binary.BigEndian.Uint64(f[:8]) | 1
}

// sipHash24 is SipHash-2-4 (Aumasson and Bernstein, 2012) of p under the key (k0, k1), the two
// little-endian halves of the 16-byte key.
func sipHash24(k0, k1 uint64, p []byte) uint64 {
	v0 := k0 ^ 0x736f6d6570736575
	v1 := k1 ^ 0x646f72616e646f6d
	v2 := k0 ^ 0x6c7967656e657261
	v3 := k1 ^ 0x7465646279746573
	last := uint64(len(p)) << 56
	for len(p) >= 8 {
		m := binary.LittleEndian.Uint64(p)
		v3 ^= m
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0 ^= m
		p = p[8:]
	}
	for i := len(p) - 1; i >= 0; i-- {
		last |= uint64(p[i]) << (8 * i)
	}
	v3 ^= last
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= last
	v2 ^= 0xff
	for range 4 {
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	}
	return v0 ^ v1 ^ v2 ^ v3
}

func sipRound(v0, v1, v2, v3 uint64) (uint64, uint64, uint64, uint64) {
	v0 += v1
	v1 = bits.RotateLeft64(v1, 13)
	v1 ^= v0
	v0 = bits.RotateLeft64(v0, 32)
	v2 += v3
	v3 = bits.RotateLeft64(v3, 16)
	v3 ^= v2
	v0 += v3
	v3 = bits.RotateLeft64(v3, 21)
	v3 ^= v0
	v2 += v1
	v1 = bits.RotateLeft64(v1, 17)
	v1 ^= v2
	v2 = bits.RotateLeft64(v2, 32)
	return v0, v1, v2, v3
}
