package connections_test

import (
	"context"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/accounts"
	"github.com/cleanroom-oss/cleanroom/connections"
	"github.com/cleanroom-oss/cleanroom/keyring"
	"github.com/cleanroom-oss/cleanroom/sqlite"
)

// workspace is a publisher's demand-side workspace with its own admin and two invited
// advertisers (A and B), each represented there by one limited member.
type workspace struct {
	svc        *connections.Service
	ws         *cleanroom.Org
	staff      *cleanroom.Caller // the publisher's admin in its workspace
	limA, limB *cleanroom.Caller // the invited advertisers' people
	advA, advB *cleanroom.Org
	advAdminA  *cleanroom.Caller // A's admin in A's own org
	ctx        context.Context
}

func newWorkspace(t *testing.T) *workspace {
	t.Helper()
	ctx := context.Background()
	store := sqlite.MustOpen(t)
	acc := accounts.New(store, keyring.Generate())
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	ready := func(name string, kind cleanroom.OrgKind) *cleanroom.Org {
		o, err := acc.CreateOrg(ctx, name, kind)
		must(err)
		_, err = acc.RecordDPA(ctx, o.ID, time.Time{})
		must(err)
		o, err = acc.EnableCleanRoom(ctx, o.ID)
		must(err)
		return o
	}
	pub := ready("Daily Planet", cleanroom.OrgPublisher)
	w := &workspace{svc: connections.New(store), ctx: ctx}
	var err error
	w.ws, err = store.FindOrg(ctx, pub.DemandSideID)
	must(err)
	w.advA, w.advB = ready("Acme", cleanroom.OrgAdvertiser), ready("Brandco", cleanroom.OrgAdvertiser)
	user := func(email string) *cleanroom.User {
		u := &cleanroom.User{ID: accounts.NewID(), Email: email, Name: email}
		must(store.CreateUser(ctx, u))
		return u
	}
	limited := func(adv *cleanroom.Org, email string) *cleanroom.Caller {
		u := user(email)
		must(store.PutMembership(ctx, &cleanroom.Membership{UserID: u.ID, OrgID: w.ws.ID, Role: cleanroom.RoleLimited, RepresentsID: adv.ID}))
		return &cleanroom.Caller{User: u, Org: w.ws, Role: cleanroom.RoleLimited, RepresentsID: adv.ID}
	}
	w.staff = &cleanroom.Caller{User: user("ops@planet.example"), Org: w.ws, Role: cleanroom.RoleAdmin}
	w.limA, w.limB = limited(w.advA, "crm@acme.example"), limited(w.advB, "crm@brandco.example")
	w.advAdminA = &cleanroom.Caller{User: user("admin@acme.example"), Org: w.advA, Role: cleanroom.RoleAdmin}
	return w
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if cleanroom.ErrorCode(err) != code {
		t.Errorf("%s: %v, want %s", what, err, code)
	}
}

