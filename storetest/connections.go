package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
)

// Kinds of IDs for connections, data sources, grants and provisional access (well above the
// kinds in storetest.go, so the two lists never collide).
const (
	kindConnection = iota + 0x100
	kindDataSource
	kindGrant
	kindProvisional
)

func connID(n int) string        { return uid(kindConnection, n) }
func dataSourceID(n int) string  { return uid(kindDataSource, n) }
func grantID(n int) string       { return uid(kindGrant, n) }
func provisionalID(n int) string { return uid(kindProvisional, n) }

// createWorkspace stores publisher parent's demand-side workspace with ID orgID(n) created at t0.
func createWorkspace(t *testing.T, s cleanroom.Store, n, parent int) *cleanroom.Org {
	t.Helper()
	o := &cleanroom.Org{ID: orgID(n), Name: fmt.Sprintf("Workspace %d", n), Kind: cleanroom.OrgDemandSide, ParentID: orgID(parent), CreatedAt: t0}
	ok(t, s.CreateOrg(t.Context(), o))
	return o
}

// newConnection returns connection n from publisher pub to partner, operator-driven, with the
// insights permission, created at t0; not stored yet.
func newConnection(n, pub, partner int) *cleanroom.Connection {
	return &cleanroom.Connection{ID: connID(n), PublisherID: orgID(pub), PartnerID: orgID(partner),
		Workflow: cleanroom.WorkflowOperatorDriven, Permissions: cleanroom.Permissions{Insights: true}, CreatedAt: t0}
}

// createConnection stores newConnection(n, pub, partner).
func createConnection(t *testing.T, s cleanroom.Store, n, pub, partner int) *cleanroom.Connection {
	t.Helper()
	c := newConnection(n, pub, partner)
	ok(t, s.CreateConnection(t.Context(), c))
	return c
}

// connectionIDs returns the IDs of cs in order.
func connectionIDs(cs []*cleanroom.Connection) []string {
	ids := []string{}
	for _, c := range cs {
		ids = append(ids, c.ID)
	}
	return ids
}

// wantMessage fails the test unless err's user-safe message is msg.
func wantMessage(t *testing.T, err error, msg string) {
	t.Helper()
	if got := cleanroom.ErrorMessage(err); got != msg {
		t.Fatalf("error message = %q, want %q (error %v)", got, msg, err)
	}
}

// deleteOrg deletes org n with SQL (the Store has no method for it), to check what cascades;
// it skips the test for stores without SQL.
func deleteOrg(t *testing.T, s cleanroom.Store, n int) {
	t.Helper()
	db, isSQL := s.(SQLStore)
	if !isSQL {
		t.Skip("the store does not expose SQL")
	}
	// The ID is a constant of the suite, so it can be spelled into the statement, which then
	// needs no dialect's placeholders.
	res, err := db.SQL().ExecContext(t.Context(), `DELETE FROM orgs WHERE id = '`+orgID(n)+`'`)
	ok(t, err)
	if k, err := res.RowsAffected(); err != nil || k != 1 {
		t.Fatalf("deleting org %d: %d rows, %v", n, k, err)
	}
}

