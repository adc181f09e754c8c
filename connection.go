package cleanroom

import (
	"context"
	"time"
)

// Workflow is how a publisher works with an advertiser through a connection.
type Workflow string

// Workflows.
const (
	// WorkflowOperatorDriven (one-to-many): the connection names the advertiser's own org, which
	// keeps full demand-side rights: it manages its data sources and creates the cohorts for this
	// publisher.
	WorkflowOperatorDriven Workflow = "operator_driven"
	// WorkflowPublisherDriven (one-to-one): the connection names the publisher's own demand-side
	// workspace. The publisher creates cohorts there on the advertisers' behalf; advertisers are
	// invited into the workspace with the limited role and grant their data to it.
	WorkflowPublisherDriven Workflow = "publisher_driven"
)

// Permissions are the toggles a publisher sets per connection. Every feature checks the one it
// needs, at the time of use.
type Permissions struct {
	// StandardCohorts lets the partner use the publisher's standard cohorts (IAB-mapped) in
	// queries, except those the publisher opted out of.
	StandardCohorts bool `json:"standard_cohorts"`
	// MatchedCohorts lets the partner build cohorts of users known to both sides.
	MatchedCohorts bool `json:"matched_cohorts"`
	// ModeledAudiences lets the partner build lookalike cohorts.
	ModeledAudiences bool `json:"modeled_audiences"`
	// Insights lets the partner read basic insights (size, match rate, index and overlap).
	Insights bool `json:"insights"`
	// AdvancedInsights lets the partner read content and engagement breakdowns.
	AdvancedInsights bool `json:"advanced_insights"`
	// CustomCohorts shares the publisher custom cohorts listed in SharedCustomCohorts for direct
	// targeting and for use in queries.
	CustomCohorts       bool     `json:"custom_cohorts"`
	SharedCustomCohorts []string `json:"shared_custom_cohorts"`
}

// Connection links a publisher (supply side) with a partner org: an advertiser (operator-driven)
// or the publisher's own demand-side workspace (publisher-driven).
type Connection struct {
	ID          string      `json:"id"`
	PublisherID string      `json:"publisher_id"`
	PartnerID   string      `json:"partner_id"`
	Workflow    Workflow    `json:"workflow"`
	Permissions Permissions `json:"permissions"`
	CreatedAt   time.Time   `json:"created_at"`
	UpdatedAt   time.Time   `json:"updated_at"`
}

// Validate checks the permissions' shared cohort list.
func (p *Permissions) Validate() error {
	if !p.CustomCohorts && len(p.SharedCustomCohorts) > 0 {
		return Errorf(EINVALID, "Custom cohorts are listed for sharing but the custom cohorts permission is off.").
			With("field", "permissions.shared_custom_cohorts").Hint("Turn custom_cohorts on, or send an empty list.")
	}
	seen := map[string]bool{}
	for _, id := range p.SharedCustomCohorts {
		if err := ValidateSegmentID("custom cohort ID", id); err != nil {
			return err
		}
		if seen[id] {
			return Errorf(EINVALID, "Custom cohort %q is listed twice.", id).With("field", "permissions.shared_custom_cohorts")
		}
		seen[id] = true
	}
	return nil
}

// ValidateSegmentID checks a segment or cohort ID: 1 to 128 printable ASCII characters without
// commas, tabs or spaces (they separate IDs in upload files).
func ValidateSegmentID(what, id string) error {
	if id == "" || len(id) > 128 {
		return Errorf(EINVALID, "The %s %q must be 1 to 128 characters.", what, truncate(id, 40))
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case c < ' ' || c == 0x7f:
			return Errorf(EINVALID, "The %s %q contains a control character (such as NUL, a tab or a line break).", what, truncate(id, 40)).
				Hint("Use letters, digits and punctuation other than commas.")
		case c == ' ' || c > '~' || c == ',':
			return Errorf(EINVALID, "The %s %q contains a space, comma or non-ASCII character.", what, truncate(id, 40)).
				Hint("Use letters, digits and punctuation other than commas.")
		}
	}
	return nil
}

