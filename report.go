package cleanroom

// UploadReport says what processing made of an uploaded file or batch, in one shape for every
// kind of input (advertiser data files, publisher profile files, event batches, erasures and
// bridge mappings); the fields that do not apply to a kind are left out. It holds counts, line
// numbers, reasons, identifier types, segment and cohort IDs and country codes, never a value of
// the file, so it can be stored and shown as it is.
type UploadReport struct {
	// Format is "tsv" or "csv" for a file; Gzip is set when it was gzipped. Bytes is its size
	// as sent, DecompressedBytes after decompression.
	Format            string `json:"format,omitempty"`
	Gzip              bool   `json:"gzip,omitempty"`
	Bytes             int64  `json:"bytes"`
	DecompressedBytes int64  `json:"decompressed_bytes,omitempty"`
	// RowsRead counts the data rows (or events, or user IDs of an erasure); RowsAccepted the
	// ones kept; RowsRejected the others. RowsWithProblems counts kept rows that lost part of
	// what they held (an identifier, a cohort, a country).
	RowsRead         int64 `json:"rows_read"`
	RowsAccepted     int64 `json:"rows_accepted"`
	RowsRejected     int64 `json:"rows_rejected"`
	RowsWithProblems int64 `json:"rows_with_problems,omitempty"`
	// Rejected counts problems by reason; Warnings counts kept rows by warning.
	Rejected map[string]int64 `json:"rejected"`
	Warnings map[string]int64 `json:"warnings,omitempty"`
	// Duplicates counts accepted rows merged into an earlier one.
	Duplicates int64 `json:"duplicates,omitempty"`
	// SpilledRuns (advertiser data) counts the sorted runs written to disk because the file was
	// larger than the processing memory budget.
	SpilledRuns int `json:"spilled_runs,omitempty"`
	// PerTag counts unique identifiers by type; PerSegment (advertiser data) by segment ID.
	PerTag     map[string]int64 `json:"per_tag,omitempty"`
	PerSegment map[string]int64 `json:"per_segment,omitempty"`
	// Publisher audiences: users in the new version (added, for events), those kept without an
	// identifier, users erased, members per cohort and users per country ("" for unknown).
	Users                   int64            `json:"users,omitempty"`
	UsersWithoutIdentifiers int64            `json:"users_without_identifiers,omitempty"`
	Erased                  int64            `json:"erased,omitempty"`
	Cohorts                 map[string]int64 `json:"cohorts,omitempty"`
	Countries               map[string]int64 `json:"countries,omitempty"`
	// Pairs (bridge mappings) counts unique links per pair of types, keyed "from->to".
	Pairs map[string]int64 `json:"pairs,omitempty"`
	// IgnoredColumns lists header columns the file had that processing does not use.
	IgnoredColumns []string `json:"ignored_columns,omitempty"`
	// FirstErrors holds the first rejected rows by line; FirstWarnings the first kept with a
	// warning.
	FirstErrors   []RowError `json:"first_errors"`
	FirstWarnings []RowError `json:"first_warnings,omitempty"`
	// DurationMS is the processing's wall time in milliseconds.
	DurationMS int64 `json:"duration_ms"`
}

// RowError is one problem of a row: its line, a stable reason, what is wrong and how to fix it.
// It never holds a value of the row.
type RowError struct {
	Line    int64  `json:"line"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
}
