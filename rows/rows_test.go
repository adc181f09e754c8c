package rows_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/rows"
)

// gz returns s gzipped.
func gz(t testing.TB, s string) string {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := io.WriteString(zw, s); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// line is what the tests compare of a rows.Line.
type line struct {
	no     int64
	text   string
	reason string
}

// readAll reads every line of input sequentially.
func readAll(t *testing.T, input string, opt rows.Options) ([]line, *rows.Reader, error) {
	t.Helper()
	r, err := rows.NewReader(strings.NewReader(input), opt)
	if err != nil {
		return nil, nil, err
	}
	var out []line
	for {
		l, err := r.Line()
		if err == io.EOF {
			return out, r, nil
		}
		if err != nil {
			return out, r, err
		}
		out = append(out, line{l.No, string(l.Text), l.Err().Reason})
	}
}

// readBlocks reads every line of input through blocks of the given size.
func readBlocks(t *testing.T, input string, opt rows.Options, size int) ([]line, error) {
	t.Helper()
	r, err := rows.NewReader(strings.NewReader(input), opt)
	if err != nil {
		return nil, err
	}
	var out []line
	buf := make([]byte, max(size, r.MinBlock()))
	for !r.Done() {
		b, err := r.Next(buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			return out, err
		}
		n := int64(0)
		for l, ok := b.Next(); ok; l, ok = b.Next() {
			if l.No != b.FirstLine()+n {
				t.Fatalf("line %d numbered %d in a block starting at %d", n, l.No, b.FirstLine())
			}
			n++
			out = append(out, line{l.No, string(l.Text), l.Err().Reason})
		}
		if n != b.Lines() {
			t.Fatalf("block says %d lines, gave %d", b.Lines(), n)
		}
	}
	return out, nil
}

func TestReaderLines(t *testing.T) {
	long := strings.Repeat("x", 100)
	tests := []struct {
		name  string
		input string
		opt   rows.Options
		want  []line
	}{
		{"LF", "a\tb\nc\n", rows.Options{}, []line{{1, "a\tb", ""}, {2, "c", ""}}},
		{"CRLF and no final line end", "a\r\n\r\nb", rows.Options{}, []line{{1, "a", ""}, {2, "", ""}, {3, "b", ""}}},
		{"byte order mark", "\xef\xbb\xbfid\n", rows.Options{}, []line{{1, "id", ""}}},
		{"lines over the limit", "ok\n" + long + "\nok2\n" + long, rows.Options{MaxLineBytes: 64},
			[]line{{1, "ok", ""}, {2, "", rows.ReasonLineTooLong}, {3, "ok2", ""}, {4, "", rows.ReasonLineTooLong}}},
		{"a line of exactly the limit", strings.Repeat("y", 64) + "\r\n", rows.Options{MaxLineBytes: 64},
			[]line{{1, strings.Repeat("y", 64), ""}}},
		{"bad UTF-8 flagged", "ok\n\xff\xfe\n", rows.Options{RequireUTF8: true}, []line{{1, "ok", ""}, {2, "", rows.ReasonBadUTF8}}},
		{"bad UTF-8 kept when not required", "\xff\n", rows.Options{}, []line{{1, "\xff", ""}}},
		{"empty", "", rows.Options{}, nil},
	}
	for _, tt := range tests {
		for _, zip := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/gzip=%v", tt.name, zip), func(t *testing.T) {
				input := tt.input
				if zip {
					input = gz(t, input)
				}
				got, r, err := readAll(t, input, tt.opt)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("lines %v, want %v", got, tt.want)
				}
				if r.Gzip() != zip {
					t.Errorf("Gzip() = %v", r.Gzip())
				}
				if r.InputBytes() != int64(len(input)) {
					t.Errorf("InputBytes() = %d, want %d", r.InputBytes(), len(input))
				}
				// The same lines through small blocks (a 100-byte line is longer than the block).
				blocks, err := readBlocks(t, input, tt.opt, 80)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(blocks, tt.want) {
					t.Errorf("lines by blocks %v, want %v", blocks, tt.want)
				}
			})
		}
	}
}

func TestReaderDamagedGzip(t *testing.T) {
	z := gz(t, strings.Repeat("line\n", 10000))
	for name, input := range map[string]string{
		"truncated": z[:len(z)/2],
		"header":    "\x1f\x8b\x00garbage",
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := readAll(t, input, rows.Options{})
			if cleanroom.ErrorCode(err) != cleanroom.EINVALID || !strings.Contains(cleanroom.ErrorMessage(err), "gzip") {
				t.Errorf("error %v, want an invalid gzip error", err)
			}
		})
	}
}