// Grant lets a demand-side workspace use a data source it does not own, or that a limited member
// (an invited advertiser) uploaded into it.
type Grant struct {
	ID           string `json:"id"`
	DataSourceID string `json:"data_source_id"`
	// OwnerID is the org whose data it is: the advertiser.
	OwnerID string `json:"owner_id"`
	// GranteeID is the demand-side workspace that may use the data.
	GranteeID string `json:"grantee_id"`
	// Usage restrictions.
	AllowMatched  bool      `json:"allow_matched"`
	AllowModeled  bool      `json:"allow_modeled"`
	AllowInsights bool      `json:"allow_insights"`
	ExpiresAt     time.Time `json:"expires_at,omitzero"`
	RevokedAt     time.Time `json:"revoked_at,omitzero"`
	CreatedAt     time.Time `json:"created_at"`
	CreatedBy     string    `json:"created_by"`
}

// Active reports whether the grant is in force at now: not revoked and not expired. Expiry takes
// effect by itself: every use checks it.
func (g *Grant) Active(now time.Time) bool {
	return g.RevokedAt.IsZero() && (g.ExpiresAt.IsZero() || now.Before(g.ExpiresAt))
}

// Allows reports whether the grant permits a use (matched, modeled or insights) at now.
func (g *Grant) Allows(use Use, now time.Time) bool {
	if !g.Active(now) {
		return false
	}
	switch use {
	case UseMatched:
		return g.AllowMatched
	case UseModeled:
		return g.AllowModeled
	case UseInsights:
		return g.AllowInsights
	}
	return false
}

// Use is what data is used for.
type Use string

// Uses of data, for grants.
const (
	UseMatched  Use = "matched"
	UseModeled  Use = "modeled"
	UseInsights Use = "insights"
)

// ProvisionalAccess lets an org that has not finished setup (no DPA yet) be connected to a
// publisher's vault until ExpiresAt. The operator grants it.
type ProvisionalAccess struct {
	ID          string    `json:"id"`
	OrgID       string    `json:"org_id"`
	PublisherID string    `json:"publisher_id"`
	ExpiresAt   time.Time `json:"expires_at"`
	Reason      string    `json:"reason,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	CreatedBy   string    `json:"created_by"`
}

// ConnectionUpdate changes a connection's permissions.
type ConnectionUpdate struct {
	Permissions Permissions
}

// ConnectionFilter selects connections: those of a publisher, or those naming a partner.
type ConnectionFilter struct {
	PublisherID string
	PartnerID   string
	Page        Page
}

// ConnectionStore stores connections, opt-outs, grants and provisional access.
type ConnectionStore interface {
	// CreateConnection inserts c. Returns ECONFLICT if the publisher is already connected to the
	// partner.
	CreateConnection(ctx context.Context, c *Connection) error
	// FindConnection returns a connection by ID. Returns ENOTFOUND if there is none.
	FindConnection(ctx context.Context, id string) (*Connection, error)
	// ListConnections returns connections matching f, ordered by ID.
	ListConnections(ctx context.Context, f ConnectionFilter) ([]*Connection, string, error)
	// UpdateConnection replaces a connection's permissions. Returns ENOTFOUND if there is none.
	UpdateConnection(ctx context.Context, id string, upd ConnectionUpdate, now time.Time) (*Connection, error)
	// DeleteConnection removes a connection. Returns ENOTFOUND if there is none.
	DeleteConnection(ctx context.Context, id string) error

	// SetStandardOptOuts replaces the publisher's list of standard cohorts opted out of for all
	// its connections.
	SetStandardOptOuts(ctx context.Context, publisherID string, cohortIDs []string, now time.Time) error
	// ListStandardOptOuts returns the publisher's opted-out standard cohorts, sorted.
	ListStandardOptOuts(ctx context.Context, publisherID string) ([]string, error)

	// CreateGrant inserts g. Returns ECONFLICT if an active grant of the data source to the same
	// grantee exists.
	CreateGrant(ctx context.Context, g *Grant) error
	// FindGrant returns a grant by ID. Returns ENOTFOUND if there is none.
	FindGrant(ctx context.Context, id string) (*Grant, error)
	// ListGrants returns the grants of a data source (dataSourceID set) or to a grantee
	// (granteeID set), newest first, revoked and expired ones included.
	ListGrants(ctx context.Context, dataSourceID, granteeID string) ([]*Grant, error)
	// RevokeGrant marks a grant revoked at now. Returns ENOTFOUND if there is none and ECONFLICT if
	// it was revoked already.
	RevokeGrant(ctx context.Context, id string, now time.Time) error

	// CreateProvisionalAccess inserts p.
	CreateProvisionalAccess(ctx context.Context, p *ProvisionalAccess) error
	// ListProvisionalAccess returns the provisional access records for an org (all when orgID is
	// empty), newest first.
	ListProvisionalAccess(ctx context.Context, orgID string) ([]*ProvisionalAccess, error)
}
