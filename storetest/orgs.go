package storetest

import (
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
)

// createOrg stores an org with ID orgID(n) created at t0.
func createOrg(t *testing.T, s cleanroom.Store, n int, kind cleanroom.OrgKind) *cleanroom.Org {
	t.Helper()
	o := &cleanroom.Org{ID: orgID(n), Name: "Org " + orgID(n)[:8], Kind: kind, CreatedAt: t0}
	ok(t, s.CreateOrg(t.Context(), o))
	return o
}

// demandSide returns a new demand-side workspace for publisher n and vaults for both.
func demandSide(n int) (vault *cleanroom.Vault, ds *cleanroom.Org, dsVault *cleanroom.Vault) {
	return &cleanroom.Vault{WrappedKey: []byte("publisher key")},
		&cleanroom.Org{ID: orgID(n + 100), Name: "Demand side", Kind: cleanroom.OrgDemandSide},
		&cleanroom.Vault{WrappedKey: []byte("demand-side key")}
}

var orgCases = []testCase{
	{"create and find", func(t *testing.T, s cleanroom.Store) {
		o := &cleanroom.Org{ID: orgID(1), Name: "Daily Planet", Kind: cleanroom.OrgPublisher, CreatedAt: t0}
		ok(t, s.CreateOrg(t.Context(), o))
		want := &cleanroom.Org{ID: orgID(1), Name: "Daily Planet", Kind: cleanroom.OrgPublisher, CreatedAt: at(0), UpdatedAt: at(0)}
		same(t, "created org", want, o)
		got, err := s.FindOrg(t.Context(), orgID(1))
		ok(t, err)
		same(t, "found org", want, got)
	}},
	{"create sets times when zero", func(t *testing.T, s cleanroom.Store) {
		o := &cleanroom.Org{ID: orgID(1), Name: "Acme", Kind: cleanroom.OrgAdvertiser}
		ok(t, s.CreateOrg(t.Context(), o))
		if o.CreatedAt.IsZero() || !o.UpdatedAt.Equal(o.CreatedAt) {
			t.Fatalf("CreatedAt %v, UpdatedAt %v: want both set and equal", o.CreatedAt, o.UpdatedAt)
		}
		got, err := s.FindOrg(t.Context(), orgID(1))
		ok(t, err)
		same(t, "found org", o, got)
	}},
	{"duplicate ID", func(t *testing.T, s cleanroom.Store) {
		first := createOrg(t, s, 1, cleanroom.OrgPublisher)
		err := s.CreateOrg(t.Context(), &cleanroom.Org{ID: orgID(1), Name: "Other", Kind: cleanroom.OrgAdvertiser, CreatedAt: at(time.Hour)})
		wantCode(t, err, cleanroom.ECONFLICT)
		got, err := s.FindOrg(t.Context(), orgID(1))
		ok(t, err)
		same(t, "org after failed duplicate", first, got)
	}},
	{"find missing", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgPublisher)
		_, err := s.FindOrg(t.Context(), orgID(2))
		wantCode(t, err, cleanroom.ENOTFOUND)
	}},
	{"list pages", func(t *testing.T, s cleanroom.Store) {
		var want []string
		for _, n := range []int{5, 2, 7, 1, 6, 3, 4} {
			createOrg(t, s, n, cleanroom.OrgAdvertiser)
		}
		for n := 1; n <= 7; n++ {
			want = append(want, orgID(n))
		}
		for _, c := range []struct{ limit, pages int }{{3, 3}, {7, 1}, {6, 2}, {1, 7}} {
			orgs, pages := collectPages(t, c.limit, func(p cleanroom.Page) ([]*cleanroom.Org, string, error) {
				return s.ListOrgs(t.Context(), p)
			})
			var got []string
			for _, o := range orgs {
				got = append(got, o.ID)
			}
			same(t, "listed IDs", want, got)
			if pages != c.pages {
				t.Errorf("limit %d: %d pages, want %d", c.limit, pages, c.pages)
			}
		}
	}},
	{"list empty", func(t *testing.T, s cleanroom.Store) {
		orgs, next, err := s.ListOrgs(t.Context(), cleanroom.Page{})
		ok(t, err)
		if len(orgs) != 0 || next != "" {
			t.Fatalf("ListOrgs on an empty store = %d orgs, next %q", len(orgs), next)
		}
	}},
	{"list with a malformed cursor", func(t *testing.T, s cleanroom.Store) {
		_, _, err := s.ListOrgs(t.Context(), cleanroom.Page{After: "not a cursor!"})
		wantCode(t, err, cleanroom.EINVALID)
	}},
	{"update", func(t *testing.T, s cleanroom.Store) {
		o := createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		name, signed := "Renamed", t0.Add(time.Minute)
		got, err := s.UpdateOrg(t.Context(), o.ID, cleanroom.OrgUpdate{Name: &name, DPASignedAt: &signed}, t0.Add(time.Hour))
		ok(t, err)
		want := *o
		want.Name, want.DPASignedAt, want.UpdatedAt = name, at(time.Minute), at(time.Hour)
		same(t, "updated org", &want, got)
		found, err := s.FindOrg(t.Context(), o.ID)
		ok(t, err)
		same(t, "found org", &want, found)

		// nil fields stay; a zero time clears.
		var zero time.Time
		got, err = s.UpdateOrg(t.Context(), o.ID, cleanroom.OrgUpdate{DPASignedAt: &zero}, t0.Add(2*time.Hour))
		ok(t, err)
		want.DPASignedAt, want.UpdatedAt = time.Time{}, at(2*time.Hour)
		same(t, "org after clearing the DPA", &want, got)
	}},
	{"update missing", func(t *testing.T, s cleanroom.Store) {
		name := "x"
		_, err := s.UpdateOrg(t.Context(), orgID(9), cleanroom.OrgUpdate{Name: &name}, t0)
		wantCode(t, err, cleanroom.ENOTFOUND)
	}},
	{"enable clean room for a publisher", func(t *testing.T, s cleanroom.Store) {
		pub := createOrg(t, s, 1, cleanroom.OrgPublisher)
		vault, ds, dsVault := demandSide(1)
		now := t0.Add(time.Hour)
		got, err := s.EnableCleanRoom(t.Context(), pub.ID, vault, ds, dsVault, now)
		ok(t, err)
		want := *pub
		want.CleanRoomEnabledAt, want.UpdatedAt, want.DemandSideID = at(time.Hour), at(time.Hour), ds.ID
		same(t, "enabled publisher", &want, got)
		found, err := s.FindOrg(t.Context(), pub.ID)
		ok(t, err)
		same(t, "found publisher", &want, found)

		wantDS := &cleanroom.Org{ID: orgID(101), Name: "Demand side", Kind: cleanroom.OrgDemandSide, ParentID: pub.ID,
			CleanRoomEnabledAt: at(time.Hour), CreatedAt: at(time.Hour), UpdatedAt: at(time.Hour)}
		foundDS, err := s.FindOrg(t.Context(), ds.ID)
		ok(t, err)
		same(t, "demand-side workspace", wantDS, foundDS)

		for _, v := range []*cleanroom.Vault{
			{OrgID: pub.ID, CreatedAt: at(time.Hour), WrappedKey: []byte("publisher key")},
			{OrgID: ds.ID, CreatedAt: at(time.Hour), WrappedKey: []byte("demand-side key")},
		} {
			got, err := s.FindVault(t.Context(), v.OrgID)
			ok(t, err)
			same(t, "vault", v, got)
		}

		vault2, ds2, dsVault2 := demandSide(2)
		_, err = s.EnableCleanRoom(t.Context(), pub.ID, vault2, ds2, dsVault2, t0.Add(2*time.Hour))
		wantCode(t, err, cleanroom.ECONFLICT)
		orgs, _, err := s.ListOrgs(t.Context(), cleanroom.Page{})
		ok(t, err)
		if len(orgs) != 2 {
			t.Fatalf("%d orgs after enabling twice, want the publisher and one workspace", len(orgs))
		}
	}},
	{"enable clean room for an advertiser", func(t *testing.T, s cleanroom.Store) {
		adv := createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		got, err := s.EnableCleanRoom(t.Context(), adv.ID, &cleanroom.Vault{WrappedKey: []byte("k")}, nil, nil, t0)
		ok(t, err)
		want := *adv
		want.CleanRoomEnabledAt, want.UpdatedAt = at(0), at(0)
		same(t, "enabled advertiser", &want, got)
		v, err := s.FindVault(t.Context(), adv.ID)
		ok(t, err)
		same(t, "vault", &cleanroom.Vault{OrgID: adv.ID, CreatedAt: at(0), WrappedKey: []byte("k")}, v)
		orgs, _, err := s.ListOrgs(t.Context(), cleanroom.Page{})
		ok(t, err)
		if len(orgs) != 1 {
			t.Fatalf("%d orgs after enabling an advertiser, want 1", len(orgs))
		}
		_, err = s.EnableCleanRoom(t.Context(), adv.ID, &cleanroom.Vault{WrappedKey: []byte("k2")}, nil, nil, t0.Add(time.Hour))
		wantCode(t, err, cleanroom.ECONFLICT)
	}},
	{"enable clean room for a missing org", func(t *testing.T, s cleanroom.Store) {
		_, err := s.EnableCleanRoom(t.Context(), orgID(1), &cleanroom.Vault{WrappedKey: []byte("k")}, nil, nil, t0)
		wantCode(t, err, cleanroom.ENOTFOUND)
	}},
	{"enable clean room is atomic", func(t *testing.T, s cleanroom.Store) {
		pub := createOrg(t, s, 1, cleanroom.OrgPublisher)
		vault, ds, dsVault := demandSide(1)
		createOrg(t, s, 101, cleanroom.OrgAdvertiser) // takes the workspace's ID
		_, err := s.EnableCleanRoom(t.Context(), pub.ID, vault, ds, dsVault, t0)
		wantCode(t, err, cleanroom.ECONFLICT)
		got, err := s.FindOrg(t.Context(), pub.ID)
		ok(t, err)
		same(t, "publisher after a failed enable", pub, got)
		_, err = s.FindVault(t.Context(), pub.ID)
		wantCode(t, err, cleanroom.ENOTFOUND)
	}},
	{"find vault missing", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgPublisher)
		_, err := s.FindVault(t.Context(), orgID(1))
		wantCode(t, err, cleanroom.ENOTFOUND)
	}},
}
