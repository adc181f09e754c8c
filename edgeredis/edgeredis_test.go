package edgeredis_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cleanroom-oss/cleanroom/edge"
	"github.com/cleanroom-oss/cleanroom/edgeredis"
	"github.com/cleanroom-oss/cleanroom/pubsync"
	"github.com/cleanroom-oss/cleanroom/redistest"
)

const pub = "01900000-0000-7000-8000-0000000000aa"

// Cohorts: 100001 capped at 3 a day (line item 1001), 100002 at 5 a week (1002), 100003 uncapped
// (1003). Every user is in all three.
var caps = []edge.Cap{{Code: 100001, Limit: 3, Period: edge.Day}, {Code: 100002, Limit: 5, Period: edge.Week}}

type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) add(d time.Duration)     { c.ns.Add(int64(d)) }
func newClock(t time.Time) *clock        { c := &clock{}; c.ns.Store(t.UnixNano()); return c }
func uid(i int) string                   { return fmt.Sprintf("user-%04d", i) }
func hasCode(cs []uint32, c uint32) bool { return slices.Contains(cs, c) }

func hasher(t testing.TB) *pubsync.UserHasher {
	key := make([]byte, pubsync.UserKeySize)
	for i := range key {
		key[i] = byte(i + 3)
	}
	h, err := pubsync.NewUserHasher(key)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func snapshot(t testing.TB, h *pubsync.UserHasher, users int) *edge.Snapshot {
	keys := make([]uint64, users)
	for i := range users {
		keys[i] = h.Hash(uid(i))
	}
	ords := make([]uint32, users)
	idx := make([]int, users)
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return keys[idx[a]] < keys[idx[b]] })
	in := edge.Input{Users: uint32(users), UserKeys: make([]uint64, users), UserOrds: ords}
	for j, i := range idx {
		in.UserKeys[j], in.UserOrds[j] = keys[i], uint32(i)
	}
	all := roaring.New()
	all.AddRange(0, uint64(users))
	for _, c := range []uint32{100001, 100002, 100003} {
		in.Cohorts = append(in.Cohorts, edge.ServedCohort{Code: c, Members: all})
	}
	s, err := edge.Build(in)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// replica is one edge replica: its own Client to the shared Redis and its engine.
type replica struct {
	cl  *edgeredis.Client
	k   *edgeredis.Counter
	e   *edge.Engine
	del *edge.Delivery
}

