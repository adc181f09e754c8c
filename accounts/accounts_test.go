package accounts_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/accounts"
	"github.com/cleanroom-oss/cleanroom/auth"
	"github.com/cleanroom-oss/cleanroom/connections"
	"github.com/cleanroom-oss/cleanroom/keyring"
	"github.com/cleanroom-oss/cleanroom/sqlite"
)

const (
	password = "correct horse battery staple"
	wrong    = "not the password at all"
)

// world is an accounts service over a real store with a fake clock: a publisher P (clean room
// enabled, so with its demand-side workspace W) and two advertisers, A and B, ready to be invited.
type world struct {
	t     *testing.T
	ctx   context.Context
	store cleanroom.Store
	acc   *accounts.Service
	conns *connections.Service
	now   time.Time
	p, w  *cleanroom.Org
	a, b  *cleanroom.Org
}

func newWorld(t *testing.T) *world {
	t.Helper()
	store := sqlite.MustOpen(t)
	x := &world{t: t, ctx: context.Background(), store: store, now: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)}
	clock := func() time.Time { return x.now }
	x.acc = accounts.New(store, keyring.Generate())
	x.acc.Now, x.acc.Passwords = clock, auth.TestParams
	x.acc.Throttle.SetClock(clock)
	x.conns = connections.New(store)
	x.conns.Now = clock
	x.p = x.org("Publisher", cleanroom.OrgPublisher)
	w, err := store.FindOrg(x.ctx, x.p.DemandSideID)
	x.must(err)
	x.w = w
	x.a = x.org("Advertiser A", cleanroom.OrgAdvertiser)
	x.b = x.org("Advertiser B", cleanroom.OrgAdvertiser)
	return x
}

func (x *world) must(err error) {
	x.t.Helper()
	if err != nil {
		x.t.Fatal(err)
	}
}

func (x *world) org(name string, kind cleanroom.OrgKind) *cleanroom.Org {
	x.t.Helper()
	o, err := x.acc.CreateOrg(x.ctx, name, kind)
	x.must(err)
	_, err = x.acc.RecordDPA(x.ctx, o.ID, time.Time{})
	x.must(err)
	o, err = x.acc.EnableCleanRoom(x.ctx, o.ID)
	x.must(err)
	return o
}

// member adds a new user with the test password to org at once (as an operator does).
func (x *world) member(org *cleanroom.Org, email string, role cleanroom.Role) *cleanroom.User {
	x.t.Helper()
	m, _, err := x.acc.AddMember(x.ctx, org.ID, accounts.NewUser{Email: email, Password: password, Role: role, AttachExisting: true})
	x.must(err)
	return &m.User
}

func (x *world) user(email string) *cleanroom.User {
	x.t.Helper()
	u, err := x.store.FindUserByEmail(x.ctx, email)
	x.must(err)
	return u
}

func (x *world) login(email, pw string, c accounts.Client) (*accounts.SignedIn, error) {
	return x.acc.Login(x.ctx, accounts.SignIn{Email: email, Password: pw, Client: c})
}

// person is u acting in no org (as after signing in with no org chosen).
func person(u *cleanroom.User) *cleanroom.Caller { return &cleanroom.Caller{User: u} }

// in is u acting in org with its role there.
func (x *world) in(org *cleanroom.Org, u *cleanroom.User) *cleanroom.Caller {
	x.t.Helper()
	m, err := x.store.FindMember(x.ctx, org.ID, u.ID)
	x.must(err)
	return cleanroom.MemberCaller(m, org)
}

// role returns u's role in org, "" when none.
func (x *world) role(org *cleanroom.Org, u *cleanroom.User) cleanroom.Role {
	x.t.Helper()
	m, err := x.store.FindMember(x.ctx, org.ID, u.ID)
	if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
		return ""
	}
	x.must(err)
	return m.Role
}

func code(err error) string { return cleanroom.ErrorCode(err) }

func addr(n int) accounts.Client { return accounts.Client{Addr: fmt.Sprintf("198.51.100.%d", n)} }

