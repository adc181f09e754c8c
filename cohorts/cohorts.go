// Package cohorts builds and keeps the demand side's audiences: a query over the workspace's data
// sources and the publishers' cohorts it may use, matched against each connected publisher's
// audience (package match), grown into a lookalike when modeled (package lookalike), and stored as
// an encrypted member bitmap per publisher with a cohort code the publisher's ad server targets.
//
// Every build checks, at that moment, everything the cohort relies on: the connection and its
// permissions, the partner's standing, each data source's grants and the publisher cohorts it
// names. Refresh notices when any of these changes (a new version, a grant that expired or was
// revoked, an erasure, an unlinked data source) and rebuilds the cohort without what it may no
// longer use.
package cohorts

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/connections"
	"github.com/cleanroom-oss/cleanroom/disclosure"
	"github.com/cleanroom-oss/cleanroom/lookalike"
	"github.com/cleanroom-oss/cleanroom/pipeline"
	"github.com/cleanroom-oss/cleanroom/privacy"
	"github.com/cleanroom-oss/cleanroom/versions"
)

// Defaults.
const (
	// DefaultActivationMinimum is the fewest users a cohort needs to be served at a publisher.
	DefaultActivationMinimum = 100
	// JobBuild is the kind of the job that builds a cohort.
	JobBuild = "cohort.build"
)

// Enqueuer queues background jobs (jobs.Runner).
type Enqueuer interface {
	Enqueue(ctx context.Context, j *cleanroom.Job) error
}

// Service manages cohorts.
type Service struct {
	Store cleanroom.Store
	Conns *connections.Service
	// Pipeline gives the publishers' taxonomies and bridges, and its version store the versions
	// and the member files.
	Pipeline *pipeline.Service
	Jobs     Enqueuer
	Now      func() time.Time
	// ActivationMinimum is the fewest users a cohort is served with (DefaultActivationMinimum
	// when 0).
	ActivationMinimum int
	// Disclosure is the release gate every count shown to the other party passes through.
	Disclosure *disclosure.Service
	// Workers bounds the goroutines of a match or a model (< 1: GOMAXPROCS).
	Workers int
	// ActiveSets gives the publishers' active users (the edge's), stated beside sizes and
	// estimates; nil states none.
	ActiveSets ActiveSource

	// OnNudge, when set, is called by Nudge after waking this process's refresher: app passes the
	// nudge to the other processes of the deployment (Wake wakes them).
	OnNudge func()

	cache  *cache
	nudges chan struct{}
}

// New returns a service keeping up to cacheVersions decrypted versions in memory between builds
// (at least 1).
func New(store cleanroom.Store, conns *connections.Service, pipe *pipeline.Service, jobs Enqueuer, cacheVersions int) *Service {
	return &Service{Store: store, Conns: conns, Pipeline: pipe, Jobs: jobs, Now: time.Now, cache: newCache(max(1, cacheVersions)),
		nudges: make(chan struct{}, 1)}
}

func (s *Service) now() time.Time { return cleanroom.UTC(s.Now()) }

func (s *Service) activationMinimum() int64 {
	if s.ActivationMinimum > 0 {
		return int64(s.ActivationMinimum)
	}
	return DefaultActivationMinimum
}

// Threshold returns the deployment's floor of the privacy threshold (a connection's parties
// may set a higher one; released counts carry the one in force).
func (s *Service) Threshold() int64 {
	if s.Disclosure != nil && s.Disclosure.Deployment.K > 0 {
		return s.Disclosure.Deployment.K
	}
	return privacy.DefaultThreshold
}

// versions returns the version store.
func (s *Service) versions() *versions.Store { return s.Pipeline.Versions }

// Spec is what a user sets when creating a cohort (or estimating one).
type Spec struct {
	Name          string
	Description   string
	Kind          cleanroom.CohortKind
	Query         cleanroom.CohortQuery
	Country       []string
	ConnectionIDs []string
	// Similarity and IncludeSeeds may be set up front for a modeled cohort, which then becomes
	// active after training without waiting for a choice.
	Similarity   *float64
	IncludeSeeds bool
}

// capability returns the connection capability and the data use a kind of cohort needs.
func capability(kind cleanroom.CohortKind) (cleanroom.Capability, cleanroom.Use) {
	if kind == cleanroom.CohortModeled {
		return cleanroom.CapCreateModeledCohort, cleanroom.UseModeled
	}
	return cleanroom.CapCreateMatchedCohort, cleanroom.UseMatched
}

