// Package prepare turns an advertiser's raw customer list into an upload file on the
// advertiser's own machine, so raw personal data never leaves it.
//
// [Run] streams a CSV export (header row; comma, semicolon or tab delimited, detected from the
// header; UTF-8 with or without a byte order mark; CRLF or LF line ends; quoted fields, which may
// span lines; plain or gzip-compressed; read with package rows, as the server reads uploads),
// normalises and hashes every identifier with package identity (email addresses and phone
// numbers become SHA-256 digests, mobile advertising IDs and IP addresses their canonical form)
// and writes one upload row per identifier in the ingest format:
//
//	<identifier> TAB <tag> TAB <segment_id>,<segment_id>,...
//
// Values that cannot be used are counted by reason and, if asked, listed in a rejects CSV with
// their line, column, reason and a hint, never with the value itself.
//
// Error messages name the cleanroom prepare flags, since that is how most people meet this
// package.
package prepare

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/identity"
	"github.com/cleanroom-oss/cleanroom/rows"
)

// Options configure Run. The zero value detects everything.
type Options struct {
	// EmailColumn, PhoneColumn, MAIDColumn, IPColumn and SegmentsColumn name the header columns
	// to read (compared ignoring case and surrounding spaces). A named column must exist. An
	// empty name looks for a column with a usual name (email, e-mail, email_address, ...;
	// phone, mobile, ...; maid, idfa, gaid, ...; ip, ip_address, ...; segments, segment, ...)
	// and skips the identifier type when there is none.
	EmailColumn, PhoneColumn, MAIDColumn, IPColumn, SegmentsColumn string
	// SegmentsSeparator separates segment IDs within the segments column (default ";").
	SegmentsSeparator string
	// Segments are added to every row's segments, for files that are one list.
	Segments []string
	// Delimiter is the field delimiter; 0 detects comma, semicolon or tab from the header.
	Delimiter rune
	// DefaultCountryCode is the calling code (such as "44") of phone numbers written without
	// one; empty requires every number to start with + or 00.
	DefaultCountryCode string
	// FoldGmail removes dots and +suffixes from gmail.com addresses before hashing, as some
	// destinations require; never for other domains.
	FoldGmail bool
	// Progress, if set, is called every ProgressEvery rows and at the end with the rows read.
	Progress func(rows int64)
}

// ProgressEvery is how many rows pass between calls of Options.Progress.
const ProgressEvery = 16384

// MaxRecordBytes is the longest row accepted, in bytes; a quoted field may span lines within it.
const MaxRecordBytes = 1 << 20

// MaxSegmentLength is the longest segment ID accepted, in bytes.
const MaxSegmentLength = 128

// Reasons for rejects that are not about one identifier value; value rejects use the
// identity.Reason strings (bad_email, bad_phone, zero_maid, ...).
const (
	// ReasonNoIdentifier: every identifier field of the row is empty.
	ReasonNoIdentifier = "no_identifier"
	// ReasonNoSegments: the row has no segment ID (and Options.Segments is empty).
	ReasonNoSegments = "no_segments"
	// ReasonBadSegment: a segment ID is too long or holds a tab, comma, control character or
	// invalid UTF-8.
	ReasonBadSegment = "bad_segment"
	// ReasonFieldCount: the line has more or fewer fields than the header.
	ReasonFieldCount = "field_count"
	// ReasonBadCSV: the line is not valid CSV (a stray or unclosed quote).
	ReasonBadCSV = "bad_csv"
)

// RejectsHeader is the header row of the rejects CSV.
var RejectsHeader = []string{"line", "column", "reason", "hint"}

// Summary reports what Run did.
type Summary struct {
	// Delimiter is the field delimiter used.
	Delimiter rune
	// Columns maps each input read (email, phone, maid, ip, segments) to its header column.
	Columns map[string]string
	// Rows is the number of data rows read (lines after the header, without blank lines).
	Rows int64
	// RowsWritten is the number of rows that gave at least one upload row.
	RowsWritten int64
	// Written counts upload rows by identifier type.
	Written map[identity.Tag]int64
	// Rejected counts rejects by reason.
	Rejected map[string]int64
}

// input is one identifier column.
type input struct {
	name    string // email, phone, maid, ip
	flag    string // the cleanroom prepare flag naming its column
	aliases []string
	tag     identity.Tag
}

