package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
)

// newDataSource returns data source n in org o of advertiser adv (0: none), created at t0 by
// user 1; not stored yet.
func newDataSource(n, o, adv int) *cleanroom.DataSource {
	d := &cleanroom.DataSource{ID: dataSourceID(n), OrgID: orgID(o), Name: fmt.Sprintf("Data source %d", n),
		CreatedBy: userID(1), CreatedAt: t0}
	if adv > 0 {
		d.AdvertiserID = orgID(adv)
	}
	return d
}

// createDataSource stores newDataSource(n, o, adv).
func createDataSource(t *testing.T, s cleanroom.Store, n, o, adv int) *cleanroom.DataSource {
	t.Helper()
	d := newDataSource(n, o, adv)
	ok(t, s.CreateDataSource(t.Context(), d))
	return d
}

func findDataSource(t *testing.T, s cleanroom.Store, id string) *cleanroom.DataSource {
	t.Helper()
	d, err := s.FindDataSource(t.Context(), id)
	ok(t, err)
	return d
}

func dataSourceIDs(ds []*cleanroom.DataSource) []string {
	ids := []string{}
	for _, d := range ds {
		ids = append(ids, d.ID)
	}
	return ids
}

var dataSourceCases = []testCase{
	{"create and find", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		d := &cleanroom.DataSource{ID: dataSourceID(1), OrgID: orgID(1), AdvertiserID: orgID(1), Name: "Lapsed customers",
			Description: "Bought nothing in 12 months", Status: cleanroom.DataSourceReady, CreatedBy: userID(1), CreatedAt: t0}
		ok(t, s.CreateDataSource(t.Context(), d))
		want := &cleanroom.DataSource{ID: dataSourceID(1), OrgID: orgID(1), AdvertiserID: orgID(1), Name: "Lapsed customers",
			Description: "Bought nothing in 12 months", Status: cleanroom.DataSourceReady, CreatedBy: userID(1), CreatedAt: at(0), UpdatedAt: at(0)}
		same(t, "created data source", want, d)
		same(t, "found data source", want, findDataSource(t, s, d.ID))
	}},
	{"create defaults", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgPublisher)
		createWorkspace(t, s, 2, 1)
		// The publisher's own staff's data: no advertiser, no status, no times.
		d := &cleanroom.DataSource{ID: dataSourceID(1), OrgID: orgID(2), Name: "Newsletter readers", CreatedBy: userID(1)}
		ok(t, s.CreateDataSource(t.Context(), d))
		if d.Status != cleanroom.DataSourceEmpty {
			t.Fatalf("Status = %q, want %q", d.Status, cleanroom.DataSourceEmpty)
		}
		if d.CreatedAt.IsZero() || !d.UpdatedAt.Equal(d.CreatedAt) {
			t.Fatalf("CreatedAt %v, UpdatedAt %v: want both set and equal", d.CreatedAt, d.UpdatedAt)
		}
		got := findDataSource(t, s, d.ID)
		same(t, "found data source", d, got)
		if got.AdvertiserID != "" {
			t.Fatalf("AdvertiserID = %q, want none", got.AdvertiserID)
		}
	}},
	{"every status round trips", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		for i, st := range []cleanroom.DataSourceStatus{cleanroom.DataSourceEmpty, cleanroom.DataSourceUploading,
			cleanroom.DataSourceProcessing, cleanroom.DataSourceReady, cleanroom.DataSourceFailed} {
			d := newDataSource(i+1, 1, 1)
			d.Status = st
			ok(t, s.CreateDataSource(t.Context(), d))
			if got := findDataSource(t, s, d.ID); got.Status != st {
				t.Errorf("status %q read back as %q", st, got.Status)
			}
		}
		bad := newDataSource(9, 1, 1)
		bad.Status = "deleted"
		if err := s.CreateDataSource(t.Context(), bad); err == nil {
			t.Fatal("a data source with status \"deleted\" was stored")
		}
	}},
	{"create needs the org and the advertiser", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		for _, d := range []*cleanroom.DataSource{newDataSource(1, 9, 1), newDataSource(2, 1, 9)} {
			err := s.CreateDataSource(t.Context(), d)
			wantCode(t, err, cleanroom.ENOTFOUND)
			wantMessage(t, err, "Organization not found.")
		}
		all, _, err := s.ListDataSources(t.Context(), cleanroom.DataSourceFilter{})
		ok(t, err)
		if len(all) != 0 {
			t.Fatalf("%d data sources after failed creations", len(all))
		}
	}},
	{"duplicate ID", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		first := createDataSource(t, s, 1, 1, 1)
		again := newDataSource(1, 1, 1)
		again.Name = "Other"
		wantCode(t, s.CreateDataSource(t.Context(), again), cleanroom.ECONFLICT)
		same(t, "data source after a failed duplicate", first, findDataSource(t, s, first.ID))
	}},
	{"find missing", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		createDataSource(t, s, 1, 1, 1)
		_, err := s.FindDataSource(t.Context(), dataSourceID(2))
		wantCode(t, err, cleanroom.ENOTFOUND)
		wantMessage(t, err, "Data source not found.")
	}},
	{"list filters", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgPublisher)
		createWorkspace(t, s, 2, 1)
		createOrg(t, s, 3, cleanroom.OrgAdvertiser)
		createOrg(t, s, 4, cleanroom.OrgAdvertiser)
		// Workspace 2 holds data of advertisers 3 (sources 4, 1) and 4 (source 2) and its own
		// (source 5); advertiser 3's own workspace holds source 3.
		createDataSource(t, s, 4, 2, 3)
		createDataSource(t, s, 2, 2, 4)
		createDataSource(t, s, 3, 3, 3)
		createDataSource(t, s, 5, 2, 0)
		createDataSource(t, s, 1, 2, 3)
		for _, c := range []struct {
			name string
			f    cleanroom.DataSourceFilter
			want []int
		}{
			{"workspace", cleanroom.DataSourceFilter{OrgID: orgID(2)}, []int{1, 2, 4, 5}},
			{"workspace, advertiser 3", cleanroom.DataSourceFilter{OrgID: orgID(2), AdvertiserID: orgID(3)}, []int{1, 4}},
			{"workspace, advertiser 4", cleanroom.DataSourceFilter{OrgID: orgID(2), AdvertiserID: orgID(4)}, []int{2}},
			{"advertiser's own workspace", cleanroom.DataSourceFilter{OrgID: orgID(3)}, []int{3}},
			{"advertiser's own workspace, itself", cleanroom.DataSourceFilter{OrgID: orgID(3), AdvertiserID: orgID(3)}, []int{3}},
			{"advertiser's own workspace, another advertiser", cleanroom.DataSourceFilter{OrgID: orgID(3), AdvertiserID: orgID(4)}, nil},
			{"org without data", cleanroom.DataSourceFilter{OrgID: orgID(4)}, nil},
			{"unknown org", cleanroom.DataSourceFilter{OrgID: orgID(9)}, nil},
			{"all", cleanroom.DataSourceFilter{}, []int{1, 2, 3, 4, 5}},
		} {
			t.Run(c.name, func(t *testing.T) {
				got, next, err := s.ListDataSources(t.Context(), c.f)
				ok(t, err)
				want := []string{}
				for _, n := range c.want {
					want = append(want, dataSourceID(n))
				}
				same(t, "listed IDs", want, dataSourceIDs(got))
				if next != "" {
					t.Fatalf("next = %q on a single page", next)
				}
			})
		}
		got, _, err := s.ListDataSources(t.Context(), cleanroom.DataSourceFilter{OrgID: orgID(2), AdvertiserID: orgID(4)})
		ok(t, err)
		same(t, "listed data source", []*cleanroom.DataSource{{ID: dataSourceID(2), OrgID: orgID(2), AdvertiserID: orgID(4),
			Name: "Data source 2", Status: cleanroom.DataSourceEmpty, CreatedBy: userID(1), CreatedAt: at(0), UpdatedAt: at(0)}}, got)
	}},
	{"list pages", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		createOrg(t, s, 2, cleanroom.OrgAdvertiser)
		for _, n := range []int{5, 2, 4, 1, 3} {
			createDataSource(t, s, n, 1, 1)
		}
		createDataSource(t, s, 6, 2, 2)
		var want []string
		for n := 1; n <= 5; n++ {
			want = append(want, dataSourceID(n))
		}
		for _, c := range []struct{ limit, pages int }{{2, 3}, {1, 5}, {5, 1}, {4, 2}, {0, 1}} {
			t.Run(fmt.Sprintf("limit %d", c.limit), func(t *testing.T) {
				limit := c.limit
				if limit == 0 {
					limit = cleanroom.DefaultPageLimit
				}
				got, pages := collectPages(t, limit, func(p cleanroom.Page) ([]*cleanroom.DataSource, string, error) {
					p.Limit = c.limit
					return s.ListDataSources(t.Context(), cleanroom.DataSourceFilter{OrgID: orgID(1), Page: p})
				})
				same(t, "listed IDs", want, dataSourceIDs(got))
				if pages != c.pages {
					t.Errorf("%d pages, want %d", pages, c.pages)
				}
			})
		}
		_, _, err := s.ListDataSources(t.Context(), cleanroom.DataSourceFilter{OrgID: orgID(1), Page: cleanroom.Page{After: "not a cursor!"}})
		wantCode(t, err, cleanroom.EINVALID)
	}},
	{"update", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		d := createDataSource(t, s, 1, 1, 1)
		other := createDataSource(t, s, 2, 1, 1)
		name, desc, empty := "Renamed", "Loyal customers", ""
		uploading, ready := cleanroom.DataSourceUploading, cleanroom.DataSourceReady
		want := *d
		// Steps run in order; each changes want as the store should.
		for i, step := range []struct {
			name   string
			upd    cleanroom.DataSourceUpdate
			change func(d *cleanroom.DataSource)
		}{
			{"nothing", cleanroom.DataSourceUpdate{}, func(*cleanroom.DataSource) {}},
			{"name", cleanroom.DataSourceUpdate{Name: &name}, func(d *cleanroom.DataSource) { d.Name = name }},
			{"description", cleanroom.DataSourceUpdate{Description: &desc}, func(d *cleanroom.DataSource) { d.Description = desc }},
			{"status", cleanroom.DataSourceUpdate{Status: &uploading}, func(d *cleanroom.DataSource) { d.Status = uploading }},
			{"all at once", cleanroom.DataSourceUpdate{Name: &name, Description: &empty, Status: &ready},
				func(d *cleanroom.DataSource) { d.Description, d.Status = "", ready }},
		} {
			t.Run(step.name, func(t *testing.T) {
				now := time.Duration(i+1) * time.Hour
				got, err := s.UpdateDataSource(t.Context(), d.ID, step.upd, t0.Add(now))
				ok(t, err)
				step.change(&want)
				want.UpdatedAt = at(now)
				same(t, "updated data source", &want, got)
				same(t, "found data source", &want, findDataSource(t, s, d.ID))
			})
		}
		same(t, "the other data source", other, findDataSource(t, s, other.ID))

		bad := cleanroom.DataSourceStatus("deleted")
		if _, err := s.UpdateDataSource(t.Context(), d.ID, cleanroom.DataSourceUpdate{Status: &bad}, t0.Add(time.Hour)); err == nil {
			t.Fatal("status \"deleted\" was stored")
		}
		same(t, "data source after a failed update", &want, findDataSource(t, s, d.ID))
	}},
	{"update missing", func(t *testing.T, s cleanroom.Store) {
		name := "x"
		_, err := s.UpdateDataSource(t.Context(), dataSourceID(1), cleanroom.DataSourceUpdate{Name: &name}, t0)
		wantCode(t, err, cleanroom.ENOTFOUND)
		wantMessage(t, err, "Data source not found.")
	}},
	{"delete removes its grants", func(t *testing.T, s cleanroom.Store) {
		grantFixture(t, s)
		createGrant(t, s, 1, 1, 3, 0, 0)
		createGrant(t, s, 2, 1, 4, 0, 0)
		kept := createGrant(t, s, 3, 2, 3, 0, 0)

		ok(t, s.DeleteDataSource(t.Context(), dataSourceID(1)))
		_, err := s.FindDataSource(t.Context(), dataSourceID(1))
		wantCode(t, err, cleanroom.ENOTFOUND)
		for _, id := range []string{grantID(1), grantID(2)} {
			_, err := s.FindGrant(t.Context(), id)
			wantCode(t, err, cleanroom.ENOTFOUND)
		}
		gs, err := s.ListGrants(t.Context(), dataSourceID(1), "")
		ok(t, err)
		if len(gs) != 0 {
			t.Fatalf("%d grants of the deleted data source listed", len(gs))
		}
		gs, err = s.ListGrants(t.Context(), "", orgID(3))
		ok(t, err)
		same(t, "grants to workspace 3", []*cleanroom.Grant{kept}, gs)
		same(t, "the other data source", newDataSourceStored(2, 1, 1), findDataSource(t, s, dataSourceID(2)))

		err = s.DeleteDataSource(t.Context(), dataSourceID(1))
		wantCode(t, err, cleanroom.ENOTFOUND)
		wantMessage(t, err, "Data source not found.")
	}},
}

// newDataSourceStored is newDataSource as the store returns it after creating it.
func newDataSourceStored(n, o, adv int) *cleanroom.DataSource {
	d := newDataSource(n, o, adv)
	d.Status, d.CreatedAt, d.UpdatedAt = cleanroom.DataSourceEmpty, at(0), at(0)
	return d
}
