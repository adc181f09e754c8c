package localblob_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/localblob"
)

func TestDir(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	d, err := localblob.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := d.Put(ctx, "vaults/a/v1.bin", strings.NewReader("hello")); err != nil || n != 5 {
		t.Fatalf("put: n=%d err=%v", n, err)
	}
	if _, err := d.Put(ctx, "vaults/a/v1.bin", strings.NewReader("hello, again")); err != nil {
		t.Fatal(err)
	}
	rc, err := d.Open(ctx, "vaults/a/v1.bin")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "hello, again" {
		t.Errorf("read %q", b)
	}
	if n, err := d.Stat(ctx, "vaults/a/v1.bin"); err != nil || n != 12 {
		t.Errorf("stat: %d %v", n, err)
	}
	d.Put(ctx, "vaults/b/x", strings.NewReader("x"))
	keys, err := d.List(ctx, "vaults/a/")
	if err != nil || len(keys) != 1 || keys[0] != "vaults/a/v1.bin" {
		t.Errorf("list = %v %v", keys, err)
	}
	if err := d.Delete(ctx, "vaults/a/v1.bin"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Open(ctx, "vaults/a/v1.bin"); !errors.Is(err, cleanroom.ErrBlobNotFound) || cleanroom.ErrorCode(err) != cleanroom.EINTERNAL {
		t.Errorf("open deleted: %v", err)
	}
	if err := d.Delete(ctx, "vaults/a/v1.bin"); err != nil {
		t.Errorf("second delete: %v", err)
	}
	for _, bad := range []string{"", "../x", "a//b", "A/b", "/abs", "a/.hidden"} {
		if _, err := d.Put(ctx, bad, strings.NewReader("x")); err == nil || cleanroom.ErrorCode(err) != cleanroom.EINTERNAL {
			t.Errorf("key %q: err = %v, want an internal error", bad, err)
		}
	}
}

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n > 0 {
		f.n--
		return copy(p, "partial"), nil
	}
	return 0, errors.New("connection reset")
}

// A failed write must leave the previous file intact and no temporary file behind.
func TestPutFailureKeepsOldFile(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	d, _ := localblob.Open(root)
	d.Put(ctx, "k", strings.NewReader("old"))
	if _, err := d.Put(ctx, "k", &failingReader{n: 3}); err == nil {
		t.Fatal("put from a failing reader succeeded")
	}
	b, err := os.ReadFile(filepath.Join(root, "k"))
	if err != nil || string(b) != "old" {
		t.Errorf("old file = %q, %v", b, err)
	}
	entries, _ := os.ReadDir(root)
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
}
