package sealed

import (
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"io"
)

// Option configures a Writer.
type Option func(*writerConfig) error

type writerConfig struct {
	chunkSize int
}

// WithChunkSize sets the plaintext chunk size in bytes, between MinChunkSize and MaxChunkSize
// (default DefaultChunkSize). Larger chunks cost memory (about one chunk per Writer or Reader,
// one per DecryptAll worker) and need more bytes read before the first plaintext is released;
// smaller ones add 16 bytes per chunk and reduce the parallelism grain.
func WithChunkSize(n int) Option {
	return func(c *writerConfig) error {
		if !validChunkSize(n) {
			return fmt.Errorf("sealed: chunk size %d out of range [%d, %d]", n, MinChunkSize, MaxChunkSize)
		}
		c.chunkSize = n
		return nil
	}
}

// Writer encrypts a stream into the sealed format. It buffers at most one chunk, sealing a full
// chunk only once more plaintext arrives (or Close marks it final). It is not safe for concurrent
// use.
type Writer struct {
	w     io.Writer
	keys  *fileKeys
	aead  cipher.AEAD
	nonce [nonceSize]byte
	index uint64 // index of the chunk being buffered
	buf   []byte // buffered plaintext; capacity chunk size + TagSize, sealed in place
	done  bool   // Close was called
	err   error  // sticky error
}

// NewWriter returns a Writer that seals plaintext written to it under key (exactly KeySize bytes)
// and writes the result to w. The header is written to w before NewWriter returns. The caller
// must call Close to write the final chunk; without it the output is truncated and will not
// open.
func NewWriter(w io.Writer, key []byte, opts ...Option) (*Writer, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	cfg := writerConfig{chunkSize: DefaultChunkSize}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	salt := make([]byte, saltSize)
	rand.Read(salt) // never fails; panics if the system RNG is unusable
	keys := newHeader(key, cfg.chunkSize, salt)
	if err := writeFull(w, keys.header[:]); err != nil {
		return nil, err
	}
	return &Writer{
		w:    w,
		keys: keys,
		aead: keys.aead(),
		buf:  make([]byte, 0, cfg.chunkSize+TagSize),
	}, nil
}

// Write encrypts p. It returns len(p) unless writing to the underlying writer fails; errors are
// sticky.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.done {
		return 0, ErrClosed
	}
	cs := w.keys.chunkSize
	n := 0
	for len(p) > 0 {
		if len(w.buf) == cs {
			// More plaintext follows a full chunk, so that chunk is not the last.
			if err := w.seal(false); err != nil {
				return n, err
			}
		}
		if len(w.buf) == 0 && len(p) > cs {
			// A whole chunk with more plaintext after it: seal it straight from p, saving a copy.
			if err := w.sealFrom(p[:cs], false); err != nil {
				return n, err
			}
			p = p[cs:]
			n += cs
			continue
		}
		k := copy(w.buf[len(w.buf):cs], p)
		w.buf = w.buf[:len(w.buf)+k]
		p = p[k:]
		n += k
	}
	return n, nil
}

// Close seals and writes the buffered plaintext as the final chunk (an empty one if nothing was
// written). It does not close the underlying writer. Calling Close again returns the same result.
func (w *Writer) Close() error {
	if w.done {
		return w.err
	}
	w.done = true
	if w.err != nil {
		return w.err
	}
	return w.seal(true)
}

// seal encrypts the buffered plaintext in place as chunk w.index and writes it.
func (w *Writer) seal(final bool) error { return w.sealFrom(w.buf, final) }

// sealFrom encrypts pt, which is either w.buf or does not overlap it, as chunk w.index into
// w.buf and writes it.
func (w *Writer) sealFrom(pt []byte, final bool) error {
	if w.index > maxIndex || (!final && w.index == maxIndex) {
		w.err = ErrTooLarge
		return w.err
	}
	w.keys.nonce(&w.nonce, w.index, final)
	ct := w.aead.Seal(w.buf[:0], w.nonce[:], pt, w.keys.header[:])
	w.buf = w.buf[:0]
	w.index++
	if err := writeFull(w.w, ct); err != nil {
		w.err = err
		return err
	}
	return nil
}

func writeFull(w io.Writer, b []byte) error {
	n, err := w.Write(b)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return fmt.Errorf("sealed: write: %w", err)
	}
	return nil
}
