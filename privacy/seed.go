package privacy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
)

// seedDomain separates this package's hashes from any other use of the same key.
const seedDomain = "cleanroom/privacy/seed/v1"

// Seed returns the seed of a release: HMAC-SHA256 under key (a server secret the parties never
// see, such as a keyring purpose key, so nobody can predict the noise) over a canonical encoding
// of parts: the domain string, the number of parts, then each part as its 8-byte big-endian
// length and its bytes. The length prefixes make the encoding injective: ("ab","c") and
// ("a","bc") give different seeds.
//
// The parts are the question and what it reads: the canonical encoding of the query (with the
// connection, the party asking and the kind of number) and the IDs of the data versions it
// evaluates over, in a fixed order. The same question on the same versions gets the same seed, so
// the same noise; a question on a new version gets a new, independent seed. The seed also
// identifies the question to Budget.
func Seed(key []byte, parts ...[]byte) [32]byte {
	mac := hmac.New(sha256.New, key)
	var n [8]byte
	mac.Write([]byte(seedDomain))
	binary.BigEndian.PutUint64(n[:], uint64(len(parts)))
	mac.Write(n[:])
	for _, p := range parts {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		mac.Write(n[:])
		mac.Write(p)
	}
	var out [32]byte
	mac.Sum(out[:0])
	return out
}

// Derive returns an independent seed for one of several numbers released for one question (a
// cell of a table, a point of a curve), named by label. It is Seed keyed by seed.
func Derive(seed [32]byte, label string) [32]byte {
	return Seed(seed[:], []byte("derive"), []byte(label))
}
