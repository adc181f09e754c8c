package vault_test

import (
	"context"
	"slices"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/google/go-cmp/cmp"

	"github.com/cleanroom-oss/cleanroom/identity"
	"github.com/cleanroom-oss/cleanroom/keyring"
	"github.com/cleanroom-oss/cleanroom/localblob"
	"github.com/cleanroom-oss/cleanroom/vault"
)

func fp(b ...byte) identity.Fingerprint {
	var f identity.Fingerprint
	copy(f[:], b)
	return f
}

// samplePublisher is a small valid version: 6 ordinals, ordinal 4 deleted.
func samplePublisher() *vault.PublisherVersion {
	return &vault.PublisherVersion{
		Users:    6,
		UserKeys: []uint64{3, 10, 11, 500, 1 << 63},
		UserOrds: []uint32{2, 0, 5, 1, 3},
		Tags:     []identity.Tag{"crm_id", identity.TagEmailSHA256, identity.TagMAID},
		TagStart: []uint64{0, 1, 4, 6},
		FPs:      []identity.Fingerprint{fp(9), fp(1), fp(1), fp(2, 5), fp(0), fp(0xff, 1)},
		Ords:     []uint32{5, 0, 3, 1, 2, 2},
		Country:  []uint16{vault.PackCountry("US"), 0, vault.PackCountry("GB"), 0, 0, vault.PackCountry("FR")},
		Cohorts: []vault.CohortInfo{
			{ID: "c1", Name: "One"}, {ID: "c2", Name: "Two", IABID: 178, Standard: true}, {ID: "empty", Name: "Nobody"},
		},
		Members:             []*roaring.Bitmap{roaring.BitmapOf(0, 1, 5), roaring.BitmapOf(2), roaring.New()},
		Deleted:             roaring.BitmapOf(4),
		FingerprintKeyCheck: 77,
		UserKeyCheck:        1<<64 - 1,
	}
}

var bitmapsEqual = cmp.Comparer(func(a, b *roaring.Bitmap) bool { return a.Equals(b) })

func TestPublisherRoundTrip(t *testing.T) {
	ctx := context.Background()
	blobs, err := localblob.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	key := keyring.NewDataKey()
	v := samplePublisher()
	if err := v.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Write(ctx, blobs, "pub/1", key); err != nil {
		t.Fatal(err)
	}
	got, err := vault.OpenPublisher(ctx, blobs, "pub/1", key, 0)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(v, got, bitmapsEqual); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if _, err := vault.Open(ctx, blobs, "pub/1", key, vault.KindAdvertiser, 1); err == nil {
		t.Error("opened a publisher file as another kind")
	}
	if _, err := vault.OpenPublisher(ctx, blobs, "pub/1", keyring.NewDataKey(), 1); err == nil {
		t.Error("opened with the wrong key")
	}
	// An empty version, with a nil Deleted, round-trips too.
	empty := &vault.PublisherVersion{TagStart: []uint64{0}}
	if _, err := empty.Write(ctx, blobs, "pub/2", key); err != nil {
		t.Fatal(err)
	}
	got, err = vault.OpenPublisher(ctx, blobs, "pub/2", key, 1)
	if err != nil || got.Users != 0 || !got.Deleted.IsEmpty() || len(got.FPs) != 0 {
		t.Errorf("empty version: %+v, %v", got, err)
	}
}

func TestPublisherLookups(t *testing.T) {
	v := samplePublisher()
	for _, tc := range []struct {
		tag  identity.Tag
		fp   identity.Fingerprint
		ords []uint32
	}{
		{identity.TagEmailSHA256, fp(1), []uint32{0, 3}},
		{identity.TagEmailSHA256, fp(2, 5), []uint32{1}},
		{identity.TagEmailSHA256, fp(9), nil}, // crm_id's fingerprint, not email's
		{"crm_id", fp(9), []uint32{5}},
		{identity.TagMAID, fp(0xff, 1), []uint32{2}},
		{identity.TagMAID, fp(0xff), nil},
		{identity.TagIPAddress, fp(1), nil},
	} {
		got := v.LookupAll(tc.tag, tc.fp)
		if !slices.Equal(got, tc.ords) {
			t.Errorf("LookupAll(%s, %v) = %v, want %v", tc.tag, tc.fp, got, tc.ords)
		}
		o, ok := v.Lookup(tc.tag, tc.fp)
		if ok != (len(tc.ords) > 0) || ok && o != tc.ords[0] {
			t.Errorf("Lookup(%s, %v) = %d, %v", tc.tag, tc.fp, o, ok)
		}
	}
	if o, ok := v.FindUser(11); !ok || o != 5 {
		t.Errorf("FindUser(11) = %d %v", o, ok)
	}
	if _, ok := v.FindUser(12); ok {
		t.Error("FindUser(12) found")
	}
	if i, ok := v.CohortIndex("c2"); !ok || i != 1 {
		t.Errorf("CohortIndex = %d %v", i, ok)
	}
	if s, e, ok := v.TagRange(identity.TagEmailSHA256); !ok || s != 1 || e != 4 {
		t.Errorf("TagRange = %d %d %v", s, e, ok)
	}
	if v.Live() != 5 || v.Rows() != 6 {
		t.Errorf("live %d rows %d", v.Live(), v.Rows())
	}
}

