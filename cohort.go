package cleanroom

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// CohortKind is how a cohort's users are chosen.
type CohortKind string

// Cohort kinds.
const (
	// CohortMatched holds the publisher users the query selects: users known to both sides.
	CohortMatched CohortKind = "matched"
	// CohortModeled holds the users most like the matched ones (a lookalike), down to a
	// similarity the user picks from a curve.
	CohortModeled CohortKind = "modeled"
)

// CohortStatus is where a cohort is in its life.
type CohortStatus string

// Cohort states. A matched cohort goes building -> active; a modeled one training ->
// awaiting_selection -> building -> active (and training -> building -> active when it retrains
// with a similarity already chosen). Active means served at one publisher at least. Inactive
// means built but served at no publisher (its data was unlinked or is no longer granted, its
// connections are gone, it has too few users): the status reason says why, and a rebuild after
// the inputs change makes it active again. Failed means the build itself failed; the reason says
// why. Paused is set by the user: the cohort keeps its users but is not served.
const (
	CohortBuilding          CohortStatus = "building"
	CohortTraining          CohortStatus = "training"
	CohortAwaitingSelection CohortStatus = "awaiting_selection"
	CohortActive            CohortStatus = "active"
	CohortInactive          CohortStatus = "inactive"
	CohortFailed            CohortStatus = "failed"
	CohortPaused            CohortStatus = "paused"
)

// FirstCohortCode is the code of a publisher's first cohort; later ones count up from it and a
// code is never reused, so a line item left targeting a deleted cohort's code never reaches
// another cohort's users.
const FirstCohortCode = 100001

