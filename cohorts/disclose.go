package cohorts

import (
	"cmp"
	"context"
	"encoding/json"
	"math"
	"slices"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/disclosure"
	"github.com/cleanroom-oss/cleanroom/lookalike"
	"github.com/cleanroom-oss/cleanroom/privacy"
)

// Every count of this package that reaches the other party of a connection (estimates, built
// sizes, seeds, the lookalike curve, diagnostics) is released through the disclosure gate
// (Service.Disclosure) when it is shown, here; the build keeps exact counts, which nobody sees.

// canonical returns the canonical encoding of a cohort question: the kind, the query with every
// group's conditions in a fixed order, the geo-lock, and for a modeled cohort the chosen
// similarity and seed choice. Queries that differ only in order are the same question.
func canonical(kind cleanroom.CohortKind, q cleanroom.CohortQuery, country []string, sim *float64, seeds bool) []byte {
	var sortConds func([]cleanroom.Condition) []cleanroom.Condition
	sortConds = func(cs []cleanroom.Condition) []cleanroom.Condition {
		out := make([]cleanroom.Condition, len(cs))
		keys := make(map[int][]byte, len(cs))
		for i, c := range cs {
			if c.IsGroup() {
				c.Conditions = sortConds(c.Conditions)
			}
			out[i] = c
		}
		idx := make([]int, len(out))
		for i := range out {
			idx[i] = i
			keys[i], _ = json.Marshal(out[i])
		}
		slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(string(keys[a]), string(keys[b])) })
		sorted := make([]cleanroom.Condition, len(out))
		for i, j := range idx {
			sorted[i] = out[j]
		}
		return sorted
	}
	c := append([]string{}, country...) // nil and empty are the same geo-lock
	slices.Sort(c)
	q.Country = nil
	q.Conditions = sortConds(q.Conditions)
	b, _ := json.Marshal(struct {
		Kind         cleanroom.CohortKind  `json:"kind"`
		Query        cleanroom.CohortQuery `json:"query"`
		Country      []string              `json:"country"`
		Similarity   *float64              `json:"similarity,omitempty"`
		IncludeSeeds bool                  `json:"include_seeds,omitempty"`
	}{kind, q, c, sim, seeds})
	return b
}

// cohortQuestion is the question of a count of a built cohort: its canonical spec and the
// digest of the inputs (versions, grants, permissions) of the build that counted it.
func cohortQuestion(kind string, co *cleanroom.Cohort, digest string) disclosure.Question {
	var q cleanroom.CohortQuery
	json.Unmarshal(co.Query, &q) //nolint:errcheck // a stored query; a bad one is its own question
	return disclosure.Question{Kind: kind, Query: canonical(co.Kind, q, co.Country, co.Similarity, co.IncludeSeeds),
		Versions: []string{digest}}
}

// sizeQuestion is the question of a cohort's size at one publisher: one release shown alike to
// both parties (Shared), whose noise also decides activation (servable). An estimate of a
// matched cohort asks the same question as its build, so it predicts the size shown after the
// build, and costs nothing more.
func sizeQuestion(co *cleanroom.Cohort, digest string) disclosure.Question {
	q := cohortQuestion("cohort_size", co, digest)
	q.Shared = true
	return q
}

// seedsQuestion is the question of a modeled cohort's seeds (its matched users) at a publisher:
// shared, and the same for the estimate and the build, whatever similarity is chosen.
func seedsQuestion(co *cleanroom.Cohort, digest string) disclosure.Question {
	var q cleanroom.CohortQuery
	json.Unmarshal(co.Query, &q) //nolint:errcheck // as cohortQuestion
	return disclosure.Question{Kind: "seeds", Query: canonical(co.Kind, q, co.Country, nil, false), Versions: []string{digest}, Shared: true}
}

// enoughSeeds decides whether a lookalike has enough seeds to learn from, with the noise of
// their release (seedsQuestion).
func (s *Service) enoughSeeds(ctx context.Context, conn *cleanroom.Connection, co *cleanroom.Cohort, digest string, seeds int64) (bool, error) {
	if s.Disclosure == nil || conn == nil {
		return seeds >= lookalike.DefaultMinSeeds, nil
	}
	return s.Disclosure.AtLeast(ctx, conn, seedsQuestion(co, digest), seeds, lookalike.DefaultMinSeeds)
}