// TestLoginThrottle: failures are charged to the client that made them; another client's
// failures never refuse the right password; the attacker's client is slowed.
func TestLoginThrottle(t *testing.T) {
	failUntilRefused := func(x *world, email string, c accounts.Client) (failures int, err error) {
		for failures = 0; failures < 100; failures++ {
			if _, err = x.login(email, wrong, c); code(err) != cleanroom.EUNAUTHENTICATED {
				return failures, err
			}
		}
		return failures, err
	}
	retryAfter := func(err error) int {
		n, _ := cleanroom.ErrorDetails(err)["retry_after_seconds"].(int)
		return n
	}

	t.Run("one attacking client", func(t *testing.T) {
		x := newWorld(t)
		x.member(x.a, "owner@a.example", cleanroom.RoleAdmin)
		n, err := failUntilRefused(x, "owner@a.example", addr(66))
		if code(err) != cleanroom.EUNAVAILABLE || n != accounts.AccountClientBurst || retryAfter(err) <= 0 {
			t.Fatalf("after %d failures: %v (retry after %d s), want refused after %d", n, err, retryAfter(err), accounts.AccountClientBurst)
		}
		if _, err := x.login("owner@a.example", password, addr(66)); code(err) != cleanroom.EUNAVAILABLE {
			t.Errorf("right password from the slowed client: %v, want refused", err)
		}
		if _, err := x.login("owner@a.example", password, addr(1)); err != nil {
			t.Errorf("right password from the owner's client: %v", err)
		}
		x.now = x.now.Add(accounts.AccountClientEvery)
		if _, err := x.login("owner@a.example", password, addr(66)); err != nil {
			t.Errorf("right password from the attacker's client after the wait: %v", err)
		}
	})

	t.Run("many attacking addresses", func(t *testing.T) {
		x := newWorld(t)
		x.member(x.a, "owner@a.example", cleanroom.RoleAdmin)
		// Each address fails a little; together they pass the account's ceiling.
		for i := 0; i < accounts.AccountBurst+20; i++ {
			c := accounts.Client{Addr: fmt.Sprintf("203.0.%d.%d", i/200, i%200)}
			if _, err := x.login("owner@a.example", wrong, c); code(err) != cleanroom.EUNAUTHENTICATED && code(err) != cleanroom.EUNAVAILABLE {
				t.Fatalf("attempt %d: %v", i, err)
			}
		}
		if _, err := x.login("owner@a.example", password, addr(1)); err != nil {
			t.Errorf("right password from a fresh client during the attack: %v", err)
		}
		// Under attack, a client that failed already waits for its next attempt.
		c := accounts.Client{Addr: fmt.Sprintf("203.0.%d.%d", (accounts.AccountBurst+10)/200, (accounts.AccountBurst+10)%200)}
		if _, err := x.login("owner@a.example", wrong, c); code(err) != cleanroom.EUNAVAILABLE {
			t.Errorf("second attempt of an attacking address: %v, want refused", err)
		}
		fresh := addr(2)
		if _, err := x.login("owner@a.example", wrong, fresh); code(err) != cleanroom.EUNAUTHENTICATED {
			t.Errorf("first attempt of a fresh client: %v, want checked", err)
		}
		if _, err := x.login("owner@a.example", password, fresh); code(err) != cleanroom.EUNAVAILABLE {
			t.Errorf("fresh client's second attempt during the attack: %v, want refused", err)
		}
		x.now = x.now.Add(accounts.SlowEvery)
		if _, err := x.login("owner@a.example", password, fresh); err != nil {
			t.Errorf("after the slow interval: %v", err)
		}
	})

	t.Run("one address guessing many accounts; known devices pass", func(t *testing.T) {
		x := newWorld(t)
		x.member(x.a, "owner@a.example", cleanroom.RoleAdmin)
		office := addr(7)
		in, err := x.login("owner@a.example", password, office)
		x.must(err)
		if in.Device == "" {
			t.Fatal("no device cookie after signing in")
		}
		failures := 0
		for i := 0; i < 100; i++ {
			_, err = x.login(fmt.Sprintf("guess%d@a.example", i), wrong, office)
			if code(err) == cleanroom.EUNAVAILABLE {
				break
			}
			failures++
		}
		if failures != accounts.AddrBurst {
			t.Errorf("the address was refused after %d failures, want %d", failures, accounts.AddrBurst)
		}
		if _, err := x.login("owner@a.example", password, office); code(err) != cleanroom.EUNAVAILABLE {
			t.Errorf("right password from the exhausted address without the device cookie: %v, want refused", err)
		}
		known := office
		known.Device = in.Device
		again, err := x.login("owner@a.example", password, known)
		if err != nil {
			t.Fatalf("right password from the exhausted address with the device cookie: %v", err)
		}
		if again.Device != in.Device {
			t.Errorf("a valid device cookie was replaced")
		}
		// The cookie is the account's only: for another account the browser is its address.
		x.member(x.a, "colleague@a.example", cleanroom.RoleMember)
		if _, err := x.login("colleague@a.example", password, known); code(err) != cleanroom.EUNAVAILABLE {
			t.Errorf("another account with the first's device cookie: %v, want refused (the address is exhausted)", err)
		}
		forged := office
		forged.Device = in.Device[:len(in.Device)-2] + "AA"
		if _, err := x.login("owner@a.example", password, forged); code(err) != cleanroom.EUNAVAILABLE {
			t.Errorf("a forged device cookie: %v, want refused", err)
		}
	})

	t.Run("only failures are charged; a success clears the client's", func(t *testing.T) {
		x := newWorld(t)
		x.member(x.a, "owner@a.example", cleanroom.RoleAdmin)
		for i := 0; i < 3*accounts.AddrBurst; i++ {
			if _, err := x.login("owner@a.example", password, addr(1)); err != nil {
				t.Fatalf("sign-in %d: %v", i, err)
			}
		}
		for round := 0; round < 3; round++ {
			for i := 0; i < accounts.AccountClientBurst-1; i++ {
				if _, err := x.login("owner@a.example", wrong, addr(1)); code(err) != cleanroom.EUNAUTHENTICATED {
					t.Fatalf("round %d, failure %d: %v", round, i, err)
				}
			}
			if _, err := x.login("owner@a.example", password, addr(1)); err != nil {
				t.Fatalf("round %d: the right password: %v", round, err)
			}
		}
	})

	t.Run("unknown addresses are throttled like known ones", func(t *testing.T) {
		x := newWorld(t)
		x.member(x.a, "owner@a.example", cleanroom.RoleAdmin)
		known, errKnown := failUntilRefused(x, "owner@a.example", addr(1))
		unknown, errUnknown := failUntilRefused(x, "nobody@a.example", addr(2))
		malformed, errMalformed := failUntilRefused(x, "not an address", addr(3))
		if known != unknown || known != malformed || code(errKnown) != code(errUnknown) || code(errKnown) != code(errMalformed) {
			t.Errorf("refused after %d (known), %d (unknown), %d (malformed) failures", known, unknown, malformed)
		}
	})
}

