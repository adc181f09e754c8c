package edge

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// deliveryEngine is an engine that counts cohorts 100001 (line item 1001, capped at
// 3 a day) and 100002 (deal d-2, uncapped), in loc, aggregating into d.
func deliveryEngine(t testing.TB, loc *time.Location, d *Delivery) *Engine {
	t.Helper()
	h := testHasher(t)
	s, err := Build(Input{}) // Record reads the line item and deal tables only
	if err != nil {
		t.Fatal(err)
	}
	e := NewEngine(h, nil)
	e.SetDelivery(d)
	if err := e.Swap(s, Config{Location: loc, Caps: []Cap{{Code: 100001, Limit: 3, Period: Day}},
		LineItems: map[string]uint32{"1001": 100001}, Deals: map[string]uint32{"d-2": 100002}}); err != nil {
		t.Fatal(err)
	}
	return e
}

func record(t testing.TB, e *Engine, now time.Time, evs ...Event) Recorded {
	t.Helper()
	r, err := e.Record(&Batch{Events: evs}, now)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// times returns n impressions of user u through line item li (or deal) at t.
func times(n int, u, li, deal string, at time.Time) []Event {
	var evs []Event
	for range n {
		evs = append(evs, Event{UserID: u, LineItemID: li, DealID: deal, Time: at.UnixMilli()})
	}
	return evs
}

func TestDeliveryAggregates(t *testing.T) {
	ny := mustLoc(t, "America/New_York")
	now := time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC) // 10:00 in New York
	d, err := OpenDelivery(DeliveryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e := deliveryEngine(t, ny, d)
	// Impressions per user of line item 1001 today: u0 1, u1 2, u2 3, u3 5, u4 7, u5 12.
	var evs []Event
	for u, n := range []int{1, 2, 3, 5, 7, 12} {
		evs = append(evs, times(n, "u"+strconv.Itoa(u), "1001", "", now)...)
	}
	// Deal d-2: u0 twice today; u1 once at 03:00 UTC today, which is yesterday in New York.
	evs = append(evs, times(2, "u0", "", "d-2", now)...)
	evs = append(evs, times(1, "u1", "", "d-2", time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC))...)
	// Two days ago in New York: too late to count.
	evs = append(evs, times(1, "u9", "", "d-2", now.Add(-48*time.Hour))...)
	r := record(t, e, now, evs...)
	if r.Delivered != 33 {
		t.Fatalf("delivered %d, want 33", r.Delivered)
	}
	got := d.Summary()
	want := DeliverySummary{
		Rows: []DeliveryRow{
			{Day: "2026-12-01", Code: 100002, Deal: "d-2", Impressions: 1, Users: 1,
				Frequency: [6]int64{1, 0, 0, 0, 0, 0}, Layers: [11]int64{1}},
			{Day: "2026-12-02", Code: 100001, LineItem: "1001", Impressions: 30, Users: 6,
				Frequency: [6]int64{1, 1, 1, 1, 1, 1}, Layers: [11]int64{6, 5, 4, 3, 3, 2, 2, 1, 1, 1, 1}},
			{Day: "2026-12-02", Code: 100002, Deal: "d-2", Impressions: 2, Users: 1,
				Frequency: [6]int64{0, 1, 0, 0, 0, 0}, Layers: [11]int64{1, 1}},
		},
		// The cap of 3 a day held back u2, u3, u4 and u5.
		Held: []HeldRow{{Day: "2026-12-02", Code: 100001, Users: 4}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("summary\n got %+v\nwant %+v", got, want)
	}
	// Clipped impressions are the sum of the first ten layers.
	var clipped int64
	for _, l := range got.Rows[1].Layers[:10] {
		clipped += l
	}
	if clipped != 1+2+3+5+7+10 {
		t.Fatalf("clipped impressions %d, want 28", clipped)
	}
	// No user hash reaches a summary.
	b, _ := json.Marshal(got)
	for u := range 10 {
		h := e.Hash("u" + strconv.Itoa(u))
		if strings.Contains(string(b), strconv.FormatUint(h, 10)) || strings.Contains(string(b), strconv.FormatUint(h, 16)) {
			t.Fatalf("summary holds the hash of u%d: %s", u, b)
		}
	}
}

func TestDeliveryBounded(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	d, err := OpenDelivery(DeliveryOptions{MaxUsers: 10})
	if err != nil {
		t.Fatal(err)
	}
	e := deliveryEngine(t, time.UTC, d)
	var evs []Event
	for u := range 20 {
		evs = append(evs, times(1, "u"+strconv.Itoa(u), "", "d-2", now)...)
	}
	record(t, e, now, evs...)
	s := d.Summary()
	if d.Len() != 10 || len(s.Rows) != 1 || s.Rows[0].Users != 10 || s.Rows[0].Impressions != 20 || !s.Rows[0].Partial {
		t.Fatalf("kept %d, rows %+v; want 10 users kept, 20 impressions, partial", d.Len(), s.Rows)
	}
	if err := d.Forget(DayOf(now, time.UTC) + 1); err != nil || d.Len() != 0 || len(d.Summary().Rows) != 0 {
		t.Fatalf("after Forget: %v, %d kept", err, d.Len())
	}
}

func TestDeliveryJournal(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	path := filepath.Join(t.TempDir(), "p.delivery")
	open := func() *Delivery {
		d, err := OpenDelivery(DeliveryOptions{Journal: path})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	d := open()
	e := deliveryEngine(t, time.UTC, d)
	record(t, e, now, append(times(4, "u1", "1001", "", now), times(2, "u2", "", "d-2", now.Add(-24*time.Hour))...)...)
	record(t, e, now, times(1, "u3", "1001", "", now)...)
	want := d.Summary()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		tear func()
	}{
		{"reopened", func() {}},
		{"reopened after compaction", func() {}},
		{"torn tail ignored", func() {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write([]byte{40, recImpression, 1, 0, 0})
			f.Close()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.tear()
			d := open()
			defer d.Close()
			if got := d.Summary(); !reflect.DeepEqual(got, want) {
				t.Fatalf("summary\n got %+v\nwant %+v", got, want)
			}
		})
	}
	// Forgotten days stay forgotten.
	d = open()
	if err := d.Forget(DayOf(now, time.UTC)); err != nil {
		t.Fatal(err)
	}
	d.Close()
	d = open()
	defer d.Close()
	if days := d.Days(); len(days) != 1 || days[0] != DayOf(now, time.UTC) {
		t.Fatalf("days %v after Forget, want only today", days)
	}
}

// TestDeliveryConcurrent: batches recorded concurrently (run with -race) add up exactly.
func TestDeliveryConcurrent(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	d, err := OpenDelivery(DeliveryOptions{Journal: filepath.Join(t.TempDir(), "d")})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	e := deliveryEngine(t, time.UTC, d)
	const workers, batches = 8, 20
	done := make(chan struct{})
	for w := range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range batches {
				// Worker w's users u<w>-0..9 each see the deal once per batch.
				var evs []Event
				for u := range 10 {
					evs = append(evs, Event{UserID: "u" + strconv.Itoa(w) + "-" + strconv.Itoa(u), DealID: "d-2", Time: now.UnixMilli()})
				}
				if _, err := e.Record(&Batch{Events: evs}, now); err != nil {
					t.Error(err)
				}
				if i%5 == 0 {
					d.Summary()
				}
			}
		}()
	}
	for range workers {
		<-done
	}
	s := d.Summary()
	if len(s.Rows) != 1 || s.Rows[0].Impressions != workers*batches*10 || s.Rows[0].Users != workers*10 || s.Rows[0].Frequency[5] != workers*10 {
		t.Fatalf("rows %+v, want %d impressions by %d users, each 11+ times", s.Rows, workers*batches*10, workers*10)
	}
}

