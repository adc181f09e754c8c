package connections

import (
	"context"
	"time"

	"github.com/cleanroom-oss/cleanroom"
)

// Connect connects the caller's org (a publisher's supply-side workspace) to the org partnerText
// names, as CreateConnection does, for a caller: only the publisher's members and admins connect.
// Every onboarding error carries its fix (and the field it concerns, "partner_id").
func (s *Service) Connect(ctx context.Context, c *cleanroom.Caller, partnerText string, perms cleanroom.Permissions) (*cleanroom.Connection, *cleanroom.Org, error) {
	if err := c.InOrg(cleanroom.RoleMember); err != nil {
		return nil, nil, cleanroom.Errorf(cleanroom.EFORBIDDEN, "Connecting to a partner needs the member or admin role; you are %s.", c.Role).
			Hint("Ask an admin of your organization to give you the member role on the Settings page.")
	}
	return s.CreateConnection(ctx, c.OrgID(), partnerText, perms)
}

// GrantProvisional grants provisional access (see GrantProvisionalAccess) for a caller: operators
// only.
func (s *Service) GrantProvisional(ctx context.Context, c *cleanroom.Caller, orgText, publisherText string, expiresAt time.Time, reason string) (*cleanroom.ProvisionalAccess, error) {
	if err := c.RequireOperator(); err != nil {
		return nil, err
	}
	return s.GrantProvisionalAccess(ctx, c.UserID(), orgText, publisherText, expiresAt, reason)
}