// TestChangePassword: the change ends the user's other sessions, and guessing the current
// password is throttled like sign-in.
func TestChangePassword(t *testing.T) {
	x := newWorld(t)
	u := x.member(x.a, "owner@a.example", cleanroom.RoleAdmin)
	var sessions []*cleanroom.Session
	for i := range 3 {
		in, err := x.login(u.Email, password, addr(i+1))
		x.must(err)
		sessions = append(sessions, in.Session)
	}
	alive := func(s *cleanroom.Session) bool {
		_, err := x.store.FindSession(x.ctx, s.Hash, x.now)
		return err == nil
	}
	const next = "a brand new passphrase"

	// A new password that is too short changes nothing.
	_, err := x.acc.ChangePassword(x.ctx, &cleanroom.Caller{User: u, Session: sessions[0]}, password, "short", addr(1))
	if code(err) != cleanroom.EINVALID || !alive(sessions[1]) {
		t.Fatalf("too short: %v; other session alive: %v", err, alive(sessions[1]))
	}
	ended, err := x.acc.ChangePassword(x.ctx, &cleanroom.Caller{User: u, Session: sessions[0]}, password, next, addr(1))
	x.must(err)
	if ended != 2 || !alive(sessions[0]) || alive(sessions[1]) || alive(sessions[2]) {
		t.Errorf("ended %d; alive: %v %v %v, want only the changing session", ended, alive(sessions[0]), alive(sessions[1]), alive(sessions[2]))
	}
	if _, err := x.login(u.Email, password, addr(9)); code(err) != cleanroom.EUNAUTHENTICATED {
		t.Errorf("old password: %v", err)
	}
	if _, err := x.login(u.Email, next, addr(9)); err != nil {
		t.Errorf("new password: %v", err)
	}
	// Through a token (no session to keep), every session ends.
	ended, err = x.acc.ChangePassword(x.ctx, person(u), next, password, addr(1))
	x.must(err)
	if ended != 2 || alive(sessions[0]) {
		t.Errorf("ended %d with no session kept; the changing one alive: %v", ended, alive(sessions[0]))
	}

	// Guessing the current password: the guessing client is slowed, the owner's is not.
	thief := addr(66)
	n := 0
	for ; n < 100; n++ {
		_, err = x.acc.ChangePassword(x.ctx, person(u), wrong, next, thief)
		if code(err) != cleanroom.EINVALID {
			break
		}
	}
	if code(err) != cleanroom.EUNAVAILABLE || n != accounts.AccountClientBurst {
		t.Errorf("after %d wrong current passwords: %v, want refused after %d", n, err, accounts.AccountClientBurst)
	}
	if _, err := x.acc.ChangePassword(x.ctx, person(u), password, next, thief); code(err) != cleanroom.EUNAVAILABLE {
		t.Errorf("right current password from the slowed client: %v", err)
	}
	if _, err := x.login(u.Email, password, addr(1)); err != nil {
		t.Errorf("the owner signs in meanwhile: %v", err)
	}
}

