// Package lookalike grows a seed audience (an advertiser's matched users at a publisher) into a
// modeled cohort: the publisher's users who look most like the seeds.
//
// # Model
//
// The features of a user are its memberships in the publisher's custom cohorts (each a roaring
// bitmap in the publisher version) plus, optionally, its country (one indicator per country among
// the most common ones). A cohort is usable as a feature when it has at least MinCohortMembers live
// members and does not hold (almost) everyone; a model needs MinFeatures usable cohorts.
//
// Training is an L2-regularised logistic regression, fitted by Newton's method (a dense Hessian
// over at most a few hundred features, solved by Cholesky), of the training seeds (label 1)
// against negatives sampled uniformly from the live users that are not seeds (label 0). A share
// of the seeds (Options.Holdout) is held out of training and used only for evaluation. Sampling is
// deterministic for a given Options.Seed, so the same inputs give the same model. The fitted
// weights are kept with each feature's name: sorted by magnitude they say which cohorts drove the
// model.
//
// # Scores and similarity
//
// Every live user gets a score: the bias plus the weights of its features, added in fixed point
// (1/65536) so that the result does not depend on the order or the number of goroutines. The
// score range is cut into 65,536 bins and the live non-seed users are counted per bin.
//
// A user's similarity is its percentile among the publisher's live non-seed users: similarity
// 0.9 means scoring at least as high as 90% of them, so the users at or above similarity s are
// about the top (1-s) share of the audience. Similarity lies in [0,1]; higher is smaller and more
// precise. Model.Select cuts at a similarity on the same bins, so the users it returns are exactly
// the curve's reach at that point.
//
// # The curve
//
// Each Point of the similarity-reach curve gives, for a similarity s:
//   - Reach: the live non-seed users at or above s (seeds are counted apart);
//   - Recall: the share of held-out seeds at or above s;
//   - Lift: Recall divided by Reach's share of the non-seed users, i.e. how many times more
//     likely a user like the seeds is to be selected than by a random pick of the same size;
//   - Precision: the expected share of the selected users who resemble the seeds as closely as a
//     held-out seed does, estimated as min(1, Lift x base rate), where the base rate is the seeds'
//     share of the live users (it assumes that the seeds are a random sample, at that rate, of the
//     users like them).
//
// AUC is the holdout's area under the ROC curve: the probability that a held-out seed scores
// above a random non-seed user.
package lookalike
