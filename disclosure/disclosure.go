// Package disclosure is the one gate every number that crosses from one party of a connection to
// the other passes through. A service computes a count exactly (an estimate, a cohort size, a
// diagnostic, a point of the lookalike curve, an insight), names the question it answers, and
// calls Release (or ReleaseTable); the gate decides who asks (the caller's party on the
// connection), combines the parties' privacy settings with the deployment's floor (the stricter
// wins), charges the asking party's budget once per new question, and returns the counts as
// package privacy releases them: noisy, thresholded, suppressed when below k.
//
// The noise is seeded by a keyed hash (a keyring purpose key) of the connection, the asking party,
// the question's kind and canonical encoding, the data version IDs it reads and the release's
// parameters, so the same question on the same data gets the same numbers and costs nothing
// again, while any change of the data gives fresh noise and costs ε.
//
// The package also keeps the settings (Settings, UpdateSettings): per connection and party the
// threshold k, the ε per release, the budget and its period.
package disclosure

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/privacy"
)

// KeyPurpose is the keyring purpose of the key that seeds the noise.
const KeyPurpose = "privacy/seed/v1"

// Deployment is the operator's floor: no party may go below K, above MaxEpsilon per release,
// above Budget per period, or use a shorter period than Period.
type Deployment struct {
	// K is the smallest threshold (privacy.DefaultThreshold when below 1).
	K int64
	// MaxEpsilon is the largest ε of one question (privacy.DefaultEpsilon when 0).
	MaxEpsilon privacy.Epsilon
	// Budget is the largest budget of a party per connection and period (privacy.DefaultBudget
	// when 0), and the budget of a party that set none.
	Budget privacy.Epsilon
	// Period is the shortest budget period (privacy.DefaultPeriod when "").
	Period privacy.Period
	// Mechanism is the noise (privacy.Laplace when ""); privacy.NoNoise releases exact counts
	// at or above k and is meant for tests and parties that trust each other.
	Mechanism privacy.Mechanism
	// InputMinimum is the fewest identifier rows a data source needs to be used as an input of
	// a cross-party number (0: the threshold k of the connection). See docs/PRIVACY.md.
	InputMinimum int64
}

func (d Deployment) normal() Deployment {
	if d.K < 1 {
		d.K = privacy.DefaultThreshold
	}
	if d.MaxEpsilon <= 0 {
		d.MaxEpsilon = privacy.DefaultEpsilon
	}
	if d.Budget <= 0 {
		d.Budget = privacy.DefaultBudget
	}
	if d.Period == "" {
		d.Period = privacy.DefaultPeriod
	}
	if d.Mechanism == "" {
		d.Mechanism = privacy.Laplace
	}
	return d
}

// Service is the release gate.
type Service struct {
	Store cleanroom.Store
	// Key seeds the noise: a server secret (keyring purpose key KeyPurpose).
	Key        []byte
	Deployment Deployment
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// New returns a gate over store with the deployment's floor.
func New(store cleanroom.Store, key []byte, d Deployment) *Service {
	return &Service{Store: store, Key: key, Deployment: d.normal(), Now: time.Now}
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now().UTC()
	}
	return s.Now().UTC()
}

// Question names what a release answers. Two releases with equal questions on the same
// connection for the same party are the same question: same numbers, charged once per period.
// Everything the exact counts depend on must be in it (a count that changed while its question
// stayed the same would show the change through identical noise).
type Question struct {
	// Kind names the number: "estimate", "cohort_size", "diagnostics", "curve",
	// "insights/overlap", ...
	Kind string
	// Query is the canonical encoding of what was asked (the same bytes for the same question:
	// sorted keys, conditions in a fixed order).
	Query []byte
	// Versions are the IDs of the data versions the counts read (data sources, the publisher's
	// audience, bridges), in any order; they are sorted before hashing.
	Versions []string
	// Sensitivity is the most counts of this release one person can change, each by at most one
	// (0 means all of them). The question's ε is split evenly over that many counts, so the
	// release as a whole is ε-differentially private. A histogram where each person falls in one
	// cell has sensitivity 1; a table of overlaps with 500 cohorts a person may all belong to,
	// 500 (ReleaseTable adds one for its total).
	Sensitivity int
	// Shared makes the release the same for both parties (the seed leaves the party out): a
	// number both may see, such as a cohort's size, is then one release, shown alike to each,
	// and AtLeast decides on it with the same noise. Each party still pays for it once from its
	// own budget.
	Shared bool
}

// Party returns the org ID of the caller's party on conn: the publisher or the partner. Anyone
// else gets ENOTFOUND.
func Party(c *cleanroom.Caller, conn *cleanroom.Connection) (string, error) {
	switch c.OrgID() {
	case conn.PublisherID, conn.PartnerID:
		return c.OrgID(), nil
	}
	return "", cleanroom.Errorf(cleanroom.ENOTFOUND, "Connection not found.")
}

