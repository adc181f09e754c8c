package pubsync

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/rows"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// Limits of a taxonomy.
const (
	// MaxCohorts is the largest number of cohorts a taxonomy may define.
	MaxCohorts = 100_000
	// MaxCohortNameBytes is the longest cohort name, in bytes.
	MaxCohortNameBytes = 200
	// maxTaxonomyLine is the longest taxonomy line, in bytes.
	maxTaxonomyLine = 64 << 10
	// maxTaxonomyErrors is the number of row errors ParseTaxonomy returns at most.
	maxTaxonomyErrors = 1000
)

// Taxonomy is a publisher's custom cohort taxonomy: the cohorts that profile files and
// membership updates may name, in file order. It is immutable and safe for concurrent use.
type Taxonomy struct {
	cohorts []vault.CohortInfo
	index   map[string]uint32
	table   []cohortSlot // the index as an open-addressing table, for lookup
}

// NewTaxonomy returns the taxonomy of the given cohorts, checked by the rules of ParseTaxonomy.
// It returns an EINVALID error naming the first bad entry.
func NewTaxonomy(cohorts []vault.CohortInfo) (*Taxonomy, error) {
	if len(cohorts) > MaxCohorts {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "The taxonomy has %d cohorts; the limit is %d.", len(cohorts), MaxCohorts)
	}
	t := &Taxonomy{cohorts: make([]vault.CohortInfo, len(cohorts)), index: make(map[string]uint32, len(cohorts))}
	for i, c := range cohorts {
		if e, ok := checkCohort(int64(i+1), c); !ok {
			return nil, cleanroom.Errorf(cleanroom.EINVALID, "Cohort %d: %s.", i+1, e.Message).Hint("%s", e.Hint)
		}
		if _, dup := t.index[c.ID]; dup {
			return nil, cleanroom.Errorf(cleanroom.EINVALID, "Cohort %d repeats the ID of an earlier cohort.", i+1)
		}
		t.cohorts[i] = c
		t.index[c.ID] = uint32(i)
	}
	t.buildTable()
	return t, nil
}

// Len returns the number of cohorts.
func (t *Taxonomy) Len() int { return len(t.cohorts) }

// Cohorts returns a copy of the cohorts in taxonomy order.
func (t *Taxonomy) Cohorts() []vault.CohortInfo {
	out := make([]vault.CohortInfo, len(t.cohorts))
	copy(out, t.cohorts)
	return out
}

// Index returns the position of the cohort with the given ID.
func (t *Taxonomy) Index(id string) (int, bool) {
	i, ok := t.index[id]
	return int(i), ok
}

// lookup is Index for a byte slice, without allocating. It probes an open-addressing table
// keyed by FNV-1a, cheaper than the map for the short IDs of a profile file.
func (t *Taxonomy) lookup(id []byte) (uint32, bool) {
	if t.table == nil {
		i, ok := t.index[string(id)]
		return i, ok
	}
	mask := uint64(len(t.table) - 1)
	for h := fnv1a(id) & mask; ; h = (h + 1) & mask {
		e := &t.table[h]
		if e.id == "" {
			return 0, false
		}
		if e.id == string(id) {
			return e.idx, true
		}
	}
}

// cohortSlot is an entry of Taxonomy.table.
type cohortSlot struct {
	id  string
	idx uint32
}

// fnv1a is the 64-bit FNV-1a hash.
func fnv1a(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h ^ h>>29
}

// buildTable fills t.table from t.cohorts, at most half full.
func (t *Taxonomy) buildTable() {
	size := 16
	for size < 2*len(t.cohorts) {
		size *= 2
	}
	t.table = make([]cohortSlot, size)
	mask := uint64(size - 1)
	for i, c := range t.cohorts {
		h := fnv1a([]byte(c.ID)) & mask
		for t.table[h].id != "" {
			h = (h + 1) & mask
		}
		t.table[h] = cohortSlot{c.ID, uint32(i)}
	}
}