// checkSimilarity checks a chosen similarity.
func checkSimilarity(kind cleanroom.CohortKind, sim *float64) error {
	if sim == nil {
		return nil
	}
	if kind != cleanroom.CohortModeled {
		return cleanroom.Errorf(cleanroom.EINVALID, "Only modeled cohorts have a similarity.").With("field", "similarity")
	}
	if *sim < 0 || *sim > 1 {
		return cleanroom.Errorf(cleanroom.EINVALID, "The similarity must be between 0 and 1.").With("field", "similarity")
	}
	return nil
}

// dataSourcesOf returns the data source IDs a query names, sorted and unique.
func dataSourcesOf(q cleanroom.CohortQuery) []string {
	return namedIn(q, func(c cleanroom.Condition) string { return c.DataSource })
}

// publisherCohortsOf returns the publisher cohort IDs a query names, sorted and unique.
func publisherCohortsOf(q cleanroom.CohortQuery) []string {
	return namedIn(q, func(c cleanroom.Condition) string { return c.PublisherCohort })
}

// namedIn returns the non-empty values of name over a query's leaf conditions, sorted and
// unique.
func namedIn(q cleanroom.CohortQuery, name func(cleanroom.Condition) string) []string {
	var ids []string
	var walk func([]cleanroom.Condition)
	walk = func(cs []cleanroom.Condition) {
		for _, c := range cs {
			if c.IsGroup() {
				walk(c.Conditions)
			} else if id := name(c); id != "" {
				ids = append(ids, id)
			}
		}
	}
	walk(q.Conditions)
	slices.Sort(ids)
	return slices.Compact(ids)
}

// check validates a spec for a caller: the query, and for each connection the capability and
// the publisher cohorts the query names; for each data source the right to use it. It returns
// the connections, in the spec's order.
func (s *Service) check(ctx context.Context, c *cleanroom.Caller, sp *Spec) ([]*cleanroom.Connection, error) {
	sp.Name = strings.TrimSpace(sp.Name)
	if err := sp.Query.Validate(); err != nil {
		return nil, err
	}
	if len(sp.Query.Country) > 0 {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "Set the geo-lock in the cohort's country field, not in the query.").With("field", "query.country")
	}
	q := sp.Query
	q.Country = sp.Country
	if err := q.Validate(); err != nil {
		return nil, err
	}
	if err := checkSimilarity(sp.Kind, sp.Similarity); err != nil {
		return nil, err
	}
	if len(sp.ConnectionIDs) == 0 {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "The cohort names no connection.").With("field", "connections").
			Hint("List the IDs of the publisher connections to build it for.")
	}
	capab, use := capability(sp.Kind)
	if sp.Kind != cleanroom.CohortMatched && sp.Kind != cleanroom.CohortModeled {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "The kind must be %q or %q.", cleanroom.CohortMatched, cleanroom.CohortModeled).With("field", "kind")
	}
	var conns []*cleanroom.Connection
	seen := map[string]bool{}
	for _, id := range sp.ConnectionIDs {
		if seen[id] {
			return nil, cleanroom.Errorf(cleanroom.EINVALID, "Connection %q is listed twice.", id).With("field", "connections")
		}
		seen[id] = true
		conn, err := s.Conns.Use(ctx, c, id, capab)
		if err != nil {
			return nil, err
		}
		if conn.PartnerID != c.OrgID() {
			return nil, cleanroom.Errorf(cleanroom.EFORBIDDEN, "Cohorts are created in the partner's demand-side workspace.")
		}
		if ids := publisherCohortsOf(sp.Query); len(ids) > 0 {
			tax, err := pipeline.LoadPublisherTaxonomy(ctx, s.Store, conn.PublisherID)
			if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
				return nil, cleanroom.Errorf(cleanroom.EINVALID, "The publisher has not shared any cohorts yet.").With("field", "query")
			} else if err != nil {
				return nil, err
			}
			for _, pc := range ids {
				i, ok := tax.Index(pc)
				if !ok {
					return nil, cleanroom.Errorf(cleanroom.EINVALID, "The publisher has no cohort %q.", pc).With("field", "query")
				}
				if err := s.checkPublisherCohort(ctx, conn, c, tax.Cohorts()[i].ID, tax.Cohorts()[i].Standard); err != nil {
					return nil, err
				}
			}
		}
		conns = append(conns, conn)
	}
	for _, id := range dataSourcesOf(sp.Query) {
		if _, err := s.Conns.Usable(ctx, c, id, use); err != nil {
			return nil, err
		}
	}
	return conns, nil
}

