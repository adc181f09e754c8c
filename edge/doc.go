// Package edge is the ad-serving side of the clean room: it tells a publisher's pages which
// cohort codes to send to the ad server for a user, and enforces advertisers' frequency caps.
//
//   - A Snapshot maps the keyed hash of the publisher's user ID (pubsync.UserHasher, the hash the
//     publisher version's user index holds) to the codes of the cohorts served to the user. Build
//     makes one from a publisher version's user index and the served cohorts' member bitmaps;
//     Write stores it as a sealed vault file (a versions.Writer), FromFile and OpenSnapshot load
//     it. It is immutable: a new one is built and swapped in.
//   - Counters count impressions per (user hash, cohort) in the current window of the cohort's
//     cap (day, week or month in the publisher's time zone), exactly under concurrency, in
//     bounded memory, durably through an append-only journal.
//   - An Engine holds the snapshot and the config (caps, time zone, line item and deal tables) in
//     use, swapped atomically. Decide answers a targeting request without allocating; Record
//     counts a validated impression Batch (DecodeBatch).
//   - Delivery aggregates the impressions Record counts per day, cohort and line item or deal
//     (impressions, exact reach, frequency buckets, users held back by a cap), bounded and
//     journalled; its Summary holds counts only.
//   - LastSeen records each user's last day of a targeting request in a fixed lock-free table;
//     ActiveCounts counts the users seen in the last 30 days per served code.
//   - AppendAnswer and the other Append functions write the answer in the shapes pages need (GAM
//     key-values, Xandr keywords, OpenRTB 2.6 user.data and user.keywords) into a byte buffer
//     without allocating.
//
// No user ID is stored, written or logged here: only keyed hashes. The package has no SQL and no
// HTTP; the handlers that serve it live elsewhere.
package edge
