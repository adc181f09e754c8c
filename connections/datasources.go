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
// pending invitation to it, is a conflict. Only the workspace's admins invite.
func (s *Service) Invite(ctx context.Context, c *cleanroom.Caller, email, advertiserText string) (*cleanroom.Invitation, error) {
	if err := c.InOrg(cleanroom.RoleAdmin); err != nil {
		return nil, err
	}
	ws, err := s.Store.FindOrg(ctx, c.OrgID())
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
		InvitedBy: c.UserID(), CreatedAt: now, ExpiresAt: now.Add(cleanroom.InvitationTTL)}
	if err := s.Store.CreateInvitation(ctx, inv); err != nil {
		return nil, err
	}
	return inv, nil
}

// CreateDataSource creates a data source in the caller's workspace: an advertiser's own, or a
// demand-side workspace (for a limited member, on behalf of the advertiser it represents).
func (s *Service) CreateDataSource(ctx context.Context, c *cleanroom.Caller, name, description string) (*cleanroom.DataSource, error) {
	if c.Role != cleanroom.RoleLimited {
		if err := c.InOrg(cleanroom.RoleMember); err != nil {
			return nil, err
		}
	}
	org, err := s.Store.FindOrg(ctx, c.OrgID())
	if err != nil {
		return nil, err
	}
	ds := &cleanroom.DataSource{ID: newID(), OrgID: org.ID, Name: name, Description: description,
		Status: cleanroom.DataSourceEmpty, CreatedBy: c.UserID()}
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
func visible(c *cleanroom.Caller, ds *cleanroom.DataSource) bool {
	return ds.OrgID == c.OrgID() && (c.Role != cleanroom.RoleLimited || ds.AdvertiserID == c.RepresentsID)
}

// manages reports whether the caller may change ds and grant it: its advertiser's people (the
// advertiser's own staff, or the limited member representing it), or the publisher's staff for
// data they uploaded themselves.
func manages(c *cleanroom.Caller, ds *cleanroom.DataSource) bool {
	if !visible(c, ds) {
		return false
	}
	if c.Role == cleanroom.RoleLimited {
		return true
	}
	staff := c.Role.AtLeast(cleanroom.RoleMember)
	return staff && (ds.AdvertiserID == ds.OrgID || ds.AdvertiserID == "")
}

// Access says how the caller's org reaches a data source.
type Access string

// Levels of access to a data source.
const (
	// AccessOwn: the caller's own data: its org's, or for an invited advertiser (the limited
	// role) its advertiser's.
	AccessOwn Access = "own"
	// AccessGranted: an advertiser's data that a grant in force lets the caller's org use.
	AccessGranted Access = "granted"
	// AccessListed: an invited advertiser's data in the caller's demand-side workspace that is not
	// granted (or no longer): the workspace sees that it exists and its status, to ask for a
	// grant, but not its taxonomy, reports or diagnostics.
	AccessListed Access = "listed"
)

// ownedByWorkspace reports whether ds is its org's own data rather than an advertiser's
// uploaded into a publisher's workspace.
func ownedByWorkspace(ds *cleanroom.DataSource) bool {
	return ds.AdvertiserID == "" || ds.AdvertiserID == ds.OrgID
}

// DataSource returns a data source the caller's org reaches, how, and the grant in force when
// the access is AccessGranted. An invited advertiser reaches only its own advertiser's data.
// Returns ENOTFOUND for anything else, as for another tenant's data.
func (s *Service) DataSource(ctx context.Context, c *cleanroom.Caller, id string) (*cleanroom.DataSource, Access, *cleanroom.Grant, error) {
	ds, err := s.Store.FindDataSource(ctx, id)
	if err != nil {
		return nil, "", nil, err
	}
	access, g, err := s.access(ctx, c, ds)
	if err != nil {
		return nil, "", nil, err
	}
	return ds, access, g, nil
}

// access decides how c reaches ds; ENOTFOUND when it does not.
func (s *Service) access(ctx context.Context, c *cleanroom.Caller, ds *cleanroom.DataSource) (Access, *cleanroom.Grant, error) {
	notFound := cleanroom.Errorf(cleanroom.ENOTFOUND, "Data source not found.")
	if c.Role == cleanroom.RoleLimited {
		if visible(c, ds) {
			return AccessOwn, nil, nil
		}
		return "", nil, notFound
	}
	if ds.OrgID == c.OrgID() && ownedByWorkspace(ds) {
		return AccessOwn, nil, nil
	}
	gs, err := s.Store.ListGrants(ctx, ds.ID, c.OrgID())
	if err != nil {
		return "", nil, err
	}
	for _, g := range gs {
		if g.Active(s.now()) {
			return AccessGranted, g, nil
		}
	}
	if ds.OrgID == c.OrgID() {
		return AccessListed, nil, nil
	}
	return "", nil, notFound
}

// ReadableDataSource returns a data source whose contents the caller may read: its taxonomy
// (segment names), upload reports, versions and diagnostics. That is its own data or data granted
// to its org; an invited advertiser's data that is not granted answers EFORBIDDEN with the fix.
func (s *Service) ReadableDataSource(ctx context.Context, c *cleanroom.Caller, id string) (*cleanroom.DataSource, Access, error) {
	ds, access, _, err := s.DataSource(ctx, c, id)
	if err != nil {
		return nil, "", err
	}
	if access == AccessListed {
		return nil, "", cleanroom.Errorf(cleanroom.EFORBIDDEN, "The advertiser has not granted %q to this workspace, so its segments, reports and diagnostics stay with the advertiser.", ds.Name).
			Hint("Ask the advertiser to grant the data source to this workspace.")
	}
	return ds, access, nil
}

// DataSources lists the data sources of the caller's org it reaches (an invited advertiser: its
// own advertiser's only), with the access to each.
func (s *Service) DataSources(ctx context.Context, c *cleanroom.Caller, p cleanroom.Page) ([]*cleanroom.DataSource, []Access, string, error) {
	if c.Role != cleanroom.RoleLimited {
		if err := c.InOrg(cleanroom.RoleViewer); err != nil {
			return nil, nil, "", err
		}
	}
	f := cleanroom.DataSourceFilter{OrgID: c.OrgID(), Page: p}
	if c.Role == cleanroom.RoleLimited {
		f.AdvertiserID = c.RepresentsID
	}
	dss, next, err := s.Store.ListDataSources(ctx, f)
	if err != nil {
		return nil, nil, "", err
	}
	access := make([]Access, len(dss))
	for i, ds := range dss {
		if access[i], _, err = s.access(ctx, c, ds); err != nil {
			return nil, nil, "", err
		}
	}
	return dss, access, next, nil
}

// QueryableDataSources lists the data sources the caller's org may name in a cohort query: its
// own data and the data granted to it by grants in force. Invited advertisers build no cohorts
// and get none.
func (s *Service) QueryableDataSources(ctx context.Context, c *cleanroom.Caller) ([]*cleanroom.DataSource, error) {
	if c.Role == cleanroom.RoleLimited {
		return nil, nil
	}
	var out []*cleanroom.DataSource
	seen := map[string]bool{}
	for page := (cleanroom.Page{Limit: cleanroom.MaxPageLimit}); ; {
		dss, access, next, err := s.DataSources(ctx, c, page)
		if err != nil {
			return nil, err
		}
		for i, ds := range dss {
			if access[i] != AccessListed {
				out, seen[ds.ID] = append(out, ds), true
			}
		}
		if next == "" {
			break
		}
		page.After = next
	}
	gs, dss, err := s.ReceivedGrants(ctx, c)
	if err != nil {
		return nil, err
	}
	for i, g := range gs {
		if g.Active(s.now()) && !seen[g.DataSourceID] {
			out, seen[g.DataSourceID] = append(out, dss[i]), true
		}
	}
	return out, nil
}

// UpdateDataSource renames or redescribes a data source the caller manages.
func (s *Service) UpdateDataSource(ctx context.Context, c *cleanroom.Caller, id string, name, description *string) (*cleanroom.DataSource, error) {
	ds, err := s.ManagedDataSource(ctx, c, id)
	if err != nil {
		return nil, err
	}
	next := *ds
	if name != nil {
		next.Name = *name
	}
	if description != nil {
		next.Description = *description
	}
	if err := next.Validate(); err != nil {
		return nil, err
	}
	return s.Store.UpdateDataSource(ctx, ds.ID, cleanroom.DataSourceUpdate{Name: name, Description: description}, s.now())
}

// Grants lists the grants of a data source the caller reaches: all of them on the advertiser's
// side, the ones made to the caller's org on the grantee's side.
func (s *Service) Grants(ctx context.Context, c *cleanroom.Caller, dataSourceID string) ([]*cleanroom.Grant, *cleanroom.DataSource, error) {
	ds, access, _, err := s.DataSource(ctx, c, dataSourceID)
	if err != nil {
		return nil, nil, err
	}
	granteeID := ""
	if access != AccessOwn {
		granteeID = c.OrgID() // a grantee sees only its own grants of the data
	}
	gs, err := s.Store.ListGrants(ctx, ds.ID, granteeID)
	return gs, ds, err
}

// ReceivedGrants lists the grants made to the caller's org (a demand-side workspace), with their
// data sources. Invited advertisers see grants through their data sources instead.
func (s *Service) ReceivedGrants(ctx context.Context, c *cleanroom.Caller) ([]*cleanroom.Grant, []*cleanroom.DataSource, error) {
	if err := c.InOrg(cleanroom.RoleViewer); err != nil {
		return nil, nil, err
	}
	gs, err := s.Store.ListGrants(ctx, "", c.OrgID())
	if err != nil {
		return nil, nil, err
	}
	dss := make([]*cleanroom.DataSource, len(gs))
	for i, g := range gs {
		if dss[i], err = s.Store.FindDataSource(ctx, g.DataSourceID); err != nil {
			return nil, nil, err
		}
	}
	return gs, dss, nil
}

// ManagedDataSource returns a data source the caller may change and grant.
func (s *Service) ManagedDataSource(ctx context.Context, c *cleanroom.Caller, id string) (*cleanroom.DataSource, error) {
	ds, _, _, err := s.DataSource(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if !manages(c, ds) {
		if visible(c, ds) {
			return nil, cleanroom.Errorf(cleanroom.EFORBIDDEN, "This data source belongs to an advertiser; only the advertiser changes or grants it.")
		}
		return nil, cleanroom.Errorf(cleanroom.EFORBIDDEN, "This data source is granted to you; only its advertiser changes it.")
	}
	return ds, nil
}

// Usable returns a data source the caller's org may use for use (building matched or modeled
// cohorts, insights) now: its own data, or data granted to it by a grant in force that allows
// the use. A grant that expired or was revoked makes the data unusable at once.
func (s *Service) Usable(ctx context.Context, c *cleanroom.Caller, id string, use cleanroom.Use) (*cleanroom.DataSource, error) {
	ds, access, _, err := s.DataSource(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if c.Role == cleanroom.RoleLimited {
		return nil, cleanroom.Errorf(cleanroom.EFORBIDDEN, "Invited advertisers upload and grant data; the publisher's workspace uses it.")
	}
	uses, err := s.Uses(ctx, c, ds, access)
	if err != nil {
		return nil, err
	}
	if !uses[use] {
		return nil, cleanroom.Errorf(cleanroom.EFORBIDDEN, "No grant in force lets this workspace use %q for %s.", ds.Name, use).
			Hint("Ask the advertiser to grant the data source to this workspace with %s use allowed.", use)
	}
	return ds, nil
}

// Uses returns for which uses the caller's org may use ds now, reached with access (from
// DataSource): none for an invited advertiser, every one for its own data, and otherwise what a
// grant in force allows. It reads the grants at most once.
func (s *Service) Uses(ctx context.Context, c *cleanroom.Caller, ds *cleanroom.DataSource, access Access) (map[cleanroom.Use]bool, error) {
	all := []cleanroom.Use{cleanroom.UseMatched, cleanroom.UseModeled, cleanroom.UseInsights}
	out := make(map[cleanroom.Use]bool, len(all))
	for _, u := range all {
		out[u] = false
	}
	switch {
	case c.Role == cleanroom.RoleLimited:
		return out, nil
	case access == AccessOwn:
		for _, u := range all {
			out[u] = true
		}
		return out, nil
	}
	gs, err := s.Store.ListGrants(ctx, ds.ID, c.OrgID())
	if err != nil {
		return nil, err
	}
	for _, u := range all {
		for _, g := range gs {
			out[u] = out[u] || g.Allows(u, s.now())
		}
	}
	return out, nil
}

// Grant returns a grant the caller's org sees: one of its own data (see visible) or one made to
// it, with the data source. Others are not found.
func (s *Service) Grant(ctx context.Context, c *cleanroom.Caller, id string) (*cleanroom.Grant, *cleanroom.DataSource, error) {
	g, err := s.Store.FindGrant(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	ds, err := s.Store.FindDataSource(ctx, g.DataSourceID)
	if err != nil {
		return nil, nil, err
	}
	grantee := c.OrgID() == g.GranteeID && c.Role != cleanroom.RoleLimited
	if !visible(c, ds) && !grantee {
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
func (s *Service) CreateGrant(ctx context.Context, c *cleanroom.Caller, dataSourceID string, r GrantRequest) (*cleanroom.Grant, error) {
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
		ExpiresAt: cleanroom.UTC(r.ExpiresAt), CreatedAt: now, CreatedBy: c.UserID()}
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
func (s *Service) RevokeGrant(ctx context.Context, c *cleanroom.Caller, id string) (*cleanroom.Grant, error) {
	g, ds, err := s.Grant(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if !manages(c, ds) {
		if c.OrgID() == g.GranteeID {
			return nil, cleanroom.Errorf(cleanroom.EFORBIDDEN, "Only the advertiser revokes a grant.")
		}
		return nil, cleanroom.Errorf(cleanroom.ENOTFOUND, "Grant not found.")
	}
	if err := s.Store.RevokeGrant(ctx, g.ID, s.now()); err != nil {
		return nil, err
	}
	return s.Store.FindGrant(ctx, g.ID)
}