var connectionCases = []testCase{
	{"create and find", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgPublisher)
		createOrg(t, s, 2, cleanroom.OrgAdvertiser)
		c := &cleanroom.Connection{ID: connID(1), PublisherID: orgID(1), PartnerID: orgID(2), Workflow: cleanroom.WorkflowOperatorDriven,
			Permissions: cleanroom.Permissions{StandardCohorts: true, Insights: true, CustomCohorts: true, SharedCustomCohorts: []string{"sports", "autos"}},
			CreatedAt:   t0}
		ok(t, s.CreateConnection(t.Context(), c))
		want := &cleanroom.Connection{ID: connID(1), PublisherID: orgID(1), PartnerID: orgID(2), Workflow: cleanroom.WorkflowOperatorDriven,
			Permissions: cleanroom.Permissions{StandardCohorts: true, Insights: true, CustomCohorts: true, SharedCustomCohorts: []string{"sports", "autos"}},
			CreatedAt:   at(0), UpdatedAt: at(0)}
		same(t, "created connection", want, c)
		got, err := s.FindConnection(t.Context(), connID(1))
		ok(t, err)
		same(t, "found connection", want, got)
	}},
	{"create sets times when zero", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgPublisher)
		createOrg(t, s, 2, cleanroom.OrgAdvertiser)
		c := newConnection(1, 1, 2)
		c.CreatedAt = time.Time{}
		ok(t, s.CreateConnection(t.Context(), c))
		if c.CreatedAt.IsZero() || !c.UpdatedAt.Equal(c.CreatedAt) {
			t.Fatalf("CreatedAt %v, UpdatedAt %v: want both set and equal", c.CreatedAt, c.UpdatedAt)
		}
		got, err := s.FindConnection(t.Context(), c.ID)
		ok(t, err)
		same(t, "found connection", c, got)
	}},
	{"permissions and workflows round trip", func(t *testing.T, s cleanroom.Store) {
		pub := createOrg(t, s, 1, cleanroom.OrgPublisher)
		ws := createWorkspace(t, s, 2, 1)
		cases := []struct {
			name     string
			workflow cleanroom.Workflow
			perms    cleanroom.Permissions
			// stored is perms as read back; nil means perms.
			stored *cleanroom.Permissions
		}{
			{name: "nothing, nil list", workflow: cleanroom.WorkflowOperatorDriven,
				perms: cleanroom.Permissions{}, stored: &cleanroom.Permissions{SharedCustomCohorts: []string{}}},
			{name: "nothing, empty list", workflow: cleanroom.WorkflowOperatorDriven,
				perms: cleanroom.Permissions{SharedCustomCohorts: []string{}}},
			{name: "standard cohorts", workflow: cleanroom.WorkflowOperatorDriven,
				perms: cleanroom.Permissions{StandardCohorts: true, SharedCustomCohorts: []string{}}},
			{name: "matched cohorts", workflow: cleanroom.WorkflowOperatorDriven,
				perms: cleanroom.Permissions{MatchedCohorts: true, SharedCustomCohorts: []string{}}},
			{name: "modeled audiences", workflow: cleanroom.WorkflowOperatorDriven,
				perms: cleanroom.Permissions{ModeledAudiences: true, SharedCustomCohorts: []string{}}},
			{name: "insights", workflow: cleanroom.WorkflowOperatorDriven,
				perms: cleanroom.Permissions{Insights: true, SharedCustomCohorts: []string{}}},
			{name: "advanced insights", workflow: cleanroom.WorkflowOperatorDriven,
				perms: cleanroom.Permissions{AdvancedInsights: true, SharedCustomCohorts: []string{}}},
			{name: "custom cohorts, none shared", workflow: cleanroom.WorkflowOperatorDriven,
				perms: cleanroom.Permissions{CustomCohorts: true, SharedCustomCohorts: []string{}}},
			{name: "everything, publisher-driven", workflow: cleanroom.WorkflowPublisherDriven,
				perms: cleanroom.Permissions{StandardCohorts: true, MatchedCohorts: true, ModeledAudiences: true, Insights: true,
					AdvancedInsights: true, CustomCohorts: true,
					SharedCustomCohorts: []string{"z-last", "A_upper", "a.lower", `quote"and\backslash`, "ünïcode", "1"}}},
		}
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				// A partner of its own per case, as a publisher connects to each org once.
				partner := ws.ID
				if c.workflow == cleanroom.WorkflowOperatorDriven {
					partner = createOrg(t, s, 10+i, cleanroom.OrgAdvertiser).ID
				}
				conn := &cleanroom.Connection{ID: connID(i + 1), PublisherID: pub.ID, PartnerID: partner, Workflow: c.workflow,
					Permissions: c.perms, CreatedAt: t0}
				ok(t, s.CreateConnection(t.Context(), conn))
				want := c.perms
				if c.stored != nil {
					want = *c.stored
				}
				same(t, "permissions written back", want, conn.Permissions)
				got, err := s.FindConnection(t.Context(), conn.ID)
				ok(t, err)
				same(t, "stored permissions", want, got.Permissions)
				if got.Workflow != c.workflow {
					t.Fatalf("workflow = %q, want %q", got.Workflow, c.workflow)
				}
				if got.Permissions.SharedCustomCohorts == nil {
					t.Fatal("SharedCustomCohorts read back as nil, want a non-nil slice")
				}
			})
		}
	}},
	{"duplicate", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgPublisher)
		createOrg(t, s, 2, cleanroom.OrgAdvertiser)
		createOrg(t, s, 3, cleanroom.OrgAdvertiser)
		first := createConnection(t, s, 1, 1, 2)

		// The same pair under another ID.
		again := newConnection(2, 1, 2)
		again.Permissions = cleanroom.Permissions{MatchedCohorts: true}
		err := s.CreateConnection(t.Context(), again)
		wantCode(t, err, cleanroom.ECONFLICT)
		wantMessage(t, err, "This publisher is already connected to that organization.")
		// The same ID for another pair.
		wantCode(t, s.CreateConnection(t.Context(), newConnection(1, 1, 3)), cleanroom.ECONFLICT)

		got, err := s.FindConnection(t.Context(), first.ID)
		ok(t, err)
		same(t, "connection after failed duplicates", first, got)
		_, err = s.FindConnection(t.Context(), connID(2))
		wantCode(t, err, cleanroom.ENOTFOUND)
		all, _, err := s.ListConnections(t.Context(), cleanroom.ConnectionFilter{})
		ok(t, err)
		same(t, "connections", []string{connID(1)}, connectionIDs(all))

		// The other publisher of a pair may connect the other way round: that is another pair.
		createOrg(t, s, 4, cleanroom.OrgPublisher)
		createConnection(t, s, 3, 4, 2)
	}},
	{"concurrent duplicates", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgPublisher)
		createOrg(t, s, 2, cleanroom.OrgAdvertiser)
		const n = 8
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				errs[i] = s.CreateConnection(t.Context(), newConnection(i+1, 1, 2))
			})
		}
		close(start)
		wg.Wait()
		created := 0
		for i, err := range errs {
			switch cleanroom.ErrorCode(err) {
			case "":
				created++
			case cleanroom.ECONFLICT:
			default:
				t.Errorf("connection %d: %v, want success or a conflict", i+1, err)
			}
		}
		all, _, err := s.ListConnections(t.Context(), cleanroom.ConnectionFilter{})
		ok(t, err)
		if created != 1 || len(all) != 1 {
			t.Fatalf("%d of %d concurrent creations succeeded and %d connections are stored, want 1 and 1", created, n, len(all))
		}
	}},
	{"create needs both orgs", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgPublisher)
		createOrg(t, s, 2, cleanroom.OrgAdvertiser)
		for _, c := range []*cleanroom.Connection{newConnection(1, 9, 2), newConnection(2, 1, 9)} {
			err := s.CreateConnection(t.Context(), c)
			wantCode(t, err, cleanroom.ENOTFOUND)
			wantMessage(t, err, "Organization not found.")
		}
		all, _, err := s.ListConnections(t.Context(), cleanroom.ConnectionFilter{})
		ok(t, err)
		if len(all) != 0 {
			t.Fatalf("%d connections after failed creations", len(all))
		}
	}},
	{"no connection to itself", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgPublisher)
		if err := s.CreateConnection(t.Context(), newConnection(1, 1, 1)); err == nil {
			t.Fatal("a publisher was connected to itself")
		}
		_, err := s.FindConnection(t.Context(), connID(1))
		wantCode(t, err, cleanroom.ENOTFOUND)
	}},
	{"find missing", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgPublisher)
		createOrg(t, s, 2, cleanroom.OrgAdvertiser)
		createConnection(t, s, 1, 1, 2)
		_, err := s.FindConnection(t.Context(), connID(2))
		wantCode(t, err, cleanroom.ENOTFOUND)
		wantMessage(t, err, "Connection not found.")
	}},
	{"list by publisher and partner", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgPublisher)
		createOrg(t, s, 2, cleanroom.OrgPublisher)
		createOrg(t, s, 3, cleanroom.OrgAdvertiser)
		createOrg(t, s, 4, cleanroom.OrgAdvertiser)
		// Connection n: 1→3 (n=4), 1→4 (n=2), 2→3 (n=1), 2→4 (n=3); created out of ID order.
		createConnection(t, s, 3, 2, 4)
		createConnection(t, s, 1, 2, 3)
		createConnection(t, s, 4, 1, 3)
		createConnection(t, s, 2, 1, 4)
		for _, c := range []struct {
			name string
			f    cleanroom.ConnectionFilter
			want []int
		}{
			{"all", cleanroom.ConnectionFilter{}, []int{1, 2, 3, 4}},
			{"publisher 1", cleanroom.ConnectionFilter{PublisherID: orgID(1)}, []int{2, 4}},
			{"publisher 2", cleanroom.ConnectionFilter{PublisherID: orgID(2)}, []int{1, 3}},
			{"partner 3", cleanroom.ConnectionFilter{PartnerID: orgID(3)}, []int{1, 4}},
			{"partner 4", cleanroom.ConnectionFilter{PartnerID: orgID(4)}, []int{2, 3}},
			{"publisher 1 and partner 3", cleanroom.ConnectionFilter{PublisherID: orgID(1), PartnerID: orgID(3)}, []int{4}},
			{"publisher 2 and partner 4", cleanroom.ConnectionFilter{PublisherID: orgID(2), PartnerID: orgID(4)}, []int{3}},
			{"an advertiser as publisher", cleanroom.ConnectionFilter{PublisherID: orgID(3)}, nil},
			{"a publisher as partner", cleanroom.ConnectionFilter{PartnerID: orgID(1)}, nil},
			{"an unknown org", cleanroom.ConnectionFilter{PublisherID: orgID(9)}, nil},
		} {
			t.Run(c.name, func(t *testing.T) {
				got, next, err := s.ListConnections(t.Context(), c.f)
				ok(t, err)
				want := []string{}
				for _, n := range c.want {
					want = append(want, connID(n))
				}
				same(t, "listed IDs", want, connectionIDs(got))
				if next != "" {
					t.Fatalf("next = %q on a single page", next)
				}
			})
		}
	}},
	{"list pages", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgPublisher)
		createOrg(t, s, 2, cleanroom.OrgPublisher)
		for n := 3; n <= 8; n++ {
			createOrg(t, s, n, cleanroom.OrgAdvertiser)
		}
		// Publisher 1 connects to partners 3..7 as connections 5, 2, 4, 1, 3; publisher 2 to
		// partner 8 as connection 6, and to partner 3 as connection 7.
		for i, n := range []int{5, 2, 4, 1, 3} {
			createConnection(t, s, n, 1, 3+i)
		}
		createConnection(t, s, 6, 2, 8)
		createConnection(t, s, 7, 2, 3)
		ids := func(ns ...int) []string {
			var out []string
			for _, n := range ns {
				out = append(out, connID(n))
			}
			return out
		}
		for _, c := range []struct {
			name         string
			f            cleanroom.ConnectionFilter
			limit, pages int
			want         []string
		}{
			{"publisher, limit 2", cleanroom.ConnectionFilter{PublisherID: orgID(1)}, 2, 3, ids(1, 2, 3, 4, 5)},
			{"publisher, limit 1", cleanroom.ConnectionFilter{PublisherID: orgID(1)}, 1, 5, ids(1, 2, 3, 4, 5)},
			{"publisher, limit 5", cleanroom.ConnectionFilter{PublisherID: orgID(1)}, 5, 1, ids(1, 2, 3, 4, 5)},
			{"publisher, limit 4", cleanroom.ConnectionFilter{PublisherID: orgID(1)}, 4, 2, ids(1, 2, 3, 4, 5)},
			{"all, limit 3", cleanroom.ConnectionFilter{}, 3, 3, ids(1, 2, 3, 4, 5, 6, 7)},
			{"partner, limit 1", cleanroom.ConnectionFilter{PartnerID: orgID(3)}, 1, 2, ids(5, 7)},
		} {
			t.Run(c.name, func(t *testing.T) {
				got, pages := collectPages(t, c.limit, func(p cleanroom.Page) ([]*cleanroom.Connection, string, error) {
					f := c.f
					f.Page = p
					return s.ListConnections(t.Context(), f)
				})
				var gotIDs []string
				for _, conn := range got {
					gotIDs = append(gotIDs, conn.ID)
				}
				same(t, "listed IDs", c.want, gotIDs)
				if pages != c.pages {
					t.Errorf("%d pages, want %d", pages, c.pages)
				}
			})
		}
		_, _, err := s.ListConnections(t.Context(), cleanroom.ConnectionFilter{Page: cleanroom.Page{After: "not a cursor!"}})
		wantCode(t, err, cleanroom.EINVALID)
	}},
	{"list returns whole connections", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgPublisher)
		createOrg(t, s, 2, cleanroom.OrgAdvertiser)
		c := newConnection(1, 1, 2)
		c.Permissions = cleanroom.Permissions{ModeledAudiences: true, CustomCohorts: true, SharedCustomCohorts: []string{"c1"}}
		c.CreatedAt, c.UpdatedAt = t0, t0.Add(time.Minute)
		ok(t, s.CreateConnection(t.Context(), c))
		got, _, err := s.ListConnections(t.Context(), cleanroom.ConnectionFilter{PartnerID: orgID(2)})
		ok(t, err)
		same(t, "listed connections", []*cleanroom.Connection{{ID: connID(1), PublisherID: orgID(1), PartnerID: orgID(2),
			Workflow:    cleanroom.WorkflowOperatorDriven,
			Permissions: cleanroom.Permissions{ModeledAudiences: true, CustomCohorts: true, SharedCustomCohorts: []string{"c1"}},
			CreatedAt:   at(0), UpdatedAt: at(time.Minute)}}, got)
	}},
	{"update", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgPublisher)
		createOrg(t, s, 2, cleanroom.OrgAdvertiser)
		createOrg(t, s, 3, cleanroom.OrgAdvertiser)
		c := createConnection(t, s, 1, 1, 2)
		other := createConnection(t, s, 2, 1, 3)
		for _, step := range []struct {
			name  string
			perms cleanroom.Permissions
			want  cleanroom.Permissions
		}{
			{"share cohorts",
				cleanroom.Permissions{MatchedCohorts: true, CustomCohorts: true, SharedCustomCohorts: []string{"b", "a"}},
				cleanroom.Permissions{MatchedCohorts: true, CustomCohorts: true, SharedCustomCohorts: []string{"b", "a"}}},
			{"everything on",
				cleanroom.Permissions{StandardCohorts: true, MatchedCohorts: true, ModeledAudiences: true, Insights: true, AdvancedInsights: true,
					CustomCohorts: true, SharedCustomCohorts: []string{"c"}},
				cleanroom.Permissions{StandardCohorts: true, MatchedCohorts: true, ModeledAudiences: true, Insights: true, AdvancedInsights: true,
					CustomCohorts: true, SharedCustomCohorts: []string{"c"}}},
			{"everything off, nil list",
				cleanroom.Permissions{},
				cleanroom.Permissions{SharedCustomCohorts: []string{}}},
		} {
			t.Run(step.name, func(t *testing.T) {
				now := t0.Add(time.Hour)
				got, err := s.UpdateConnection(t.Context(), c.ID, cleanroom.ConnectionUpdate{Permissions: step.perms}, now)
				ok(t, err)
				want := *c
				want.Permissions, want.UpdatedAt = step.want, at(time.Hour)
				same(t, "updated connection", &want, got)
				found, err := s.FindConnection(t.Context(), c.ID)
				ok(t, err)
				same(t, "found connection", &want, found)
			})
		}
		found, err := s.FindConnection(t.Context(), other.ID)
		ok(t, err)
		same(t, "the other connection", other, found)
	}},
	{"update missing", func(t *testing.T, s cleanroom.Store) {
		_, err := s.UpdateConnection(t.Context(), connID(1), cleanroom.ConnectionUpdate{Permissions: cleanroom.Permissions{Insights: true}}, t0)
		wantCode(t, err, cleanroom.ENOTFOUND)
		wantMessage(t, err, "Connection not found.")
	}},
	{"delete", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgPublisher)
		createOrg(t, s, 2, cleanroom.OrgAdvertiser)
		createOrg(t, s, 3, cleanroom.OrgAdvertiser)
		createConnection(t, s, 1, 1, 2)
		other := createConnection(t, s, 2, 1, 3)
		ok(t, s.DeleteConnection(t.Context(), connID(1)))
		_, err := s.FindConnection(t.Context(), connID(1))
		wantCode(t, err, cleanroom.ENOTFOUND)
		err = s.DeleteConnection(t.Context(), connID(1))
		wantCode(t, err, cleanroom.ENOTFOUND)
		wantMessage(t, err, "Connection not found.")
		all, _, err := s.ListConnections(t.Context(), cleanroom.ConnectionFilter{})
		ok(t, err)
		same(t, "connections left", []*cleanroom.Connection{other}, all)
		// The pair is free again.
		createConnection(t, s, 3, 1, 2)
	}},
}

