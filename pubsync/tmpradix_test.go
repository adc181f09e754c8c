package pubsync

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"
)

func BenchmarkBucketRecs(b *testing.B) {
	n := 125000
	in := make([]rec, n)
	for i := range in {
		x := rand.Uint64()
		for k := range 8 {
			in[i].fp[k] = byte(x >> (8 * k))
		}
		in[i].ord = uint32(i)
	}
	tmp, out := make([]rec, n), make([]rec, n)
	off := make([]uint32, numBuckets+1)
	for b.Loop() {
		bucketRecs(in, tmp, out, off)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/rec")
}

func BenchmarkSortRecs(b *testing.B) {
	n := 16000
	in := make([]rec, n)
	for i := range in {
		x := rand.Uint64() >> 12
		for k := range 8 {
			in[i].fp[k] = byte(x >> (56 - 8*k))
		}
		in[i].ord = uint32(i)
	}
	a, tmp := make([]rec, n), make([]rec, n)
	var c counts
	for b.Loop() {
		copy(a, in)
		sortRecs(a, tmp, &c)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/rec")
}

func BenchmarkParseBlock(b *testing.B) {
	g := newGenReader(60000, 3)
	data := make([]byte, 8<<20)
	n, _ := io.ReadFull(g, data)
	data = data[:n]
	data = data[bytes.IndexByte(data, '\n')+1:]
	data = data[:bytes.LastIndexByte(data, '\n')+1]
	users := bytes.Count(data, []byte{'\n'})
	cfg, _ := Options{FingerprintKey: testFPKey, UserKey: testUserKey}.prepare()
	lay := layout{ncols: 4, col: [numCols]int{0, 1, 2, 3}}
	w := newWorker(cfg, lay, benchTaxonomy(b), newArenas())
	for b.Loop() {
		w.parse(&block{data: data})
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*users), "ns/user")
}
