package localblob_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cleanroom-oss/cleanroom/localblob"
)

// TestSymlinkedRoot: a root that is a symbolic link to the real directory (a shared blob
// directory linked into several data directories) lists what is stored through it.
func TestSymlinkedRoot(t *testing.T) {
	dir := t.TempDir()
	real, link := filepath.Join(dir, "shared"), filepath.Join(dir, "data", "blobs")
	os.MkdirAll(real, 0o700)
	os.MkdirAll(filepath.Dir(link), 0o700)
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	d, err := localblob.Open(link)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Put(t.Context(), "edge/p/manifest.json", strings.NewReader("{}")); err != nil {
		t.Fatal(err)
	}
	keys, err := d.List(t.Context(), "edge/")
	if err != nil || !slices.Equal(keys, []string{"edge/p/manifest.json"}) {
		t.Fatalf("List through the link: %v %v", keys, err)
	}
}