// TestInvitedAdvertisersSeeOnlyTheirOwn: in a shared workspace, advertiser B's invited user
// reaches none of advertiser A's data sources or grants: each answers not found, as another
// tenant's would (the review found 200 for A's grant and 403 for revoking it).
func TestInvitedAdvertisersSeeOnlyTheirOwn(t *testing.T) {
	w := newWorkspace(t)
	ctx := w.ctx
	dsA, err := w.svc.CreateDataSource(ctx, w.limA, "Acme CRM", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.CreateDataSource(ctx, w.limB, "Brandco CRM", ""); err != nil {
		t.Fatal(err)
	}
	g, err := w.svc.CreateGrant(ctx, w.limA, dsA.ID, connections.GrantRequest{GranteeID: w.ws.ID, AllowMatched: true})
	if err != nil {
		t.Fatal(err)
	}
	_, _, _, err = w.svc.DataSource(ctx, w.limB, dsA.ID)
	wantCode(t, "B reads A's data source", err, cleanroom.ENOTFOUND)
	_, _, err = w.svc.Grant(ctx, w.limB, g.ID)
	wantCode(t, "B reads A's grant", err, cleanroom.ENOTFOUND)
	_, err = w.svc.RevokeGrant(ctx, w.limB, g.ID)
	wantCode(t, "B revokes A's grant", err, cleanroom.ENOTFOUND)
	_, _, err = w.svc.Grants(ctx, w.limB, dsA.ID)
	wantCode(t, "B lists A's grants", err, cleanroom.ENOTFOUND)
	_, err = w.svc.Usable(ctx, w.limB, dsA.ID, cleanroom.UseMatched)
	wantCode(t, "B uses A's data", err, cleanroom.ENOTFOUND)
	dss, _, _, err := w.svc.DataSources(ctx, w.limB, cleanroom.Page{})
	if err != nil || len(dss) != 1 || dss[0].Name != "Brandco CRM" {
		t.Errorf("B lists %v (%v), want its own data source only", dss, err)
	}
	// A's own user still sees and revokes its grant.
	if _, _, err := w.svc.Grant(ctx, w.limA, g.ID); err != nil {
		t.Errorf("A reads its grant: %v", err)
	}
	if _, err := w.svc.RevokeGrant(ctx, w.limA, g.ID); err != nil {
		t.Errorf("A revokes its grant: %v", err)
	}
}

// TestWorkspaceSeesInvitedDataOnlyWhenGranted: the publisher's people see that an invited
// advertiser's data source exists ("listed"), but read its contents only while a grant is in
// force, and then the access is "granted", not "own".
func TestWorkspaceSeesInvitedDataOnlyWhenGranted(t *testing.T) {
	w := newWorkspace(t)
	ctx := w.ctx
	ds, err := w.svc.CreateDataSource(ctx, w.limA, "Acme CRM", "")
	if err != nil {
		t.Fatal(err)
	}
	_, access, _, err := w.svc.DataSource(ctx, w.staff, ds.ID)
	if err != nil || access != connections.AccessListed {
		t.Fatalf("staff before the grant: %s, %v; want listed", access, err)
	}
	_, _, err = w.svc.ReadableDataSource(ctx, w.staff, ds.ID)
	wantCode(t, "staff reads contents before the grant", err, cleanroom.EFORBIDDEN)
	if q, err := w.svc.QueryableDataSources(ctx, w.staff); err != nil || len(q) != 0 {
		t.Errorf("queryable before the grant: %v %v, want none", q, err)
	}
	g, err := w.svc.CreateGrant(ctx, w.limA, ds.ID, connections.GrantRequest{GranteeID: w.ws.ID, AllowMatched: true})
	if err != nil {
		t.Fatal(err)
	}
	_, access, grant, err := w.svc.DataSource(ctx, w.staff, ds.ID)
	if err != nil || access != connections.AccessGranted || grant == nil || grant.ID != g.ID {
		t.Fatalf("staff with the grant: %s %v %v; want granted", access, grant, err)
	}
	if _, _, err := w.svc.ReadableDataSource(ctx, w.staff, ds.ID); err != nil {
		t.Errorf("staff reads contents with the grant: %v", err)
	}
	if q, err := w.svc.QueryableDataSources(ctx, w.staff); err != nil || len(q) != 1 {
		t.Errorf("queryable with the grant: %v %v, want the data source", q, err)
	}
	if _, err := w.svc.RevokeGrant(ctx, w.limA, g.ID); err != nil {
		t.Fatal(err)
	}
	_, _, err = w.svc.ReadableDataSource(ctx, w.staff, ds.ID)
	wantCode(t, "staff reads contents after the revocation", err, cleanroom.EFORBIDDEN)
	// The workspace's own data is its own.
	own, err := w.svc.CreateDataSource(ctx, w.staff, "Planet panel", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, access, _, err := w.svc.DataSource(ctx, w.staff, own.ID); err != nil || access != connections.AccessOwn {
		t.Errorf("workspace's own data: %s %v, want own", access, err)
	}
	// An advertiser's data granted from its own org is "granted" to the workspace too.
	adsA, err := w.svc.CreateDataSource(ctx, w.advAdminA, "Acme loyalty", "")
	if err != nil {
		t.Fatal(err)
	}
	_, _, _, err = w.svc.DataSource(ctx, w.staff, adsA.ID)
	wantCode(t, "staff reads another org's ungranted data", err, cleanroom.ENOTFOUND)
	if _, err := w.svc.CreateGrant(ctx, w.advAdminA, adsA.ID, connections.GrantRequest{GranteeID: w.ws.ID, AllowModeled: true}); err != nil {
		t.Fatal(err)
	}
	if _, access, _, err := w.svc.DataSource(ctx, w.staff, adsA.ID); err != nil || access != connections.AccessGranted {
		t.Errorf("granted from the advertiser's org: %s %v, want granted", access, err)
	}
}
