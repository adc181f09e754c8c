package pubsync

import "github.com/cleanroom-oss/cleanroom/identity"

// emptySHA256 is the hex SHA-256 digest of the empty string, which identity rejects.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// lowerHex[c] is 1 for the lowercase hexadecimal digits.
var lowerHex = func() (t [256]byte) {
	for _, c := range "0123456789abcdef" {
		t[c] = 1
	}
	return t
}()

// canonical reports whether v is already in identity's canonical form for tag, so that
// identity.Normalize would return v unchanged: 64 lowercase hex digits other than the digest of
// the empty string for the SHA-256 tags, a lowercase hyphenated non-zero UUID for MAIDs. It is a
// fast path for the common case, checked with table lookups rather than the data-dependent
// branches that random hex digits defeat; everything else goes through identity.Normalize.
// TestCanonicalAgreesWithIdentity and FuzzCanonical hold it to identity's rules.
func canonical(tag identity.Tag, v []byte) bool {
	switch tag {
	case identity.TagEmailSHA256, identity.TagPhoneSHA256:
		if len(v) != 64 {
			return false
		}
		ok := byte(1)
		for _, c := range v {
			ok &= lowerHex[c]
		}
		return ok == 1 && string(v) != emptySHA256
	case identity.TagMAID:
		if len(v) != 36 || v[8] != '-' || v[13] != '-' || v[18] != '-' || v[23] != '-' {
			return false
		}
		ok, nonzero := byte(1), byte(0)
		for i, c := range v {
			if i == 8 || i == 13 || i == 18 || i == 23 {
				continue
			}
			ok &= lowerHex[c]
			nonzero |= c ^ '0'
		}
		return ok == 1 && nonzero != 0
	}
	return false
}