var optOutCases = []testCase{
	{"set replaces the list", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgPublisher)
		createOrg(t, s, 2, cleanroom.OrgPublisher)
		ok(t, s.SetStandardOptOuts(t.Context(), orgID(2), []string{"other-publisher"}, t0))
		for _, step := range []struct {
			name string
			set  []string
			want []string
		}{
			{"none yet", nil, []string{}},
			{"three", []string{"iab-3", "iab-1", "iab-2"}, []string{"iab-1", "iab-2", "iab-3"}},
			{"replaced by overlapping", []string{"iab-3", "iab-4"}, []string{"iab-3", "iab-4"}},
			{"duplicates count once", []string{"iab-9", "iab-9", "iab-8"}, []string{"iab-8", "iab-9"}},
			{"emptied", []string{}, []string{}},
			{"set again after emptying", []string{"iab-5"}, []string{"iab-5"}},
			{"emptied with nil", nil, []string{}},
		} {
			t.Run(step.name, func(t *testing.T) {
				if step.name != "none yet" {
					ok(t, s.SetStandardOptOuts(t.Context(), orgID(1), step.set, t0.Add(time.Hour)))
				}
				got, err := s.ListStandardOptOuts(t.Context(), orgID(1))
				ok(t, err)
				same(t, "opt-outs", step.want, got)
				other, err := s.ListStandardOptOuts(t.Context(), orgID(2))
				ok(t, err)
				same(t, "the other publisher's opt-outs", []string{"other-publisher"}, other)
			})
		}
	}},
	{"sorted in byte order", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgPublisher)
		// Locale collations would sort these differently (case and punctuation ignored).
		ok(t, s.SetStandardOptOuts(t.Context(), orgID(1), []string{"b", "aa", "B", "a-z", "_x", "a", "Z9", "10", "9"}, t0))
		got, err := s.ListStandardOptOuts(t.Context(), orgID(1))
		ok(t, err)
		same(t, "opt-outs", []string{"10", "9", "B", "Z9", "_x", "a", "a-z", "aa", "b"}, got)
	}},
	{"unknown publisher", func(t *testing.T, s cleanroom.Store) {
		err := s.SetStandardOptOuts(t.Context(), orgID(1), []string{"iab-1"}, t0)
		wantCode(t, err, cleanroom.ENOTFOUND)
		got, err := s.ListStandardOptOuts(t.Context(), orgID(1))
		ok(t, err)
		same(t, "opt-outs of an unknown publisher", []string{}, got)
	}},
}

