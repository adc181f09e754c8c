// Package ingest turns an advertiser's uploaded files into data source versions: it parses the
// segment taxonomy ([ParseTaxonomy]) and streams the data file ([Advertiser]) through
// validation, normalisation (package identity) and keyed fingerprinting into a
// [vault.AdvertiserVersion], sorted and deduplicated in the layout the match reads.
//
// Raw identifiers never leave this package: they are read from the upload, normalised and
// fingerprinted in memory, and only fingerprints reach the version. Row errors carry a line
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
// One goroutine reads the upload in blocks of a few MiB cut at line ends and counts their lines,
// so that every row error has its exact line number; at most Workers+2 blocks exist at a time.
// Options.Workers goroutines parse blocks, each with its own identity.Fingerprinter clone, and
// append (fingerprint, segment set) records to lists kept per tag and leading fingerprint byte;
// the common case, a lowercase hex digest, skips identity.Normalize through an equivalent
// 8-bytes-at-a-time check. A segment set is a 64-bit mask when the taxonomy has at most 64
// segments, else a reference to a list in the worker's pool.
//
// Fingerprints are uniformly random, so the lists of one (tag, leading byte) are a bucket of
// the final order. The buckets are processed in parallel: gathered into a scratch array that
// stays in cache, sorted by an LSD radix sort on fingerprint bytes 1 to 3 followed by an
// insertion pass for the rare ties on those bytes, deduplicated (merging segment sets), and
// written straight into the version's arrays at offsets computed from the workers' counts.
// A last sequential pass closes the gaps that duplicates leave. No array of all the records is
// built besides the version itself.
package ingest
