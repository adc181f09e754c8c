package connections

import (
	"context"

	"github.com/cleanroom-oss/cleanroom"
)

// Grantees returns the demand-side workspaces the caller may grant a data source it manages to,
// for a picker: the workspace an invited advertiser's data lives in; for an advertiser's own
// data, the demand-side workspaces of the publishers it is connected with (the same workspaces a
// publisher would tell it to type). The workspace's own data needs no grant: none.
func (s *Service) Grantees(ctx context.Context, c *cleanroom.Caller, dataSourceID string) ([]*cleanroom.Org, error) {
	ds, err := s.ManagedDataSource(ctx, c, dataSourceID)
	if err != nil {
		return nil, err
	}
	home, err := s.Store.FindOrg(ctx, ds.OrgID)
	if err != nil {
		return nil, err
	}
	if home.Kind == cleanroom.OrgDemandSide {
		if ds.AdvertiserID == "" {
			return nil, nil
		}
		return []*cleanroom.Org{home}, nil
	}
	var out []*cleanroom.Org
	seen := map[string]bool{}
	for page := (cleanroom.Page{Limit: cleanroom.MaxPageLimit}); ; {
		conns, next, err := s.Store.ListConnections(ctx, cleanroom.ConnectionFilter{PartnerID: home.ID, Page: page})
		if err != nil {
			return nil, err
		}
		for _, conn := range conns {
			pub, err := s.Store.FindOrg(ctx, conn.PublisherID)
			if err != nil {
				return nil, err
			}
			if pub.DemandSideID == "" || seen[pub.DemandSideID] {
				continue
			}
			seen[pub.DemandSideID] = true
			ws, err := s.Store.FindOrg(ctx, pub.DemandSideID)
			if err != nil {
				return nil, err
			}
			out = append(out, ws)
		}
		if next == "" {
			return out, nil
		}
		page.After = next
	}
}
