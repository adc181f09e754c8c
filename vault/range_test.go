package vault_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/keyring"
	"github.com/cleanroom-oss/cleanroom/memblob"
	"github.com/cleanroom-oss/cleanroom/sealed"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// remoteStore is a store like s3blob: Open streams (no io.ReaderAt) and OpenRange reads part of
// a file. It records what was read.
type remoteStore struct {
	*memblob.Store
	mu       sync.Mutex
	opens    int
	ranges   int
	maxRange int64
}

func (s *remoteStore) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	s.mu.Lock()
	s.opens++
	s.mu.Unlock()
	rc, err := s.Store.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	return struct{ io.ReadCloser }{rc}, nil
}

func (s *remoteStore) OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	s.mu.Lock()
	s.ranges++
	s.maxRange = max(s.maxRange, n)
	s.mu.Unlock()
	return s.Store.OpenRange(ctx, key, off, n)
}

// streamOnly hides OpenRange: a store that can only stream a whole file.
type streamOnly struct{ cleanroom.BlobStore }

// A version is read in batches of chunks through ranged reads, never fetched whole; a store
// without ranged reads still works.
func TestOpenReadsChunksByRange(t *testing.T) {
	data := make([]byte, 20<<20+123) // 21 chunks of 1 MiB, 3 batches
	for i := range data {
		data[i] = byte(i * 13)
	}
	key := keyring.NewDataKey()
	for _, c := range []struct {
		name   string
		blobs  cleanroom.BlobStore
		remote *remoteStore
	}{
		{"ranged", nil, &remoteStore{Store: memblob.New()}},
		{"stream only", streamOnly{&remoteStore{Store: memblob.New()}}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			blobs := c.blobs
			if c.remote != nil {
				blobs = c.remote
			}
			if _, err := vault.Write(t.Context(), blobs, "v/big", key, "test", nil, []vault.Section{{Name: "d", Data: data}}); err != nil {
				t.Fatal(err)
			}
			f, err := vault.Open(t.Context(), blobs, "v/big", key, "test", 0)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(f.Bytes("d"), data) {
				t.Fatal("read back other bytes")
			}
			if r := c.remote; r != nil {
				if batch := int64(vault.RangeBatch * (sealed.DefaultChunkSize + sealed.TagSize)); r.opens != 0 || r.ranges != 4 || r.maxRange > batch {
					t.Errorf("%d whole opens, %d ranged reads of at most %d bytes; want none, the header and 3 batches of at most %d bytes", r.opens, r.ranges, r.maxRange, batch)
				}
			}
			if _, err := vault.Open(t.Context(), blobs, "v/none", key, "test", 0); !errors.Is(err, cleanroom.ErrBlobNotFound) {
				t.Errorf("missing file: %v", err)
			}
		})
	}
}
