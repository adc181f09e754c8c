package rows

import (
	"fmt"

	"github.com/cleanroom-oss/cleanroom"
)

// Flags of the server that set the Limits of uploaded files. The server defines its flags with
// these names, and the errors of this package name them, so the two cannot drift apart.
const (
	FlagMaxBytes = "max-file-bytes-decompressed"
	FlagMaxRows  = "max-file-rows"
)

// Defaults of Limits.
const (
	// DefaultMaxBytes is the most bytes a file may hold once decompressed: 64 GiB, about 800M
	// rows of an advertiser file of SHA-256 digests.
	DefaultMaxBytes = 64 << 30
	// DefaultMaxRows is the most lines a file may have: 2 billion.
	DefaultMaxRows = 2_000_000_000
)

// Limits bound what one file may hold. A file beyond a limit fails as a whole, with an EINVALID
// error naming the limit and its flag, as soon as the reader gets there: the rest is never read.
type Limits struct {
	// MaxBytes is the most bytes the file may hold once decompressed (the file's own size when
	// it is not compressed); 0 means DefaultMaxBytes, a negative value no limit.
	MaxBytes int64
	// MaxRows is the most lines the file may have, counting a header and blank lines; 0 means
	// DefaultMaxRows, a negative value no limit.
	MaxRows int64
}

// withDefaults returns l with zero fields set to the defaults and negative ones to no limit.
func (l Limits) withDefaults() Limits {
	switch {
	case l.MaxBytes == 0:
		l.MaxBytes = DefaultMaxBytes
	case l.MaxBytes < 0:
		l.MaxBytes = 1<<63 - 2
	}
	switch {
	case l.MaxRows == 0:
		l.MaxRows = DefaultMaxRows
	case l.MaxRows < 0:
		l.MaxRows = 1<<63 - 2
	}
	return l
}

// tooManyBytes is the error of a file beyond MaxBytes.
func tooManyBytes(limit int64) error {
	return cleanroom.Errorf(cleanroom.EINVALID,
		"The file holds more than %s once decompressed, the limit per file of this server (--%s).", FormatBytes(limit), FlagMaxBytes).
		With("limit", FlagMaxBytes).With("max", limit).
		Hint("Split the file into smaller ones, or ask the operator to raise --%s.", FlagMaxBytes)
}

// tooManyRows is the error of a file beyond MaxRows.
func tooManyRows(limit int64) error {
	return cleanroom.Errorf(cleanroom.EINVALID,
		"The file has more than %d lines, the limit per file of this server (--%s).", limit, FlagMaxRows).
		With("limit", FlagMaxRows).With("max", limit).
		Hint("Split the file into smaller ones, or ask the operator to raise --%s.", FlagMaxRows)
}

// FormatBytes writes n bytes for people: "64 GiB", "1.5 MiB", "512 bytes".
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d bytes", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	v := float64(n) / float64(div)
	suffix := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}[exp]
	if n%div == 0 {
		return fmt.Sprintf("%d %s", n/div, suffix)
	}
	return fmt.Sprintf("%.1f %s", v, suffix)
}
