// Package connections holds the rules of how publishers and advertisers work together:
// connections (both workflows) and their permissions, standard-cohort opt-outs, invitations of
// advertisers into a publisher's demand-side workspace, data sources and the grants that let a
// workspace use an advertiser's data, and the operator's provisional access. Expiry and
// revocation take effect at every use: nothing has to run for them to apply.
package connections

import (
	"context"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/cleanroom-oss/cleanroom"
)

// Service applies the connection rules to a store.
type Service struct {
	Store cleanroom.Store
	Now   func() time.Time
}

// New returns a Service using the wall clock.
func New(store cleanroom.Store) *Service { return &Service{Store: store, Now: time.Now} }

func (s *Service) now() time.Time { return cleanroom.UTC(s.Now()) }

func newID() string { return uuid.Must(uuid.NewV7()).String() }

// partnerOrg parses and loads an org ID typed by a user, with errors that name the fix.
func (s *Service) partnerOrg(ctx context.Context, text, field string) (*cleanroom.Org, error) {
	id, err := cleanroom.ParseID("organization ID", text)
	if err != nil {
		return nil, err.(*cleanroom.Error).With("field", field)
	}
	o, err := s.Store.FindOrg(ctx, id)
	if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
		return nil, cleanroom.Errorf(cleanroom.ENOTFOUND, "No organization has the ID %s.", id).With("field", field).
			Hint("Ask the other party to copy its organization ID from the dashboard's Overview page; if it has no account yet, it must finish its setup with the operator first.")
	}
	return o, err
}

// CreateConnection connects the publisher to the org named by partnerText: an advertiser
// (operator-driven) or the publisher's own demand-side workspace (publisher-driven).
func (s *Service) CreateConnection(ctx context.Context, publisherID, partnerText string, perms cleanroom.Permissions) (*cleanroom.Connection, *cleanroom.Org, error) {
	pub, err := s.Store.FindOrg(ctx, publisherID)
	if err != nil {
		return nil, nil, err
	}
	if pub.Kind != cleanroom.OrgPublisher {
		return nil, nil, cleanroom.Errorf(cleanroom.EFORBIDDEN, "Only a publisher's supply-side workspace creates connections.").
			Hint("Switch to the publisher's organization.")
	}
	if !pub.CleanRoomEnabled() {
		return nil, nil, cleanroom.Errorf(cleanroom.EFORBIDDEN, "The clean room is not enabled for %s.", pub.Name).
			Hint("Ask the operator to enable the clean room for your organization; that creates your vault.")
	}
	partner, err := s.partnerOrg(ctx, partnerText, "partner_id")
	if err != nil {
		return nil, nil, err
	}
	var wf cleanroom.Workflow
	switch partner.Kind {
	case cleanroom.OrgAdvertiser:
		wf = cleanroom.WorkflowOperatorDriven
		prov, err := s.Store.ListProvisionalAccess(ctx, partner.ID)
		if err != nil {
			return nil, nil, err
		}
		if ok, reason := cleanroom.PartnerStatus(partner, prov, pub.ID, s.now()); !ok {
			return nil, nil, cleanroom.Errorf(cleanroom.EINVALID, "%s cannot be connected yet: %s", partner.Name, lowerFirst(reason)).
				With("field", "partner_id").
				Hint("Ask the advertiser to complete its setup and sign the data processing agreement with the operator, or ask the operator for provisional access to your vault.")
		}
	case cleanroom.OrgDemandSide:
		if partner.ParentID != pub.ID {
			return nil, nil, cleanroom.Errorf(cleanroom.EINVALID, "%s is the demand-side workspace of another publisher.", partner.Name).
				With("field", "partner_id").
				Hint("For the publisher-driven workflow, enter your own demand-side workspace ID, %s.", pub.DemandSideID)
		}
		wf = cleanroom.WorkflowPublisherDriven
	default:
		return nil, nil, cleanroom.Errorf(cleanroom.EINVALID, "%s is a %s, not an advertiser or a demand-side workspace.", partner.Name, partner.Kind).
			With("field", "partner_id").
			Hint("Enter the advertiser's organization ID (operator-driven workflow) or your own demand-side workspace ID, %s (publisher-driven).", pub.DemandSideID)
	}
	if err := perms.Validate(); err != nil {
		return nil, nil, err
	}
	if perms.SharedCustomCohorts == nil {
		perms.SharedCustomCohorts = []string{}
	}
	now := s.now()
	c := &cleanroom.Connection{ID: newID(), PublisherID: pub.ID, PartnerID: partner.ID, Workflow: wf, Permissions: perms, CreatedAt: now, UpdatedAt: now}
	if err := s.Store.CreateConnection(ctx, c); err != nil {
		if cleanroom.ErrorCode(err) == cleanroom.ECONFLICT {
			return nil, nil, cleanroom.Errorf(cleanroom.ECONFLICT, "%s is already connected to %s.", pub.Name, partner.Name).
				With("field", "partner_id").Hint("Edit the existing connection's permissions instead.")
		}
		return nil, nil, err
	}
	return c, partner, nil
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	b := []byte(s)
	if b[0] >= 'A' && b[0] <= 'Z' {
		b[0] += 'a' - 'A'
	}
	return string(b)
}

