package cohorts

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/insights"
	"github.com/cleanroom-oss/cleanroom/match"
	"github.com/cleanroom-oss/cleanroom/privacy"
)

// seedPurpose names the key the noise of insights is seeded under (a purpose key of the master
// key: the parties never see it, so nobody can predict the noise).
const seedPurpose = "privacy-seed/v1"

// Insights is a cohort's insights at one publisher, as the workspace that built it sees them.
type Insights struct {
	CohortID     string `json:"cohort_id"`
	ConnectionID string `json:"connection_id"`
	PublisherID  string `json:"publisher_id"`
	// Advanced says the engagement attributes were asked for (and allowed).
	Advanced bool `json:"advanced"`
	// Threshold and Epsilon are the privacy settings the numbers were released with.
	Threshold int64     `json:"threshold"`
	Epsilon   string    `json:"epsilon"`
	BuiltAt   time.Time `json:"built_at,omitzero"`
	insights.Report
}

// Insights returns a built cohort's insights at the publisher of a connection. The caller's
// workspace must own the cohort, the connection must give it the insights permission (and the
// advanced insights permission when advanced is set), and every data source the cohort reads
// must be usable for insights (its own, or a grant in force that allows them). Every number
// that depends on the publisher's data is released through release.
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
	question := []string{"cohort-insights/v1", conn.ID, c.OrgID(), co.ID, t.BlobKey, ti.Pub.ID}
	for _, src := range in.Sources {
		question = append(question, src.ID+"@"+versionID(src.Version))
	}
	rel, params := s.release(question, []string{"publisher-base/v1", conn.ID, c.OrgID(), ti.Pub.ID})
	return &Insights{CohortID: co.ID, ConnectionID: conn.ID, PublisherID: conn.PublisherID, Advanced: advanced,
		Threshold: params.K, Epsilon: params.Epsilon.String(), BuiltAt: t.BuiltAt, Report: *insights.Release(counts, rel)}, nil
}

// release is the one place insights choose how their numbers cross to the other party: the
// privacy package's release with the deployment's threshold and default ε, seeded by the
// question (its parts name the kind of question, the connection, the party asking and the data
// versions read), so the same question on the same data gets the same noise; the numbers of the
// publisher's base alone are seeded by base (the publisher's version, not the cohort), so every
// report on that version shows them with the same noise. The deployment's privacy gate
// (settings per connection, budgets) replaces it here when it is wired.
func (s *Service) release(question, base []string) (insights.Releaser, privacy.Params) {
	p := privacy.DefaultParams()
	p.K = privacy.Threshold(s.Threshold())
	key := s.Pipeline.Keys.Derive(seedPurpose)
	seed := func(q []string) [32]byte {
		parts := make([][]byte, len(q))
		for i, x := range q {
			parts[i] = []byte(x)
		}
		return privacy.Seed(key, parts...)
	}
	return insights.ParamsReleaser{Params: p, Seed: seed(question), BaseSeed: seed(base)}, p
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
	question := []string{"served-users/v1", conn.ID, c.OrgID()}
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
		question = append(question, v.ID)
	}
	slices.Sort(question[3:])
	rel, params := s.release(question, question)
	r := rel.Count("served_users", int64(union.GetCardinality()))
	if !r.Suppressed {
		out.Users = &r.Value
	}
	out.Threshold, out.Epsilon = params.K, params.Epsilon.String()
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
