package vault_test

import (
	"context"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/google/go-cmp/cmp"

	"github.com/cleanroom-oss/cleanroom/keyring"
	"github.com/cleanroom-oss/cleanroom/localblob"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// withAttributes is samplePublisher with two engagement attributes.
func withAttributes() *vault.PublisherVersion {
	v := samplePublisher()
	v.Attributes = []vault.AttributeInfo{
		{Name: "page_views_30d", Kind: vault.AttributeNumber, Values: []string{"0", "1-4"}},
		{Name: "iab_categories", Kind: vault.AttributeList, Values: []string{"IAB1", "IAB2", "IAB3"}},
	}
	v.AttributeMembers = [][]*roaring.Bitmap{
		{roaring.BitmapOf(0, 1), roaring.BitmapOf(5)},
		{roaring.BitmapOf(0, 2, 3), roaring.New(), roaring.BitmapOf(1)},
	}
	return v
}

func TestPublisherAttributesRoundTrip(t *testing.T) {
	ctx := context.Background()
	blobs, err := localblob.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	key := keyring.NewDataKey()
	v := withAttributes()
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
	// A version written without attributes (as before they existed) reads with none.
	if _, err := samplePublisher().Write(ctx, blobs, "pub/2", key); err != nil {
		t.Fatal(err)
	}
	if got, err := vault.OpenPublisher(ctx, blobs, "pub/2", key, 0); err != nil || got.Attributes != nil || got.AttributeMembers != nil {
		t.Errorf("version without attributes: %v %v, %v", got.Attributes, got.AttributeMembers, err)
	}
}

func TestPublisherAttributesValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(v *vault.PublisherVersion)
	}{
		{"bitmap lists", func(v *vault.PublisherVersion) { v.AttributeMembers = v.AttributeMembers[:1] }},
		{"bitmaps per value", func(v *vault.PublisherVersion) { v.AttributeMembers[1] = v.AttributeMembers[1][:2] }},
		{"name repeated", func(v *vault.PublisherVersion) { v.Attributes[1].Name = "page_views_30d" }},
		{"name empty", func(v *vault.PublisherVersion) { v.Attributes[0].Name = "" }},
		{"kind", func(v *vault.PublisherVersion) { v.Attributes[0].Kind = "text" }},
		{"value repeated", func(v *vault.PublisherVersion) { v.Attributes[1].Values[2] = "IAB1" }},
		{"nil bitmap", func(v *vault.PublisherVersion) { v.AttributeMembers[0][1] = nil }},
		{"ordinal too big", func(v *vault.PublisherVersion) { v.AttributeMembers[0][0].Add(6) }},
		{"deleted member", func(v *vault.PublisherVersion) { v.AttributeMembers[1][1].Add(4) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := withAttributes()
			if err := v.Validate(); err != nil {
				t.Fatal(err)
			}
			tc.mutate(v)
			if err := v.Validate(); err == nil {
				t.Error("Validate accepted a broken version")
			}
		})
	}
}
