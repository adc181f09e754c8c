package cohorts

import (
	"context"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/sqlite"
)

// TestChangesNeedMember: the service itself refuses changes by viewers and invited advertisers,
// whoever calls it.
func TestChangesNeedMember(t *testing.T) {
	ctx := context.Background()
	store := sqlite.MustOpen(t)
	org := &cleanroom.Org{ID: "01900000-0000-7000-8000-000000000001", Name: "Acme", Kind: cleanroom.OrgAdvertiser}
	if err := store.CreateOrg(ctx, org); err != nil {
		t.Fatal(err)
	}
	co := &cleanroom.Cohort{ID: "01900000-0000-7000-8000-0000000000c1", OrgID: org.ID, Name: "C", Kind: cleanroom.CohortMatched,
		Query: []byte(`{"op":"any","conditions":[{"data_source":"x"}]}`), Status: cleanroom.CohortActive,
		Targets: []cleanroom.CohortTarget{{ConnectionID: "c", PublisherID: "p"}}}
	if err := store.CreateCohort(ctx, co); err != nil {
		t.Fatal(err)
	}
	s := &Service{Store: store, Now: time.Now}
	name := "Renamed"
	for _, role := range []cleanroom.Role{cleanroom.RoleViewer, cleanroom.RoleLimited} {
		c := cleanroom.NewCaller(org.ID, role)
		// A viewer is refused; an invited advertiser does not even see the cohort.
		want := cleanroom.EFORBIDDEN
		if role == cleanroom.RoleLimited {
			want = cleanroom.ENOTFOUND
		}
		if _, err := s.Update(ctx, c, co.ID, Change{Name: &name}); cleanroom.ErrorCode(err) != want {
			t.Errorf("%s updates: %v", role, err)
		}
		if _, err := s.Delete(ctx, c, co.ID); cleanroom.ErrorCode(err) != want {
			t.Errorf("%s deletes: %v", role, err)
		}
	}
	got, err := s.Update(ctx, cleanroom.NewCaller(org.ID, cleanroom.RoleMember), co.ID, Change{Name: &name})
	if err != nil || got.Name != "Renamed" {
		t.Errorf("member renames: %v %v", got, err)
	}
}