var inputs = []input{
	{"email", "--email-col", []string{"email", "emails", "emailaddress", "mail", "hashedemail"}, identity.TagEmailSHA256},
	{"phone", "--phone-col", []string{"phone", "phonenumber", "mobile", "mobilephone", "mobilenumber", "cell", "cellphone", "tel", "telephone", "msisdn"}, identity.TagPhoneSHA256},
	{"maid", "--maid-col", []string{"maid", "idfa", "aaid", "gaid", "adid", "ifa", "advertisingid", "mobileadid", "deviceid"}, identity.TagMAID},
	{"ip", "--ip-col", []string{"ip", "ipaddress", "ipv4", "ipv6"}, identity.TagIPAddress},
}

var segmentAliases = []string{"segments", "segment", "segmentids", "segmentid", "audiences", "audience", "lists"}

// Run reads the CSV in, writes upload rows to out and, when rejects is not nil, the rejects CSV
// to rejects. It returns an *cleanroom.Error (code invalid) naming the problem and its fix when
// the header or options are unusable; bad values only count as rejects.
func Run(in io.Reader, out, rejects io.Writer, opts Options) (*Summary, error) {
	if opts.SegmentsSeparator == "" {
		opts.SegmentsSeparator = ";"
	}
	if _, err := identity.NormalizePhone("", opts.DefaultCountryCode); errors.Is(err, identity.ErrInvalidCallingCode) {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "the default country calling code %q is not 1 to 3 digits", opts.DefaultCountryCode).
			Hint("Pass --default-country-code with the code alone, such as 44 for the United Kingdom or 1 for the United States.")
	}
	for _, s := range opts.Segments {
		if reason := segmentProblem(s); reason != "" {
			return nil, cleanroom.Errorf(cleanroom.EINVALID, "the segment ID %q given with --segment %s", s, reason).
				Hint("Use segment IDs of at most %d characters without tabs or commas.", MaxSegmentLength)
		}
	}

	rd, err := rows.NewReader(in, rows.Options{Limits: rows.Limits{MaxBytes: -1, MaxRows: -1}, MaxLineBytes: MaxRecordBytes})
	if err != nil {
		return nil, err
	}
	defer rd.Wipe()
	sum := &Summary{Delimiter: opts.Delimiter, Columns: map[string]string{},
		Written: map[identity.Tag]int64{}, Rejected: map[string]int64{}}
	// The header: the first line that is not blank.
	var first rows.Line
	for {
		if first, err = rd.Line(); err == io.EOF {
			return nil, cleanroom.Errorf(cleanroom.EINVALID, "the input is empty").
				Hint("Export the list as CSV with a header row naming the columns, such as email,phone,segments.")
		}
		if err != nil {
			return nil, err
		}
		if first.Bad() {
			return nil, cleanroom.Errorf(cleanroom.EINVALID, "the header row is longer than %d bytes", MaxRecordBytes).
				Hint("Check that the first line of the file is the header row, naming the columns.")
		}
		if !rows.Blank(first.Text) {
			break
		}
	}
	if sum.Delimiter == 0 {
		sum.Delimiter = rune(detectDelimiter(first.Text))
	}
	if sum.Delimiter <= 0 || sum.Delimiter >= 0x80 || sum.Delimiter == '"' || sum.Delimiter == '\n' || sum.Delimiter == '\r' {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "the delimiter %q cannot separate fields", sum.Delimiter).
			Hint("Pass --delimiter with one ASCII character such as , ; | or a tab.")
	}
	dialect := rows.Dialect{Sep: byte(sum.Delimiter), Quotes: true, Multiline: true}
	fields, _, ok := dialect.Split(first.Text, nil, nil)
	if !ok {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "the header row is not valid CSV (a stray or unclosed quote)").
			Hint("Check the quoting of the first line.")
	}
	header := make([]string, len(fields))
	for i, f := range fields {
		header[i] = strings.TrimSpace(string(f))
	}

	cols := make([]int, len(inputs)) // column index per input, -1 when absent
	for k, in := range inputs {
		named := [...]string{opts.EmailColumn, opts.PhoneColumn, opts.MAIDColumn, opts.IPColumn}[k]
		if cols[k], err = findColumn(header, named, in.aliases, in.flag); err != nil {
			return nil, err
		}
		if cols[k] >= 0 {
			sum.Columns[in.name] = header[cols[k]]
		}
	}
	if slices.Max(cols) < 0 {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "no identifier column found; the header has: %s", listHeader(header, sum.Delimiter)).
			Hint("Name the columns with --email-col, --phone-col, --maid-col or --ip-col, or pass --delimiter if the columns were not split.")
	}
	segCol, err := findColumn(header, opts.SegmentsColumn, segmentAliases, "--segments-col")
	if err != nil {
		return nil, err
	}
	if segCol >= 0 {
		sum.Columns["segments"] = header[segCol]
	} else if len(opts.Segments) == 0 {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "no segments column found; the header has: %s", listHeader(header, sum.Delimiter)).
			Hint("Name it with --segments-col, or pass --segment ID to put every row in one segment.")
	}

	w := bufio.NewWriterSize(out, 1<<16)
	var rw *csv.Writer
	if rejects != nil {
		rw = csv.NewWriter(rejects)
		rw.Write(RejectsHeader)
	}
	// reject records one rejected value or row. It takes no value argument on purpose: the
	// rejects file and the summary are for sharing (with colleagues, with support, in tickets),
	// so they must never carry raw personal data. The line number is enough to find the value in
	// the user's own file, where it already is.
	reject := func(line int, column, reason, hint string) {
		sum.Rejected[reason]++
		if rw != nil {
			rw.Write([]string{strconv.Itoa(line), column, reason, hint})
		}
	}

	var segs []string
	var line []byte
	var rec rows.Record
	record := make([]string, 0, len(header))
	for {
		err := rd.Record(dialect, &rec)
		if err == io.EOF {
			break
		}
		if err != nil {
			return sum, err
		}
		sum.Rows++
		lineNo := int(rec.Line)
		if rec.Problem.Reason != "" {
			hint := "Quote fields that contain quotes or the delimiter, and double the quotes inside them (\"\")."
			if rec.Problem.Reason == rows.ReasonLineTooLong {
				hint = fmt.Sprintf("Rows are at most %d bytes: check for a quote that is never closed.", MaxRecordBytes)
			}
			reject(lineNo, "", ReasonBadCSV, hint)
			continue
		}
		if opts.Progress != nil && sum.Rows%ProgressEvery == 0 {
			opts.Progress(sum.Rows)
		}
		record = record[:0]
		for _, f := range rec.Fields {
			record = append(record, string(f))
		}
		if len(record) != len(header) {
			reject(lineNo, "", ReasonFieldCount, fmt.Sprintf(
				"The line has %d fields but the header has %d: quote fields that contain the delimiter.", len(record), len(header)))
			continue
		}
		segs = append(segs[:0], opts.Segments...)
		if segCol >= 0 {
			var reason string
			if segs, reason = splitSegments(segs, record[segCol], opts.SegmentsSeparator); reason != "" {
				reject(lineNo, header[segCol], ReasonBadSegment, fmt.Sprintf(
					"Segment IDs are at most %d characters, without tabs, commas or control characters; separate them with %q (--segments-sep).",
					MaxSegmentLength, opts.SegmentsSeparator))
				continue
			}
		}
		if len(segs) == 0 { // only with a segments column: otherwise opts.Segments is not empty
			reject(lineNo, header[segCol], ReasonNoSegments, "Give every row at least one segment ID, or pass --segment ID to add one to every row.")
			continue
		}
		present, written := 0, 0
		for k, in := range inputs {
			c := cols[k]
			if c < 0 || strings.TrimSpace(record[c]) == "" {
				continue
			}
			present++
			value, err := normalize(in.tag, record[c], &opts)
			if err != nil {
				hint := ""
				var ve *identity.ValueError
				if errors.As(err, &ve) {
					hint = ve.Hint
				}
				reject(lineNo, header[c], string(identity.ReasonOf(err)), hint)
				continue
			}
			line = append(line[:0], value...)
			line = append(line, '\t')
			line = append(line, in.tag...)
			line = append(line, '\t')
			for i, s := range segs {
				if i > 0 {
					line = append(line, ',')
				}
				line = append(line, s...)
			}
			line = append(line, '\n')
			if _, err := w.Write(line); err != nil {
				return sum, err
			}
			sum.Written[in.tag]++
			written++
		}
		if present == 0 {
			reject(lineNo, "", ReasonNoIdentifier, "The row has no email, phone, MAID or IP value; drop it or fill one in.")
		}
		if written > 0 {
			sum.RowsWritten++
		}
	}
	if opts.Progress != nil {
		opts.Progress(sum.Rows)
	}
	if err := w.Flush(); err != nil {
		return sum, err
	}
	if rw != nil {
		rw.Flush()
		if err := rw.Error(); err != nil {
			return sum, err
		}
	}
	return sum, nil
}

