package vault_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/identity"
	"github.com/cleanroom-oss/cleanroom/keyring"
	"github.com/cleanroom-oss/cleanroom/localblob"
	"github.com/cleanroom-oss/cleanroom/vault"
)

func bfp(b byte) identity.Fingerprint { return identity.Fingerprint{0: b, 15: b} }

// testBridge maps email 1 -> maid 10, 11; email 2 -> maid 12; maid 10 -> appnexus 20.
func testBridge() *vault.BridgeVersion {
	emailMAID := vault.BridgePair{From: identity.TagEmailSHA256, To: identity.TagMAID}
	maidXandr := vault.BridgePair{From: identity.TagMAID, To: identity.TagAppNexus}
	return vault.NewBridgeVersion(map[vault.BridgePair][]vault.BridgeLink{
		maidXandr: {{bfp(10), bfp(20)}},
		emailMAID: {{bfp(2), bfp(12)}, {bfp(1), bfp(11)}, {bfp(1), bfp(10)}, {bfp(1), bfp(10)}},
		{From: identity.TagIPAddress, To: identity.TagMAID}: nil,
	})
}

func TestNewBridgeVersion(t *testing.T) {
	v := testBridge()
	want := &vault.BridgeVersion{
		Pairs:     []vault.BridgePair{{identity.TagEmailSHA256, identity.TagMAID}, {identity.TagMAID, identity.TagAppNexus}},
		PairStart: []uint64{0, 3, 4},
		From:      []identity.Fingerprint{bfp(1), bfp(1), bfp(2), bfp(10)},
		To:        []identity.Fingerprint{bfp(10), bfp(11), bfp(12), bfp(20)},
	}
	if diff := cmp.Diff(want, v); diff != "" {
		t.Errorf("built version (-want +got):\n%s", diff)
	}
	if err := v.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestBridgeValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(v *vault.BridgeVersion)
	}{
		{"pairs unsorted", func(v *vault.BridgeVersion) { v.Pairs[0], v.Pairs[1] = v.Pairs[1], v.Pairs[0] }},
		{"pairs repeated", func(v *vault.BridgeVersion) { v.Pairs[1] = v.Pairs[0] }},
		{"pair to itself", func(v *vault.BridgeVersion) { v.Pairs[0].To = v.Pairs[0].From }},
		{"empty tag", func(v *vault.BridgeVersion) { v.Pairs[0].From = "" }},
		{"pair start short", func(v *vault.BridgeVersion) { v.PairStart = v.PairStart[:2] }},
		{"pair start not from 0", func(v *vault.BridgeVersion) { v.PairStart[0] = 1 }},
		{"pair start not to the end", func(v *vault.BridgeVersion) { v.PairStart[2] = 3 }},
		{"pair start decreasing", func(v *vault.BridgeVersion) { v.PairStart[1] = 5 }},
		{"to shorter", func(v *vault.BridgeVersion) { v.To = v.To[:3] }},
		{"from unsorted", func(v *vault.BridgeVersion) { v.From[1], v.From[2] = v.From[2], v.From[1] }},
		{"to unsorted within from", func(v *vault.BridgeVersion) { v.To[0], v.To[1] = v.To[1], v.To[0] }},
		{"link repeated", func(v *vault.BridgeVersion) { v.To[1] = v.To[0] }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := testBridge()
			tt.change(v)
			if err := v.Validate(); err == nil {
				t.Error("Validate accepted a broken version")
			}
		})
	}
	// Rows of different pairs are not compared: the same link in two pairs is fine.
	v := testBridge()
	v.From[3], v.To[3] = v.From[2], v.To[2]
	if err := v.Validate(); err != nil {
		t.Errorf("a link repeated in another pair: %v", err)
	}
}

func TestBridgeLookup(t *testing.T) {
	v := testBridge()
	for _, tt := range []struct {
		name     string
		from, to identity.Tag
		fp       identity.Fingerprint
		want     []identity.Fingerprint
	}{
		{"two targets", identity.TagEmailSHA256, identity.TagMAID, bfp(1), []identity.Fingerprint{bfp(10), bfp(11)}},
		{"one target", identity.TagEmailSHA256, identity.TagMAID, bfp(2), []identity.Fingerprint{bfp(12)}},
		{"other pair", identity.TagMAID, identity.TagAppNexus, bfp(10), []identity.Fingerprint{bfp(20)}},
		{"unknown source", identity.TagEmailSHA256, identity.TagMAID, bfp(3), nil},
		{"source of another pair", identity.TagEmailSHA256, identity.TagMAID, bfp(10), nil},
		{"absent pair", identity.TagIPAddress, identity.TagMAID, bfp(1), nil},
		{"reverse direction", identity.TagMAID, identity.TagEmailSHA256, bfp(10), nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := v.Lookup(tt.from, tt.to, tt.fp); !cmp.Equal(got, tt.want) {
				t.Errorf("Lookup = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBridgeWriteOpen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	blobs, err := localblob.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	key := keyring.NewDataKey()
	for name, v := range map[string]*vault.BridgeVersion{"b/full": testBridge(), "b/empty": vault.NewBridgeVersion(nil)} {
		if _, err := v.Write(ctx, blobs, name, key); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := vault.OpenBridge(ctx, blobs, name, key, 1)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if diff := cmp.Diff(v, got); diff != "" {
			t.Errorf("%s: round trip (-wrote +read):\n%s", name, diff)
		}
	}
	raw, err := os.ReadFile(filepath.Join(dir, "b", "full"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("email_sha256")) {
		t.Error("plaintext in the stored file")
	}
	broken := testBridge()
	broken.To[1] = broken.To[0]
	if _, err := broken.Write(ctx, blobs, "b/broken", key); err == nil {
		t.Error("wrote a broken version")
	}
	if _, err := vault.OpenBridge(ctx, blobs, "b/full", keyring.NewDataKey(), 1); err == nil {
		t.Error("opened with the wrong key")
	}
	if _, err := vault.OpenBridge(ctx, blobs, "b/none", key, 1); !errors.Is(err, cleanroom.ErrBlobNotFound) {
		t.Errorf("missing version: %v", err)
	}
	if _, err := vault.OpenAdvertiser(ctx, blobs, "b/full", key, 1); err == nil {
		t.Error("opened a bridge file as an advertiser version")
	}
}
