package ingest

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/rows"
)

// Limits of a taxonomy file.
const (
	// MaxSegments is the most segments a taxonomy may define.
	MaxSegments = 100_000
	// MaxTaxonomyLineBytes is the longest line a taxonomy file may have.
	MaxTaxonomyLineBytes = 4 << 10
	// maxSegmentNameRunes is the longest segment name, in characters.
	maxSegmentNameRunes = 200
	// maxReportedRowErrors is how many row errors a taxonomy or data file reports in detail.
	maxReportedRowErrors = 100
)

// Segment is one segment of a data source's taxonomy.
type Segment struct {
	// ID is the segment ID used in the data file's segments column.
	ID string `json:"id"`
	// Name is what the dashboard shows.
	Name string `json:"name"`
}

// Taxonomy is a data source's list of segments, in file order. Segment indices (the position
// in the list) are what a data source version stores. A Taxonomy is immutable and safe for
// concurrent use.
type Taxonomy struct {
	segments []Segment
	index    map[string]uint32 // segment ID -> index
}

// NewTaxonomy returns the taxonomy of segs. It returns an EINVALID error if an ID or name is
// invalid (see ParseTaxonomy), an ID or a name appears twice, or there are more than
// MaxSegments segments.
func NewTaxonomy(segs []Segment) (*Taxonomy, error) {
	if len(segs) > MaxSegments {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "A taxonomy has at most %d segments; this one has %d.", MaxSegments, len(segs))
	}
	b := newTaxonomyBuilder("segment")
	for i, s := range segs {
		if e := b.add(s.ID, s.Name, int64(i+1)); e != nil {
			return nil, cleanroom.Errorf(cleanroom.EINVALID, "Segment %d: %s.", i+1, e.Message).Hint("%s", e.Hint)
		}
	}
	return b.t, nil
}

// Len returns the number of segments.
func (t *Taxonomy) Len() int {
	if t == nil {
		return 0
	}
	return len(t.segments)
}

// Segments returns the segments in taxonomy order.
func (t *Taxonomy) Segments() []Segment {
	if t == nil {
		return nil
	}
	return append([]Segment(nil), t.segments...)
}

// IDs returns the segment IDs in taxonomy order.
func (t *Taxonomy) IDs() []string {
	ids := make([]string, t.Len())
	for i := range ids {
		ids[i] = t.segments[i].ID
	}
	return ids
}

// Index returns the position of the segment with the given ID.
func (t *Taxonomy) Index(id string) (int, bool) {
	if t == nil {
		return 0, false
	}
	i, ok := t.index[id]
	return int(i), ok
}

// taxonomyBuilder checks and adds segments one by one.
type taxonomyBuilder struct {
	t     *Taxonomy
	unit  string         // what where counts: "line" or "segment"
	where []int64        // the line (or position) of each segment, for duplicate messages
	names map[string]int // segment name -> index
}

func newTaxonomyBuilder(unit string) *taxonomyBuilder {
	return &taxonomyBuilder{t: &Taxonomy{index: map[string]uint32{}}, unit: unit, names: map[string]int{}}
}

// add appends the segment found at where, or returns why it cannot be added.
func (b *taxonomyBuilder) add(id, name string, where int64) *RowError {
	if e := segmentIDProblem(id); e != nil {
		return e
	}
	if e := segmentNameProblem(name); e != nil {
		return e
	}
	if first, dup := b.t.index[id]; dup {
		return &RowError{Reason: ReasonDuplicateSegmentID,
			Message: "the segment ID is already defined, on " + b.unit + " " + strconv.FormatInt(b.where[first], 10),
			Hint:    "List each segment once."}
	}
	if first, dup := b.names[name]; dup {
		return &RowError{Reason: ReasonDuplicateSegmentName,
			Message: "the segment on " + b.unit + " " + strconv.FormatInt(b.where[first], 10) + " has the same name",
			Hint:    "Give each segment its own name, so that people can tell them apart."}
	}
	b.names[name] = len(b.t.segments)
	b.t.index[id] = uint32(len(b.t.segments))
	b.t.segments = append(b.t.segments, Segment{ID: id, Name: name})
	b.where = append(b.where, where)
	return nil
}

// segmentIDProblem returns what makes id unusable as a segment ID, the rule of
// cleanroom.ValidateSegmentID, without quoting it: a data file uploaded in the place of the
// taxonomy would otherwise have its identifiers echoed.
func segmentIDProblem(id string) *RowError {
	if cleanroom.ValidateSegmentID("segment ID", id) == nil {
		return nil
	}
	msg := "the segment ID holds a space, comma, tab or non-ASCII character"
	if id == "" || len(id) > 128 {
		msg = "the segment ID must be 1 to 128 characters long"
	}
	return &RowError{Reason: ReasonBadSegmentID, Message: msg,
		Hint: "Use 1 to 128 letters, digits and punctuation other than commas for segment IDs."}
}

