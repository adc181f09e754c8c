package accounts

import (
	"context"
	"time"

	"github.com/cleanroom-oss/cleanroom"
)

// serviceAccountEmail is the stored email of a service account: unique, and not an address
// (cleanroom.NormalizeEmail refuses it), so no sign-in, invitation or add-by-email can reach it.
func serviceAccountEmail(id string) string { return "service-account:" + id }

// checkServiceAccountRole accepts the roles a service account may have: member or viewer. An
// admin's powers (people, tokens, settings) and the limited role (acting for an advertiser) are
// for people.
func checkServiceAccountRole(r cleanroom.Role) error {
	if r != cleanroom.RoleMember && r != cleanroom.RoleViewer {
		return cleanroom.Errorf(cleanroom.EINVALID, "A service account's role is member or viewer, not %q.", r).With("field", "role").
			Hint("Give it member to change the organization's data, viewer to read it.")
	}
	return nil
}

// admin returns EFORBIDDEN unless the caller is a person with the admin role in its org.
func admin(c *cleanroom.Caller, what string) error {
	if err := c.InOrg(cleanroom.RoleAdmin); err != nil {
		return err
	}
	if c.User == nil || c.User.ServiceAccount {
		return cleanroom.Errorf(cleanroom.EFORBIDDEN, "Only a person who is an admin manages %s.", what)
	}
	return nil
}

// CreateServiceAccount creates a service account of the caller's org with a role (member or
// viewer). Only the org's admins may. It has no password and no token until an admin makes one
// (CreateServiceAccountToken).
func (s *Service) CreateServiceAccount(ctx context.Context, c *cleanroom.Caller, name string, role cleanroom.Role) (*cleanroom.Member, error) {
	if err := admin(c, "service accounts"); err != nil {
		return nil, err
	}
	if err := cleanroom.ValidateName("service account name", name); err != nil {
		return nil, err
	}
	if err := checkServiceAccountRole(role); err != nil {
		return nil, err
	}
	now := s.now()
	id := NewID()
	u := &cleanroom.User{ID: id, Email: serviceAccountEmail(id), Name: name, ServiceAccount: true, CreatedAt: now, UpdatedAt: now}
	if err := s.Store.CreateUser(ctx, u); err != nil {
		return nil, err
	}
	if err := s.Store.PutMembership(ctx, &cleanroom.Membership{UserID: id, OrgID: c.OrgID(), Role: role, CreatedAt: now}); err != nil {
		return nil, err
	}
	return &cleanroom.Member{User: *u, Role: role}, nil
}

// ServiceAccount returns a service account of the caller's org. Returns ENOTFOUND for anything
// else (a person, another org's account).
func (s *Service) ServiceAccount(ctx context.Context, c *cleanroom.Caller, id string) (*cleanroom.Member, error) {
	if err := c.InOrg(cleanroom.RoleViewer); err != nil {
		return nil, err
	}
	m, err := s.Store.FindMember(ctx, c.OrgID(), id)
	if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND || (err == nil && !m.ServiceAccount) {
		return nil, cleanroom.Errorf(cleanroom.ENOTFOUND, "Service account not found.")
	}
	return m, err
}

// ServiceAccounts lists the service accounts of the caller's org.
func (s *Service) ServiceAccounts(ctx context.Context, c *cleanroom.Caller) ([]*cleanroom.Member, error) {
	if err := c.InOrg(cleanroom.RoleViewer); err != nil {
		return nil, err
	}
	out := []*cleanroom.Member{}
	for page := (cleanroom.Page{Limit: cleanroom.MaxPageLimit}); ; {
		ms, next, err := s.Store.ListMembers(ctx, c.OrgID(), page)
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			if m.ServiceAccount {
				out = append(out, m)
			}
		}
		if next == "" {
			return out, nil
		}
		page.After = next
	}
}

// DeleteServiceAccount removes a service account of the caller's org; its tokens stop working at
// once. Only the org's admins may.
func (s *Service) DeleteServiceAccount(ctx context.Context, c *cleanroom.Caller, id string) (*cleanroom.Member, error) {
	if err := admin(c, "service accounts"); err != nil {
		return nil, err
	}
	m, err := s.ServiceAccount(ctx, c, id)
	if err != nil {
		return nil, err
	}
	return m, s.Store.DeleteMembership(ctx, c.OrgID(), m.ID)
}

// CreateServiceAccountToken makes a token that acts as a service account of the caller's org and
// returns its secret, shown once. Only the org's admins may.
func (s *Service) CreateServiceAccountToken(ctx context.Context, c *cleanroom.Caller, id, name string, ttl time.Duration) (string, *cleanroom.Token, *cleanroom.Member, error) {
	if err := admin(c, "service accounts' tokens"); err != nil {
		return "", nil, nil, err
	}
	m, err := s.ServiceAccount(ctx, c, id)
	if err != nil {
		return "", nil, nil, err
	}
	secret, t, err := s.IssueToken(ctx, m.ID, c.OrgID(), name, ttl)
	return secret, t, m, err
}
