package edge

import (
	"testing"
	"time"
)

// TestMergeRecordsIsExact: two replicas' days merged give the reach, frequency buckets and
// held-back users of all their impressions together (a user seen by both counts once, with the
// sum of its impressions), which adding their summaries cannot.
func TestMergeRecordsIsExact(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	day := DayOf(now, time.UTC)
	a, _ := OpenDelivery(DeliveryOptions{})
	b, _ := OpenDelivery(DeliveryOptions{})
	one, _ := OpenDelivery(DeliveryOptions{})
	for i, u := range []uint64{1, 1, 2, 3, 3, 3} {
		r := []*Delivery{a, b}[i%2]
		r.add(recImpression, u, 100001, "li:1001", day)
		one.add(recImpression, u, 100001, "li:1001", day)
	}
	a.add(recHeld, 3, 100001, "", day)
	b.add(recHeld, 3, 100001, "", day)
	one.add(recHeld, 3, 100001, "", day)
	a.add(recImpression, 9, 100001, "li:1001", day-1) // another day: not exported
	merged, _ := OpenDelivery(DeliveryOptions{})
	for _, r := range []*Delivery{a, b} {
		if err := merged.MergeRecords(r.DayRecords(day)); err != nil {
			t.Fatal(err)
		}
	}
	got, want := merged.Summary(), one.Summary()
	if len(got.Rows) != 1 || got.Rows[0].Users != 3 || got.Rows[0].Impressions != 6 || got.Rows[0].Frequency != want.Rows[0].Frequency ||
		got.Rows[0].Layers != want.Rows[0].Layers || len(got.Held) != 1 || got.Held[0].Users != 1 {
		t.Fatalf("merged %+v, want %+v", got, want)
	}
	if sum := a.Summary().Rows[1].Users + b.Summary().Rows[0].Users; sum == got.Rows[0].Users {
		t.Fatalf("the summaries' reach add up to the union (%d): the test shows nothing", sum)
	}
	bad := a.DayRecords(day)
	bad[len(bad)-1] ^= 1
	if err := merged.MergeRecords(bad); err == nil {
		t.Fatal("damaged records merged")
	}
}

func TestCountUnion(t *testing.T) {
	for _, c := range []struct {
		sets [][]uint64
		want int64
	}{
		{nil, 0},
		{[][]uint64{{1, 2, 3}}, 3},
		{[][]uint64{{1, 2, 3}, {2, 3, 4}}, 4},
		{[][]uint64{{1}, {}, {1}}, 1},
	} {
		if n := CountUnion(c.sets...); n != c.want {
			t.Errorf("CountUnion(%v) = %d, want %d", c.sets, n, c.want)
		}
	}
}
