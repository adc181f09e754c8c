package accounts

import (
	"context"

	"github.com/cleanroom-oss/cleanroom"
)

// Audit lists audit entries the caller may read, newest first: its org's own (those where it is
// the partner org included); for an operator acting in no org, every org's, or orgID's when set.
// Invited advertisers read the entries that concern them in their own organization, not here.
func (s *Service) Audit(ctx context.Context, c *cleanroom.Caller, orgID, action string, p cleanroom.Page) ([]*cleanroom.AuditEntry, string, error) {
	return s.SearchAudit(ctx, c, AuditQuery{OrgID: orgID, Action: action, Page: p})
}

// Members lists the people and service accounts of the caller's org. Invited advertisers see
// none of the workspace's people.
func (s *Service) Members(ctx context.Context, c *cleanroom.Caller, p cleanroom.Page) ([]*cleanroom.Member, string, error) {
	if err := c.InOrg(cleanroom.RoleViewer); err != nil {
		return nil, "", err
	}
	return s.Store.ListMembers(ctx, c.OrgID(), p)
}

// Member returns a member of the caller's org; users of other orgs are not found.
func (s *Service) Member(ctx context.Context, c *cleanroom.Caller, userID string) (*cleanroom.Member, error) {
	if err := c.InOrg(cleanroom.RoleViewer); err != nil {
		return nil, err
	}
	m, err := s.Store.FindMember(ctx, c.OrgID(), userID)
	if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
		return nil, cleanroom.Errorf(cleanroom.ENOTFOUND, "User not found.")
	}
	return m, err
}

// Membership is one org a user belongs to, with its name, kind and the user's role there.
type Membership struct {
	Org  *cleanroom.Org
	Role cleanroom.Role
}

// Memberships lists the orgs the caller's user belongs to (for "me" and the org switcher).
func (s *Service) Memberships(ctx context.Context, c *cleanroom.Caller) ([]Membership, error) {
	if c.User == nil {
		return nil, nil
	}
	ms, err := s.Store.ListMemberships(ctx, c.User.ID)
	if err != nil {
		return nil, err
	}
	out := make([]Membership, 0, len(ms))
	for _, m := range ms {
		o, err := s.Store.FindOrg(ctx, m.OrgID)
		if err != nil {
			return nil, err
		}
		out = append(out, Membership{Org: o, Role: m.Role})
	}
	return out, nil
}

// RenameOrg renames the caller's org. Only its admins may.
func (s *Service) RenameOrg(ctx context.Context, c *cleanroom.Caller, name *string) (*cleanroom.Org, error) {
	if err := admin(c, "the organization's settings"); err != nil {
		return nil, err
	}
	if name != nil {
		if err := cleanroom.ValidateName("organization name", *name); err != nil {
			return nil, err
		}
	}
	return s.Store.UpdateOrg(ctx, c.OrgID(), cleanroom.OrgUpdate{Name: name}, s.now())
}

// Orgs lists every organization, for operators.
func (s *Service) Orgs(ctx context.Context, c *cleanroom.Caller, p cleanroom.Page) ([]*cleanroom.Org, string, error) {
	if err := c.RequireOperator(); err != nil {
		return nil, "", err
	}
	return s.Store.ListOrgs(ctx, p)
}

// Org returns any organization, for operators.
func (s *Service) Org(ctx context.Context, c *cleanroom.Caller, id string) (*cleanroom.Org, error) {
	if err := c.RequireOperator(); err != nil {
		return nil, err
	}
	return s.Store.FindOrg(ctx, id)
}

// OrgMember returns a member of any organization, for operators.
func (s *Service) OrgMember(ctx context.Context, c *cleanroom.Caller, orgID, userID string) (*cleanroom.Member, error) {
	if err := c.RequireOperator(); err != nil {
		return nil, err
	}
	return s.Store.FindMember(ctx, orgID, userID)
}
