package accounts_test

import (
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/accounts"
)

// TestOperatorSteps: only an operator creates orgs, enables the clean room, records the DPA,
// adds people at once and reads the deployment's health; an org's admin is refused each.
func TestOperatorSteps(t *testing.T) {
	x := newWorld(t)
	op, err := x.acc.CreateOperator(x.ctx, "root@deploy.example", "Root", password)
	x.must(err)
	admin := x.in(x.a, x.member(x.a, "admin@a.example", cleanroom.RoleAdmin))
	for _, c := range []struct {
		name string
		c    *cleanroom.Caller
		want string
	}{{"an org admin", admin, cleanroom.EFORBIDDEN}, {"the operator", person(op), ""}} {
		o, err := x.acc.OperatorCreateOrg(x.ctx, c.c, "New "+c.name, cleanroom.OrgPublisher)
		if code(err) != c.want {
			t.Errorf("%s: create org: %v, want %q", c.name, err, c.want)
		}
		target := x.b.ID
		if o != nil {
			target = o.ID
		}
		if _, err := x.acc.OperatorRecordDPA(x.ctx, c.c, target, time.Time{}); code(err) != c.want {
			t.Errorf("%s: record DPA: %v, want %q", c.name, err, c.want)
		}
		if o != nil {
			if o, err = x.acc.OperatorEnableCleanRoom(x.ctx, c.c, o.ID); err != nil || o.DemandSideID == "" {
				t.Errorf("%s: enable: %v, %+v", c.name, err, o)
			}
		} else if _, err := x.acc.OperatorEnableCleanRoom(x.ctx, c.c, target); code(err) != c.want {
			t.Errorf("%s: enable: %v, want %q", c.name, err, c.want)
		}
		if _, _, err := x.acc.OperatorAddMember(x.ctx, c.c, target, accounts.NewUser{Email: "first@" + target[:8] + ".example", Password: password, Role: cleanroom.RoleAdmin}); code(err) != c.want {
			t.Errorf("%s: add member: %v, want %q", c.name, err, c.want)
		}
		if h, err := x.acc.DeploymentHealth(x.ctx, c.c); code(err) != c.want || (err == nil && (!h.Ready || h.Orgs[cleanroom.OrgAdvertiser] != 2)) {
			t.Errorf("%s: health: %+v %v, want %q", c.name, h, err, c.want)
		}
	}
	if _, err := x.acc.OperatorEnableCleanRoom(x.ctx, person(op), "01900000-0000-7000-8000-000000000000"); code(err) != cleanroom.ENOTFOUND {
		t.Errorf("enable an unknown org: %v, want ENOTFOUND", err)
	}
}
