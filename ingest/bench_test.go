package ingest_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom/benchenv"
	"github.com/cleanroom-oss/cleanroom/ingest"
	"github.com/cleanroom-oss/cleanroom/keyring"
	"github.com/cleanroom-oss/cleanroom/localblob"
)

// benchRows returns the number of rows of the big benchmarks: CLEANROOM_BENCH_ROWS, or def.
func benchRows(b *testing.B, def int) int {
	if s := os.Getenv("CLEANROOM_BENCH_ROWS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			b.Fatalf("CLEANROOM_BENCH_ROWS=%q: want a positive number", s)
		}
		return n
	}
	return def
}

// benchOptions returns the options of the benchmarks: the tests' options, with the memory
// budget CLEANROOM_BENCH_INGEST_MEMORY (bytes) when it is set.
func benchOptions(b *testing.B) ingest.Options {
	opt := ingestOptions()
	if s := os.Getenv("CLEANROOM_BENCH_INGEST_MEMORY"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			b.Fatalf("CLEANROOM_BENCH_INGEST_MEMORY=%q: want a positive number of bytes", s)
		}
		opt.MemoryBudget = n
	}
	return opt
}

// BenchmarkAdvertiser1M ingests a 1M-row file held in memory (or CLEANROOM_BENCH_ROWS rows):
// parse, validate, normalise, fingerprint, sort and deduplicate, without storing.
func BenchmarkAdvertiser1M(b *testing.B) {
	rows := benchRows(b, 1_000_000)
	var file bytes.Buffer
	if err := writeAdvertiserFile(&file, genConfig{rows: rows, seed: 1, dupRate: 0.01, badRate: 0.001}); err != nil {
		b.Fatal(err)
	}
	tax := benchTaxonomy(b)
	ctx := context.Background()
	b.SetBytes(int64(file.Len()))
	b.ResetTimer()
	var peak uint64
	cpu0 := int64(benchenv.CPUTime())
	for b.Loop() {
		runtime.GC()
		stop := watchHeap(&peak)
		v, rep, err := ingest.Advertiser(ctx, bytes.NewReader(file.Bytes()), tax, benchOptions(b))
		stop()
		if err != nil {
			b.Fatal(err)
		}
		if v.Rows() == 0 || rep.RowsRead != int64(rows) {
			b.Fatalf("read %d rows, kept %d", rep.RowsRead, v.Rows())
		}
		v.Close()
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(int64(benchenv.CPUTime())-cpu0)/float64(rows)/float64(b.N), "cpu-ns/row")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}

// BenchmarkAdvertiserEndToEnd ingests a 10M-row file (or CLEANROOM_BENCH_ROWS rows) streamed
// from disk and writes the version, encrypted, to a local blob directory: the whole path of an
// upload. It reports rows/s of the whole, the share of each step, and the process's peak RSS.
// Run it alone, once:
//
//	CLEANROOM_BENCH_ROWS=10000000 go test ./ingest -run '^$' -bench EndToEnd -benchtime 1x
func BenchmarkAdvertiserEndToEnd(b *testing.B) {
	rows := benchRows(b, 10_000_000)
	dir := b.TempDir()
	path := filepath.Join(dir, "upload.tsv")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := writeAdvertiserFile(f, genConfig{rows: rows, seed: 1, dupRate: 0.01, badRate: 0.001}); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	blobs, err := localblob.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		b.Fatal(err)
	}
	tax := benchTaxonomy(b)
	ctx := context.Background()
	var ingestTime, writeTime time.Duration
	var stored int64
	var spilled int
	b.ResetTimer()
	cpu0 := int64(benchenv.CPUTime())
	for i := 0; b.Loop(); i++ {
		in, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		v, rep, err := ingest.Advertiser(ctx, in, tax, benchOptions(b))
		in.Close()
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		stored, err = v.Write(ctx, blobs, "ds/v"+strconv.Itoa(i), keyring.NewDataKey())
		if err != nil {
			b.Fatal(err)
		}
		if err := v.Close(); err != nil {
			b.Fatal(err)
		}
		spilled = rep.SpilledRuns
		ingestTime += t1.Sub(t0)
		writeTime += time.Since(t1)
		b.Logf("run %d: %d rows in %.2fs (%.0f rows/s): ingest %.2fs, write %.2fs (%d MiB), %d runs spilled", i+1, rows,
			time.Since(t0).Seconds(), float64(rows)/time.Since(t0).Seconds(), t1.Sub(t0).Seconds(), time.Since(t1).Seconds(), stored>>20, spilled)
		if rep.RowsRead != int64(rows) {
			b.Fatalf("read %d rows", rep.RowsRead)
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(rows)*n/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(int64(benchenv.CPUTime())-cpu0)/float64(rows)/n, "cpu-ns/row")
	b.ReportMetric(ingestTime.Seconds()/n, "ingest-s")
	b.ReportMetric(writeTime.Seconds()/n, "write-s")
	b.ReportMetric(float64(stored)/(1<<20), "stored-MiB")
	if rss := peakRSS(); rss > 0 {
		b.ReportMetric(float64(rss)/(1<<20), "peak-RSS-MiB")
	}
}

// watchHeap samples the live heap every few milliseconds into *peak until stop is called.
func watchHeap(peak *uint64) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	go func() {
		defer close(finished)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			*peak = max(*peak, sample[0].Value.Uint64())
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-finished }
}

// peakRSS returns the process's peak resident set size (VmHWM) in bytes, or 0 if unknown.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
