package ingest

import (
	"github.com/cleanroom-oss/cleanroom/identity"
	"github.com/cleanroom-oss/cleanroom/rows"
)

// RowError reports a rejected row of an upload, or a row kept with a warning (see rows.Error).
// It never holds the row's values: Message and Hint are safe to show, log and store.
type RowError = rows.Error

// Reasons a row or a taxonomy entry is rejected, besides the identity.Reason values for
// identifiers and tags. They are stable strings: reports count rows per reason.
const (
	// ReasonLineTooLong: the line is longer than Options.MaxLineBytes (or MaxTaxonomyLineBytes).
	ReasonLineTooLong = rows.ReasonLineTooLong
	// ReasonBadUTF8: the line is not valid UTF-8.
	ReasonBadUTF8 = rows.ReasonBadUTF8
	// ReasonColumnCount: the row has the wrong number of columns.
	ReasonColumnCount = rows.ReasonColumnCount
	// ReasonBadQuoting: a CSV row has a quote that does not close on the same line, text after
	// a closing quote, or a quote inside an unquoted field.
	ReasonBadQuoting = rows.ReasonBadQuoting
	// ReasonUnknownTag: the identifier type is not one the deployment knows.
	ReasonUnknownTag = string(identity.ReasonUnknownTag)

	// ReasonUnknownSegment is a warning, not a rejection: the row lists a segment ID that the
	// taxonomy does not have. The ID is dropped and the row kept with its other segments.
	ReasonUnknownSegment = "unknown_segment"

	// ReasonBadSegmentID: a taxonomy entry's segment ID is empty, longer than 128 characters, or
	// holds a space, comma, tab or non-ASCII character.
	ReasonBadSegmentID = "bad_segment_id"
	// ReasonBadSegmentName: a taxonomy entry's name is empty, longer than 200 characters, or holds
	// control characters.
	ReasonBadSegmentName = "bad_segment_name"
	// ReasonDuplicateSegmentID: a taxonomy lists a segment ID twice.
	ReasonDuplicateSegmentID = "duplicate_segment_id"
	// ReasonDuplicateSegmentName: a taxonomy gives two segments the same name.
	ReasonDuplicateSegmentName = "duplicate_segment_name"
	// ReasonTooManySegments: a taxonomy has more than MaxSegments segments.
	ReasonTooManySegments = "too_many_segments"
)

// RowReasons lists every reason a data file's row can be counted under in a [Report]: the
// rejections (Report.Rejected) and the warnings (Report.Warnings, only ReasonUnknownSegment).
// Code that explains reports to users (the cohort diagnostics) handles each one; a test keeps
// the list complete. identity.ReasonBadEmail and identity.ReasonBadPhone are not among them:
// ingest never normalises raw addresses and numbers.
var RowReasons = []string{
	ReasonLineTooLong, ReasonBadUTF8, ReasonColumnCount, ReasonBadQuoting, ReasonUnknownTag,
	string(identity.ReasonEmpty), string(identity.ReasonTooLong), string(identity.ReasonControlChars),
	string(identity.ReasonBadChar), string(identity.ReasonRawEmail), string(identity.ReasonRawPhone),
	string(identity.ReasonMD5), string(identity.ReasonSHA1), string(identity.ReasonWrongLength),
	string(identity.ReasonNotHex), string(identity.ReasonEmptyHash), string(identity.ReasonZeroMAID),
	string(identity.ReasonBadUUID), string(identity.ReasonBadIP), string(identity.ReasonBadNumber),
	ReasonUnknownSegment,
}

// rowErrorOf returns the RowError at line for a problem identity reported.
func rowErrorOf(line int64, e *identity.ValueError) RowError {
	return RowError{Line: line, Reason: string(e.Reason), Message: e.Error(), Hint: e.Hint}
}

// The row errors this package reports for problems of its own, without their line.
var (
	errTSVColumns = RowError{Reason: ReasonColumnCount,
		Message: "the row does not have 2 or 3 tab-separated columns (id, tag, segments)",
		Hint:    "Separate the identifier, its type and the comma-separated segment IDs with single tabs."}
	errCSVColumns = RowError{Reason: ReasonColumnCount,
		Message: "the row does not have as many columns as the header",
		Hint:    "Give every row a value (possibly empty) for each column named in the header."}
	warnUnknownSegment = RowError{Reason: ReasonUnknownSegment,
		Message: "the row lists a segment ID that is not in the taxonomy; it was dropped and the row kept",
		Hint:    "Add the segment to the taxonomy, or correct the segment ID."}
)
