package ingest

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/cleanroom-oss/cleanroom/identity"
)

// TestCanonicalDigest holds the fast path to identity.Normalize's answer.
func TestCanonicalDigest(t *testing.T) {
	sum := sha256.Sum256([]byte("a@example.com"))
	digest := hex.EncodeToString(sum[:])
	cases := []string{digest, strings.ToUpper(digest), emptySHA256Hex, digest[:63], digest + "0", " " + digest[1:]}
	for i := range 64 {
		for _, c := range []byte{'/', ':', '`', 'g', 'A', 'F', '0', '9', 'a', 'f', 0xff, 0x80, 0} {
			b := []byte(digest)
			b[i] = c
			cases = append(cases, string(b))
		}
	}
	for _, v := range cases {
		for _, tag := range []identity.Tag{identity.TagEmailSHA256, identity.TagPhoneSHA256, identity.TagMAID} {
			checkCanonicalDigest(t, tag, v)
		}
	}
}

// TestCanonicalMAID holds the MAID fast path to identity.Normalize's answer.
func TestCanonicalMAID(t *testing.T) {
	maid := "6d92078a-8246-4ba4-ae5b-76104861e7dc"
	cases := []string{maid, strings.ToUpper(maid), "00000000-0000-0000-0000-000000000000",
		"00000000-0000-0000-0000-000000000001", "10000000-0000-0000-0000-000000000000",
		"00000000-0000-0000-0001-000000000000", "{" + maid + "}", strings.ReplaceAll(maid, "-", ""), maid[:35], maid + "0"}
	for i := range 36 {
		for _, c := range []byte{'-', '/', ':', '`', 'g', 'A', 'F', '0', '9', 'a', 'f', 0xff, 0} {
			b := []byte(maid)
			b[i] = c
			cases = append(cases, string(b))
		}
	}
	for _, v := range cases {
		for _, tag := range []identity.Tag{identity.TagMAID, identity.TagEmailSHA256, identity.TagIPAddress} {
			checkCanonicalDigest(t, tag, v)
		}
	}
}

func FuzzCanonical(f *testing.F) {
	f.Add(emptySHA256Hex, false)
	f.Add("973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b", false)
	f.Add("6d92078a-8246-4ba4-ae5b-76104861e7dc", true)
	f.Fuzz(func(t *testing.T, v string, maid bool) {
		tag := identity.TagEmailSHA256
		if maid {
			tag = identity.TagMAID
		}
		checkCanonicalDigest(t, tag, v)
	})
}

// checkCanonicalDigest checks that canonical accepts v for tag exactly when identity.Normalize
// returns it unchanged (for the lengths the fast paths handle).
func checkCanonicalDigest(t *testing.T, tag identity.Tag, v string) {
	t.Helper()
	norm, err := identity.Normalize(tag, v)
	want := err == nil && norm == v && (len(v) == 64 && tag != identity.TagMAID || len(v) == 36 && tag == identity.TagMAID)
	if got := canonical(tag, []byte(v)); got != want {
		t.Errorf("canonical(%s, %q) = %v, want %v", tag, v, got, want)
	}
}
