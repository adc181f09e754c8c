// Package privacy releases the numbers that cross from one party of a connection to the other.
//
// The model: every cross-party count (an estimate, a cohort size, a diagnostic, a point of the
// lookalike curve, an insight) is computed exactly by an engine, then passed once through
// Release, which adds integer noise drawn from a distribution that gives ε-differential privacy
// for a count of sensitivity one (one person in or out changes it by at most one), suppresses
// what is below the threshold k, and clamps at zero. Values computed from released counts
// (ratios, indexes, shares) are post-processing and are built with Ratio or Derived, which
// suppress them whenever an input is suppressed; totals are released on their own (ReleaseTable),
// never summed from exact cells, with complementary suppression so a single hidden cell cannot be
// read off as the total minus the others.
//
// The noise is deterministic: the random source of a release is seeded by Seed, a keyed hash
// of the canonical question and the IDs of the data versions it reads. Asking the same question of
// the same data again returns the same number, so repeats neither average the noise away nor
// spend budget again (Budget charges each question once per period). A question on new data
// is a new question and costs ε.
//
// The samplers are those of Canonne, Kamath and Steinke, "The Discrete Gaussian for Differential
// Privacy" (NeurIPS 2020): Bernoulli(exp(-γ)), the discrete Laplace and the discrete Gaussian,
// exact in integer and rational arithmetic (math/big), with no floating point anywhere on the
// path from the random bits to the released value. Their uniform draws are this package's own
// rejection sampling over a Source's 64-bit words, so a release does not change when the
// standard library changes how it maps random words to ranges.
//
// The package is pure: no HTTP, no SQL. Budgets are kept behind the Ledger interface (MemLedger
// in memory; the SQL ledger lives with the store).
package privacy