// errNoGate is returned when the service was built without the release gate.
var errNoGate = cleanroom.Errorf(cleanroom.EUNAVAILABLE, "This server does not release counts across parties.")

// inputMinimum returns the fewest identifier rows a data source needs to be an input at conn.
func (s *Service) inputMinimum(ctx context.Context, conn *cleanroom.Connection) (int64, error) {
	if s.Disclosure == nil {
		return 0, nil
	}
	p, err := s.Disclosure.Params(ctx, conn)
	if err != nil {
		return 0, err
	}
	return p.InputMinimum, nil
}

// servable decides whether a built target is big enough to serve: the activation minimum
// applied to the noisy size (disclosure.AtLeast), so that activation does not tell exactly
// whether one person took the cohort over the minimum.
func (s *Service) servable(ctx context.Context, conn *cleanroom.Connection, co *cleanroom.Cohort, digest string, size int64) (bool, error) {
	if s.Disclosure == nil || conn == nil {
		return size >= s.activationMinimum(), nil
	}
	return s.Disclosure.AtLeast(ctx, conn, sizeQuestion(co, digest), size, s.activationMinimum())
}

// Shown is a count as the caller may see it.
type Shown struct {
	// Value is the number shown; nil when withheld.
	Value *int64 `json:"value"`
	// State is "noisy" (about Value: noise was added), "exact" (the deployment adds no noise),
	// "suppressed" (below the threshold), "over_budget" (the budget of the period is spent;
	// Reason says when it returns) or "unavailable" (not built, connection gone).
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
}

// Shown states.
const (
	StateNoisy       = "noisy"
	StateExact       = "exact"
	StateSuppressed  = "suppressed"
	StateOverBudget  = "over_budget"
	StateUnavailable = "unavailable"
)

func shownOf(r privacy.Released, noisy bool) Shown {
	if r.Suppressed {
		return Shown{State: StateSuppressed}
	}
	v := r.Value
	if noisy {
		return Shown{Value: &v, State: StateNoisy}
	}
	return Shown{Value: &v, State: StateExact}
}

// CurvePoint is a point of a lookalike's similarity-reach curve as released: the reach is noisy
// and suppressed below the threshold, and recall, precision and lift, computed from released
// counts only, are suppressed (nil) wherever the reach is.
type CurvePoint struct {
	Similarity float64  `json:"similarity"`
	Reach      Shown    `json:"reach"`
	Recall     *float64 `json:"recall"`
	Precision  *float64 `json:"precision"`
	Lift       *float64 `json:"lift"`
}

// TargetCounts are a built target's counts as the caller sees them.
type TargetCounts struct {
	ConnectionID string `json:"connection_id"`
	// K is the threshold in force on the connection (0 when unknown).
	K    int64 `json:"k"`
	Size Shown `json:"size"`
	// Active is how many of the size's users asked the publisher's edge for targeting in the 30
	// days up to its day (state no_traffic before any traffic); nil when not stated.
	Active *Active `json:"active_users,omitempty"`
	// For a modeled cohort: the matched users it grew from, the held-out ones and the curve.
	Seeds        *Shown       `json:"seeds,omitempty"`
	HoldoutSeeds *Shown       `json:"holdout_seeds,omitempty"`
	Curve        []CurvePoint `json:"curve,omitempty"`
	// AUC is the model's holdout AUC, rounded to two decimals.
	AUC *float64 `json:"auc,omitempty"`
}

// Counts releases the counts of each target of co (as Get or List return it for the caller) to
// the caller's party: the size, and for a modeled cohort the seeds and the curve. Each build is a
// new question, charged to the party's budget the first time it is shown; a party whose budget
// is spent sees the state over_budget (the request still succeeds).
func (s *Service) Counts(ctx context.Context, c *cleanroom.Caller, co *cleanroom.Cohort) ([]TargetCounts, error) {
	out := make([]TargetCounts, 0, len(co.Targets))
	for i := range co.Targets {
		tc, err := s.targetCounts(ctx, c, co, &co.Targets[i])
		if err != nil {
			return nil, err
		}
		out = append(out, tc)
	}
	return out, nil
}

