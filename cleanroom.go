// Package cleanroom holds the domain of the clean room: its types, their validation, the storage
// interfaces that the sqlite and postgres packages implement, and the error kinds every layer uses.
// It imports nothing of the project's own and no third-party code, so every other package can
// depend on it.
package cleanroom

import (
	"regexp"
	"strings"
	"time"
)

// Page asks for one page of a list. After is the opaque cursor returned as Next by the previous
// page ("" for the first page); Limit is clamped to [1, MaxPageLimit] (0 means DefaultPageLimit).
type Page struct {
	After string
	Limit int
}

// Page limits.
const (
	DefaultPageLimit = 50
	MaxPageLimit     = 500
)

// Size returns the effective page size.
func (p Page) Size() int {
	switch {
	case p.Limit <= 0:
		return DefaultPageLimit
	case p.Limit > MaxPageLimit:
		return MaxPageLimit
	}
	return p.Limit
}

// uuidPattern matches the canonical lowercase textual form of a UUID.
var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// UUIDFormat is the form of every resource ID, as shown to users.
const UUIDFormat = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"

// ParseID trims and lowercases s and checks that it is a UUID in canonical form. what names the
// kind of ID in the error ("organization ID").
func ParseID(what, s string) (string, error) {
	id := strings.ToLower(strings.TrimSpace(s))
	if !uuidPattern.MatchString(id) {
		return "", Errorf(EINVALID, "The %s %q is malformed.", what, truncate(s, 64)).
			With("expected_format", UUIDFormat).
			Hint("Copy the %s from the dashboard's Overview page; it has the form %s (36 characters, hexadecimal digits and hyphens).", what, UUIDFormat)
	}
	return id, nil
}

// IsID reports whether s is a canonical UUID.
func IsID(s string) bool { return uuidPattern.MatchString(s) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// UTC returns t in UTC truncated to microseconds, the precision every store keeps.
func UTC(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}
