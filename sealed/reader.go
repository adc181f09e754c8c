package sealed

import (
	"crypto/cipher"
	"fmt"
	"io"
)

// Reader decrypts a sealed stream sequentially. It holds at most one chunk of ciphertext and one
// of plaintext. It is not safe for concurrent use.
//
// Read returns the plaintext of each chunk once that chunk has been authenticated; a damaged or
// truncated tail is reported by a later Read, after earlier plaintext has been delivered. Only
// io.EOF proves the stream complete and intact.
type Reader struct {
	src   io.Reader
	keys  *fileKeys
	aead  cipher.AEAD
	index uint64 // index of the next chunk to open
	ct    []byte // ciphertext read so far for the next chunk (plus one byte of lookahead)
	pt    []byte // plaintext buffer of the last opened chunk
	plain []byte // unread part of pt
	final bool   // the final chunk has been opened
	err   error  // sticky error, io.EOF at the end
}

// NewReader reads and checks the header of the sealed stream r. It fails with ErrKeySize,
// ErrWrongKey, or an error matching ErrCorrupt or ErrTruncated for a damaged header.
func NewReader(r io.Reader, key []byte) (*Reader, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	var h [HeaderSize]byte
	n, err := io.ReadFull(r, h[:])
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return nil, shortHeaderError(h[:n])
	}
	if err != nil {
		return nil, fmt.Errorf("sealed: read: %w", err)
	}
	keys, err := parseHeader(h[:], key)
	if err != nil {
		return nil, err
	}
	return &Reader{src: r, keys: keys, aead: keys.aead()}, nil
}

// ChunkSize returns the plaintext chunk size recorded in the stream's header.
func (r *Reader) ChunkSize() int { return r.keys.chunkSize }

// Read reads decrypted plaintext into p. At the end of an intact stream it returns io.EOF;
// otherwise errors match ErrCorrupt, ErrTruncated or ErrTrailingData, or wrap an error of the
// underlying reader. Errors are sticky.
func (r *Reader) Read(p []byte) (int, error) {
	for len(r.plain) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if len(p) == 0 {
			return 0, nil
		}
		r.next()
	}
	n := copy(p, r.plain)
	r.plain = r.plain[n:]
	return n, nil
}

// WriteTo writes the remaining plaintext to w, chunk by chunk, without an intermediate copy. It
// returns nil at the end of an intact stream, and otherwise the error Read would return.
func (r *Reader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if len(r.plain) > 0 {
			n, err := w.Write(r.plain)
			total += int64(n)
			r.plain = r.plain[n:]
			if err == nil && len(r.plain) > 0 {
				err = io.ErrShortWrite
			}
			if err != nil {
				return total, err
			}
		}
		if r.err != nil {
			if r.err == io.EOF {
				return total, nil
			}
			return total, r.err
		}
		r.next()
	}
}

// next reads and opens the next chunk into r.plain, or sets r.err.
func (r *Reader) next() {
	if r.final {
		clear(r.pt)
		r.err = io.EOF
		return
	}
	if r.index > maxIndex {
		r.err = fmt.Errorf("%w: more than %d chunks", ErrCorrupt, int64(MaxChunks))
		return
	}
	full := r.keys.chunkSize + TagSize
	// Read one byte beyond a full chunk: whether more data follows decides whether the chunk must
	// be the final one.
	eof, err := r.fill(full + 1)
	if err != nil {
		r.err = fmt.Errorf("sealed: read: %w", err)
		return
	}
	final := eof
	ct := r.ct[:min(len(r.ct), full)]
	if len(ct) < TagSize {
		if len(ct) == 0 && r.index == 0 {
			r.err = fmt.Errorf("%w: no chunks after the header", ErrTruncated)
		} else {
			r.err = fmt.Errorf("%w: stream ends inside chunk %d", ErrTruncated, r.index)
		}
		return
	}
	pt, err := r.keys.open(r.aead, r.pt[:0], ct, r.index, final)
	if err != nil {
		r.err = err
		return
	}
	r.pt, r.plain = pt, pt
	r.index++
	if final {
		r.final = true
		r.ct = r.ct[:0]
	} else {
		r.ct[0] = r.ct[full]
		r.ct = r.ct[:1]
	}
}

// fill reads from the source until r.ct holds want bytes or the source is exhausted (eof).
func (r *Reader) fill(want int) (eof bool, err error) {
	zero := 0
	for len(r.ct) < want {
		if len(r.ct) == cap(r.ct) {
			// Grow gradually so a small file with a large chunk size needs little memory.
			nb := make([]byte, len(r.ct), min(want, max(2*cap(r.ct), 64<<10)))
			copy(nb, r.ct)
			r.ct = nb
		}
		n, err := r.src.Read(r.ct[len(r.ct):min(cap(r.ct), want)])
		r.ct = r.ct[:len(r.ct)+n]
		if err == io.EOF {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		if n == 0 {
			if zero++; zero >= 100 {
				return false, io.ErrNoProgress
			}
		} else {
			zero = 0
		}
	}
	return false, nil
}