// grantFixture stores advertiser 1 with data sources 1 and 2, publisher 2 and its demand-side
// workspaces 3 and 4 (4 standing for another publisher's), and user 1.
func grantFixture(t *testing.T, s cleanroom.Store) {
	t.Helper()
	createOrg(t, s, 1, cleanroom.OrgAdvertiser)
	createOrg(t, s, 2, cleanroom.OrgPublisher)
	createWorkspace(t, s, 3, 2)
	createWorkspace(t, s, 4, 2)
	for n := 1; n <= 2; n++ {
		createDataSource(t, s, n, 1, 1)
	}
}

// newGrant returns grant n of data source ds (of advertiser 1) to workspace grantee, allowing
// matched cohorts, created at t0+created and expiring at t0+expires (0: never); not stored yet.
func newGrant(n, ds, grantee int, created, expires time.Duration) *cleanroom.Grant {
	g := &cleanroom.Grant{ID: grantID(n), DataSourceID: dataSourceID(ds), OwnerID: orgID(1), GranteeID: orgID(grantee),
		AllowMatched: true, CreatedAt: t0.Add(created), CreatedBy: userID(1)}
	if expires != 0 {
		g.ExpiresAt = t0.Add(expires)
	}
	return g
}

// createGrant stores newGrant(...).
func createGrant(t *testing.T, s cleanroom.Store, n, ds, grantee int, created, expires time.Duration) *cleanroom.Grant {
	t.Helper()
	g := newGrant(n, ds, grantee, created, expires)
	ok(t, s.CreateGrant(t.Context(), g))
	return g
}