// Params are the settings in force for a release on a connection.
type Params struct {
	privacy.Params
	// Budget is the ε each party may spend per Period on new questions.
	Budget privacy.Epsilon
	Period privacy.Period
	// InputMinimum is the fewest identifier rows a data source needs to be an input.
	InputMinimum int64
}

// Noisy reports whether released counts carry noise.
func (p Params) Noisy() bool { return p.Mechanism != privacy.NoNoise }

var periodRank = map[privacy.Period]int{privacy.Day: 1, privacy.Week: 2, privacy.Month: 3}

// Params returns the settings in force on conn: the deployment's floor and each party's own
// settings, the stricter winning (largest k, smallest ε, smallest budget, longest period).
func (s *Service) Params(ctx context.Context, conn *cleanroom.Connection) (Params, error) {
	d := s.Deployment.normal()
	sets, err := s.Store.ListPrivacySettings(ctx, conn.ID)
	if err != nil {
		return Params{}, err
	}
	var ks []int64
	var es []privacy.Epsilon
	p := Params{Budget: d.Budget, Period: d.Period}
	for _, st := range sets {
		ks = append(ks, st.K)
		es = append(es, privacy.Epsilon(st.Epsilon))
		if st.Budget > 0 {
			p.Budget = min(p.Budget, privacy.Epsilon(st.Budget))
		}
		if per := privacy.Period(st.Period); periodRank[per] > periodRank[p.Period] {
			p.Period = per
		}
	}
	p.K = privacy.Threshold(d.K, ks...)
	p.Epsilon = privacy.StricterEpsilon(d.MaxEpsilon, es...)
	p.Mechanism = d.Mechanism
	p.InputMinimum = p.K
	if d.InputMinimum > 0 {
		p.InputMinimum = d.InputMinimum
	}
	return p, nil
}

// Answer is a release: the counts as the asking party sees them, and the settings and budget
// they were released under.
type Answer struct {
	Counts []privacy.Released
	// Noisy are the counts with their noise and without the threshold (they may be below k or
	// negative). Never show them as they are: they are for post-processing into other released
	// values, such as the running sums of a histogram (Threshold then decides what is shown).
	// Release sets them; ReleaseTable does not.
	Noisy []int64
	// Total is ReleaseTable's total (zero otherwise).
	Total  privacy.Released
	Params Params
	// Budget is the asking party's budget after the question (Charged false: asked before).
	Budget privacy.Status
}

// Release releases exact, the counts answering question q, to the caller's party on conn. It
// charges the party's budget the question's ε unless the same question was charged in the
// period already; a question over budget is refused (EFORBIDDEN, with budget_returns_at, saying
// when the budget returns). Each count gets ε / q.Sensitivity of noise. A caller of neither
// party gets ENOTFOUND.
func (s *Service) Release(ctx context.Context, c *cleanroom.Caller, conn *cleanroom.Connection, q Question, exact ...int64) (*Answer, error) {
	a, seed, err := s.charge(ctx, c, conn, q, len(exact), 0)
	if err != nil {
		return nil, err
	}
	a.Counts, a.Noisy = make([]privacy.Released, len(exact)), make([]int64, len(exact))
	p := a.perCount(q, len(exact), 0)
	for i, n := range exact {
		sd := privacy.Derive(seed, "count/"+strconv.Itoa(i))
		a.Counts[i] = privacy.Release(n, p, sd)
		if p.Validate() != nil || n < 0 {
			a.Noisy[i] = -1 // fails closed, as Release
		} else {
			a.Noisy[i] = n + privacy.Noise(p, sd)
		}
	}
	return a, nil
}

// Threshold returns a value computed from noisy counts (Answer.Noisy) as shown under the
// answer's threshold: suppressed below k, as Release does.
func (a *Answer) Threshold(v int64) privacy.Released {
	if v < a.Params.K || a.Params.K < 1 {
		return privacy.Released{Suppressed: true}
	}
	return privacy.Released{Value: v}
}

// AtLeast decides whether an exact count is at least min as its release would say: with the
// noise Release(q, exact) gives a single count when q is Shared (AtLeast sets it), and min as the
// threshold. It charges no budget: the decision is the release's own noise, so it tells nothing
// the release does not (while min is at least k, "at least min" can be read off the released
// count). The cohort service decides activation this way, so that whether a cohort is served
// does not tell exactly whether one more person took it over the activation minimum.
func (s *Service) AtLeast(ctx context.Context, conn *cleanroom.Connection, q Question, exact, min int64) (bool, error) {
	p, err := s.Params(ctx, conn)
	if err != nil {
		return false, err
	}
	q.Shared = true
	a := &Answer{Params: p}
	pp := a.perCount(q, 1, 0)
	pp.K = max(min, 1)
	return !privacy.Release(exact, pp, privacy.Derive(s.seed(conn, "", q, p), "count/0")).Suppressed, nil
}