// TestInviteMemberRevealsNothing: adding an address that has an account in another org answers
// exactly as for a new address, takes over nothing, and gives nothing until accepted.
func TestInviteMemberRevealsNothing(t *testing.T) {
	x := newWorld(t)
	admin := x.member(x.a, "admin@a.example", cleanroom.RoleAdmin)
	elsewhere := x.member(x.b, "someone@b.example", cleanroom.RoleViewer)
	op, err := x.acc.CreateOperator(x.ctx, "op@example.com", "Operator", password)
	x.must(err)
	const given = "the admin's choice of password"

	invite := func(email string) *cleanroom.Invitation {
		t.Helper()
		inv, err := x.acc.InviteMember(x.ctx, x.in(x.a, admin), accounts.NewUser{Email: email, Name: "Given Name", Password: given, Role: cleanroom.RoleMember})
		x.must(err)
		return inv
	}
	shape := func(inv *cleanroom.Invitation) string {
		c := *inv
		c.ID, c.Email = "", ""
		b, _ := json.Marshal(c)
		return string(b)
	}
	fresh, existing, operator := invite("new@c.example"), invite(elsewhere.Email), invite(op.Email)
	if shape(fresh) != shape(existing) || shape(fresh) != shape(operator) {
		t.Errorf("answers differ:\n new:      %s\n existing: %s\n operator: %s", shape(fresh), shape(existing), shape(operator))
	}
	// Nobody is a member yet; the existing accounts keep their names and passwords.
	for _, email := range []string{"new@c.example", elsewhere.Email, op.Email} {
		if r := x.role(x.a, x.user(email)); r != "" {
			t.Errorf("%s is %s before accepting", email, r)
		}
	}
	if u := x.user(elsewhere.Email); u.Name == "Given Name" || !auth.VerifyPassword(u.PasswordHash, password) || auth.VerifyPassword(u.PasswordHash, given) {
		t.Errorf("the existing account was changed: name %q", u.Name)
	}
	// The new account has the given password; both see their invitation and accept it.
	newbie := x.user("new@c.example")
	if !auth.VerifyPassword(newbie.PasswordHash, given) || newbie.Name != "Given Name" {
		t.Errorf("the new account: name %q, given password works: %v", newbie.Name, auth.VerifyPassword(newbie.PasswordHash, given))
	}
	in, err := x.login("new@c.example", given, addr(1))
	if err != nil || in.Session.OrgID != "" {
		t.Fatalf("a new account with no org yet signs in: %v (org %q)", err, in.Session.OrgID)
	}
	for _, c := range []struct {
		u   *cleanroom.User
		inv *cleanroom.Invitation
	}{{newbie, fresh}, {x.user(elsewhere.Email), existing}} {
		rs, err := x.acc.ReceivedInvitations(x.ctx, person(c.u))
		x.must(err)
		if len(rs) != 1 || rs[0].ID != c.inv.ID || rs[0].OrgName != x.a.Name {
			t.Fatalf("%s's invitations: %+v", c.u.Email, rs)
		}
		if _, _, err := x.acc.AcceptInvitation(x.ctx, person(c.u), c.inv.ID); err != nil {
			t.Fatalf("%s accepts: %v", c.u.Email, err)
		}
		if r := x.role(x.a, c.u); r != cleanroom.RoleMember {
			t.Errorf("%s after accepting: %q", c.u.Email, r)
		}
	}
	// Only this org's own people are conflicts.
	for _, email := range []string{elsewhere.Email, op.Email} {
		_, err := x.acc.InviteMember(x.ctx, x.in(x.a, admin), accounts.NewUser{Email: email, Password: given, Role: cleanroom.RoleViewer})
		if code(err) != cleanroom.ECONFLICT {
			t.Errorf("inviting %s again: %v, want a conflict", email, err)
		}
	}
	// The answer never depends on the account: the same checks run for every address.
	for _, email := range []string{"other@c.example", "someone-else@b.example"} {
		_, err := x.acc.InviteMember(x.ctx, x.in(x.a, admin), accounts.NewUser{Email: email, Password: "short", Role: cleanroom.RoleViewer})
		if code(err) != cleanroom.EINVALID {
			t.Errorf("short password for %s: %v", email, err)
		}
	}
}

