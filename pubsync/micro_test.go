package pubsync

import (
	"bytes"
	"io"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cleanroom-oss/cleanroom/rows"
)

// BenchmarkParseBlock measures one worker parsing one 8 MiB block of the benchmark generator's
// output (fingerprinting included), per user: the core of Sync without the pipeline.
func BenchmarkParseBlock(b *testing.B) {
	data := make([]byte, defaultBlockSize)
	n, _ := io.ReadFull(newGenReader(100_000, 3), data)
	data = data[bytes.IndexByte(data, '\n')+1 : n]
	data = data[:bytes.LastIndexByte(data, '\n')+1]
	users := bytes.Count(data, []byte{'\n'})
	cfg, err := Options{FingerprintKey: testFPKey, UserKey: testUserKey}.prepare()
	if err != nil {
		b.Fatal(err)
	}
	w := newWorker(cfg, layout{ncols: 4, col: [numCols]int{0, 1, 2, 3}}, benchTaxonomy(b), newArenas())
	buf := make([]byte, len(data)+1)
	for b.Loop() {
		b.StopTimer()
		rd, err := rows.NewReader(bytes.NewReader(data), rows.Options{})
		if err != nil {
			b.Fatal(err)
		}
		blk, err := rd.Next(buf)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		w.parse(&block{Block: blk})
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*users), "ns/user")
}

// randomRecs returns n records with random fingerprints whose leading bucketBits bits are
// lead.
func randomRecs(n int, lead uint64) []rec {
	r := rand.New(rand.NewPCG(1, 2))
	out := make([]rec, n)
	for i := range out {
		x := lead<<(64-bucketBits) | r.Uint64()>>bucketBits
		for k := range 8 {
			out[i].fp[k] = byte(x >> (56 - 8*k))
			out[i].fp[8+k] = byte(r.Uint32())
		}
		out[i].ord = uint32(i)
	}
	return out
}

// BenchmarkBucketRecs measures the per-block bucketing of identity rows.
func BenchmarkBucketRecs(b *testing.B) {
	in := randomRecs(125_000, 0)
	for i := range in {
		in[i].fp[0], in[i].fp[1] = byte(i*7), byte(i*13) // spread over the buckets
	}
	tmp, out := make([]rec, len(in)), make([]rec, len(in))
	off := make([]uint32, numBuckets+1)
	for b.Loop() {
		bucketRecs(in, tmp, out, off)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(in)), "ns/rec")
}

// BenchmarkSortRecs measures the sort of one bucket of the size a 65M-row tag gives.
func BenchmarkSortRecs(b *testing.B) {
	in := randomRecs(16_000, 5)
	a, tmp := make([]rec, len(in)), make([]rec, len(in))
	var c counts
	for b.Loop() {
		copy(a, in)
		sortRecs(a, tmp, &c)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(in)), "ns/rec")
}

// TestSortRecs checks the bucket sort against the comparison sort.
func TestSortRecs(t *testing.T) {
	for _, n := range []int{0, 1, 5, smallSort, 1000, 20_000} {
		in := randomRecs(n, 9)
		for i := 0; i+1 < n; i += 10 {
			in[i+1].fp = in[i].fp // ties on the fingerprint, ordered by ordinal
		}
		want := append([]rec(nil), in...)
		got := append([]rec(nil), in...)
		var c counts
		sortRecs(got, make([]rec, n), &c)
		slicesSortRecs(want)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("n=%d: position %d differs", n, i)
			}
		}
	}
}

func slicesSortRecs(a []rec) { slices.SortFunc(a, recCompare) }
