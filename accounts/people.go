package accounts

import (
	"context"

	"github.com/cleanroom-oss/cleanroom"
)

// ChangeRole changes the role of a member of the caller's org (a person or a service account).
// Only the org's admins may; the rules of SetRole apply (never the last admin, never a derived
// workspace admin, service accounts member or viewer, invited advertisers keep the limited role).
// A user of another org is not found.
func (s *Service) ChangeRole(ctx context.Context, c *cleanroom.Caller, userID string, role cleanroom.Role) (*cleanroom.Member, error) {
	if err := admin(c, "the organization's people"); err != nil {
		return nil, err
	}
	m, err := s.Member(ctx, c, userID)
	if err != nil {
		return nil, err
	}
	return s.SetRole(ctx, c.OrgID(), m.ID, role)
}

// RemovePerson removes a member from the caller's org, ending their access there. Only the org's
// admins may; the last admin stays. A user of another org is not found.
func (s *Service) RemovePerson(ctx context.Context, c *cleanroom.Caller, userID string) (*cleanroom.Member, error) {
	if err := admin(c, "the organization's people"); err != nil {
		return nil, err
	}
	m, err := s.Member(ctx, c, userID)
	if err != nil {
		return nil, err
	}
	return m, s.RemoveMember(ctx, c.OrgID(), m.ID)
}
