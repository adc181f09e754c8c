package edgehttp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cleanroom-oss/cleanroom/activation"
	"github.com/cleanroom-oss/cleanroom/edge"
	"github.com/cleanroom-oss/cleanroom/edgehttp"
	"github.com/cleanroom-oss/cleanroom/edgeredis"
	"github.com/cleanroom-oss/cleanroom/keyring"
	"github.com/cleanroom-oss/cleanroom/memblob"
	"github.com/cleanroom-oss/cleanroom/pubsync"
	"github.com/cleanroom-oss/cleanroom/redistest"
	"github.com/cleanroom-oss/cleanroom/versions"
)

const replicaPublisher = "01900000-0000-7000-8000-00000000cafe"

// replicaWorld is one publisher's manifest and snapshot in a blob store several edge replicas
// read: users "u<i>", all in cohort 100001 (capped at 3 a day, line item 5000000001) and 100002
// (uncapped, line item 5000000002).
type replicaWorld struct {
	vs      *versions.Store
	userKey []byte
	clk     atomic.Int64
}

func (w *replicaWorld) now() time.Time { return time.Unix(0, w.clk.Load()) }

func newReplicaWorld(t *testing.T, users int) *replicaWorld {
	t.Helper()
	ctx := context.Background()
	w := &replicaWorld{userKey: bytes.Repeat([]byte{9}, pubsync.UserKeySize),
		vs: versions.New(nil, memblob.New(), keyring.Generate(), nil)}
	w.clk.Store(time.Date(2030, 1, 2, 12, 0, 0, 0, time.UTC).UnixNano()) // Redis expires by its own clock: a date to come
	h, err := pubsync.NewUserHasher(w.userKey)
	must(t, err)
	keys := make([]uint64, users)
	idx := make([]int, users)
	for i := range users {
		keys[i], idx[i] = h.Hash(fmt.Sprintf("u%d", i)), i
	}
	sort.Slice(idx, func(a, b int) bool { return keys[idx[a]] < keys[idx[b]] })
	in := edge.Input{Users: uint32(users), UserKeys: make([]uint64, users), UserOrds: make([]uint32, users)}
	for j, i := range idx {
		in.UserKeys[j], in.UserOrds[j] = keys[i], uint32(i)
	}
	all := roaring.New()
	all.AddRange(0, uint64(users))
	in.Cohorts = []edge.ServedCohort{{Code: 100001, Members: all}, {Code: 100002, Members: all}}
	snap, err := edge.Build(in)
	must(t, err)
	f, err := w.vs.PutFile(ctx, versions.SnapshotOwner(replicaPublisher), "1", snap.Write)
	must(t, err)
	m := &activation.Manifest{PublisherID: replicaPublisher, Digest: "d1", GAMKey: "crc", XandrKey: "crc", DataName: "cleanroom",
		SnapshotKey: f.Key, WrappedKey: f.WrappedKey,
		Caps:      []activation.ManifestCap{{Code: 100001, Limit: 3, Period: "day"}},
		LineItems: map[string]uint32{"5000000001": 100001, "5000000002": 100002},
		Served: []activation.ServedCode{{Code: 100001, CohortID: "c1", ConnectionID: "k1"},
			{Code: 100002, CohortID: "c2", ConnectionID: "k1"}}}
	b, err := json.Marshal(m)
	must(t, err)
	_, err = w.vs.Blobs.Put(ctx, activation.ManifestKey(replicaPublisher), bytes.NewReader(b))
	must(t, err)
	return w
}

// replica starts an edge replica over the world's blob store.
func (w *replicaWorld) replica(t *testing.T, id, redisURL string) (*edgehttp.Server, *httptest.Server) {
	t.Helper()
	opt := edgehttp.Options{Versions: w.vs, UserKey: w.userKey, CounterDir: t.TempDir(), EdgeID: id,
		EventBurst: 1 << 30, EventInterval: time.Nanosecond, Now: w.now}
	if redisURL != "" {
		opt.Redis = edgeredis.Options{URL: redisURL, Interval: time.Hour, ReloadInterval: time.Nanosecond}
	}
	srv, err := edgehttp.New(opt)
	must(t, err)
	must(t, srv.Load(context.Background()))
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); srv.Close() })
	return srv, hs
}

