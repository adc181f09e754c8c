package sealed

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestRoundTrip(t *testing.T) {
	key := testKey(1)
	type readMode struct {
		name string
		open func(data []byte) ([]byte, error)
	}
	viaReader := func(wrapSrc func(io.Reader) io.Reader, wrapOut func(io.Reader) io.Reader) func([]byte) ([]byte, error) {
		return func(data []byte) ([]byte, error) {
			r, err := NewReader(wrapSrc(bytes.NewReader(data)), key)
			if err != nil {
				return nil, err
			}
			return io.ReadAll(wrapOut(r))
		}
	}
	same := func(r io.Reader) io.Reader { return r }
	modes := []readMode{
		{"Reader", viaReader(same, same)},
		{"Reader/src=OneByteReader", viaReader(iotest.OneByteReader, same)},
		{"Reader/src=HalfReader", viaReader(iotest.HalfReader, same)},
		{"Reader/src=DataErrReader", viaReader(iotest.DataErrReader, same)},
		{"Reader/out=OneByteReader", viaReader(same, iotest.OneByteReader)},
		{"Reader/out=HalfReader", viaReader(same, iotest.HalfReader)},
		{"Reader/src=HalfReader,out=7-byte reads", viaReader(iotest.HalfReader, func(r io.Reader) io.Reader { return &limitedReads{r, 7} })},
		{"Reader/WriteTo", func(data []byte) ([]byte, error) {
			r, err := NewReader(bytes.NewReader(data), key)
			if err != nil {
				return nil, err
			}
			var b bytes.Buffer
			_, err = r.WriteTo(&b)
			return b.Bytes(), err
		}},
		{"DecryptAll/1", func(data []byte) ([]byte, error) { return openAll(data, key, 1) }},
		{"DecryptAll/4", func(data []byte) ([]byte, error) { return openAll(data, key, 4) }},
	}
	for _, cs := range []int{MinChunkSize, 5000, 64 << 10, DefaultChunkSize} {
		for _, size := range []int{0, 1, cs - 1, cs, cs + 1, 3 * cs, 3*cs + 7} {
			pt := testPlaintext(size, byte(cs+size))
			for _, ws := range []int{0, 1000, 1, 10000} {
				if ws == 1 && size > 3*MinChunkSize+7 {
					continue // byte-by-byte writes only for small inputs
				}
				name := fmt.Sprintf("chunk=%d/size=%d/writes=%d", cs, size, ws)
				t.Run(name, func(t *testing.T) {
					data := seal(t, pt, key, cs, ws)
					if want := SealedSize(int64(size), cs); int64(len(data)) != want {
						t.Errorf("sealed size %d, SealedSize says %d", len(data), want)
					}
					if got, err := PlaintextSize(int64(len(data)), cs); err != nil || got != int64(size) {
						t.Errorf("PlaintextSize(%d) = %d, %v; want %d", len(data), got, err, size)
					}
					for _, m := range modes {
						if ws > 1 && m.name != "Reader" {
							continue // write splitting only changes the writer side
						}
						got, err := m.open(data)
						if err != nil {
							t.Errorf("%s: %v", m.name, err)
						} else if !bytes.Equal(got, pt) {
							t.Errorf("%s: plaintext differs (got %d bytes, want %d)", m.name, len(got), len(pt))
						}
					}
				})
			}
		}
	}
}

// limitedReads reads at most n bytes per Read call.
type limitedReads struct {
	r io.Reader
	n int
}

func (l *limitedReads) Read(p []byte) (int, error) { return l.r.Read(p[:min(len(p), l.n)]) }

func TestReaderConformance(t *testing.T) {
	// iotest.TestReader checks the io.Reader contract (short buffers, EOF behaviour).
	key := testKey(2)
	for _, size := range []int{0, 1, MinChunkSize, 3*MinChunkSize + 5} {
		pt := testPlaintext(size, 9)
		data := seal(t, pt, key, MinChunkSize, 0)
		r, err := NewReader(bytes.NewReader(data), key)
		if err != nil {
			t.Fatal(err)
		}
		if err := iotest.TestReader(r, pt); err != nil {
			t.Errorf("size %d: %v", size, err)
		}
	}
}

