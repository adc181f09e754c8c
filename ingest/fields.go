package ingest

import (
	"bytes"
	"unsafe"
)

// splitCSV splits one line (without its line end) into comma-separated fields in the manner of
// RFC 4180, appending them to fields[:0]. A field that starts with a quote runs to the next
// lone quote; "" inside it stands for one quote. Quoted fields are unescaped into scratch, which
// is grown once up front so that the returned slices stay valid. It reports false when a quote
// is not closed on the line or a closing quote is followed by something other than a comma.
// Quotes inside unquoted fields are kept as they are.
func splitCSV(line []byte, fields [][]byte, scratch []byte) ([][]byte, []byte, bool) {
	fields = fields[:0]
	if cap(scratch) < len(line) {
		scratch = make([]byte, 0, len(line))
	}
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
		// A quoted field.
		start := len(scratch)
		i := 1
		for {
			j := bytes.IndexByte(line[i:], '"')
			if j < 0 {
				return fields, scratch, false
			}
			scratch = append(scratch, line[i:i+j]...)
			i += j + 1
			if i < len(line) && line[i] == '"' {
				scratch = append(scratch, '"')
				i++
				continue
			}
			break
		}
		fields = append(fields, scratch[start:len(scratch):len(scratch)])
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

// trimSpace trims ASCII spaces and tabs from both ends of b.
func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// isBlank reports whether b holds nothing but spaces and tabs.
func isBlank(b []byte) bool { return len(trimSpace(b)) == 0 }

// lowerASCII lowercases the ASCII letters of b in place and returns it.
func lowerASCII(b []byte) []byte {
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return b
}

// unsafeString returns b as a string without copying. The string must not outlive the next
// change to b's memory: it is only passed to functions that do not keep it (normalisation and
// fingerprinting of a row, map look-ups).
func unsafeString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}
