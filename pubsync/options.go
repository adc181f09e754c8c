package pubsync

import (
	"errors"
	"runtime"
	"time"

	"github.com/cleanroom-oss/cleanroom/identity"
	"github.com/cleanroom-oss/cleanroom/rows"
)

// Defaults and limits of Options.
const (
	// DefaultMaxTypes is the default number of identifier types a publisher may use.
	DefaultMaxTypes = 5
	// DefaultMaxErrorRate is the default share of rows with errors above which Sync fails.
	DefaultMaxErrorRate = 0.05
	// DefaultMaxLineBytes is the default longest line of a profile file.
	DefaultMaxLineBytes = 1 << 20
	// MaxUserIDBytes is the longest user ID, in bytes after trimming surrounding whitespace.
	MaxUserIDBytes = 256
	// MaxUsers is the largest number of users (ordinals) a version can hold.
	MaxUsers = 1<<32 - 2
	// defaultBlockSize is the size of the blocks the input is cut into.
	defaultBlockSize = 8 << 20
)

// Options configure Sync, Apply and Erase.
type Options struct {
	// Registry is the set of identifier types the deployment accepts (nil: the built-in tags).
	Registry *identity.Registry
	// FingerprintKey is the deployment's fingerprint key (identity.FingerprintKeySize bytes).
	FingerprintKey []byte
	// UserKey keys the hashes of user IDs in the user index (UserKeySize bytes). Use a key
	// derived for this purpose, not the fingerprint key.
	UserKey []byte
	// MaxTypes is the number of identifier types a publisher may use (0: DefaultMaxTypes). The
	// first MaxTypes types seen, in file order, are accepted; identifiers of further types are
	// rejected with ReasonTooManyTypes.
	MaxTypes int
	// MaxErrorRate is the share of rows (0 to 1) with at least one error above which Sync fails
	// without producing a version (0: DefaultMaxErrorRate; 1 accepts any file). Identifiers
	// rejected for ReasonTooManyTypes do not count: they are a limit, not bad data.
	MaxErrorRate float64
	// Workers is the number of goroutines parsing and sorting (0: GOMAXPROCS).
	Workers int
	// MaxLineBytes is the longest line accepted (0: DefaultMaxLineBytes, at most 4 MiB).
	MaxLineBytes int
	// Limits bound the profile file's decompressed size and lines (zero fields: the rows
	// package's defaults); a file beyond them fails with an EINVALID error naming the limit.
	Limits rows.Limits
	// Progress, if set, is called after each block of input and at each phase change, from
	// one goroutine at a time. It must return quickly.
	Progress func(Progress)

	// blockSize overrides defaultBlockSize in tests.
	blockSize int
}

// Progress reports how far Sync has got.
type Progress struct {
	// Phase is "parse" while reading the input, then "users" (user index and duplicates),
	// "index" (sorting the identity index) and "done".
	Phase string
	// Bytes is the number of input bytes read so far, as given (compressed if gzip).
	Bytes int64
	// Rows is the number of data rows parsed so far.
	Rows int64
	// Users is the number of users accepted so far (before duplicates are removed).
	Users int64
}

// config is Options checked and completed.
type config struct {
	Options
	reg     *identity.Registry
	regTags []identity.Tag
	regIdx  map[identity.Tag]int
	fp      *identity.Fingerprinter
	users   *UserHasher
}

// prepare checks opt and fills in the defaults.
func (opt Options) prepare() (*config, error) {
	c := &config{Options: opt, reg: opt.Registry}
	var err error
	if c.fp, err = identity.NewFingerprinter(opt.FingerprintKey); err != nil {
		return nil, err
	}
	if c.users, err = NewUserHasher(opt.UserKey); err != nil {
		return nil, err
	}
	if c.MaxTypes == 0 {
		c.MaxTypes = DefaultMaxTypes
	}
	if c.MaxTypes < 1 {
		return nil, errors.New("pubsync: MaxTypes must be positive")
	}
	if c.MaxErrorRate == 0 {
		c.MaxErrorRate = DefaultMaxErrorRate
	}
	if c.MaxErrorRate < 0 || c.MaxErrorRate > 1 {
		return nil, errors.New("pubsync: MaxErrorRate must be between 0 and 1")
	}
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.MaxLineBytes == 0 {
		c.MaxLineBytes = DefaultMaxLineBytes
	}
	if c.MaxLineBytes < 64 || c.MaxLineBytes > 4<<20 {
		return nil, errors.New("pubsync: MaxLineBytes must be between 64 and 4 MiB")
	}
	if c.blockSize == 0 {
		c.blockSize = defaultBlockSize
	}
	c.blockSize = max(c.blockSize, 2*c.MaxLineBytes)
	c.regTags = c.reg.Tags()
	c.regIdx = make(map[identity.Tag]int, len(c.regTags))
	for i, t := range c.regTags {
		c.regIdx[t] = i
	}
	return c, nil
}

// Report describes what a Sync, Apply or Erase did. It holds counts, cohort IDs, country codes
// and row errors, never a user ID or identifier.
type Report struct {
	// Format is "tsv" or "csv" (empty for Apply and Erase).
	Format string `json:"format,omitempty"`
	// Gzip reports whether the input was gzip-compressed.
	Gzip bool `json:"gzip,omitempty"`
	// Bytes is the size of the input as given; DecompressedBytes after decompression.
	Bytes             int64 `json:"bytes"`
	DecompressedBytes int64 `json:"decompressed_bytes"`
	// Rows is the number of data rows (non-blank lines after the header), or of Batch events.
	Rows int64 `json:"rows"`
	// RowsWithErrors is the number of rows with at least one error other than too_many_types.
	RowsWithErrors int64 `json:"rows_with_errors"`
	// RejectedRows is the number of rows that produced no user (a structural error, a missing or
	// bad user ID, or a duplicate user).
	RejectedRows int64 `json:"rejected_rows"`
	// Users is the number of users in the version (Sync) or added to it (Apply).
	Users int64 `json:"users"`
	// UsersWithoutIdentifiers counts users kept with no accepted identifier.
	UsersWithoutIdentifiers int64 `json:"users_without_identifiers"`
	// Erased is the number of users erased (Erase).
	Erased int64 `json:"erased,omitempty"`
	// Tags lists the accepted identifier types in the order they were first seen.
	Tags []identity.Tag `json:"tags"`
	// Identifiers counts the identity rows per type: distinct (identifier, user) pairs accepted
	// (for Apply, pairs added).
	Identifiers map[identity.Tag]int64 `json:"identifiers"`
	// Rejected counts problems by reason: rejected rows, dropped identifiers, memberships and
	// countries.
	Rejected map[string]int64 `json:"rejected"`
	// Cohorts maps each cohort ID to its number of members in the version.
	Cohorts map[string]int64 `json:"cohorts"`
	// Countries maps each country code to its number of users in the version; "" counts users
	// of unknown country.
	Countries map[string]int64 `json:"countries"`
	// IgnoredColumns lists header columns Sync does not use.
	IgnoredColumns []string `json:"ignored_columns,omitempty"`
	// Errors lists the first 100 row errors in line order.
	Errors []RowError `json:"errors"`
	// Duration is the wall time taken.
	Duration time.Duration `json:"duration_ns"`
}
