package identity_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cleanroom-oss/cleanroom/identity"
)

// testKey is the fingerprint key 0x00, 0x01, ..., 0x1f.
func testKey() []byte {
	key := make([]byte, identity.FingerprintKeySize)
	for i := range key {
		key[i] = byte(i)
	}
	return key
}

func newTestFingerprinter(t testing.TB) *identity.Fingerprinter {
	t.Helper()
	f, err := identity.NewFingerprinter(testKey())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestFingerprintKnownAnswers pins the fingerprint construction: changing it would orphan every
// stored fingerprint. The expected values were computed with
// printf 'TAG\0VALUE' | openssl dgst -sha256 -mac HMAC -macopt hexkey:000102...1f
func TestFingerprintKnownAnswers(t *testing.T) {
	tests := []struct {
		tag   identity.Tag
		value string
		want  string
	}{
		{identity.TagEmailSHA256, testEmailSHA256, "89123c7b06e72fcdfa2f8a0120d4567b"},
		{identity.TagMAID, "6d92078a-8246-4ba4-ae5b-76104861e7dc", "3cd0b65429f59cc392503bd3981910ad"},
	}
	f := newTestFingerprinter(t)
	for _, tt := range tests {
		if got := f.Fingerprint(tt.tag, tt.value).String(); got != tt.want {
			t.Errorf("Fingerprint(%s, %q) = %s, want %s", tt.tag, tt.value, got, tt.want)
		}
	}
}

func TestFingerprintMatchesHMAC(t *testing.T) {
	f := newTestFingerprinter(t)
	values := []struct {
		tag   identity.Tag
		value string
	}{
		{identity.TagIPAddress, "203.0.113.7"},
		{identity.TagAppNexus, "8342967431847295012"},
		{"bridge_id", ""},
		{"bridge_id", strings.Repeat("x", identity.MaxValueLength)}, // several SHA-256 blocks
		{identity.TagIPAddress, "2001:db8::7"},                      // after a longer message
	}
	for _, v := range values {
		mac := hmac.New(sha256.New, testKey())
		mac.Write([]byte(string(v.tag) + "\x00" + v.value))
		want := mac.Sum(nil)[:16]
		if got := f.Fingerprint(v.tag, v.value); !bytes.Equal(got[:], want) {
			t.Errorf("Fingerprint(%s, %q) = %x, want %x", v.tag, v.value, got, want)
		}
	}
}

func TestFingerprintSeparatesTagsAndKeys(t *testing.T) {
	f := newTestFingerprinter(t)
	otherKey := testKey()
	otherKey[0] ^= 1
	g, err := identity.NewFingerprinter(otherKey)
	if err != nil {
		t.Fatal(err)
	}
	const value = "6d92078a-8246-4ba4-ae5b-76104861e7dc"
	a := f.Fingerprint(identity.TagMAID, value)
	if b := f.Fingerprint("bridge_id", value); a == b {
		t.Error("the same value under two tags has the same fingerprint")
	}
	if b := g.Fingerprint(identity.TagMAID, value); a == b {
		t.Error("the same value under two keys has the same fingerprint")
	}
	// The 0x00 separator keeps tag and value apart: "ab"+"c" differs from "a"+"bc".
	if f.Fingerprint("ab", "c") == f.Fingerprint("a", "bc") {
		t.Error("moving a byte between tag and value does not change the fingerprint")
	}
}

func TestNewFingerprinterRejectsBadKeys(t *testing.T) {
	for _, key := range [][]byte{nil, make([]byte, 16), make([]byte, 33), make([]byte, 32)} {
		if _, err := identity.NewFingerprinter(key); err == nil {
			t.Errorf("NewFingerprinter(%d bytes %x...) succeeded", len(key), key[:min(len(key), 4)])
		}
	}
}

func TestFingerprinterCloneConcurrent(t *testing.T) {
	f := newTestFingerprinter(t)
	values := make([]string, 1000)
	want := make([]identity.Fingerprint, len(values))
	for i := range values {
		values[i] = fmt.Sprintf("%d", i+1)
		want[i] = f.Fingerprint(identity.TagAppNexus, values[i])
	}
	var wg sync.WaitGroup
	for range 4 {
		clone := f.Clone()
		wg.Go(func() {
			for i, v := range values {
				if got := clone.Fingerprint(identity.TagAppNexus, v); got != want[i] {
					t.Errorf("clone: Fingerprint(%q) = %s, want %s", v, got, want[i])
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestFingerprintAllocations(t *testing.T) {
	f := newTestFingerprinter(t)
	allocs := testing.AllocsPerRun(1000, func() {
		f.Fingerprint(identity.TagEmailSHA256, testEmailSHA256)
	})
	if allocs != 0 {
		t.Errorf("Fingerprint: %v allocations per call, want 0", allocs)
	}
}

func TestFingerprintOrder(t *testing.T) {
	fp := func(s string) identity.Fingerprint {
		var f identity.Fingerprint
		if n, err := hex.Decode(f[:], []byte(s)); err != nil || n != len(f) {
			t.Fatalf("bad test fingerprint %q", s)
		}
		return f
	}
	sorted := []identity.Fingerprint{
		fp("00000000000000000000000000000000"),
		fp("00000000000000000000000000000001"),
		fp("000000000000000000000000000000ff"),
		fp("00000000000000010000000000000000"),
		fp("7fffffffffffffffffffffffffffffff"),
		fp("80000000000000000000000000000000"),
		fp("ffffffffffffffffffffffffffffffff"),
	}
	for i, a := range sorted {
		for j, b := range sorted {
			want := 0
			switch {
			case i < j:
				want = -1
			case i > j:
				want = 1
			}
			if got := a.Compare(b); got != want {
				t.Errorf("%s.Compare(%s) = %d, want %d", a, b, got, want)
			}
			if got := a.Less(b); got != (i < j) {
				t.Errorf("%s.Less(%s) = %v, want %v", a, b, got, i < j)
			}
			if got, want := a.Compare(b), bytes.Compare(a[:], b[:]); got != want {
				t.Errorf("%s.Compare(%s) = %d, bytes.Compare = %d", a, b, got, want)
			}
		}
	}
	shuffled := slices.Clone(sorted)
	slices.Reverse(shuffled)
	slices.SortFunc(shuffled, identity.Fingerprint.Compare)
	if !slices.Equal(shuffled, sorted) {
		t.Errorf("sorted with Compare: %v", shuffled)
	}
}

func TestFingerprintIsRedactedInLogs(t *testing.T) {
	f := newTestFingerprinter(t)
	fp := f.Fingerprint(identity.TagMAID, "6d92078a-8246-4ba4-ae5b-76104861e7dc")
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("matched", "fingerprint", fp)
	if strings.Contains(buf.String(), fp.String()) || !strings.Contains(buf.String(), "redacted") {
		t.Errorf("log line %q shows the fingerprint", buf.String())
	}
}

func BenchmarkFingerprint(b *testing.B) {
	f := newTestFingerprinter(b)
	b.ReportAllocs()
	for b.Loop() {
		f.Fingerprint(identity.TagEmailSHA256, testEmailSHA256)
	}
}

func BenchmarkFingerprinterClone(b *testing.B) {
	f := newTestFingerprinter(b)
	b.ReportAllocs()
	for b.Loop() {
		f.Clone()
	}
}