func newReplica(t testing.TB, url string, snap *edge.Snapshot, clk *clock, opt edgeredis.Options) *replica {
	t.Helper()
	opt.URL, opt.Now = url, clk.now
	cl, err := edgeredis.Open(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	k := cl.Counter(pub)
	e := edge.NewEngine(hasher(t), k)
	del, _ := edge.OpenDelivery(edge.DeliveryOptions{})
	e.SetDelivery(del)
	if err := e.Swap(snap, edge.Config{Location: time.UTC, Caps: caps,
		LineItems: map[string]uint32{"1001": 100001, "1002": 100002, "1003": 100003}}); err != nil {
		t.Fatal(err)
	}
	k.SetLocation(time.UTC)
	return &replica{cl: cl, k: k, e: e, del: del}
}

func (r *replica) record(t testing.TB, now time.Time, user string, items ...string) edge.Recorded {
	t.Helper()
	b := &edge.Batch{}
	for _, li := range items {
		b.Events = append(b.Events, edge.Event{UserID: user, LineItemID: li, Time: now.UnixMilli()})
	}
	rec, err := r.e.Record(b, now)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func (r *replica) decide(user string, now time.Time) []uint32 {
	return r.e.DecideUser(user, now, make([]uint32, 0, 4))
}

// sync runs Sync until Redis answers (a connection the restart broke fails once).
func (r *replica) sync(t testing.TB) {
	t.Helper()
	var err error
	for range 100 {
		if err = r.cl.Sync(context.Background()); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("redis does not answer: %v", err)
}

func redisCount(t testing.TB, r *replica, user string, code uint32, w edge.Window) int64 {
	t.Helper()
	keys, err := r.cl.Redis().Keys(context.Background(), edgeredis.Prefix+"f:"+pub+":*").Result()
	if err != nil {
		t.Fatal(err)
	}
	h := r.e.Hash(user)
	for _, k := range keys {
		m := k[len(k)-16:]
		if beUint64(m) == h && beUint32(m[8:]) == code && edge.Window(beUint32(m[12:])) == w {
			n, err := r.cl.Redis().Get(context.Background(), k).Int64()
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	return 0
}

func beUint64(b string) uint64 {
	var v uint64
	for i := range 8 {
		v = v<<8 | uint64(b[i])
	}
	return v
}

func beUint32(b string) uint32 {
	var v uint32
	for i := range 4 {
		v = v<<8 | uint32(b[i])
	}
	return v
}

// TestTwoReplicasCountExactly: two replicas count many concurrent impressions of the same users
// into one Redis; every counter is exact, each counter reached its cap exactly once across both
// (held-back users), and both replicas withhold the capped codes afterwards.
func TestTwoReplicasCountExactly(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	const users, workers, batches = 40, 8, 20
	clk := newClock(time.Date(2030, 1, 2, 12, 0, 0, 0, time.UTC))
	h := hasher(t)
	snap := snapshot(t, h, users)
	opt := edgeredis.Options{Interval: time.Hour, ReloadInterval: time.Hour}
	a, b := newReplica(t, srv.URL(0), snap, clk, opt), newReplica(t, srv.URL(0), snap, clk, opt)
	now := clk.now()
	var wg sync.WaitGroup
	for w := range workers {
		r := []*replica{a, b}[w%2]
		wg.Go(func() {
			for i := range batches {
				// One batch per user: one impression of each line item.
				r.record(t, now, uid((w*batches+i)%users), "1001", "1002", "1003")
			}
		})
	}
	wg.Wait()
	per := workers * batches / users // impressions of each line item per user
	for i := range users {
		for _, c := range caps {
			if n := redisCount(t, a, uid(i), c.Code, edge.WindowOf(c.Period, now, time.UTC)); n != int64(per) {
				t.Fatalf("%s cohort %d: count %d in Redis, want %d", uid(i), c.Code, n, per)
			}
		}
	}
	a.sync(t)
	b.sync(t)
	for i := range users {
		for _, r := range []*replica{a, b} {
			cs := r.decide(uid(i), now)
			if hasCode(cs, 100001) || per >= 5 && hasCode(cs, 100002) || !hasCode(cs, 100003) {
				t.Fatalf("%s is served %v after %d impressions each", uid(i), cs, per)
			}
		}
	}
	held := map[uint32]int64{}
	for _, r := range []*replica{a, b} {
		for _, hr := range r.del.Summary().Held {
			held[hr.Code] += hr.Users
		}
	}
	if held[100001] != users || held[100002] != 0 { // 4 impressions: over 100001's cap, under 100002's
		t.Fatalf("held back across both replicas: %v, want %d of cohort 100001", held, users)
	}
}

// TestCapHoldsAcrossReplicas: pages ask each replica in turn and report each impression to the
// other; every user gets exactly its cap, whichever replica counted the impression that reached
// it. The replica that did not count learns it from the channel (no Sync).
func TestCapHoldsAcrossReplicas(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	const users = 40
	clk := newClock(time.Date(2030, 1, 2, 12, 0, 0, 0, time.UTC))
	snap := snapshot(t, hasher(t), users)
	opt := edgeredis.Options{Interval: time.Hour, ReloadInterval: time.Hour}
	rs := []*replica{newReplica(t, srv.URL(1), snap, clk, opt), newReplica(t, srv.URL(1), snap, clk, opt)}
	now := clk.now()
	var served [users]atomic.Int32
	var wg sync.WaitGroup
	for i := range users {
		wg.Go(func() {
			for step := 0; step < 20; step++ {
				ask, report := rs[step%2], rs[(step+1)%2]
				if !hasCode(ask.decide(uid(i), now), 100001) {
					// Withheld: the other replica must say the same once it heard.
					waitWithheld(t, report, uid(i), now)
					return
				}
				served[i].Add(1)
				report.record(t, now, uid(i), "1001")
				if served[i].Load() >= 3 {
					waitWithheld(t, ask, uid(i), now) // learnt from the channel
				}
			}
		})
	}
	wg.Wait()
	for i := range users {
		if n := served[i].Load(); n != 3 {
			t.Errorf("%s was served cohort 100001 %d times, want exactly the cap 3", uid(i), n)
		}
	}
}

// waitWithheld waits until r withholds 100001 from user (the cap-reached message on its way).
func waitWithheld(t testing.TB, r *replica, user string, now time.Time) {
	for range 2000 {
		if !hasCode(r.decide(user, now), 100001) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Errorf("%s: a replica never learnt the cap was reached", user)
}

// TestWindowsExpire: counters and capped hashes expire at their window's end plus the slack, in
// the publisher's time zone, and a new window starts from zero.
func TestWindowsExpire(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	clk := newClock(time.Date(2030, 1, 2, 23, 30, 0, 0, paris)) // Wednesday (Redis expires keys by its own clock: a date to come)
	snap := snapshot(t, hasher(t), 1)
	r := newReplica(t, srv.URL(2), snap, clk, edgeredis.Options{Slack: 10 * time.Minute, Interval: time.Hour})
	if err := r.e.Swap(snap, edge.Config{Location: paris, Caps: caps, LineItems: map[string]uint32{"1001": 100001, "1002": 100002}}); err != nil {
		t.Fatal(err)
	}
	now := clk.now()
	if rec := r.record(t, now, uid(0), "1001", "1001", "1001", "1002"); rec.Counted != 4 {
		t.Fatalf("recorded %+v", rec)
	}
	ctx := context.Background()
	want := map[edge.Period]time.Time{
		edge.Day:  time.Date(2030, 1, 3, 0, 10, 0, 0, paris),
		edge.Week: time.Date(2030, 1, 7, 0, 10, 0, 0, paris),
	}
	keys, err := r.cl.Redis().Keys(ctx, edgeredis.Prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 3 { // two counters, the day's capped hash
		t.Fatalf("keys %q, want two counters and one capped hash", keys)
	}
	for _, k := range keys {
		at, err := r.cl.Redis().PExpireTime(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		p := edge.Day
		if k[len(k)-16:][12]>>6 == byte(edge.Week) && len(k) > 20 && k[3] == 'f' {
			p = edge.Week
		}
		if got := time.UnixMilli(int64(at / time.Millisecond)); !got.Equal(want[p]) {
			t.Errorf("key %q expires at %v, want %v", k, got.In(paris), want[p])
		}
	}
	if hasCode(r.decide(uid(0), now), 100001) {
		t.Fatal("capped code served")
	}
	clk.add(time.Hour) // Thursday in Paris: a new day, the same week
	now = clk.now()
	if cs := r.decide(uid(0), now); !hasCode(cs, 100001) || !hasCode(cs, 100002) {
		t.Fatalf("the next day serves %v", cs)
	}
	if rec := r.record(t, now, uid(0), "1001"); rec.Counted != 1 {
		t.Fatalf("recorded %+v", rec)
	}
	if n := redisCount(t, r, uid(0), 100001, edge.WindowOf(edge.Day, now, paris)); n != 1 {
		t.Fatalf("the new day's counter is %d, want 1", n)
	}
	if n := redisCount(t, r, uid(0), 100002, edge.WindowOf(edge.Week, now, paris)); n != 1 {
		t.Fatalf("the week's counter is %d, want 1", n)
	}
}

// TestOutage: Redis killed under load: targeting still answers, each replica enforces its own
// counts (a user sees at most 2 × the cap across the two), capped cohorts fail closed after the
// grace, and once Redis is back the impressions counted meanwhile are added exactly.
func TestOutage(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{Persistent: true})
	const users = 30
	clk := newClock(time.Date(2030, 1, 2, 12, 0, 0, 0, time.UTC))
	snap := snapshot(t, hasher(t), users)
	opt := edgeredis.Options{Interval: time.Hour, ReloadInterval: time.Hour, Grace: time.Minute, Timeout: 500 * time.Millisecond}
	rs := []*replica{newReplica(t, srv.URL(3), snap, clk, opt), newReplica(t, srv.URL(3), snap, clk, opt)}
	now := clk.now()
	for i := range users { // one impression each before the outage
		rs[i%2].record(t, now, uid(i), "1001")
	}
	srv.Kill()
	var served [users]atomic.Int32
	var wg sync.WaitGroup
	for i := range users {
		wg.Go(func() {
			for step := range 10 { // each replica asked and told 5 times
				r := rs[step%2]
				cs := r.decide(uid(i), now)
				if !hasCode(cs, 100003) {
					t.Errorf("%s: the uncapped cohort is not served during the outage: %v", uid(i), cs)
				}
				if hasCode(cs, 100001) {
					served[i].Add(1)
					r.record(t, now, uid(i), "1001")
				}
			}
		})
	}
	wg.Wait()
	for i := range users {
		// Before: 1; during: each replica serves until its own count reaches 3 (the replica that
		// counted the first impression 2 more, the other 3): the bound, 2 × the cap.
		if n := 1 + served[i].Load(); n > 2*3 || n < 3 {
			t.Errorf("%s: %d impressions in the window, want 3 to 2 × cap (6)", uid(i), n)
		}
	}
	for _, r := range rs {
		if !r.cl.Down() || r.cl.Closed() {
			t.Fatalf("down %v closed %v during the grace", r.cl.Down(), r.cl.Closed())
		}
	}
	// Past the grace: capped cohorts fail closed, the others keep serving.
	clk.add(time.Minute)
	now = clk.now()
	for _, r := range rs {
		if err := r.cl.Sync(context.Background()); err == nil {
			t.Fatal("Sync answered with Redis killed")
		}
		if !r.cl.Closed() {
			t.Fatal("capped cohorts do not fail closed after the grace")
		}
	}
	fresh := uid(users - 1)
	if cs := rs[0].decide(fresh, now); hasCode(cs, 100001) || hasCode(cs, 100002) || !hasCode(cs, 100003) {
		t.Fatalf("after the grace a user is served %v, want only the uncapped 100003", cs)
	}
	// Redis back: the pending increments are added, exactly.
	srv.Restart(t)
	for _, r := range rs {
		r.sync(t)
		if r.cl.Down() || r.cl.Closed() || r.k.Pending() != 0 {
			t.Fatalf("after reconnecting: down %v closed %v pending %d", r.cl.Down(), r.cl.Closed(), r.k.Pending())
		}
	}
	w := edge.WindowOf(edge.Day, now, time.UTC)
	for i := range users {
		if n := redisCount(t, rs[0], uid(i), 100001, w); n != int64(1+served[i].Load()) {
			t.Errorf("%s: Redis counts %d, want %d", uid(i), n, 1+served[i].Load())
		}
		for _, r := range rs {
			if cs := r.decide(uid(i), now); hasCode(cs, 100001) || !hasCode(cs, 100002) {
				t.Errorf("%s after the outage: %v", uid(i), cs)
			}
		}
	}
	// Counting goes to Redis again.
	if rec := rs[1].record(t, now, uid(0), "1002"); rec.Counted != 1 || redisCount(t, rs[0], uid(0), 100002, edge.WindowOf(edge.Week, now, time.UTC)) != 1 {
		t.Fatalf("after reconnecting, an impression is not counted in Redis: %+v", rec)
	}
}

// TestDecideStaysInProcess: with Redis counters a decision allocates nothing and does not wait
// on Redis, even when Redis is gone.
func TestDecideStaysInProcess(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	clk := newClock(time.Date(2030, 1, 2, 12, 0, 0, 0, time.UTC))
	r := newReplica(t, srv.URL(4), snapshot(t, hasher(t), 10), clk, edgeredis.Options{Interval: time.Hour})
	now := clk.now()
	r.record(t, now, uid(1), "1001", "1001", "1001")
	h := r.e.Hash(uid(1))
	buf := make([]uint32, 0, 8)
	for _, phase := range []string{"up", "down"} {
		if n := testing.AllocsPerRun(100, func() { buf = r.e.Decide(h, now, buf[:0]) }); n != 0 {
			t.Errorf("Decide with Redis %s: %v allocations", phase, n)
		}
		if hasCode(buf, 100001) || !hasCode(buf, 100003) {
			t.Errorf("Decide with Redis %s: %v", phase, buf)
		}
		srv.Kill()
	}
}

func TestOpenChecksTheURL(t *testing.T) {
	for _, u := range []string{"http://localhost:6379", "redis://localhost:6379/notadb", ""} {
		if cl, err := edgeredis.Open(edgeredis.Options{URL: u}); err == nil {
			cl.Close()
			t.Errorf("Open(%q) accepted", u)
		}
	}
}

// TestOpenErrorHidesThePassword: a malformed --redis URL's error does not repeat the password it
// carries (it is printed at start and may reach shared logs).
func TestOpenErrorHidesThePassword(t *testing.T) {
	for _, u := range []string{"redis://u:s3cret@host:notaport/0", "redis://u:s3cret@ho st:6379/0", "redis://:s3cret%zz@host/0"} {
		cl, err := edgeredis.Open(edgeredis.Options{URL: u})
		if err == nil {
			cl.Close()
			t.Fatalf("Open(%q) accepted", u)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Open(%q): %v", u, err)
		}
	}
}
