package cleanroom

import (
	"context"
	"time"
)

// AuditEntry records one write or sensitive read. Entries are append-only: nothing updates or
// deletes them.
type AuditEntry struct {
	ID        int64     `json:"id"`
	Time      time.Time `json:"time"`
	RequestID string    `json:"request_id,omitempty"`
	// ActorUserID is who acted ("" for the system, e.g. a job or an expiry).
	ActorUserID string `json:"actor_user_id,omitempty"`
	// ActorKind says what ActorUserID is: ActorPerson, ActorServiceAccount or ActorOperator
	// (an operator acting in an org it does not belong to); "" for the system.
	ActorKind string `json:"actor_kind,omitempty"`
	// ActorTokenID is the API token used, if any.
	ActorTokenID string `json:"actor_token_id,omitempty"`
	// OrgID is the org the entry concerns; PartnerOrgID a second org it concerns, if any (e.g. the
	// advertiser of a connection). Both see the entry.
	OrgID        string `json:"org_id,omitempty"`
	PartnerOrgID string `json:"partner_org_id,omitempty"`
	// Action is a dotted verb such as "token.create" or "org.clean_room.enable".
	Action     string         `json:"action"`
	TargetType string         `json:"target_type,omitempty"`
	TargetID   string         `json:"target_id,omitempty"`
	Details    map[string]any `json:"details,omitempty"`
}

// Kinds of audit actors.
const (
	ActorPerson         = "person"
	ActorServiceAccount = "service_account"
	ActorOperator       = "operator"
)

// ActorKind returns the audit actor kind of c: a service account, an operator, or a person;
// "" for the system.
func (c *Caller) ActorKind() string {
	switch {
	case c == nil || c.User == nil:
		return ""
	case c.User.ServiceAccount:
		return ActorServiceAccount
	case c.User.Operator:
		return ActorOperator
	}
	return ActorPerson
}

// By records c as the entry's actor: the user and its kind, the token used, and the org acted in
// unless OrgID is already set. It returns e.
func (e *AuditEntry) By(c *Caller) *AuditEntry {
	if c == nil {
		return e
	}
	e.ActorUserID, e.ActorKind = c.UserID(), c.ActorKind()
	if c.Token != nil {
		e.ActorTokenID = c.Token.ID
	}
	if e.OrgID == "" {
		e.OrgID = c.OrgID()
	}
	return e
}

// AuditFilter selects audit entries. An empty OrgID selects every org's (operators only).
type AuditFilter struct {
	OrgID  string
	Action string
	// ActionPrefix selects actions starting with it (e.g. "token." for every token action).
	ActionPrefix string
	// ActorUserID selects one actor's entries; TargetType and TargetID one target's.
	ActorUserID string
	TargetType  string
	TargetID    string
	// Since and Until bound the entries' time (Since included, Until excluded) when non-zero.
	Since, Until time.Time
	Page         Page
}

// AuditStore appends and lists audit entries.
type AuditStore interface {
	// AppendAudit stores e and sets its ID.
	AppendAudit(ctx context.Context, e *AuditEntry) error
	// ListAudit returns entries, newest first.
	ListAudit(ctx context.Context, f AuditFilter) ([]*AuditEntry, string, error)
}
