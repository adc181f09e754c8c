// Package insights computes what an advertiser learns about a cohort at one publisher: its size,
// the match rate of each identifier type, its overlap with and index against each publisher
// cohort it may see, its country breakdown and, with advanced insights, the distribution of the
// publisher's engagement attributes in the cohort against the publisher's base.
//
// The package is an engine: no SQL, no HTTP, no permissions. Compute counts exactly over roaring
// bitmaps of publisher ordinals (a cohort's member bitmap against a vault.PublisherVersion);
// Release turns the exact counts into a Report through a Releaser (the privacy release the
// caller chooses: noise, threshold, derived values suppressed with their inputs), so no exact
// count leaves this package in a Report. Shares and indexes are computed from the released
// counts (post-processing), never from exact ones.
//
// Overlap is one AndCardinality per publisher cohort, run in parallel over the cohorts: for a
// 10M-user cohort against 500 publisher cohorts over 50M users see docs/BENCHMARKS.md.
package insights
