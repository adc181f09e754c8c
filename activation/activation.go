// Package activation is the service that takes cohorts to the publisher's ad servers: the
// publisher's ad-server settings (GAM, Xandr, page origins, where the page tag finds the user
// ID), the two activation switches per cohort and connection (direct and programmatic), the
// deals (GAM PMP proposals and line items), the advertiser's frequency caps, the export for
// setting up line items by hand, and the publishing of the edge snapshot.
//
// It owns the serving rule: a cohort's code is served at a publisher only while the cohort is
// active there (built, above the activation minimum, not paused), a switch is on, and everything
// its build relied on (the connection, its permissions, the partner's standing, the grants of
// its data) still holds now. Publish applies the rule whenever an input changes, and the edge
// swaps the new snapshot in; nothing else decides what is served.
package activation

import (
	"cmp"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/cohorts"
	"github.com/cleanroom-oss/cleanroom/edge"
	"github.com/cleanroom-oss/cleanroom/keyring"
	"github.com/cleanroom-oss/cleanroom/versions"
)

// Enqueuer queues background jobs (jobs.Runner).
type Enqueuer interface {
	Enqueue(ctx context.Context, j *cleanroom.Job) error
}

// Service is the activation service.
type Service struct {
	Store    cleanroom.Store
	Cohorts  *cohorts.Service
	Versions *versions.Store
	Keys     *keyring.Master
	Jobs     Enqueuer
	Logger   *slog.Logger
	Now      func() time.Time
	// DataName is the name of the OpenRTB user.data entry (the provider's domain), Segtax its
	// ext.segtax (0 leaves ext out).
	DataName string
	Segtax   int
	// Published, when set, is called after a publisher's new snapshot is recorded (the
	// in-process edge loads it at once).
	Published func(publisherID string)

	// OnNudge, when set, is called by Nudge after waking this process's publishing check: app
	// passes the nudge to the other processes of the deployment (Wake wakes them).
	OnNudge func()

	nudges  chan struct{}
	mu      sync.Mutex
	pending map[string]int64 // publisher -> queued publish job
	rerun   map[string]bool  // publisher -> checked while its publish job was running
}

// New returns the service.
func New(store cleanroom.Store, co *cohorts.Service, vs *versions.Store, keys *keyring.Master, jobs Enqueuer, logger *slog.Logger) *Service {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Service{Store: store, Cohorts: co, Versions: vs, Keys: keys, Jobs: jobs, Logger: logger, Now: time.Now,
		DataName: "cleanroom", nudges: make(chan struct{}, 1), pending: map[string]int64{}}
}

func (s *Service) now() time.Time { return cleanroom.UTC(s.Now()) }

// publisher returns the caller's org if it is a publisher and the caller has at least role min.
func (s *Service) publisher(ctx context.Context, c *cleanroom.Caller, min cleanroom.Role) (*cleanroom.Org, error) {
	if err := c.InOrg(min); err != nil {
		return nil, err
	}
	org, err := s.Store.FindOrg(ctx, c.OrgID())
	if err != nil {
		return nil, err
	}
	if org.Kind != cleanroom.OrgPublisher {
		return nil, cleanroom.Errorf(cleanroom.EFORBIDDEN, "Only publishers have ad-server settings and activation switches.").
			Hint("Sign in to the publisher's organization.")
	}
	return org, nil
}

// Settings returns the caller's publisher's ad-server settings (the defaults until saved).
func (s *Service) Settings(ctx context.Context, c *cleanroom.Caller) (*cleanroom.AdServerSettings, error) {
	org, err := s.publisher(ctx, c, cleanroom.RoleViewer)
	if err != nil {
		return nil, err
	}
	return s.settings(ctx, org.ID)
}

func (s *Service) settings(ctx context.Context, publisherID string) (*cleanroom.AdServerSettings, error) {
	st, err := s.Store.FindAdServerSettings(ctx, publisherID)
	if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
		return cleanroom.DefaultAdServerSettings(publisherID), nil
	}
	return st, err
}

