package edge

import (
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
)

func TestLastSeen(t *testing.T) {
	const today = int32(20000)
	for _, tc := range []struct {
		name    string
		slots   int
		touches [][2]int64 // user hash, day
		want    int64
		dropped int64
	}{
		{"one user seen twice counts once", 64, [][2]int64{{7, int64(today) - 3}, {7, int64(today)}}, 1, 0},
		{"29 days ago counts, 30 does not", 64, [][2]int64{{1, int64(today) - 29}, {2, int64(today) - 30}}, 1, 0},
		{"a later day is not active yet", 64, [][2]int64{{1, int64(today) + 1}}, 0, 0},
		{"hash 0 is kept", 64, [][2]int64{{0, int64(today)}}, 1, 0},
		{"an expired user gives up its slot", 16, [][2]int64{
			{1, int64(today) - 40}, {2, int64(today) - 40}, {3, int64(today) - 40}, {4, int64(today) - 40},
			{5, int64(today) - 40}, {6, int64(today) - 40}, {7, int64(today) - 40}, {8, int64(today) - 40},
			{9, int64(today) - 40}, {10, int64(today) - 40}, {11, int64(today) - 40}, {12, int64(today) - 40},
			{13, int64(today) - 40}, {14, int64(today) - 40}, {15, int64(today) - 40}, {16, int64(today) - 40},
			{17, int64(today)}, {18, int64(today)}}, 2, 0},
		{"a full table drops, bounded", 16, func() [][2]int64 {
			var ts [][2]int64
			for u := range 20 {
				ts = append(ts, [2]int64{int64(u + 1), int64(today)})
			}
			return ts
		}(), 16, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := NewLastSeen(tc.slots)
			for _, x := range tc.touches {
				l.Touch(uint64(x[0]), int32(x[1]))
			}
			n, _ := ActiveCounts(l, nil, today)
			if n != tc.want || l.Dropped() != tc.dropped {
				t.Fatalf("active %d, dropped %d; want %d, %d", n, l.Dropped(), tc.want, tc.dropped)
			}
		})
	}
}

func TestActiveCountsPerCode(t *testing.T) {
	h := testHasher(t)
	keys := []uint64{h.Hash("a"), h.Hash("b"), h.Hash("c")}
	// Sorted keys with their ordinals, as Build wants them.
	ords := []uint32{0, 1, 2}
	for i := range keys {
		for j := i + 1; j < len(keys); j++ {
			if keys[j] < keys[i] {
				keys[i], keys[j], ords[i], ords[j] = keys[j], keys[i], ords[j], ords[i]
			}
		}
	}
	snap, err := Build(Input{Users: 3, UserKeys: keys, UserOrds: ords,
		Cohorts: []ServedCohort{{Code: 100001, Members: roaring.BitmapOf(0, 1)}, {Code: 100002, Members: roaring.BitmapOf(2)}}})
	if err != nil {
		t.Fatal(err)
	}
	l := NewLastSeen(64)
	day := DayOf(time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC), time.UTC)
	for _, u := range []string{"a", "c", "stranger"} {
		l.Touch(h.Hash(u), day)
	}
	users, codes := ActiveCounts(l, snap, day)
	if users != 3 || codes[100001] != 1 || codes[100002] != 1 {
		t.Fatalf("users %d, codes %v; want 3 users, one in each cohort", users, codes)
	}
	if a := testing.AllocsPerRun(100, func() { l.Touch(h.Hash("a"), day) }); a != 0 {
		t.Fatalf("Touch allocates %v times", a)
	}
}

func TestLastSeenSlots(t *testing.T) {
	for _, tc := range []struct{ users, limit, want int }{
		{0, 0, 1 << 16},
		{100_000, 0, 200_000},
		{50_000_000, 0, DefaultMaxLastSeen},
		{1000, 1 << 10, 1 << 10},
	} {
		if got := LastSeenSlots(tc.users, tc.limit); got != tc.want {
			t.Errorf("LastSeenSlots(%d, %d) = %d, want %d", tc.users, tc.limit, got, tc.want)
		}
	}
}
