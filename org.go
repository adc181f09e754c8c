package cleanroom

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"
)

// OrgKind says which side of the clean room an organization is on.
type OrgKind string

// Organization kinds.
const (
	// OrgPublisher is a supply-side workspace: it syncs its audience, manages connections and
	// ad-server targeting.
	OrgPublisher OrgKind = "publisher"
	// OrgAdvertiser is a demand-side workspace: it manages data sources and builds cohorts.
	OrgAdvertiser OrgKind = "advertiser"
	// OrgDemandSide is a publisher's own demand-side workspace, created when the clean room is
	// enabled for the publisher. In the publisher-driven workflow the publisher builds cohorts
	// here on behalf of the advertisers it invites.
	OrgDemandSide OrgKind = "demand_side"
)

// Valid reports whether k is a known kind.
func (k OrgKind) Valid() bool {
	return k == OrgPublisher || k == OrgAdvertiser || k == OrgDemandSide
}

// Org is an organization: a tenant. Every resource belongs to exactly one org.
type Org struct {
	ID   string  `json:"id"`
	Name string  `json:"name"`
	Kind OrgKind `json:"kind"`
	// ParentID is, for a demand-side workspace, the publisher it belongs to.
	ParentID string `json:"parent_id,omitempty"`
	// DemandSideID is, for a publisher with the clean room enabled, its demand-side workspace.
	DemandSideID string `json:"demand_side_id,omitempty"`
	// CleanRoomEnabledAt is when the operator enabled the clean room (and created the vault);
	// zero when it is not enabled.
	CleanRoomEnabledAt time.Time `json:"clean_room_enabled_at,omitzero"`
	// DPASignedAt is when the org signed the data processing agreement, as recorded by the
	// operator; zero when not signed.
	DPASignedAt time.Time `json:"dpa_signed_at,omitzero"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// CleanRoomEnabled reports whether the org has a vault.
func (o *Org) CleanRoomEnabled() bool { return !o.CleanRoomEnabledAt.IsZero() }

// Validate checks the fields a user sets.
func (o *Org) Validate() error {
	if err := ValidateName("organization name", o.Name); err != nil {
		return err
	}
	if !o.Kind.Valid() {
		return Errorf(EINVALID, "Organization kind %q is not one of publisher, advertiser.", o.Kind).
			With("field", "kind")
	}
	return nil
}

// ValidateName checks a human-readable name: 1 to 200 characters of valid UTF-8, no control
// characters, not only spaces.
func ValidateName(what, name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return Errorf(EINVALID, "The %s is empty.", what).Hint("Give a %s of 1 to 200 characters.", what)
	case !utf8.ValidString(name):
		return Errorf(EINVALID, "The %s is not valid UTF-8.", what)
	case utf8.RuneCountInString(name) > 200:
		return Errorf(EINVALID, "The %s is longer than 200 characters.", what)
	case strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return Errorf(EINVALID, "The %s contains control characters.", what)
	}
	return nil
}

// Vault is an org's clean-room storage: its bulk files live under the vault and are encrypted
// with data keys wrapped by the deployment's master key.
type Vault struct {
	OrgID     string    `json:"org_id"`
	CreatedAt time.Time `json:"created_at"`
	// WrappedKey is the vault key, encrypted with the master key. Never shown.
	WrappedKey []byte `json:"-"`
}

// OrgUpdate holds the fields of an org that can change; nil means unchanged.
type OrgUpdate struct {
	Name        *string
	DPASignedAt *time.Time
}

// OrgStore stores organizations and their vaults.
type OrgStore interface {
	// CreateOrg inserts org, setting CreatedAt and UpdatedAt. Returns ECONFLICT if the ID exists.
	CreateOrg(ctx context.Context, org *Org) error
	// FindOrg returns an org by ID. Returns ENOTFOUND if there is none.
	FindOrg(ctx context.Context, id string) (*Org, error)
	// ListOrgs returns orgs ordered by ID.
	ListOrgs(ctx context.Context, page Page) ([]*Org, string, error)
	// UpdateOrg applies upd and returns the updated org. Returns ENOTFOUND if there is none.
	UpdateOrg(ctx context.Context, id string, upd OrgUpdate, now time.Time) (*Org, error)
	// EnableCleanRoom marks the org enabled at now and stores its vault in one transaction. For a
	// publisher, demandSide (a new org of kind OrgDemandSide with ParentID set) and its vault are
	// created in the same transaction and linked. Returns ENOTFOUND if the org does not exist and
	// ECONFLICT if the clean room is already enabled.
	EnableCleanRoom(ctx context.Context, id string, vault *Vault, demandSide *Org, demandSideVault *Vault, now time.Time) (*Org, error)
	// FindVault returns an org's vault. Returns ENOTFOUND if the org has none.
	FindVault(ctx context.Context, orgID string) (*Vault, error)
}