func TestEmptyPlaintext(t *testing.T) {
	key := testKey(3)
	var out bytes.Buffer
	w, err := NewWriter(&out, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if out.Len() != HeaderSize+TagSize {
		t.Fatalf("empty plaintext sealed to %d bytes, want %d", out.Len(), HeaderSize+TagSize)
	}
	for name, open := range map[string]func([]byte, []byte) ([]byte, error){
		"Reader":     openReader,
		"DecryptAll": func(d, k []byte) ([]byte, error) { return openAll(d, k, 2) },
	} {
		got, err := open(out.Bytes(), key)
		if err != nil || len(got) != 0 {
			t.Errorf("%s: got %d bytes, %v; want empty, nil", name, len(got), err)
		}
	}
}

func TestFormatMatchesDoc(t *testing.T) {
	// Decrypt a sealed file with an independent implementation of the documented format.
	key := testKey(4)
	const cs = 5000
	pt := testPlaintext(2*cs+123, 4)
	data := seal(t, pt, key, cs, 0)

	h := data[:HeaderSize]
	if string(h[:8]) != "CRSEAL1\x00" || h[8] != 1 || h[9]|h[10]|h[11] != 0 {
		t.Fatalf("header prefix % x", h[:12])
	}
	if got := binary.BigEndian.Uint32(h[12:16]); got != cs {
		t.Fatalf("chunk size field %d, want %d", got, cs)
	}
	salt := h[16:32]
	chunkKey, err := hkdf.Key(sha256.New, key, salt, "cleanroom sealed v1 chunk key", 32)
	if err != nil {
		t.Fatal(err)
	}
	check, err := hkdf.Key(sha256.New, key, salt, "cleanroom sealed v1 key check", 16)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(check, h[32:48]) {
		t.Fatalf("key check field differs from HKDF derivation")
	}
	block, _ := aes.NewCipher(chunkKey)
	gcm, _ := cipher.NewGCM(block)
	var got []byte
	body := data[HeaderSize:]
	for i := 0; len(body) > 0; i++ {
		k := min(len(body), cs+16)
		final := k == len(body)
		nonce := make([]byte, 12)
		copy(nonce, salt[:7])
		binary.BigEndian.PutUint32(nonce[7:11], uint32(i))
		if final {
			nonce[11] = 1
		}
		p, err := gcm.Open(nil, nonce, body[:k], h)
		if err != nil {
			t.Fatalf("chunk %d (final %v): %v", i, final, err)
		}
		got = append(got, p...)
		body = body[k:]
	}
	if !bytes.Equal(got, pt) {
		t.Fatal("independent decryption differs from plaintext")
	}
}

func TestWrongKey(t *testing.T) {
	pt := testPlaintext(3*MinChunkSize, 5)
	data := seal(t, pt, testKey(5), MinChunkSize, 0)
	for _, key := range [][]byte{testKey(6), make([]byte, KeySize)} {
		if _, err := NewReader(bytes.NewReader(data), key); !errors.Is(err, ErrWrongKey) || errors.Is(err, ErrCorrupt) {
			t.Errorf("NewReader with wrong key: %v, want ErrWrongKey", err)
		}
		for _, w := range []int{1, 4} {
			if _, err := openAll(data, key, w); !errors.Is(err, ErrWrongKey) {
				t.Errorf("DecryptAll(%d) with wrong key: %v, want ErrWrongKey", w, err)
			}
		}
	}
}

func TestKeySize(t *testing.T) {
	good := seal(t, []byte("x"), testKey(7), MinChunkSize, 0)
	for _, n := range []int{0, 1, 16, 24, 31, 33, 64} {
		key := make([]byte, n)
		if _, err := NewWriter(io.Discard, key); !errors.Is(err, ErrKeySize) {
			t.Errorf("NewWriter with %d-byte key: %v", n, err)
		}
		if _, err := NewReader(bytes.NewReader(good), key); !errors.Is(err, ErrKeySize) {
			t.Errorf("NewReader with %d-byte key: %v", n, err)
		}
		if _, err := openAll(good, key, 1); !errors.Is(err, ErrKeySize) {
			t.Errorf("DecryptAll with %d-byte key: %v", n, err)
		}
	}
}

func TestChunkSizeOption(t *testing.T) {
	key := testKey(8)
	for _, cs := range []int{-1, 0, 1, MinChunkSize - 1, MaxChunkSize + 1, 1 << 30} {
		if _, err := NewWriter(io.Discard, key, WithChunkSize(cs)); err == nil {
			t.Errorf("WithChunkSize(%d) accepted", cs)
		}
	}
	for _, cs := range []int{MinChunkSize, 12345, MaxChunkSize} {
		data := seal(t, []byte("hello"), key, cs, 0)
		r, err := NewReader(bytes.NewReader(data), key)
		if err != nil {
			t.Fatal(err)
		}
		if r.ChunkSize() != cs {
			t.Errorf("ChunkSize() = %d, want %d", r.ChunkSize(), cs)
		}
		if got, err := io.ReadAll(r); err != nil || string(got) != "hello" {
			t.Errorf("chunk size %d: %q, %v", cs, got, err)
		}
	}
	var out bytes.Buffer
	w, _ := NewWriter(&out, key)
	w.Close()
	if got := binary.BigEndian.Uint32(out.Bytes()[12:16]); got != DefaultChunkSize {
		t.Errorf("default chunk size %d, want %d", got, DefaultChunkSize)
	}
}

func TestDistinctSalts(t *testing.T) {
	key := testKey(9)
	pt := testPlaintext(100, 1)
	a, b := seal(t, pt, key, MinChunkSize, 0), seal(t, pt, key, MinChunkSize, 0)
	if len(a) != len(b) || bytes.Equal(a, b) || bytes.Equal(a[16:32], b[16:32]) {
		t.Error("two sealings of the same plaintext under the same key share salt or ciphertext")
	}
}

func TestFlipEveryByte(t *testing.T) {
	key := testKey(10)
	const cs = MinChunkSize
	pt := testPlaintext(2*cs+100, 10)
	data := seal(t, pt, key, cs, 0)
	for off := range data {
		var want error
		switch {
		case off >= offSalt && off < offCheck+checkSize:
			want = ErrWrongKey // salt and key check: indistinguishable from a wrong key
		default:
			want = ErrCorrupt
		}
		mask := byte(0x01) << (off % 8) // vary the flipped bit
		d := bytes.Clone(data)
		d[off] ^= mask
		name := fmt.Sprintf("byte %d ^ %#x", off, mask)
		checkOpenFails(t, name, d, key, pt, want)
		if _, err := openReader(d, key); errors.Is(err, ErrTruncated) || errors.Is(err, ErrTrailingData) {
			t.Errorf("%s: reported as %v", name, err)
		}
	}
}

func TestTruncateEverywhere(t *testing.T) {
	key := testKey(11)
	const cs = MinChunkSize
	for _, size := range []int{0, 10, cs, 3*cs + 50} {
		pt := testPlaintext(size, 11)
		data := seal(t, pt, key, cs, 0)
		for n := range len(data) {
			want := ErrCorrupt // cut inside a chunk after at least a tag's worth of bytes
			if n < HeaderSize || (n-HeaderSize)%(cs+TagSize) < TagSize {
				// Cut inside the header, at a chunk boundary, or too early in a chunk for it to
				// hold a tag.
				want = ErrTruncated
			}
			checkOpenFails(t, fmt.Sprintf("size %d cut to %d bytes", size, n), data[:n], key, pt, want)
		}
	}
}

func TestTamperChunks(t *testing.T) {
	key := testKey(12)
	const cs = MinChunkSize
	pt := testPlaintext(3*cs+100, 12)       // chunks 0..2 full, chunk 3 partial final
	ptFull := testPlaintext(3*cs, 13)       // chunks 0..2 full, chunk 2 is a full final chunk
	data := seal(t, pt, key, cs, 0)         // this file's chunks: c
	dataFull := seal(t, ptFull, key, cs, 0) // f
	other := seal(t, pt, key, cs, 0)        // same key and plaintext, other salt: o
	otherCS := seal(t, pt, key, cs+16, 0)   // other chunk size
	h, c := splitChunks(t, data, cs)        // c[3] is final
	hf, f := splitChunks(t, dataFull, cs)   // f[2] is final and full
	ho, o := splitChunks(t, other, cs)      // o: same layout as c
	changedCS := bytes.Clone(h)             // header claiming a different valid chunk size
	binary.BigEndian.PutUint32(changedCS[offChunk:], cs*2)
	tests := []struct {
		name string
		data []byte
		orig []byte
		want error
	}{
		{"swap chunks 0 and 1", join(h, c[1], c[0], c[2], c[3]), pt, ErrCorrupt},
		{"swap chunks 1 and 2", join(h, c[0], c[2], c[1], c[3]), pt, ErrCorrupt},
		{"swap full final with previous", join(hf, f[0], f[2], f[1]), ptFull, ErrCorrupt},
		{"duplicate chunk 0", join(h, c[0], c[0], c[1], c[2], c[3]), pt, ErrCorrupt},
		{"duplicate chunk 1", join(h, c[0], c[1], c[1], c[2], c[3]), pt, ErrCorrupt},
		{"duplicate final chunk", join(h, c[0], c[1], c[2], c[3], c[3]), pt, ErrCorrupt},
		{"duplicate full final chunk", join(hf, f[0], f[1], f[2], f[2]), ptFull, ErrTrailingData},
		{"drop chunk 0", join(h, c[1], c[2], c[3]), pt, ErrCorrupt},
		{"drop middle chunk", join(h, c[0], c[2], c[3]), pt, ErrCorrupt},
		{"drop final chunk", join(h, c[0], c[1], c[2]), pt, ErrTruncated},
		{"drop full final chunk", join(hf, f[0], f[1]), ptFull, ErrTruncated},
		{"final chunk only", join(h, c[3]), pt, ErrCorrupt},
		{"header only", join(h), pt, ErrTruncated},
		{"append 1 byte", join(data, []byte{0}), pt, ErrCorrupt},
		{"append 16 bytes", join(data, make([]byte, 16)), pt, ErrCorrupt},
		{"append 17 bytes", join(data, make([]byte, 17)), pt, ErrCorrupt},
		{"append a chunk of zeros", join(data, make([]byte, cs+TagSize)), pt, ErrCorrupt},
		{"append 1 byte after full final", join(dataFull, []byte{0}), ptFull, ErrTrailingData},
		{"append 16 bytes after full final", join(dataFull, make([]byte, 16)), ptFull, ErrTrailingData},
		{"append 17 bytes after full final", join(dataFull, make([]byte, 17)), ptFull, ErrTrailingData},
		{"append a file after full final", join(dataFull, dataFull), ptFull, ErrTrailingData},
		{"chunk 1 from another file", join(h, c[0], o[1], c[2], c[3]), pt, ErrCorrupt},
		{"header from another file", join(ho, c[0], c[1], c[2], c[3]), pt, ErrCorrupt},
		{"header from a file with another chunk size", join(otherCS[:HeaderSize], data[HeaderSize:]), pt, ErrCorrupt},
		{"chunk size field changed", join(changedCS, c[0], c[1], c[2], c[3]), pt, ErrCorrupt},
		{"final chunk of another file", join(h, c[0], c[1], c[2], o[3]), pt, ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkOpenFails(t, tt.name, tt.data, key, tt.orig, tt.want) })
	}
}