// segmentNameProblem returns what makes name unusable as a segment name, the rule of
// cleanroom.ValidateName.
func segmentNameProblem(name string) *RowError {
	if cleanroom.ValidateName("segment name", name) == nil {
		return nil
	}
	msg := "the segment name holds control characters"
	switch {
	case strings.TrimSpace(name) == "":
		msg = "the segment name is empty"
	case !utf8.ValidString(name):
		msg = "the segment name is not valid UTF-8 text"
	case utf8.RuneCountInString(name) > maxSegmentNameRunes:
		msg = "the segment name is longer than 200 characters"
	}
	return &RowError{Reason: ReasonBadSegmentName, Message: msg,
		Hint: "Give each segment a name of 1 to 200 characters, saved as UTF-8."}
}

// ParseTaxonomy reads a taxonomy CSV file: one segment per line, the segment ID then its name
// (quoted if it holds a comma). A first row that names the columns (segment_id and segment_name,
// or id and name) is a header and skipped; a UTF-8 byte order mark, CRLF line ends and blank
// lines are accepted. IDs must pass cleanroom.ValidateSegmentID and names
// cleanroom.ValidateName; IDs and names must be unique; at most MaxSegments segments.
//
// The taxonomy is small and must be exact, so any bad row rejects the whole file: the result is
// then nil, the row errors (the first 100, by line; they never quote the file's values), and an
// EINVALID error that counts them. An error that is not EINVALID comes from reading r.
func ParseTaxonomy(r io.Reader) (*Taxonomy, []RowError, error) {
	b := newTaxonomyBuilder("line")
	t := b.t
	var errs rows.Errors
	rd, err := rows.NewReader(r, rows.Options{MaxLineBytes: MaxTaxonomyLineBytes, RequireUTF8: true})
	if err != nil {
		return nil, nil, err
	}
	var fields [][]byte
	var scratch []byte
	first := true
	for {
		l, err := rd.Line()
		if err == io.EOF {
			break
		}
		if err != nil {
			if cleanroom.ErrorCode(err) == cleanroom.EINVALID {
				return nil, nil, err
			}
			return nil, nil, fmt.Errorf("ingest: read taxonomy: %w", err)
		}
		if l.Bad() {
			errs.Add(l.Err())
			continue
		}
		if rows.Blank(l.Text) {
			continue
		}
		var ok bool
		if fields, scratch, ok = rows.CSV.Split(l.Text, fields, scratch); !ok {
			errs.Add(rows.BadQuoting.At(l.No))
			continue
		}
		if first {
			first = false
			if isTaxonomyHeader(fields) {
				continue
			}
		}
		if len(fields) != 2 {
			errs.Add(RowError{Line: l.No, Reason: ReasonColumnCount,
				Message: "the row does not have 2 columns (segment ID, segment name)",
				Hint:    "Write one segment per line as ID,name, quoting names that contain commas."})
			continue
		}
		if t.Len() == MaxSegments {
			errs.Add(RowError{Line: l.No, Reason: ReasonTooManySegments,
				Message: "the taxonomy has more than " + strconv.Itoa(MaxSegments) + " segments",
				Hint:    "Split the segments over several data sources."})
			break
		}
		if e := b.add(string(rows.TrimSpace(fields[0])), string(rows.TrimSpace(fields[1])), l.No); e != nil {
			errs.Add(e.At(l.No))
		}
	}
	if bad := errs.Total(); bad > 0 {
		list := errs.First()
		return nil, list, cleanroom.Errorf(cleanroom.EINVALID,
			"The taxonomy has %d bad %s and was not accepted; the first is on line %d.", bad, plural(bad, "row", "rows"), list[0].Line).
			Hint("Fix the rows listed and upload the whole taxonomy again.")
	}
	if t.Len() == 0 {
		return nil, nil, cleanroom.Errorf(cleanroom.EINVALID, "The taxonomy defines no segments.").
			Hint("Upload a CSV file with one segment per line: the segment ID, a comma, the segment name.")
	}
	return t, nil, nil
}

// isTaxonomyHeader reports whether the first row of a taxonomy names its columns.
func isTaxonomyHeader(fields [][]byte) bool {
	if len(fields) != 2 {
		return false
	}
	id, name := columnName(fields[0]), columnName(fields[1])
	return (id == "segment_id" || id == "id" || id == "segment") && (name == "segment_name" || name == "name")
}

// columnName returns a header field lowercased, trimmed, with spaces and dashes as underscores.
func columnName(f []byte) string {
	b := lowerASCII(bytes.Clone(rows.TrimSpace(f)))
	for i, c := range b {
		if c == ' ' || c == '-' {
			b[i] = '_'
		}
	}
	return string(b)
}

// plural returns one or many by n.
func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