// checkPublisherCohort checks that the caller may use a publisher cohort through conn: standard
// ones with the standard cohorts permission unless the publisher opted out of them, custom ones
// when shared through the connection.
func (s *Service) checkPublisherCohort(ctx context.Context, conn *cleanroom.Connection, c *cleanroom.Caller, id string, standard bool) error {
	actor := c
	if !standard {
		return conn.CheckCustomCohort(actor, id)
	}
	if err := conn.Check(actor, cleanroom.CapUseStandardCohorts); err != nil {
		return err
	}
	outs, err := s.Store.ListStandardOptOuts(ctx, conn.PublisherID)
	if err != nil {
		return err
	}
	if _, found := slices.BinarySearch(outs, id); found {
		return cleanroom.Errorf(cleanroom.EFORBIDDEN, "The publisher does not offer standard cohort %q.", id).
			With("capability", cleanroom.CapUseStandardCohorts)
	}
	return nil
}

// Create checks and stores a new cohort and queues its first build.
func (s *Service) Create(ctx context.Context, c *cleanroom.Caller, sp Spec) (*cleanroom.Cohort, error) {
	conns, err := s.check(ctx, c, &sp)
	if err != nil {
		return nil, err
	}
	query, err := json.Marshal(sp.Query)
	if err != nil {
		return nil, err
	}
	co := &cleanroom.Cohort{ID: uuid.Must(uuid.NewV7()).String(), OrgID: c.OrgID(), Name: sp.Name, Description: sp.Description,
		Kind: sp.Kind, Query: query, Country: sp.Country, Status: cleanroom.CohortBuilding, Similarity: sp.Similarity,
		IncludeSeeds: sp.IncludeSeeds, CreatedBy: c.UserID(), CreatedAt: s.now()}
	if sp.Kind == cleanroom.CohortModeled {
		co.Status = cleanroom.CohortTraining
	}
	for _, conn := range conns {
		co.Targets = append(co.Targets, cleanroom.CohortTarget{ConnectionID: conn.ID, PublisherID: conn.PublisherID,
			Reason: "Not built yet."})
	}
	if err := co.Validate(); err != nil {
		return nil, err
	}
	if err := s.Store.CreateCohort(ctx, co); err != nil {
		return nil, err
	}
	if err := s.enqueue(ctx, co); err != nil {
		return nil, err
	}
	return co, nil
}

// enqueue queues a build of the cohort's current generation.
func (s *Service) enqueue(ctx context.Context, co *cleanroom.Cohort) error {
	args, _ := json.Marshal(buildArgs{CohortID: co.ID, Generation: co.Generation})
	return s.Jobs.Enqueue(ctx, &cleanroom.Job{Kind: JobBuild, OrgID: co.OrgID, Args: args, MaxAttempts: 3})
}

// visible reports whether the caller's org may see the cohort: its own workspace's, or, for a
// publisher, a cohort built for it.
func visible(c *cleanroom.Caller, co *cleanroom.Cohort) bool {
	if c.Role == cleanroom.RoleLimited {
		return false
	}
	if co.OrgID == c.OrgID() {
		return true
	}
	for _, t := range co.Targets {
		if t.PublisherID == c.OrgID() {
			return true
		}
	}
	return false
}

// Get returns a cohort the caller's org owns or that is built for it (publisher side).
func (s *Service) Get(ctx context.Context, c *cleanroom.Caller, id string) (*cleanroom.Cohort, error) {
	co, err := s.Store.FindCohort(ctx, id)
	if err != nil {
		return nil, err
	}
	if !visible(c, co) {
		return nil, cleanroom.Errorf(cleanroom.ENOTFOUND, "Cohort not found.")
	}
	return forCaller(c, co), nil
}

