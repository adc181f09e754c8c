package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
)

// privacyFixture creates publisher 1, advertiser 2 and connection 1 between them.
func privacyFixture(t *testing.T, s cleanroom.Store) {
	t.Helper()
	createOrg(t, s, 1, cleanroom.OrgPublisher)
	createOrg(t, s, 2, cleanroom.OrgAdvertiser)
	createConnection(t, s, 1, 1, 2)
}

func question(b byte) [32]byte { return [32]byte{b} }

var privacyCases = []testCase{
	{"settings put, replace and list", func(t *testing.T, s cleanroom.Store) {
		privacyFixture(t, s)
		got, err := s.ListPrivacySettings(t.Context(), connID(1))
		ok(t, err)
		same(t, "no settings", []cleanroom.PrivacySetting{}, got)
		a := &cleanroom.PrivacySetting{ConnectionID: connID(1), PartyID: orgID(2), K: 150, Epsilon: 250_000, Budget: 5_000_000,
			Period: "month", UpdatedBy: userID(1), UpdatedAt: t0}
		ok(t, s.PutPrivacySetting(t.Context(), a))
		p := &cleanroom.PrivacySetting{ConnectionID: connID(1), PartyID: orgID(1), K: 200, UpdatedAt: t0}
		ok(t, s.PutPrivacySetting(t.Context(), p))
		a2 := *a
		a2.K, a2.UpdatedAt = 120, t0.Add(time.Hour)
		ok(t, s.PutPrivacySetting(t.Context(), &a2))
		got, err = s.ListPrivacySettings(t.Context(), connID(1))
		ok(t, err)
		same(t, "settings", []cleanroom.PrivacySetting{
			{ConnectionID: connID(1), PartyID: orgID(1), K: 200, UpdatedAt: at(0)},
			{ConnectionID: connID(1), PartyID: orgID(2), K: 120, Epsilon: 250_000, Budget: 5_000_000, Period: "month", UpdatedBy: userID(1), UpdatedAt: at(time.Hour)},
		}, got)
		wantCode(t, s.PutPrivacySetting(t.Context(), &cleanroom.PrivacySetting{ConnectionID: connID(9), PartyID: orgID(1)}), cleanroom.ENOTFOUND)
		wantCode(t, s.PutPrivacySetting(t.Context(), &cleanroom.PrivacySetting{ConnectionID: connID(1), PartyID: orgID(9)}), cleanroom.ENOTFOUND)
		// Deleting the connection deletes its settings.
		ok(t, s.DeleteConnection(t.Context(), connID(1)))
		got, err = s.ListPrivacySettings(t.Context(), connID(1))
		ok(t, err)
		same(t, "settings after deletion", []cleanroom.PrivacySetting{}, got)
	}},
	{"charge, repeat, refuse, new window", func(t *testing.T, s cleanroom.Store) {
		privacyFixture(t, s)
		w := cleanroom.PrivacyWindow{ConnectionID: connID(1), PartyID: orgID(2), Period: "week", Start: at(0)}
		want := func(spent int64, charged, over bool) []any { return []any{spent, charged, over} }
		charge := func(w cleanroom.PrivacyWindow, q byte, cost int64) []any {
			spent, charged, over, err := s.ChargePrivacy(t.Context(), w, question(q), cost, 10)
			ok(t, err)
			return want(spent, charged, over)
		}
		same(t, "first", want(4, true, false), charge(w, 1, 4))
		same(t, "repeat", want(4, false, false), charge(w, 1, 4))
		same(t, "second", want(8, true, false), charge(w, 2, 4))
		same(t, "over", want(8, false, true), charge(w, 3, 4))
		same(t, "fits exactly", want(10, true, false), charge(w, 4, 2))
		spent, asked, err := s.PrivacySpent(t.Context(), w, question(2))
		ok(t, err)
		same(t, "spent", []any{int64(10), true}, []any{spent, asked})
		_, asked, err = s.PrivacySpent(t.Context(), w, question(3))
		ok(t, err)
		same(t, "refused question not recorded", false, asked)
		// Another party's window is its own.
		other := w
		other.PartyID = orgID(1)
		same(t, "other party", want(4, true, false), charge(other, 1, 4))
		// The next window starts from zero and forgets the earlier one.
		next := w
		next.Start = at(7 * 24 * time.Hour)
		same(t, "next window", want(4, true, false), charge(next, 1, 4))
		spent, asked, err = s.PrivacySpent(t.Context(), w, question(1))
		ok(t, err)
		same(t, "old window forgotten", []any{int64(0), false}, []any{spent, asked})
		spent, _, err = s.PrivacySpent(t.Context(), other, question(1))
		ok(t, err)
		same(t, "other party kept", int64(4), spent)
		_, _, _, err = s.ChargePrivacy(t.Context(), cleanroom.PrivacyWindow{ConnectionID: connID(9), PartyID: orgID(2), Period: "week", Start: at(0)}, question(1), 1, 10)
		wantCode(t, err, cleanroom.ENOTFOUND)
	}},
	{"concurrent charges never overspend", func(t *testing.T, s cleanroom.Store) {
		privacyFixture(t, s)
		w := cleanroom.PrivacyWindow{ConnectionID: connID(1), PartyID: orgID(2), Period: "day", Start: at(0)}
		var wg sync.WaitGroup
		var mu sync.Mutex
		charged := 0
		for i := range 20 {
			wg.Go(func() {
				_, c, _, err := s.ChargePrivacy(t.Context(), w, question(byte(i)), 3, 10)
				if err != nil {
					t.Error(err)
				}
				if c {
					mu.Lock()
					charged++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		spent, _, err := s.PrivacySpent(t.Context(), w, question(0))
		ok(t, err)
		same(t, "charged and spent", []any{3, int64(9)}, []any{charged, spent})
	}},
}
