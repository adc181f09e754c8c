package privacy_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/privacy"
)

func utc(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestPeriodWindows(t *testing.T) {
	tests := []struct {
		p          privacy.Period
		at         time.Time
		start, end string
	}{
		{privacy.Day, utc("2026-12-02 16:00"), "2026-12-02 00:00", "2026-12-03 00:00"},
		{privacy.Day, utc("2026-12-31 23:59"), "2026-12-31 00:00", "2027-01-01 00:00"},
		{privacy.Week, utc("2026-12-02 16:00"), "2026-11-30 00:00", "2026-12-07 00:00"}, // Wednesday
		{privacy.Week, utc("2026-11-30 00:00"), "2026-11-30 00:00", "2026-12-07 00:00"}, // Monday
		{privacy.Week, utc("2026-12-06 23:59"), "2026-11-30 00:00", "2026-12-07 00:00"}, // Sunday
		{privacy.Month, utc("2026-12-02 16:00"), "2026-12-01 00:00", "2027-01-01 00:00"},
		{privacy.Month, utc("2028-02-29 12:00"), "2028-02-01 00:00", "2028-03-01 00:00"},
		// Another zone is read in UTC: 01:00 in Berlin on the 3rd is the 2nd in UTC.
		{privacy.Day, time.Date(2026, 12, 3, 0, 30, 0, 0, time.FixedZone("CET", 3600)), "2026-12-02 00:00", "2026-12-03 00:00"},
	}
	for _, tt := range tests {
		start, end := tt.p.Window(tt.at)
		if !start.Equal(utc(tt.start)) || !end.Equal(utc(tt.end)) || start.Location() != time.UTC {
			t.Errorf("%s at %v: [%v, %v), want [%s, %s)", tt.p, tt.at, start, end, tt.start, tt.end)
		}
	}
}

func TestParsePeriod(t *testing.T) {
	for in, want := range map[string]privacy.Period{"day": privacy.Day, "Week": privacy.Week, " month": privacy.Month, "": privacy.DefaultPeriod} {
		if got, err := privacy.ParsePeriod(in); err != nil || got != want {
			t.Errorf("ParsePeriod(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := privacy.ParsePeriod("fortnight"); cleanroom.ErrorCode(err) != cleanroom.EINVALID {
		t.Errorf("fortnight: %v", err)
	}
}

func TestBudgetSpendRefuseRepeatReset(t *testing.T) {
	ctx := context.Background()
	now := utc("2026-12-02 16:00")
	ledger := &privacy.MemLedger{}
	u := privacy.EpsilonUnit
	budget := func(party string) *privacy.Budget {
		return &privacy.Budget{
			Account: privacy.Account{Connection: "conn1", Party: party},
			Period:  privacy.Day, Limit: u, Ledger: ledger,
			Now: func() time.Time { return now },
		}
	}
	adv := budget("advertiser")
	q := func(s string) [32]byte { return privacy.Seed(key, []byte(s)) }

	steps := []struct {
		name    string
		at      string
		b       *privacy.Budget
		q       string
		cost    privacy.Epsilon
		code    string
		spent   privacy.Epsilon
		charged bool
	}{
		{"first question", "2026-12-02 16:00", adv, "a", 4 * u / 10, "", 4 * u / 10, true},
		{"the same question again is free", "2026-12-02 17:00", adv, "a", 4 * u / 10, "", 4 * u / 10, false},
		{"a second question", "2026-12-02 18:00", adv, "b", 4 * u / 10, "", 8 * u / 10, true},
		{"a third would pass the budget", "2026-12-02 19:00", adv, "c", 4 * u / 10, cleanroom.EFORBIDDEN, 8 * u / 10, false},
		{"an asked question still answers", "2026-12-02 19:30", adv, "b", 4 * u / 10, "", 8 * u / 10, false},
		{"what still fits exactly", "2026-12-02 20:00", adv, "d", 2 * u / 10, "", u, true},
		{"the other party has its own budget", "2026-12-02 20:00", budget("publisher"), "c", 4 * u / 10, "", 4 * u / 10, true},
		{"a cost above the whole budget", "2026-12-02 20:00", adv, "e", 2 * u, cleanroom.EINVALID, 0, false},
		{"a zero cost", "2026-12-02 20:00", adv, "e", 0, cleanroom.EINVALID, 0, false},
		{"one minute before the period ends", "2026-12-02 23:59", adv, "c", 4 * u / 10, cleanroom.EFORBIDDEN, u, false},
		{"the next day the budget is back", "2026-12-03 00:00", adv, "c", 4 * u / 10, "", 4 * u / 10, true},
		{"a question of yesterday is new today", "2026-12-03 00:01", adv, "a", 4 * u / 10, "", 8 * u / 10, true},
	}
	for _, s := range steps {
		now = utc(s.at)
		st, err := s.b.Spend(ctx, q(s.q), s.cost)
		if code := cleanroom.ErrorCode(err); code != s.code {
			t.Fatalf("%s: error %v, want code %q", s.name, err, s.code)
		}
		if s.code == cleanroom.EINVALID {
			continue
		}
		if st.Spent != s.spent || st.Charged != s.charged || st.Left != s.b.Limit-s.spent {
			t.Fatalf("%s: %+v, want spent %v charged %v", s.name, st, s.spent, s.charged)
		}
		if s.code == cleanroom.EFORBIDDEN {
			msg := cleanroom.ErrorText(err)
			if !strings.Contains(msg, "2026-12-03 00:00 UTC") {
				t.Errorf("%s: %q does not say when budget returns", s.name, msg)
			}
			if d := cleanroom.ErrorDetails(err); d["budget_returns_at"] != "2026-12-03T00:00:00Z" {
				t.Errorf("%s: details %v", s.name, d)
			}
		}
		status, err := s.b.Status(ctx)
		_, end := privacy.Day.Window(now)
		if err != nil || status.Spent != s.spent || !status.Returns.Equal(end) {
			t.Fatalf("%s: status %+v, %v", s.name, status, err)
		}
	}
}

// Charges are atomic: many new questions at once spend exactly what the budget holds.
func TestBudgetConcurrentSpends(t *testing.T) {
	b := &privacy.Budget{
		Account: privacy.Account{Connection: "c", Party: "p"},
		Period:  privacy.Week, Limit: privacy.EpsilonUnit, Ledger: &privacy.MemLedger{},
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	granted := 0
	for i := range 100 {
		wg.Go(func() {
			_, err := b.Spend(context.Background(), privacy.Seed(key, []byte(fmt.Sprint(i))), privacy.EpsilonUnit/10)
			if err == nil {
				mu.Lock()
				granted++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if granted != 10 {
		t.Errorf("%d spends granted, want 10", granted)
	}
}