// checkCohort checks one entry by the taxonomy rules (all but uniqueness).
func checkCohort(line int64, c vault.CohortInfo) (RowError, bool) {
	if c.ID == "" || len(c.ID) > 128 {
		return RowError{Line: line, Reason: ReasonBadCohortID, Message: "the cohort ID must be 1 to 128 characters",
			Hint: "Give every cohort a short ID such as c17 or sports_fans."}, false
	}
	if cleanroom.ValidateSegmentID("cohort ID", c.ID) != nil {
		return RowError{Line: line, Reason: ReasonBadCohortID, Message: "the cohort ID contains a space, comma, tab or non-ASCII character",
			Hint: "Use letters, digits and punctuation other than commas in cohort IDs."}, false
	}
	name := []byte(c.Name)
	control, bad := textProblems(name)
	switch {
	case bad:
		return RowError{Line: line, Reason: ReasonBadUTF8, Message: "the cohort name is not valid UTF-8 text",
			Hint: "Save the taxonomy as UTF-8 (not Latin-1 or UTF-16) and upload it again."}, false
	case len(bytes.TrimSpace(name)) == 0:
		return RowError{Line: line, Reason: ReasonEmptyName, Message: "the cohort has no name",
			Hint: "Give every cohort the name the dashboard should show."}, false
	case len(name) > MaxCohortNameBytes:
		return RowError{Line: line, Reason: ReasonBadName, Message: "the cohort name is " + strconv.Itoa(len(name)) + " bytes long; the limit is " + strconv.Itoa(MaxCohortNameBytes),
			Hint: "Shorten the name."}, false
	case control:
		return RowError{Line: line, Reason: ReasonBadName, Message: "the cohort name contains a control character such as a tab or a line break",
			Hint: "Remove the control characters from the name."}, false
	case c.IABID < 0:
		return RowError{Line: line, Reason: ReasonBadIABID, Message: "the IAB Audience Taxonomy ID must be a positive whole number",
			Hint: "Write the numeric ID from the IAB Audience Taxonomy, such as 178, or leave it empty."}, false
	case c.Standard && c.IABID == 0:
		return RowError{Line: line, Reason: ReasonMissingIABID, Message: "the cohort is marked standard but has no IAB Audience Taxonomy ID",
			Hint: "Give standard cohorts their IAB Audience Taxonomy ID, or set standard to false."}, false
	}
	return RowError{}, true
}

// taxonomy columns.
const (
	taxColID = iota
	taxColName
	taxColIAB
	taxColStandard
	taxCols
)

var taxColumnNames = [taxCols]string{"cohort_id", "name", "iab_id", "standard"}

// ParseTaxonomy reads a publisher taxonomy: a CSV file (or a TSV file, recognised by a tab in
// the header) whose header row names the columns cohort_id, name, iab_id and standard in any
// order; cohort_id and name are required, other columns are ignored. Each following non-blank
// line defines one cohort:
//
//   - cohort_id: 1 to 128 printable ASCII characters other than space and comma
//     (cleanroom.ValidateSegmentID), unique within the file;
//   - name: the display name, 1 to MaxCohortNameBytes bytes of UTF-8 without control characters;
//   - iab_id: optional, the cohort's numeric IAB Audience Taxonomy ID;
//   - standard: true or false (also 1/0, yes/no; empty means false); a standard cohort needs an
//     iab_id.
//
// CSV fields may be quoted ("..." with "" for a quote) but not span lines. The taxonomy is
// accepted whole or not at all: if any row is bad, ParseTaxonomy returns a nil taxonomy, the
// row errors (at most 1000, in line order) and an EINVALID error. A malformed header or a read
// failure returns only an error.
func ParseTaxonomy(r io.Reader) (*Taxonomy, []RowError, error) {
	var (
		d        rows.Dialect
		cols     [taxCols]int
		ncols    int
		haveHead bool
		errs     []RowError
		nerr     int
		fields   [][]byte
		scratch  []byte
		t        = &Taxonomy{index: map[string]uint32{}}
		defined  = map[string]int64{}
	)
	addErr := func(e RowError) {
		nerr++
		if len(errs) < maxTaxonomyErrors {
			errs = append(errs, e)
		}
	}
	rd, err := rows.NewReader(r, rows.Options{MaxLineBytes: maxTaxonomyLine})
	if err != nil {
		return nil, nil, err
	}
	for {
		l, err := rd.Line()
		if err == io.EOF {
			break
		}
		if err != nil {
			if cleanroom.ErrorCode(err) == cleanroom.EINVALID {
				return nil, nil, err
			}
			return nil, nil, fmt.Errorf("pubsync: read taxonomy: %w", err)
		}
		if !haveHead {
			if l.Bad() {
				return nil, nil, cleanroom.Errorf(cleanroom.EINVALID, "The taxonomy's first line is longer than %d bytes.", maxTaxonomyLine).
					Hint("The first line must be the header: cohort_id,name,iab_id,standard.")
			}
			if rows.Blank(l.Text) {
				continue
			}
			names, isCSV, herr := readHeader(l.Text)
			if herr != nil {
				return nil, nil, herr
			}
			d, ncols = rows.TSV, len(names)
			if isCSV {
				d = rows.CSV
			}
			for i := range cols {
				cols[i] = -1
			}
			for i, n := range names {
				for c, want := range taxColumnNames {
					if n == want {
						cols[c] = i
					}
				}
			}
			if cols[taxColID] < 0 || cols[taxColName] < 0 {
				return nil, nil, cleanroom.Errorf(cleanroom.EINVALID, "The taxonomy header must name the columns cohort_id and name.").
					Hint("Start the file with the header row cohort_id,name,iab_id,standard.")
			}
			haveHead = true
			continue
		}
		if l.Bad() {
			addErr(RowError{Line: l.No, Reason: ReasonLineTooLong, Message: fmt.Sprintf("the line is longer than %d bytes", maxTaxonomyLine),
				Hint: "Check that rows are separated by line breaks."})
			continue
		}
		if rows.Blank(l.Text) {
			continue
		}
		var ok bool
		fields, scratch, ok = d.Split(l.Text, fields, scratch)
		switch {
		case !ok:
			addErr(rows.BadQuoting.At(l.No))
		case len(fields) > ncols:
			addErr(RowError{Line: l.No, Reason: ReasonColumnCount, Message: fmt.Sprintf("the row has %d columns; the header has %d", len(fields), ncols),
				Hint: "Quote names that contain commas, or remove the extra columns."})
		default:
			field := func(c int) []byte {
				if cols[c] < 0 || cols[c] >= len(fields) {
					return nil
				}
				return fields[cols[c]]
			}
			if e, ok := parseCohortRow(l.No, field(taxColID), field(taxColName), field(taxColIAB), field(taxColStandard), t, defined); !ok {
				addErr(e)
			}
		}
	}
	if !haveHead {
		return nil, nil, cleanroom.Errorf(cleanroom.EINVALID, "The taxonomy is empty.").
			Hint("Start the file with the header row cohort_id,name,iab_id,standard, then one row per cohort.")
	}
	if nerr > 0 {
		return nil, errs, cleanroom.Errorf(cleanroom.EINVALID, "The taxonomy has %d bad rows; nothing was imported.", nerr).
			With("rows", nerr).Hint("Fix the rows listed and upload the whole taxonomy again.")
	}
	if len(t.cohorts) > MaxCohorts {
		return nil, nil, cleanroom.Errorf(cleanroom.EINVALID, "The taxonomy has %d cohorts; the limit is %d.", len(t.cohorts), MaxCohorts)
	}
	t.buildTable()
	return t, nil, nil
}