// Cohort is a demand-side audience built in a clean room: a query over the workspace's data
// sources (and the publishers' cohorts it may use), matched against one or more publishers
// through connections. Its users stay inside the deployment; the ad server sees only each
// publisher's cohort code.
type Cohort struct {
	ID string `json:"id"`
	// OrgID is the demand-side workspace that owns the cohort.
	OrgID       string     `json:"org_id"`
	Name        string     `json:"name"`
	Description string     `json:"description,omitempty"`
	Kind        CohortKind `json:"kind"`
	// Query is the selection, a cleanroom.CohortQuery in JSON.
	Query json.RawMessage `json:"query"`
	// Country is the geo-lock: ISO 3166-1 alpha-2 codes; empty means any country.
	Country []string `json:"country,omitempty"`
	// Status, with StatusReason saying why when failed (or what is missing), and Progress of the
	// build or training in [0,1].
	Status       CohortStatus `json:"status"`
	StatusReason string       `json:"status_reason,omitempty"`
	Progress     float64      `json:"progress"`
	// Similarity is the chosen point of a modeled cohort's curve (nil until chosen);
	// IncludeSeeds adds the matched users themselves.
	Similarity   *float64 `json:"similarity,omitempty"`
	IncludeSeeds bool     `json:"include_seeds,omitempty"`
	// Targets holds one entry per connection the cohort is built for.
	Targets []CohortTarget `json:"targets"`
	// Inputs identifies what the last build read (versions, grants, permissions): when it
	// changes, the cohort is rebuilt.
	Inputs string `json:"-"`
	// Generation counts the changes that call for a new build; a build that finds another
	// generation than the one it started for leaves its result unused.
	Generation int64     `json:"generation"`
	BuiltAt    time.Time `json:"built_at,omitzero"`
	CreatedBy  string    `json:"created_by"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// CohortTarget is a cohort at one publisher: its code there and its users.
type CohortTarget struct {
	ConnectionID string `json:"connection_id"`
	PublisherID  string `json:"publisher_id"`
	// Code is the cohort's value for the publisher's ad server, unique per publisher.
	Code int64 `json:"code"`
	// Size is the number of users (exact; callers apply the privacy threshold when they show
	// it to the other party). Seeds is the number of matched users a modeled cohort grew from.
	Size  int64 `json:"size"`
	Seeds int64 `json:"seeds,omitempty"`
	// Active says the cohort is served at this publisher; Reason says why not.
	Active bool   `json:"active"`
	Reason string `json:"reason,omitempty"`
	// Model is a modeled cohort's trained model and similarity-reach curve (JSON of the
	// lookalike package); Diagnostics the last build's match diagnostics.
	Model       json.RawMessage `json:"model,omitempty"`
	Diagnostics json.RawMessage `json:"diagnostics,omitempty"`
	// BlobKey and WrappedKey locate the encrypted member bitmap (empty when none).
	BlobKey    string    `json:"-"`
	WrappedKey []byte    `json:"-"`
	BuiltAt    time.Time `json:"built_at,omitzero"`
}

// Validate checks the fields a user sets.
func (c *Cohort) Validate() error {
	if err := ValidateName("cohort name", c.Name); err != nil {
		var e *Error
		errors.As(err, &e)
		return e.With("field", "name")
	}
	if len(c.Description) > 2000 {
		return Errorf(EINVALID, "The description is longer than 2000 characters.").With("field", "description")
	}
	if c.Kind != CohortMatched && c.Kind != CohortModeled {
		return Errorf(EINVALID, "The kind must be %q or %q.", CohortMatched, CohortModeled).With("field", "kind")
	}
	if len(c.Targets) == 0 {
		return Errorf(EINVALID, "The cohort names no connection.").With("field", "connections").
			Hint("List the IDs of the publisher connections to build it for.")
	}
	seen := map[string]bool{}
	for _, t := range c.Targets {
		if seen[t.ConnectionID] {
			return Errorf(EINVALID, "Connection %q is listed twice.", truncate(t.ConnectionID, 40)).With("field", "connections")
		}
		seen[t.ConnectionID] = true
	}
	return nil
}

// Target returns the cohort's target for a connection, or nil.
func (c *Cohort) Target(connectionID string) *CohortTarget {
	for i := range c.Targets {
		if c.Targets[i].ConnectionID == connectionID {
			return &c.Targets[i]
		}
	}
	return nil
}

// CohortFilter selects cohorts: a workspace's (OrgID), or those built for a publisher
// (PublisherID).
type CohortFilter struct {
	OrgID       string
	PublisherID string
	Page        Page
}

// CohortUpdate holds the fields of a cohort that change; nil means unchanged. Generation, when
// set, makes the update conditional: it applies only if the cohort's generation is still that
// one (ECONFLICT otherwise), so a slow build never overwrites a newer definition.
type CohortUpdate struct {
	Name, Description *string
	Query             json.RawMessage
	Country           *[]string
	Status            *CohortStatus
	StatusReason      *string
	Progress          *float64
	// Similarity: a pointer to nil clears it.
	Similarity   **float64
	IncludeSeeds *bool
	Inputs       *string
	BuiltAt      *time.Time
	// BumpGeneration starts a new generation (a change that needs a rebuild).
	BumpGeneration bool
	// IfGeneration makes the update conditional on the current generation.
	IfGeneration *int64
	// Targets replaces the targets: entries are matched by connection; a new connection gets
	// the publisher's next code, a kept one keeps its code, a missing one is removed.
	Targets *[]CohortTarget
}

// CohortStore stores cohorts' metadata (member bitmaps live in the blob store).
type CohortStore interface {
	// CreateCohort inserts c, giving each target the next code of its publisher.
	CreateCohort(ctx context.Context, c *Cohort) error
	// FindCohort returns a cohort with its targets. Returns ENOTFOUND if there is none.
	FindCohort(ctx context.Context, id string) (*Cohort, error)
	// ListCohorts returns the cohorts matching f, ordered by ID, with their targets.
	ListCohorts(ctx context.Context, f CohortFilter) ([]*Cohort, string, error)
	// UpdateCohort applies upd and returns the cohort. Returns ENOTFOUND if there is none.
	UpdateCohort(ctx context.Context, id string, upd CohortUpdate, now time.Time) (*Cohort, error)
	// DeleteCohort removes a cohort and its targets (their codes stay used). Returns ENOTFOUND
	// if there is none.
	DeleteCohort(ctx context.Context, id string) error
}
