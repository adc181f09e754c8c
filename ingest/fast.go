package ingest

import (
	"encoding/binary"

	"github.com/cleanroom-oss/cleanroom/identity"
)

// emptySHA256Hex is the SHA-256 digest of the empty string, which identity rejects.
const emptySHA256Hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// canonical reports whether v is already in the canonical form of tag, that is,
// identity.Normalize would return it unchanged. It is true only for the common forms that
// canonicalDigest and canonicalMAID recognise, so false is no verdict: such values go through
// Normalize. Checking 8 bytes at a time here is several times faster than Normalize's byte
// loops, and tests hold the two to the same answer.
func canonical(tag identity.Tag, v []byte) bool {
	switch tag {
	case identity.TagEmailSHA256, identity.TagPhoneSHA256:
		return canonicalDigest(v)
	case identity.TagMAID:
		return canonicalMAID(v)
	}
	return false
}

// canonicalDigest reports whether v is a SHA-256 digest in canonical form: 64 lowercase hex
// digits, not the digest of the empty string.
func canonicalDigest(v []byte) bool {
	if len(v) != 64 {
		return false
	}
	for i := 0; i < 64; i += 8 {
		if !lowerHex8(binary.LittleEndian.Uint64(v[i:])) {
			return false
		}
	}
	return string(v) != emptySHA256Hex
}

// canonicalMAID reports whether v is a mobile advertising ID in canonical form: a lowercase
// UUID with hyphens, not all zeros.
func canonicalMAID(v []byte) bool {
	if len(v) != 36 || v[8] != '-' || v[13] != '-' || v[18] != '-' || v[23] != '-' {
		return false
	}
	// The 32 digits, 8 at a time: bytes 0-7, 9-12 with 14-17, 19-22 with 24-27, and 28-35.
	a := binary.LittleEndian.Uint64(v[0:])
	b := uint64(binary.LittleEndian.Uint32(v[9:])) | uint64(binary.LittleEndian.Uint32(v[14:]))<<32
	c := uint64(binary.LittleEndian.Uint32(v[19:])) | uint64(binary.LittleEndian.Uint32(v[24:]))<<32
	d := binary.LittleEndian.Uint64(v[28:])
	const zeros = 0x3030303030303030 // "00000000"
	return lowerHex8(a) && lowerHex8(b) && lowerHex8(c) && lowerHex8(d) &&
		(a^zeros)|(b^zeros)|(c^zeros)|(d^zeros) != 0
}

// lowerHex8 reports whether the 8 bytes of x are all lowercase hexadecimal digits.
func lowerHex8(x uint64) bool {
	const (
		ones = 0x0101010101010101
		high = 0x8080808080808080
	)
	// With every byte below 0x80, adding at most 0x50 to it cannot carry into the next one, and
	// each byte's high bit then tells whether it reached the bound.
	ge0 := x + (0x80-'0')*ones        // >= '0'
	gt9 := x + (0x80-'9'-1)*ones      // > '9'
	gea := x + (0x80-'a')*ones        // >= 'a'
	gtf := x + (0x80-'f'-1)*ones      // > 'f'
	ok := (ge0 &^ gt9) | (gea &^ gtf) // a digit or a-f
	return x&high == 0 && ok&high == high
}
