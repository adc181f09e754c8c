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

func FuzzCanonicalDigest(f *testing.F) {
	f.Add(emptySHA256Hex)
	f.Add("973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b")
	f.Fuzz(func(t *testing.T, v string) { checkCanonicalDigest(t, identity.TagEmailSHA256, v) })
}

func checkCanonicalDigest(t *testing.T, tag identity.Tag, v string) {
	t.Helper()
	norm, err := identity.Normalize(tag, v)
	want := err == nil && norm == v && len(v) == 64 && tag != identity.TagMAID
	if got := canonicalDigest(tag, []byte(v)); got != want {
		t.Errorf("canonicalDigest(%s, %q) = %v, want %v", tag, v, got, want)
	}
}