func findGrant(t *testing.T, s cleanroom.Store, id string) *cleanroom.Grant {
	t.Helper()
	g, err := s.FindGrant(t.Context(), id)
	ok(t, err)
	return g
}

var grantCases = []testCase{
	{"create and find", func(t *testing.T, s cleanroom.Store) {
		grantFixture(t, s)
		g := &cleanroom.Grant{ID: grantID(1), DataSourceID: dataSourceID(1), OwnerID: orgID(1), GranteeID: orgID(3),
			AllowMatched: true, AllowInsights: true, ExpiresAt: t0.Add(30 * 24 * time.Hour), CreatedAt: t0, CreatedBy: userID(1)}
		ok(t, s.CreateGrant(t.Context(), g))
		want := &cleanroom.Grant{ID: grantID(1), DataSourceID: dataSourceID(1), OwnerID: orgID(1), GranteeID: orgID(3),
			AllowMatched: true, AllowInsights: true, ExpiresAt: at(30 * 24 * time.Hour), CreatedAt: at(0), CreatedBy: userID(1)}
		same(t, "created grant", want, g)
		same(t, "found grant", want, findGrant(t, s, grantID(1)))

		// Every use on its own, and no expiry.
		for i, uses := range [][3]bool{{true, false, false}, {false, true, false}, {false, false, true}} {
			g := &cleanroom.Grant{ID: grantID(10 + i), DataSourceID: dataSourceID(2), OwnerID: orgID(1), GranteeID: orgID(3),
				AllowMatched: uses[0], AllowModeled: uses[1], AllowInsights: uses[2], CreatedAt: t0, CreatedBy: userID(1)}
			ok(t, s.CreateGrant(t.Context(), g))
			same(t, "found grant", g, findGrant(t, s, g.ID))
			ok(t, s.RevokeGrant(t.Context(), g.ID, t0)) // make room for the next one
		}
	}},
	{"create sets the time when zero", func(t *testing.T, s cleanroom.Store) {
		grantFixture(t, s)
		g := newGrant(1, 1, 3, 0, 0)
		g.CreatedAt = time.Time{}
		ok(t, s.CreateGrant(t.Context(), g))
		if g.CreatedAt.IsZero() {
			t.Fatal("CreatedAt not set")
		}
		same(t, "found grant", g, findGrant(t, s, g.ID))
	}},
	{"create needs the data source and the orgs", func(t *testing.T, s cleanroom.Store) {
		grantFixture(t, s)
		for _, c := range []struct {
			name   string
			change func(g *cleanroom.Grant)
			msg    string
		}{
			{"data source", func(g *cleanroom.Grant) { g.DataSourceID = dataSourceID(9) }, "Data source not found."},
			{"owner", func(g *cleanroom.Grant) { g.OwnerID = orgID(9) }, "Organization not found."},
			{"grantee", func(g *cleanroom.Grant) { g.GranteeID = orgID(9) }, "Organization not found."},
		} {
			t.Run(c.name, func(t *testing.T) {
				g := newGrant(1, 1, 3, 0, 0)
				c.change(g)
				err := s.CreateGrant(t.Context(), g)
				wantCode(t, err, cleanroom.ENOTFOUND)
				wantMessage(t, err, c.msg)
				_, err = s.FindGrant(t.Context(), grantID(1))
				wantCode(t, err, cleanroom.ENOTFOUND)
			})
		}
	}},
	{"duplicate ID", func(t *testing.T, s cleanroom.Store) {
		grantFixture(t, s)
		first := createGrant(t, s, 1, 1, 3, 0, 0)
		wantCode(t, s.CreateGrant(t.Context(), newGrant(1, 2, 4, time.Hour, 0)), cleanroom.ECONFLICT)
		same(t, "grant after a failed duplicate", first, findGrant(t, s, first.ID))
	}},
	{"one grant in force per data source and grantee", func(t *testing.T, s cleanroom.Store) {
		grantFixture(t, s)
		const expiry = 10 * time.Hour
		// Steps run in order on one store.
		for _, step := range []struct {
			name             string
			n, ds, grantee   int
			created, expires time.Duration
			revoke           int    // revoke grant n (at t0+created) before creating; 0: none
			want             string // error code
		}{
			{name: "first", n: 1, ds: 1, grantee: 3},
			{name: "same data source and grantee", n: 2, ds: 1, grantee: 3, created: time.Hour, want: cleanroom.ECONFLICT},
			{name: "another grantee", n: 3, ds: 1, grantee: 4, created: time.Hour},
			{name: "another data source", n: 4, ds: 2, grantee: 3, created: time.Hour},
			{name: "after revoking the first", n: 5, ds: 1, grantee: 3, created: 2 * time.Hour, expires: expiry, revoke: 1},
			{name: "a microsecond before the second expires", n: 6, ds: 1, grantee: 3, created: expiry - time.Microsecond, want: cleanroom.ECONFLICT},
			{name: "when the second expires", n: 7, ds: 1, grantee: 3, created: expiry},
			{name: "the third still blocks", n: 8, ds: 1, grantee: 4, created: 100 * time.Hour, want: cleanroom.ECONFLICT},
		} {
			t.Run(step.name, func(t *testing.T) {
				if step.revoke != 0 {
					ok(t, s.RevokeGrant(t.Context(), grantID(step.revoke), t0.Add(step.created)))
				}
				err := s.CreateGrant(t.Context(), newGrant(step.n, step.ds, step.grantee, step.created, step.expires))
				wantCode(t, err, step.want)
				if step.want != "" {
					wantMessage(t, err, "The data source is already granted to that organization.")
				}
				_, err = s.FindGrant(t.Context(), grantID(step.n))
				if step.want == "" {
					ok(t, err)
				} else {
					wantCode(t, err, cleanroom.ENOTFOUND)
				}
			})
		}
		// The rule is the domain's: the blocking grant is active, the expired one is not.
		g5 := findGrant(t, s, grantID(5))
		if !g5.Active(at(expiry-time.Microsecond)) || g5.Active(at(expiry)) {
			t.Fatalf("grant 5 expiring at %v: Active a microsecond before = %v, at expiry = %v; want true, false",
				g5.ExpiresAt, g5.Active(at(expiry-time.Microsecond)), g5.Active(at(expiry)))
		}
	}},
	{"concurrent duplicates", func(t *testing.T, s cleanroom.Store) {
		grantFixture(t, s)
		const n = 8
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				errs[i] = s.CreateGrant(t.Context(), newGrant(i+1, 1, 3, 0, 0))
			})
		}
		close(start)
		wg.Wait()
		created := 0
		for i, err := range errs {
			switch cleanroom.ErrorCode(err) {
			case "":
				created++
			case cleanroom.ECONFLICT:
			default:
				t.Errorf("grant %d: %v, want success or a conflict", i+1, err)
			}
		}
		gs, err := s.ListGrants(t.Context(), dataSourceID(1), "")
		ok(t, err)
		if created != 1 || len(gs) != 1 {
			t.Fatalf("%d of %d concurrent grants succeeded and %d are stored, want 1 and 1", created, n, len(gs))
		}
	}},
	{"revoke", func(t *testing.T, s cleanroom.Store) {
		grantFixture(t, s)
		g := createGrant(t, s, 1, 1, 3, 0, 0)
		other := createGrant(t, s, 2, 2, 3, 0, 0)
		ok(t, s.RevokeGrant(t.Context(), g.ID, t0.Add(time.Hour)))
		want := *g
		want.RevokedAt = at(time.Hour)
		same(t, "revoked grant", &want, findGrant(t, s, g.ID))

		err := s.RevokeGrant(t.Context(), g.ID, t0.Add(2*time.Hour))
		wantCode(t, err, cleanroom.ECONFLICT)
		wantMessage(t, err, "The grant was already revoked.")
		same(t, "grant revoked twice", &want, findGrant(t, s, g.ID))

		err = s.RevokeGrant(t.Context(), grantID(9), t0)
		wantCode(t, err, cleanroom.ENOTFOUND)
		wantMessage(t, err, "Grant not found.")
		same(t, "the other grant", other, findGrant(t, s, other.ID))
	}},
	{"active and allows at the expiry instant", func(t *testing.T, s cleanroom.Store) {
		grantFixture(t, s)
		const expiry = 24 * time.Hour
		g := newGrant(1, 1, 3, 0, expiry)
		g.AllowMatched, g.AllowModeled, g.AllowInsights = true, false, true
		ok(t, s.CreateGrant(t.Context(), g))
		forever := createGrant(t, s, 2, 2, 3, 0, 0) // allows matched only
		revoked := createGrant(t, s, 3, 1, 4, 0, 0)
		ok(t, s.RevokeGrant(t.Context(), revoked.ID, t0.Add(time.Hour)))

		type uses struct{ Active, Matched, Modeled, Insights bool }
		for _, c := range []struct {
			name  string
			grant string
			now   time.Duration
			want  uses
		}{
			{"when created", grantID(1), 0, uses{true, true, false, true}},
			{"a microsecond before expiry", grantID(1), expiry - time.Microsecond, uses{true, true, false, true}},
			{"at expiry", grantID(1), expiry, uses{}},
			{"after expiry", grantID(1), expiry + time.Microsecond, uses{}},
			{"no expiry, years later", grantID(2), 10 * 365 * 24 * time.Hour, uses{true, true, false, false}},
			// Revocation is not a time like expiry: a revoked grant allows nothing, at any time.
			{"revoked, asked about an earlier time", grantID(3), 0, uses{}},
			{"revoked, after revocation", grantID(3), time.Hour, uses{}},
		} {
			t.Run(c.name, func(t *testing.T) {
				g := findGrant(t, s, c.grant) // the stored grant, so its times' precision counts
				now := at(c.now)
				got := uses{g.Active(now), g.Allows(cleanroom.UseMatched, now), g.Allows(cleanroom.UseModeled, now), g.Allows(cleanroom.UseInsights, now)}
				same(t, "uses", c.want, got)
			})
		}
		same(t, "grant without expiry", forever, findGrant(t, s, forever.ID))
	}},
	{"list order and filters", func(t *testing.T, s cleanroom.Store) {
		grantFixture(t, s)
		h := time.Hour
		a := createGrant(t, s, 1, 1, 3, 0, h)   // expired at 1h
		e := createGrant(t, s, 2, 2, 4, 0, 5*h) // ties with a on CreatedAt
		b := createGrant(t, s, 3, 1, 4, h, 0)
		d := createGrant(t, s, 5, 2, 3, 2*h, 0) // ties with c on CreatedAt, higher ID
		c := createGrant(t, s, 4, 1, 3, 2*h, 0) // a has expired
		ok(t, s.RevokeGrant(t.Context(), c.ID, t0.Add(3*h)))
		c.RevokedAt = at(3 * h)
		f := createGrant(t, s, 6, 1, 3, 3*h, 0) // c is revoked
		for _, tc := range []struct {
			name        string
			ds, grantee string
			want        []*cleanroom.Grant
		}{
			{"data source 1", dataSourceID(1), "", []*cleanroom.Grant{f, c, b, a}},
			{"data source 2", dataSourceID(2), "", []*cleanroom.Grant{d, e}},
			{"grantee 3", "", orgID(3), []*cleanroom.Grant{f, d, c, a}},
			{"grantee 4", "", orgID(4), []*cleanroom.Grant{b, e}},
			{"data source 1 to grantee 3", dataSourceID(1), orgID(3), []*cleanroom.Grant{f, c, a}},
			{"data source 2 to grantee 4", dataSourceID(2), orgID(4), []*cleanroom.Grant{e}},
			{"unknown data source", dataSourceID(9), "", nil},
			{"unknown grantee", "", orgID(9), nil},
			{"the owner is no grantee", "", orgID(1), nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.ListGrants(t.Context(), tc.ds, tc.grantee)
				ok(t, err)
				same(t, "grants", tc.want, got)
			})
		}
		if _, err := s.ListGrants(t.Context(), "", ""); err == nil {
			t.Fatal("ListGrants with neither a data source nor a grantee succeeded")
		}
	}},
}

