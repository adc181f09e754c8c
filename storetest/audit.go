package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
)

// appendAudit appends entries for (org, partner, action) triples at t0, t0+1s, ... and returns
// them with their IDs set.
func appendAudit(t *testing.T, s cleanroom.Store, entries ...[3]string) []*cleanroom.AuditEntry {
	t.Helper()
	var out []*cleanroom.AuditEntry
	for i, e := range entries {
		a := &cleanroom.AuditEntry{Time: t0.Add(time.Duration(i) * time.Second), RequestID: fmt.Sprintf("req-%d", i),
			ActorUserID: userID(1), OrgID: e[0], PartnerOrgID: e[1], Action: e[2], TargetType: "org", TargetID: e[0]}
		ok(t, s.AppendAudit(t.Context(), a))
		out = append(out, a)
	}
	return out
}

// reversed returns a reversed copy: the order lists use.
func reversed[T any](s []T) []T {
	r := make([]T, len(s))
	for i, v := range s {
		r[len(s)-1-i] = v
	}
	return r
}

var auditCases = []testCase{
	{"append and list newest first", func(t *testing.T, s cleanroom.Store) {
		e := &cleanroom.AuditEntry{Time: t0, RequestID: "req-1", ActorUserID: userID(1), ActorTokenID: tokenID(1),
			OrgID: orgID(1), PartnerOrgID: orgID(2), Action: "connection.create", TargetType: "connection", TargetID: "c1",
			Details: map[string]any{"threshold": float64(100), "workflow": "publisher_driven", "noise": true}}
		ok(t, s.AppendAudit(t.Context(), e))
		if e.ID <= 0 {
			t.Fatalf("AppendAudit set ID %d", e.ID)
		}
		if !e.Time.Equal(at(0)) {
			t.Fatalf("Time = %v, want it normalised to %v", e.Time, at(0))
		}
		more := appendAudit(t, s, [3]string{orgID(1), "", "org.update"}, [3]string{"", "", "system.start"})
		all := append([]*cleanroom.AuditEntry{e}, more...)
		for i := 1; i < len(all); i++ {
			if all[i].ID <= all[i-1].ID {
				t.Fatalf("IDs do not increase: %d then %d", all[i-1].ID, all[i].ID)
			}
		}
		got, next, err := s.ListAudit(t.Context(), cleanroom.AuditFilter{})
		ok(t, err)
		same(t, "entries", reversed(all), got)
		if next != "" {
			t.Fatalf("next = %q on the only page", next)
		}
	}},
	{"zero time becomes now", func(t *testing.T, s cleanroom.Store) {
		e := &cleanroom.AuditEntry{Action: "system.start"}
		ok(t, s.AppendAudit(t.Context(), e))
		if e.Time.IsZero() {
			t.Fatal("AppendAudit left Time zero")
		}
		got, _, err := s.ListAudit(t.Context(), cleanroom.AuditFilter{})
		ok(t, err)
		same(t, "entries", []*cleanroom.AuditEntry{e}, got)
	}},
	{"filters", func(t *testing.T, s cleanroom.Store) {
		es := appendAudit(t, s,
			[3]string{orgID(1), "", "org.update"},              // 0
			[3]string{orgID(2), orgID(1), "connection.create"}, // 1: org 1 as partner
			[3]string{orgID(2), "", "org.update"},              // 2
			[3]string{orgID(1), orgID(3), "connection.create"}, // 3
			[3]string{"", "", "system.start"},                  // 4
		)
		for _, c := range []struct {
			name string
			f    cleanroom.AuditFilter
			want []int
		}{
			{"org 1", cleanroom.AuditFilter{OrgID: orgID(1)}, []int{3, 1, 0}},
			{"org 2", cleanroom.AuditFilter{OrgID: orgID(2)}, []int{2, 1}},
			{"org 3 as partner", cleanroom.AuditFilter{OrgID: orgID(3)}, []int{3}},
			{"action", cleanroom.AuditFilter{Action: "org.update"}, []int{2, 0}},
			{"org and action", cleanroom.AuditFilter{OrgID: orgID(1), Action: "connection.create"}, []int{3, 1}},
			{"no match", cleanroom.AuditFilter{OrgID: orgID(4)}, nil},
		} {
			got, _, err := s.ListAudit(t.Context(), c.f)
			ok(t, err)
			var want []*cleanroom.AuditEntry
			for _, i := range c.want {
				want = append(want, es[i])
			}
			same(t, c.name, want, got)
		}
	}},
	{"filters by actor, target, action prefix and time", func(t *testing.T, s cleanroom.Store) {
		es := appendAudit(t, s,
			[3]string{orgID(1), "", "token.create"},  // 0, at t0
			[3]string{orgID(1), "", "token.revoke"},  // 1, t0+1s
			[3]string{orgID(1), "", "tokens.listed"}, // 2, t0+2s: not under "token."
			[3]string{orgID(1), "", "user.add"},      // 3, t0+3s
		)
		e := &cleanroom.AuditEntry{Time: t0.Add(4 * time.Second), ActorUserID: userID(2), OrgID: orgID(1), Action: "user.remove",
			TargetType: "user", TargetID: userID(3)}
		ok(t, s.AppendAudit(t.Context(), e)) // 4: another actor, on a user
		for _, c := range []struct {
			name string
			f    cleanroom.AuditFilter
			want []*cleanroom.AuditEntry
		}{
			{"action prefix", cleanroom.AuditFilter{OrgID: orgID(1), ActionPrefix: "token."}, []*cleanroom.AuditEntry{es[1], es[0]}},
			{"actor", cleanroom.AuditFilter{OrgID: orgID(1), ActorUserID: userID(2)}, []*cleanroom.AuditEntry{e}},
			{"target", cleanroom.AuditFilter{TargetType: "user", TargetID: userID(3)}, []*cleanroom.AuditEntry{e}},
			{"since (included)", cleanroom.AuditFilter{Since: t0.Add(2 * time.Second), ActionPrefix: "token"}, []*cleanroom.AuditEntry{es[2]}},
			{"until (excluded)", cleanroom.AuditFilter{Until: t0.Add(time.Second)}, []*cleanroom.AuditEntry{es[0]}},
			{"a prefix with a wildcard matches itself only", cleanroom.AuditFilter{ActionPrefix: "token%"}, nil},
		} {
			got, _, err := s.ListAudit(t.Context(), c.f)
			ok(t, err)
			same(t, c.name, c.want, got)
		}
	}},
	{"pages", func(t *testing.T, s cleanroom.Store) {
		var triples [][3]string
		for i := 0; i < 7; i++ {
			triples = append(triples, [3]string{orgID(1 + i%2), "", "org.update"})
		}
		es := appendAudit(t, s, triples...)
		got, pages := collectPages(t, 3, func(p cleanroom.Page) ([]*cleanroom.AuditEntry, string, error) {
			return s.ListAudit(t.Context(), cleanroom.AuditFilter{Page: p})
		})
		same(t, "all entries", reversed(es), got)
		if pages != 3 {
			t.Errorf("%d pages of 3 for 7 entries, want 3", pages)
		}
		got, _ = collectPages(t, 2, func(p cleanroom.Page) ([]*cleanroom.AuditEntry, string, error) {
			return s.ListAudit(t.Context(), cleanroom.AuditFilter{OrgID: orgID(1), Page: p})
		})
		same(t, "org 1's entries", []*cleanroom.AuditEntry{es[6], es[4], es[2], es[0]}, got)
		_, _, err := s.ListAudit(t.Context(), cleanroom.AuditFilter{Page: cleanroom.Page{After: "%%%"}})
		wantCode(t, err, cleanroom.EINVALID)
	}},
	{"append-only", func(t *testing.T, s cleanroom.Store) {
		db, isSQL := s.(SQLStore)
		if !isSQL {
			t.Skip("the store does not expose SQL")
		}
		es := appendAudit(t, s, [3]string{orgID(1), "", "org.update"})
		for _, stmt := range []string{`UPDATE audit SET action = 'forged'`, `DELETE FROM audit`} {
			if _, err := db.SQL().ExecContext(t.Context(), stmt); err == nil {
				t.Errorf("%s: no error, want the audit table to refuse it", stmt)
			}
		}
		got, _, err := s.ListAudit(t.Context(), cleanroom.AuditFilter{})
		ok(t, err)
		same(t, "entries", es, got)
	}},
}
