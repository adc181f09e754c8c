package vault_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/keyring"
	"github.com/cleanroom-oss/cleanroom/localblob"
	"github.com/cleanroom-oss/cleanroom/vault"
)

func TestFileRoundTrip(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	blobs, err := localblob.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	key := keyring.NewDataKey()
	ords := []uint32{7, 1, 1 << 31, 42}
	fps := [][16]byte{{1, 2, 3}, {0xff}}
	odd := []byte("odd length!") // 11 bytes: the next section must still be aligned
	meta := map[string]int{"rows": 4}
	_, err = vault.Write(ctx, blobs, "v/one", key, "test", meta, []vault.Section{
		{Name: "odd", Data: odd}, {Name: "ords", Data: vault.Raw(ords)}, {Name: "fps", Data: vault.Raw(fps)}, {Name: "empty"},
	})
	if err != nil {
		t.Fatal(err)
	}
	f, err := vault.Open(ctx, blobs, "v/one", key, "test", 2)
	if err != nil {
		t.Fatal(err)
	}
	gotOrds, err := vault.View[uint32](f, "ords")
	if err != nil || len(gotOrds) != 4 || gotOrds[2] != 1<<31 || gotOrds[3] != 42 {
		t.Errorf("ords = %v %v", gotOrds, err)
	}
	gotFps, err := vault.View[[16]byte](f, "fps")
	if err != nil || len(gotFps) != 2 || gotFps[0] != fps[0] || gotFps[1] != fps[1] {
		t.Errorf("fps = %v %v", gotFps, err)
	}
	if !bytes.Equal(f.Bytes("odd"), odd) || !f.Has("empty") || f.Has("nope") {
		t.Errorf("sections wrong")
	}
	if _, err := vault.View[uint64](f, "odd"); err == nil {
		t.Error("viewing 11 bytes as uint64s succeeded")
	}
	var m map[string]int
	if err := f.DecodeMeta(&m); err != nil || m["rows"] != 4 {
		t.Errorf("meta = %v %v", m, err)
	}
	if _, err := vault.Open(ctx, blobs, "v/one", key, "other-kind", 1); err == nil {
		t.Error("opened with the wrong kind")
	}
	if _, err := vault.Open(ctx, blobs, "v/one", keyring.NewDataKey(), "test", 1); err == nil {
		t.Error("opened with the wrong key")
	}
	if _, err := vault.Open(ctx, blobs, "v/none", key, "test", 1); !errors.Is(err, cleanroom.ErrBlobNotFound) {
		t.Errorf("missing file: %v", err)
	}
	// Nothing in plaintext on disk.
	raw, _ := os.ReadFile(filepath.Join(dir, "v", "one"))
	if bytes.Contains(raw, odd) || bytes.Contains(raw, []byte("CRVAULT1")) {
		t.Error("plaintext found in the stored file")
	}
}
