// Package pubsync turns a publisher's audience into publisher vault versions
// (vault.PublisherVersion): the bulk sync of a profile file ([Sync]), streaming updates from the
// identify and membership APIs ([Apply]) and erasure on request ([Erase]). The cohort taxonomy
// the profiles refer to is read by [ParseTaxonomy].
//
// User IDs and identifiers never leave this package: user IDs are replaced by a keyed 64-bit
// hash ([UserHasher]), identifiers by keyed 128-bit fingerprints (identity.Fingerprinter), and
// row errors carry a line number, a stable reason, a message and a hint that never quote a
// value.
//
// # Taxonomy file
//
// CSV with the header cohort_id,name,iab_id,standard (a tab in the header makes it TSV); see
// [ParseTaxonomy] for the rules. One bad row rejects the whole taxonomy.
//
// # Profile file
//
// One line per user, after a header line naming the columns:
//
//		user_id<TAB>country<TAB>identifiers<TAB>cohorts
//		u1<TAB>US<TAB>email_sha256=5e88…a1,maid=6d92078a-8246-4ba4-ae5b-76104861e7dc<TAB>c1,c17
//		u2<TAB><TAB>ip_address=203.0.113.7<TAB>
//
//	  - The header names the columns, in any order, case-insensitively. user_id is required;
//	    country, identifiers and cohorts may be left out; other columns are ignored (and listed in
//	    the report). A row may omit trailing empty fields; more fields than the header is an error.
//	  - user_id: the publisher's ID of the user, 1 to MaxUserIDBytes bytes of UTF-8 without
//	    control characters (surrounding spaces are trimmed). Only its keyed hash is stored. A user
//	    ID already given on an earlier line is a duplicate_user error: the earlier line is kept,
//	    the later one ignored whole.
//	  - country: an assigned ISO 3166-1 alpha-2 code, in either case, or empty for unknown. A
//	    code that is not assigned (UK, USA, XX, ...) is a bad_country error; the user is kept with
//	    an unknown country.
//	  - identifiers: comma-separated tag=value items. Tags are those of the Options.Registry
//	    (with their aliases, identity.ParseTag); values are normalised by identity (a raw email,
//	    an MD5 digest or the all-zero MAID is rejected with identity's reason). A user may have
//	    several identifiers, several of one type; repeats are stored once. One identifier may
//	    belong to several users (a shared IP address): it then has one index row per user. The
//	    first Options.MaxTypes types seen in the file (default 5) are accepted; identifiers of
//	    further types are rejected as too_many_types.
//	  - cohorts: comma-separated cohort IDs from the taxonomy. An ID the taxonomy does not have is
//	    an unknown_cohort error; the user keeps its other cohorts.
//	  - number:<name> and list:<name> (optional, up to MaxAttributes): engagement attributes for
//	    advanced insights, a whole number per user kept as its bucket (NumberBuckets) or
//	    comma-separated categories. A bad value is a bad_attribute error that drops the value; the
//	    version keeps one bitmap of users per bucket or category (vault.AttributeInfo). See
//	    attributes.go.
//
// The file may also be CSV with the same header names: a header without a tab makes it CSV. The
// identifiers and cohorts fields then hold commas and must be quoted ("..." with "" for a
// quote). A quoted field cannot span lines. Either format may be gzip-compressed (recognised by
// its magic bytes; concatenated gzip members are read whole). A UTF-8 byte order mark, CRLF line
// ends and blank lines are accepted; blank lines are not rows but are counted in line numbers.
//
// Users get dense ordinals 0, 1, ... in file order, duplicates and rejected rows skipped.
//
// # Errors
//
// A row is rejected whole (no user) when it is longer than Options.MaxLineBytes, has broken CSV
// quoting, has more fields than the header, or lacks a valid user ID, or repeats an earlier user
// ID. Otherwise problems drop only the item concerned (an identifier, a cohort membership, the
// country) and the user is kept. Every problem is counted by reason in [Report].Rejected and the
// first 100 are listed with their line in [Report].Errors. When more than
// Options.MaxErrorRate of the rows (default 5%) have an error, not counting too_many_types, Sync
// fails with EINVALID and produces no version.
//
// # Pipeline
//
// Options.Workers goroutines (by default one per processor, and no others, so that none is
// preempted or moved off its core) each repeatedly take the next block of about 8 MiB of input,
// cut at a line end (under a lock, so blocks come in file order), parse it with their own
// identity.Fingerprinter clone and scratch space, and commit whatever blocks are ready in file
// order (under another lock). Parsing a block yields the users' keyed user-ID hashes and
// countries, numbered from 0 within the block, the identity rows (fingerprint, block-local
// user) of each tag bucketed by their leading 12 fingerprint bits, and the memberships grouped
// by cohort. Committing a block gives it the ordinal of its first user (the number of users
// before it) and its line numbers, decides which identifier types are accepted, and adds its
// memberships to the cohort bitmaps (sorted runs, appended with AddMany). Text buffers are
// reused block after block: memory holds hashes and fingerprints, never the input.
//
// At the end, each bucket of user-ID hashes is gathered from all blocks and radix-sorted;
// equal hashes are duplicate users (the first line wins), which, when there are any, renumber
// the later ordinals. Then each (tag, bucket) of identity rows is gathered from all blocks,
// given its ordinals, radix-sorted (two LSD passes over the next fingerprint bits, then an
// insertion pass for the rare ties) and written into the version's arrays with repeats removed.
// Both run in parallel over buckets, in the CPU caches.
//
// # Memory
//
// The per-block arrays hold 20 bytes per identifier and 14 per user, and the version 20 bytes
// per identifier and about 14 per user plus the bitmaps, so the peak is about 40 bytes per
// identifier and 30 per user: 6.7 GB for 50 million users with 100 million identifiers. Large
// arrays are carved from 32 MiB chunks that are advised to use transparent huge pages
// (madvise), because first touching fresh memory dominates the cost of the sort phases on
// virtual machines.
package pubsync