func TestNotSealed(t *testing.T) {
	key := testKey(13)
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"magic prefix", []byte("CRSEAL"), ErrTruncated},
		{"magic only", []byte(magic), ErrTruncated},
		{"other data", []byte("hello, world"), ErrCorrupt},
		{"long other data", bytes.Repeat([]byte("x"), 1000), ErrCorrupt},
		{"version 2", func() []byte { d := seal(t, nil, key, MinChunkSize, 0); d[offVersion] = 2; return d }(), ErrCorrupt},
		{"chunk size 0", func() []byte {
			d := seal(t, nil, key, MinChunkSize, 0)
			binary.BigEndian.PutUint32(d[offChunk:], 0)
			return d
		}(), ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewReader(bytes.NewReader(tt.data), key); !errors.Is(err, tt.want) {
				t.Errorf("NewReader: %v, want %v", err, tt.want)
			}
			if _, err := openAll(tt.data, key, 2); !errors.Is(err, tt.want) {
				t.Errorf("DecryptAll: %v, want %v", err, tt.want)
			}
		})
	}
}

func TestErrorHierarchy(t *testing.T) {
	tests := []struct {
		err, target error
		want        bool
	}{
		{ErrTruncated, ErrCorrupt, true},
		{ErrTrailingData, ErrCorrupt, true},
		{ErrWrongKey, ErrCorrupt, false},
		{ErrCorrupt, ErrTruncated, false},
		{ErrTruncated, ErrTrailingData, false},
		{fmt.Errorf("x: %w", ErrTruncated), ErrCorrupt, true},
	}
	for _, tt := range tests {
		if got := errors.Is(tt.err, tt.target); got != tt.want {
			t.Errorf("errors.Is(%v, %v) = %v, want %v", tt.err, tt.target, got, tt.want)
		}
	}
}

