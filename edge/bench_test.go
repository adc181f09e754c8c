package edge

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cleanroom-oss/cleanroom/benchenv"
)

// Benchmark sizes: CLEANROOM_BENCH_EDGE_USERS users (1M by default; 50M for the opt-in figure)
// in CLEANROOM_BENCH_EDGE_COHORTS cohorts (1,000), each user in 3 random ones; every 10th cohort
// capped at 3 a day.
func benchSize(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

type benchFixture struct {
	in    Input
	snap  *Snapshot
	build time.Duration
	probe []uint64 // hashes to look up: 90% served users, 10% unknown
}

var (
	fixtureOnce sync.Once
	fixture     *benchFixture
)

// benchInput makes the input fast at any size: the keys are random (keyed hashes are), the
// ordinals a random permutation, as in a real version.
func benchInput(users, cohorts, perUser int) Input {
	r := rand.New(rand.NewPCG(1, 2))
	in := Input{Users: uint32(users), UserKeys: make([]uint64, users), UserOrds: make([]uint32, users)}
	for i := range in.UserKeys {
		in.UserKeys[i] = r.Uint64()
		in.UserOrds[i] = uint32(i)
	}
	slices.Sort(in.UserKeys)
	in.UserKeys = slices.Compact(in.UserKeys)
	in.UserOrds = in.UserOrds[:len(in.UserKeys)]
	r.Shuffle(len(in.UserOrds), func(i, j int) { in.UserOrds[i], in.UserOrds[j] = in.UserOrds[j], in.UserOrds[i] })
	members := make([][]uint32, cohorts)
	for o := range users {
		for range perUser {
			c := r.IntN(cohorts)
			members[c] = append(members[c], uint32(o))
		}
	}
	for c := range cohorts {
		bm := roaring.New()
		bm.AddMany(members[c])
		members[c] = nil
		bm.RunOptimize()
		in.Cohorts = append(in.Cohorts, ServedCohort{Code: uint32(100001 + c), Members: bm})
	}
	return in
}

func getFixture(b *testing.B) *benchFixture {
	fixtureOnce.Do(func() {
		users := benchSize("CLEANROOM_BENCH_EDGE_USERS", 1_000_000)
		cohorts := benchSize("CLEANROOM_BENCH_EDGE_COHORTS", 1000)
		f := &benchFixture{in: benchInput(users, cohorts, 3)}
		runtime.GC()
		start := time.Now()
		s, err := Build(f.in)
		if err != nil {
			panic(err)
		}
		f.build, f.snap = time.Since(start), s
		r := rand.New(rand.NewPCG(3, 4))
		f.probe = make([]uint64, 1<<20)
		for i := range f.probe {
			if i%10 == 9 {
				f.probe[i] = r.Uint64()
			} else {
				f.probe[i] = f.in.UserKeys[r.IntN(len(f.in.UserKeys))]
			}
		}
		fixture = f
	})
	return fixture
}

func benchEngine(b *testing.B, f *benchFixture, c *Counters) *Engine {
	e := NewEngine(testHasher(b), c)
	var caps []Cap
	for i := 0; i < len(f.in.Cohorts); i += 10 {
		caps = append(caps, Cap{Code: f.in.Cohorts[i].Code, Limit: 3, Period: Day})
	}
	if err := e.Swap(f.snap, Config{Location: mustLoc(b, "Europe/Paris"), Caps: caps}); err != nil {
		b.Fatal(err)
	}
	return e
}

// populate counts impressions for every 4th probed user in every capped cohort of theirs, some
// reaching the cap.
func populate(b *testing.B, e *Engine, f *benchFixture, now time.Time) {
	st := e.state.Load()
	cur := currentWindows(now, st.loc)
	for i, h := range f.probe {
		if i%4 != 0 {
			continue
		}
		u := f.snap.find(h)
		if u == nil {
			continue
		}
		for _, c := range f.snap.cohorts(u) {
			if r := st.rules[c]; r.limit > 0 {
				for range i % 5 {
					e.counters.(*Counters).add(h, f.snap.codes[c], cur[r.period], &cur)
				}
			}
		}
	}
}

func BenchmarkBuild(b *testing.B) {
	f := getFixture(b)
	// The seconds each phase takes (see buildPhase) and the CPU seconds per build (user + system,
	// both cores: on a quiet machine the build takes a little over half of it).
	var at [6]time.Duration
	var last time.Time
	buildPhase = func(p int) {
		if p > 5 {
			return
		}
		now := time.Now()
		if p > 0 {
			at[p] += now.Sub(last)
		}
		last = now
	}
	defer func() { buildPhase = nil }()
	cpu0 := benchenv.CPUTime()
	for b.Loop() {
		if _, err := Build(f.in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric((benchenv.CPUTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
	for p, name := range []string{"", "pass", "overflow", "keycount", "entries", "index"} {
		if p > 0 {
			b.ReportMetric(at[p].Seconds()/float64(b.N), name+"-s")
		}
	}
	b.ReportMetric(f.build.Seconds(), "first-build-s")
	b.ReportMetric(float64(f.snap.Bytes())/float64(f.snap.Users()), "B/user")
	b.ReportMetric(float64(f.snap.Users()), "users")
	b.ReportMetric(float64(f.snap.Memberships()), "memberships")
}

func BenchmarkDecide(b *testing.B) {
	f := getFixture(b)
	c, _ := OpenCounters(CounterOptions{}, time.Now(), time.UTC)
	e := benchEngine(b, f, c)
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	populate(b, e, f, now)
	buf := make([]uint32, 0, 16)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		buf = e.Decide(f.probe[i&(len(f.probe)-1)], now, buf[:0])
		i++
	}
}

// BenchmarkDecideLatency times every decision and reports the percentiles.
func BenchmarkDecideLatency(b *testing.B) {
	f := getFixture(b)
	c, _ := OpenCounters(CounterOptions{}, time.Now(), time.UTC)
	e := benchEngine(b, f, c)
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	populate(b, e, f, now)
	buf := make([]uint32, 0, 16)
	lat := make([]time.Duration, 0, 1<<22)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		t0 := time.Now()
		buf = e.Decide(f.probe[i&(len(f.probe)-1)], now, buf[:0])
		if len(lat) < cap(lat) {
			lat = append(lat, time.Since(t0))
		}
		i++
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2]), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100]), "p99-ns")
	b.ReportMetric(float64(lat[len(lat)*999/1000]), "p99.9-ns")
}

