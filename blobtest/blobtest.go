// Package blobtest is the conformance suite for cleanroom.BlobStore implementations: localblob,
// memblob and s3blob (against a real S3 server) run it, so that code written against one behaves
// the same on all. It also checks cleanroom.BlobRangeReader, which every store implements.
package blobtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cleanroom-oss/cleanroom"
)

// LargeSize is the size of the suite's large file: more than two parts of a multipart upload
// (s3blob writes in parts of 16 MiB), so a store that writes in parts writes several.
const LargeSize = 40<<20 + 12345

// Open returns a fresh, empty blob store for one test.
type Open func(t *testing.T) cleanroom.BlobStore

// Run runs the suite; every case gets a store of its own.
func Run(t *testing.T, open Open) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.test(t, open(t))
		})
	}
}

func put(t *testing.T, b cleanroom.BlobStore, key, body string) {
	t.Helper()
	n, err := b.Put(t.Context(), key, strings.NewReader(body))
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	if n != int64(len(body)) {
		t.Fatalf("put %s: %d bytes written, want %d", key, n, len(body))
	}
}

func read(t *testing.T, b cleanroom.BlobStore, key string) string {
	t.Helper()
	rc, err := b.Open(t.Context(), key)
	if err != nil {
		t.Fatalf("open %s: %v", key, err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return string(got)
}

func list(t *testing.T, b cleanroom.BlobStore, prefix string) []string {
	t.Helper()
	keys, err := b.List(t.Context(), prefix)
	if err != nil {
		t.Fatalf("list %q: %v", prefix, err)
	}
	if keys == nil {
		keys = []string{}
	}
	return keys
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := cleanroom.ErrorCode(err); got != code {
		t.Fatalf("%s: error %v (code %q), want code %q", what, err, got, code)
	}
}

// wantMissing checks the error for a key with no file: it wraps cleanroom.ErrBlobNotFound and
// is an internal error, never a not-found answer that would name the key to a user.
func wantMissing(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, cleanroom.ErrBlobNotFound) || cleanroom.ErrorCode(err) != cleanroom.EINTERNAL {
		t.Fatalf("%s: error %v, want one wrapping ErrBlobNotFound (an internal error)", what, err)
	}
}

// failingReader yields some bytes, then fails, as a dropped connection does.
type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n > 0 {
		f.n--
		return copy(p, "partial"), nil
	}
	return 0, errors.New("connection reset")
}

// pattern is a reproducible stream of n bytes that is never whole in memory: the byte at offset i
// is derived from i, so any range of it can be checked on its own.
type pattern struct{ off, n int64 }

func patternByte(i int64) byte { return byte(i*7 + i>>11 + i>>19) }

func (p *pattern) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.n-p.off)]
	for j := range b {
		b[j] = patternByte(p.off + int64(j))
	}
	p.off += int64(len(b))
	return len(b), nil
}

// patternRange returns bytes [off, off+n) of the pattern.
func patternRange(off, n int64) []byte {
	b := make([]byte, n)
	for j := range b {
		b[j] = patternByte(off + int64(j))
	}
	return b
}

func rangeReader(t *testing.T, b cleanroom.BlobStore) cleanroom.BlobRangeReader {
	t.Helper()
	rr, ok := b.(cleanroom.BlobRangeReader)
	if !ok {
		t.Fatalf("%T does not implement cleanroom.BlobRangeReader", b)
	}
	return rr
}

