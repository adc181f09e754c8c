package pubsync

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cleanroom-oss/cleanroom/identity"
)

var canonicalTags = []identity.Tag{identity.TagEmailSHA256, identity.TagPhoneSHA256, identity.TagMAID, identity.TagIPAddress}

// checkCanonical fails if canonical accepts a value that identity.Normalize would change or
// reject.
func checkCanonical(t *testing.T, tag identity.Tag, v string) {
	if !canonical(tag, []byte(v)) {
		return
	}
	if norm, err := identity.Normalize(tag, v); err != nil || norm != v {
		t.Fatalf("canonical(%s, %q) but Normalize gives %q, %v", tag, v, norm, err)
	}
}

func TestCanonicalAgreesWithIdentity(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const alphabet = "0123456789abcdefABCDEF-g {}x\x00"
	accepted := 0
	for range 200_000 {
		tag := canonicalTags[r.IntN(len(canonicalTags))]
		var b []byte
		switch r.IntN(3) {
		case 0: // a canonical value, perhaps with one character changed
			if tag == identity.TagMAID {
				b = []byte("3f2504e0-4f89-41d3-9a0c-0305e82c3301")
			} else {
				b = []byte(hash1)
			}
			if r.IntN(2) == 0 {
				b[r.IntN(len(b))] = alphabet[r.IntN(len(alphabet))]
			}
		case 1:
			b = make([]byte, []int{36, 64, 32, 35, 65}[r.IntN(5)])
			for i := range b {
				b[i] = alphabet[r.IntN(len(alphabet))]
			}
		case 2:
			b = []byte(strings.Repeat("0", 64))
			if tag == identity.TagMAID {
				b = []byte("00000000-0000-0000-0000-000000000000")
			}
		}
		if canonical(tag, b) {
			accepted++
		}
		checkCanonical(t, tag, string(b))
	}
	for _, v := range []string{emptySHA256, strings.ToUpper(hash1), " " + hash1} {
		if canonical(identity.TagEmailSHA256, []byte(v)) {
			t.Errorf("canonical(%q)", v)
		}
	}
	if canonical(identity.TagMAID, []byte("00000000-0000-0000-0000-000000000000")) || !canonical(identity.TagMAID, []byte(maid1)) {
		t.Error("MAID fast path")
	}
	if accepted < 1000 {
		t.Errorf("only %d values took the fast path", accepted)
	}
}

func FuzzCanonical(f *testing.F) {
	f.Add(uint8(0), hash1)
	f.Add(uint8(2), maid1)
	f.Add(uint8(1), emptySHA256)
	f.Fuzz(func(t *testing.T, tag uint8, v string) {
		checkCanonical(t, canonicalTags[int(tag)%len(canonicalTags)], v)
	})
}
