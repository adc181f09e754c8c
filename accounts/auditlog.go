package accounts

import (
	"context"
	"time"

	"github.com/cleanroom-oss/cleanroom"
)

// AuditQuery filters the audit log: by action (exact, or a prefix such as "token."), actor,
// target and time. OrgID is for an operator acting in no org (every org's entries when empty).
type AuditQuery struct {
	OrgID        string
	Action       string
	ActionPrefix string
	ActorUserID  string
	TargetType   string
	TargetID     string
	Since, Until time.Time
	Page         cleanroom.Page
}

// SearchAudit lists the audit entries the caller may read (as Audit), filtered by q, newest first.
func (s *Service) SearchAudit(ctx context.Context, c *cleanroom.Caller, q AuditQuery) ([]*cleanroom.AuditEntry, string, error) {
	if c.Role == cleanroom.RoleLimited {
		return nil, "", cleanroom.Errorf(cleanroom.EFORBIDDEN, "An invited advertiser reads its audit log in its own organization, where every entry concerning it is listed.")
	}
	f := cleanroom.AuditFilter{OrgID: c.OrgID(), Action: q.Action, ActionPrefix: q.ActionPrefix, ActorUserID: q.ActorUserID,
		TargetType: q.TargetType, TargetID: q.TargetID, Since: q.Since, Until: q.Until, Page: q.Page}
	if c.OrgID() == "" {
		if err := c.RequireOperator(); err != nil {
			return nil, "", cleanroom.Errorf(cleanroom.EFORBIDDEN, "Choose an organization to read its audit log.")
		}
		if q.OrgID != "" {
			var err error
			if f.OrgID, err = cleanroom.ParseID("organization ID", q.OrgID); err != nil {
				return nil, "", err
			}
		}
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until) {
		return nil, "", cleanroom.Errorf(cleanroom.EINVALID, "The period ends before it starts.").With("field", "until").
			Hint("Choose an end date on or after the start date.")
	}
	return s.Store.ListAudit(ctx, f)
}

// AuditLine is an audit entry with the names a reader of the caller's log may see.
type AuditLine struct {
	*cleanroom.AuditEntry
	// Actor is who acted as the caller may know them: a person's name and email (ActorEmail) when
	// they belong to the caller's org now (or the caller is an operator), "an operator", "someone
	// at <org>" for a partner's person, "a former member", or "system".
	Actor, ActorEmail string
	// OrgName and PartnerName name the orgs the entry concerns (the caller's org is one of them).
	OrgName, PartnerName string
	// Target names the target when it is a person or an org the caller may know, else "".
	Target string
}

// DescribeAudit names the people and orgs of entries the caller read (from SearchAudit), by the
// rule a partner cannot get round: a person is named only to the orgs they belong to now (and to
// operators). A partner's staff acting on a shared connection shows as "someone at <partner>", so
// reading a log teaches nobody who works where. Orgs are named when the entry concerns them, as
// every entry the caller reads concerns its own org and at most one partner it works with.
func (s *Service) DescribeAudit(ctx context.Context, c *cleanroom.Caller, es []*cleanroom.AuditEntry) ([]*AuditLine, error) {
	people := map[string]*cleanroom.User{} // nil: not to be named to this caller
	orgs := map[string]string{}
	person := func(id string) (*cleanroom.User, error) {
		if u, seen := people[id]; seen {
			return u, nil
		}
		var u *cleanroom.User
		var err error
		if c.Operator() {
			u, err = s.Store.FindUser(ctx, id)
		} else if c.OrgID() != "" {
			var m *cleanroom.Member
			if m, err = s.Store.FindMember(ctx, c.OrgID(), id); err == nil {
				u = &m.User
			}
		}
		if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
			u, err = nil, nil
		}
		if err != nil {
			return nil, err
		}
		people[id] = u
		return u, nil
	}
	org := func(id string) (string, error) {
		if id == "" {
			return "", nil
		}
		if n, ok := orgs[id]; ok {
			return n, nil
		}
		o, err := s.Store.FindOrg(ctx, id)
		if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
			orgs[id] = "a deleted organization"
			return orgs[id], nil
		}
		if err != nil {
			return "", err
		}
		orgs[id] = o.Name
		return o.Name, nil
	}
	out := make([]*AuditLine, 0, len(es))
	for _, e := range es {
		if !c.Operator() && c.OrgID() != "" && e.OrgID != c.OrgID() && e.PartnerOrgID != c.OrgID() {
			// Not an entry of the caller's log: nothing of it is named.
			return nil, cleanroom.Errorf(cleanroom.ENOTFOUND, "Audit entry not found.")
		}
		l := &AuditLine{AuditEntry: e}
		var err error
		if l.OrgName, err = org(e.OrgID); err == nil {
			l.PartnerName, err = org(e.PartnerOrgID)
		}
		if err != nil {
			return nil, err
		}
		switch {
		case e.ActorUserID == "":
			l.Actor = "system"
		default:
			u, err := person(e.ActorUserID)
			if err != nil {
				return nil, err
			}
			switch {
			case u != nil && u.ServiceAccount:
				l.Actor = u.Name + " (service account)"
			case u != nil:
				l.Actor, l.ActorEmail = u.Name, u.Email
			case e.ActorKind == cleanroom.ActorOperator:
				l.Actor = "an operator"
			case e.OrgID != "" && e.OrgID != c.OrgID():
				l.Actor = "someone at " + l.OrgName
			case e.PartnerOrgID != "" && e.PartnerOrgID != c.OrgID():
				l.Actor = "someone at " + l.PartnerName
			default:
				l.Actor = "a former member"
			}
		}
		switch e.TargetType {
		case "user":
			u, err := person(e.TargetID)
			if err != nil {
				return nil, err
			}
			if u != nil {
				l.Target = u.Name
				if !u.ServiceAccount {
					l.Target += " <" + u.Email + ">"
				}
			}
		case "org":
			if e.TargetID == e.OrgID || e.TargetID == e.PartnerOrgID || c.Operator() {
				if l.Target, err = org(e.TargetID); err != nil {
					return nil, err
				}
			}
		}
		out = append(out, l)
	}
	return out, nil
}
