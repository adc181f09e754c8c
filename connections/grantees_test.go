package connections_test

import (
	"testing"

	"github.com/cleanroom-oss/cleanroom"
)

// TestGrantees: an advertiser may grant its data to the workspaces of the publishers it is
// connected with, and only those; an invited advertiser to the workspace its data lives in; the
// workspace's own data to nobody; another advertiser's people get not found.
func TestGrantees(t *testing.T) {
	w := newWorkspace(t)
	own, err := w.svc.CreateDataSource(w.ctx, w.advAdminA, "A's CRM", "")
	if err != nil {
		t.Fatal(err)
	}
	names := func(os []*cleanroom.Org) []string {
		var out []string
		for _, o := range os {
			out = append(out, o.ID)
		}
		return out
	}
	got, err := w.svc.Grantees(w.ctx, w.advAdminA, own.ID)
	if err != nil || len(got) != 0 {
		t.Errorf("A unconnected: grantees %q %v, want none", names(got), err)
	}
	if _, _, err := w.svc.CreateConnection(w.ctx, w.ws.ParentID, w.advA.ID, cleanroom.Permissions{MatchedCohorts: true}); err != nil {
		t.Fatal(err)
	}
	got, err = w.svc.Grantees(w.ctx, w.advAdminA, own.ID)
	if err != nil || len(got) != 1 || got[0].ID != w.ws.ID {
		t.Errorf("A connected to Daily Planet: grantees %q %v, want its workspace %s", names(got), err, w.ws.ID)
	}
	invited, err := w.svc.CreateDataSource(w.ctx, w.limA, "A's list in the workspace", "")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := w.svc.Grantees(w.ctx, w.limA, invited.ID); err != nil || len(got) != 1 || got[0].ID != w.ws.ID {
		t.Errorf("invited advertiser's grantees %q %v, want the workspace", names(got), err)
	}
	if _, err := w.svc.Grantees(w.ctx, w.limB, invited.ID); cleanroom.ErrorCode(err) != cleanroom.ENOTFOUND {
		t.Errorf("B asking for A's data's grantees: %v, want ENOTFOUND", err)
	}
	wsOwn, err := w.svc.CreateDataSource(w.ctx, w.staff, "Workspace list", "")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := w.svc.Grantees(w.ctx, w.staff, wsOwn.ID); err != nil || len(got) != 0 {
		t.Errorf("the workspace's own data: grantees %q %v, want none", names(got), err)
	}
}
