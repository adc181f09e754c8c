package edge

import (
	"testing"
	"time"
)

func TestWindowBounds(t *testing.T) {
	paris := mustLoc(t, "Europe/Paris")
	ny := mustLoc(t, "America/New_York")
	for _, c := range []struct {
		p          Period
		at         time.Time
		start, end time.Time
	}{
		{Day, time.Date(2026, 12, 2, 23, 30, 0, 0, paris), time.Date(2026, 12, 2, 0, 0, 0, 0, paris), time.Date(2026, 12, 3, 0, 0, 0, 0, paris)},
		{Day, time.Date(2026, 3, 29, 12, 0, 0, 0, paris), time.Date(2026, 3, 29, 0, 0, 0, 0, paris), time.Date(2026, 3, 30, 0, 0, 0, 0, paris)}, // 23 hours
		{Week, time.Date(2026, 12, 2, 23, 30, 0, 0, paris), time.Date(2026, 11, 30, 0, 0, 0, 0, paris), time.Date(2026, 12, 7, 0, 0, 0, 0, paris)},
		{Week, time.Date(2026, 11, 30, 0, 0, 0, 0, ny), time.Date(2026, 11, 30, 0, 0, 0, 0, ny), time.Date(2026, 12, 7, 0, 0, 0, 0, ny)},
		{Month, time.Date(2026, 12, 31, 23, 59, 0, 0, ny), time.Date(2026, 12, 1, 0, 0, 0, 0, ny), time.Date(2027, 1, 1, 0, 0, 0, 0, ny)},
		{Month, time.Date(2026, 2, 10, 0, 0, 0, 0, time.UTC), time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)},
	} {
		loc := c.at.Location()
		w := WindowOf(c.p, c.at, loc)
		if s, e := w.Start(loc), w.End(loc); !s.Equal(c.start) || !e.Equal(c.end) {
			t.Errorf("%v window of %v: [%v, %v), want [%v, %v)", c.p, c.at, s, e, c.start, c.end)
		}
		if WindowOf(c.p, w.End(loc), loc) == w || WindowOf(c.p, w.End(loc).Add(-time.Nanosecond), loc) != w {
			t.Errorf("%v window of %v does not end at %v", c.p, c.at, w.End(loc))
		}
	}
}

// TestObserveRaisesOnly: a count learnt from elsewhere raises the view, never lowers it, and a
// new window replaces the old one's count.
func TestObserveRaisesOnly(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	c, _ := OpenCounters(CounterOptions{}, now, time.UTC)
	w := WindowOf(Day, now, time.UTC)
	c.Observe(1, 7, w, 3, now, time.UTC)
	c.Observe(1, 7, w, 2, now, time.UTC)
	if n := c.Count(1, 7, w); n != 3 {
		t.Fatalf("count %d, want 3", n)
	}
	next := now.Add(24 * time.Hour)
	w2 := WindowOf(Day, next, time.UTC)
	c.Observe(1, 7, w2, 1, next, time.UTC)
	if n, n2 := c.Count(1, 7, w), c.Count(1, 7, w2); n != 0 || n2 != 1 {
		t.Fatalf("counts %d and %d, want 0 and 1", n, n2)
	}
}
