package identity

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"log/slog"
)

// FingerprintKeySize is the length in bytes of a fingerprint key.
const FingerprintKeySize = 32

// Fingerprint is the stored stand-in for an identifier: the first 16 bytes of
// HMAC-SHA256(key, tag || 0x00 || normalised value). Without the key it cannot be linked to
// the identifier, not even by fingerprinting a dictionary of likely emails.
//
// Fingerprints order like their bytes read as a big-endian number, which is the order of the
// sorted identity index.
type Fingerprint [16]byte

// Compare returns -1, 0 or +1 as f sorts before, equal to or after g.
func (f Fingerprint) Compare(g Fingerprint) int {
	if c := compareUint64(binary.BigEndian.Uint64(f[:8]), binary.BigEndian.Uint64(g[:8])); c != 0 {
		return c
	}
	return compareUint64(binary.BigEndian.Uint64(f[8:]), binary.BigEndian.Uint64(g[8:]))
}

func compareUint64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Less reports whether f sorts before g.
func (f Fingerprint) Less(g Fingerprint) bool {
	return f.Compare(g) < 0
}

// String returns f as 32 lowercase hex digits, for tests and debugging tools. A fingerprint is
// a pseudonymous identifier: do not log it.
func (f Fingerprint) String() string {
	return hex.EncodeToString(f[:])
}

// LogValue implements slog.LogValuer so that a fingerprint passed to a structured logger by
// mistake is logged redacted.
func (f Fingerprint) LogValue() slog.Value {
	return slog.StringValue("[fingerprint redacted]")
}

// Fingerprinter computes fingerprints under one key. Its hot path does not allocate: it keeps
// the keyed HMAC state and a scratch buffer between calls.
//
// A Fingerprinter is not safe for concurrent use; give each goroutine its own with Clone.
type Fingerprinter struct {
	mac *macSHA256 // HMAC-SHA256 under the key
	msg []byte     // scratch for tag || 0x00 || value
}

// NewFingerprinter returns a Fingerprinter for key, which must be FingerprintKeySize random
// bytes (in a deployment, derived from the master key). Returns an error if key has the wrong
// length or is all zeros, the usual sign of a missing key.
func NewFingerprinter(key []byte) (*Fingerprinter, error) {
	if len(key) != FingerprintKeySize {
		return nil, errors.New("identity: a fingerprint key must be 32 bytes")
	}
	zero := true
	for _, b := range key {
		zero = zero && b == 0
	}
	if zero {
		return nil, errors.New("identity: the fingerprint key is all zeros")
	}
	return &Fingerprinter{mac: newMAC(key)}, nil
}

// Fingerprint returns the fingerprint of an identifier. The value must already be normalised
// (by Normalize or Registry.Normalize for tag): fingerprints of two spellings of one
// identifier differ.
func (f *Fingerprinter) Fingerprint(tag Tag, normalized string) Fingerprint {
	f.msg = append(f.msg[:0], tag...)
	f.msg = append(f.msg, 0)
	f.msg = append(f.msg, normalized...)
	var fp Fingerprint
	f.mac.sum(fp[:], f.msg)
	return fp
}

// Clone returns a Fingerprinter with the same key and its own state, for use by another
// goroutine. It copies the keyed HMAC state rather than deriving it from the key again.
func (f *Fingerprinter) Clone() *Fingerprinter {
	return &Fingerprinter{mac: f.mac.clone()}
}
