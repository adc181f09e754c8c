package cleanroom

import (
	"context"
	"time"
)

// InvitationState is where an invitation stands.
type InvitationState string

// Invitation states. Only a pending invitation can change, and only once.
const (
	InvitationPending   InvitationState = "pending"   // waiting for the invited person
	InvitationAccepted  InvitationState = "accepted"  // the person accepted: they are a member
	InvitationDeclined  InvitationState = "declined"  // the person declined
	InvitationWithdrawn InvitationState = "withdrawn" // the inviting org withdrew it (or revoked the access it gave)
	InvitationExpired   InvitationState = "expired"   // nobody accepted it in time
)

// InvitationTTL is how long an invitation waits to be accepted.
const InvitationTTL = 14 * 24 * time.Hour

// InvitationStates lists every state.
var InvitationStates = []InvitationState{InvitationPending, InvitationAccepted, InvitationDeclined, InvitationWithdrawn, InvitationExpired}

// Invitation offers the person with an email address a role in an org. It gives nothing until
// that person signs in and accepts it; until then it says nothing about whether the address has an
// account (or, for the limited role, whether it belongs to the advertiser named), to the inviter
// or to anyone else.
type Invitation struct {
	ID    string `json:"id"`
	OrgID string `json:"org_id"`
	// Email is the invited address, normalised.
	Email string `json:"email"`
	Role  Role   `json:"role"`
	// RepresentsID is, for the limited role, the advertiser the invited person would act for; only
	// that advertiser's admins and members can see and accept the invitation.
	RepresentsID string          `json:"represents_id,omitempty"`
	State        InvitationState `json:"state"`
	// InvitedBy is the user who sent the invitation ("" when the system did).
	InvitedBy string    `json:"invited_by,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	// DecidedAt is when the invitation left the pending state; zero while pending.
	DecidedAt time.Time `json:"decided_at,omitzero"`
}

// Pending reports whether the invitation can still be accepted at now.
func (inv *Invitation) Pending(now time.Time) bool {
	return inv.State == InvitationPending && now.Before(inv.ExpiresAt)
}

// At returns the invitation as it stands at now: a pending invitation past its expiry reads
// expired (the store marks it so lazily).
func (inv *Invitation) At(now time.Time) *Invitation {
	if inv.State == InvitationPending && !now.Before(inv.ExpiresAt) {
		c := *inv
		c.State, c.DecidedAt = InvitationExpired, inv.ExpiresAt
		return &c
	}
	return inv
}

// InvitationStore stores invitations.
type InvitationStore interface {
	// CreateInvitation inserts a pending invitation. Returns ECONFLICT if the user with the
	// invitation's email is already a member of the org (stored or derived, see FindMember), or if
	// a pending invitation of that email to the org exists and has not expired at inv.CreatedAt.
	// Returns ENOTFOUND if the org does not exist.
	CreateInvitation(ctx context.Context, inv *Invitation) error
	// FindInvitation returns an invitation by ID. Returns ENOTFOUND if there is none.
	FindInvitation(ctx context.Context, id string) (*Invitation, error)
	// ListInvitations returns an org's invitations, every state, ordered by ID.
	ListInvitations(ctx context.Context, orgID string, page Page) ([]*Invitation, string, error)
	// ListInvitationsFor returns the invitations to email that are pending at now, ordered by ID.
	ListInvitationsFor(ctx context.Context, email string, now time.Time) ([]*Invitation, error)
	// AcceptInvitation marks a pending invitation accepted at now and stores m (the membership it
	// gives), in one transaction. Returns ENOTFOUND if there is no such invitation, and ECONFLICT
	// if it is not pending at now or the user is already a member of the org.
	AcceptInvitation(ctx context.Context, id string, m *Membership, now time.Time) error
	// DecideInvitation moves an invitation from state from to state to (declined or withdrawn) at
	// now. Returns ENOTFOUND if there is no such invitation, and ECONFLICT if it is not in state
	// from (a pending invitation past its expiry is not pending).
	DecideInvitation(ctx context.Context, id string, from, to InvitationState, now time.Time) error
}