func withheld(state, reason string) Shown { return Shown{State: state, Reason: reason} }

func (s *Service) targetCounts(ctx context.Context, c *cleanroom.Caller, co *cleanroom.Cohort, t *cleanroom.CohortTarget) (TargetCounts, error) {
	tc := TargetCounts{ConnectionID: t.ConnectionID}
	if t.BuiltAt.IsZero() && len(t.Model) == 0 {
		tc.Size = withheld(StateUnavailable, "Not built yet.")
		return tc, nil
	}
	if s.Disclosure == nil {
		return tc, errNoGate
	}
	conn, err := s.Store.FindConnection(ctx, t.ConnectionID)
	if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
		tc.Size = withheld(StateUnavailable, "The connection was deleted.")
		return tc, nil
	} else if err != nil {
		return tc, err
	}
	over := func(err error) (bool, error) {
		if cleanroom.ErrorCode(err) == cleanroom.EFORBIDDEN && cleanroom.ErrorDetails(err)["budget_returns_at"] != nil {
			return true, nil
		}
		return false, err
	}
	if t.BuiltAt.IsZero() {
		tc.Size = withheld(StateUnavailable, "Not built yet.")
	} else {
		a, err := s.Disclosure.Release(ctx, c, conn, sizeQuestion(co, co.Inputs), t.Size)
		if spent, err := over(err); err != nil {
			return tc, err
		} else if spent {
			tc.Size = withheld(StateOverBudget, cleanroom.ErrorMessage(err))
		} else {
			tc.K, tc.Size = a.Params.K, shownOf(a.Counts[0], a.Params.Noisy())
			if tc.Active, err = s.targetActive(ctx, c, conn, co, t, a.Counts[0]); err != nil {
				return tc, err
			}
		}
	}
	var rec ModelRecord
	if co.Kind != cleanroom.CohortModeled || len(t.Model) == 0 || json.Unmarshal(t.Model, &rec) != nil || rec.Model == nil {
		return tc, nil
	}
	auc := math.Round(rec.AUC*100) / 100
	tc.AUC = &auc
	a, err := s.Disclosure.Release(ctx, c, conn, curveQuestion(co), curveCounts(&rec)...)
	if spent, err := over(err); err != nil {
		return tc, err
	} else if spent {
		w := withheld(StateOverBudget, cleanroom.ErrorMessage(err))
		tc.Seeds, tc.HoldoutSeeds = &w, &w
		for _, p := range rec.Curve {
			tc.Curve = append(tc.Curve, CurvePoint{Similarity: p.Similarity, Reach: w})
		}
		return tc, nil
	}
	tc.K = a.Params.K
	tc.Seeds, tc.HoldoutSeeds, tc.Curve = releasedCurve(&rec, a)
	return tc, nil
}

// curveQuestion is the question of a modeled target's curve. The model and its curve follow
// from the build's inputs and the cohort's spec; the similarity chosen does not change them, so
// it is left out (choosing another point costs nothing).
func curveQuestion(co *cleanroom.Cohort) disclosure.Question {
	q := cohortQuestion("curve", co, co.Inputs)
	var cq cleanroom.CohortQuery
	json.Unmarshal(co.Query, &cq) //nolint:errcheck // as cohortQuestion
	q.Query = canonical(co.Kind, cq, co.Country, nil, false)
	// One person is in one reach bin and one holdout bin at most, and counts once in the
	// holdout total, the publisher's users and the seeds.
	q.Sensitivity = 5
	return q
}

// curveCounts returns the exact counts a curve is released from: the users per similarity bin
// (the reach's increments), the held-out seeds per bin, the held-out seeds, the publisher's live
// users and the seeds.
func curveCounts(rec *ModelRecord) []int64 {
	n := len(rec.Curve)
	out := make([]int64, 0, 2*n+3)
	prev := int64(0)
	for _, p := range rec.Curve {
		out = append(out, max(int64(p.Reach)-prev, 0))
		prev = max(prev, int64(p.Reach))
	}
	prevHold := int64(0)
	for _, p := range rec.Curve {
		h := int64(math.Round(p.Recall * float64(rec.HoldoutSeeds)))
		out = append(out, max(h-prevHold, 0))
		prevHold = max(prevHold, h)
	}
	users := int64(0)
	if rec.BaseRate > 0 {
		users = int64(math.Round(float64(rec.Seeds) / rec.BaseRate))
	}
	return append(out, int64(rec.HoldoutSeeds), users, int64(rec.Seeds))
}

