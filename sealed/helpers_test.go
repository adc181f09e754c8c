package sealed

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
)

// testKey returns a deterministic 32-byte key identified by id.
func testKey(id byte) []byte {
	k := make([]byte, KeySize)
	for i := range k {
		k[i] = id ^ byte(i*7+1)
	}
	return k
}

// testPlaintext returns n deterministic pseudo-random bytes.
func testPlaintext(n int, seed byte) []byte {
	b := make([]byte, n)
	var s [32]byte
	s[0] = seed
	rand.NewChaCha8(s).Read(b)
	return b
}

// seal seals pt under key with chunk size cs, writing it in pieces of writeSize bytes (0: one
// Write call).
func seal(t testing.TB, pt, key []byte, cs, writeSize int) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := NewWriter(&out, key, WithChunkSize(cs))
	if err != nil {
		t.Fatalf("NewWriter: %v", err)
	}
	if writeSize <= 0 {
		writeSize = max(len(pt), 1)
	}
	for rest := pt; len(rest) > 0; {
		k := min(writeSize, len(rest))
		n, err := w.Write(rest[:k])
		if err != nil || n != k {
			t.Fatalf("Write = %d, %v; want %d, nil", n, err, k)
		}
		rest = rest[k:]
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return out.Bytes()
}

// openReader decrypts data with NewReader and io.ReadAll. It returns the plaintext delivered
// before any error.
func openReader(data, key []byte) ([]byte, error) {
	r, err := NewReader(bytes.NewReader(data), key)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// openAll decrypts data with DecryptAll.
func openAll(data, key []byte, workers int) ([]byte, error) {
	return DecryptAll(bytes.NewReader(data), int64(len(data)), key, workers)
}

// splitChunks splits a sealed file with chunk size cs into its header and chunks.
func splitChunks(t testing.TB, data []byte, cs int) (hdr []byte, chunks [][]byte) {
	t.Helper()
	if len(data) < HeaderSize {
		t.Fatalf("sealed file of %d bytes has no header", len(data))
	}
	hdr, body := data[:HeaderSize], data[HeaderSize:]
	for len(body) > 0 {
		k := min(len(body), cs+TagSize)
		chunks = append(chunks, body[:k])
		body = body[k:]
	}
	return hdr, chunks
}

// join concatenates byte slices into a new slice.
func join(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// checkOpenFails asserts that every way of opening data fails with an error matching want (and
// never succeeds), and that any plaintext the sequential Reader delivered before failing is a
// prefix of orig.
func checkOpenFails(t *testing.T, name string, data, key, orig []byte, want error) {
	t.Helper()
	got, err := openReader(data, key)
	if err == nil {
		t.Errorf("%s: Reader: opened damaged file (%d bytes of plaintext)", name, len(got))
	} else if !errors.Is(err, want) {
		t.Errorf("%s: Reader: error %v, want %v", name, err, want)
	}
	if !bytes.HasPrefix(orig, got) {
		t.Errorf("%s: Reader: delivered %d bytes that are not a prefix of the original", name, len(got))
	}
	for _, workers := range []int{1, 4} {
		got, err := openAll(data, key, workers)
		if err == nil {
			t.Errorf("%s: DecryptAll(%d workers): opened damaged file", name, workers)
		} else if !errors.Is(err, want) {
			t.Errorf("%s: DecryptAll(%d workers): error %v, want %v", name, workers, err, want)
		}
		if got != nil {
			t.Errorf("%s: DecryptAll(%d workers): returned plaintext with error", name, workers)
		}
	}
}
