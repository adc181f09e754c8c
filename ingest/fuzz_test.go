package ingest_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/ingest"
)

// FuzzAdvertiser ingests arbitrary small files: it must never panic, a version must satisfy
// its invariants, the report must add up, and the result must not depend on the number of
// workers or on gzip.
func FuzzAdvertiser(f *testing.F) {
	seeds := []string{
		emailA + "\temail_sha256\ts1,s2\n" + maidA + "\tmaid\t\n",
		"id\ttag\tsegments\n" + emailA + "\temail_sha256\ts3\r\n" + emailA + "\temail_sha256\ts1\n",
		"id,tag,segments\n" + emailA + ",email_sha256,\"s1,s2\"\n\"" + maidA + "\",maid,s3\n",
		"segments,tag,id\n\"s1,\"\"x\",maid," + maidA + "\n",
		"\ufeff10.0.0.1\tip\ts1\n\n1234\tappnexus\tunknown,s2\n",
		"0cc175b9c0f1b6a831c399e269772661\temail_sha256\n" + emailB + "\tphone_sha256\ts1,s1,s1\n",
		"a\tb\tc\td\n\xff\tmaid\n" + emailA + "\n",
		"",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	tax := smallTaxonomy(f)
	f.Fuzz(func(t *testing.T, file []byte) {
		if len(file) > 1<<16 {
			return
		}
		ingestWith := func(in []byte, workers int) (*ingest.Report, []string, error) {
			opt := ingestOptions()
			opt.MaxErrorRate = 1
			opt.MaxLineBytes = 512
			opt.Workers = workers
			v, rep, err := ingest.Advertiser(context.Background(), bytes.NewReader(in), tax, opt)
			if rep == nil {
				t.Fatalf("no report: %v", err)
			}
			if err != nil {
				if v != nil || cleanroom.ErrorCode(err) != cleanroom.EINVALID {
					t.Fatalf("error %v with version %v", err, v)
				}
				return rep, nil, err
			}
			defer v.Close()
			loaded, _ := writeAndLoad(t, v)
			if rep.RowsAccepted-rep.Duplicates != int64(loaded.Rows()) {
				t.Fatalf("%d accepted - %d duplicates != %d rows", rep.RowsAccepted, rep.Duplicates, loaded.Rows())
			}
			return rep, rowsOf(loaded), nil
		}
		rep, rows, err := ingestWith(file, 1)
		if rep.RowsAccepted+rep.RowsRejected != rep.RowsRead || rep.RowsAccepted < 0 {
			t.Fatalf("rows: %d accepted + %d rejected != %d read", rep.RowsAccepted, rep.RowsRejected, rep.RowsRead)
		}
		var n int64
		for _, c := range rep.Rejected {
			n += c
		}
		if n != rep.RowsRejected {
			t.Fatalf("rejected by reason %v does not add up to %d", rep.Rejected, rep.RowsRejected)
		}
		for _, list := range [][]ingest.RowError{rep.FirstErrors, rep.FirstWarnings} {
			if !slices.IsSortedFunc(list, func(a, b ingest.RowError) int { return int(a.Line - b.Line) }) ||
				len(list) > 100 || len(list) > 0 && list[0].Line < 1 {
				t.Fatalf("row errors out of order or out of range: %+v", list)
			}
		}

		rep3, rows3, err3 := ingestWith(file, 3)
		var zipped bytes.Buffer
		zw := gzip.NewWriter(&zipped)
		zw.Write(file)
		zw.Close()
		repz, rowsz, errz := ingestWith(zipped.Bytes(), 2)
		for _, other := range []struct {
			rep  *ingest.Report
			rows []string
			err  error
		}{{rep3, rows3, err3}, {repz, rowsz, errz}} {
			if (err == nil) != (other.err == nil) || !cmp.Equal(rows, other.rows) ||
				!cmp.Equal(rep.FirstErrors, other.rep.FirstErrors) || !cmp.Equal(rep.Rejected, other.rep.Rejected) {
				t.Fatalf("results differ by workers or gzip:\n%v %v %v\n%v %v %v", err, rows, rep.FirstErrors, other.err, other.rows, other.rep.FirstErrors)
			}
		}
	})
}
