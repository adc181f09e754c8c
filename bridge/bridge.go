// Package bridge parses an identity bridge provider's mapping file into a bridge version: links
// from an identifier of one type to an identifier of another (an email hash to a mobile
// advertising ID, say), so that a match can go from an advertiser's identifiers through the
// bridge to a publisher's when the two parties share no identifier type.
//
// The file is TSV, optionally gzipped, without a header, four columns per line:
//
//	from_tag	from_value	to_tag	to_value
//
// Tags are parsed with the deployment's tag registry (built-in tags plus custom tags such as the
// provider's own ID) and values normalised like any identifier. Only fingerprints are kept; row
// errors name the line and the reason, never a value.
package bridge

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/identity"
	"github.com/cleanroom-oss/cleanroom/ingest"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// Reasons a row is rejected, besides the identity.Reason values for tags and values.
const (
	// ReasonColumnCount: the row does not have exactly four columns.
	ReasonColumnCount = ingest.ReasonColumnCount
	// ReasonSameTag: the row maps an identifier type to itself.
	ReasonSameTag = "same_tag"
)

// Defaults.
const (
	DefaultMaxErrorRate = 0.05
	maxLineBytes        = 64 << 10
	maxFirstErrors      = 100
)

// Options configure Parse.
type Options struct {
	// Registry is the deployment's tag registry (nil: built-in tags only).
	Registry *identity.Registry
	// FingerprintKey is the key identifiers are fingerprinted under (required).
	FingerprintKey []byte
	// MaxErrorRate is the share of rejected rows above which the file fails; 0 means
	// DefaultMaxErrorRate.
	MaxErrorRate float64
}

// Report says what Parse made of a file.
type Report struct {
	// Gzip is set when the file was gzipped.
	Gzip bool `json:"gzip,omitempty"`
	// RowsRead counts the data rows (blank lines are skipped); RowsAccepted the rows kept,
	// duplicates included; RowsRejected the others.
	RowsRead     int64 `json:"rows_read"`
	RowsAccepted int64 `json:"rows_accepted"`
	RowsRejected int64 `json:"rows_rejected"`
	// Rejected counts the rejected rows by reason.
	Rejected map[string]int64 `json:"rejected"`
	// Duplicates counts the accepted rows repeating an earlier link.
	Duplicates int64 `json:"duplicates"`
	// Pairs counts the unique links per tag pair, keyed "from_tag->to_tag".
	Pairs map[string]int64 `json:"pairs"`
	// FirstErrors holds the first 100 rejected rows by line number.
	FirstErrors []ingest.RowError `json:"first_errors"`
}

func (r *Report) reject(line int64, reason, msg, hint string) {
	r.RowsRejected++
	r.Rejected[reason]++
	if len(r.FirstErrors) < maxFirstErrors {
		r.FirstErrors = append(r.FirstErrors, ingest.RowError{Line: line, Reason: reason, Message: msg, Hint: hint})
	}
}

func (r *Report) rejectValue(line int64, column string, err error) {
	var ve *identity.ValueError
	if errors.As(err, &ve) {
		r.reject(line, string(ve.Reason), column+": "+ve.Message, ve.Hint)
		return
	}
	r.reject(line, "invalid", column+": invalid", "")
}

