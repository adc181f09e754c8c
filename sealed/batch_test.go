package sealed

import (
	"bytes"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
)

// countingReaderAt counts the ReadAt calls.
type countingReaderAt struct {
	r     *bytes.Reader
	reads atomic.Int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	c.reads.Add(1)
	return c.r.ReadAt(p, off)
}

// DecryptAllBatched reads batch chunks at a time and gives the same results as DecryptAll: the
// plaintext, the error of the lowest damaged chunk, truncation and read errors.
func TestDecryptAllBatched(t *testing.T) {
	key := testKey(23)
	const cs = MinChunkSize
	for _, n := range []int{0, 1, cs - 1, cs, cs + 1, 20*cs + 33} {
		pt := testPlaintext(n, 6)
		data := seal(t, pt, key, cs, 0)
		chunks := max((int64(n)+cs-1)/cs, 1)
		for _, batch := range []int{0, 1, 2, 3, 8, 100} {
			for _, w := range []int{1, 4} {
				r := &countingReaderAt{r: bytes.NewReader(data)}
				got, err := DecryptAllBatched(r, int64(len(data)), key, w, batch)
				if err != nil || !bytes.Equal(got, pt) {
					t.Errorf("%d bytes, batch %d, %d workers: %v", n, batch, w, err)
				}
				b := int64(max(batch, 1))
				if want := 1 + (chunks+b-1)/b; r.reads.Load() != want {
					t.Errorf("%d bytes, batch %d: %d reads, want %d", n, batch, r.reads.Load(), want)
				}
			}
		}
	}
	pt := testPlaintext(20*cs+33, 7)
	data := seal(t, pt, key, cs, 0)
	bad := bytes.Clone(data)
	bad[HeaderSize+3*(cs+TagSize)+7] ^= 1
	bad[HeaderSize+7*(cs+TagSize)+7] ^= 1
	bad[HeaderSize+15*(cs+TagSize)+7] ^= 1
	for _, batch := range []int{2, 3, 5, 8} {
		for _, w := range []int{1, 2, 4} {
			for range 3 {
				if _, err := DecryptAllBatched(bytes.NewReader(bad), int64(len(bad)), key, w, batch); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "chunk 3 ") {
					t.Errorf("batch %d, %d workers: %v, want the error of chunk 3", batch, w, err)
				}
			}
		}
		if _, err := DecryptAllBatched(bytes.NewReader(data[:len(data)-10]), int64(len(data)), key, 2, batch); !errors.Is(err, ErrTruncated) {
			t.Errorf("batch %d, data shorter than size: %v, want ErrTruncated", batch, err)
		}
		// A final chunk too short to hold its tag.
		short := data[:HeaderSize+20*(cs+TagSize)+5]
		if _, err := DecryptAllBatched(bytes.NewReader(short), int64(len(short)), key, 2, batch); !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt) {
			t.Errorf("batch %d, a final chunk shorter than a tag: %v", batch, err)
		}
		for _, off := range []int64{0, HeaderSize, HeaderSize + 9*(cs+TagSize)} {
			if _, err := DecryptAllBatched(&errReaderAt{bytes.NewReader(data), off}, int64(len(data)), key, 2, batch); !errors.Is(err, errSource) {
				t.Errorf("batch %d, read error at %d: %v, want the source error", batch, off, err)
			}
		}
	}
}
