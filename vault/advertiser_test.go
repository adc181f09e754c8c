package vault_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/identity"
	"github.com/cleanroom-oss/cleanroom/keyring"
	"github.com/cleanroom-oss/cleanroom/localblob"
	"github.com/cleanroom-oss/cleanroom/sealed"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// testVersion returns a small valid version: two tags, four rows.
func testVersion() *vault.AdvertiserVersion {
	return &vault.AdvertiserVersion{
		Tags:     []identity.Tag{identity.TagEmailSHA256, identity.TagMAID},
		TagStart: []uint32{0, 3, 4},
		FPs:      []identity.Fingerprint{{0x01}, {0x01, 0x02}, {0xff}, {0x01}},
		SegOff:   []uint32{0, 2, 2, 3, 5},
		Segs:     []uint32{0, 2, 1, 0, 1},
		Segments: []string{"s1", "s2", "s3"},
	}
}

func TestAdvertiserValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(v *vault.AdvertiserVersion)
	}{
		{"tags unsorted", func(v *vault.AdvertiserVersion) { v.Tags[0], v.Tags[1] = v.Tags[1], v.Tags[0] }},
		{"tags repeated", func(v *vault.AdvertiserVersion) { v.Tags[1] = v.Tags[0] }},
		{"tag start short", func(v *vault.AdvertiserVersion) { v.TagStart = v.TagStart[:2] }},
		{"tag start not from 0", func(v *vault.AdvertiserVersion) { v.TagStart[0] = 1 }},
		{"tag start not to the end", func(v *vault.AdvertiserVersion) { v.TagStart[2] = 3 }},
		{"tag start decreasing", func(v *vault.AdvertiserVersion) { v.TagStart[1] = 5 }},
		{"fingerprints unsorted", func(v *vault.AdvertiserVersion) { v.FPs[0], v.FPs[1] = v.FPs[1], v.FPs[0] }},
		{"fingerprints repeated", func(v *vault.AdvertiserVersion) { v.FPs[1] = v.FPs[0] }},
		{"seg off short", func(v *vault.AdvertiserVersion) { v.SegOff = v.SegOff[:4] }},
		{"seg off past the end", func(v *vault.AdvertiserVersion) { v.SegOff[4] = 6 }},
		{"seg off decreasing", func(v *vault.AdvertiserVersion) { v.SegOff[2] = 1 }},
		{"segment out of range", func(v *vault.AdvertiserVersion) { v.Segs[1] = 3 }},
		{"segments unsorted", func(v *vault.AdvertiserVersion) { v.Segs[0], v.Segs[1] = 2, 0 }},
		{"segments repeated", func(v *vault.AdvertiserVersion) { v.Segs[4] = 0 }},
		{"segment IDs repeated", func(v *vault.AdvertiserVersion) { v.Segments[2] = "s1" }},
	}
	if err := testVersion().Validate(); err != nil {
		t.Fatalf("valid version: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := testVersion()
			tt.change(v)
			if err := v.Validate(); err == nil {
				t.Error("Validate accepted a broken version")
			}
		})
	}
	// The same fingerprint under two tags is two identifiers.
	v := testVersion()
	v.FPs[3] = v.FPs[0]
	if err := v.Validate(); err != nil {
		t.Errorf("one fingerprint under two tags: %v", err)
	}
}