var provisionalCases = []testCase{
	{"create and list newest first", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		createOrg(t, s, 2, cleanroom.OrgPublisher)
		createOrg(t, s, 3, cleanroom.OrgPublisher)
		createOrg(t, s, 4, cleanroom.OrgAdvertiser)
		week := 7 * 24 * time.Hour
		p1 := &cleanroom.ProvisionalAccess{ID: provisionalID(1), OrgID: orgID(1), PublisherID: orgID(2), ExpiresAt: t0.Add(week),
			Reason: "Pilot before the DPA is signed", CreatedAt: t0, CreatedBy: userID(1)}
		ok(t, s.CreateProvisionalAccess(t.Context(), p1))
		same(t, "created record", &cleanroom.ProvisionalAccess{ID: provisionalID(1), OrgID: orgID(1), PublisherID: orgID(2),
			ExpiresAt: at(week), Reason: "Pilot before the DPA is signed", CreatedAt: at(0), CreatedBy: userID(1)}, p1)
		p3 := &cleanroom.ProvisionalAccess{ID: provisionalID(3), OrgID: orgID(4), PublisherID: orgID(2), ExpiresAt: t0.Add(week),
			CreatedAt: t0.Add(time.Hour), CreatedBy: userID(1)}
		ok(t, s.CreateProvisionalAccess(t.Context(), p3))
		p2 := &cleanroom.ProvisionalAccess{ID: provisionalID(2), OrgID: orgID(1), PublisherID: orgID(3), ExpiresAt: t0.Add(week),
			CreatedAt: t0.Add(time.Hour), CreatedBy: userID(2)}
		ok(t, s.CreateProvisionalAccess(t.Context(), p2))
		for _, c := range []struct {
			name string
			org  string
			want []*cleanroom.ProvisionalAccess
		}{
			{"advertiser 1", orgID(1), []*cleanroom.ProvisionalAccess{p2, p1}},
			{"advertiser 4", orgID(4), []*cleanroom.ProvisionalAccess{p3}},
			{"all", "", []*cleanroom.ProvisionalAccess{p3, p2, p1}},
			{"a publisher", orgID(2), nil},
			{"unknown org", orgID(9), nil},
		} {
			t.Run(c.name, func(t *testing.T) {
				got, err := s.ListProvisionalAccess(t.Context(), c.org)
				ok(t, err)
				same(t, "records", c.want, got)
			})
		}
	}},
	{"create sets the time when zero", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		createOrg(t, s, 2, cleanroom.OrgPublisher)
		p := &cleanroom.ProvisionalAccess{ID: provisionalID(1), OrgID: orgID(1), PublisherID: orgID(2), ExpiresAt: t0}
		ok(t, s.CreateProvisionalAccess(t.Context(), p))
		if p.CreatedAt.IsZero() {
			t.Fatal("CreatedAt not set")
		}
		got, err := s.ListProvisionalAccess(t.Context(), orgID(1))
		ok(t, err)
		same(t, "records", []*cleanroom.ProvisionalAccess{p}, got)
	}},
	{"partner status at expiry", func(t *testing.T, s cleanroom.Store) {
		adv := createOrg(t, s, 1, cleanroom.OrgAdvertiser) // no DPA
		createOrg(t, s, 2, cleanroom.OrgPublisher)
		createOrg(t, s, 3, cleanroom.OrgPublisher)
		const expiry = 48 * time.Hour
		ok(t, s.CreateProvisionalAccess(t.Context(), &cleanroom.ProvisionalAccess{ID: provisionalID(1), OrgID: orgID(1), PublisherID: orgID(2),
			ExpiresAt: t0.Add(expiry), CreatedAt: t0}))
		stored, err := s.ListProvisionalAccess(t.Context(), orgID(1))
		ok(t, err)
		for _, c := range []struct {
			name      string
			publisher int
			now       time.Duration
			want      bool
		}{
			{"a microsecond before expiry", 2, expiry - time.Microsecond, true},
			{"at expiry", 2, expiry, false},
			{"another publisher", 3, 0, false},
		} {
			t.Run(c.name, func(t *testing.T) {
				if got, reason := cleanroom.PartnerStatus(adv, stored, orgID(c.publisher), at(c.now)); got != c.want {
					t.Fatalf("PartnerStatus = %v (%q), want %v", got, reason, c.want)
				}
			})
		}
	}},
	{"create needs both orgs", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		createOrg(t, s, 2, cleanroom.OrgPublisher)
		for i, ids := range [][2]int{{9, 2}, {1, 9}} {
			err := s.CreateProvisionalAccess(t.Context(), &cleanroom.ProvisionalAccess{ID: provisionalID(i + 1), OrgID: orgID(ids[0]),
				PublisherID: orgID(ids[1]), ExpiresAt: t0.Add(time.Hour), CreatedAt: t0})
			wantCode(t, err, cleanroom.ENOTFOUND)
		}
		got, err := s.ListProvisionalAccess(t.Context(), "")
		ok(t, err)
		if len(got) != 0 {
			t.Fatalf("%d records after failed creations", len(got))
		}
	}},
	{"duplicate ID", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		createOrg(t, s, 2, cleanroom.OrgPublisher)
		p := &cleanroom.ProvisionalAccess{ID: provisionalID(1), OrgID: orgID(1), PublisherID: orgID(2), ExpiresAt: t0.Add(time.Hour), CreatedAt: t0}
		ok(t, s.CreateProvisionalAccess(t.Context(), p))
		err := s.CreateProvisionalAccess(t.Context(), &cleanroom.ProvisionalAccess{ID: provisionalID(1), OrgID: orgID(1), PublisherID: orgID(2),
			ExpiresAt: t0.Add(2 * time.Hour), CreatedAt: t0.Add(time.Hour)})
		wantCode(t, err, cleanroom.ECONFLICT)
		got, err := s.ListProvisionalAccess(t.Context(), "")
		ok(t, err)
		same(t, "records", []*cleanroom.ProvisionalAccess{p}, got)
	}},
}

