package pipeline

import (
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/bridge"
	"github.com/cleanroom-oss/cleanroom/identity"
	"github.com/cleanroom-oss/cleanroom/ingest"
	"github.com/cleanroom-oss/cleanroom/pubsync"
	"github.com/cleanroom-oss/cleanroom/rows"
)

// uploadReport turns an engine's report into the one report shape that uploads store and show
// (nil for none). The engines' own report types stay theirs to change.
func uploadReport(rep any) *cleanroom.UploadReport {
	switch r := rep.(type) {
	case *ingest.Report:
		if r == nil {
			return nil
		}
		return &cleanroom.UploadReport{Format: r.Format, Gzip: r.Gzip, Bytes: r.Bytes,
			RowsRead: r.RowsRead, RowsAccepted: r.RowsAccepted, RowsRejected: r.RowsRejected,
			Rejected: nonNil(r.Rejected), Warnings: r.Warnings, Duplicates: r.Duplicates, SpilledRuns: r.SpilledRuns,
			PerTag: byTag(r.PerTag), PerSegment: r.PerSegment,
			FirstErrors: rowErrors(r.FirstErrors), FirstWarnings: rowErrors(r.FirstWarnings), DurationMS: ms(r.Duration)}
	case *pubsync.Report:
		if r == nil {
			return nil
		}
		return &cleanroom.UploadReport{Format: r.Format, Gzip: r.Gzip, Bytes: r.Bytes, DecompressedBytes: r.DecompressedBytes,
			RowsRead: r.Rows, RowsAccepted: r.Rows - r.RejectedRows, RowsRejected: r.RejectedRows, RowsWithProblems: r.RowsWithErrors,
			Rejected: nonNil(r.Rejected), PerTag: byTag(r.Identifiers),
			Users: r.Users, UsersWithoutIdentifiers: r.UsersWithoutIdentifiers, Erased: r.Erased,
			Cohorts: r.Cohorts, Countries: r.Countries, IgnoredColumns: r.IgnoredColumns,
			FirstErrors: rowErrors(r.Errors), DurationMS: ms(r.Duration)}
	case *bridge.Report:
		if r == nil {
			return nil
		}
		return &cleanroom.UploadReport{Gzip: r.Gzip, RowsRead: r.RowsRead, RowsAccepted: r.RowsAccepted, RowsRejected: r.RowsRejected,
			Rejected: nonNil(r.Rejected), Duplicates: r.Duplicates, Pairs: r.Pairs, FirstErrors: rowErrors(r.FirstErrors)}
	case ErasureReport:
		return &cleanroom.UploadReport{RowsRead: int64(r.Requested), RowsAccepted: int64(r.Requested), Erased: int64(r.Erased),
			Rejected: map[string]int64{}, FirstErrors: []cleanroom.RowError{}}
	}
	return nil
}

func nonNil(m map[string]int64) map[string]int64 {
	if m == nil {
		return map[string]int64{}
	}
	return m
}

func byTag(m map[identity.Tag]int64) map[string]int64 {
	if m == nil {
		return nil
	}
	out := make(map[string]int64, len(m))
	for t, n := range m {
		out[string(t)] = n
	}
	return out
}

func rowErrors(es []rows.Error) []cleanroom.RowError {
	out := make([]cleanroom.RowError, len(es))
	for i, e := range es {
		out[i] = cleanroom.RowError{Line: e.Line, Reason: e.Reason, Message: e.Message, Hint: e.Hint}
	}
	return out
}

func ms(d time.Duration) int64 { return d.Milliseconds() }