// PutSettings replaces the caller's publisher's settings; it needs the admin role.
func (s *Service) PutSettings(ctx context.Context, c *cleanroom.Caller, st cleanroom.AdServerSettings) (*cleanroom.AdServerSettings, error) {
	org, err := s.publisher(ctx, c, cleanroom.RoleAdmin)
	if err != nil {
		return nil, err
	}
	st.PublisherID = org.ID
	if st.Origins == nil {
		st.Origins = []string{}
	}
	if err := st.Validate(); err != nil {
		return nil, err
	}
	for _, k := range []struct{ field, v string }{{"gam_key", st.GAMKey}, {"xandr_key", st.XandrKey}} {
		if err := edge.CheckKey(k.v); err != nil {
			return nil, cleanroom.Errorf(cleanroom.EINVALID, "The %s is not valid.", k.field).With("field", k.field).
				Hint("Use 1 to %d letters, digits or underscores, starting with a letter or underscore (for example crc).", edge.MaxKeyLength)
		}
	}
	slices.Sort(st.Origins)
	st.Origins = slices.Compact(st.Origins)
	st.UpdatedAt, st.UpdatedBy = s.now(), c.UserID()
	if err := s.Store.PutAdServerSettings(ctx, &st); err != nil {
		return nil, err
	}
	s.Nudge()
	return &st, nil
}

// publisherTarget returns a cohort built for the caller's publisher and its target at the
// connection; another publisher's cohort, or a connection the cohort is not built for, is not
// found.
func (s *Service) publisherTarget(ctx context.Context, c *cleanroom.Caller, cohortID, connectionID string, min cleanroom.Role) (*cleanroom.Cohort, *cleanroom.CohortTarget, error) {
	if err := c.InOrg(min); err != nil {
		return nil, nil, err
	}
	co, err := s.Store.FindCohort(ctx, cohortID)
	if err != nil {
		return nil, nil, err
	}
	t := co.Target(connectionID)
	switch {
	case t != nil && t.PublisherID == c.OrgID():
	case co.OrgID == c.OrgID():
		return nil, nil, cleanroom.Errorf(cleanroom.EFORBIDDEN, "Only the publisher of the connection switches a cohort on or enters its deal.")
	default:
		return nil, nil, cleanroom.Errorf(cleanroom.ENOTFOUND, "Cohort not found at this connection.")
	}
	return co, t, nil
}

// activation returns the stored activation of a cohort at a connection, or a new one.
func (s *Service) activation(ctx context.Context, co *cleanroom.Cohort, t *cleanroom.CohortTarget) (*cleanroom.CohortActivation, error) {
	as, err := s.Store.ListCohortActivations(ctx, co.ID, "")
	if err != nil {
		return nil, err
	}
	for _, a := range as {
		if a.ConnectionID == t.ConnectionID {
			return a, nil
		}
	}
	return &cleanroom.CohortActivation{CohortID: co.ID, ConnectionID: t.ConnectionID, PublisherID: t.PublisherID}, nil
}

// SetSwitches sets the publisher's switches for a cohort at a connection (member role).
func (s *Service) SetSwitches(ctx context.Context, c *cleanroom.Caller, cohortID, connectionID string, sw cleanroom.ActivationSwitches) (*cleanroom.CohortActivation, error) {
	co, t, err := s.publisherTarget(ctx, c, cohortID, connectionID, cleanroom.RoleMember)
	if err != nil {
		return nil, err
	}
	a, err := s.activation(ctx, co, t)
	if err != nil {
		return nil, err
	}
	a.ActivationSwitches, a.UpdatedAt = sw, s.now()
	if err := s.Store.PutCohortActivation(ctx, a); err != nil {
		return nil, err
	}
	s.Nudge()
	return a, nil
}

