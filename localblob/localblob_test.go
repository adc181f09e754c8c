package localblob_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/blobtest"
	"github.com/cleanroom-oss/cleanroom/localblob"
)

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) cleanroom.BlobStore {
		d, err := localblob.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

// A failed write leaves no temporary file behind.
func TestFailedPutLeavesNoTemporaryFile(t *testing.T) {
	root := t.TempDir()
	d, _ := localblob.Open(root)
	d.Put(t.Context(), "k", strings.NewReader("old"))
	if _, err := d.Put(t.Context(), "k", iotestErrReader{}); err == nil {
		t.Fatal("put from a failing reader succeeded")
	}
	entries, _ := os.ReadDir(root)
	if len(entries) != 1 {
		t.Errorf("files left: %v", entries)
	}
}

type iotestErrReader struct{}

func (iotestErrReader) Read([]byte) (int, error) { return 0, os.ErrClosed }

// Temporary files that a crash left half-written are removed when the store opens; a write in
// progress (a fresh temporary file) is not.
func TestOpenRemovesStaleTemporaryFiles(t *testing.T) {
	root := t.TempDir()
	d, err := localblob.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	d.Put(t.Context(), "vaults/a/v1", strings.NewReader("kept"))
	stale := []string{filepath.Join(root, ".tmp-123"), filepath.Join(root, "vaults", "a", ".tmp-456"), filepath.Join(root, "uploads", "u", ".tmp-789")}
	fresh := filepath.Join(root, "vaults", "a", ".tmp-now")
	old := time.Now().Add(-localblob.StaleTemp - time.Minute)
	for _, p := range append(stale, fresh) {
		os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.WriteFile(p, []byte("half a file"), 0o600); err != nil {
			t.Fatal(err)
		}
		if p != fresh {
			os.Chtimes(p, old, old)
		}
	}
	if _, err := localblob.Open(root); err != nil {
		t.Fatal(err)
	}
	for _, p := range stale {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s left after a restart (%v)", p, err)
		}
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a write in progress was removed: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "vaults", "a", "v1")); err != nil || string(b) != "kept" {
		t.Errorf("a stored file: %q %v", b, err)
	}
}