// Connection returns a connection visible to the caller (either side), with the capability
// checked. Others' connections are not found.
func (s *Service) Connection(ctx context.Context, c *cleanroom.Caller, id string, capability cleanroom.Capability) (*cleanroom.Connection, error) {
	conn, err := s.Store.FindConnection(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := conn.Check(c, capability); err != nil {
		return nil, err
	}
	return conn, nil
}

// UpdatePermissions replaces a connection's permissions (publisher side).
func (s *Service) UpdatePermissions(ctx context.Context, c *cleanroom.Caller, id string, perms cleanroom.Permissions) (*cleanroom.Connection, error) {
	if _, err := s.Connection(ctx, c, id, cleanroom.CapManageConnection); err != nil {
		return nil, err
	}
	if err := perms.Validate(); err != nil {
		return nil, err
	}
	if perms.SharedCustomCohorts == nil {
		perms.SharedCustomCohorts = []string{}
	}
	return s.Store.UpdateConnection(ctx, id, cleanroom.ConnectionUpdate{Permissions: perms}, s.now())
}

// DeleteConnection removes a connection (publisher side). Everything that uses a connection looks
// it up at use, so what depended on it stops at once.
func (s *Service) DeleteConnection(ctx context.Context, c *cleanroom.Caller, id string) (*cleanroom.Connection, error) {
	conn, err := s.Connection(ctx, c, id, cleanroom.CapManageConnection)
	if err != nil {
		return nil, err
	}
	return conn, s.Store.DeleteConnection(ctx, id)
}

// Status says whether the connection's partner may use it now.
func (s *Service) Status(ctx context.Context, conn *cleanroom.Connection) (active bool, reason string, err error) {
	partner, err := s.Store.FindOrg(ctx, conn.PartnerID)
	if err != nil {
		return false, "", err
	}
	var prov []*cleanroom.ProvisionalAccess
	if partner.Kind == cleanroom.OrgAdvertiser {
		if prov, err = s.Store.ListProvisionalAccess(ctx, partner.ID); err != nil {
			return false, "", err
		}
	}
	active, reason = cleanroom.PartnerStatus(partner, prov, conn.PublisherID, s.now())
	return active, reason, nil
}

// Use checks that the caller may use capability on the connection now: the permission, the role,
// the workflow, and the partner's standing (DPA or provisional access). Features call it at every
// use.
func (s *Service) Use(ctx context.Context, c *cleanroom.Caller, id string, capability cleanroom.Capability) (*cleanroom.Connection, error) {
	conn, err := s.Connection(ctx, c, id, capability)
	if err != nil {
		return nil, err
	}
	active, reason, err := s.Status(ctx, conn)
	if err != nil {
		return nil, err
	}
	if !active {
		return nil, cleanroom.Errorf(cleanroom.EFORBIDDEN, "The connection is suspended: %s", lowerFirst(reason)).
			Hint("The advertiser must sign the data processing agreement, or the operator must extend its provisional access.")
	}
	return conn, nil
}

// SetStandardOptOuts replaces the publisher's standard-cohort opt-outs.
func (s *Service) SetStandardOptOuts(ctx context.Context, c *cleanroom.Caller, cohortIDs []string) ([]string, error) {
	if err := c.InOrg(cleanroom.RoleMember); err != nil {
		return nil, err
	}
	pub, err := s.Store.FindOrg(ctx, c.OrgID())
	if err != nil {
		return nil, err
	}
	if pub.Kind != cleanroom.OrgPublisher {
		return nil, cleanroom.Errorf(cleanroom.EFORBIDDEN, "Only publishers have standard cohorts to opt out of.")
	}
	ids := slices.Clone(cohortIDs)
	for _, id := range ids {
		if err := cleanroom.ValidateSegmentID("standard cohort ID", id); err != nil {
			return nil, err
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if err := s.Store.SetStandardOptOuts(ctx, pub.ID, ids, s.now()); err != nil {
		return nil, err
	}
	return ids, nil
}

// GrantProvisionalAccess lets an org that has not finished setup be connected to a publisher's
// vault until expiresAt (operator).
func (s *Service) GrantProvisionalAccess(ctx context.Context, operatorID, orgText, publisherText string, expiresAt time.Time, reason string) (*cleanroom.ProvisionalAccess, error) {
	org, err := s.partnerOrg(ctx, orgText, "org_id")
	if err != nil {
		return nil, err
	}
	pub, err := s.partnerOrg(ctx, publisherText, "publisher_id")
	if err != nil {
		return nil, err
	}
	if pub.Kind != cleanroom.OrgPublisher || !pub.CleanRoomEnabled() {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "%s is not a publisher with a vault.", pub.Name).With("field", "publisher_id")
	}
	if org.Kind != cleanroom.OrgAdvertiser {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "Provisional access is for advertisers; %s is a %s.", org.Name, org.Kind).With("field", "org_id")
	}
	now := s.now()
	if !expiresAt.After(now) || expiresAt.After(now.AddDate(0, 6, 0)) {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "expires_at must lie between now and six months ahead.").With("field", "expires_at")
	}
	p := &cleanroom.ProvisionalAccess{ID: newID(), OrgID: org.ID, PublisherID: pub.ID, ExpiresAt: cleanroom.UTC(expiresAt),
		Reason: reason, CreatedAt: now, CreatedBy: operatorID}
	if err := s.Store.CreateProvisionalAccess(ctx, p); err != nil {
		return nil, err
	}
	return p, nil
}
