package ingest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cleanroom-oss/cleanroom/identity"
	"github.com/cleanroom-oss/cleanroom/rows"
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
	const nrows = 50_000
	for range nrows {
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
	buf := make([]byte, data.Len()+1)
	block := func() rows.Block {
		rd, err := rows.NewReader(bytes.NewReader(data.Bytes()), rows.Options{RequireUTF8: true})
		if err != nil {
			b.Fatal(err)
		}
		blk, err := rd.Next(buf)
		if err != nil {
			b.Fatal(err)
		}
		return blk
	}
	first := block()
	rn, err := newRun(Options{}.withDefaults(), tax, &first)
	if err != nil {
		b.Fatal(err)
	}
	w := newWorker(rn, 0, fp, &chunkPool{})
	for b.Loop() {
		b.StopTimer()
		blk := block()
		b.StartTimer()
		w.block(&blk)
		for t := range w.parts {
			if w.parts[t] != nil {
				for i, l := range w.parts[t] {
					w.parts[t][i] = recList{cur: l.cur[:0]} // keep a chunk, as a long run would
				}
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*nrows), "ns/row")
}