// parseCohortRow checks one taxonomy row and adds it to t.
func parseCohortRow(line int64, id, name, iab, standard []byte, t *Taxonomy, defined map[string]int64) (RowError, bool) {
	id = rows.TrimSpace(id)
	name = rows.TrimSpace(name)
	c := vault.CohortInfo{ID: string(id), Name: string(name)}
	if iab = rows.TrimSpace(iab); len(iab) > 0 {
		n, err := strconv.ParseUint(string(iab), 10, 31)
		if err != nil || n == 0 {
			return RowError{Line: line, Reason: ReasonBadIABID, Message: "the IAB Audience Taxonomy ID must be a positive whole number",
				Hint: "Write the numeric ID from the IAB Audience Taxonomy, such as 178, or leave it empty."}, false
		}
		c.IABID = int(n)
	}
	switch strings.ToLower(string(rows.TrimSpace(standard))) {
	case "", "false", "0", "no", "n", "f":
	case "true", "1", "yes", "y", "t":
		c.Standard = true
	default:
		return RowError{Line: line, Reason: ReasonBadStandard, Message: "the standard column must be true or false",
			Hint: "Write true for cohorts mapped to the IAB Audience Taxonomy and false (or nothing) for the others."}, false
	}
	if e, ok := checkCohort(line, c); !ok {
		return e, false
	}
	if first, dup := defined[c.ID]; dup {
		return RowError{Line: line, Reason: ReasonDuplicateCohort, Message: "the cohort ID was already defined on line " + strconv.FormatInt(first, 10),
			Hint: "Give each cohort its own ID, or remove the repeated row."}, false
	}
	defined[c.ID] = line
	t.index[c.ID] = uint32(len(t.cohorts))
	t.cohorts = append(t.cohorts, c)
	return RowError{}, true
}

// readHeader splits a header line into lowercase column names, choosing TSV if it holds a tab
// and CSV otherwise. It fails on an empty name or a name given twice.
func readHeader(line []byte) (names []string, csv bool, err error) {
	csv = bytes.IndexByte(line, '\t') < 0
	d := rows.TSV
	if csv {
		d = rows.CSV
	}
	fields, _, ok := d.Split(line, nil, nil)
	if !ok {
		return nil, false, cleanroom.Errorf(cleanroom.EINVALID, "The header line has broken quoting.")
	}
	seen := map[string]bool{}
	for _, f := range fields {
		n := strings.ToLower(string(rows.TrimSpace(f)))
		if n == "" {
			return nil, false, cleanroom.Errorf(cleanroom.EINVALID, "The header line has an empty column name.").
				Hint("Check that the first line is the header and that fields are separated by tabs or commas.")
		}
		if seen[n] {
			return nil, false, cleanroom.Errorf(cleanroom.EINVALID, "The header names a column twice.").
				Hint("Check that the first line is the header, with each column named once.")
		}
		seen[n] = true
		names = append(names, n)
	}
	return names, csv, nil
}