// TestDeliverySurvivesKill: every batch Record returned for is in the delivery aggregate after
// the process is killed (kill -9) and the journal replayed.
func TestDeliverySurvivesKill(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	const per = 10
	if path := os.Getenv("EDGE_KILL_CHILD_DELIVERY"); path != "" {
		d, err := OpenDelivery(DeliveryOptions{Journal: path, SyncInterval: time.Hour})
		if err != nil {
			panic(err)
		}
		e := deliveryEngine(t, time.UTC, d)
		w := bufio.NewWriter(os.Stdout)
		for n := per; ; n += per {
			var evs []Event
			for i := range per {
				evs = append(evs, Event{UserID: "u" + strconv.Itoa((n+i)%50), DealID: "d-2", Time: now.UnixMilli()})
			}
			record(t, e, now, evs...)
			w.WriteString(strconv.Itoa(n) + "\n")
			w.Flush()
		}
	}
	path := filepath.Join(t.TempDir(), "d")
	cmd := exec.Command(os.Args[0], "-test.run=^TestDeliverySurvivesKill$")
	cmd.Env = append(os.Environ(), "EDGE_KILL_CHILD_DELIVERY="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	acked := 0
	for sc.Scan() {
		if n, err := strconv.Atoi(strings.TrimSpace(sc.Text())); err == nil {
			acked = n
		}
		if acked >= 5000 {
			break
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if acked < 5000 {
		t.Fatalf("the child acknowledged only %d impressions", acked)
	}
	d, err := OpenDelivery(DeliveryOptions{Journal: path})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	s := d.Summary()
	if len(s.Rows) != 1 || s.Rows[0].Impressions < int64(acked) || s.Rows[0].Impressions%per != 0 || s.Rows[0].Users != 50 {
		t.Fatalf("after kill -9: %+v, %d acknowledged", s.Rows, acked)
	}
	t.Logf("acknowledged %d before the kill, %d in the journal", acked, s.Rows[0].Impressions)
}
