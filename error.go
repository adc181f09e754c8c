package cleanroom

import (
	"errors"
	"fmt"
)

// Error codes. They are stable: the API renders them as the "code" of its error shape, the CLI maps
// them to exit codes, and clients may branch on them.
const (
	EINVALID         = "invalid"         // the request is malformed or breaks a rule
	ENOTFOUND        = "not_found"       // no such resource, or not visible to the caller
	ECONFLICT        = "conflict"        // the resource exists already or is in the wrong state
	EFORBIDDEN       = "forbidden"       // the caller may see the resource but not do this
	EUNAUTHENTICATED = "unauthenticated" // no valid credentials
	EUNAVAILABLE     = "unavailable"     // a dependency is down or the system is shutting down
	EINTERNAL        = "internal"        // a bug or an unexpected failure; details are logged, not shown
)

// Error is an error with a code and a message that is safe to show to users. Err, when set, is the
// underlying cause: it is logged but never shown.
type Error struct {
	Code    string
	Message string
	// Details carries structured, user-safe facts about the error (a field name, a row number,
	// the expected format, a hint).
	Details map[string]any
	Err     error
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted, user-safe message.
func Errorf(code string, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// With returns a copy of e with the detail key set to value.
func (e *Error) With(key string, value any) *Error {
	c := *e
	c.Details = make(map[string]any, len(e.Details)+1)
	for k, v := range e.Details {
		c.Details[k] = v
	}
	c.Details[key] = value
	return &c
}

// Hint returns a copy of e whose details carry a one-sentence hint saying how to fix the problem.
func (e *Error) Hint(format string, args ...any) *Error {
	return e.With("hint", fmt.Sprintf(format, args...))
}

// Wrap returns a copy of e with err as its (hidden) cause.
func (e *Error) Wrap(err error) *Error {
	c := *e
	c.Err = err
	return &c
}

// ErrorCode returns the code of the first *Error in err's chain, "" for nil, and EINTERNAL for any
// other error.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-safe message of the first *Error in err's chain, or a generic
// message for unclassified errors, whose text may hold internals.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "An internal error occurred; it has been logged."
}

// ErrorText returns what a user is told about err: the user-safe message of the first *Error in
// err's chain followed by its hint, if any, or ErrorMessage's generic message for unclassified
// errors. The CLI prints it, the dashboard shows it, and failed uploads, jobs and cohorts store it.
func ErrorText(err error) string {
	var e *Error
	if !errors.As(err, &e) {
		return ErrorMessage(err)
	}
	if h, ok := e.Details["hint"].(string); ok && h != "" {
		return e.Message + " " + h
	}
	return e.Message
}

// ErrorDetails returns the details of the first *Error in err's chain, or nil.
func ErrorDetails(err error) map[string]any {
	var e *Error
	if errors.As(err, &e) {
		return e.Details
	}
	return nil
}