// normalize returns the upload value of a raw field for tag.
func normalize(tag identity.Tag, raw string, opts *Options) (string, error) {
	var digest string
	var err error
	switch tag {
	case identity.TagEmailSHA256:
		digest, err = identity.HashEmail(raw, opts.FoldGmail)
	case identity.TagPhoneSHA256:
		digest, err = identity.HashPhone(raw, opts.DefaultCountryCode)
	default:
		return identity.Normalize(tag, raw)
	}
	if err == nil {
		return digest, nil
	}
	// A column of values hashed already is accepted as it is; a column of MD5 or SHA-1 digests
	// is reported as such rather than as malformed addresses or numbers.
	d, e := identity.Normalize(tag, raw)
	switch identity.ReasonOf(e) {
	case "":
		return d, nil
	case identity.ReasonMD5, identity.ReasonSHA1, identity.ReasonEmptyHash:
		return "", e
	}
	return "", err
}

// findColumn returns the index of the header column named name or, when name is empty, of the
// first column whose name (lowercased, without spaces, dashes, dots and underscores) is one of
// aliases; -1 if there is none. A named column that is missing or given twice is an error.
func findColumn(header []string, name string, aliases []string, flag string) (int, error) {
	if name = strings.TrimSpace(name); name != "" {
		found := -1
		for i, h := range header {
			if strings.EqualFold(h, name) {
				if found >= 0 {
					return -1, cleanroom.Errorf(cleanroom.EINVALID, "column %q appears twice in the header", name).
						Hint("Rename one of the two columns.")
				}
				found = i
			}
		}
		if found < 0 {
			return -1, cleanroom.Errorf(cleanroom.EINVALID, "column %q not found; the header has: %s", name, listHeader(header, 0)).
				Hint("Pass %s with one of these names.", flag)
		}
		return found, nil
	}
	for i, h := range header {
		if slices.Contains(aliases, squash(h)) {
			return i, nil
		}
	}
	return -1, nil
}

