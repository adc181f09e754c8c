package sealed

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// FuzzRoundTrip seals arbitrary data with arbitrary write and read sizes and chunk sizes near the
// minimum (so that small inputs span several chunks) and checks every way of opening it.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte{}, uint16(0), uint16(0), uint8(0))
	f.Add([]byte("hello, world"), uint16(1), uint16(3), uint8(1))
	f.Add(testPlaintext(MinChunkSize, 1), uint16(4095), uint16(4097), uint8(0))
	f.Add(testPlaintext(3*MinChunkSize+17, 2), uint16(1000), uint16(1), uint8(200))
	f.Add(testPlaintext(2*MinChunkSize+2, 3), uint16(MinChunkSize), uint16(MinChunkSize+1), uint8(1))
	key := testKey(30)
	f.Fuzz(func(t *testing.T, data []byte, writeSize, readSize uint16, csDelta uint8) {
		cs := MinChunkSize + int(csDelta)
		sealed := seal(t, data, key, cs, int(writeSize))
		if want := SealedSize(int64(len(data)), cs); int64(len(sealed)) != want {
			t.Fatalf("sealed %d bytes to %d, SealedSize says %d", len(data), len(sealed), want)
		}
		if n, err := PlaintextSize(int64(len(sealed)), cs); err != nil || n != int64(len(data)) {
			t.Fatalf("PlaintextSize = %d, %v; want %d", n, err, len(data))
		}
		r, err := NewReader(iotest.HalfReader(bytes.NewReader(sealed)), key)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(&limitedReads{r, max(1, int(readSize))})
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("Reader: %d bytes, %v; want %d bytes", len(got), err, len(data))
		}
		for _, w := range []int{1, 3} {
			got, err := openAll(sealed, key, w)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("DecryptAll(%d): %d bytes, %v; want %d bytes", w, len(got), err, len(data))
			}
		}
	})
}

// FuzzOpen feeds arbitrary bytes to NewReader and DecryptAll: they must never panic, must agree
// on success and plaintext, and may fail only with the package's errors.
func FuzzOpen(f *testing.F) {
	key := testKey(31)
	valid := seal(f, testPlaintext(2*MinChunkSize+5, 4), key, MinChunkSize, 0)
	f.Add([]byte{})
	f.Add([]byte(magic))
	f.Add(seal(f, nil, key, MinChunkSize, 0))
	f.Add(seal(f, []byte("x"), key, MinChunkSize, 0))
	f.Add(valid)
	f.Add(valid[:len(valid)-1])
	f.Add(valid[:HeaderSize+MinChunkSize+TagSize])
	f.Add(append(bytes.Clone(valid), 0))
	f.Add(seal(f, []byte("other key"), testKey(32), MinChunkSize, 0))
	f.Add(bytes.Repeat([]byte{0xff}, 200))
	f.Fuzz(func(t *testing.T, data []byte) {
		var got1 []byte
		r, err1 := NewReader(bytes.NewReader(data), key)
		if err1 == nil {
			got1, err1 = io.ReadAll(r)
		}
		got2, err2 := openAll(data, key, 2)
		for _, err := range []error{err1, err2} {
			if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrWrongKey) {
				t.Errorf("unexpected error class: %v", err)
			}
		}
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("Reader and DecryptAll disagree: %v vs %v", err1, err2)
		}
		if err1 == nil && !bytes.Equal(got1, got2) {
			t.Fatal("Reader and DecryptAll return different plaintext")
		}
	})
}
