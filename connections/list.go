package connections

import (
	"context"

	"github.com/cleanroom-oss/cleanroom"
)

// Described is a connection as a caller sees it: both parties' names, whether the partner may use
// it now (and why not), and what the caller may do through it.
type Described struct {
	*cleanroom.Connection
	PublisherName, PartnerName string
	Active                     bool
	Reason                     string
	Capabilities               []cleanroom.Capability
}

// Other returns the name of the party that is not the caller's org.
func (d *Described) Other(c *cleanroom.Caller) string {
	if c.OrgID() == d.PublisherID {
		return d.PartnerName
	}
	return d.PublisherName
}

// Describe returns conn as the caller sees it.
func (s *Service) Describe(ctx context.Context, c *cleanroom.Caller, conn *cleanroom.Connection) (*Described, error) {
	d := &Described{Connection: conn, Capabilities: conn.Allowed(c)}
	if d.Capabilities == nil {
		d.Capabilities = []cleanroom.Capability{}
	}
	pub, err := s.Store.FindOrg(ctx, conn.PublisherID)
	if err != nil {
		return nil, err
	}
	partner, err := s.Store.FindOrg(ctx, conn.PartnerID)
	if err != nil {
		return nil, err
	}
	d.PublisherName, d.PartnerName = pub.Name, partner.Name
	if d.Active, d.Reason, err = s.Status(ctx, conn); err != nil {
		return nil, err
	}
	return d, nil
}

// List returns the connections of the caller's org, on whichever side it is, described.
func (s *Service) List(ctx context.Context, c *cleanroom.Caller, p cleanroom.Page) ([]*Described, string, error) {
	if c.OrgID() == "" {
		return nil, "", cleanroom.Errorf(cleanroom.EFORBIDDEN, "Choose an organization to see its connections.")
	}
	f := cleanroom.ConnectionFilter{Page: p}
	if c.Org.Kind == cleanroom.OrgPublisher {
		f.PublisherID = c.OrgID()
	} else {
		f.PartnerID = c.OrgID()
	}
	conns, next, err := s.Store.ListConnections(ctx, f)
	if err != nil {
		return nil, "", err
	}
	out := make([]*Described, 0, len(conns))
	for _, conn := range conns {
		d, err := s.Describe(ctx, c, conn)
		if err != nil {
			return nil, "", err
		}
		out = append(out, d)
	}
	return out, next, nil
}

// StandardOptOuts returns the standard cohorts the caller's org (a publisher) opted out of.
func (s *Service) StandardOptOuts(ctx context.Context, c *cleanroom.Caller) ([]string, error) {
	if err := c.InOrg(cleanroom.RoleViewer); err != nil {
		return nil, err
	}
	ids, err := s.Store.ListStandardOptOuts(ctx, c.OrgID())
	if ids == nil {
		ids = []string{}
	}
	return ids, err
}

// ProvisionalAccess lists provisional access, every org's or orgID's, for operators.
func (s *Service) ProvisionalAccess(ctx context.Context, c *cleanroom.Caller, orgID string) ([]*cleanroom.ProvisionalAccess, error) {
	if err := c.RequireOperator(); err != nil {
		return nil, err
	}
	return s.Store.ListProvisionalAccess(ctx, orgID)
}