// squash lowercases s and drops spaces, dashes, dots and underscores: "E-Mail Address" ->
// "emailaddress".
func squash(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '_', '.':
			return -1
		}
		return unicode.ToLower(r)
	}, s)
}

// listHeader formats header names for an error message.
func listHeader(header []string, delim rune) string {
	if len(header) == 1 && delim != 0 {
		for _, d := range []rune{',', ';', '\t', '|'} {
			if d != delim && strings.ContainsRune(header[0], d) {
				return strconv.Quote(header[0]) + " (one column: is the delimiter " + strconv.QuoteRune(d) + "? pass --delimiter)"
			}
		}
	}
	quoted := make([]string, len(header))
	for i, h := range header {
		quoted[i] = strconv.Quote(h)
	}
	return strings.Join(quoted, ", ")
}

// splitSegments appends the segment IDs of field, split at sep, to dst, skipping empty ones and
// repeats. It returns a reason when an ID is unusable.
func splitSegments(dst []string, field, sep string) ([]string, string) {
	for s := range strings.SplitSeq(field, sep) {
		s = strings.TrimSpace(s)
		if s == "" || slices.Contains(dst, s) {
			continue
		}
		if reason := segmentProblem(s); reason != "" {
			return dst, reason
		}
		dst = append(dst, s)
	}
	return dst, ""
}

// segmentProblem says what is wrong with a segment ID, or "" if nothing is.
func segmentProblem(s string) string {
	switch {
	case s == "":
		return "is empty"
	case len(s) > MaxSegmentLength:
		return "is longer than " + strconv.Itoa(MaxSegmentLength) + " characters"
	case !utf8.ValidString(s):
		return "is not valid UTF-8"
	case strings.ContainsAny(s, "\t,"):
		return "contains a tab or a comma"
	case strings.ContainsFunc(s, unicode.IsControl):
		return "contains a control character"
	}
	return ""
}

// detectDelimiter returns the delimiter of the header line: the most frequent of comma,
// semicolon and tab outside quotes (comma when there is none).
func detectDelimiter(head []byte) byte {
	counts := map[byte]int{}
	quoted := false
	for _, c := range head {
		switch {
		case c == '"':
			quoted = !quoted
		case !quoted && (c == ',' || c == ';' || c == '\t'):
			counts[c]++
		}
	}
	best := byte(',')
	for _, c := range []byte{';', '\t'} {
		if counts[c] > counts[best] {
			best = c
		}
	}
	return best
}
