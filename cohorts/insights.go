package cohorts

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/disclosure"
	"github.com/cleanroom-oss/cleanroom/insights"
	"github.com/cleanroom-oss/cleanroom/match"
	"github.com/cleanroom-oss/cleanroom/privacy"
)

// Insights is a cohort's insights at one publisher, as the workspace that built it sees them.
type Insights struct {
	CohortID     string `json:"cohort_id"`
	ConnectionID string `json:"connection_id"`
	PublisherID  string `json:"publisher_id"`
	// Advanced says the engagement attributes were asked for (and allowed).
	Advanced bool `json:"advanced"`
	// Threshold, Epsilon (of one question) and Noise (the mechanism, "none" for exact counts)
	// are the privacy settings in force on the connection that the numbers were released with.
	Threshold int64  `json:"threshold"`
	Epsilon   string `json:"epsilon"`
	Noise     string `json:"noise"`
	// EpsilonLeft is the asking party's budget left in the period after this report, and
	// BudgetReturnsAt when the whole budget returns.
	EpsilonLeft     string    `json:"epsilon_left"`
	BudgetReturnsAt time.Time `json:"budget_returns_at"`
	BuiltAt         time.Time `json:"built_at,omitzero"`
	insights.Report
}

// Insights returns a built cohort's insights at the publisher of a connection. The caller's
// workspace must own the cohort, the connection must give it the insights permission (and the
// advanced insights permission when advanced is set), and every data source the cohort reads
// must be usable for insights (its own, or a grant in force that allows them). Every number
// that depends on the publisher's data is released through the disclosure gate
// (releaseReport): over budget, the report is refused with when the budget returns.
func (s *Service) Insights(ctx context.Context, c *cleanroom.Caller, cohortID, connectionID string, advanced bool) (*Insights, error) {
	co, err := s.Get(ctx, c, cohortID)
	if err != nil {
		return nil, err
	}
	if co.OrgID != c.OrgID() {
		return nil, cleanroom.Errorf(cleanroom.EFORBIDDEN, "A cohort's insights are read in the workspace that built it.").
			Hint("A publisher reads how many of its users are in served cohorts: GET /v1/connections/{id}/served-users, or the dashboard's Served users page.")
	}
	t := co.Target(connectionID)
	if t == nil {
		return nil, cleanroom.Errorf(cleanroom.ENOTFOUND, "The cohort is not built for this connection.").With("field", "connection_id")
	}
	conn, err := s.Conns.Use(ctx, c, connectionID, cleanroom.CapViewInsights)
	if err != nil {
		return nil, err
	}
	if advanced {
		if _, err := s.Conns.Use(ctx, c, connectionID, cleanroom.CapViewAdvancedInsights); err != nil {
			return nil, err
		}
	}
	sp, err := specOf(co)
	if err != nil {
		return nil, err
	}
	in, err := s.gather(ctx, co, &sp)
	if err != nil {
		return nil, err
	}
	ws := systemCaller(co)
	for _, src := range in.Sources {
		if src.DS == nil {
			continue // left out of the cohort
		}
		if _, err := s.Conns.Usable(ctx, ws, src.ID, cleanroom.UseInsights); err != nil {
			return nil, err
		}
	}
	members, err := s.Members(ctx, t)
	if err != nil {
		return nil, err
	}
	ti := &in.Targets[slices.IndexFunc(co.Targets, func(x cleanroom.CohortTarget) bool { return x.ConnectionID == connectionID })]
	if ti.Reason != "" { // the connection or the publisher's audience cannot be used now
		return nil, cleanroom.Errorf(cleanroom.ECONFLICT, "No insights now: %s", ti.Reason)
	}
	ev, err := s.evaluate(ctx, ws, &sp, in, ti)
	if err != nil {
		return nil, err
	}
	pub := ev.Pub
	var stats []match.TagStats
	for _, id := range sortedKeys(ev.Results) {
		stats = append(stats, ev.Results[id].Tags...)
	}
	var visible []int
	for i, pc := range pub.Cohorts {
		if s.checkPublisherCohort(ctx, conn, ws, pc.ID, pc.Standard) == nil {
			visible = append(visible, i)
		}
	}
	counts, err := insights.Compute(insights.Input{Members: members, Pub: pub, Cohorts: visible, Types: stats,
		Attributes: advanced, Workers: s.Workers})
	if err != nil {
		return nil, err
	}
	versions := []string{t.BlobKey, ti.Pub.ID}
	for _, src := range in.Sources {
		versions = append(versions, src.ID+"@"+versionID(src.Version))
	}
	rel, a, err := s.releaseReport(ctx, c, conn, counts, co.ID, ti.Pub.ID, versions)
	if err != nil {
		return nil, err
	}
	return &Insights{CohortID: co.ID, ConnectionID: conn.ID, PublisherID: conn.PublisherID, Advanced: advanced,
		Threshold: a.Params.K, Epsilon: a.Params.Epsilon.String(), Noise: string(a.Params.Mechanism),
		EpsilonLeft: a.Budget.Left.String(), BudgetReturnsAt: a.Budget.Returns, BuiltAt: t.BuiltAt, Report: *rel}, nil
}