// ReleaseTable releases the cells of a table and their total (privacy.ReleaseTable: the total is
// its own noisy release, and complementary suppression keeps a lone suppressed cell from being
// read off the total). Budget and errors as Release.
func (s *Service) ReleaseTable(ctx context.Context, c *cleanroom.Caller, conn *cleanroom.Connection, q Question, cells []int64) (*Answer, error) {
	a, seed, err := s.charge(ctx, c, conn, q, len(cells), 1)
	if err != nil {
		return nil, err
	}
	a.Counts, a.Total = privacy.ReleaseTable(cells, a.perCount(q, len(cells), 1), seed)
	return a, nil
}

// perCount returns the params of one count: the question's ε split over its sensitivity.
func (a *Answer) perCount(q Question, n, extra int) privacy.Params {
	p := a.Params.Params
	sens := q.Sensitivity
	if sens <= 0 || sens > n {
		sens = n
	}
	sens += extra
	if sens > 1 {
		p.Epsilon = max(p.Epsilon/privacy.Epsilon(sens), 1)
	}
	return p
}

// seed returns the seed of question q asked by party on conn under params p.
func (s *Service) seed(conn *cleanroom.Connection, party string, q Question, p Params) [32]byte {
	if q.Shared {
		party = "shared"
	}
	vs := slices.Clone(q.Versions)
	slices.Sort(vs)
	vs = slices.Compact(vs)
	parts := [][]byte{[]byte("connection"), []byte(conn.ID), []byte("party"), []byte(party), []byte("kind"), []byte(q.Kind),
		[]byte("query"), q.Query, []byte("sensitivity"), []byte(strconv.Itoa(q.Sensitivity)),
		[]byte("params"), []byte(string(p.Mechanism) + "/" + p.Epsilon.String()), []byte("versions")}
	for _, v := range vs {
		parts = append(parts, []byte(v))
	}
	return privacy.Seed(s.Key, parts...)
}

// charge works out the params and seed of a question and charges the asking party's budget.
func (s *Service) charge(ctx context.Context, c *cleanroom.Caller, conn *cleanroom.Connection, q Question, n, extra int) (*Answer, [32]byte, error) {
	party, err := Party(c, conn)
	if err != nil {
		return nil, [32]byte{}, err
	}
	p, err := s.Params(ctx, conn)
	if err != nil {
		return nil, [32]byte{}, err
	}
	seed := s.seed(conn, party, q, p)
	a := &Answer{Params: p}
	if n == 0 {
		return a, seed, nil
	}
	b := s.budget(conn, party, p)
	// A question asked before in this period is free; look before taking the write lock.
	if st, asked, err := s.asked(ctx, b, seed); err != nil {
		return nil, seed, err
	} else if asked {
		a.Budget = st
		return a, seed, nil
	}
	if a.Budget, err = b.Spend(ctx, seed, p.Epsilon); err != nil {
		return nil, seed, err
	}
	return a, seed, nil
}

func (s *Service) budget(conn *cleanroom.Connection, party string, p Params) *privacy.Budget {
	return &privacy.Budget{Account: privacy.Account{Connection: conn.ID, Party: party}, Period: p.Period, Limit: p.Budget,
		Ledger: ledger{s.Store}, Now: s.now}
}

// asked returns the budget's status and whether question q was charged in its current period.
func (s *Service) asked(ctx context.Context, b *privacy.Budget, q [32]byte) (privacy.Status, bool, error) {
	start, end := b.Period.Window(s.now())
	spent, asked, err := s.Store.PrivacySpent(ctx, cleanroom.PrivacyWindow{ConnectionID: b.Connection, PartyID: b.Party,
		Period: string(b.Period), Start: start}, q)
	if err != nil {
		return privacy.Status{}, false, err
	}
	return privacy.Status{Spent: privacy.Epsilon(spent), Left: max(b.Limit-privacy.Epsilon(spent), 0), Returns: end}, asked, nil
}

// ledger is privacy.Ledger over the store.
type ledger struct{ store cleanroom.Store }

func window(w privacy.Window) cleanroom.PrivacyWindow {
	return cleanroom.PrivacyWindow{ConnectionID: w.Connection, PartyID: w.Party, Period: string(w.Period), Start: w.Start}
}

func (l ledger) Charge(ctx context.Context, w privacy.Window, q [32]byte, cost, limit privacy.Epsilon) (privacy.Epsilon, bool, error) {
	spent, charged, over, err := l.store.ChargePrivacy(ctx, window(w), q, int64(cost), int64(limit))
	if err != nil {
		return 0, false, err
	}
	if over {
		return privacy.Epsilon(spent), false, privacy.ErrOverBudget
	}
	return privacy.Epsilon(spent), charged, nil
}

func (l ledger) Spent(ctx context.Context, w privacy.Window) (privacy.Epsilon, error) {
	spent, _, err := l.store.PrivacySpent(ctx, window(w), [32]byte{})
	return privacy.Epsilon(spent), err
}
