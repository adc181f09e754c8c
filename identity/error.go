package identity

import "errors"

// Reason names why a value or tag was rejected. Reasons are stable strings: ingest counts rows
// per reason, the API returns them, and clients may branch on them.
type Reason string

// The reasons a value or tag is rejected.
const (
	// ReasonEmpty: the value is empty or only whitespace.
	ReasonEmpty Reason = "empty"
	// ReasonTooLong: the value is longer than MaxValueLength bytes.
	ReasonTooLong Reason = "too_long"
	// ReasonBadUTF8: the value is not valid UTF-8.
	ReasonBadUTF8 Reason = "bad_utf8"
	// ReasonControlChars: the value contains a control character (a tab, NUL, line break, ...).
	ReasonControlChars Reason = "control_chars"
	// ReasonBadChar: a custom-tag value contains a space, a comma or a character outside
	// printable ASCII.
	ReasonBadChar Reason = "bad_char"

	// ReasonRawEmail: an email address where a SHA-256 digest was expected.
	ReasonRawEmail Reason = "raw_email"
	// ReasonRawPhone: a phone number where a SHA-256 digest was expected.
	ReasonRawPhone Reason = "raw_phone"
	// ReasonMD5: an MD5 digest (32 hex digits or 24 Base64 characters) where a SHA-256 digest was
	// expected.
	ReasonMD5 Reason = "md5"
	// ReasonSHA1: a SHA-1 digest (40 hex digits or 28 Base64 characters) where a SHA-256 digest
	// was expected.
	ReasonSHA1 Reason = "sha1"
	// ReasonWrongLength: hexadecimal digits, but not 64 of them.
	ReasonWrongLength Reason = "wrong_length"
	// ReasonNotHex: neither 64 hexadecimal digits nor Base64 of a 32-byte digest.
	ReasonNotHex Reason = "not_hex"
	// ReasonEmptyHash: the SHA-256 digest of the empty string, which identifies nobody.
	ReasonEmptyHash Reason = "empty_hash"

	// ReasonZeroMAID: the all-zero mobile advertising ID, sent when the user limits ad tracking.
	ReasonZeroMAID Reason = "zero_maid"
	// ReasonBadUUID: not a UUID, so not a mobile advertising ID.
	ReasonBadUUID Reason = "bad_uuid"
	// ReasonBadIP: not an IP address that can identify a device.
	ReasonBadIP Reason = "bad_ip"
	// ReasonBadNumber: not a valid Xandr user ID.
	ReasonBadNumber Reason = "bad_number"

	// ReasonBadEmail: a raw email address given to NormalizeEmail is malformed.
	ReasonBadEmail Reason = "bad_email"
	// ReasonBadPhone: a raw phone number given to NormalizePhone cannot be put in E.164 form.
	ReasonBadPhone Reason = "bad_phone"

	// ReasonUnknownTag: the identifier type is not one the registry knows.
	ReasonUnknownTag Reason = "unknown_tag"
)

// Reasons lists every Reason, for code that must handle each one (a test keeps it complete).
var Reasons = []Reason{
	ReasonEmpty, ReasonTooLong, ReasonBadUTF8, ReasonControlChars, ReasonBadChar,
	ReasonRawEmail, ReasonRawPhone, ReasonMD5, ReasonSHA1, ReasonWrongLength, ReasonNotHex, ReasonEmptyHash,
	ReasonZeroMAID, ReasonBadUUID, ReasonBadIP, ReasonBadNumber,
	ReasonBadEmail, ReasonBadPhone,
	ReasonUnknownTag,
}

// ValueError reports a rejected identifier value or tag. It deliberately has no field for the
// value, which may be personal data: Message and Hint never contain it and are safe to show and
// to log. Callers add the position (file line, API field).
type ValueError struct {
	// Tag is the identifier type the value was checked against; empty for ReasonUnknownTag.
	Tag Tag
	// Reason names the mistake.
	Reason Reason
	// Message says what is wrong, in one sentence.
	Message string
	// Hint says how to fix it, in one sentence.
	Hint string
}

// Error returns the tag and the message, without the hint.
func (e *ValueError) Error() string {
	if e.Tag == "" {
		return e.Message
	}
	return string(e.Tag) + ": " + e.Message
}

// ReasonOf returns the Reason of the first *ValueError in err's chain, or "" if there is none.
func ReasonOf(err error) Reason {
	if e, ok := errors.AsType[*ValueError](err); ok {
		return e.Reason
	}
	return ""
}
