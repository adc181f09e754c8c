package connections

import (
	"context"
	"time"

	"github.com/cleanroom-oss/cleanroom"
)

// Invite invites the person with email into the caller's demand-side workspace with the limited
// role, acting for the advertiser advertiserText names, so they can upload their advertiser's data
// there and grant it to the workspace. The invitation is pending until the person accepts it
// (accounts.Service.AcceptInvitation); only an admin or member of that advertiser can see and
// accept it. The answer says nothing about the address: not whether it has an account, nor
// whether it belongs to the advertiser, nor who else does. Only a member of the workspace, or a
// pending invitation to it, is a conflict.
func (s *Service) Invite(ctx context.Context, c Caller, email, advertiserText string) (*cleanroom.Invitation, error) {
	ws, err := s.Store.FindOrg(ctx, c.OrgID)
	if err != nil {
		return nil, err
	}
	if ws.Kind != cleanroom.OrgDemandSide {
		return nil, cleanroom.Errorf(cleanroom.EFORBIDDEN, "Advertisers are invited into a publisher's demand-side workspace, and this is not one.").
			Hint("Switch to your demand-side workspace (its ID is on your publisher's Overview page).")
	}
	adv, err := s.partnerOrg(ctx, advertiserText, "advertiser_id")
	if err != nil {
		return nil, err
	}
	if adv.Kind != cleanroom.OrgAdvertiser {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "%s is a %s, not an advertiser.", adv.Name, adv.Kind).With("field", "advertiser_id")
	}
	prov, err := s.Store.ListProvisionalAccess(ctx, adv.ID)
	if err != nil {
		return nil, err
	}
	if ok, reason := cleanroom.PartnerStatus(adv, prov, ws.ParentID, s.now()); !ok {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "%s cannot be invited yet: %s", adv.Name, lowerFirst(reason)).With("field", "advertiser_id").
			Hint("Ask the advertiser to sign the data processing agreement with the operator, or ask the operator for provisional access.")
	}
	addr, err := cleanroom.NormalizeEmail(email)
	if err != nil {
		return nil, err
	}
	now := s.now()
	inv := &cleanroom.Invitation{ID: newID(), OrgID: ws.ID, Email: addr, Role: cleanroom.RoleLimited, RepresentsID: adv.ID,
		InvitedBy: c.UserID, CreatedAt: now, ExpiresAt: now.Add(cleanroom.InvitationTTL)}
	if err := s.Store.CreateInvitation(ctx, inv); err != nil {
		return nil, err
	}
	return inv, nil
}

// CreateDataSource creates a data source in the caller's workspace: an advertiser's own, or a
// demand-side workspace (for a limited member, on behalf of the advertiser it represents).
func (s *Service) CreateDataSource(ctx context.Context, c Caller, name, description string) (*cleanroom.DataSource, error) {
	org, err := s.Store.FindOrg(ctx, c.OrgID)
	if err != nil {
		return nil, err
	}
	ds := &cleanroom.DataSource{ID: newID(), OrgID: org.ID, Name: name, Description: description,
		Status: cleanroom.DataSourceEmpty, CreatedBy: c.UserID}
	switch org.Kind {
	case cleanroom.OrgAdvertiser:
		ds.AdvertiserID = org.ID
	case cleanroom.OrgDemandSide:
		ds.AdvertiserID = c.RepresentsID // empty for the publisher's own staff
	default:
		return nil, cleanroom.Errorf(cleanroom.EFORBIDDEN, "Data sources live in a demand-side workspace, and a publisher's supply-side workspace is not one.").
			Hint("Switch to your demand-side workspace.")
	}
	if !org.CleanRoomEnabled() {
		return nil, cleanroom.Errorf(cleanroom.EFORBIDDEN, "The clean room is not enabled for %s.", org.Name).
			Hint("Ask the operator to enable the clean room; that creates the vault the data is kept in.")
	}
	if err := ds.Validate(); err != nil {
		return nil, err
	}
	now := s.now()
	ds.CreatedAt, ds.UpdatedAt = now, now
	if err := s.Store.CreateDataSource(ctx, ds); err != nil {
		return nil, err
	}
	return ds, nil
}