func postEvents(t testing.TB, base string, now time.Time, events ...edge.Event) {
	for i := range events {
		events[i].Time = now.UnixMilli()
	}
	body, _ := json.Marshal(edge.Batch{Events: events})
	res, err := http.Post(base+"/edge/v1/"+replicaPublisher+"/events", "text/plain", bytes.NewReader(body))
	if err != nil {
		t.Error(err)
		return
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusNoContent {
		t.Errorf("events: %s", res.Status)
	}
}

func targeting(t testing.TB, base, uid string) string {
	res, err := http.Get(base + "/edge/v1/" + replicaPublisher + "/targeting?uid=" + uid)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

// TestTwoEdgesShareRedisCounters: two edge servers count concurrent impressions into one
// Redis over HTTP; the counts are exact and both withhold the capped code from every user who
// reached the cap, whichever server counted the impressions.
func TestTwoEdgesShareRedisCounters(t *testing.T) {
	rs := redistest.Start(t, redistest.Options{})
	const users, per = 60, 4 // per: impressions of each line item per user, over both edges
	w := newReplicaWorld(t, users)
	a, ha := w.replica(t, "edge-a", rs.URL(0))
	b, hb := w.replica(t, "edge-b", rs.URL(0))
	now := w.now()
	var wg sync.WaitGroup
	for g := range 8 {
		base := []string{ha.URL, hb.URL}[g%2]
		wg.Go(func() {
			for i := g; i < users*per; i += 8 {
				u := fmt.Sprintf("u%d", i%users)
				postEvents(t, base, now, edge.Event{UserID: u, LineItemID: "5000000001"}, edge.Event{UserID: u, LineItemID: "5000000002"})
			}
		})
	}
	wg.Wait()
	ctx := context.Background()
	keys, err := a.Redis().Redis().Keys(ctx, edgeredis.Prefix+"f:*").Result()
	must(t, err)
	if len(keys) != users {
		t.Fatalf("%d counters in Redis, want one per user", len(keys))
	}
	for _, k := range keys {
		if n, err := a.Redis().Redis().Get(ctx, k).Int(); err != nil || n != per {
			t.Fatalf("a counter holds %d (%v), want %d", n, err, per)
		}
	}
	must(t, a.Redis().Sync(ctx))
	must(t, b.Redis().Sync(ctx))
	for i := range users {
		for _, base := range []string{ha.URL, hb.URL} {
			if ans := targeting(t, base, fmt.Sprintf("u%d", i)); strings.Contains(ans, "100001") || !strings.Contains(ans, "100002") {
				t.Fatalf("u%d after %d impressions: %s", i, per, ans)
			}
		}
	}
}

// TestNewReplicaWithholdsCappedAtOnce: a replica started after another took a user to a cap
// withholds the capped code from its first answer, asked as soon as it has loaded: it reads the
// capped hashes of the publisher's windows (in its time zone) before it serves, not only in its
// background loop, which first read them for UTC's.
func TestNewReplicaWithholdsCappedAtOnce(t *testing.T) {
	rs := redistest.Start(t, redistest.Options{})
	w := newReplicaWorld(t, 10)
	// In a time zone whose day is not UTC's at the world's time (the capped hashes are per window).
	ctx := context.Background()
	m, err := activation.ReadManifest(ctx, w.vs.Blobs, replicaPublisher)
	must(t, err)
	m.TimeZone = "Pacific/Auckland"
	b, err := json.Marshal(m)
	must(t, err)
	_, err = w.vs.Blobs.Put(ctx, activation.ManifestKey(replicaPublisher), bytes.NewReader(b))
	must(t, err)
	_, ha := w.replica(t, "edge-a", rs.URL(0))
	for range 3 {
		postEvents(t, ha.URL, w.now(), edge.Event{UserID: "u0", LineItemID: "5000000001"})
	}
	answer := func(srv *edgehttp.Server, uid string) string {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest("GET", "/edge/v1/"+replicaPublisher+"/targeting?uid="+uid, nil))
		return rec.Body.String()
	}
	for i := range 20 {
		srv, err := edgehttp.New(edgehttp.Options{Versions: w.vs, UserKey: w.userKey, CounterDir: t.TempDir(), EdgeID: fmt.Sprintf("edge-b%d", i), Now: w.now,
			Redis: edgeredis.Options{URL: rs.URL(0), Interval: time.Hour, ReloadInterval: time.Hour}})
		must(t, err)
		must(t, srv.Load(ctx))
		capped, below := answer(srv, "u0"), answer(srv, "u1")
		srv.Close()
		if strings.Contains(capped, "100001") || !strings.Contains(capped, "100002") {
			t.Fatalf("replica %d, first answer to a user past the cap: %s", i, capped)
		}
		if !strings.Contains(below, "100001") {
			t.Fatalf("replica %d withholds the capped cohort from a user below the cap: %s", i, below)
		}
	}
}

// TestRedisKilledMidLoad: two edges under concurrent targeting and impressions lose their Redis
// in the middle of the load: every request is still answered, and once Redis is back the
// impressions counted meanwhile are in it (at least every one; a batch in flight when Redis died
// may count twice, since its error does not say whether Redis applied it: a cap then acts sooner,
// never later).
func TestRedisKilledMidLoad(t *testing.T) {
	rs := redistest.Start(t, redistest.Options{Persistent: true})
	const users, goroutines, batches, per = 40, 8, 30, 5
	w := newReplicaWorld(t, users)
	ctx := context.Background()
	a, ha := w.replica(t, "edge-a", rs.URL(0))
	b, hb := w.replica(t, "edge-b", rs.URL(0))
	now := w.now()
	var posted, answered atomic.Int64
	var wg sync.WaitGroup
	killed := make(chan struct{})
	var once sync.Once
	for g := range goroutines {
		base := []string{ha.URL, hb.URL}[g%2]
		wg.Go(func() {
			for i := range batches {
				if i == batches/2 {
					once.Do(func() { rs.Kill(); close(killed) })
				}
				var evs []edge.Event
				for j := range per {
					evs = append(evs, edge.Event{UserID: fmt.Sprintf("u%d", (g*batches*per+i*per+j)%users), LineItemID: "5000000001"})
				}
				postEvents(t, base, now, evs...)
				posted.Add(per)
				if ans := targeting(t, base, fmt.Sprintf("u%d", i%users)); strings.Contains(ans, "100002") {
					answered.Add(1)
				}
			}
		})
	}
	wg.Wait()
	<-killed
	if answered.Load() != goroutines*batches {
		t.Fatalf("%d of %d targeting requests served the uncapped cohort", answered.Load(), goroutines*batches)
	}
	if !a.Redis().Down() && !b.Redis().Down() {
		t.Fatal("neither edge noticed Redis was gone")
	}
	rs.Restart(t)
	for _, srv := range []*edgehttp.Server{a, b} {
		var err error
		for range 100 {
			if err = srv.Redis().Sync(ctx); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		must(t, err)
	}
	// Every impression of the capped cohort is counted (past the cap too): the sum of the
	// counters is what was posted, plus at most the batches in flight when Redis died.
	keys, err := a.Redis().Redis().Keys(ctx, edgeredis.Prefix+"f:*").Result()
	must(t, err)
	var sum int64
	for _, k := range keys {
		n, err := a.Redis().Redis().Get(ctx, k).Int64()
		must(t, err)
		sum += n

	}
	if sum < posted.Load() || sum > posted.Load()+goroutines*per {
		t.Fatalf("Redis counts %d impressions, %d were posted (at most %d more in flight)", sum, posted.Load(), goroutines*per)
	}
	t.Logf("posted %d, counted %d", posted.Load(), sum)
	// And both edges withhold the capped cohort from everyone (each user is past the cap).
	for i := range users {
		for _, base := range []string{ha.URL, hb.URL} {
			if ans := targeting(t, base, fmt.Sprintf("u%d", i)); strings.Contains(ans, "100001") {
				t.Fatalf("u%d is served the capped cohort after the outage: %s", i, ans)
			}
		}
	}
}
