package accounts_test

import (
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/accounts"
)

// TestDescribeAudit: the audit log names the caller's own people by name and email and the orgs
// an entry concerns by name; a partner's person acting on a shared entry is "someone at" the
// partner, never named; an operator sees every name; filters narrow the log; another org's
// entries are neither listed nor described.
func TestDescribeAudit(t *testing.T) {
	x := newWorld(t)
	alice := x.member(x.p, "alice@p.example", cleanroom.RoleAdmin)
	bob := x.member(x.a, "bob@a.example", cleanroom.RoleAdmin)
	carol := x.member(x.b, "carol@b.example", cleanroom.RoleAdmin)
	add := func(e *cleanroom.AuditEntry) *cleanroom.AuditEntry {
		x.t.Helper()
		x.must(x.store.AppendAudit(x.ctx, e))
		return e
	}
	t0 := x.now
	conn := add(&cleanroom.AuditEntry{Time: t0, ActorUserID: alice.ID, ActorKind: cleanroom.ActorPerson, OrgID: x.p.ID, PartnerOrgID: x.a.ID,
		Action: "connection.create", TargetType: "connection", TargetID: "c1"})
	tok := add(&cleanroom.AuditEntry{Time: t0.Add(time.Hour), ActorUserID: bob.ID, ActorKind: cleanroom.ActorPerson, OrgID: x.a.ID,
		Action: "token.create", TargetType: "token", TargetID: "t1"})
	role := add(&cleanroom.AuditEntry{Time: t0.Add(2 * time.Hour), ActorUserID: bob.ID, ActorKind: cleanroom.ActorPerson, OrgID: x.a.ID,
		Action: "user.role.change", TargetType: "user", TargetID: bob.ID})
	add(&cleanroom.AuditEntry{Time: t0, ActorUserID: carol.ID, ActorKind: cleanroom.ActorPerson, OrgID: x.b.ID, Action: "token.create"})

	// Bob (advertiser A) reads A's log: his own entries named, the publisher's person unnamed.
	bobC := x.in(x.a, bob)
	es, _, err := x.acc.SearchAudit(x.ctx, bobC, accounts.AuditQuery{Page: cleanroom.Page{Limit: 10}})
	x.must(err)
	if len(es) != 3 {
		t.Fatalf("A's log has %d entries, want 3 (B's is not A's)", len(es))
	}
	lines, err := x.acc.DescribeAudit(x.ctx, bobC, es)
	x.must(err)
	byID := map[int64]*accounts.AuditLine{}
	for _, l := range lines {
		byID[l.ID] = l
	}
	for _, c := range []struct {
		name      string
		got, want string
	}{
		{"Bob's token: actor", byID[tok.ID].Actor, bob.Name},
		{"Bob's token: email", byID[tok.ID].ActorEmail, "bob@a.example"},
		{"Bob's role change: target", byID[role.ID].Target, bob.Name + " <bob@a.example>"},
		{"the publisher's connection: actor", byID[conn.ID].Actor, "someone at Publisher"},
		{"the publisher's connection: no email", byID[conn.ID].ActorEmail, ""},
		{"the publisher's connection: org", byID[conn.ID].OrgName, "Publisher"},
		{"the publisher's connection: partner", byID[conn.ID].PartnerName, "Advertiser A"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	// The publisher's admin sees Alice named, and Bob as someone at Advertiser A.
	pl, err := x.acc.DescribeAudit(x.ctx, x.in(x.p, alice), []*cleanroom.AuditEntry{conn})
	x.must(err)
	if pl[0].Actor != alice.Name || pl[0].ActorEmail != "alice@p.example" {
		t.Errorf("the publisher's own person = %q %q", pl[0].Actor, pl[0].ActorEmail)
	}
	// Carol (B) cannot have A's entries described.
	if _, err := x.acc.DescribeAudit(x.ctx, x.in(x.b, carol), []*cleanroom.AuditEntry{tok}); code(err) != cleanroom.ENOTFOUND {
		t.Errorf("B describing A's entry: %v, want ENOTFOUND", err)
	}
	// An operator sees every name.
	op, err := x.acc.CreateOperator(x.ctx, "root@deploy.example", "Root", password)
	x.must(err)
	ol, err := x.acc.DescribeAudit(x.ctx, person(op), []*cleanroom.AuditEntry{conn})
	x.must(err)
	if ol[0].Actor != alice.Name {
		t.Errorf("operator sees the actor as %q", ol[0].Actor)
	}
	// Filters.
	for _, c := range []struct {
		name string
		q    accounts.AuditQuery
		want int
		code string
	}{
		{"action prefix", accounts.AuditQuery{ActionPrefix: "token."}, 1, ""},
		{"actor", accounts.AuditQuery{ActorUserID: bob.ID}, 2, ""},
		{"target", accounts.AuditQuery{TargetType: "user", TargetID: bob.ID}, 1, ""},
		{"since", accounts.AuditQuery{Since: t0.Add(time.Hour)}, 2, ""},
		{"until", accounts.AuditQuery{Until: t0.Add(time.Hour)}, 1, ""},
		{"backwards period", accounts.AuditQuery{Since: t0.Add(time.Hour), Until: t0}, 0, cleanroom.EINVALID},
	} {
		got, _, err := x.acc.SearchAudit(x.ctx, bobC, c.q)
		if code(err) != c.code || len(got) != c.want {
			t.Errorf("%s: %d entries, %v; want %d, %q", c.name, len(got), err, c.want, c.code)
		}
	}
}
