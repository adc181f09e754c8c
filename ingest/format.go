package ingest

import (
	"bytes"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/rows"
)

// format is how the rows of a data file are laid out.
type format struct {
	csv bool // rows.CSV rather than rows.TSV
	// For CSV: the number of columns and the positions of the id, tag and segments columns
	// (seg is -1 when there is no segments column).
	cols, id, tag, seg int
}

var tsvFormat = format{}

// detectFormat chooses the format from the first non-blank line and reports whether that line
// is a header. It returns an EINVALID error for a CSV file without a usable header.
func detectFormat(first []byte) (format, bool, error) {
	if bytes.IndexByte(first, '\t') >= 0 {
		f := bytes.Split(first, []byte{'\t'})
		header := (len(f) == 2 || len(f) == 3) && columnName(f[0]) == "id" && columnName(f[1]) == "tag" &&
			(len(f) == 2 || columnName(f[2]) == "segments")
		return tsvFormat, header, nil
	}
	if bytes.IndexByte(first, ',') < 0 {
		return tsvFormat, false, nil
	}
	fields, _, ok := rows.CSV.Split(first, nil, nil)
	f := format{csv: true, cols: len(fields), id: -1, tag: -1, seg: -1}
	dup := false
	for i, name := range fields {
		var col *int
		switch columnName(name) {
		case "id":
			col = &f.id
		case "tag":
			col = &f.tag
		case "segments", "segment", "segment_ids":
			col = &f.seg
		default:
			continue
		}
		dup = dup || *col >= 0
		*col = i
	}
	if !ok || dup || f.id < 0 || f.tag < 0 {
		var problem string
		switch {
		case !ok:
			problem = "its first line has broken quoting"
		case dup:
			problem = "its header names a column twice"
		default:
			problem = "its first line does not name the id and tag columns"
		}
		return format{}, false, cleanroom.Errorf(cleanroom.EINVALID,
			"The file looks like CSV (its first line has commas and no tabs), but %s.", problem).
			Hint("Start a CSV file with the header id,tag,segments (in any order), or upload tab-separated rows without a header.")
	}
	return f, true, nil
}

// String returns "csv" or "tsv".
func (f format) String() string {
	if f.csv {
		return "csv"
	}
	return "tsv"
}