// BenchmarkDecideUser includes hashing the user ID the page sends and writing the answer.
func BenchmarkDecideUser(b *testing.B) {
	f := getFixture(b)
	c, _ := OpenCounters(CounterOptions{}, time.Now(), time.UTC)
	e := benchEngine(b, f, c)
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	uids := make([]string, 1024)
	for i := range uids {
		uids[i] = "3f1c9a7e-5b2d-4c8e-9a1f-" + strconv.Itoa(100000000000+i)
	}
	format := &Format{GAMKey: "crc", XandrKey: "crc", Name: "cleanroom.example", Segtax: 600}
	buf := make([]uint32, 0, 16)
	out := make([]byte, 0, 1024)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		buf = e.DecideUser(uids[i&1023], now, buf[:0])
		out = AppendAnswer(out[:0], format, buf)
		i++
	}
}

// BenchmarkRecord counts batches of 100 impressions with caps applied, journal on disk.
func BenchmarkRecord(b *testing.B) { benchRecord(b, false) }

// BenchmarkRecordDelivery is BenchmarkRecord with the delivery aggregate (journalled) as well.
func BenchmarkRecordDelivery(b *testing.B) { benchRecord(b, true) }

func benchRecord(b *testing.B, delivery bool) {
	f := getFixture(b)
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	c, err := OpenCounters(CounterOptions{Journal: filepath.Join(b.TempDir(), "j")}, now, time.UTC)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	e := NewEngine(testHasher(b), c)
	if delivery {
		d, err := OpenDelivery(DeliveryOptions{Journal: filepath.Join(b.TempDir(), "d")})
		if err != nil {
			b.Fatal(err)
		}
		defer d.Close()
		e.SetDelivery(d)
	}
	items := map[string]uint32{}
	var caps []Cap
	for i := 0; i < 100; i++ {
		items[strconv.Itoa(5550000000+i)] = f.in.Cohorts[i].Code
		caps = append(caps, Cap{Code: f.in.Cohorts[i].Code, Limit: 10, Period: Week})
	}
	if err := e.Swap(f.snap, Config{Caps: caps, LineItems: items}); err != nil {
		b.Fatal(err)
	}
	batches := make([]*Batch, 64)
	for i := range batches {
		batches[i] = &Batch{}
		for j := range 100 {
			batches[i].Events = append(batches[i].Events, Event{
				UserID:     "3f1c9a7e-5b2d-4c8e-9a1f-" + strconv.Itoa(100000000000+i*100+j),
				LineItemID: strconv.Itoa(5550000000 + (i*7+j)%100), Time: now.UnixMilli()})
		}
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		r, err := e.Record(batches[n%len(batches)], now)
		if err != nil || r.Counted != 100 {
			b.Fatalf("%+v %v", r, err)
		}
		n++
	}
	b.ReportMetric(float64(n*100)/b.Elapsed().Seconds(), "impressions/s")
}

// BenchmarkDecideNoCaps is Decide with no cohort capped: the snapshot lookup alone.
func BenchmarkDecideNoCaps(b *testing.B) {
	f := getFixture(b)
	e := NewEngine(testHasher(b), nil)
	if err := e.Swap(f.snap, Config{}); err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	buf := make([]uint32, 0, 16)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		buf = e.Decide(f.probe[i&(len(f.probe)-1)], now, buf[:0])
		i++
	}
}