func TestCountryPacking(t *testing.T) {
	for _, c := range []string{"US", "GB", "ZW", "AA"} {
		if got := vault.CountryCode(vault.PackCountry(c)); got != c {
			t.Errorf("%s -> %q", c, got)
		}
	}
	for _, c := range []string{"", "us", "USA", "U1", "U"} {
		if p := vault.PackCountry(c); p != 0 {
			t.Errorf("PackCountry(%q) = %d", c, p)
		}
	}
	if vault.CountryCode(0) != "" || vault.CountryCode(0x4131) != "" {
		t.Error("CountryCode of a non-code")
	}
}

func TestPublisherValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(v *vault.PublisherVersion)
	}{
		{"tags unsorted", func(v *vault.PublisherVersion) { v.Tags[0], v.Tags[1] = v.Tags[1], v.Tags[0] }},
		{"empty tag", func(v *vault.PublisherVersion) { v.Tags[0] = "" }},
		{"tag start short", func(v *vault.PublisherVersion) { v.TagStart = v.TagStart[:3] }},
		{"tag start end", func(v *vault.PublisherVersion) { v.TagStart[3] = 5 }},
		{"tag start decreasing", func(v *vault.PublisherVersion) { v.TagStart[1] = 5 }},
		{"ords length", func(v *vault.PublisherVersion) { v.Ords = v.Ords[:5] }},
		{"fps unsorted", func(v *vault.PublisherVersion) { v.FPs[1], v.FPs[3] = v.FPs[3], v.FPs[1] }},
		{"pair repeated", func(v *vault.PublisherVersion) { v.Ords[2] = 0 }},
		{"ords unsorted within fp", func(v *vault.PublisherVersion) { v.Ords[1], v.Ords[2] = 3, 0 }},
		{"ordinal too big", func(v *vault.PublisherVersion) { v.Ords[0] = 6 }},
		{"deleted ordinal indexed", func(v *vault.PublisherVersion) { v.Ords[0] = 4 }},
		{"user keys unsorted", func(v *vault.PublisherVersion) { v.UserKeys[0], v.UserKeys[1] = 10, 3 }},
		{"user key repeated", func(v *vault.PublisherVersion) { v.UserKeys[1] = 3 }},
		{"user ords length", func(v *vault.PublisherVersion) { v.UserOrds = v.UserOrds[:4] }},
		{"user ordinal repeated", func(v *vault.PublisherVersion) { v.UserOrds[1] = 2 }},
		{"user ordinal deleted", func(v *vault.PublisherVersion) { v.UserOrds[1] = 4 }},
		{"user missing", func(v *vault.PublisherVersion) { v.UserKeys, v.UserOrds = v.UserKeys[:4], v.UserOrds[:4] }},
		{"country length", func(v *vault.PublisherVersion) { v.Country = v.Country[:5] }},
		{"country malformed", func(v *vault.PublisherVersion) { v.Country[1] = 7 }},
		{"deleted has country", func(v *vault.PublisherVersion) { v.Country[4] = vault.PackCountry("US") }},
		{"members count", func(v *vault.PublisherVersion) { v.Members = v.Members[:2] }},
		{"nil bitmap", func(v *vault.PublisherVersion) { v.Members[2] = nil }},
		{"member too big", func(v *vault.PublisherVersion) { v.Members[0].Add(6) }},
		{"member deleted", func(v *vault.PublisherVersion) { v.Members[1].Add(4) }},
		{"deleted too big", func(v *vault.PublisherVersion) { v.Deleted.Add(9) }},
		{"cohort ID repeated", func(v *vault.PublisherVersion) { v.Cohorts[1].ID = "c1" }},
		{"cohort ID empty", func(v *vault.PublisherVersion) { v.Cohorts[0].ID = "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := samplePublisher()
			tc.mutate(v)
			if err := v.Validate(); err == nil {
				t.Error("Validate accepted a broken version")
			}
			if _, err := v.Write(context.Background(), nil, "x", nil); err == nil {
				t.Error("Write accepted a broken version")
			}
		})
	}
}
