// Package lookalike grows a seed audience (an advertiser's matched users at a publisher) into a
// modeled cohort: the publisher's users who look most like the seeds.
//
// # Model
//
// The features of a user are its memberships in the publisher's custom cohorts (each a roaring
// bitmap in the publisher version) plus, optionally, its country (one indicator per country among
// the most common ones, at most MaxCountries). A cohort is usable as a feature when it has at least
// MinCohortMembers live members and does not hold (almost) everyone; a model needs MinFeatures
// usable cohorts. Erased users are never seeds, negatives or lookalikes, and seeds may be at most
// MaxSeedShare of the live users.
//
// Training is an L2-regularised logistic regression of the training seeds (label 1) against
// negatives sampled uniformly, without replacement, from the live users that are not seeds
// (label 0): a few per training seed, at least 20,000 and at most 200,000, so that the fit costs
// the same at any publisher size. Each sampled user is a sparse row of the features it has. The
// fit is Newton's method with a backtracking line search: a dense Hessian over the few hundred
// features, solved by Cholesky, converging in a handful of passes. The penalty (Options.L2) is on
// the feature weights, not on the bias; a feature no sampled user has keeps weight 0. The bias
// reflects the sampling ratio, not the seeds' share of the publisher, which does not matter: only
// the ranking of users is used.
//
// A share of the seeds (Options.Holdout) is chosen by a keyed hash of the ordinal, held out of
// training and used only for evaluation. Sampling is deterministic for a given Options.Seed, so
// the same inputs give the same model. The fitted weights are kept with each feature's name:
// sorted by magnitude they say which cohorts drove the model (a positive weight makes a member
// look more like the seeds).
//
// # Scores and similarity
//
// Every live user gets a score: the bias plus the weights of its features, added in fixed point
// (1/65536) so that the result does not depend on the order or the number of goroutines. The
// users are scored a block of ordinals at a time, each worker adding the weights of its share of
// the cohorts by walking their bitmaps, so no array over all users is kept. The range of the
// training sample's scores is cut into 65,536 bins (the rare users beyond it fall into the end
// bins), and one pass counts the live non-seed users and the held-out seeds per bin.
//
// A user's similarity is its percentile among the publisher's live non-seed users: similarity
// 0.9 means scoring at least as high as 90% of them, so the users at or above similarity s are
// about the top (1-s) share of the audience. Similarity lies in [0,1]; higher is smaller and more
// precise. Users in the same score bin share a similarity, so the reach at s may fall a little
// short of (1-s) of the audience when many users tie. The model keeps the bin boundary of every
// similarity in steps of 0.001 (Model.Cuts); Model.Select scores the users again and cuts at
// those boundaries, so on the version the model was trained on the users it returns are exactly
// the curve's reach at that point. On a later version of the same publisher it applies the same
// score boundaries: the reach then drifts with the audience, and erased users are still left out.
//
// # The curve
//
// Each Point of the similarity-reach curve gives, for a similarity s:
//   - Reach: the live non-seed users at or above s (seeds are counted apart);
//   - Recall: the share of held-out seeds at or above s;
//   - Lift: Recall divided by Reach's share of the non-seed users, i.e. how many times more
//     likely a user like the seeds is to be selected than by a random pick of the same size;
//   - Precision: the expected share of the selected users who are like the seeds, estimated as
//     min(1, Lift x BaseRate), where BaseRate is the seeds' share of the live users. The
//     reasoning: if users like the seeds are as common among the non-seeds as the seeds are
//     among all users, there are BaseRate x N of them among the N non-seeds; the cut catches
//     the Recall share of them, as it does of the held-out seeds, among Reach selected users,
//     so precision = Recall x BaseRate x N / Reach = Lift x BaseRate. It is conservative when
//     the seeds are only a part of the users like them (an advertiser's customers found at one
//     publisher among many more people with the same traits): the true precision is then
//     higher by about the ratio of those users to the seeds.
//
// AUC is the holdout's area under the ROC curve: the probability that a held-out seed scores
// above a random non-seed user.
package lookalike
