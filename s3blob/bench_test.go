package s3blob_test

import (
	"io"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/keyring"
	"github.com/cleanroom-oss/cleanroom/localblob"
	"github.com/cleanroom-oss/cleanroom/s3blob/s3test"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// BenchmarkReadVersion reads a large sealed vault file (3 GB by default) the way a version is
// read (vault.Open: ranged reads, authenticated and decrypted in parallel) from the local store
// and from S3, in the same run. It writes the file to both first, so it is opt-in:
//
//	CLEANROOM_BENCH_S3=1 CLEANROOM_TEST_S3_ENDPOINT=... go test -run '^$' -bench ReadVersion -benchtime 3x ./s3blob/
//
// CLEANROOM_BENCH_S3_BYTES sets another size.
func BenchmarkReadVersion(b *testing.B) {
	if os.Getenv("CLEANROOM_BENCH_S3") != "1" {
		b.Skip("set CLEANROOM_BENCH_S3=1 (and the CLEANROOM_TEST_S3_* server) to write and read a 3 GB file locally and on S3")
	}
	size := int64(3e9)
	if v := os.Getenv("CLEANROOM_BENCH_S3_BYTES"); v != "" {
		var err error
		if size, err = strconv.ParseInt(v, 10, 64); err != nil {
			b.Fatal(err)
		}
	}
	size &^= 7
	for _, c := range []struct {
		name string
		open func(b *testing.B) cleanroom.BlobStore
	}{
		{"local", func(b *testing.B) cleanroom.BlobStore {
			d, err := localblob.Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			return d
		}},
		{"s3", func(b *testing.B) cleanroom.BlobStore { return s3test.Store(b) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			blobs := c.open(b)
			key := keyring.NewDataKey()
			section := vault.StreamSection{Name: "data", Size: size, Write: func(w io.Writer) error {
				buf := make([]byte, 1<<20)
				for i := range buf {
					buf[i] = byte(i * 31)
				}
				for left := size; left > 0; {
					n, err := w.Write(buf[:min(left, int64(len(buf)))])
					if err != nil {
						return err
					}
					left -= int64(n)
				}
				return nil
			}}
			start := time.Now()
			if _, err := vault.WriteStream(b.Context(), blobs, "vaults/bench/v1", key, "bench", nil, []vault.StreamSection{section}); err != nil {
				b.Fatal(err)
			}
			took := time.Since(start)
			b.Logf("wrote %d bytes in %s (%.0f MB/s)", size, took.Round(time.Millisecond), float64(size)/took.Seconds()/1e6)
			runtime.GC()
			b.SetBytes(size)
			b.ResetTimer()
			for b.Loop() {
				f, err := vault.Open(b.Context(), blobs, "vaults/bench/v1", key, "bench", 0)
				if err != nil {
					b.Fatal(err)
				}
				if got := len(f.Bytes("data")); int64(got) != size {
					b.Fatalf("read %d bytes, want %d", got, size)
				}
				f = nil
				runtime.GC()
			}
		})
	}
}
