package ingest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cleanroom-oss/cleanroom/identity"
)

// BenchmarkParseRows measures one worker parsing rows (normalise, fingerprint, segments,
// append), without reading or sorting: the per-row cost the pipeline multiplies.
func BenchmarkParseRows(b *testing.B) {
	segs := make([]Segment, 12)
	for i := range segs {
		segs[i] = Segment{ID: fmt.Sprintf("seg%02d", i+1), Name: fmt.Sprint("Segment ", i+1)}
	}
	tax, err := NewTaxonomy(segs)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var data bytes.Buffer
	const rows = 50_000
	for range rows {
		var d [32]byte
		for i := range d {
			d[i] = byte(rng.Uint32())
		}
		fmt.Fprintf(&data, "%x\temail_sha256\tseg%02d,seg%02d\n", d, 1+rng.IntN(12), 1+rng.IntN(12))
	}
	fp, err := identity.NewFingerprinter([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		b.Fatal(err)
	}
	first := block{data: data.Bytes(), firstLine: 1}
	rn, err := newRun(Options{}.withDefaults(), tax, &first)
	if err != nil {
		b.Fatal(err)
	}
	w := newWorker(rn, 0, fp)
	for b.Loop() {
		w.block(block{data: data.Bytes(), firstLine: 1})
		for t := range w.parts {
			if w.parts[t] != nil {
				for i, l := range w.parts[t] {
					w.parts[t][i] = recList{cur: l.cur[:0]} // keep a chunk, as a long run would
				}
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
}
