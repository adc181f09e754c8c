package rows

import (
	"cmp"
	"slices"
	"strconv"
)

// Error reports a problem with one row (or one field of a row) of a file. It never holds the
// row's values: Message and Hint are safe to show, log and store. Formats build theirs with
// their own reasons; the reasons of problems this package finds are below.
type Error struct {
	// Line is the 1-based line number in the (decompressed) file.
	Line int64 `json:"line"`
	// Reason names the problem with a stable string: reports count rows per reason.
	Reason string `json:"reason"`
	// Message says what is wrong, in one sentence.
	Message string `json:"message"`
	// Hint says how to fix it, in one sentence.
	Hint string `json:"hint,omitempty"`
}

// Error returns the line number and the message.
func (e Error) Error() string {
	return "line " + strconv.FormatInt(e.Line, 10) + ": " + e.Message
}

// At returns e at line.
func (e Error) At(line int64) Error {
	e.Line = line
	return e
}

// Reasons of the problems this package finds in a line.
const (
	// ReasonLineTooLong: the line is longer than the format's line limit.
	ReasonLineTooLong = "line_too_long"
	// ReasonBadUTF8: the line is not valid UTF-8 (identity.ReasonBadUTF8 has the same value).
	ReasonBadUTF8 = "bad_utf8"
	// ReasonBadQuoting: a quoted field does not close on its line (or record), a closing quote
	// is followed by something other than the separator, or a quote appears inside a field that
	// does not start with one.
	ReasonBadQuoting = "bad_quoting"
	// ReasonColumnCount: the row does not have the columns the format expects. Formats report
	// it with a message of their own.
	ReasonColumnCount = "wrong_column_count"
)

// badUTF8 is the error of a line that is not UTF-8.
var badUTF8 = Error{Reason: ReasonBadUTF8,
	Message: "the line is not valid UTF-8 text",
	Hint:    "Save the file as UTF-8 (not Latin-1 or UTF-16) and upload it again."}

// BadQuoting is the error of a line whose quoting is broken.
var BadQuoting = Error{Reason: ReasonBadQuoting,
	Message: "a quoted field is not closed on its line, text follows a closing quote, or a quote is inside a field that does not start with one",
	Hint:    "Quote whole fields (\"a,b\"), double the quotes inside them (\"\"), and keep each row on one line."}

// lineTooLong returns the error of a line longer than max bytes.
func lineTooLong(max int) Error {
	return Error{Reason: ReasonLineTooLong,
		Message: "the line is longer than " + strconv.Itoa(max) + " bytes",
		Hint:    "Check that rows end with line breaks (LF or CRLF) and that the columns are separated as the format says."}
}

// MaxListed is how many row errors an [Errors] keeps.
const MaxListed = 100

// Errors counts row errors by reason and keeps the first MaxListed of them by line number. Errors
// may be added in any line order (blocks parsed in parallel finish out of order); [Errors.Merge]
// combines the lists of several parsers. The zero value is ready to use.
type Errors struct {
	counts map[string]int64
	total  int64
	list   []Error // at most 2*MaxListed, trimmed to the first MaxListed by line when full
}

// Add counts e and keeps it if it may be among the first by line.
func (l *Errors) Add(e Error) {
	if l.counts == nil {
		l.counts = map[string]int64{}
	}
	l.counts[e.Reason]++
	l.total++
	if len(l.list) == 2*MaxListed {
		if e.Line >= l.trim() {
			return
		}
	}
	l.list = append(l.list, e)
}

// trim keeps the first MaxListed errors by line and returns the line of the last one kept.
func (l *Errors) trim() int64 {
	slices.SortStableFunc(l.list, func(a, b Error) int { return cmp.Compare(a.Line, b.Line) })
	l.list = l.list[:min(len(l.list), MaxListed)]
	if len(l.list) < MaxListed {
		return 1<<63 - 1
	}
	return l.list[len(l.list)-1].Line
}

// Merge adds the errors of o to l.
func (l *Errors) Merge(o *Errors) {
	if l.counts == nil {
		l.counts = map[string]int64{}
	}
	for k, n := range o.counts {
		l.counts[k] += n
	}
	l.total += o.total
	for _, e := range o.list {
		if len(l.list) == 2*MaxListed && e.Line >= l.trim() {
			continue
		}
		l.list = append(l.list, e)
	}
}

// Total returns the number of errors added.
func (l *Errors) Total() int64 { return l.total }

// Counts returns the number of errors per reason (a new map, never nil).
func (l *Errors) Counts() map[string]int64 {
	out := make(map[string]int64, len(l.counts))
	for k, n := range l.counts {
		out[k] = n
	}
	return out
}

// First returns the first MaxListed errors by line number (never nil); errors on the same line
// stay in the order they were added.
func (l *Errors) First() []Error {
	l.trim()
	return append([]Error{}, l.list...)
}