// releasedCurve turns the noisy counts of curveCounts into the released curve: the reach at each
// point is the running sum of the noisy bins (never decreasing), shown at or above k; recall is
// the running sum of noisy held-out bins over the noisy held-out total; lift and precision come
// from those and the noisy users and seeds. Every value at a point whose reach is suppressed is
// suppressed with it.
func releasedCurve(rec *ModelRecord, a *disclosure.Answer) (seeds, holdout *Shown, curve []CurvePoint) {
	n := len(rec.Curve)
	noisy := a.Params.Noisy()
	hold, users, sd := a.Noisy[2*n], a.Noisy[2*n+1], a.Noisy[2*n+2]
	s1, s2 := shownOf(a.Counts[2*n+2], noisy), shownOf(a.Counts[2*n], noisy)
	var reach, held int64
	for i, p := range rec.Curve {
		reach = max(reach, reach+a.Noisy[i])
		held = max(held, held+a.Noisy[n+i])
		cp := CurvePoint{Similarity: p.Similarity, Reach: shownOf(a.Threshold(reach), noisy)}
		if cp.Reach.Value != nil && hold > 0 {
			recall := min(float64(held)/float64(hold), 1)
			cp.Recall = &recall
			if users > 0 && reach > 0 {
				lift := recall / (float64(reach) / float64(users))
				cp.Lift = &lift
				if sd > 0 {
					prec := min(1, lift*float64(sd)/float64(users))
					cp.Precision = &prec
				}
			}
		}
		curve = append(curve, cp)
	}
	return &s1, &s2, curve
}

// releaseDiagnostics releases the counts of diagnostics (exact as the build or a data source
// diagnosis computed them) to the caller's party, as one question, and adds the causes that
// read them (few matches, hashing before normalising) from the released values only.
func (s *Service) releaseDiagnostics(ctx context.Context, c *cleanroom.Caller, conn *cleanroom.Connection, q disclosure.Question, d *Diagnostics) error {
	if s.Disclosure == nil {
		return errNoGate
	}
	var ptrs []**int64
	add := func(p **int64) {
		if *p != nil {
			ptrs = append(ptrs, p)
		}
	}
	add(&d.MatchedUsers)
	for i := range d.Sources {
		sd := &d.Sources[i]
		add(&sd.MatchedUsers)
		for j := range sd.Types {
			td := &sd.Types[j]
			add(&td.MatchedRows)
			add(&td.BridgedRows)
			add(&td.PublisherIdentifiers)
			add(&td.MatchedUsers)
		}
	}
	exact := make([]int64, len(ptrs))
	for i, p := range ptrs {
		exact[i] = **p
	}
	a, err := s.Disclosure.Release(ctx, c, conn, q, exact...)
	if err != nil {
		return err
	}
	for i, p := range ptrs {
		if r := a.Counts[i]; r.Suppressed {
			*p = nil
		} else {
			v := r.Value
			*p = &v
		}
	}
	d.Threshold, d.Noisy = a.Params.K, a.Params.Noisy()
	for i := range d.Sources {
		sd := &d.Sources[i]
		for j := range sd.Types {
			td := &sd.Types[j]
			td.MatchRate = nil
			if td.MatchedRows != nil && td.AdvertiserRows > 0 {
				r := min(float64(*td.MatchedRows)/float64(td.AdvertiserRows), 1)
				td.MatchRate = &r
			}
		}
		sd.Causes = append(sd.Causes, normalisationCauses(sd, a.Params.K)...)
		sd.Causes = append(sd.Causes, bridgeCauses(sd, a.Params.K)...)
		slices.SortStableFunc(sd.Causes, func(a, b Cause) int { return cmp.Compare(a.Code, b.Code) })
	}
	if d.MatchedUsers == nil {
		d.Causes = append(d.Causes, fewMatches(a.Params.K))
	}
	return nil
}