func TestReaderLimits(t *testing.T) {
	rowsOf := func(n int) string { return strings.Repeat("0123456789abcdef\temail_sha256\n", n) }
	tests := []struct {
		name   string
		input  string
		limits rows.Limits
		flag   string // the flag the error names; "" for no error
	}{
		{"under both", rowsOf(100), rows.Limits{MaxBytes: 3000, MaxRows: 100}, ""},
		{"one line too many", rowsOf(101), rows.Limits{MaxRows: 100}, rows.FlagMaxRows},
		{"one byte too many", rowsOf(100) + "x", rows.Limits{MaxBytes: 3000}, rows.FlagMaxBytes},
		{"no limits", rowsOf(1000), rows.Limits{MaxBytes: -1, MaxRows: -1}, ""},
		{"a final line without line end counts", rowsOf(100) + "x", rows.Limits{MaxRows: 100}, rows.FlagMaxRows},
	}
	for _, tt := range tests {
		for _, zip := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/gzip=%v", tt.name, zip), func(t *testing.T) {
				input := tt.input
				if zip {
					input = gz(t, input)
				}
				_, err := readBlocks(t, input, rows.Options{Limits: tt.limits}, 256)
				checkLimitError(t, err, tt.flag)
				_, _, err = readAll(t, input, rows.Options{Limits: tt.limits})
				checkLimitError(t, err, tt.flag)
			})
		}
	}
}

// checkLimitError checks that err is nil when flag is empty, and otherwise an invalid error whose
// message names the flag.
func checkLimitError(t *testing.T, err error, flag string) {
	t.Helper()
	if flag == "" {
		if err != nil {
			t.Errorf("error %v", err)
		}
		return
	}
	msg := cleanroom.ErrorMessage(err)
	if cleanroom.ErrorCode(err) != cleanroom.EINVALID || !strings.Contains(msg, "--"+flag) ||
		cleanroom.ErrorDetails(err)["limit"] != flag {
		t.Errorf("error %v (message %q), want an invalid error naming --%s", err, msg, flag)
	}
}

// TestGzipBomb reads a small gzip of a large file under a small limit: reading stops at the
// limit, having decompressed no more than a block beyond it.
func TestGzipBomb(t *testing.T) {
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	row := []byte("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b856\temail_sha256\ts1\n")
	for range 1 << 18 { // 21 MiB of identical rows
		zw.Write(row)
	}
	zw.Close()
	const limit = 4 << 20
	r, err := rows.NewReader(&z, rows.Options{Limits: rows.Limits{MaxBytes: limit}})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	for err == nil {
		_, err = r.Next(buf)
	}
	checkLimitError(t, err, rows.FlagMaxBytes)
	if r.Bytes() > limit+1 {
		t.Errorf("decompressed %d bytes with a limit of %d", r.Bytes(), limit)
	}
	if _, again := r.Next(buf); again == nil || again.Error() != err.Error() {
		t.Errorf("error not sticky: %v", again)
	}
}

