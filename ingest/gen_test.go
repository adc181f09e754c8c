package ingest_test

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/cleanroom-oss/cleanroom/ingest"
)

// testKey is the fingerprint key of the tests.
var testKey = []byte("0123456789abcdef0123456789abcdef")

// benchTaxonomy returns a 12-segment taxonomy: seg01 ... seg12.
func benchTaxonomy(tb testing.TB) *ingest.Taxonomy {
	tb.Helper()
	segs := make([]ingest.Segment, 12)
	for i := range segs {
		segs[i] = ingest.Segment{ID: fmt.Sprintf("seg%02d", i+1), Name: fmt.Sprintf("Segment %d", i+1)}
	}
	tax, err := ingest.NewTaxonomy(segs)
	if err != nil {
		tb.Fatal(err)
	}
	return tax
}

// genConfig describes a synthetic advertiser file.
type genConfig struct {
	rows    int
	seed    uint64
	dupRate float64 // share of rows repeating an earlier identifier with other segments
	badRate float64 // share of rows with a rejected identifier
}

// writeAdvertiserFile writes a realistic TSV advertiser file: 60% hashed emails, 20% hashed
// phones, 20% MAIDs, each in 1 to 3 of the 12 segments of benchTaxonomy. Digests are random
// 32-byte values in hex, which is what a SHA-256 digest looks like to ingest.
func writeAdvertiserFile(w io.Writer, cfg genConfig) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	rng := rand.New(rand.NewPCG(cfg.seed, 1))
	var line []byte
	var recent [][]byte // earlier identifier columns (value and tag), for duplicates
	for i := range cfg.rows {
		line = line[:0]
		switch x := rng.Float64(); {
		case x < cfg.dupRate && len(recent) > 0:
			line = append(line, recent[rng.IntN(len(recent))]...)
		case x < cfg.dupRate+cfg.badRate:
			line = append(line, "0123456789abcdef0123456789abcdef\temail_sha256"...) // an MD5 digest
		default:
			start := len(line)
			line = appendIdentifier(line, rng)
			if i%64 == 0 {
				if len(recent) < 1024 {
					recent = append(recent, append([]byte(nil), line[start:]...))
				} else {
					j := rng.IntN(len(recent))
					recent[j] = append(recent[j][:0], line[start:]...)
				}
			}
		}
		line = append(line, '\t')
		for k := range 1 + rng.IntN(3) {
			if k > 0 {
				line = append(line, ',')
			}
			line = fmt.Appendf(line, "seg%02d", 1+rng.IntN(12))
		}
		line = append(line, '\n')
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// appendIdentifier appends a random identifier and its tag, tab-separated.
func appendIdentifier(line []byte, rng *rand.Rand) []byte {
	var b [32]byte
	for i := 0; i < 32; i += 8 {
		v := rng.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	switch x := rng.IntN(10); {
	case x < 6:
		line = hex.AppendEncode(line, b[:])
		return append(line, "\temail_sha256"...)
	case x < 8:
		line = hex.AppendEncode(line, b[:])
		return append(line, "\tphone_sha256"...)
	default:
		b[0] |= 1 // never the all-zero ID
		h := hex.EncodeToString(b[:16])
		line = append(line, h[0:8]+"-"+h[8:12]+"-"+h[12:16]+"-"+h[16:20]+"-"+h[20:32]...)
		return append(line, "\tmaid"...)
	}
}

// ingestOptions returns the options of the tests.
func ingestOptions() ingest.Options {
	return ingest.Options{FingerprintKey: testKey}
}
