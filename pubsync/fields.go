package pubsync

import (
	"bytes"
	"unicode/utf8"
)

// trimSpace removes leading and trailing ASCII spaces and tabs (and a trailing CR) from s.
func trimSpace(s []byte) []byte {
	i, j := 0, len(s)
	for i < j && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	for j > i && (s[j-1] == ' ' || s[j-1] == '\t' || s[j-1] == '\r') {
		j--
	}
	return s[i:j]
}

// splitTSV splits line at tabs, appending the fields to fields[:0].
func splitTSV(line []byte, fields [][]byte) [][]byte {
	fields = fields[:0]
	for {
		i := bytes.IndexByte(line, '\t')
		if i < 0 {
			return append(fields, line)
		}
		fields = append(fields, line[:i])
		line = line[i+1:]
	}
}

// splitCSV splits one line (without its line end) into comma-separated fields in the manner of
// RFC 4180, appending them to fields[:0]. A field that starts with a quote runs to the next lone
// quote, and "" inside it stands for one quote; such a field is unescaped into scratch only if
// it holds a doubled quote. A quoted field cannot span lines. It reports false when a quote does
// not close on the line or a closing quote is followed by something other than a comma. Quotes
// inside unquoted fields are kept as they are.
func splitCSV(line []byte, fields [][]byte, scratch []byte) ([][]byte, []byte, bool) {
	fields = fields[:0]
	scratch = scratch[:0]
	for {
		if len(line) == 0 || line[0] != '"' {
			i := bytes.IndexByte(line, ',')
			if i < 0 {
				return append(fields, line), scratch, true
			}
			fields = append(fields, line[:i])
			line = line[i+1:]
			continue
		}
		// A quoted field: find its closing quote, noting doubled quotes.
		i, escaped := 1, false
		for {
			j := bytes.IndexByte(line[i:], '"')
			if j < 0 {
				return fields, scratch, false
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
			return fields, scratch, true
		}
		if line[0] != ',' {
			return fields, scratch, false
		}
		line = line[1:]
	}
}

// splitLine splits a line of a CSV or TSV file into fields.
func splitLine(csv bool, line []byte, fields [][]byte, scratch []byte) ([][]byte, []byte, bool) {
	if csv {
		return splitCSV(line, fields, scratch)
	}
	return splitTSV(line, fields), scratch, true
}

// textProblems reports whether s contains a control character (C0, DEL or C1) and whether it
// is invalid UTF-8.
func textProblems(s []byte) (control, badUTF8 bool) {
	ascii := true
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			control = true
		}
		if c >= 0x80 {
			ascii = false
		}
	}
	if ascii {
		return control, false
	}
	if !utf8.Valid(s) {
		return control, true
	}
	for _, r := range string(s) {
		if r >= 0x80 && r < 0xa0 {
			control = true
		}
	}
	return control, false
}

// utf8BOM is the byte order mark some tools put at the start of a UTF-8 file.
var utf8BOM = []byte{0xef, 0xbb, 0xbf}