// Parse reads a mapping file and returns the bridge version it describes with a report. It fails
// with EINVALID (returning the report so far) when more than MaxErrorRate of the rows are
// rejected, when no row is usable, or when the file is unreadable (a damaged gzip stream, a
// line longer than 64 KiB).
func Parse(ctx context.Context, r io.Reader, opt Options) (*vault.BridgeVersion, *Report, error) {
	rep := &Report{Rejected: map[string]int64{}, Pairs: map[string]int64{}, FirstErrors: []ingest.RowError{}}
	fper, err := identity.NewFingerprinter(opt.FingerprintKey)
	if err != nil {
		return nil, rep, err
	}
	maxRate := opt.MaxErrorRate
	if maxRate <= 0 {
		maxRate = DefaultMaxErrorRate
	}
	br := bufio.NewReaderSize(r, 64<<10)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, rep, cleanroom.Errorf(cleanroom.EINVALID, "The file looks gzipped but its gzip header is damaged.").Wrap(err)
		}
		defer zr.Close()
		rep.Gzip = true
		r = zr
	} else {
		r = br
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
	links := map[vault.BridgePair][]vault.BridgeLink{}
	var line int64
	for sc.Scan() {
		line++
		if line%65536 == 0 && ctx.Err() != nil {
			return nil, rep, ctx.Err()
		}
		b := bytes.TrimSuffix(sc.Bytes(), []byte{'\r'})
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		rep.RowsRead++
		cols := strings.Split(string(b), "\t")
		if len(cols) != 4 {
			rep.reject(line, ReasonColumnCount, fmt.Sprintf("the row has %d column(s), not 4", len(cols)),
				"Each line is from_tag, from_value, to_tag and to_value separated by tabs, without a header.")
			continue
		}
		fromTag, err := identity.ParseTag(opt.Registry, cols[0])
		if err != nil {
			rep.rejectValue(line, "from_tag", err)
			continue
		}
		toTag, err := identity.ParseTag(opt.Registry, cols[2])
		if err != nil {
			rep.rejectValue(line, "to_tag", err)
			continue
		}
		if fromTag == toTag {
			rep.reject(line, ReasonSameTag, "the row maps an identifier type to itself", "A bridge links identifiers of two different types.")
			continue
		}
		from, err := opt.Registry.Normalize(fromTag, cols[1])
		if err != nil {
			rep.rejectValue(line, "from_value", err)
			continue
		}
		to, err := opt.Registry.Normalize(toTag, cols[3])
		if err != nil {
			rep.rejectValue(line, "to_value", err)
			continue
		}
		p := vault.BridgePair{From: fromTag, To: toTag}
		links[p] = append(links[p], vault.BridgeLink{From: fper.Fingerprint(fromTag, from), To: fper.Fingerprint(toTag, to)})
		rep.RowsAccepted++
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, rep, cleanroom.Errorf(cleanroom.EINVALID, "Line %d is longer than %d bytes.", line+1, maxLineBytes).
				Hint("Check that the file is tab-separated text with one link per line.")
		}
		if rep.Gzip {
			return nil, rep, cleanroom.Errorf(cleanroom.EINVALID, "The gzip stream is damaged after line %d.", line).Wrap(err)
		}
		return nil, rep, err
	}
	if rep.RowsAccepted == 0 {
		return nil, rep, cleanroom.Errorf(cleanroom.EINVALID, "The mapping has no usable row (%d read).", rep.RowsRead).
			Hint("Each line is from_tag, from_value, to_tag and to_value separated by tabs, without a header.")
	}
	if float64(rep.RowsRejected) > maxRate*float64(rep.RowsRead) {
		first := ""
		if len(rep.FirstErrors) > 0 {
			first = fmt.Sprintf(" (the first: line %d, %s)", rep.FirstErrors[0].Line, rep.FirstErrors[0].Message)
		}
		return nil, rep, cleanroom.Errorf(cleanroom.EINVALID, "%d of %d rows were rejected%s, more than the %g%% the upload's max_error_rate allows.",
			rep.RowsRejected, rep.RowsRead, first, maxRate*100).With("max_error_rate", maxRate).Hint(cleanroom.ErrorRateHint)
	}
	v := vault.NewBridgeVersion(links)
	for i, p := range v.Pairs {
		rep.Pairs[string(p.From)+"->"+string(p.To)] = int64(v.PairStart[i+1] - v.PairStart[i])
	}
	rep.Duplicates = rep.RowsAccepted - int64(v.Rows())
	return v, rep, nil
}
