package storetest

import (
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
)

const kindInvitation = 0x400

func invitationID(n int) string { return uid(kindInvitation, n) }

// newInvitation returns a pending invitation n of email into org o, created at t0 and expiring a
// day later.
func newInvitation(n, o int, email string) *cleanroom.Invitation {
	return &cleanroom.Invitation{ID: invitationID(n), OrgID: orgID(o), Email: email, Role: cleanroom.RoleMember,
		InvitedBy: userID(9), CreatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour)}
}

var invitationCases = []testCase{
	{"create, find, list", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		createOrg(t, s, 2, cleanroom.OrgAdvertiser)
		inv := newInvitation(1, 1, "ann@example.com")
		ok(t, s.CreateInvitation(t.Context(), inv))
		want := &cleanroom.Invitation{ID: invitationID(1), OrgID: orgID(1), Email: "ann@example.com", Role: cleanroom.RoleMember,
			State: cleanroom.InvitationPending, InvitedBy: userID(9), CreatedAt: at(0), ExpiresAt: at(24 * time.Hour)}
		same(t, "created invitation", want, inv)
		got, err := s.FindInvitation(t.Context(), inv.ID)
		ok(t, err)
		same(t, "found invitation", want, got)
		_, err = s.FindInvitation(t.Context(), invitationID(9))
		wantCode(t, err, cleanroom.ENOTFOUND)

		lim := newInvitation(2, 2, "ann@example.com")
		lim.Role, lim.RepresentsID = cleanroom.RoleLimited, orgID(1)
		ok(t, s.CreateInvitation(t.Context(), lim))
		ok(t, s.CreateInvitation(t.Context(), newInvitation(3, 1, "bob@example.com")))

		all, pages := collectPages(t, 1, func(p cleanroom.Page) ([]*cleanroom.Invitation, string, error) {
			return s.ListInvitations(t.Context(), orgID(1), p)
		})
		if len(all) != 2 || pages != 2 || all[0].ID != invitationID(1) || all[1].ID != invitationID(3) {
			t.Fatalf("org 1's invitations: %d in %d pages", len(all), pages)
		}
		mine, err := s.ListInvitationsFor(t.Context(), "ann@example.com", t0)
		ok(t, err)
		if len(mine) != 2 || mine[0].ID != invitationID(1) || mine[1].RepresentsID != orgID(1) {
			t.Fatalf("ann's invitations: %+v", mine)
		}
		// Expired ones are not offered.
		mine, err = s.ListInvitationsFor(t.Context(), "ann@example.com", t0.Add(24*time.Hour))
		ok(t, err)
		if len(mine) != 0 {
			t.Fatalf("%d invitations offered after their expiry", len(mine))
		}
		wantCode(t, s.CreateInvitation(t.Context(), newInvitation(4, 9, "ann@example.com")), cleanroom.ENOTFOUND)
	}},
	{"one pending invitation per org and address, none for a member", func(t *testing.T, s cleanroom.Store) {
		pub := createOrg(t, s, 1, cleanroom.OrgPublisher)
		vault, ds, dsVault := demandSide(1)
		_, err := s.EnableCleanRoom(t.Context(), pub.ID, vault, ds, dsVault, t0)
		ok(t, err)
		u := createUser(t, s, 1) // user1@example.com
		putMember(t, s, 1, 1, cleanroom.RoleAdmin)
		ok(t, s.CreateInvitation(t.Context(), newInvitation(1, 1, "ann@example.com")))
		wantCode(t, s.CreateInvitation(t.Context(), newInvitation(2, 1, "ann@example.com")), cleanroom.ECONFLICT)
		wantCode(t, s.CreateInvitation(t.Context(), newInvitation(3, 1, u.Email)), cleanroom.ECONFLICT)
		// The publisher's admin is a (derived) member of its workspace.
		inDS := newInvitation(4, 101, u.Email)
		wantCode(t, s.CreateInvitation(t.Context(), inDS), cleanroom.ECONFLICT)

		// Once the first expired, the address can be invited again; the old one reads expired.
		again := newInvitation(5, 1, "ann@example.com")
		again.CreatedAt, again.ExpiresAt = t0.Add(24*time.Hour), t0.Add(48*time.Hour)
		ok(t, s.CreateInvitation(t.Context(), again))
		old, err := s.FindInvitation(t.Context(), invitationID(1))
		ok(t, err)
		if old.State != cleanroom.InvitationExpired || !old.DecidedAt.Equal(at(24*time.Hour)) {
			t.Fatalf("the expired invitation: %s at %v", old.State, old.DecidedAt)
		}
		// A decided one is no obstacle either.
		ok(t, s.DecideInvitation(t.Context(), again.ID, cleanroom.InvitationPending, cleanroom.InvitationWithdrawn, t0.Add(25*time.Hour)))
		third := newInvitation(6, 1, "ann@example.com")
		third.CreatedAt, third.ExpiresAt = t0.Add(26*time.Hour), t0.Add(72*time.Hour)
		ok(t, s.CreateInvitation(t.Context(), third))
	}},
	{"accept gives the membership once", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		createOrg(t, s, 2, cleanroom.OrgAdvertiser)
		u := createUser(t, s, 1)
		inv := newInvitation(1, 1, u.Email)
		ok(t, s.CreateInvitation(t.Context(), inv))
		m := &cleanroom.Membership{UserID: u.ID, OrgID: orgID(1), Role: cleanroom.RoleMember}
		ok(t, s.AcceptInvitation(t.Context(), inv.ID, m, t0.Add(time.Hour)))
		got, err := s.FindMember(t.Context(), orgID(1), u.ID)
		ok(t, err)
		if got.Role != cleanroom.RoleMember || !m.CreatedAt.Equal(at(time.Hour)) {
			t.Fatalf("member after accepting: %s, created %v", got.Role, m.CreatedAt)
		}
		found, err := s.FindInvitation(t.Context(), inv.ID)
		ok(t, err)
		if found.State != cleanroom.InvitationAccepted || !found.DecidedAt.Equal(at(time.Hour)) {
			t.Fatalf("accepted invitation: %s at %v", found.State, found.DecidedAt)
		}
		wantCode(t, s.AcceptInvitation(t.Context(), inv.ID, m, t0.Add(2*time.Hour)), cleanroom.ECONFLICT)
		wantCode(t, s.DecideInvitation(t.Context(), inv.ID, cleanroom.InvitationPending, cleanroom.InvitationDeclined, t0), cleanroom.ECONFLICT)
		wantCode(t, s.AcceptInvitation(t.Context(), invitationID(9), m, t0), cleanroom.ENOTFOUND)

		// Expired: not accepted, no membership.
		late := newInvitation(2, 2, u.Email)
		ok(t, s.CreateInvitation(t.Context(), late))
		err = s.AcceptInvitation(t.Context(), late.ID, &cleanroom.Membership{UserID: u.ID, OrgID: orgID(2), Role: cleanroom.RoleViewer}, t0.Add(24*time.Hour))
		wantCode(t, err, cleanroom.ECONFLICT)
		_, err = s.FindMember(t.Context(), orgID(2), u.ID)
		wantCode(t, err, cleanroom.ENOTFOUND)
		wantCode(t, s.DecideInvitation(t.Context(), late.ID, cleanroom.InvitationPending, cleanroom.InvitationDeclined, t0.Add(25*time.Hour)), cleanroom.ECONFLICT)
		wantCode(t, s.DecideInvitation(t.Context(), invitationID(9), cleanroom.InvitationPending, cleanroom.InvitationDeclined, t0), cleanroom.ENOTFOUND)
	}},
	{"accepting while a member is a conflict", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		u := createUser(t, s, 1)
		inv := newInvitation(1, 1, u.Email)
		ok(t, s.CreateInvitation(t.Context(), inv))
		putMember(t, s, 1, 1, cleanroom.RoleViewer) // added by an operator meanwhile
		wantCode(t, s.AcceptInvitation(t.Context(), inv.ID, &cleanroom.Membership{UserID: u.ID, OrgID: orgID(1), Role: cleanroom.RoleAdmin}, t0), cleanroom.ECONFLICT)
		m, err := s.FindMember(t.Context(), orgID(1), u.ID)
		ok(t, err)
		if m.Role != cleanroom.RoleViewer {
			t.Fatalf("role after a refused accept: %s", m.Role)
		}
		found, err := s.FindInvitation(t.Context(), inv.ID)
		ok(t, err)
		if found.State != cleanroom.InvitationPending {
			t.Fatalf("state after a refused accept: %s", found.State)
		}
	}},
}
