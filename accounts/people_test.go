package accounts_test

import (
	"testing"

	"github.com/cleanroom-oss/cleanroom"
)

// TestChangeRoleAndRemovePerson: only a person who is an admin of the org changes roles and
// removes people; another org's person is not found; the last admin stays.
func TestChangeRoleAndRemovePerson(t *testing.T) {
	x := newWorld(t)
	adminA := x.member(x.a, "admin@a.example", cleanroom.RoleAdmin)
	memberA := x.member(x.a, "member@a.example", cleanroom.RoleMember)
	viewerA := x.member(x.a, "viewer@a.example", cleanroom.RoleViewer)
	adminB := x.member(x.b, "admin@b.example", cleanroom.RoleAdmin)

	for _, tc := range []struct {
		name   string
		caller *cleanroom.Caller
		user   *cleanroom.User
		role   cleanroom.Role
		want   string
	}{
		{"a member may not", x.in(x.a, memberA), viewerA, cleanroom.RoleMember, cleanroom.EFORBIDDEN},
		{"a viewer may not", x.in(x.a, viewerA), viewerA, cleanroom.RoleAdmin, cleanroom.EFORBIDDEN},
		{"another org's admin finds nobody", x.in(x.b, adminB), viewerA, cleanroom.RoleMember, cleanroom.ENOTFOUND},
		{"an admin may not reach another org's person", x.in(x.a, adminA), adminB, cleanroom.RoleViewer, cleanroom.ENOTFOUND},
		{"never the last admin", x.in(x.a, adminA), adminA, cleanroom.RoleMember, cleanroom.ECONFLICT},
		{"a bad role", x.in(x.a, adminA), viewerA, "owner", cleanroom.EINVALID},
		{"the admin promotes", x.in(x.a, adminA), viewerA, cleanroom.RoleMember, ""},
	} {
		_, err := x.acc.ChangeRole(x.ctx, tc.caller, tc.user.ID, tc.role)
		if code(err) != tc.want {
			t.Errorf("%s: ChangeRole = %v, want %q", tc.name, err, tc.want)
		}
	}
	if got := x.role(x.a, viewerA); got != cleanroom.RoleMember {
		t.Errorf("role after the promotion = %q, want member", got)
	}
	if got := x.role(x.b, adminB); got != cleanroom.RoleAdmin {
		t.Errorf("the other org's admin's role = %q, want admin unchanged", got)
	}

	for _, tc := range []struct {
		name   string
		caller *cleanroom.Caller
		user   *cleanroom.User
		want   string
	}{
		{"a member may not", x.in(x.a, memberA), viewerA, cleanroom.EFORBIDDEN},
		{"another org's admin finds nobody", x.in(x.b, adminB), memberA, cleanroom.ENOTFOUND},
		{"never the last admin", x.in(x.a, adminA), adminA, cleanroom.ECONFLICT},
		{"the admin removes", x.in(x.a, adminA), memberA, ""},
	} {
		_, err := x.acc.RemovePerson(x.ctx, tc.caller, tc.user.ID)
		if code(err) != tc.want {
			t.Errorf("%s: RemovePerson = %v, want %q", tc.name, err, tc.want)
		}
	}
	if got := x.role(x.a, memberA); got != "" {
		t.Errorf("removed member still has role %q", got)
	}
}