// releaseReport releases a report's counts through the gate as two questions of the asking
// party (the partner: the workspace that built the cohort):
//
//   - the cohort's ("insights/cohort"): every number that depends on the cohort (its size and
//     countries, the matched rows per type, the overlaps, the engagement cells in the cohort),
//     asked about the cohort's build (its member file), the publisher's version and each data
//     source's version, its query listing the numbers asked (which publisher cohorts, whether
//     advanced); one person may move every one of its counts and one cell and the total of
//     each table (disclosure.PartsSensitivity), and the question's ε is split over that many;
//   - the publisher's base ("insights/base"): the numbers of the publisher's users alone (its
//     users, its cohorts' sizes, its countries and engagement values), asked about the
//     publisher's version only (the query: which of them), so every report of the party on
//     that version shows them with the same noise and pays for them once per period, whichever
//     cohort it is about; its sensitivity is counted the same way.
//
// The base is released first: a question over budget refuses the report (EFORBIDDEN with
// budget_returns_at), and a base already paid for stays paid. The Answer returned is the cohort
// question's (the settings in force, the budget after both).
func (s *Service) releaseReport(ctx context.Context, c *cleanroom.Caller, conn *cleanroom.Connection, counts *insights.Counts,
	cohortID, pubVersion string, versions []string) (*insights.Report, *disclosure.Answer, error) {
	if s.Disclosure == nil {
		return nil, nil, errNoGate
	}
	var rec recorder
	insights.Release(counts, &rec)
	var own, base []disclosure.Part
	for _, p := range rec.parts {
		if strings.HasPrefix(p.Label, insights.BaseLabel) {
			base = append(base, p)
		} else {
			own = append(own, p)
		}
	}
	out := replay{}
	_, released, err := s.Disclosure.ReleaseParts(ctx, c, conn, disclosure.Question{Kind: "insights/base",
		Query: partsQuery("", base), Versions: []string{pubVersion}}, base)
	if err != nil {
		return nil, nil, err
	}
	out.add(base, released)
	a, released, err := s.Disclosure.ReleaseParts(ctx, c, conn, disclosure.Question{Kind: "insights/cohort", Query: partsQuery(cohortID, own),
		Versions: versions}, own)
	if err != nil {
		return nil, nil, err
	}
	out.add(own, released)
	return insights.Release(counts, out), a, nil
}

// partsQuery is the canonical query of a report's question: the cohort asked about ("" for the
// publisher's base) and the labels of the numbers asked, sorted.
func partsQuery(cohortID string, parts []disclosure.Part) []byte {
	labels := make([]string, 0, len(parts))
	for _, p := range parts {
		labels = append(labels, p.Label)
	}
	slices.Sort(labels)
	b, _ := json.Marshal(struct {
		Cohort string   `json:"cohort,omitempty"`
		Counts []string `json:"counts"`
	}{cohortID, labels})
	return b
}

// recorder is an insights.Releaser that records what a report releases (and releases nothing:
// every number suppressed), so that the whole report is released through the gate at once.
type recorder struct{ parts []disclosure.Part }

func (r *recorder) Count(label string, n int64) privacy.Released {
	r.parts = append(r.parts, disclosure.Part{Label: label, Cells: []int64{n}})
	return privacy.Released{Suppressed: true}
}