// forCaller returns the cohort as the caller may see it: whole for its workspace; for a
// publisher, only its own target and not the query (which names the advertiser's data).
func forCaller(c *cleanroom.Caller, co *cleanroom.Cohort) *cleanroom.Cohort {
	if co.OrgID == c.OrgID() {
		return co
	}
	out := *co
	out.Query = json.RawMessage(`null`)
	// What the build left out names the advertiser's data sources and why (grants, sizes).
	if before, _, found := strings.Cut(out.StatusReason, " Built without: "); found {
		out.StatusReason = before
	} else if strings.HasPrefix(out.StatusReason, "Built without: ") {
		out.StatusReason = ""
	}
	out.Targets = nil
	for _, t := range co.Targets {
		if t.PublisherID == c.OrgID() {
			out.Targets = append(out.Targets, t)
		}
	}
	return &out
}

// changeable returns a cohort the caller may change: its workspace's, and the member role or
// higher (viewers read; invited advertisers do not build cohorts).
func (s *Service) changeable(ctx context.Context, c *cleanroom.Caller, id string) (*cleanroom.Cohort, error) {
	co, err := s.owned(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if c.Role == cleanroom.RoleLimited || !c.Role.AtLeast(cleanroom.RoleMember) {
		return nil, cleanroom.Errorf(cleanroom.EFORBIDDEN, "Changing a cohort needs the member or admin role; you are %s.", c.Role)
	}
	return co, nil
}

// owned returns a cohort of the caller's workspace.
func (s *Service) owned(ctx context.Context, c *cleanroom.Caller, id string) (*cleanroom.Cohort, error) {
	co, err := s.Get(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if co.OrgID != c.OrgID() {
		return nil, cleanroom.Errorf(cleanroom.EFORBIDDEN, "Only the workspace that created the cohort changes it.")
	}
	return co, nil
}

// List returns the caller's org's cohorts, or for a publisher org the cohorts built for it.
func (s *Service) List(ctx context.Context, c *cleanroom.Caller, publisherSide bool, p cleanroom.Page) ([]*cleanroom.Cohort, string, error) {
	f := cleanroom.CohortFilter{OrgID: c.OrgID(), Page: p}
	if publisherSide {
		f = cleanroom.CohortFilter{PublisherID: c.OrgID(), Page: p}
	}
	cs, next, err := s.Store.ListCohorts(ctx, f)
	if err != nil {
		return nil, "", err
	}
	for i, co := range cs {
		cs[i] = forCaller(c, co)
	}
	return cs, next, nil
}

// Change is what a user changes on a cohort; nil means unchanged.
type Change struct {
	Name, Description *string
	Query             *cleanroom.CohortQuery
	Country           *[]string
	ConnectionIDs     *[]string
	Similarity        *float64
	IncludeSeeds      *bool
	Paused            *bool
}

// Update applies a change. A new query, geo-lock or set of connections starts a new build; a
// new similarity or seed choice re-cuts a modeled cohort from its model; pausing stops serving
// it everywhere and resuming serves it again where it is big enough.
func (s *Service) Update(ctx context.Context, c *cleanroom.Caller, id string, ch Change) (*cleanroom.Cohort, error) {
	co, err := s.changeable(ctx, c, id)
	if err != nil {
		return nil, err
	}
	var upd cleanroom.CohortUpdate
	if ch.Name != nil {
		name := strings.TrimSpace(*ch.Name)
		if err := cleanroom.ValidateName("cohort name", name); err != nil {
			return nil, err
		}
		upd.Name = &name
	}
	if ch.Description != nil {
		if len(*ch.Description) > 2000 {
			return nil, cleanroom.Errorf(cleanroom.EINVALID, "The description is longer than 2000 characters.").With("field", "description")
		}
		upd.Description = ch.Description
	}
	rebuild := false
	if ch.Query != nil || ch.Country != nil || ch.ConnectionIDs != nil {
		sp, err := specOf(co)
		if err != nil {
			return nil, err
		}
		if ch.Query != nil {
			sp.Query = *ch.Query
		}
		if ch.Country != nil {
			sp.Country = *ch.Country
		}
		if ch.ConnectionIDs != nil {
			sp.ConnectionIDs = *ch.ConnectionIDs
		}
		conns, err := s.check(ctx, c, &sp)
		if err != nil {
			return nil, err
		}
		q, _ := json.Marshal(sp.Query)
		upd.Query, upd.Country = q, &sp.Country
		targets := make([]cleanroom.CohortTarget, len(conns))
		for i, conn := range conns {
			if old := co.Target(conn.ID); old != nil {
				targets[i] = *old
			} else {
				targets[i] = cleanroom.CohortTarget{ConnectionID: conn.ID, PublisherID: conn.PublisherID, Reason: "Not built yet."}
			}
		}
		upd.Targets = &targets
		rebuild = true
	}
	if ch.Similarity != nil || ch.IncludeSeeds != nil {
		if co.Kind != cleanroom.CohortModeled {
			return nil, cleanroom.Errorf(cleanroom.EINVALID, "Only modeled cohorts have a similarity.").With("field", "similarity")
		}
		if err := checkSimilarity(co.Kind, ch.Similarity); err != nil {
			return nil, err
		}
		if ch.Similarity != nil {
			upd.Similarity = &ch.Similarity
		}
		upd.IncludeSeeds = ch.IncludeSeeds
		rebuild = true
	}
	if rebuild {
		status := cleanroom.CohortBuilding
		switch {
		case co.Status == cleanroom.CohortPaused:
			status = cleanroom.CohortPaused // rebuilt, and still not served until resumed
		case co.Kind == cleanroom.CohortModeled && ch.Similarity == nil && co.Similarity == nil:
			status = cleanroom.CohortTraining
		}
		if ch.Paused != nil && *ch.Paused {
			return nil, cleanroom.Errorf(cleanroom.EINVALID, "Pause a cohort on its own, not while changing what it holds.").With("field", "paused")
		}
		reason, progress := "", 0.0
		upd.Status, upd.StatusReason, upd.Progress, upd.BumpGeneration = &status, &reason, &progress, true
	} else if ch.Paused != nil {
		if err := s.pause(ctx, co, *ch.Paused, &upd); err != nil {
			return nil, err
		}
	}
	old := co.Targets
	co, err = s.Store.UpdateCohort(ctx, co.ID, upd, s.now())
	if err != nil {
		return nil, err
	}
	for _, t := range old { // the member files of connections taken off the cohort
		if t.BlobKey != "" && co.Target(t.ConnectionID) == nil {
			if err := s.versions().DeleteFile(ctx, versions.File{Key: t.BlobKey}); err != nil {
				return nil, err
			}
		}
	}
	if rebuild {
		if err := s.enqueue(ctx, co); err != nil {
			return nil, err
		}
	}
	return co, nil
}

// pause fills upd to pause or resume a built cohort.
func (s *Service) pause(ctx context.Context, co *cleanroom.Cohort, paused bool, upd *cleanroom.CohortUpdate) error {
	switch {
	case paused && co.Status == cleanroom.CohortPaused, !paused && co.Status != cleanroom.CohortPaused:
		return nil
	case paused && co.Status != cleanroom.CohortActive:
		return cleanroom.Errorf(cleanroom.ECONFLICT, "Only an active cohort can be paused; this one is %s.", co.Status).With("field", "paused")
	}
	targets := slices.Clone(co.Targets)
	for i := range targets {
		big := false
		if conn, err := s.Store.FindConnection(ctx, targets[i].ConnectionID); err == nil {
			if big, err = s.servable(ctx, conn, co, co.Inputs, targets[i].Size); err != nil {
				return err
			}
		} else if cleanroom.ErrorCode(err) != cleanroom.ENOTFOUND {
			return err
		}
		s.activate(&targets[i], paused, big)
	}
	status, reason := settle(targets, paused, false)
	upd.Status, upd.StatusReason, upd.Targets = &status, &reason, &targets
	return nil
}

// activate sets whether a built target is served: not when paused, failed or too small (big is
// servable's decision on its size).
func (s *Service) activate(t *cleanroom.CohortTarget, paused, big bool) {
	switch {
	case t.BlobKey == "":
		t.Active = false
		if t.Reason == "" {
			t.Reason = "Not built."
		}
	case paused:
		t.Active, t.Reason = false, "The cohort is paused."
	case !big:
		t.Active = false
		t.Reason = fmt.Sprintf("The cohort has fewer users here than the activation minimum of %d.", s.activationMinimum())
	default:
		t.Active, t.Reason = true, ""
	}
}

// settle returns the status of a built cohort and its reason, from its targets (each marked
// served or not by activate): paused when the user paused it; awaiting_selection while a
// lookalike waits for a similarity; active when it is served at one publisher at least; and
// otherwise inactive, since it is served nowhere (after an unlink, a revoked grant, a deleted
// connection, or too few users), with a reason that says so and why.
func settle(ts []cleanroom.CohortTarget, paused, awaiting bool) (cleanroom.CohortStatus, string) {
	switch {
	case paused:
		return cleanroom.CohortPaused, "Paused: not served at any publisher."
	case awaiting:
		return cleanroom.CohortAwaitingSelection, "Training finished: choose a similarity on the curve."
	}
	var why []string
	for _, t := range ts {
		if t.Active {
			return cleanroom.CohortActive, ""
		}
		if t.Reason != "" && !slices.Contains(why, t.Reason) {
			why = append(why, t.Reason)
		}
	}
	if len(why) == 0 {
		why = append(why, "No connection could serve it.")
	}
	return cleanroom.CohortInactive, "Not served at any publisher: " + strings.Join(why, " ")
}

// specOf returns the spec a stored cohort was made from.
func specOf(co *cleanroom.Cohort) (Spec, error) {
	sp := Spec{Name: co.Name, Description: co.Description, Kind: co.Kind, Country: co.Country,
		Similarity: co.Similarity, IncludeSeeds: co.IncludeSeeds}
	if err := json.Unmarshal(co.Query, &sp.Query); err != nil {
		return sp, fmt.Errorf("cohorts: stored query of %s: %w", co.ID, err)
	}
	for _, t := range co.Targets {
		sp.ConnectionIDs = append(sp.ConnectionIDs, t.ConnectionID)
	}
	return sp, nil
}

// Delete removes a cohort and its member files. Its codes are never given to another cohort.
func (s *Service) Delete(ctx context.Context, c *cleanroom.Caller, id string) (*cleanroom.Cohort, error) {
	co, err := s.changeable(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if err := s.Store.DeleteCohort(ctx, co.ID); err != nil {
		return nil, err
	}
	if _, err := s.versions().Shred(ctx, versions.CohortOwner(co)); err != nil {
		return nil, err
	}
	return co, nil
}

// Estimate is a cohort's predicted size at one publisher.
type Estimate struct {
	ConnectionID string `json:"connection_id"`
	PublisherID  string `json:"publisher_id"`
	// Users is the number of users the query matches there (the seeds, for a modeled cohort),
	// as released: about that many when Noisy; null below the threshold, or when the budget is
	// spent (the whole estimate is then refused).
	Users          *int64 `json:"users"`
	BelowThreshold bool   `json:"below_threshold"`
	Noisy          bool   `json:"noisy"`
	// Threshold is the k in force on this connection.
	Threshold int64 `json:"threshold"`
	// Activates says whether a matched cohort of this size would be served, or whether a
	// lookalike has enough matched users to learn from.
	Activates bool `json:"activates"`
	// Reason says why it would not, or why the estimate could not be made.
	Reason string `json:"reason,omitempty"`
	// LeftOut lists what the query could not use at this publisher.
	LeftOut []string `json:"left_out"`
	// Active is how many of Users asked the publisher's edge for targeting in the 30 days up to
	// its day, released as Users is (state no_traffic before any traffic).
	Active *Active `json:"active_users,omitempty"`
}

// Estimates is the answer to an estimate.
type Estimates struct {
	Estimates         []Estimate `json:"estimates"`
	Threshold         int64      `json:"threshold"`
	ActivationMinimum int64      `json:"activation_minimum"`
}

// Estimate predicts a cohort's size at each connection without creating it: the same checks
// as Create, then the match, now, on the current versions.
func (s *Service) Estimate(ctx context.Context, c *cleanroom.Caller, sp Spec) (*Estimates, error) {
	if sp.Kind == "" {
		sp.Kind = cleanroom.CohortMatched
	}
	conns, err := s.check(ctx, c, &sp)
	if err != nil {
		return nil, err
	}
	co := &cleanroom.Cohort{OrgID: c.OrgID(), Kind: sp.Kind, Country: sp.Country, CreatedBy: c.UserID()}
	co.Query, _ = json.Marshal(sp.Query)
	for _, conn := range conns {
		co.Targets = append(co.Targets, cleanroom.CohortTarget{ConnectionID: conn.ID, PublisherID: conn.PublisherID})
	}
	in, err := s.gather(ctx, co, &sp)
	if err != nil {
		return nil, err
	}
	out := &Estimates{Estimates: []Estimate{}, Threshold: s.Threshold(), ActivationMinimum: s.activationMinimum()}
	for i := range in.Targets {
		ti := &in.Targets[i]
		e := Estimate{ConnectionID: co.Targets[i].ConnectionID, PublisherID: co.Targets[i].PublisherID, LeftOut: []string{}}
		if ti.Reason != "" {
			e.Reason = ti.Reason
			out.Estimates = append(out.Estimates, e)
			continue
		}
		ev, err := s.evaluate(ctx, c, &sp, in, ti)
		if err != nil {
			return nil, err
		}
		if s.Disclosure == nil {
			return nil, errNoGate
		}
		// A matched cohort's estimate is the size its build would show (the same question); a
		// modeled one's counts the seeds, another question.
		q := sizeQuestion(co, in.Digest)
		if sp.Kind == cleanroom.CohortModeled {
			q = seedsQuestion(co, in.Digest)
		}
		a, err := s.Disclosure.Release(ctx, c, ti.Conn, q, int64(ev.Members.GetCardinality()))
		if err != nil {
			return nil, err
		}
		sh := shownOf(a.Counts[0], a.Params.Noisy())
		e.Users, e.BelowThreshold, e.Noisy, e.Threshold = sh.Value, a.Counts[0].Suppressed, a.Params.Noisy(), a.Params.K
		// Decisions read the released count only.
		n := a.Counts[0].Value
		if ev.Left != nil {
			e.LeftOut = ev.Left
		}
		if e.Active, err = s.estimateActive(ctx, c, ti.Conn, q, ti.Pub, ev.Members, a.Counts[0]); err != nil {
			return nil, err
		}
		switch e.Activates = !a.Counts[0].Suppressed && n >= s.activationMinimum(); {
		case sp.Kind == cleanroom.CohortModeled && (a.Counts[0].Suppressed || n < lookalike.DefaultMinSeeds):
			e.Activates = false
			e.Reason = fmt.Sprintf("A lookalike needs at least %d matched users to learn from.", lookalike.DefaultMinSeeds)
		case sp.Kind == cleanroom.CohortModeled:
			// The lookalike's reach is chosen on its curve, at or above the seeds' count.
			e.Activates = true
		case !e.Activates:
			e.Reason = fmt.Sprintf("Fewer users than the activation minimum of %d.", s.activationMinimum())
		}
		out.Estimates = append(out.Estimates, e)
	}
	return out, nil
}

// PublisherCohort is a cohort of the publisher a partner may name in its queries.
type PublisherCohort struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	IABID    int    `json:"iab_id,omitempty"`
	Standard bool   `json:"standard"`
}

// PublisherCohorts lists the publisher cohorts the caller's workspace may use in queries through
// a connection: the standard cohorts when the connection allows them (less those the publisher
// opted out of), and the custom cohorts shared through it. Their sizes are the publisher's and are
// not shown.
func (s *Service) PublisherCohorts(ctx context.Context, c *cleanroom.Caller, connectionID string) ([]PublisherCohort, error) {
	conn, err := s.Conns.Connection(ctx, c, connectionID, cleanroom.CapViewConnection)
	if err != nil {
		return nil, err
	}
	if conn.PartnerID != c.OrgID() {
		return nil, cleanroom.Errorf(cleanroom.EFORBIDDEN, "This lists what the partner may use; the publisher's own cohorts are in its taxonomy.")
	}
	out := []PublisherCohort{}
	tax, err := pipeline.LoadPublisherTaxonomy(ctx, s.Store, conn.PublisherID)
	if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
		return out, nil
	} else if err != nil {
		return nil, err
	}
	// What the workspace may use, whatever the caller's own role (a viewer reads the list too).
	ws := cleanroom.NewCaller(c.OrgID(), cleanroom.RoleAdmin)
	for _, pc := range tax.Cohorts() {
		if s.checkPublisherCohort(ctx, conn, ws, pc.ID, pc.Standard) == nil {
			out = append(out, PublisherCohort{ID: pc.ID, Name: pc.Name, IABID: pc.IABID, Standard: pc.Standard})
		}
	}
	return out, nil
}
