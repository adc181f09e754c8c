package rows

import (
	"bytes"
	"io"
)

// Dialect says how a line splits into fields.
type Dialect struct {
	// Sep separates the fields: '\t', ',', ';', '|', ...
	Sep byte
	// Quotes lets fields be quoted in the manner of RFC 4180: a field that starts with a quote
	// runs to the next lone quote, "" inside it stands for one quote, and the closing quote must
	// end the field. A quote inside a field that does not start with one is bad quoting.
	// Without Quotes, quotes are ordinary characters.
	Quotes bool
	// Multiline lets a quoted field span lines when reading with [Reader.Record]. Parallel
	// parsers cut files at line ends, so their formats cannot allow it.
	Multiline bool
}

// The dialects of the upload formats.
var (
	// TSV separates fields with tabs and has no quoting.
	TSV = Dialect{Sep: '\t'}
	// CSV separates fields with commas and allows quoted fields on one line.
	CSV = Dialect{Sep: ',', Quotes: true}
)

// splitStatus is the outcome of splitting a line.
type splitStatus int8

const (
	splitOK       splitStatus = iota
	splitUnclosed             // a quoted field runs to the end of the line
	splitBadQuote             // text after a closing quote, or a quote in an unquoted field
)

// Split splits line into fields, appending them to fields[:0]. Quoted fields are unescaped into
// scratch when they hold a doubled quote (scratch is grown once to the line's length, so the
// returned fields stay valid until line or scratch change). It reports false when the quoting
// is broken (see Dialect.Quotes); the fields are then incomplete.
func (d Dialect) Split(line []byte, fields [][]byte, scratch []byte) ([][]byte, []byte, bool) {
	fields, scratch, st := d.split(line, fields, scratch)
	return fields, scratch, st == splitOK
}

func (d Dialect) split(line []byte, fields [][]byte, scratch []byte) ([][]byte, []byte, splitStatus) {
	fields = fields[:0]
	if !d.Quotes {
		for {
			i := bytes.IndexByte(line, d.Sep)
			if i < 0 {
				return append(fields, line), scratch, splitOK
			}
			fields = append(fields, line[:i])
			line = line[i+1:]
		}
	}
	if cap(scratch) < len(line) {
		scratch = make([]byte, 0, len(line))
	}
	scratch = scratch[:0]
	for {
		if len(line) == 0 || line[0] != '"' {
			f, rest, more := bytes.Cut(line, []byte{d.Sep})
			if bytes.IndexByte(f, '"') >= 0 {
				return fields, scratch, splitBadQuote
			}
			fields = append(fields, f)
			if !more {
				return fields, scratch, splitOK
			}
			line = rest
			continue
		}
		// A quoted field: find its closing quote, noting doubled quotes.
		i, escaped := 1, false
		for {
			j := bytes.IndexByte(line[i:], '"')
			if j < 0 {
				return fields, scratch, splitUnclosed
			}
			i += j + 1
			if i < len(line) && line[i] == '"' {
				escaped = true
				i++
				continue
			}
			break
		}
		body := line[1 : i-1]
		if escaped {
			start := len(scratch)
			for k := 0; k < len(body); k++ {
				scratch = append(scratch, body[k])
				if body[k] == '"' {
					k++ // skip the second quote of the pair
				}
			}
			body = scratch[start:len(scratch):len(scratch)]
		}
		fields = append(fields, body)
		line = line[i:]
		if len(line) == 0 {
			return fields, scratch, splitOK
		}
		if line[0] != d.Sep {
			return fields, scratch, splitBadQuote
		}
		line = line[1:]
	}
}

// Record is one row of a file read with [Reader.Record]: usually one line, more when a quoted
// field spans lines.
type Record struct {
	// Line is the number of the record's first line.
	Line int64
	// Fields are the record's fields; they are valid until the next Record call.
	Fields [][]byte
	// Problem, when its Reason is set, says why the record could not be split: a line too long
	// (a record spanning lines counts as one line), not UTF-8, or broken quoting. Fields is then
	// empty.
	Problem Error

	joined, scratch []byte
}

// Record reads the next record that is not blank, split by d, for sequential parsers. A record
// whose quoted field does not close on its line continues on the next lines when d.Multiline is
// set (the line breaks become "\n" in the field), up to the line limit in all. It returns io.EOF
// after the last record, and the errors of Next.
func (r *Reader) Record(d Dialect, rec *Record) error {
	rec.Fields, rec.Problem = rec.Fields[:0], Error{}
	var l Line
	for {
		var err error
		if l, err = r.Line(); err != nil {
			return err
		}
		if l.Bad() || !Blank(l.Text) {
			break
		}
	}
	rec.Line = l.No
	if l.Bad() {
		rec.Problem = l.Err()
		return nil
	}
	text := l.Text
	for {
		var st splitStatus
		rec.Fields, rec.scratch, st = d.split(text, rec.Fields, rec.scratch)
		switch {
		case st == splitOK:
			return nil
		case st == splitBadQuote || !d.Multiline:
			rec.Fields, rec.Problem = rec.Fields[:0], BadQuoting.At(rec.Line)
			return nil
		}
		// An open quote: the record goes on on the next line.
		rec.joined = append(append(rec.joined[:0], text...), '\n')
		next, err := r.Line()
		if err == io.EOF {
			rec.Fields, rec.Problem = rec.Fields[:0], BadQuoting.At(rec.Line)
			return nil
		}
		if err != nil {
			return err
		}
		if next.Bad() || len(rec.joined)+len(next.Text) > r.checks.maxLine {
			rec.Fields, rec.Problem = rec.Fields[:0], r.checks.tooLong.At(rec.Line)
			if next.Bad() && next.problem.Reason == ReasonBadUTF8 {
				rec.Problem = next.Err()
			}
			return nil
		}
		rec.joined = append(rec.joined, next.Text...)
		text = rec.joined
	}
}