// SetDeal sets (or, with nil, removes) the deal of a cohort at a connection (publisher, member
// role). Removing the deal of a capped cohort's last line items leaves the cap without effect,
// which the cohort's activation view says.
func (s *Service) SetDeal(ctx context.Context, c *cleanroom.Caller, cohortID, connectionID string, d *cleanroom.Deal) (*cleanroom.CohortActivation, error) {
	co, t, err := s.publisherTarget(ctx, c, cohortID, connectionID, cleanroom.RoleMember)
	if err != nil {
		return nil, err
	}
	if d != nil {
		if err := d.Validate(); err != nil {
			return nil, err
		}
		if err := s.lineItemsFree(ctx, t.PublisherID, co.ID, d); err != nil {
			return nil, err
		}
	}
	a, err := s.activation(ctx, co, t)
	if err != nil {
		return nil, err
	}
	a.Deal, a.UpdatedAt = d, s.now()
	if err := s.Store.PutCohortActivation(ctx, a); err != nil {
		return nil, err
	}
	s.Nudge()
	return a, nil
}

// lineItemsFree checks that no other cohort of the publisher lists one of d's line items: an
// impression is counted against the one cohort its line item targets.
func (s *Service) lineItemsFree(ctx context.Context, publisherID, cohortID string, d *cleanroom.Deal) error {
	as, err := s.Store.ListCohortActivations(ctx, "", publisherID)
	if err != nil {
		return err
	}
	for _, a := range as {
		if a.CohortID == cohortID || a.Deal == nil {
			continue
		}
		for _, li := range a.Deal.LineItems {
			if i := slices.IndexFunc(d.LineItems, func(x cleanroom.LineItem) bool { return x.ID == li.ID }); i >= 0 {
				return cleanroom.Errorf(cleanroom.ECONFLICT, "Line item %d: %s is already in the deal of another cohort.", i+1, li.ID).
					With("field", "line_items").With("row", i+1).
					Hint("A GAM line item targets one cohort code; create a line item per cohort.")
			}
		}
		for _, id := range a.Deal.XandrDeals {
			if i := slices.Index(d.XandrDeals, id); i >= 0 {
				return cleanroom.Errorf(cleanroom.ECONFLICT, "Xandr deal %d: %s is already in the deal of another cohort.", i+1, id).
					With("field", "xandr_deals").With("row", i+1).
					Hint("A Xandr deal targets one cohort code; create a deal per cohort.")
			}
		}
	}
	return nil
}

// ownedCohort returns a cohort of the caller's workspace (the advertiser side).
func (s *Service) ownedCohort(ctx context.Context, c *cleanroom.Caller, cohortID string, min cleanroom.Role) (*cleanroom.Cohort, error) {
	if err := c.InOrg(min); err != nil {
		return nil, err
	}
	co, err := s.Cohorts.Get(ctx, c, cohortID)
	if err != nil {
		return nil, err
	}
	if co.OrgID != c.OrgID() {
		return nil, cleanroom.Errorf(cleanroom.EFORBIDDEN, "Only the workspace that created the cohort sets its frequency cap.")
	}
	return co, nil
}

// SetCap sets the advertiser's frequency cap on a cohort (member role). The cap works through
// the line items of the cohort's deals, so a cohort without any is refused.
func (s *Service) SetCap(ctx context.Context, c *cleanroom.Caller, cohortID string, f cleanroom.FrequencyCap) (*cleanroom.FrequencyCap, error) {
	co, err := s.ownedCohort(ctx, c, cohortID, cleanroom.RoleMember)
	if err != nil {
		return nil, err
	}
	f.CohortID = co.ID
	if err := f.Validate(); err != nil {
		return nil, err
	}
	as, err := s.Store.ListCohortActivations(ctx, co.ID, "")
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(as, func(a *cleanroom.CohortActivation) bool {
		return a.Deal != nil && (len(a.Deal.LineItems) > 0 || len(a.Deal.XandrDeals) > 0)
	}) {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "A frequency cap needs the cohort's line item IDs (or Xandr deal IDs), and no publisher has entered any.").
			With("field", "max_impressions").
			Hint("Ask the publisher to enter the deal's order line item IDs for this cohort; the edge counts impressions through them.")
	}
	f.UpdatedAt = s.now()
	if err := s.Store.PutFrequencyCap(ctx, &f); err != nil {
		return nil, err
	}
	s.Nudge()
	return &f, nil
}