// closeRecorder records whether Close was called.
type closeRecorder struct {
	bytes.Buffer
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

func TestWriterClose(t *testing.T) {
	key := testKey(14)
	var out closeRecorder
	w, err := NewWriter(&out, key, WithChunkSize(MinChunkSize))
	if err != nil {
		t.Fatal(err)
	}
	if out.Len() != HeaderSize {
		t.Errorf("NewWriter wrote %d bytes, want the %d-byte header", out.Len(), HeaderSize)
	}
	w.Write([]byte("abc"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if out.closed {
		t.Error("Close closed the underlying writer")
	}
	n := out.Len()
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if out.Len() != n {
		t.Error("second Close wrote more data")
	}
	if _, err := w.Write([]byte("d")); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close: %v, want ErrClosed", err)
	}
	if got, err := openReader(out.Bytes(), key); err != nil || string(got) != "abc" {
		t.Errorf("got %q, %v", got, err)
	}
}

// failWriter accepts limit bytes, then fails (or, if short, reports a short write without error).
type failWriter struct {
	limit int
	short bool
}

var errSink = errors.New("sink failed")

func (f *failWriter) Write(p []byte) (int, error) {
	if len(p) <= f.limit {
		f.limit -= len(p)
		return len(p), nil
	}
	n := f.limit
	f.limit = 0
	if f.short {
		return n, nil
	}
	return n, errSink
}

func TestWriterErrors(t *testing.T) {
	key := testKey(15)
	tests := []struct {
		name    string
		limit   int
		short   bool
		want    error
		failNew bool
	}{
		{"header fails", 10, false, errSink, true},
		{"header short", 10, true, io.ErrShortWrite, true},
		{"first chunk fails", HeaderSize + 5, false, errSink, false},
		{"later chunk fails", HeaderSize + 3*(MinChunkSize+TagSize), false, errSink, false},
		{"chunk short", HeaderSize + 5, true, io.ErrShortWrite, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := NewWriter(&failWriter{limit: tt.limit, short: tt.short}, key, WithChunkSize(MinChunkSize))
			if tt.failNew {
				if !errors.Is(err, tt.want) {
					t.Errorf("NewWriter: %v, want %v", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			pt := testPlaintext(10*MinChunkSize, 1)
			_, werr := w.Write(pt)
			cerr := w.Close()
			err = errors.Join(werr, cerr)
			if !errors.Is(err, tt.want) {
				t.Errorf("Write/Close: %v, %v; want %v", werr, cerr, tt.want)
			}
			if _, err := w.Write([]byte("x")); err == nil {
				t.Error("Write after failure succeeded")
			}
			if err := w.Close(); !errors.Is(err, tt.want) {
				t.Errorf("Close after failure: %v, want %v", err, tt.want)
			}
		})
	}
}

func TestWriterTooLarge(t *testing.T) {
	w, err := NewWriter(io.Discard, testKey(16), WithChunkSize(MinChunkSize))
	if err != nil {
		t.Fatal(err)
	}
	w.index = maxIndex // pretend 2^32-1 chunks were written: only a final chunk may follow
	if _, err := w.Write(make([]byte, MinChunkSize)); err != nil {
		t.Fatalf("filling the last possible chunk: %v", err)
	}
	if _, err := w.Write([]byte{1}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("writing past the last chunk: %v, want ErrTooLarge", err)
	}
	w2, _ := NewWriter(io.Discard, testKey(16), WithChunkSize(MinChunkSize))
	w2.index = maxIndex
	w2.Write(make([]byte, 10))
	if err := w2.Close(); err != nil {
		t.Errorf("final chunk at the last index: %v", err)
	}
}

func TestWriterAllocs(t *testing.T) {
	w, err := NewWriter(io.Discard, testKey(17), WithChunkSize(MinChunkSize))
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, MinChunkSize)
	if a := testing.AllocsPerRun(100, func() { w.Write(chunk) }); a != 0 {
		t.Errorf("Write allocates %v times per chunk, want 0", a)
	}
}

// errAfterReader returns the first n bytes of data, then err.
type errAfterReader struct {
	data []byte
	err  error
}

func (e *errAfterReader) Read(p []byte) (int, error) {
	if len(e.data) == 0 {
		return 0, e.err
	}
	n := copy(p, e.data)
	e.data = e.data[n:]
	return n, nil
}

var errSource = errors.New("source failed")

func TestReaderSourceError(t *testing.T) {
	key := testKey(18)
	data := seal(t, testPlaintext(5*MinChunkSize, 2), key, MinChunkSize, 0)
	for _, n := range []int{0, 20, HeaderSize, HeaderSize + 100, HeaderSize + 2*(MinChunkSize+TagSize) + 1} {
		r, err := NewReader(&errAfterReader{data[:n], errSource}, key)
		if err == nil {
			_, err = io.ReadAll(r)
		}
		if !errors.Is(err, errSource) || errors.Is(err, ErrCorrupt) {
			t.Errorf("source fails after %d bytes: %v, want the source error", n, err)
		}
		if err == nil {
			continue
		}
		if r != nil {
			if _, err2 := r.Read(make([]byte, 10)); !errors.Is(err2, errSource) {
				t.Errorf("error not sticky: %v", err2)
			}
		}
	}
}

func TestReaderEOFIsSticky(t *testing.T) {
	key := testKey(19)
	data := seal(t, []byte("abc"), key, MinChunkSize, 0)
	r, _ := NewReader(bytes.NewReader(data), key)
	if got, err := io.ReadAll(r); err != nil || string(got) != "abc" {
		t.Fatalf("%q, %v", got, err)
	}
	for range 3 {
		if n, err := r.Read(make([]byte, 4)); n != 0 || err != io.EOF {
			t.Errorf("Read after end = %d, %v", n, err)
		}
	}
}

func TestReaderTooManyChunks(t *testing.T) {
	key := testKey(20)
	data := seal(t, testPlaintext(2*MinChunkSize, 3), key, MinChunkSize, 0)
	r, _ := NewReader(bytes.NewReader(data), key)
	r.index = maxIndex + 1
	if _, err := io.ReadAll(r); !errors.Is(err, ErrCorrupt) {
		t.Errorf("%v, want ErrCorrupt", err)
	}
}

// errReaderAt fails reads at or beyond off.
type errReaderAt struct {
	r   io.ReaderAt
	off int64
}

func (e *errReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > e.off {
		return 0, errSource
	}
	return e.r.ReadAt(p, off)
}

func TestDecryptAllReadErrors(t *testing.T) {
	key := testKey(21)
	pt := testPlaintext(4*MinChunkSize, 4)
	data := seal(t, pt, key, MinChunkSize, 0)
	for _, off := range []int64{0, HeaderSize, HeaderSize + 2*(MinChunkSize+TagSize)} {
		_, err := DecryptAll(&errReaderAt{bytes.NewReader(data), off}, int64(len(data)), key, 2)
		if !errors.Is(err, errSource) {
			t.Errorf("read error at %d: %v, want the source error", off, err)
		}
	}
	if _, err := DecryptAll(bytes.NewReader(data), int64(len(data))+100, key, 2); !errors.Is(err, ErrCorrupt) {
		t.Errorf("size beyond the data: %v, want an integrity error", err)
	}
	if _, err := DecryptAll(bytes.NewReader(data[:len(data)-10]), int64(len(data)), key, 2); !errors.Is(err, ErrTruncated) {
		t.Errorf("data shorter than size: %v, want ErrTruncated", err)
	}
	if _, err := DecryptAll(bytes.NewReader(data), -1, key, 2); err == nil {
		t.Error("negative size accepted")
	}
	// Bytes beyond size are not examined.
	got, err := DecryptAll(bytes.NewReader(join(data, []byte("junk"))), int64(len(data)), key, 2)
	if err != nil || !bytes.Equal(got, pt) {
		t.Errorf("size excluding junk: %v", err)
	}
}

func TestDecryptAllWorkers(t *testing.T) {
	key := testKey(22)
	const cs = MinChunkSize
	pt := testPlaintext(20*cs+33, 5)
	data := seal(t, pt, key, cs, 0)
	bad := bytes.Clone(data)
	bad[HeaderSize+3*(cs+TagSize)+7] ^= 1  // damage chunk 3
	bad[HeaderSize+7*(cs+TagSize)+7] ^= 1  // and chunk 7
	bad[HeaderSize+15*(cs+TagSize)+7] ^= 1 // and chunk 15
	for _, w := range []int{-1, 0, 1, 2, 3, 4, 8, 100} {
		got, err := openAll(data, key, w)
		if err != nil || !bytes.Equal(got, pt) {
			t.Errorf("workers=%d: %v", w, err)
		}
		for range 5 {
			_, err := openAll(bad, key, w)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "chunk 3 ") {
				t.Errorf("workers=%d: %v, want the error of chunk 3", w, err)
			}
		}
	}
}

func TestSizes(t *testing.T) {
	tests := []struct {
		pt     int64
		cs     int
		sealed int64
	}{
		{0, MinChunkSize, 64},
		{1, MinChunkSize, 65},
		{MinChunkSize, MinChunkSize, 48 + 4096 + 16},
		{MinChunkSize + 1, MinChunkSize, 48 + 4097 + 32},
		{0, 0, 64},
		{5 << 20, 0, 48 + 5<<20 + 5*16},
		{5<<20 + 1, 0, 48 + 5<<20 + 1 + 6*16},
		{10 << 30, 0, 48 + 10<<30 + 10240*16},
		{MaxChunks * MinChunkSize, MinChunkSize, 48 + MaxChunks*MinChunkSize + MaxChunks*16},
	}
	for _, tt := range tests {
		if got := SealedSize(tt.pt, tt.cs); got != tt.sealed {
			t.Errorf("SealedSize(%d, %d) = %d, want %d", tt.pt, tt.cs, got, tt.sealed)
		}
		if got := Overhead(tt.pt, tt.cs); got != tt.sealed-tt.pt {
			t.Errorf("Overhead(%d, %d) = %d, want %d", tt.pt, tt.cs, got, tt.sealed-tt.pt)
		}
		if got, err := PlaintextSize(tt.sealed, tt.cs); err != nil || got != tt.pt {
			t.Errorf("PlaintextSize(%d, %d) = %d, %v; want %d", tt.sealed, tt.cs, got, err, tt.pt)
		}
	}
	full := int64(MinChunkSize + TagSize)
	invalid := []struct {
		sealed int64
		want   error
	}{
		{-1, ErrTruncated},
		{0, ErrTruncated},
		{HeaderSize, ErrTruncated},
		{HeaderSize + 15, ErrCorrupt},
		{HeaderSize + full + 15, ErrCorrupt},
		{HeaderSize + full + 16, ErrCorrupt}, // empty final chunk after a full one: not canonical
		{HeaderSize + (MaxChunks+1)*full, ErrCorrupt},
	}
	for _, tt := range invalid {
		if got, err := PlaintextSize(tt.sealed, MinChunkSize); !errors.Is(err, tt.want) {
			t.Errorf("PlaintextSize(%d) = %d, %v; want %v", tt.sealed, got, err, tt.want)
		}
	}
	if _, err := PlaintextSize(100, 1); err == nil {
		t.Error("PlaintextSize accepted chunk size 1")
	}
	for _, bad := range []struct {
		pt int64
		cs int
	}{{-1, 0}, {0, 1}, {0, MaxChunkSize + 1}, {MaxChunks*MinChunkSize + 1, MinChunkSize}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("SealedSize(%d, %d) did not panic", bad.pt, bad.cs)
				}
			}()
			SealedSize(bad.pt, bad.cs)
		}()
	}
}

func TestNonCanonicalEmptyFinalChunk(t *testing.T) {
	// A writer that emitted an empty final chunk after a full one would produce a valid-looking
	// file; the format forbids it so sizes map one-to-one to plaintext sizes.
	key := testKey(23)
	const cs = MinChunkSize
	data := seal(t, testPlaintext(cs, 6), key, cs, 0)
	h, c := splitChunks(t, data, cs)
	fk, err := parseHeader(h, key)
	if err != nil {
		t.Fatal(err)
	}
	g := fk.aead()
	var n [nonceSize]byte
	fk.nonce(&n, 0, false)
	if _, err := g.Open(nil, n[:], c[0], h); err == nil {
		t.Fatal("full final chunk opened as non-final")
	}
	fk.nonce(&n, 0, true)
	c0, err := g.Open(nil, n[:], c[0], h)
	if err != nil {
		t.Fatal(err)
	}
	fk.nonce(&n, 0, false)
	first := g.Seal(nil, n[:], c0, h)
	fk.nonce(&n, 1, true)
	empty := g.Seal(nil, n[:], nil, h)
	checkOpenFails(t, "empty final chunk", join(h, first, empty), key, c0, ErrCorrupt)
}
