// Package ingest turns an advertiser's uploaded files into data source versions: it parses the
// segment taxonomy ([ParseTaxonomy]) and streams the data file ([Advertiser]) through
// validation, normalisation (package identity) and keyed fingerprinting into a [Version]: sorted
// and deduplicated, written as a vault advertiser version in the layout the match reads, in
// memory that does not grow with the file.
//
// Raw identifiers never leave this package: they are read from the upload, normalised and
// fingerprinted in memory, and only fingerprints reach the version and the temporary files. Row errors carry a line
// number, a stable reason and a message and hint that never quote the value.
//
// # Data file formats
//
//   - TSV without header: id<TAB>tag<TAB>segments, where segments is a comma-separated list of
//     segment IDs from the taxonomy and may be empty (the third column may also be left out).
//     A first line that reads id<TAB>tag[<TAB>segments] is taken for a header and skipped.
//   - CSV with a header row naming its columns id, tag and (optionally) segments, in any order;
//     other columns are ignored. Fields may be quoted ("..." with "" for a quote) but may not
//     span lines.
//   - Either of these compressed with gzip, recognised by its magic bytes.
//
// The format is chosen from the first non-blank line: a tab makes it TSV, otherwise a comma
// makes it CSV. A UTF-8 byte order mark and CRLF line ends are accepted; blank lines are
// skipped and not counted as rows.
//
// # Rows
//
// A row is rejected (counted in [Report].Rejected under its reason, with the line in
// [Report].FirstErrors) when its line is too long, is not UTF-8, has the wrong number of
// columns or broken quoting, names an unknown identifier type, or holds a value that
// identity.Normalize rejects (a raw email, an MD5 digest, the all-zero MAID, ...). A segment ID
// that is not in the taxonomy does not reject the row: the unknown ID is dropped, the row is
// kept with its other segments, and the row is counted under the warning unknown_segment. Rows
// with the same identifier become one row whose segments are the union of theirs; a row with
// no segment is kept, as it still counts for matches over all of the advertiser's users.
//
// # Pipeline
//
// One goroutine reads the upload through package rows, in blocks of a few MiB cut at line ends
// whose lines are numbered, so that every row error has its exact line number; at most
// Workers+2 blocks exist at a time. rows also detects gzip and enforces Options.Limits (bytes
// once decompressed, lines). Options.Workers goroutines parse blocks, each with its own
// identity.Fingerprinter clone, and append (fingerprint, segment set) records to lists kept per
// tag and leading fingerprint byte; the common case, a lowercase hex digest, skips
// identity.Normalize through an equivalent 8-bytes-at-a-time check. A segment set is a 64-bit
// mask when the taxonomy has at most 64 segments, else a reference to a list in the worker's
// pool. A list that grows far beyond its share (the same few identifiers repeated, as in a gzip
// bomb of identical rows) is sorted and deduplicated in place.
//
// Fingerprints are uniformly random, so the lists of one (tag, leading byte) are a bucket of
// the final order: a task. A task is gathered into a scratch array that stays in cache, sorted
// by an LSD radix sort on fingerprint bytes 1 to 3 followed by an insertion pass for the rare
// ties on those bytes, and deduplicated (merging segment sets).
//
// # Memory
//
// The records take about 24 bytes per accepted row. While they fit in Options.MemoryBudget they
// stay in memory: at the end every task is sorted in place, in parallel, and the version is
// written from them. When they outgrow the budget, the workers pause and the records are
// spilled as a run: every task's records, as they are (fingerprints and segment sets, never
// identifiers; bitmask sets as the records' own bytes), go to one part of a run in temporary files under Options.TempDir, sealed with a
// key that exists only in memory; the memory is then reused. After the last block, the records
// still in memory are sorted in place as the last run. Finishing the ingest then counts what
// the merge makes of each task: its parts in all the runs (a few hundred KiB each) are read
// back together with its records in memory and sorted together, which unites the segment sets
// of a fingerprint found in several runs; the counts give the version's header and the report.
// Writing the version (Version.Write) merges the tasks the same way again, in parallel and in
// order, and streams their fingerprints straight into the version while the disk takes them;
// only each row's number of segments and the segment indices go to two more temporary files,
// read back for the version's last two arrays. Close removes the temporary files. Memory thus
// stays near the budget plus a few MiB per worker whatever the file's size (a task of a
// 2-billion-row file is about 200 MB); the temporary files take about 26 bytes per row.
package ingest