// DeleteCap removes a cohort's frequency cap (member role).
func (s *Service) DeleteCap(ctx context.Context, c *cleanroom.Caller, cohortID string) error {
	co, err := s.ownedCohort(ctx, c, cohortID, cleanroom.RoleMember)
	if err != nil {
		return err
	}
	if err := s.Store.DeleteFrequencyCap(ctx, co.ID); err != nil {
		return err
	}
	s.Nudge()
	return nil
}

// TargetActivation is a cohort at one publisher as either side sees its activation.
type TargetActivation struct {
	ConnectionID string `json:"connection_id"`
	PublisherID  string `json:"publisher_id"`
	Code         int64  `json:"code"`
	cleanroom.ActivationSwitches
	Deal *cleanroom.Deal `json:"deal,omitempty"`
	// Served says whether the edge serves the code now, Since since when (the snapshot that
	// first served it), Reason why not.
	Served bool      `json:"served"`
	Since  time.Time `json:"since,omitzero"`
	Reason string    `json:"reason,omitempty"`
	// GAMExpression and XandrKeyword are what line items target.
	GAMExpression string `json:"gam_expression"`
	XandrKeyword  string `json:"xandr_keyword"`
	// CapTimeZone is the publisher's time zone, in which a cap's days, weeks and months run.
	CapTimeZone string `json:"cap_time_zone"`
}

// CohortActivation is a cohort's activation as the caller sees it: the workspace sees every
// publisher, a publisher only its own.
type CohortActivation struct {
	CohortID string                  `json:"cohort_id"`
	Cap      *cleanroom.FrequencyCap `json:"frequency_cap,omitempty"`
	// CapNote says why a cap set has no effect (no line items, or none in a deal switched on).
	CapNote string             `json:"frequency_cap_note,omitempty"`
	Targets []TargetActivation `json:"targets"`
}

// Activation returns a cohort's activation: where it is served, its switches and deals, its
// cap. The workspace that owns the cohort sees every publisher; a publisher sees its own target.
func (s *Service) Activation(ctx context.Context, c *cleanroom.Caller, cohortID string) (*CohortActivation, error) {
	if err := c.InOrg(cleanroom.RoleViewer); err != nil {
		return nil, err
	}
	co, err := s.Cohorts.Get(ctx, c, cohortID) // a publisher's view holds only its own target
	if err != nil {
		return nil, err
	}
	as, err := s.Store.ListCohortActivations(ctx, co.ID, "")
	if err != nil {
		return nil, err
	}
	out := &CohortActivation{CohortID: co.ID, Targets: []TargetActivation{}}
	if f, err := s.Store.FindFrequencyCap(ctx, co.ID); err == nil {
		out.Cap = f
	} else if cleanroom.ErrorCode(err) != cleanroom.ENOTFOUND {
		return nil, err
	}
	lineItems, live := 0, 0 // live: in deals whose programmatic switch is on, through which the cap counts
	for _, t := range co.Targets {
		ta := TargetActivation{ConnectionID: t.ConnectionID, PublisherID: t.PublisherID, Code: t.Code}
		for _, a := range as {
			if a.ConnectionID == t.ConnectionID {
				ta.ActivationSwitches, ta.Deal = a.ActivationSwitches, a.Deal
				if a.Deal != nil {
					n := len(a.Deal.LineItems) + len(a.Deal.XandrDeals)
					lineItems += n
					if a.Programmatic {
						live += n
					}
				}
			}
		}
		st, err := s.settings(ctx, t.PublisherID)
		if err != nil {
			return nil, err
		}
		ta.GAMExpression, ta.XandrKeyword = gamExpression(st.GAMKey, t.Code), xandrKeyword(st.XandrKey, t.Code)
		ta.CapTimeZone = cmp.Or(st.TimeZone, "UTC")
		m, err := s.Manifest(ctx, t.PublisherID)
		if err != nil {
			return nil, err
		}
		if sc := m.served(co.ID, t.ConnectionID); sc != nil {
			ta.Served, ta.Since = true, sc.Since
		} else {
			ta.Reason = m.reason(co.ID, t.ConnectionID)
		}
		out.Targets = append(out.Targets, ta)
	}
	switch {
	case out.Cap == nil:
	case lineItems == 0:
		out.CapNote = "No publisher has entered line item IDs or Xandr deal IDs for this cohort, so the cap cannot be applied."
	case live == 0:
		out.CapNote = "The publisher's programmatic switch is off for this cohort, so its deal's line items are not counted and the cap is not applied."
	}
	return out, nil
}