func readRange(t *testing.T, rr cleanroom.BlobRangeReader, key string, off, n int64) []byte {
	t.Helper()
	rc, err := rr.OpenRange(t.Context(), key, off, n)
	if err != nil {
		t.Fatalf("open %s [%d, +%d): %v", key, off, n, err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s [%d, +%d): %v", key, off, n, err)
	}
	return got
}

var cases = []struct {
	name string
	test func(t *testing.T, b cleanroom.BlobStore)
}{
	{"put, open, stat, replace", func(t *testing.T, b cleanroom.BlobStore) {
		put(t, b, "vaults/a/v1", "hello")
		if got := read(t, b, "vaults/a/v1"); got != "hello" {
			t.Fatalf("read %q", got)
		}
		put(t, b, "vaults/a/v1", "hello, again")
		if got := read(t, b, "vaults/a/v1"); got != "hello, again" {
			t.Fatalf("after the replacement: read %q", got)
		}
		if n, err := b.Stat(t.Context(), "vaults/a/v1"); err != nil || n != 12 {
			t.Fatalf("stat: %d, %v", n, err)
		}
		put(t, b, "empty", "")
		if got := read(t, b, "empty"); got != "" {
			t.Fatalf("empty file read %q", got)
		}
	}},
	{"a large file reads back whole", func(t *testing.T, b cleanroom.BlobStore) {
		big := bytes.Repeat([]byte("0123456789abcdef"), 300_000) // 4.8 MB
		if n, err := b.Put(t.Context(), "big", bytes.NewReader(big)); err != nil || n != int64(len(big)) {
			t.Fatalf("put: %d, %v", n, err)
		}
		if got := read(t, b, "big"); got != string(big) {
			t.Fatalf("read %d bytes back, want %d equal ones", len(got), len(big))
		}
	}},
	{"missing files", func(t *testing.T, b cleanroom.BlobStore) {
		_, err := b.Open(t.Context(), "nope/x")
		wantMissing(t, "open", err)
		_, err = b.Stat(t.Context(), "nope/x")
		wantMissing(t, "stat", err)
		if err := b.Delete(t.Context(), "nope/x"); err != nil {
			t.Fatalf("deleting a missing file: %v", err)
		}
	}},
	{"delete", func(t *testing.T, b cleanroom.BlobStore) {
		put(t, b, "a/x", "x")
		put(t, b, "a/y", "y")
		if err := b.Delete(t.Context(), "a/x"); err != nil {
			t.Fatal(err)
		}
		_, err := b.Open(t.Context(), "a/x")
		wantMissing(t, "open after delete", err)
		if got := list(t, b, ""); fmt.Sprint(got) != "[a/y]" {
			t.Fatalf("left %v", got)
		}
		if err := b.Delete(t.Context(), "a/x"); err != nil {
			t.Fatalf("second delete: %v", err)
		}
	}},
	{"list by prefix, sorted", func(t *testing.T, b cleanroom.BlobStore) {
		for _, k := range []string{"vaults/b/2", "vaults/a/1", "vaults/ab/3", "vaults/a/0/deep", "cohorts/c/1"} {
			put(t, b, k, k)
		}
		for prefix, want := range map[string]string{
			"":          "[cohorts/c/1 vaults/a/0/deep vaults/a/1 vaults/ab/3 vaults/b/2]",
			"vaults/a/": "[vaults/a/0/deep vaults/a/1]",
			"vaults/a":  "[vaults/a/0/deep vaults/a/1 vaults/ab/3]",
			"cohorts/":  "[cohorts/c/1]",
			"none/":     "[]",
		} {
			if got := fmt.Sprint(list(t, b, prefix)); got != want {
				t.Errorf("list %q = %s, want %s", prefix, got, want)
			}
		}
	}},
	{"bad keys are refused", func(t *testing.T, b cleanroom.BlobStore) {
		for _, bad := range []string{"", "../x", "a//b", "A/b", "/abs", "a/.hidden", "a/", ".", "a/../b", strings.Repeat("a", 513)} {
			_, err := b.Put(t.Context(), bad, strings.NewReader("x"))
			wantCode(t, fmt.Sprintf("put %q", bad), err, cleanroom.EINTERNAL)
			_, err = b.Open(t.Context(), bad)
			wantCode(t, fmt.Sprintf("open %q", bad), err, cleanroom.EINTERNAL)
			wantCode(t, fmt.Sprintf("delete %q", bad), b.Delete(t.Context(), bad), cleanroom.EINTERNAL)
		}
		if got := list(t, b, ""); len(got) != 0 {
			t.Fatalf("files after refused puts: %v", got)
		}
	}},
	{"a failed put keeps the old file and adds none", func(t *testing.T, b cleanroom.BlobStore) {
		put(t, b, "k/old", "old")
		if _, err := b.Put(t.Context(), "k/old", &failingReader{n: 3}); err == nil {
			t.Fatal("put from a failing reader succeeded")
		}
		if _, err := b.Put(t.Context(), "k/new", &failingReader{n: 3}); err == nil {
			t.Fatal("put from a failing reader succeeded")
		}
		if got := read(t, b, "k/old"); got != "old" {
			t.Fatalf("old file reads %q", got)
		}
		if got := fmt.Sprint(list(t, b, "")); got != "[k/old]" {
			t.Fatalf("files after failed puts: %s", got)
		}
	}},
	{"a cancelled put stores nothing", func(t *testing.T, b cleanroom.BlobStore) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := b.Put(ctx, "k/x", strings.NewReader("x")); err == nil {
			t.Fatal("put with a cancelled context succeeded")
		}
		_, err := b.Open(t.Context(), "k/x")
		wantMissing(t, "open", err)
	}},
	{"readers see a whole file while it is replaced", func(t *testing.T, b cleanroom.BlobStore) {
		// One version is written in parts by a store that writes in parts (more than 16 MiB).
		versions := []string{strings.Repeat("a", 17<<20), strings.Repeat("b", 1<<19)}
		put(t, b, "k", versions[0])
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for i := range 8 {
			wg.Go(func() {
				if _, err := b.Put(t.Context(), "k", strings.NewReader(versions[i%2])); err != nil {
					errs <- err
				}
			})
			wg.Go(func() {
				rc, err := b.Open(t.Context(), "k")
				if err != nil {
					errs <- err
					return
				}
				defer rc.Close()
				got, err := io.ReadAll(rc)
				if err != nil {
					errs <- err
				} else if string(got) != versions[0] && string(got) != versions[1] {
					errs <- fmt.Errorf("read %d bytes that are neither version", len(got))
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}},
	{"ranged reads", func(t *testing.T, b cleanroom.BlobStore) {
		rr := rangeReader(t, b)
		const size = 1000
		if _, err := b.Put(t.Context(), "r/x", &pattern{n: size}); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ off, n, want int64 }{
			{0, 10, 10}, {0, size, size}, {123, 456, 456}, {990, 10, 10}, {995, 10, 5},
			{0, 5000, size}, {size, 10, 0}, {2 * size, 5, 0}, {0, 0, 0}, {500, 0, 0},
		} {
			got := readRange(t, rr, "r/x", c.off, c.n)
			if !bytes.Equal(got, patternRange(c.off, c.want)) {
				t.Errorf("range [%d, +%d): %d bytes, want the file's %d from there", c.off, c.n, len(got), c.want)
			}
		}
		_, err := rr.OpenRange(t.Context(), "r/none", 0, 10)
		wantMissing(t, "open a range of a missing file", err)
		_, err = rr.OpenRange(t.Context(), "../x", 0, 10)
		wantCode(t, "open a range of a bad key", err, cleanroom.EINTERNAL)

		// RangeReaderAt reads the same bytes with the io.ReaderAt contract.
		ra := cleanroom.RangeReaderAt(t.Context(), rr, "r/x")
		p := make([]byte, 100)
		if n, err := ra.ReadAt(p, 400); n != 100 || err != nil || !bytes.Equal(p, patternRange(400, 100)) {
			t.Errorf("ReadAt(100 at 400) = %d, %v", n, err)
		}
		if n, err := ra.ReadAt(p, size-30); n != 30 || err != io.EOF || !bytes.Equal(p[:n], patternRange(size-30, 30)) {
			t.Errorf("ReadAt(100 at %d) = %d, %v; want 30, EOF", size-30, n, err)
		}
		if n, err := ra.ReadAt(p, size); n != 0 || err != io.EOF {
			t.Errorf("ReadAt at the end = %d, %v; want 0, EOF", n, err)
		}
	}},
	{"a large file streams in and out, whole and in ranges", func(t *testing.T, b cleanroom.BlobStore) {
		n, err := b.Put(t.Context(), "big/v1", &pattern{n: LargeSize})
		if err != nil || n != LargeSize {
			t.Fatalf("put: %d, %v", n, err)
		}
		if size, err := b.Stat(t.Context(), "big/v1"); err != nil || size != LargeSize {
			t.Fatalf("stat: %d, %v", size, err)
		}
		rc, err := b.Open(t.Context(), "big/v1")
		if err != nil {
			t.Fatal(err)
		}
		h, want := sha256.New(), sha256.New()
		got, err := io.Copy(h, rc)
		rc.Close()
		io.Copy(want, &pattern{n: LargeSize})
		if err != nil || got != LargeSize || !bytes.Equal(h.Sum(nil), want.Sum(nil)) {
			t.Fatalf("read back %d bytes (%v), want the %d written", got, err, int64(LargeSize))
		}
		rr := rangeReader(t, b)
		for _, off := range []int64{0, 16<<20 - 5, 32<<20 - 1, LargeSize - 7} {
			if got := readRange(t, rr, "big/v1", off, 10); !bytes.Equal(got, patternRange(off, min(10, LargeSize-off))) {
				t.Errorf("range [%d, +10): wrong bytes", off)
			}
		}
	}},
	{"list many keys", func(t *testing.T, b cleanroom.BlobStore) {
		// More than one page of an S3 listing (1000 keys).
		const n = 1100
		want := make([]string, 0, n)
		var wg sync.WaitGroup
		keys := make(chan string)
		for range 8 {
			wg.Go(func() {
				for k := range keys {
					if _, err := b.Put(t.Context(), k, strings.NewReader(k)); err != nil {
						t.Error(err)
					}
				}
			})
		}
		for i := range n {
			k := fmt.Sprintf("many/%02d/%04d", i%17, i)
			want = append(want, k)
			keys <- k
		}
		close(keys)
		wg.Wait()
		put(t, b, "other/x", "x")
		slices.Sort(want)
		if got := list(t, b, "many/"); !slices.Equal(got, want) {
			t.Fatalf("listed %d keys, want %d (first %v)", len(got), len(want), got[:min(3, len(got))])
		}
		if got := list(t, b, "many/03/"); len(got) != len(slices.DeleteFunc(slices.Clone(want), func(k string) bool { return !strings.HasPrefix(k, "many/03/") })) {
			t.Fatalf("listed %d keys under many/03/", len(got))
		}
		if got := list(t, b, ""); len(got) != n+1 {
			t.Fatalf("listed %d keys in all, want %d", len(got), n+1)
		}
	}},
}