// cascadeFixture stores: publisher 1 with opt-outs; advertisers 2 and 3; publisher 5 and its
// workspace 6; connections 1 (1→2), 2 (1→3), 3 (5→2), 4 (5→6); advertiser 2's data sources 1 and 2
// and advertiser 3's data source 3, in their own workspaces; grants 1 (data source 1 → 6), 2 (data
// source 2 → 6) and 3 (data source 3 → 6); provisional access 1 (2 to 1) and 2 (3 to 5).
func cascadeFixture(t *testing.T, s cleanroom.Store) {
	t.Helper()
	createOrg(t, s, 1, cleanroom.OrgPublisher)
	createOrg(t, s, 2, cleanroom.OrgAdvertiser)
	createOrg(t, s, 3, cleanroom.OrgAdvertiser)
	createOrg(t, s, 5, cleanroom.OrgPublisher)
	createWorkspace(t, s, 6, 5)
	ok(t, s.SetStandardOptOuts(t.Context(), orgID(1), []string{"iab-1", "iab-2"}, t0))
	ok(t, s.SetStandardOptOuts(t.Context(), orgID(5), []string{"iab-3"}, t0))
	createConnection(t, s, 1, 1, 2)
	createConnection(t, s, 2, 1, 3)
	createConnection(t, s, 3, 5, 2)
	c4 := newConnection(4, 5, 6)
	c4.Workflow = cleanroom.WorkflowPublisherDriven
	ok(t, s.CreateConnection(t.Context(), c4))
	createDataSource(t, s, 1, 2, 2)
	createDataSource(t, s, 2, 2, 2)
	createDataSource(t, s, 3, 3, 3)
	for n := 1; n <= 3; n++ {
		g := newGrant(n, n, 6, 0, 0)
		g.OwnerID = orgID(2)
		if n == 3 {
			g.OwnerID = orgID(3)
		}
		ok(t, s.CreateGrant(t.Context(), g))
	}
	for i, p := range [][2]int{{2, 1}, {3, 5}} {
		ok(t, s.CreateProvisionalAccess(t.Context(), &cleanroom.ProvisionalAccess{ID: provisionalID(i + 1), OrgID: orgID(p[0]),
			PublisherID: orgID(p[1]), ExpiresAt: t0.Add(time.Hour), CreatedAt: t0}))
	}
}

