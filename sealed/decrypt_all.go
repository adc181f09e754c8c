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
	return DecryptAllBatched(r, size, key, workers, 1)
}

// DecryptAllBatched is DecryptAll with each worker reading batch consecutive chunks with one
// ReadAt (batch < 1 means 1): fewer, larger reads, for a reader where each read is a request (a
// ranged GET of a remote store). Memory use is the plaintext plus batch chunks per worker.
func DecryptAllBatched(r io.ReaderAt, size int64, key []byte, workers, batch int) ([]byte, error) {
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
	d := &parallelDecrypt{r: r, keys: keys, l: l, out: out, batch: int64(max(batch, 1)), errIndex: math.MaxInt64}
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
	r     io.ReaderAt
	keys  *fileKeys
	l     layout
	out   []byte
	batch int64        // chunks read at once
	next  atomic.Int64 // next chunk index to hand out
	stop  atomic.Bool  // set after the first error

	mu       sync.Mutex
	errIndex int64 // index of the lowest failing chunk
	err      error
}

// work decrypts batches of chunks handed out in increasing index order until none are left or
// one fails. Because indices are handed out in order, and a batch taken is processed in order up
// to its first failure, every chunk below a failing one is still processed, so the reported error
// is that of the lowest failing chunk regardless of scheduling.
func (d *parallelDecrypt) work() {
	g := d.keys.aead()
	cs := int64(d.keys.chunkSize)
	full := cs + TagSize
	body := (d.l.chunks-1)*full + d.l.lastLen
	buf := make([]byte, min(d.batch*full, body))
	for !d.stop.Load() {
		first := d.next.Add(d.batch) - d.batch
		if first >= d.l.chunks {
			return
		}
		if err := d.chunks(g, buf, first, min(first+d.batch, d.l.chunks), cs, full, body); err != nil {
			return
		}
	}
}

// fail records the error of chunk i and stops the workers.
func (d *parallelDecrypt) fail(i int64, err error) error {
	d.mu.Lock()
	if i < d.errIndex {
		d.errIndex, d.err = i, err
	}
	d.mu.Unlock()
	d.stop.Store(true)
	return err
}

// chunks reads chunks [first, last) with one read, then authenticates and decrypts each into its
// place in d.out.
func (d *parallelDecrypt) chunks(g cipher.AEAD, buf []byte, first, last, cs, full, body int64) error {
	readLast := last
	if last == d.l.chunks && d.l.lastLen < TagSize {
		readLast-- // the final chunk is too short to hold its tag: fail it without reading it
	}
	start, end := first*full, min(readLast*full, body)
	if end > start {
		if err := readFullAt(d.r, buf[:end-start], HeaderSize+start); err != nil {
			return d.fail(first, err)
		}
	}
	for i := first; i < last; i++ {
		if i >= readLast {
			return d.fail(i, fmt.Errorf("%w: stream ends inside chunk %d", ErrTruncated, i))
		}
		off := (i - first) * full
		ct := buf[off:min(off+full, end-start)]
		out := i * cs
		if _, err := d.keys.open(g, d.out[out:out:out+int64(len(ct))-TagSize], ct, uint64(i), i == d.l.chunks-1); err != nil {
			return d.fail(i, err)
		}
	}
	return nil
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
