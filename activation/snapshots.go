package activation

import (
	"context"
	"time"

	"github.com/cleanroom-oss/cleanroom"
)

// SnapshotState is a publisher's edge snapshot as the operator's deployment health shows it:
// what the edge serves now, from the manifest the last publish wrote.
type SnapshotState struct {
	PublisherID   string
	PublisherName string
	// PublishedAt is zero when nothing was published yet.
	PublishedAt time.Time
	// PubVersion is the audience version the snapshot was built from.
	PubVersion string
	// Users and Memberships count the snapshot's users and their cohort memberships.
	Users, Memberships int
	// Served and Withheld count the cohort codes served, and the cohorts built for the publisher
	// that are not.
	Served, Withheld int
}

// Snapshots returns the edge snapshot of every publisher with the clean room enabled, by name.
// Operators only.
func (s *Service) Snapshots(ctx context.Context, c *cleanroom.Caller) ([]SnapshotState, error) {
	if err := c.RequireOperator(); err != nil {
		return nil, err
	}
	var out []SnapshotState
	for page := (cleanroom.Page{Limit: cleanroom.MaxPageLimit}); ; {
		orgs, next, err := s.Store.ListOrgs(ctx, page)
		if err != nil {
			return nil, err
		}
		for _, o := range orgs {
			if o.Kind != cleanroom.OrgPublisher || !o.CleanRoomEnabled() {
				continue
			}
			m, err := s.Manifest(ctx, o.ID)
			if err != nil {
				return nil, err
			}
			out = append(out, SnapshotState{PublisherID: o.ID, PublisherName: o.Name, PublishedAt: m.PublishedAt, PubVersion: m.PubVersion,
				Users: m.Users, Memberships: m.Memberships, Served: len(m.Served), Withheld: len(m.Withheld)})
		}
		if next == "" {
			return out, nil
		}
		page.After = next
	}
}
