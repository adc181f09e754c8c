// Package memblob implements cleanroom.BlobStore in memory, for tests: it passes the same
// conformance suite (blobtest) as localblob, so code tested against it behaves the same on disk.
package memblob

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/cleanroom-oss/cleanroom"
)

// Store is an in-memory blob store. The zero value is not usable: call New.
type Store struct {
	mu    sync.Mutex
	files map[string][]byte
}

var (
	_ cleanroom.BlobStore       = (*Store)(nil)
	_ cleanroom.BlobRangeReader = (*Store)(nil)
)

// New returns an empty store.
func New() *Store { return &Store{files: map[string][]byte{}} }

// Put implements cleanroom.BlobStore: the file is read whole before it replaces the old one.
func (s *Store) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	if err := cleanroom.CheckBlobKey(key); err != nil {
		return 0, err
	}
	var buf bytes.Buffer
	n, err := io.Copy(&buf, ctxReader{ctx, r})
	if err != nil {
		return 0, fmt.Errorf("memblob: put %s: %w", key, err)
	}
	s.mu.Lock()
	s.files[key] = buf.Bytes()
	s.mu.Unlock()
	return n, nil
}

// Open implements cleanroom.BlobStore.
func (s *Store) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	b, err := s.get(key)
	if err != nil {
		return nil, err
	}
	return readCloser{bytes.NewReader(b)}, nil
}

// OpenRange implements cleanroom.BlobRangeReader.
func (s *Store) OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	if off < 0 || n < 0 {
		return nil, fmt.Errorf("memblob: open %s: bad range %d+%d", key, off, n)
	}
	b, err := s.get(key)
	if err != nil {
		return nil, err
	}
	off = min(off, int64(len(b)))
	return readCloser{bytes.NewReader(b[off : off+min(n, int64(len(b))-off)])}, nil
}

// Stat implements cleanroom.BlobStore.
func (s *Store) Stat(ctx context.Context, key string) (int64, error) {
	b, err := s.get(key)
	return int64(len(b)), err
}

func (s *Store) get(key string) ([]byte, error) {
	if err := cleanroom.CheckBlobKey(key); err != nil {
		return nil, err
	}
	s.mu.Lock()
	b, ok := s.files[key]
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("memblob: open %s: %w", key, cleanroom.ErrBlobNotFound)
	}
	return b, nil
}

// Delete implements cleanroom.BlobStore.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := cleanroom.CheckBlobKey(key); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.files, key)
	s.mu.Unlock()
	return nil
}

// List implements cleanroom.BlobStore.
func (s *Store) List(ctx context.Context, prefix string) ([]string, error) {
	s.mu.Lock()
	keys := []string{}
	for k := range s.files {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	s.mu.Unlock()
	sort.Strings(keys)
	return keys, nil
}

// readCloser is a bytes.Reader (an io.ReaderAt, as a file is) with a no-op Close.
type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// ctxReader stops a copy when the context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
