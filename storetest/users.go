package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
)

// createUser stores a user with ID userID(n) and email user<n>@example.com created at t0.
func createUser(t *testing.T, s cleanroom.Store, n int) *cleanroom.User {
	t.Helper()
	u := &cleanroom.User{ID: userID(n), Email: fmt.Sprintf("user%d@example.com", n), Name: fmt.Sprintf("User %d", n),
		PasswordHash: "$argon2id$v=19$m=65536,t=1,p=2$c2FsdA$aGFzaA", CreatedAt: t0}
	ok(t, s.CreateUser(t.Context(), u))
	return u
}

// putMember makes user n a member of org o with role.
func putMember(t *testing.T, s cleanroom.Store, o, n int, role cleanroom.Role) *cleanroom.Membership {
	t.Helper()
	m := &cleanroom.Membership{UserID: userID(n), OrgID: orgID(o), Role: role, CreatedAt: t0}
	ok(t, s.PutMembership(t.Context(), m))
	return m
}

var userCases = []testCase{
	{"create and find", func(t *testing.T, s cleanroom.Store) {
		u := &cleanroom.User{ID: userID(1), Email: "lois@example.com", Name: "Lois", Operator: true,
			PasswordHash: "$argon2id$hash", CreatedAt: t0}
		ok(t, s.CreateUser(t.Context(), u))
		want := &cleanroom.User{ID: userID(1), Email: "lois@example.com", Name: "Lois", Operator: true,
			PasswordHash: "$argon2id$hash", CreatedAt: at(0), UpdatedAt: at(0)}
		same(t, "created user", want, u)
		got, err := s.FindUser(t.Context(), userID(1))
		ok(t, err)
		same(t, "found by ID", want, got)
		got, err = s.FindUserByEmail(t.Context(), "lois@example.com")
		ok(t, err)
		same(t, "found by email", want, got)
	}},
	{"email is unique", func(t *testing.T, s cleanroom.Store) {
		createUser(t, s, 1)
		err := s.CreateUser(t.Context(), &cleanroom.User{ID: userID(2), Email: "user1@example.com", Name: "Copy", CreatedAt: t0})
		wantCode(t, err, cleanroom.ECONFLICT)
		_, err = s.FindUser(t.Context(), userID(2))
		wantCode(t, err, cleanroom.ENOTFOUND)
	}},
	{"find missing", func(t *testing.T, s cleanroom.Store) {
		createUser(t, s, 1)
		_, err := s.FindUser(t.Context(), userID(2))
		wantCode(t, err, cleanroom.ENOTFOUND)
		_, err = s.FindUserByEmail(t.Context(), "user2@example.com")
		wantCode(t, err, cleanroom.ENOTFOUND)
	}},
	{"set password", func(t *testing.T, s cleanroom.Store) {
		u := createUser(t, s, 1)
		ok(t, s.SetPassword(t.Context(), u.ID, "new hash", t0.Add(time.Hour)))
		got, err := s.FindUser(t.Context(), u.ID)
		ok(t, err)
		want := *u
		want.PasswordHash, want.UpdatedAt = "new hash", at(time.Hour)
		same(t, "user with a new password", &want, got)
		wantCode(t, s.SetPassword(t.Context(), userID(2), "x", t0), cleanroom.ENOTFOUND)
	}},
	{"count operators", func(t *testing.T, s cleanroom.Store) {
		n, err := s.CountOperators(t.Context())
		ok(t, err)
		if n != 0 {
			t.Fatalf("CountOperators on an empty store = %d", n)
		}
		for i, op := range []bool{true, false, true, false, false} {
			ok(t, s.CreateUser(t.Context(), &cleanroom.User{ID: userID(i), Email: fmt.Sprintf("u%d@example.com", i), Name: "U", Operator: op, CreatedAt: t0}))
		}
		n, err = s.CountOperators(t.Context())
		ok(t, err)
		if n != 2 {
			t.Fatalf("CountOperators = %d, want 2", n)
		}
	}},
}

