package edge

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
)

func TestWindowBoundaries(t *testing.T) {
	utc := time.UTC
	ny, tokyo, berlin, auckland := mustLoc(t, "America/New_York"), mustLoc(t, "Asia/Tokyo"), mustLoc(t, "Europe/Berlin"), mustLoc(t, "Pacific/Auckland")
	at := func(s string) time.Time {
		x, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	for _, tc := range []struct {
		name   string
		p      Period
		loc    *time.Location
		a, b   string
		sameAs bool
	}{
		{"utc day ends at midnight", Day, utc, "2026-12-02T23:59:59Z", "2026-12-03T00:00:00Z", false},
		{"utc same day", Day, utc, "2026-12-02T00:00:00Z", "2026-12-02T23:59:59Z", true},
		{"new york day spans utc midnight", Day, ny, "2026-12-02T12:00:00Z", "2026-12-03T04:59:59Z", true},
		{"new york day ends at 05:00 utc", Day, ny, "2026-12-03T04:59:59Z", "2026-12-03T05:00:00Z", false},
		{"berlin 23-hour dst day", Day, berlin, "2026-03-28T23:00:00Z", "2026-03-29T21:59:59Z", true},
		{"berlin day after dst", Day, berlin, "2026-03-29T21:59:59Z", "2026-03-29T22:00:00Z", false},
		{"week monday to sunday", Week, utc, "2026-12-07T00:00:00Z", "2026-12-13T23:59:59Z", true},
		{"week ends sunday night", Week, utc, "2026-12-06T23:59:59Z", "2026-12-07T00:00:00Z", false},
		{"week across new year", Week, utc, "2026-12-31T12:00:00Z", "2027-01-03T23:59:59Z", true},
		{"week starts monday after new year", Week, utc, "2027-01-03T23:59:59Z", "2027-01-04T00:00:00Z", false},
		{"tokyo week starts sunday 15:00 utc", Week, tokyo, "2026-12-06T14:59:59Z", "2026-12-06T15:00:00Z", false},
		{"month in utc", Month, utc, "2026-11-30T23:59:59Z", "2026-12-01T00:00:00Z", false},
		{"month whole", Month, utc, "2026-12-01T00:00:00Z", "2026-12-31T23:59:59Z", true},
		{"auckland month starts the day before in utc", Month, auckland, "2026-11-30T10:59:59Z", "2026-11-30T11:00:00Z", false},
		{"new york new year", Month, ny, "2026-12-31T23:00:00Z", "2027-01-01T04:59:59Z", true},
		{"different periods never equal", Day, utc, "2026-12-02T00:00:00Z", "2026-12-02T00:00:00Z", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wa, wb := WindowOf(tc.p, at(tc.a), tc.loc), WindowOf(tc.p, at(tc.b), tc.loc)
			if (wa == wb) != tc.sameAs {
				t.Fatalf("windows %x, %x: same = %v, want %v", wa, wb, wa == wb, tc.sameAs)
			}
			if wa.Period() != tc.p {
				t.Fatalf("period %v, want %v", wa.Period(), tc.p)
			}
		})
	}
	if d, w, m := WindowOf(Day, at("2026-12-02T00:00:00Z"), utc), WindowOf(Week, at("2026-12-02T00:00:00Z"), utc), WindowOf(Month, at("2026-12-02T00:00:00Z"), utc); d == w || w == m || d == m {
		t.Fatal("windows of different periods are equal")
	}
}

// capEngine is an engine over one user ("alice") in cohorts 100001, 100002, 100003, with line
// items 1001, 1002, 1003 and deal "d-3" targeting them.
func capEngine(t testing.TB, loc *time.Location, caps []Cap, counters *Counters) *Engine {
	t.Helper()
	h := testHasher(t)
	in := Input{Users: 1, UserKeys: []uint64{h.Hash("alice")}, UserOrds: []uint32{0}}
	for i := range 3 {
		in.Cohorts = append(in.Cohorts, ServedCohort{Code: uint32(100001 + i), Members: roaring.BitmapOf(0)})
	}
	s, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	if counters == nil {
		if counters, err = OpenCounters(CounterOptions{}, time.Now(), loc); err != nil {
			t.Fatal(err)
		}
	}
	e := NewEngine(h, counters)
	if err := e.Swap(s, Config{Location: loc, Caps: caps,
		LineItems: map[string]uint32{"1001": 100001, "1002": 100002, "1003": 100003},
		Deals:     map[string]uint32{"d-3": 100003}}); err != nil {
		t.Fatal(err)
	}
	return e
}

