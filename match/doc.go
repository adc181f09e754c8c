// Package match finds which of a publisher's users an advertiser's data source reaches, and
// combines such sets with a query.
//
// # Segments
//
// [Segments] joins one advertiser data-source version with one publisher version. Both are
// stored sorted by fingerprint within each identifier type (tag), so the join is a merge of
// sorted arrays, not a sort or a hash build: for each tag the two sides share, the advertiser's
// unique fingerprints are merged with the publisher's (fingerprint, ordinal) rows, and every
// publisher row whose fingerprint an advertiser row holds adds that row's user ordinal to the
// bitmaps of the advertiser row's segments. A user counts once however many of its identifiers
// match, because the results are sets of ordinals. Fingerprints are compared as two big-endian
// uint64 words (the order of identity.Fingerprint.Compare). The publisher side, typically ten
// times larger, is skipped over 16 rows at a time by counting comparisons rather than
// branching on each (a merge of random keys is otherwise dominated by mispredicted branches),
// and by exponential (galloping) search across gaps of hundreds of rows.
//
// The work is split into tasks by fingerprint range (split points taken at quantiles of the
// publisher array and binary-searched in the advertiser array, so equal fingerprints never
// straddle two tasks) and run by Options.Workers goroutines that take tasks from a shared
// counter. Matched ordinals are not set in big bitsets at random (which misses every cache once
// the publisher has tens of millions of users) but partitioned: each worker appends a 4-byte
// entry (set, low 16 bits of the ordinal) per matched identifier and set to the block list of
// the ordinal's range of 2^16 ordinals, one roaring container. Then each range is turned, in
// parallel, into roaring containers through a small cache-resident scratch bitset, and each
// set's containers are assembled in roaring's portable format and opened in place. Erased
// (Deleted) ordinals are removed on the way. See collect.go for the details and the costs.
//
// For an advertiser identifier type the publisher does not hold, a configured [Bridge] (an
// identity-bridge provider's mapping from one type to another) turns the advertiser's
// fingerprints into publisher fingerprints first; see [Bridge] for the cost.
//
// [Result] also carries the diagnostics a "no users matched" report needs, per identifier type:
// rows and matched rows on the advertiser side, identifiers, matched identifiers and matched
// users on the publisher side.
//
// # Queries
//
// A [Query] combines conditions on data-source segments and publisher cohorts with "all"
// (intersection) and "any" (union), nested one level, with an optional country geo-lock.
// [Evaluate] computes its bitmap from a lookup function that resolves each leaf condition;
// [Resolver] builds that function from match results and a publisher version. The caller checks
// permissions (which data sources and cohorts a party may use) before evaluating: this package
// only computes.
//
// Inputs are trusted to satisfy the invariants of vault's Validate methods (they do when opened
// with vault.OpenAdvertiser and vault.OpenPublisher); the match checks only the shapes it
// indexes by, and reports a version that breaks them as an error rather than a crash.
package match