var membershipCases = []testCase{
	{"put, find, change role", func(t *testing.T, s cleanroom.Store) {
		u := createUser(t, s, 1)
		createOrg(t, s, 1, cleanroom.OrgPublisher)
		createOrg(t, s, 2, cleanroom.OrgAdvertiser)
		putMember(t, s, 2, 1, cleanroom.RoleViewer)
		m := putMember(t, s, 1, 1, cleanroom.RoleMember)
		same(t, "membership", &cleanroom.Membership{UserID: u.ID, OrgID: orgID(1), Role: cleanroom.RoleMember, CreatedAt: at(0)}, m)

		got, err := s.FindMember(t.Context(), orgID(1), u.ID)
		ok(t, err)
		same(t, "member", &cleanroom.Member{User: *u, Role: cleanroom.RoleMember}, got)

		// Changing the role keeps the membership's creation time.
		m2 := &cleanroom.Membership{UserID: u.ID, OrgID: orgID(1), Role: cleanroom.RoleAdmin, CreatedAt: t0.Add(time.Hour)}
		ok(t, s.PutMembership(t.Context(), m2))
		same(t, "membership after a role change", &cleanroom.Membership{UserID: u.ID, OrgID: orgID(1), Role: cleanroom.RoleAdmin, CreatedAt: at(0)}, m2)
		got, err = s.FindMember(t.Context(), orgID(1), u.ID)
		ok(t, err)
		if got.Role != cleanroom.RoleAdmin {
			t.Fatalf("role after change = %q, want admin", got.Role)
		}

		ms, err := s.ListMemberships(t.Context(), u.ID)
		ok(t, err)
		same(t, "memberships", []*cleanroom.Membership{
			{UserID: u.ID, OrgID: orgID(1), Role: cleanroom.RoleAdmin, CreatedAt: at(0)},
			{UserID: u.ID, OrgID: orgID(2), Role: cleanroom.RoleViewer, CreatedAt: at(0)},
		}, ms)
	}},
	{"put needs the user and the org", func(t *testing.T, s cleanroom.Store) {
		createUser(t, s, 1)
		createOrg(t, s, 1, cleanroom.OrgPublisher)
		wantCode(t, s.PutMembership(t.Context(), &cleanroom.Membership{UserID: userID(2), OrgID: orgID(1), Role: cleanroom.RoleAdmin}), cleanroom.ENOTFOUND)
		wantCode(t, s.PutMembership(t.Context(), &cleanroom.Membership{UserID: userID(1), OrgID: orgID(2), Role: cleanroom.RoleAdmin}), cleanroom.ENOTFOUND)
		ms, err := s.ListMemberships(t.Context(), userID(1))
		ok(t, err)
		if len(ms) != 0 {
			t.Fatalf("memberships after failed puts: %d", len(ms))
		}
	}},
	{"find missing member", func(t *testing.T, s cleanroom.Store) {
		createUser(t, s, 1)
		createOrg(t, s, 1, cleanroom.OrgPublisher)
		createOrg(t, s, 2, cleanroom.OrgPublisher)
		putMember(t, s, 2, 1, cleanroom.RoleAdmin)
		_, err := s.FindMember(t.Context(), orgID(1), userID(1))
		wantCode(t, err, cleanroom.ENOTFOUND)
	}},
	{"delete removes the org's sessions and tokens", func(t *testing.T, s cleanroom.Store) {
		createUser(t, s, 1)
		createUser(t, s, 2)
		for o := 1; o <= 2; o++ {
			createOrg(t, s, o, cleanroom.OrgAdvertiser)
			putMember(t, s, o, 1, cleanroom.RoleAdmin)
			putMember(t, s, o, 2, cleanroom.RoleAdmin)
		}
		type grant struct {
			user, org int
			session   []byte
			token     string
		}
		var grants []grant
		for i, g := range []grant{{user: 1, org: 1}, {user: 1, org: 2}, {user: 2, org: 1}} {
			g.session = []byte(fmt.Sprintf("session-%d", i))
			g.token = tokenID(i)
			ok(t, s.CreateSession(t.Context(), &cleanroom.Session{Hash: g.session, UserID: userID(g.user), OrgID: orgID(g.org),
				CSRFToken: "csrf", CreatedAt: t0, LastSeenAt: t0, ExpiresAt: t0.Add(24 * time.Hour)}))
			ok(t, s.CreateToken(t.Context(), &cleanroom.Token{ID: g.token, UserID: userID(g.user), OrgID: orgID(g.org),
				Name: "t", Prefix: "cr_", Hash: []byte(g.token), CreatedAt: t0}))
			grants = append(grants, g)
		}

		ok(t, s.DeleteMembership(t.Context(), orgID(1), userID(1)))

		_, err := s.FindMember(t.Context(), orgID(1), userID(1))
		wantCode(t, err, cleanroom.ENOTFOUND)
		for i, g := range grants {
			gone := i == 0 // user 1 in org 1
			_, err := s.FindSession(t.Context(), g.session, t0)
			if gone {
				wantCode(t, err, cleanroom.ENOTFOUND)
			} else {
				ok(t, err)
			}
			tok, err := s.FindToken(t.Context(), g.token)
			ok(t, err)
			if revoked := !tok.RevokedAt.IsZero(); revoked != gone {
				t.Errorf("token of user %d in org %d: revoked %v, want %v", g.user, g.org, revoked, gone)
			}
		}
		wantCode(t, s.DeleteMembership(t.Context(), orgID(1), userID(1)), cleanroom.ENOTFOUND)
	}},
	{"publisher admins are admins of its demand-side workspace", func(t *testing.T, s cleanroom.Store) {
		pub := createOrg(t, s, 1, cleanroom.OrgPublisher)
		vault, ds, dsVault := demandSide(1)
		_, err := s.EnableCleanRoom(t.Context(), pub.ID, vault, ds, dsVault, t0)
		ok(t, err)
		createOrg(t, s, 2, cleanroom.OrgAdvertiser)
		for n := 1; n <= 4; n++ {
			createUser(t, s, n)
		}
		putMember(t, s, 1, 1, cleanroom.RoleAdmin)
		putMember(t, s, 1, 2, cleanroom.RoleMember)
		putMember(t, s, 2, 4, cleanroom.RoleAdmin) // an advertiser's admin: no workspace
		role := func(user int) cleanroom.Role {
			t.Helper()
			m, err := s.FindMember(t.Context(), ds.ID, userID(user))
			if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
				return ""
			}
			ok(t, err)
			return m.Role
		}

		m, err := s.FindMember(t.Context(), ds.ID, userID(1))
		ok(t, err)
		u1, err := s.FindUser(t.Context(), userID(1))
		ok(t, err)
		same(t, "derived member", &cleanroom.Member{User: *u1, Role: cleanroom.RoleAdmin, InheritedFrom: pub.ID}, m)
		ms, err := s.ListMemberships(t.Context(), userID(1))
		ok(t, err)
		same(t, "memberships with the derived one", []*cleanroom.Membership{
			{UserID: userID(1), OrgID: pub.ID, Role: cleanroom.RoleAdmin, CreatedAt: at(0)},
			{UserID: userID(1), OrgID: ds.ID, Role: cleanroom.RoleAdmin, InheritedFrom: pub.ID, CreatedAt: at(0)},
		}, ms)
		if r := role(2); r != "" {
			t.Errorf("a publisher member is %q in the workspace, want nothing", r)
		}
		if r := role(4); r != "" {
			t.Errorf("an advertiser's admin is %q in the workspace", r)
		}

		// Promoted later: an admin there too; demoted: no longer.
		putMember(t, s, 1, 2, cleanroom.RoleAdmin)
		if r := role(2); r != cleanroom.RoleAdmin {
			t.Errorf("promoted publisher admin: %q in the workspace, want admin", r)
		}
		putMember(t, s, 1, 1, cleanroom.RoleViewer)
		if r := role(1); r != "" {
			t.Errorf("demoted publisher admin: %q in the workspace, want nothing", r)
		}

		// A stored workspace role gives way to the derived admin role, and is back when the
		// publisher admin goes.
		ok(t, s.PutMembership(t.Context(), &cleanroom.Membership{UserID: userID(3), OrgID: ds.ID, Role: cleanroom.RoleViewer, CreatedAt: t0}))
		putMember(t, s, 1, 3, cleanroom.RoleAdmin)
		if r := role(3); r != cleanroom.RoleAdmin {
			t.Errorf("publisher admin with a stored viewer role: %q, want admin", r)
		}
		members, _, err := s.ListMembers(t.Context(), ds.ID, cleanroom.Page{})
		ok(t, err)
		var got []string
		for _, m := range members {
			got = append(got, fmt.Sprintf("%s %s %s", m.ID, m.Role, m.InheritedFrom))
		}
		same(t, "workspace members", []string{
			userID(2) + " admin " + pub.ID,
			userID(3) + " admin " + pub.ID,
		}, got)
		ok(t, s.DeleteMembership(t.Context(), pub.ID, userID(3)))
		if r := role(3); r != cleanroom.RoleViewer {
			t.Errorf("removed publisher admin: %q in the workspace, want the stored viewer role", r)
		}
		// A derived membership has no stored row to delete.
		wantCode(t, s.DeleteMembership(t.Context(), ds.ID, userID(2)), cleanroom.ENOTFOUND)
	}},
	{"list members", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgPublisher)
		createOrg(t, s, 2, cleanroom.OrgPublisher)
		roles := []cleanroom.Role{cleanroom.RoleAdmin, cleanroom.RoleMember, cleanroom.RoleViewer}
		var want []*cleanroom.Member
		for _, n := range []int{4, 1, 5, 3, 2} {
			createUser(t, s, n)
			putMember(t, s, 1, n, roles[n%3])
		}
		for n := 1; n <= 5; n++ {
			u, err := s.FindUser(t.Context(), userID(n))
			ok(t, err)
			want = append(want, &cleanroom.Member{User: *u, Role: roles[n%3]})
		}
		createUser(t, s, 6)
		putMember(t, s, 2, 6, cleanroom.RoleAdmin) // another org's

		got, pages := collectPages(t, 2, func(p cleanroom.Page) ([]*cleanroom.Member, string, error) {
			return s.ListMembers(t.Context(), orgID(1), p)
		})
		same(t, "members", want, got)
		if pages != 3 {
			t.Errorf("%d pages of 2 for 5 members, want 3", pages)
		}
	}},
}