// remaining lists what the cascade fixture still holds.
type remaining struct {
	Connections, DataSources, Grants, Provisional []string
	OptOuts                                       map[int][]string
}

func remainingOf(t *testing.T, s cleanroom.Store) remaining {
	t.Helper()
	r := remaining{OptOuts: map[int][]string{}}
	conns, _, err := s.ListConnections(t.Context(), cleanroom.ConnectionFilter{})
	ok(t, err)
	r.Connections = connectionIDs(conns)
	dss, _, err := s.ListDataSources(t.Context(), cleanroom.DataSourceFilter{})
	ok(t, err)
	r.DataSources = []string{}
	for _, d := range dss {
		r.DataSources = append(r.DataSources, d.ID)
	}
	r.Grants = []string{}
	for n := 1; n <= 3; n++ {
		_, err := s.FindGrant(t.Context(), grantID(n))
		switch cleanroom.ErrorCode(err) {
		case "":
			r.Grants = append(r.Grants, grantID(n))
		case cleanroom.ENOTFOUND:
		default:
			t.Fatalf("find grant %d: %v", n, err)
		}
	}
	ps, err := s.ListProvisionalAccess(t.Context(), "")
	ok(t, err)
	r.Provisional = []string{}
	for _, p := range ps {
		r.Provisional = append(r.Provisional, p.ID)
	}
	for _, pub := range []int{1, 5} {
		ids, err := s.ListStandardOptOuts(t.Context(), orgID(pub))
		ok(t, err)
		r.OptOuts[pub] = ids
	}
	return r
}

var cascadeCases = []testCase{
	{"fixture", func(t *testing.T, s cleanroom.Store) {
		cascadeFixture(t, s)
		same(t, "stored", remaining{
			Connections: []string{connID(1), connID(2), connID(3), connID(4)},
			DataSources: []string{dataSourceID(1), dataSourceID(2), dataSourceID(3)},
			Grants:      []string{grantID(1), grantID(2), grantID(3)},
			Provisional: []string{provisionalID(2), provisionalID(1)},
			OptOuts:     map[int][]string{1: {"iab-1", "iab-2"}, 5: {"iab-3"}},
		}, remainingOf(t, s))
	}},
	{"deleting a publisher", func(t *testing.T, s cleanroom.Store) {
		cascadeFixture(t, s)
		deleteOrg(t, s, 1)
		same(t, "left", remaining{
			Connections: []string{connID(3), connID(4)},
			DataSources: []string{dataSourceID(1), dataSourceID(2), dataSourceID(3)},
			Grants:      []string{grantID(1), grantID(2), grantID(3)},
			Provisional: []string{provisionalID(2)},
			OptOuts:     map[int][]string{1: {}, 5: {"iab-3"}},
		}, remainingOf(t, s))
	}},
	{"deleting an advertiser", func(t *testing.T, s cleanroom.Store) {
		cascadeFixture(t, s)
		deleteOrg(t, s, 2)
		same(t, "left", remaining{
			Connections: []string{connID(2), connID(4)},
			DataSources: []string{dataSourceID(3)},
			Grants:      []string{grantID(3)},
			Provisional: []string{provisionalID(2)},
			OptOuts:     map[int][]string{1: {"iab-1", "iab-2"}, 5: {"iab-3"}},
		}, remainingOf(t, s))
	}},
	{"deleting a grantee workspace", func(t *testing.T, s cleanroom.Store) {
		cascadeFixture(t, s)
		deleteOrg(t, s, 6)
		same(t, "left", remaining{
			Connections: []string{connID(1), connID(2), connID(3)},
			DataSources: []string{dataSourceID(1), dataSourceID(2), dataSourceID(3)},
			Grants:      []string{},
			Provisional: []string{provisionalID(2), provisionalID(1)},
			OptOuts:     map[int][]string{1: {"iab-1", "iab-2"}, 5: {"iab-3"}},
		}, remainingOf(t, s))
	}},
}