func TestAdvertiserWriteOpen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	blobs, err := localblob.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	key := keyring.NewDataKey()
	empty := &vault.AdvertiserVersion{Tags: []identity.Tag{}, TagStart: []uint32{0}, FPs: []identity.Fingerprint{},
		SegOff: []uint32{0}, Segs: []uint32{}, Segments: []string{}}
	for name, v := range map[string]*vault.AdvertiserVersion{"v/full": testVersion(), "v/empty": empty} {
		if _, err := v.Write(ctx, blobs, name, key); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := vault.OpenAdvertiser(ctx, blobs, name, key, 2)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if diff := cmp.Diff(v, got); diff != "" {
			t.Errorf("%s: round trip (-wrote +read):\n%s", name, diff)
		}
	}
	v := testVersion()
	if start, end, ok := v.TagRange(identity.TagMAID); !ok || start != 3 || end != 4 {
		t.Errorf("TagRange(maid) = %d, %d, %v", start, end, ok)
	}
	if _, _, ok := v.TagRange(identity.TagIPAddress); ok {
		t.Error("TagRange of an absent tag")
	}
	if got := v.RowSegments(3); !cmp.Equal(got, []uint32{0, 1}) {
		t.Errorf("RowSegments(3) = %v", got)
	}

	// Only fingerprints, segment indices and the tables are stored, and encrypted.
	raw, err := os.ReadFile(filepath.Join(dir, "v", "full"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("email_sha256")) || bytes.Contains(raw, []byte(`"s1"`)) {
		t.Error("plaintext in the stored file")
	}

	broken := testVersion()
	broken.Segs[0] = 9
	if _, err := broken.Write(ctx, blobs, "v/broken", key); err == nil {
		t.Error("wrote a broken version")
	}
	if _, err := vault.OpenAdvertiser(ctx, blobs, "v/full", keyring.NewDataKey(), 1); err == nil {
		t.Error("opened with the wrong key")
	}
	if _, err := vault.OpenAdvertiser(ctx, blobs, "v/none", key, 1); !errors.Is(err, cleanroom.ErrBlobNotFound) {
		t.Errorf("missing version: %v", err)
	}
	if _, err := vault.Write(ctx, blobs, "v/other", key, "other-kind", nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := vault.OpenAdvertiser(ctx, blobs, "v/other", key, 1); err == nil {
		t.Error("opened a file of another kind")
	}
	// A file of the right kind whose arrays break an invariant is refused on open.
	if _, err := vault.Write(ctx, blobs, "v/bad", key, vault.KindAdvertiser, map[string]any{"tags": []string{"maid"}, "rows": 1},
		[]vault.Section{{Name: "tag_start", Data: vault.Raw([]uint32{0, 1})}, {Name: "fps", Data: make([]byte, 16)},
			{Name: "seg_off", Data: vault.Raw([]uint32{0, 1})}, {Name: "segs", Data: vault.Raw([]uint32{0})}}); err != nil {
		t.Fatal(err)
	}
	if _, err := vault.OpenAdvertiser(ctx, blobs, "v/bad", key, 1); err == nil {
		t.Error("opened a version whose row lists a segment the version does not have")
	}
}

// TestAdvertiserStream: a version written section by section is the file AdvertiserVersion.Write
// stores, byte for byte once decrypted; a section that writes the wrong number of bytes stores
// nothing.
func TestAdvertiserStream(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	blobs, err := localblob.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	key := keyring.NewDataKey()
	v := testVersion()
	writer := func(b []byte) func(w io.Writer) error {
		return func(w io.Writer) error {
			for len(b) > 0 { // in small pieces, as a stream would
				n := min(len(b), 3)
				if _, err := w.Write(b[:n]); err != nil {
					return err
				}
				b = b[n:]
			}
			return nil
		}
	}
	s := &vault.AdvertiserStream{Tags: v.Tags, TagStart: v.TagStart, Segments: v.Segments,
		Rows: int64(len(v.FPs)), SegEntries: int64(len(v.Segs)),
		WriteFPs: writer(vault.Raw(v.FPs)), WriteSegOff: writer(vault.Raw(v.SegOff)), WriteSegs: writer(vault.Raw(v.Segs))}
	if _, err := v.Write(ctx, blobs, "whole", key); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(ctx, blobs, "stream", key); err != nil {
		t.Fatal(err)
	}
	plain := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		p, err := sealed.DecryptAll(bytes.NewReader(b), int64(len(b)), key, 1)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if !bytes.Equal(plain("whole"), plain("stream")) {
		t.Error("the streamed file differs")
	}
	if got, err := vault.OpenAdvertiser(ctx, blobs, "stream", key, 1); err != nil || !cmp.Equal(got, v) {
		t.Errorf("opened %v, %v", got, err)
	}
	short := *s
	short.WriteSegs = writer(vault.Raw(v.Segs[1:]))
	if _, err := short.Write(ctx, blobs, "short", key); err == nil {
		t.Error("a section one entry short was written")
	}
	if _, err := blobs.Stat(ctx, "short"); !errors.Is(err, cleanroom.ErrBlobNotFound) {
		t.Errorf("a failed write left a file: %v", err)
	}
	bad := *s
	bad.Rows++
	if _, err := bad.Write(ctx, blobs, "bad", key); err == nil {
		t.Error("sizes that disagree with the tag table were written")
	}
}
