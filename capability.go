package cleanroom

import "time"

// RoleLimited is the role of an advertiser's user invited into a publisher's demand-side
// workspace (publisher-driven workflow): they upload their advertiser's data there and grant it to
// the workspace, and see nothing of other advertisers; they cannot create cohorts.
const RoleLimited Role = "limited"

// Capability is something a partner can do through a connection.
type Capability string

// Capabilities, each gated by the caller's side, role, the workflow and a permission toggle.
const (
	CapViewConnection       Capability = "view_connection"
	CapManageConnection     Capability = "manage_connection"
	CapManageDataSources    Capability = "manage_data_sources"
	CapCreateMatchedCohort  Capability = "create_matched_cohort"
	CapCreateModeledCohort  Capability = "create_modeled_cohort"
	CapViewInsights         Capability = "view_insights"
	CapViewAdvancedInsights Capability = "view_advanced_insights"
	CapUseStandardCohorts   Capability = "use_standard_cohorts"
	CapTargetCustomCohorts  Capability = "target_custom_cohorts"
)

// Capabilities lists every capability, in a stable order.
var Capabilities = []Capability{
	CapViewConnection, CapManageConnection, CapManageDataSources, CapCreateMatchedCohort, CapCreateModeledCohort,
	CapViewInsights, CapViewAdvancedInsights, CapUseStandardCohorts, CapTargetCustomCohorts,
}

// toggle returns the permission a capability needs, or nil if none does.
func (p *Permissions) toggle(c Capability) (on bool, name string, gated bool) {
	switch c {
	case CapCreateMatchedCohort:
		return p.MatchedCohorts, "matched cohorts", true
	case CapCreateModeledCohort:
		return p.ModeledAudiences, "modeled audiences", true
	case CapViewInsights:
		return p.Insights, "insights", true
	case CapViewAdvancedInsights:
		return p.AdvancedInsights, "advanced insights", true
	case CapUseStandardCohorts:
		return p.StandardCohorts, "standard cohorts", true
	case CapTargetCustomCohorts:
		return p.CustomCohorts, "custom cohorts", true
	}
	return true, "", false
}

// Check returns nil when a may use capability c on the connection, and otherwise an error saying
// why: ENOTFOUND for orgs that are on neither side, EFORBIDDEN naming the role, side or
// permission that is missing. It is the one place these rules live.
func (conn *Connection) Check(a *Caller, c Capability) error {
	supply := a.OrgID() == conn.PublisherID
	partner := a.OrgID() == conn.PartnerID
	if !supply && !partner {
		return Errorf(ENOTFOUND, "Connection not found.")
	}
	staff := a.Role == RoleAdmin || a.Role == RoleMember
	forbid := func(format string, args ...any) *Error {
		return Errorf(EFORBIDDEN, format, args...).With("capability", c)
	}
	if supply {
		switch {
		case c == CapViewConnection:
			return nil
		case c == CapManageConnection && staff:
			return nil
		case c == CapManageConnection:
			return forbid("Managing connections needs the member or admin role.")
		}
		return forbid("The publisher's supply-side workspace does not do this; it is done in the partner's demand-side workspace.")
	}
	// The partner side.
	if c == CapViewConnection {
		return nil
	}
	if c == CapManageConnection {
		return forbid("Only the publisher manages a connection's permissions.")
	}
	if c == CapManageDataSources {
		if staff || (a.Role == RoleLimited && conn.Workflow == WorkflowPublisherDriven) {
			return nil
		}
		return forbid("Managing data sources needs the member or admin role.")
	}
	if a.Role == RoleLimited {
		return forbid("Invited advertisers upload and grant data; the publisher builds the cohorts and reads the insights.").
			Hint("Ask the publisher to create the cohort in its demand-side workspace.")
	}
	readOnly := c == CapViewInsights || c == CapViewAdvancedInsights
	if !staff && !(readOnly && a.Role == RoleViewer) {
		return forbid("This needs the member or admin role; you are %s.", a.Role)
	}
	if on, name, gated := conn.Permissions.toggle(c); gated && !on {
		return forbid("The publisher has not given this connection the %s permission.", name).
			Hint("Ask the publisher to turn on %s for this connection.", name)
	}
	return nil
}

// CheckCustomCohort checks that a custom cohort is shared through the connection.
func (conn *Connection) CheckCustomCohort(a *Caller, cohortID string) error {
	if err := conn.Check(a, CapTargetCustomCohorts); err != nil {
		return err
	}
	for _, id := range conn.Permissions.SharedCustomCohorts {
		if id == cohortID {
			return nil
		}
	}
	return Errorf(EFORBIDDEN, "The publisher does not share custom cohort %q through this connection.", cohortID).
		With("capability", CapTargetCustomCohorts)
}

// Allowed returns the capabilities a has on the connection (for the dashboard and API clients).
func (conn *Connection) Allowed(a *Caller) []Capability {
	var out []Capability
	for _, c := range Capabilities {
		if conn.Check(a, c) == nil {
			out = append(out, c)
		}
	}
	return out
}

// PartnerStatus says whether a connection's partner may use it now: an advertiser needs a signed
// DPA or unexpired provisional access from the operator.
func PartnerStatus(partner *Org, provisional []*ProvisionalAccess, publisherID string, now time.Time) (ok bool, reason string) {
	if partner.Kind != OrgAdvertiser {
		return true, ""
	}
	if !partner.DPASignedAt.IsZero() && partner.CleanRoomEnabled() {
		return true, ""
	}
	for _, p := range provisional {
		if p.OrgID == partner.ID && p.PublisherID == publisherID && now.Before(p.ExpiresAt) {
			return true, ""
		}
	}
	if partner.DPASignedAt.IsZero() {
		return false, "The advertiser has not signed the data processing agreement."
	}
	return false, "The advertiser has not finished setup: its clean room is not enabled."
}