func gamExpression(key string, code int64) string { return fmt.Sprintf("%s is any of %d", key, code) }
func xandrKeyword(key string, code int64) string  { return fmt.Sprintf("%s=%d", key, code) }

// ExportRow is one cohort at the publisher, for setting up line items by hand.
type ExportRow struct {
	Code          int64  `json:"code"`
	CohortID      string `json:"cohort_id"`
	ConnectionID  string `json:"connection_id"`
	Name          string `json:"name"`
	GAMExpression string `json:"gam_expression"`
	XandrKeyword  string `json:"xandr_keyword"`
	Served        bool   `json:"served"`
}

// Export lists the cohorts built for the caller's publisher with their codes, names (as the
// advertiser named them: a publisher sees the names of the cohorts built for it), GAM targeting
// expressions and Xandr keywords, by code.
func (s *Service) Export(ctx context.Context, c *cleanroom.Caller) ([]ExportRow, error) {
	org, err := s.publisher(ctx, c, cleanroom.RoleViewer)
	if err != nil {
		return nil, err
	}
	st, err := s.settings(ctx, org.ID)
	if err != nil {
		return nil, err
	}
	m, err := s.Manifest(ctx, org.ID)
	if err != nil {
		return nil, err
	}
	rows := []ExportRow{}
	p := cleanroom.Page{Limit: cleanroom.MaxPageLimit}
	for {
		cs, next, err := s.Cohorts.List(ctx, c, true, p)
		if err != nil {
			return nil, err
		}
		for _, co := range cs {
			for _, t := range co.Targets {
				if t.PublisherID != org.ID {
					continue
				}
				rows = append(rows, ExportRow{Code: t.Code, CohortID: co.ID, ConnectionID: t.ConnectionID, Name: co.Name,
					GAMExpression: gamExpression(st.GAMKey, t.Code), XandrKeyword: xandrKeyword(st.XandrKey, t.Code),
					Served: m.served(co.ID, t.ConnectionID) != nil})
			}
		}
		if next == "" {
			break
		}
		p.After = next
	}
	slices.SortFunc(rows, func(a, b ExportRow) int { return int(a.Code - b.Code) })
	return rows, nil
}

// WriteCSV writes the export as CSV (a name that a spreadsheet would read as a formula, one
// starting with =, +, -, @, a tab or a carriage return, is prefixed with a quote).
func WriteCSV(w io.Writer, rows []ExportRow) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"code", "name", "gam_targeting", "xandr_keyword", "served", "cohort_id", "connection_id"})
	for _, x := range rows {
		name := x.Name
		if name != "" && strings.ContainsRune("=+-@\t\r", rune(name[0])) {
			name = "'" + name
		}
		cw.Write([]string{strconv.FormatInt(x.Code, 10), name, x.GAMExpression, x.XandrKeyword, strconv.FormatBool(x.Served), x.CohortID, x.ConnectionID})
	}
	cw.Flush()
	return cw.Error()
}

// ProposalName is the GAM proposal name of the naming convention: "Publisher - Platform -
// Advertiser - Agency" (the agency left out when there is none).
func ProposalName(publisher, platform, advertiser, agency string) string {
	parts := []string{publisher, platform, advertiser}
	if agency != "" {
		parts = append(parts, agency)
	}
	return strings.Join(parts, " - ")
}

// DealName is the deal name of the naming convention: "Platform - {Advertiser} - {Cohort ID}".
func DealName(platform, advertiser, cohortID string) string {
	return platform + " - " + advertiser + " - " + cohortID
}
