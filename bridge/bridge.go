// Package bridge parses an identity bridge provider's mapping file into a bridge version: links
// from an identifier of one type to an identifier of another (an email hash to a mobile
// advertising ID, say), so that a match can go from an advertiser's identifiers through the
// bridge to a publisher's when the two parties share no identifier type.
//
// The file is TSV, optionally gzipped, without a header, four columns per line (read with package
// rows, like every uploaded file):
//
//	from_tag	from_value	to_tag	to_value
//
// Tags are parsed with the deployment's tag registry (built-in tags plus custom tags such as the
// provider's own ID) and values normalised like any identifier. Only fingerprints are kept; row
// errors name the line and the reason, never a value.
package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/identity"
	"github.com/cleanroom-oss/cleanroom/rows"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// Reasons a row is rejected, besides the identity.Reason values for tags and values and the
// rows package's reasons for lines (too long, not UTF-8).
const (
	// ReasonColumnCount: the row does not have exactly four columns.
	ReasonColumnCount = rows.ReasonColumnCount
	// ReasonSameTag: the row maps an identifier type to itself.
	ReasonSameTag = "same_tag"
)

// Defaults.
const (
	DefaultMaxErrorRate = 0.05
	maxLineBytes        = 64 << 10
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
	// Limits bound the file's decompressed size and lines (zero fields: the rows package's
	// defaults); a file beyond them fails with an EINVALID error naming the limit.
	Limits rows.Limits
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
	FirstErrors []rows.Error `json:"first_errors"`
}

// rejectValue returns the row error of a tag or value identity refused.
func rejectValue(line int64, column string, err error) rows.Error {
	var ve *identity.ValueError
	if errors.As(err, &ve) {
		return rows.Error{Line: line, Reason: string(ve.Reason), Message: column + ": " + ve.Message, Hint: ve.Hint}
	}
	return rows.Error{Line: line, Reason: "invalid", Message: column + ": invalid"}
}

// Parse reads a mapping file and returns the bridge version it describes with a report. It fails
// with EINVALID (returning the report so far) when more than MaxErrorRate of the rows are
// rejected, when no row is usable, or when the file is unreadable (a damaged gzip stream) or
// beyond opt.Limits. A line longer than 64 KiB is a rejected row.
func Parse(ctx context.Context, r io.Reader, opt Options) (*vault.BridgeVersion, *Report, error) {
	rep := &Report{Rejected: map[string]int64{}, Pairs: map[string]int64{}, FirstErrors: []rows.Error{}}
	fper, err := identity.NewFingerprinter(opt.FingerprintKey)
	if err != nil {
		return nil, rep, err
	}
	maxRate := opt.MaxErrorRate
	if maxRate <= 0 {
		maxRate = DefaultMaxErrorRate
	}
	rd, err := rows.NewReader(r, rows.Options{Limits: opt.Limits, MaxLineBytes: maxLineBytes, RequireUTF8: true})
	if err != nil {
		return nil, rep, err
	}
	defer rd.Wipe()
	rep.Gzip = rd.Gzip()
	var errs rows.Errors
	defer func() {
		rep.RowsRejected, rep.Rejected, rep.FirstErrors = errs.Total(), errs.Counts(), errs.First()
	}()
	links := map[vault.BridgePair][]vault.BridgeLink{}
	var cols [][]byte
	for n := 0; ; n++ {
		if n%65536 == 0 && ctx.Err() != nil {
			return nil, rep, ctx.Err()
		}
		l, err := rd.Line()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, rep, err
		}
		if l.Bad() {
			rep.RowsRead++
			errs.Add(l.Err())
			continue
		}
		if rows.Blank(l.Text) {
			continue
		}
		rep.RowsRead++
		cols, _, _ = rows.TSV.Split(l.Text, cols, nil)
		if len(cols) != 4 {
			errs.Add(rows.Error{Line: l.No, Reason: ReasonColumnCount, Message: fmt.Sprintf("the row has %d column(s), not 4", len(cols)),
				Hint: "Each line is from_tag, from_value, to_tag and to_value separated by tabs, without a header."})
			continue
		}
		fromTag, err := identity.ParseTag(opt.Registry, string(cols[0]))
		if err != nil {
			errs.Add(rejectValue(l.No, "from_tag", err))
			continue
		}
		toTag, err := identity.ParseTag(opt.Registry, string(cols[2]))
		if err != nil {
			errs.Add(rejectValue(l.No, "to_tag", err))
			continue
		}
		if fromTag == toTag {
			errs.Add(rows.Error{Line: l.No, Reason: ReasonSameTag, Message: "the row maps an identifier type to itself",
				Hint: "A bridge links identifiers of two different types."})
			continue
		}
		from, err := opt.Registry.Normalize(fromTag, string(cols[1]))
		if err != nil {
			errs.Add(rejectValue(l.No, "from_value", err))
			continue
		}
		to, err := opt.Registry.Normalize(toTag, string(cols[3]))
		if err != nil {
			errs.Add(rejectValue(l.No, "to_value", err))
			continue
		}
		p := vault.BridgePair{From: fromTag, To: toTag}
		links[p] = append(links[p], vault.BridgeLink{From: fper.Fingerprint(fromTag, from), To: fper.Fingerprint(toTag, to)})
		rep.RowsAccepted++
	}
	rep.RowsRejected = errs.Total()
	if rep.RowsAccepted == 0 {
		return nil, rep, cleanroom.Errorf(cleanroom.EINVALID, "The mapping has no usable row (%d read).", rep.RowsRead).
			Hint("Each line is from_tag, from_value, to_tag and to_value separated by tabs, without a header.")
	}
	if float64(rep.RowsRejected) > maxRate*float64(rep.RowsRead) {
		first := ""
		if list := errs.First(); len(list) > 0 {
			first = fmt.Sprintf(" (the first: line %d, %s)", list[0].Line, list[0].Message)
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
