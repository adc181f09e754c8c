// Package synth generates deterministic synthetic clean-room data at any scale, with planted
// ground truth, for tests, benchmarks and demos: a publisher's users (a [Universe]) and an
// advertiser's first-party file overlapping them (an [Advertiser]).
//
// # Model
//
// A person with index i has a raw identity that depends only on the universe's Salt and i,
// never on a seed: a country (by the configured weights), two email addresses
// u<i>.<k>@<domain> (k = 0, 1), a mobile phone number of their country in E.164 form (unique
// among the first 10^8 people), a version-4 UUID as mobile advertising ID, a public IPv4 address (or, for about
// one person in five, an IPv6 address), and a 19-digit Xandr user ID. Because the identity is a
// pure function of (salt, i), the advertiser side reproduces exactly the identifiers the
// publisher holds for the same person.
//
// The universe's Seed drives what the publisher knows about its users 0..Users-1: which
// identifiers it holds (Coverage: by default email 65%, 10% of those with the second address,
// phone 25%, MAID 35%, IP 45%, Xandr ID 40%), the user's hidden interests (1 to 3 of
// Interests, with Zipf-like popularity), and its custom cohorts. Cohort sizes follow a power
// law from about 40% (a handful of cohorts of 20% or more) down to about 0.05%. About 90% of
// cohorts are tied to an interest: a user with that interest joins with a rate Lift (5 to 20,
// capped so no rate exceeds 95%) times that of other users, so cohorts are informative features
// for a lookalike model; the rest are noise. About 10% are "standard" cohorts with an IAB
// Audience Taxonomy-like ID.
//
// Every user and person is generated from its own PCG generator seeded from (seed, index), so
// any one can be computed alone ([Universe.User], [Advertiser.Person]) and the writers generate
// chunks on all cores while the output stays byte-identical for a configuration, whatever the
// number of workers.
//
// An advertiser's persons are drawn by its own Seed: a share Overlap of them are distinct
// publisher users (chosen by a keyed permutation), the rest are people outside the universe
// (identity index Users+j for person j). The advertiser holds some of each person's
// identifiers (its Tags, each with a coverage) and puts the person in segments: every person in
// the "all" segment, and in each interest segment with probability 50% when the person has the
// segment's interest and 1% otherwise. A share Mistakes of the rows carries a realistic
// [Mistake]. [Advertiser.Person] and [Advertiser.Truth] expose the ground truth: which
// publisher user each person is, who is matchable, and each segment's interest.
//
// # Files
//
// All text files are UTF-8 with LF line ends. With WriteOptions.Gzip the streamed files are
// gzip-compressed as a series of gzip members (one per chunk), which every gzip reader reads
// as one file. The formats are also described in docs/FORMATS.md.
//
// Publisher profile file ([Universe.WriteProfiles]; profiles.tsv), the bulk publisher sync
// format: a header line, then one line per user in index order, four tab-separated fields:
//
//	user_id	country	identifiers	cohorts
//	p0	SE	email_sha256=687b…700c,ip_address=133.216.101.66	c103,c193,c205
//	p1	AU	phone_sha256=89e8…2142,maid=165cf246-483e-41e5-a767-25539727d3dc	c94
//
// user_id is an opaque string (here p<index>); country is an ISO 3166-1 alpha-2 code;
// identifiers is a comma-separated list of tag=value pairs, values normalised as
// identity.Normalize returns them (email and phone SHA-256 digests as 64 lowercase hex digits,
// MAIDs lowercase with hyphens, IP addresses canonical, Xandr IDs decimal), possibly empty;
// cohorts is a comma-separated list of cohort IDs from the taxonomy, possibly empty.
//
// Publisher taxonomy ([Universe.WriteTaxonomy]; taxonomy.csv): CSV with the header
// cohort_id,name,iab_id,standard; iab_id is empty unless standard is true.
//
// Advertiser data file ([Advertiser.WriteData]; data.tsv), the ingest format: no header, one
// identifier per line, <identifier> TAB <tag> TAB <segment_id>,<segment_id>,... A person's rows
// are consecutive.
//
// Advertiser taxonomy ([Advertiser.WriteTaxonomy]; taxonomy.csv): CSV with the header
// segment_id,segment_name.
//
// Raw PII ([Advertiser.WritePII]; raw.csv), input for cleanroom prepare: CSV with the header
// email,phone,maid,ip,segments and one line per person with unhashed values, many of them messy
// (upper case, surrounding spaces, quoted fields, formatted and national phone numbers, MAIDs in
// upper case or without hyphens, IPv4-mapped IPv6), segments separated by ";". National phone
// numbers are written only for GB, so prepare them with default calling code 44. A share
// Mistakes of the values is invalid on purpose ([PIIRow.Invalid] names them).
//
// Ground truth ([Advertiser.WriteTruth]; truth.json): both configurations, the interests, each
// segment's interest and, after WriteData, the counts of [DataStats]; never per-person lists.
package synth