func impressions(t testing.TB, e *Engine, now time.Time, lineItem string, n int) Recorded {
	t.Helper()
	b := &Batch{}
	for range n {
		b.Events = append(b.Events, Event{UserID: "alice", LineItemID: lineItem, Time: now.UnixMilli()})
	}
	r, err := e.Record(b, now)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestCapsWithholdUntilTheWindowEnds(t *testing.T) {
	ny := mustLoc(t, "America/New_York")
	e := capEngine(t, ny, []Cap{{100001, 2, Day}, {100002, 3, Week}, {100003, 1, Month}}, nil)
	alice := e.Hash("alice")
	// Monday 2026-12-28 10:00 in New York.
	c := &clock{time.Date(2026, 12, 28, 10, 0, 0, 0, ny)}
	decide := func() []uint32 { return e.Decide(alice, c.now(), nil) }
	steps := []struct {
		do   func()
		want []uint32
	}{
		{func() {}, []uint32{100001, 100002, 100003}},
		{func() { impressions(t, e, c.now(), "1001", 1) }, []uint32{100001, 100002, 100003}},
		{func() { impressions(t, e, c.now(), "1001", 1) }, []uint32{100002, 100003}}, // day cap of 2 reached
		{func() { c.t = time.Date(2026, 12, 28, 23, 59, 59, 0, ny) }, []uint32{100002, 100003}},
		{func() { c.add(time.Second) }, []uint32{100001, 100002, 100003}}, // Tuesday in New York
		{func() { impressions(t, e, c.now(), "1002", 3) }, []uint32{100001, 100003}},
		{func() { c.t = time.Date(2027, 1, 3, 23, 59, 59, 0, ny) }, []uint32{100001, 100003}}, // Sunday: same week
		{func() {
			r := impressions(t, e, c.now(), "1003", 1)
			if r.Counted != 1 {
				t.Fatalf("recorded %+v", r)
			}
		}, []uint32{100001}}, // month cap of 1 reached on January 3rd
		{func() { c.add(time.Second) }, []uint32{100001, 100002}}, // Monday: a new week, same month
		{func() { c.t = time.Date(2027, 2, 1, 0, 0, 0, 0, ny) }, []uint32{100001, 100002, 100003}},
	}
	for i, s := range steps {
		s.do()
		if got := decide(); !slices.Equal(got, s.want) {
			t.Fatalf("step %d at %s: got %v, want %v", i, c.now(), got, s.want)
		}
	}
}

func TestRecordSortsImpressions(t *testing.T) {
	e := capEngine(t, time.UTC, []Cap{{100001, 5, Day}, {100003, 5, Day}}, nil)
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	b := &Batch{Events: []Event{
		{UserID: "alice", LineItemID: "1001", Time: now.UnixMilli()},
		{UserID: "alice", LineItemID: "1001", Time: now.Add(-13 * time.Hour).UnixMilli()}, // yesterday
		{UserID: "alice", LineItemID: "1002", Time: now.UnixMilli()},                      // uncapped
		{UserID: "alice", LineItemID: "9999", Time: now.UnixMilli()},                      // unknown
		{UserID: "alice", DealID: "d-3", Time: now.UnixMilli()},
		{UserID: "bob", DealID: "nope", Time: now.UnixMilli()},
	}}
	r, err := e.Record(b, now)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Recorded{Counted: 2, Uncapped: 1, Unknown: 2, Stale: 1}); r != want {
		t.Fatalf("got %+v, want %+v", r, want)
	}
	if n := e.counters.Count(e.Hash("alice"), 100003, WindowOf(Day, now, time.UTC)); n != 1 {
		t.Fatalf("deal impression counted %d times", n)
	}
}

func TestCountersExactUnderConcurrency(t *testing.T) {
	e := capEngine(t, time.UTC, []Cap{{100001, 1 << 30, Day}, {100002, 1 << 30, Week}}, nil)
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	const workers, batches, per = 8, 200, 5
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			li := []string{"1001", "1002"}[w%2]
			for range batches {
				impressions(t, e, now, li, per)
			}
		}()
		go func() { // decisions race with the counting
			defer wg.Done()
			buf := make([]uint32, 0, 4)
			for range batches {
				buf = e.Decide(e.Hash("alice"), now, buf[:0])
			}
		}()
	}
	wg.Wait()
	alice := e.Hash("alice")
	for _, c := range []struct {
		code uint32
		p    Period
	}{{100001, Day}, {100002, Week}} {
		if n := e.counters.Count(alice, c.code, WindowOf(c.p, now, time.UTC)); n != workers/2*batches*per {
			t.Errorf("cohort %d counted %d, want %d", c.code, n, workers/2*batches*per)
		}
	}
}

func TestCountersBoundedAndExpired(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	c, err := OpenCounters(CounterOptions{MaxCounters: shards}, now, time.UTC) // one per shard
	if err != nil {
		t.Fatal(err)
	}
	cur := currentWindows(now, time.UTC)
	added := 0
	for u := range uint64(10 * shards) {
		if c.add(u, 1, cur[Day], &cur) > 0 {
			added++
		}
	}
	if added != shards || c.Len() != shards || c.Stats().Dropped != 10*shards-shards {
		t.Fatalf("added %d, kept %d, dropped %d; want %d kept", added, c.Len(), c.Stats().Dropped, shards)
	}
	// The next day, the full shards make room by sweeping yesterday's counters.
	next := now.Add(24 * time.Hour)
	cur2 := currentWindows(next, time.UTC)
	if c.add(1<<40, 1, cur2[Day], &cur2) == 0 {
		t.Fatal("a full shard did not sweep expired counters")
	}
	if n := c.Expire(next, time.UTC); n != shards-1 {
		t.Fatalf("expired %d, want %d", n, shards-1)
	}
	if c.Len() != 1 {
		t.Fatalf("%d counters left, want 1", c.Len())
	}
}