// TestInvitationLifecycle: an invitation is for its addressee only, can be declined, withdrawn
// and can expire, and a decided invitation cannot be accepted.
func TestInvitationLifecycle(t *testing.T) {
	x := newWorld(t)
	admin := x.member(x.a, "admin@a.example", cleanroom.RoleAdmin)
	bob := x.member(x.b, "bob@b.example", cleanroom.RoleAdmin)
	eve := x.member(x.b, "eve@b.example", cleanroom.RoleAdmin)
	invite := func(u *cleanroom.User) *cleanroom.Invitation {
		t.Helper()
		inv, err := x.acc.InviteMember(x.ctx, x.in(x.a, admin), accounts.NewUser{Email: u.Email, Password: password, Role: cleanroom.RoleViewer})
		x.must(err)
		return inv
	}

	inv := invite(bob)
	if _, err := x.acc.ReceivedInvitation(x.ctx, person(eve), inv.ID); code(err) != cleanroom.ENOTFOUND {
		t.Errorf("another person reads the invitation: %v", err)
	}
	if _, _, err := x.acc.AcceptInvitation(x.ctx, person(eve), inv.ID); code(err) != cleanroom.ENOTFOUND {
		t.Errorf("another person accepts the invitation: %v", err)
	}
	if _, err := x.acc.Invitation(x.ctx, x.in(x.b, eve), inv.ID); code(err) != cleanroom.ENOTFOUND {
		t.Errorf("another org reads the invitation: %v", err)
	}
	r, err := x.acc.DeclineInvitation(x.ctx, person(bob), inv.ID)
	if err != nil || r.State != cleanroom.InvitationDeclined {
		t.Fatalf("decline: %v", err)
	}
	if _, _, err := x.acc.AcceptInvitation(x.ctx, person(bob), inv.ID); code(err) != cleanroom.ECONFLICT {
		t.Errorf("accepting a declined invitation: %v", err)
	}
	if got, _ := x.acc.Invitation(x.ctx, x.in(x.a, admin), inv.ID); got.State != cleanroom.InvitationDeclined {
		t.Errorf("the inviter sees %s, want declined", got.State)
	}

	inv = invite(bob)
	w, err := x.acc.WithdrawInvitation(x.ctx, x.in(x.a, admin), inv.ID)
	if err != nil || w.State != cleanroom.InvitationWithdrawn {
		t.Fatalf("withdraw: %v", err)
	}
	if _, _, err := x.acc.AcceptInvitation(x.ctx, person(bob), inv.ID); code(err) != cleanroom.ECONFLICT {
		t.Errorf("accepting a withdrawn invitation: %v", err)
	}
	if rs, _ := x.acc.ReceivedInvitations(x.ctx, person(bob)); len(rs) != 0 {
		t.Errorf("withdrawn invitation still offered")
	}

	inv = invite(bob)
	x.now = x.now.Add(cleanroom.InvitationTTL)
	if got, _ := x.acc.Invitation(x.ctx, x.in(x.a, admin), inv.ID); got.State != cleanroom.InvitationExpired {
		t.Errorf("the inviter sees %s after the expiry, want expired", got.State)
	}
	if _, _, err := x.acc.AcceptInvitation(x.ctx, person(bob), inv.ID); code(err) != cleanroom.ECONFLICT {
		t.Errorf("accepting an expired invitation: %v", err)
	}
	if _, err := x.acc.WithdrawInvitation(x.ctx, x.in(x.a, admin), inv.ID); code(err) != cleanroom.ECONFLICT {
		t.Errorf("withdrawing an expired invitation: %v", err)
	}

	inv = invite(bob) // the expired one is no obstacle
	if _, _, err := x.acc.AcceptInvitation(x.ctx, person(bob), inv.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := x.acc.WithdrawInvitation(x.ctx, x.in(x.a, admin), inv.ID); code(err) != cleanroom.ECONFLICT {
		t.Errorf("withdrawing an accepted member invitation: %v", err)
	}
	invs, _, err := x.acc.Invitations(x.ctx, x.in(x.a, admin), cleanroom.Page{})
	x.must(err)
	var states []cleanroom.InvitationState
	for _, i := range invs {
		states = append(states, i.State)
	}
	if fmt.Sprint(states) != "[declined withdrawn expired accepted]" {
		t.Errorf("the inviter's list: %v", states)
	}
}

// TestAdvertiserInvitation: inviting an advertiser's person into the publisher's workspace says
// nothing about the address, shows the invitation only to the advertiser's admins and members,
// and gives access only once accepted, until withdrawn.
func TestAdvertiserInvitation(t *testing.T) {
	x := newWorld(t)
	staff := cleanroom.NewCaller(x.w.ID, cleanroom.RoleAdmin)
	lead := x.member(x.a, "lead@a.example", cleanroom.RoleMember)
	viewer := x.member(x.a, "viewer@a.example", cleanroom.RoleViewer)
	stranger := x.member(x.b, "stranger@b.example", cleanroom.RoleAdmin)

	shape := func(inv *cleanroom.Invitation) string {
		c := *inv
		c.ID, c.Email = "", ""
		b, _ := json.Marshal(c)
		return string(b)
	}
	var invs []*cleanroom.Invitation
	for _, email := range []string{lead.Email, viewer.Email, stranger.Email, "nobody@a.example"} {
		inv, err := x.conns.Invite(x.ctx, staff, email, x.a.ID)
		if err != nil {
			t.Fatalf("invite %s: %v", email, err)
		}
		if len(invs) > 0 && shape(inv) != shape(invs[0]) {
			t.Errorf("the answer for %s differs:\n%s\n%s", email, shape(inv), shape(invs[0]))
		}
		invs = append(invs, inv)
	}
	// Only the advertiser's admins and members see theirs.
	for _, c := range []struct {
		u    *cleanroom.User
		sees bool
	}{{lead, true}, {viewer, false}, {stranger, false}} {
		rs, err := x.acc.ReceivedInvitations(x.ctx, person(c.u))
		x.must(err)
		if (len(rs) == 1) != c.sees {
			t.Errorf("%s sees %d invitations, want %v", c.u.Email, len(rs), c.sees)
		}
		if c.sees && (rs[0].AdvertiserName != x.a.Name || rs[0].Role != cleanroom.RoleLimited) {
			t.Errorf("%s's invitation: %+v", c.u.Email, rs[0])
		}
	}
	if _, _, err := x.acc.AcceptInvitation(x.ctx, person(stranger), invs[2].ID); code(err) != cleanroom.ENOTFOUND {
		t.Errorf("a stranger accepts: %v", err)
	}
	// No access before accepting.
	if r := x.role(x.w, lead); r != "" {
		t.Errorf("the invited lead is %q before accepting", r)
	}
	if _, _, err := x.acc.IssueToken(x.ctx, lead.ID, x.w.ID, "t", 0); code(err) != cleanroom.ENOTFOUND {
		t.Errorf("a token for the workspace before accepting: %v", err)
	}
	if _, err := x.acc.SessionOrg(x.ctx, lead, x.w.ID); code(err) != cleanroom.ENOTFOUND {
		t.Errorf("a session in the workspace before accepting: %v", err)
	}
	_, m, err := x.acc.AcceptInvitation(x.ctx, person(lead), invs[0].ID)
	x.must(err)
	if got, err := x.store.FindMember(x.ctx, x.w.ID, lead.ID); err != nil || got.Role != cleanroom.RoleLimited || got.RepresentsID != x.a.ID || m.RepresentsID != x.a.ID {
		t.Fatalf("after accepting: %+v %v", got, err)
	}
	// Withdrawing the accepted invitation ends the access.
	w, err := x.acc.WithdrawInvitation(x.ctx, x.in(x.w, x.member(x.p, "ops@p.example", cleanroom.RoleAdmin)), invs[0].ID)
	if err != nil || w.State != cleanroom.InvitationWithdrawn {
		t.Fatalf("withdraw: %v", err)
	}
	if r := x.role(x.w, lead); r != "" {
		t.Errorf("after withdrawal the lead is %q", r)
	}
	// A member of the workspace cannot be invited; another pending invitation is a conflict.
	pubAdmin := x.member(x.p, "admin@p.example", cleanroom.RoleAdmin)
	for _, email := range []string{pubAdmin.Email, viewer.Email} {
		if _, err := x.conns.Invite(x.ctx, staff, email, x.a.ID); code(err) != cleanroom.ECONFLICT {
			t.Errorf("inviting %s: %v, want a conflict", email, err)
		}
	}
}

// TestPublisherAdminsInWorkspace: a publisher's admins are admins of its demand-side workspace,
// whenever they became admins, and stop being when they stop being publisher admins; the derived
// role is changed in the publisher, not in the workspace.
func TestPublisherAdminsInWorkspace(t *testing.T) {
	x := newWorld(t)
	first := x.member(x.p, "first@p.example", cleanroom.RoleAdmin)
	later := x.member(x.p, "later@p.example", cleanroom.RoleMember)
	if r := x.role(x.w, first); r != cleanroom.RoleAdmin {
		t.Errorf("publisher admin in the workspace: %q", r)
	}
	if r := x.role(x.w, later); r != "" {
		t.Errorf("publisher member in the workspace: %q", r)
	}
	if org, err := x.acc.SessionOrg(x.ctx, first, x.w.ID); err != nil || org != x.w.ID {
		t.Errorf("switching to the workspace: %q %v", org, err)
	}
	ms, err := x.store.ListMemberships(x.ctx, first.ID)
	x.must(err)
	if len(ms) != 2 || ms[1].OrgID != x.w.ID || ms[1].InheritedFrom != x.p.ID {
		t.Errorf("the org switcher's memberships: %+v", ms)
	}
	if _, _, err := x.acc.IssueToken(x.ctx, first.ID, x.w.ID, "ws", 0); err != nil {
		t.Errorf("a token for the workspace: %v", err)
	}

	_, err = x.acc.SetRole(x.ctx, x.p.ID, later.ID, cleanroom.RoleAdmin)
	x.must(err)
	if r := x.role(x.w, later); r != cleanroom.RoleAdmin {
		t.Errorf("promoted later: %q in the workspace", r)
	}
	for name, err := range map[string]error{
		"demote in the workspace":   func() error { _, err := x.acc.SetRole(x.ctx, x.w.ID, later.ID, cleanroom.RoleViewer); return err }(),
		"remove from the workspace": x.acc.RemoveMember(x.ctx, x.w.ID, later.ID),
	} {
		if code(err) != cleanroom.EINVALID || cleanroom.ErrorDetails(err)["inherited_from"] != x.p.ID {
			t.Errorf("%s: %v, want invalid naming the publisher", name, err)
		}
	}
	_, err = x.acc.SetRole(x.ctx, x.p.ID, later.ID, cleanroom.RoleMember)
	x.must(err)
	if r := x.role(x.w, later); r != "" {
		t.Errorf("demoted in the publisher: %q in the workspace", r)
	}
	second := x.member(x.p, "second@p.example", cleanroom.RoleAdmin)
	x.must(x.acc.RemoveMember(x.ctx, x.p.ID, first.ID))
	if r := x.role(x.w, first); r != "" {
		t.Errorf("removed from the publisher: %q in the workspace", r)
	}
	if r := x.role(x.w, second); r != cleanroom.RoleAdmin {
		t.Errorf("admin added later: %q in the workspace", r)
	}
}
