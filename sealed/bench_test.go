package sealed

import (
	"bytes"
	"fmt"
	"io"
	"testing"
)

const benchSize = 64 << 20

func BenchmarkWrite(b *testing.B) {
	key := testKey(40)
	pt := testPlaintext(benchSize, 40)
	// 256 KiB writes, as a streaming producer would issue, go through the chunk buffer; one big
	// write is sealed straight from the caller's slice.
	for _, ws := range []int{256 << 10, benchSize} {
		b.Run(fmt.Sprintf("writes=%dKiB", ws>>10), func(b *testing.B) {
			b.SetBytes(benchSize)
			for b.Loop() {
				w, err := NewWriter(io.Discard, key)
				if err != nil {
					b.Fatal(err)
				}
				for rest := pt; len(rest) > 0; rest = rest[min(len(rest), ws):] {
					if _, err := w.Write(rest[:min(len(rest), ws)]); err != nil {
						b.Fatal(err)
					}
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkRead(b *testing.B) {
	key := testKey(41)
	data := seal(b, testPlaintext(benchSize, 41), key, DefaultChunkSize, 0)
	run := func(b *testing.B, consume func(r *Reader) (int64, error)) {
		b.SetBytes(benchSize)
		for b.Loop() {
			r, err := NewReader(bytes.NewReader(data), key)
			if err != nil {
				b.Fatal(err)
			}
			if n, err := consume(r); err != nil || n != benchSize {
				b.Fatalf("read %d bytes, %v", n, err)
			}
		}
	}
	b.Run("WriteTo", func(b *testing.B) {
		run(b, func(r *Reader) (int64, error) { return io.Copy(io.Discard, r) })
	})
	b.Run("Read32KiB", func(b *testing.B) {
		buf := make([]byte, 32<<10)
		run(b, func(r *Reader) (int64, error) {
			// Hide WriteTo so the plain Read path is measured.
			return io.CopyBuffer(io.Discard, struct{ io.Reader }{r}, buf)
		})
	})
}

func BenchmarkDecryptAll(b *testing.B) {
	key := testKey(42)
	data := seal(b, testPlaintext(benchSize, 42), key, DefaultChunkSize, 0)
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			b.SetBytes(benchSize)
			for b.Loop() {
				out, err := DecryptAll(bytes.NewReader(data), int64(len(data)), key, workers)
				if err != nil || len(out) != benchSize {
					b.Fatalf("%d bytes, %v", len(out), err)
				}
			}
		})
	}
}
