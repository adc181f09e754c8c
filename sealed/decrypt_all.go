package sealed

import (
	"crypto/cipher"
	"fmt"
	"io"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
)

// DecryptAll decrypts the whole sealed file of size bytes readable from r and returns its
// plaintext. Chunks are read with ReadAt and authenticated in parallel by up to workers
// goroutines (workers < 1 means runtime.GOMAXPROCS(0)); the plaintext size follows from the
// header and size, so the result is allocated once and each chunk is decrypted straight into
// place. Memory use is the plaintext plus one chunk per worker.
//
// It returns plaintext only if every chunk verifies. Errors are those of NewReader and Reader.Read
// (ErrKeySize, ErrWrongKey, or errors matching ErrCorrupt, ErrTruncated, ErrTrailingData), or
// wrap an error of r; when several chunks are damaged, the error names the first. A size larger
// than the data r holds is reported as ErrTruncated; bytes beyond size are not examined.
func DecryptAll(r io.ReaderAt, size int64, key []byte, workers int) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if size < 0 {
		return nil, fmt.Errorf("sealed: negative size %d", size)
	}
	var h [HeaderSize]byte
	hn := int(min(size, HeaderSize))
	if err := readFullAt(r, h[:hn], 0); err != nil {
		return nil, err
	}
	if hn < HeaderSize {
		return nil, shortHeaderError(h[:hn])
	}
	keys, err := parseHeader(h[:], key)
	if err != nil {
		return nil, err
	}
	l, err := layoutFor(size, keys.chunkSize)
	if err != nil {
		return nil, err
	}
	if l.plaintext > math.MaxInt {
		return nil, ErrTooLarge
	}
	out := make([]byte, l.plaintext)

	if workers < 1 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = int(min(int64(workers), l.chunks))
	d := &parallelDecrypt{r: r, keys: keys, l: l, out: out, errIndex: math.MaxInt64}
	if workers == 1 {
		d.work()
	} else {
		var wg sync.WaitGroup
		for range workers {
			wg.Go(d.work)
		}
		wg.Wait()
	}
	if d.err != nil {
		clear(out)
		return nil, d.err
	}
	return out, nil
}

// parallelDecrypt is the shared state of DecryptAll's workers.
type parallelDecrypt struct {
	r    io.ReaderAt
	keys *fileKeys
	l    layout
	out  []byte
	next atomic.Int64 // next chunk index to hand out
	stop atomic.Bool  // set after the first error

	mu       sync.Mutex
	errIndex int64 // index of the lowest failing chunk
	err      error
}

// work decrypts chunks handed out in increasing index order until none are left or one fails.
// Because indices are handed out in order, every chunk below a failing one is still processed,
// so the reported error is that of the lowest failing chunk regardless of scheduling.
func (d *parallelDecrypt) work() {
	g := d.keys.aead()
	cs := int64(d.keys.chunkSize)
	full := cs + TagSize
	buf := make([]byte, min(full, (d.l.chunks-1)*full+d.l.lastLen))
	for !d.stop.Load() {
		i := d.next.Add(1) - 1
		if i >= d.l.chunks {
			return
		}
		if err := d.chunk(g, buf, i, cs, full); err != nil {
			d.mu.Lock()
			if i < d.errIndex {
				d.errIndex, d.err = i, err
			}
			d.mu.Unlock()
			d.stop.Store(true)
			return
		}
	}
}

// chunk reads, authenticates and decrypts chunk i into its place in d.out.
func (d *parallelDecrypt) chunk(g cipher.AEAD, buf []byte, i, cs, full int64) error {
	final := i == d.l.chunks-1
	clen := full
	if final {
		clen = d.l.lastLen
	}
	if clen < TagSize {
		return fmt.Errorf("%w: stream ends inside chunk %d", ErrTruncated, i)
	}
	ct := buf[:clen]
	if err := readFullAt(d.r, ct, HeaderSize+i*full); err != nil {
		return err
	}
	start := i * cs
	end := start + clen - TagSize
	_, err := d.keys.open(g, d.out[start:start:end], ct, uint64(i), final)
	return err
}

// readFullAt reads exactly len(b) bytes at off, treating a short read as truncation.
func readFullAt(r io.ReaderAt, b []byte, off int64) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == io.EOF || err == nil {
		return fmt.Errorf("%w: data ends at offset %d, before the given size", ErrTruncated, off+int64(n))
	}
	return fmt.Errorf("sealed: read: %w", err)
}