func (r *recorder) Table(label string, cells []int64) ([]privacy.Released, privacy.Released) {
	r.parts = append(r.parts, disclosure.Part{Label: label, Cells: slices.Clone(cells), Table: true})
	out := make([]privacy.Released, len(cells))
	for i := range out {
		out[i].Suppressed = true
	}
	return out, privacy.Released{Suppressed: true}
}

// replay is an insights.Releaser that answers with what the gate released, by label. A label it
// was not given is suppressed (fails closed).
type replay map[string]disclosure.PartRelease

func (r replay) add(parts []disclosure.Part, released []disclosure.PartRelease) {
	for i, p := range parts {
		r[p.Label] = released[i]
	}
}

func (r replay) Count(label string, _ int64) privacy.Released { return r[label].Count() }

func (r replay) Table(label string, cells []int64) ([]privacy.Released, privacy.Released) {
	pr, ok := r[label]
	if !ok || len(pr.Cells) != len(cells) {
		out := make([]privacy.Released, len(cells))
		for i := range out {
			out[i].Suppressed = true
		}
		return out, privacy.Released{Suppressed: true}
	}
	return pr.Cells, pr.Total
}

// Served is what a publisher sees of the cohorts served to its users through one connection.
type Served struct {
	ConnectionID string `json:"connection_id"`
	// Cohorts is the number of cohorts served through the connection.
	Cohorts int `json:"cohorts"`
	// Users is the number of the publisher's users in at least one of them, released through
	// privacy (null below the threshold).
	Users     insights.Count `json:"users"`
	Threshold int64          `json:"threshold"`
	Epsilon   string         `json:"epsilon"`
}

// ServedUsers returns, for the publisher of a connection, how many of its users are in the
// cohorts served through it. Only the publisher's own workspace reads it.
func (s *Service) ServedUsers(ctx context.Context, c *cleanroom.Caller, connectionID string) (*Served, error) {
	conn, err := s.Conns.Connection(ctx, c, connectionID, cleanroom.CapViewConnection)
	if err != nil {
		return nil, err
	}
	if conn.PublisherID != c.OrgID() {
		return nil, cleanroom.Errorf(cleanroom.EFORBIDDEN, "The publisher reads how many of its users are in served cohorts.").
			Hint("A cohort's own insights are at GET /v1/cohorts/{id}/insights.")
	}
	union := roaring.New()
	question := []string{"served-users/v1"} // the member files of the cohorts served
	var versions []string
	out := &Served{ConnectionID: conn.ID}
	p := cleanroom.Page{Limit: cleanroom.MaxPageLimit}
	for {
		cs, next, err := s.Store.ListCohorts(ctx, cleanroom.CohortFilter{PublisherID: conn.PublisherID, Page: p})
		if err != nil {
			return nil, err
		}
		for _, co := range cs {
			t := co.Target(conn.ID)
			if t == nil || !t.Active || co.Status == cleanroom.CohortPaused {
				continue
			}
			m, err := s.Members(ctx, t)
			if err != nil {
				return nil, err
			}
			union.Or(m)
			out.Cohorts++
			question = append(question, t.BlobKey)
			versions = append(versions, t.BlobKey)
		}
		if next == "" {
			break
		}
		p.After = next
	}
	v, err := s.Store.CurrentVersion(ctx, conn.PublisherID)
	switch {
	case cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND:
	case err != nil:
		return nil, err
	default:
		pub, err := s.publisherVersion(ctx, v)
		if err != nil {
			return nil, err
		}
		if pub.Deleted != nil {
			union.AndNot(pub.Deleted)
		}
		versions = append(versions, v.ID)
	}
	if s.Disclosure == nil {
		return nil, errNoGate
	}
	slices.Sort(question[1:])
	a, err := s.Disclosure.Release(ctx, c, conn, disclosure.Question{Kind: "served_users",
		Query: []byte(strings.Join(question, "\n")), Versions: versions, Sensitivity: 1}, int64(union.GetCardinality()))
	if err != nil {
		return nil, err
	}
	if r := a.Counts[0]; !r.Suppressed {
		out.Users = &r.Value
	}
	out.Threshold, out.Epsilon = a.Params.K, a.Params.Epsilon.String()
	return out, nil
}

// sortedKeys returns a map's keys, sorted.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.SortFunc(out, strings.Compare)
	return out
}