func TestSplit(t *testing.T) {
	semicolon := rows.Dialect{Sep: ';', Quotes: true}
	tests := []struct {
		name string
		d    rows.Dialect
		line string
		want []string // nil: bad quoting
	}{
		{"tsv", rows.TSV, "a\tb\t\tc", []string{"a", "b", "", "c"}},
		{"tsv keeps quotes", rows.TSV, `"a"	b"c`, []string{`"a"`, `b"c`}},
		{"csv", rows.CSV, "a,b,,c", []string{"a", "b", "", "c"}},
		{"csv trailing separator", rows.CSV, "a,", []string{"a", ""}},
		{"csv empty", rows.CSV, "", []string{""}},
		{"csv quoted", rows.CSV, `"a,b",c,"",""""`, []string{"a,b", "c", "", `"`}},
		{"csv doubled quotes", rows.CSV, `x,"say ""hi""",y`, []string{"x", `say "hi"`, "y"}},
		{"csv unclosed", rows.CSV, `a,"b,c`, nil},
		{"csv text after closing quote", rows.CSV, `"a"b,c`, nil},
		{"csv quote inside unquoted field", rows.CSV, `a"b,c`, nil},
		{"csv space before quote", rows.CSV, `a, "b"`, nil},
		{"semicolons", semicolon, `a;"b;c";d`, []string{"a", "b;c", "d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fields, _, ok := tt.d.Split([]byte(tt.line), nil, nil)
			if ok != (tt.want != nil) {
				t.Fatalf("ok = %v, want %v", ok, tt.want != nil)
			}
			if !ok {
				return
			}
			var got []string
			for _, f := range fields {
				got = append(got, string(f))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("fields %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRecord(t *testing.T) {
	multi := rows.Dialect{Sep: ',', Quotes: true, Multiline: true}
	type rec struct {
		line   int64
		fields string // joined with |
		reason string
	}
	tests := []struct {
		name  string
		d     rows.Dialect
		input string
		want  []rec
	}{
		{"one line each, blank skipped", rows.CSV, "a,b\n\n  \nc,\"d\"\n", []rec{{1, "a|b", ""}, {4, "c|d", ""}}},
		{"multiline field", multi, "h1,h2\n\"a\nb\",c\r\nd,e\n", []rec{{1, "h1|h2", ""}, {2, "a\nb|c", ""}, {4, "d|e", ""}}},
		{"multiline not allowed", rows.CSV, "\"a\nb\",c\n", []rec{{1, "", rows.ReasonBadQuoting}, {2, "", rows.ReasonBadQuoting}}},
		{"unclosed to the end", multi, "a\n\"b,c\nd\n", []rec{{1, "a", ""}, {2, "", rows.ReasonBadQuoting}}},
		{"bad quote", multi, "a\"b\nc\n", []rec{{1, "", rows.ReasonBadQuoting}, {2, "c", ""}}},
		{"record over the line limit", multi, "\"" + strings.Repeat("x", 40) + "\n" + strings.Repeat("y", 40) + "\"\nz\n",
			[]rec{{1, "", rows.ReasonLineTooLong}, {3, "z", ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := rows.NewReader(strings.NewReader(tt.input), rows.Options{MaxLineBytes: 64})
			if err != nil {
				t.Fatal(err)
			}
			var got []rec
			var record rows.Record
			for {
				err := r.Record(tt.d, &record)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				var fs []string
				for _, f := range record.Fields {
					fs = append(fs, string(f))
				}
				got = append(got, rec{record.Line, strings.Join(fs, "|"), record.Problem.Reason})
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("records %v, want %v", got, tt.want)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	var a, b rows.Errors
	// Out of line order, as blocks parsed in parallel finish; more than MaxListed of them.
	for i := 500; i > 0; i-- {
		a.Add(rows.Error{Line: int64(2 * i), Reason: "even"})
	}
	for i := range 300 {
		b.Add(rows.Error{Line: int64(2*i + 1), Reason: "odd"})
	}
	a.Merge(&b)
	first := a.First()
	if len(first) != rows.MaxListed {
		t.Fatalf("%d errors listed", len(first))
	}
	for i, e := range first {
		if e.Line != int64(i+1) {
			t.Fatalf("error %d is on line %d", i, e.Line)
		}
	}
	if a.Total() != 800 || a.Counts()["even"] != 500 || a.Counts()["odd"] != 300 {
		t.Errorf("total %d, counts %v", a.Total(), a.Counts())
	}
	var empty rows.Errors
	if empty.First() == nil || len(empty.Counts()) != 0 {
		t.Errorf("empty list: %v %v", empty.First(), empty.Counts())
	}
}

// TestErrorsHoldNoValues checks that a bad line's error carries no byte of the line.
func TestErrorsHoldNoValues(t *testing.T) {
	secret := "zq-secret-value@example.com"
	input := secret + strings.Repeat("x", 100) + "\n" + secret + "\xff\n\"" + secret + "\n"
	r, err := rows.NewReader(strings.NewReader(input), rows.Options{MaxLineBytes: 64, RequireUTF8: true})
	if err != nil {
		t.Fatal(err)
	}
	var shown strings.Builder
	for {
		var rec rows.Record
		err := r.Record(rows.CSV, &rec)
		if errors.Is(err, io.EOF) {
			break
		}
		if rec.Problem.Reason == "" {
			t.Fatalf("line %d has no problem", rec.Line)
		}
		fmt.Fprintf(&shown, "%+v %s\n", rec.Problem, rec.Problem.Error())
	}
	if strings.Contains(shown.String(), "zq-secret") {
		t.Errorf("a value reached an error:\n%s", shown.String())
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{512: "512 bytes", 64 << 30: "64 GiB", 3 << 19: "1.5 MiB", 1 << 10: "1 KiB"} {
		if got := rows.FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