func TestJournalReplaysAfterRestart(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "caps.journal")
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	open := func(at time.Time) *Counters {
		c, err := OpenCounters(CounterOptions{Journal: path, SyncInterval: time.Hour}, at, time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := open(now)
	e := capEngine(t, time.UTC, []Cap{{100001, 100, Day}, {100002, 100, Week}}, c)
	alice := e.Hash("alice")
	impressions(t, e, now, "1001", 7)
	impressions(t, e, now, "1002", 4)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c = open(now)
	if d, w := c.Count(alice, 100001, WindowOf(Day, now, time.UTC)), c.Count(alice, 100002, WindowOf(Week, now, time.UTC)); d != 7 || w != 4 {
		t.Fatalf("after restart: day %d, week %d; want 7, 4", d, w)
	}
	// Compacted: one record per counter.
	if b := c.JournalBytes(); b != int64(len(journalMagic)+2*journalRecord) {
		t.Fatalf("journal is %d bytes after compaction", b)
	}
	c.Close()
	// A restart the next day drops the day's counter, keeps the week's.
	next := now.Add(24 * time.Hour)
	c = open(next)
	defer c.Close()
	if c.Len() != 1 || c.Count(alice, 100002, WindowOf(Week, next, time.UTC)) != 4 {
		t.Fatalf("next day: %d counters, week count %d", c.Len(), c.Count(alice, 100002, WindowOf(Week, next, time.UTC)))
	}
}

func TestJournalIgnoresTornTail(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	w := WindowOf(Day, now, time.UTC)
	for _, tc := range []struct {
		name string
		tear func(b []byte) []byte
		want uint32
	}{
		{"intact", func(b []byte) []byte { return b }, 3},
		{"half a record", func(b []byte) []byte { return append(b, appendRecord(nil, counterKey{1, 100001}, w, 1)[:11]...) }, 3},
		{"last record cut", func(b []byte) []byte { return b[:len(b)-5] }, 2},
		{"last record corrupt", func(b []byte) []byte { b[len(b)-10] ^= 0xff; return b }, 2},
		{"torn header", func(b []byte) []byte { return b[:5] }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "j")
			b := []byte(journalMagic)
			for range 3 {
				b = appendRecord(b, counterKey{1, 100001}, w, 1)
			}
			if err := os.WriteFile(path, tc.tear(b), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := OpenCounters(CounterOptions{Journal: path}, now, time.UTC)
			if err != nil {
				t.Fatal(err)
			}
			if n := c.Count(1, 100001, w); n != tc.want {
				t.Fatalf("count %d, want %d", n, tc.want)
			}
			// What follows the cut is readable: the torn tail was cut off.
			cur := currentWindows(now, time.UTC)
			c.add(1, 100001, w, &cur)
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			c, err = OpenCounters(CounterOptions{Journal: path}, now, time.UTC)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if n := c.Count(1, 100001, w); n != tc.want+1 {
				t.Fatalf("after another impression and a restart: %d, want %d", n, tc.want+1)
			}
		})
	}
}

// TestJournalSurvivesKill runs a child process that records impressions and says after each
// batch how many were acknowledged, kills it with SIGKILL mid-stream, and checks that the
// reopened journal has every acknowledged impression (and at most one batch more).
func TestJournalSurvivesKill(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	const per = 10
	if path := os.Getenv("EDGE_KILL_CHILD_JOURNAL"); path != "" {
		c, err := OpenCounters(CounterOptions{Journal: path, SyncInterval: time.Hour}, now, time.UTC)
		if err != nil {
			panic(err)
		}
		e := capEngine(t, time.UTC, []Cap{{100001, 1 << 30, Day}}, c)
		w := bufio.NewWriter(os.Stdout)
		for n := per; ; n += per {
			impressions(t, e, now, "1001", per)
			w.WriteString(strconv.Itoa(n) + "\n")
			w.Flush()
		}
	}
	path := filepath.Join(t.TempDir(), "j")
	cmd := exec.Command(os.Args[0], "-test.run=^TestJournalSurvivesKill$")
	cmd.Env = append(os.Environ(), "EDGE_KILL_CHILD_JOURNAL="+path)
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
	c, err := OpenCounters(CounterOptions{Journal: path}, now, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h := testHasher(t).Hash("alice")
	n := int(c.Count(h, 100001, WindowOf(Day, now, time.UTC)))
	if n < acked || n%per != 0 {
		t.Fatalf("after kill -9: %d counted, %d acknowledged", n, acked)
	}
	t.Logf("acknowledged %d before the kill, %d in the journal", acked, n)
}
