package pubsync

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/cleanroom-oss/cleanroom/identity"
	"github.com/cleanroom-oss/cleanroom/vault"
)

var (
	testFPKey   = bytes.Repeat([]byte{7}, 32)
	testUserKey = bytes.Repeat([]byte{9}, 32)
)

// testOptions returns options with fixed keys and small blocks, so that small inputs still
// span several blocks.
func testOptions() Options {
	return Options{FingerprintKey: testFPKey, UserKey: testUserKey, MaxLineBytes: 1024, blockSize: 2048, MaxErrorRate: 1}
}

// testTaxonomy has cohorts c1..c5; c5 is standard.
func testTaxonomy(t testing.TB) *Taxonomy {
	t.Helper()
	tax, errs, err := ParseTaxonomy(strings.NewReader("cohort_id,name,iab_id,standard\n" +
		"c1,Sports fans,,false\nc2,Travellers,,\nc3,\"Cooks, amateur\",,false\nc4,Gamers,,false\nc5,Auto intenders,178,true\n"))
	if err != nil {
		t.Fatal(err, errs)
	}
	return tax
}

// syncString runs Sync on s and validates the version.
func syncString(t testing.TB, s string, tax *Taxonomy, opt Options) (*vault.PublisherVersion, *Report, error) {
	t.Helper()
	v, rep, err := Sync(context.Background(), strings.NewReader(s), tax, opt)
	if v != nil {
		if verr := v.Validate(); verr != nil {
			t.Fatalf("Sync returned an invalid version: %v", verr)
		}
	}
	return v, rep, err
}

// mustSync is syncString that fails the test on error.
func mustSync(t testing.TB, s string, tax *Taxonomy, opt Options) (*vault.PublisherVersion, *Report) {
	t.Helper()
	v, rep, err := syncString(t, s, tax, opt)
	if err != nil {
		t.Fatalf("Sync: %v (report %+v)", err, rep)
	}
	return v, rep
}

// fingerprint returns the fingerprint of a value under the test key.
func fingerprint(t testing.TB, tag identity.Tag, value string) identity.Fingerprint {
	t.Helper()
	fp, err := identity.NewFingerprinter(testFPKey)
	if err != nil {
		t.Fatal(err)
	}
	norm, err := identity.Normalize(tag, value)
	if err != nil {
		t.Fatalf("normalise %s: %v", tag, err)
	}
	return fp.Fingerprint(tag, norm)
}

// userOrd returns the ordinal of a user ID in v.
func userOrd(t testing.TB, v *vault.PublisherVersion, id string) (uint32, bool) {
	t.Helper()
	h, err := NewUserHasher(testUserKey)
	if err != nil {
		t.Fatal(err)
	}
	return v.FindUser(h.Hash(id))
}

// versionCmp compares versions field by field, bitmaps by content.
var versionCmp = []cmp.Option{
	cmp.Comparer(func(a, b *roaring.Bitmap) bool {
		if a == nil || b == nil {
			return a == b || a == nil && b.IsEmpty() || b == nil && a.IsEmpty()
		}
		return a.Equals(b)
	}),
	cmpopts.EquateEmpty(),
}

// members returns the ordinals of cohort id.
func members(t testing.TB, v *vault.PublisherVersion, id string) []uint32 {
	t.Helper()
	i, ok := v.CohortIndex(id)
	if !ok {
		t.Fatalf("no cohort %s", id)
	}
	return v.Members[i].ToArray()
}

// errorLines returns the lines of the report's errors with the given reason.
func errorLines(rep *Report, reason string) []int64 {
	var out []int64
	for _, e := range rep.Errors {
		if e.Reason == reason {
			out = append(out, e.Line)
		}
	}
	return out
}

// failingReader returns s, then err.
func failingReader(s string, err error) io.Reader {
	return io.MultiReader(strings.NewReader(s), errReader{err})
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
