package edge

import (
	"slices"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
)

func TestDecideAllocatesNothing(t *testing.T) {
	e := capEngine(t, mustLoc(t, "Europe/Paris"), []Cap{{100001, 5, Day}, {100002, 1, Week}}, nil)
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	impressions(t, e, now, "1002", 1)
	alice := e.Hash("alice")
	buf := make([]uint32, 0, 8)
	if n := testing.AllocsPerRun(100, func() { buf = e.Decide(alice, now, buf[:0]) }); n != 0 {
		t.Fatalf("%v allocations per decision", n)
	}
	if !slices.Equal(buf, []uint32{100001, 100003}) {
		t.Fatalf("decided %v", buf)
	}
	long := "3f1c9a7e-5b2d-4c8e-9a1f-0123456789abcdef0123456789abcdef"
	if n := testing.AllocsPerRun(100, func() { buf = e.DecideUser(long, now, buf[:0]) }); n != 0 {
		t.Fatalf("%v allocations per decision from a user ID", n)
	}
}

func TestEngineWithoutCountersCountsInMemory(t *testing.T) {
	h := testHasher(t)
	s, err := Build(Input{Users: 1, UserKeys: []uint64{h.Hash("alice")}, UserOrds: []uint32{0},
		Cohorts: []ServedCohort{{Code: 100001, Members: roaring.BitmapOf(0)}}})
	if err != nil {
		t.Fatal(err)
	}
	e := NewEngine(h, nil)
	if err := e.Swap(s, Config{Caps: []Cap{{100001, 1, Day}}, LineItems: map[string]uint32{"1": 100001}}); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	if _, err := e.Record(&Batch{Events: []Event{{UserID: "alice", LineItemID: "1", Time: now.UnixMilli()}}}, now); err != nil {
		t.Fatal(err)
	}
	if got := e.DecideUser("alice", now, nil); len(got) != 0 {
		t.Fatalf("capped user got %v", got)
	}
}

func TestSwapRejectsBadConfig(t *testing.T) {
	e := capEngine(t, time.UTC, nil, nil)
	s := e.Snapshot()
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"zero limit", Config{Caps: []Cap{{100001, 0, Day}}}},
		{"no period", Config{Caps: []Cap{{100001, 1, 0}}}},
		{"two caps", Config{Caps: []Cap{{100001, 1, Day}, {100001, 2, Week}}}},
		{"line item not digits", Config{LineItems: map[string]uint32{"12x": 100001}}},
		{"line item to no cohort", Config{LineItems: map[string]uint32{"12": 0}}},
		{"deal with a space", Config{Deals: map[string]uint32{"a b": 100001}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := e.Swap(s, tc.cfg); err == nil {
				t.Fatal("swapped")
			}
		})
	}
	// The engine still serves what it served.
	if got := e.DecideUser("alice", time.Now(), nil); len(got) != 3 {
		t.Fatalf("after refused swaps: %v", got)
	}
}

func TestSwapReplacesSnapshotAtomically(t *testing.T) {
	h := testHasher(t)
	e := capEngine(t, time.UTC, nil, nil)
	in := synthInput(h, 10, 2, 1, 3)
	s, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Swap(s, Config{}); err != nil {
		t.Fatal(err)
	}
	if got := e.DecideUser("alice", time.Now(), nil); len(got) != 0 {
		t.Fatalf("alice is not in the new snapshot but got %v", got)
	}
	if got := e.DecideUser(userID(4), time.Now(), nil); !slices.Equal(got, expected(in, 4)) {
		t.Fatalf("user 4: %v, want %v", got, expected(in, 4))
	}
}