// visible reports whether the caller's org sees ds as its own: it lives there and, for a limited
// member, belongs to the advertiser it represents.
func (c Caller) visible(ds *cleanroom.DataSource) bool {
	return ds.OrgID == c.OrgID && (c.Role != cleanroom.RoleLimited || ds.AdvertiserID == c.RepresentsID)
}

// manages reports whether the caller may change ds and grant it: its advertiser's people (the
// advertiser's own staff, or the limited member representing it), or the publisher's staff for
// data they uploaded themselves.
func (c Caller) manages(ds *cleanroom.DataSource) bool {
	if !c.visible(ds) {
		return false
	}
	if c.Role == cleanroom.RoleLimited {
		return true
	}
	staff := c.Role.AtLeast(cleanroom.RoleMember)
	return staff && (ds.AdvertiserID == ds.OrgID || ds.AdvertiserID == "")
}

// DataSource returns a data source the caller sees as its own, or that is granted to its org
// (grant is then the grant in force).
func (s *Service) DataSource(ctx context.Context, c Caller, id string) (ds *cleanroom.DataSource, grant *cleanroom.Grant, err error) {
	ds, err = s.Store.FindDataSource(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if c.visible(ds) {
		return ds, nil, nil
	}
	if c.Role != cleanroom.RoleLimited {
		gs, err := s.Store.ListGrants(ctx, ds.ID, c.OrgID)
		if err != nil {
			return nil, nil, err
		}
		for _, g := range gs {
			if g.Active(s.now()) {
				return ds, g, nil
			}
		}
	}
	return nil, nil, cleanroom.Errorf(cleanroom.ENOTFOUND, "Data source not found.")
}

// ManagedDataSource returns a data source the caller may change and grant.
func (s *Service) ManagedDataSource(ctx context.Context, c Caller, id string) (*cleanroom.DataSource, error) {
	ds, _, err := s.DataSource(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if !c.manages(ds) {
		if c.visible(ds) {
			return nil, cleanroom.Errorf(cleanroom.EFORBIDDEN, "This data source belongs to an advertiser; only the advertiser changes or grants it.")
		}
		return nil, cleanroom.Errorf(cleanroom.EFORBIDDEN, "This data source is granted to you; only its advertiser changes it.")
	}
	return ds, nil
}

// Usable returns a data source the caller's org may use for use (building matched or modeled
// cohorts, insights) now: its own data, or data granted to it by a grant in force that allows
// the use. A grant that expired or was revoked makes the data unusable at once.
func (s *Service) Usable(ctx context.Context, c Caller, id string, use cleanroom.Use) (*cleanroom.DataSource, error) {
	ds, _, err := s.DataSource(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if ds.OrgID == c.OrgID && (ds.AdvertiserID == ds.OrgID || ds.AdvertiserID == "") {
		return ds, nil
	}
	gs, err := s.Store.ListGrants(ctx, ds.ID, c.OrgID)
	if err != nil {
		return nil, err
	}
	for _, g := range gs {
		if g.Allows(use, s.now()) {
			return ds, nil
		}
	}
	return nil, cleanroom.Errorf(cleanroom.EFORBIDDEN, "No grant in force lets this workspace use %q for %s.", ds.Name, use).
		Hint("Ask the advertiser to grant the data source to this workspace with %s use allowed.", use)
}

// Grant returns a grant the caller's org sees: one of its own data (see visible) or one made to
// it, with the data source. Others are not found.
func (s *Service) Grant(ctx context.Context, c Caller, id string) (*cleanroom.Grant, *cleanroom.DataSource, error) {
	g, err := s.Store.FindGrant(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	ds, err := s.Store.FindDataSource(ctx, g.DataSourceID)
	if err != nil {
		return nil, nil, err
	}
	if !c.visible(ds) && c.OrgID != g.GranteeID {
		return nil, nil, cleanroom.Errorf(cleanroom.ENOTFOUND, "Grant not found.")
	}
	return g, ds, nil
}

// GrantRequest is what an advertiser grants.
type GrantRequest struct {
	GranteeID                                 string
	ExpiresAt                                 time.Time
	AllowMatched, AllowModeled, AllowInsights bool
}

// CreateGrant lets a demand-side workspace use a data source.
func (s *Service) CreateGrant(ctx context.Context, c Caller, dataSourceID string, r GrantRequest) (*cleanroom.Grant, error) {
	ds, err := s.ManagedDataSource(ctx, c, dataSourceID)
	if err != nil {
		return nil, err
	}
	grantee, err := s.partnerOrg(ctx, r.GranteeID, "grantee_id")
	if err != nil {
		return nil, err
	}
	if grantee.Kind != cleanroom.OrgDemandSide {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "%s is a %s, not a publisher's demand-side workspace.", grantee.Name, grantee.Kind).
			With("field", "grantee_id").
			Hint("Enter the publisher's demand-side organization ID; the publisher finds it on its Overview page.")
	}
	home, err := s.Store.FindOrg(ctx, ds.OrgID)
	if err != nil {
		return nil, err
	}
	if home.Kind == cleanroom.OrgDemandSide && grantee.ID != home.ID {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "Data uploaded into a publisher's workspace can only be granted to that workspace.").
			With("field", "grantee_id").Hint("Enter %s.", home.ID)
	}
	if home.ID == grantee.ID && ds.AdvertiserID == "" {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "The workspace's own data needs no grant.").With("field", "grantee_id")
	}
	if !r.AllowMatched && !r.AllowModeled && !r.AllowInsights {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "The grant allows no use.").
			Hint("Allow at least one of matched cohorts, modeled cohorts and insights.")
	}
	now := s.now()
	if !r.ExpiresAt.IsZero() && !r.ExpiresAt.After(now) {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "expires_at lies in the past.").With("field", "expires_at")
	}
	owner := ds.AdvertiserID
	if owner == "" {
		owner = ds.OrgID
	}
	g := &cleanroom.Grant{ID: newID(), DataSourceID: ds.ID, OwnerID: owner, GranteeID: grantee.ID,
		AllowMatched: r.AllowMatched, AllowModeled: r.AllowModeled, AllowInsights: r.AllowInsights,
		ExpiresAt: cleanroom.UTC(r.ExpiresAt), CreatedAt: now, CreatedBy: c.UserID}
	if err := s.Store.CreateGrant(ctx, g); err != nil {
		if cleanroom.ErrorCode(err) == cleanroom.ECONFLICT {
			return nil, cleanroom.Errorf(cleanroom.ECONFLICT, "%q is already granted to %s.", ds.Name, grantee.Name).
				Hint("Revoke the grant in force first to change its terms.")
		}
		return nil, err
	}
	return g, nil
}

// RevokeGrant revokes a grant; only the data's advertiser side may.
func (s *Service) RevokeGrant(ctx context.Context, c Caller, id string) (*cleanroom.Grant, error) {
	g, ds, err := s.Grant(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if !c.manages(ds) {
		if c.OrgID == g.GranteeID {
			return nil, cleanroom.Errorf(cleanroom.EFORBIDDEN, "Only the advertiser revokes a grant.")
		}
		return nil, cleanroom.Errorf(cleanroom.ENOTFOUND, "Grant not found.")
	}
	if err := s.Store.RevokeGrant(ctx, g.ID, s.now()); err != nil {
		return nil, err
	}
	return s.Store.FindGrant(ctx, g.ID)
}
