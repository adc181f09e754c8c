package pubsync

import (
	"github.com/cleanroom-oss/cleanroom/identity"
	"github.com/cleanroom-oss/cleanroom/rows"
)

// RowError reports a problem with one row of a taxonomy or profile file, or with one event of a
// Batch (see rows.Error). It never holds the row's values (user IDs and identifiers may be
// personal data): Message and Hint are safe to show, log and store. For a Batch, Line is the
// 1-based position of the event (identify events first, then membership updates).
type RowError = rows.Error

// Reasons for rejected rows, fields and taxonomy entries, besides the identity.Reason values of
// rejected identifiers. They are stable strings: reports count problems per reason.
const (
	// ReasonLineTooLong: the line is longer than Options.MaxLineBytes.
	ReasonLineTooLong = rows.ReasonLineTooLong
	// ReasonBadUTF8: the line or field is not valid UTF-8.
	ReasonBadUTF8 = rows.ReasonBadUTF8
	// ReasonColumnCount: the row has more columns than the header.
	ReasonColumnCount = rows.ReasonColumnCount
	// ReasonBadQuoting: a CSV field's quote does not close on the same line, text follows a
	// closing quote, or a quote is inside a field that does not start with one.
	ReasonBadQuoting = rows.ReasonBadQuoting

	// ReasonMissingUserID: the row has no user ID. The row is rejected.
	ReasonMissingUserID = "missing_user_id"
	// ReasonBadUserID: the user ID is longer than MaxUserIDBytes or contains a control
	// character. The row is rejected.
	ReasonBadUserID = "bad_user_id"
	// ReasonDuplicateUser: the user ID was already given on an earlier line. The earlier line
	// is kept and this one is rejected whole.
	ReasonDuplicateUser = "duplicate_user"
	// ReasonBadCountry: the country is not an assigned ISO 3166-1 alpha-2 code. The user is kept
	// with an unknown country.
	ReasonBadCountry = "bad_country"
	// ReasonBadIdentifier: an item of the identifiers column is not written tag=value. The item
	// is dropped.
	ReasonBadIdentifier = "bad_identifier"
	// ReasonUnknownTag: the identifier type is not one the deployment knows. The item is dropped.
	ReasonUnknownTag = string(identity.ReasonUnknownTag)
	// ReasonTooManyTypes: the identifier is of a type beyond the first Options.MaxTypes types
	// seen. The item is dropped.
	ReasonTooManyTypes = "too_many_types"
	// ReasonUnknownCohort: a cohort ID that the taxonomy does not define. The membership is
	// dropped, the user kept.
	ReasonUnknownCohort = "unknown_cohort"
	// ReasonUnknownUser: a membership removal names a user ID the version does not have
	// (Apply only).
	ReasonUnknownUser = "unknown_user"
	// ReasonBadOp: a membership update's operation is neither add nor remove (Apply only).
	ReasonBadOp = "bad_op"

	// ReasonBadCohortID: a taxonomy entry's cohort ID is empty, longer than 128 characters, or
	// holds a space, comma, tab or non-ASCII character.
	ReasonBadCohortID = "bad_cohort_id"
	// ReasonDuplicateCohort: a taxonomy entry repeats an earlier entry's cohort ID.
	ReasonDuplicateCohort = "duplicate_cohort_id"
	// ReasonEmptyName: a taxonomy entry has no name.
	ReasonEmptyName = "empty_name"
	// ReasonBadName: a taxonomy entry's name is longer than MaxCohortNameBytes or contains a
	// control character.
	ReasonBadName = "bad_name"
	// ReasonBadIABID: a taxonomy entry's iab_id is not a positive whole number.
	ReasonBadIABID = "bad_iab_id"
	// ReasonMissingIABID: a standard cohort has no iab_id.
	ReasonMissingIABID = "missing_iab_id"
	// ReasonBadStandard: a taxonomy entry's standard column is not true or false.
	ReasonBadStandard = "bad_standard"
)

// maxListedErrors is the number of row errors a Report lists.
const maxListedErrors = 100

// errorList collects the row errors to list and counts all of them by reason.
type errorList struct {
	first    []RowError
	rejected map[string]int64
}

func (l *errorList) add(e RowError) {
	if l.rejected == nil {
		l.rejected = map[string]int64{}
	}
	l.rejected[e.Reason]++
	if len(l.first) < maxListedErrors {
		l.first = append(l.first, e)
	}
}
