package edgehttp_test

// The measurement of docs/SCALE.md, "A hundred publishers on one edge": one edge process loading
// the snapshots of many publishers (the loopback benchmark's snapshot, stored once per
// publisher), what it costs in memory and load time, and what lookups spread over all of them
// cost against lookups on one. A measurement, not a timed test: it runs only with
// CLEANROOM_BENCH_PUBLISHERS set (the number of publishers) and reports with t.Log.
//
//	CLEANROOM_BENCH_PUBLISHERS=100 go test -run TestEdgeManyPublishers -v -timeout 20m ./edgehttp
//
// CLEANROOM_BENCH_EDGE_USERS sets the users per publisher (1,000,000).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom/activation"
	"github.com/cleanroom-oss/cleanroom/edge"
	"github.com/cleanroom-oss/cleanroom/edgehttp"
	"github.com/cleanroom-oss/cleanroom/pubsync"
	"github.com/cleanroom-oss/cleanroom/versions"
)

// residentBytes returns this process's resident set size (VmRSS).
func residentBytes() int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n << 10
		}
	}
	return 0
}

func TestEdgeManyPublishers(t *testing.T) {
	pubs, _ := strconv.Atoi(os.Getenv("CLEANROOM_BENCH_PUBLISHERS"))
	if pubs <= 0 {
		t.Skip("a measurement: set CLEANROOM_BENCH_PUBLISHERS (e.g. 100)")
	}
	users := 1_000_000
	if n, _ := strconv.Atoi(os.Getenv("CLEANROOM_BENCH_EDGE_USERS")); n > 0 {
		users = n
	}
	ctx := context.Background()
	var vs *versions.Store
	first, ids := benchEdgeWith(t, users, func(o *edgehttp.Options) { vs = o.Versions })
	snap := first.Engine(benchPublisher).Snapshot()
	m, err := activation.ReadManifest(ctx, vs.Blobs, benchPublisher)
	must(t, err)
	// The same snapshot and settings under pubs-1 more publisher IDs, each stored (and so loaded)
	// on its own.
	pids := []string{benchPublisher}
	for p := 1; p < pubs; p++ {
		id := fmt.Sprintf("01900000-0000-7000-8000-%012x", p)
		f, err := vs.PutFile(ctx, versions.SnapshotOwner(id), "1", snap.Write)
		must(t, err)
		mp := *m
		mp.PublisherID, mp.SnapshotKey, mp.WrappedKey = id, f.Key, f.WrappedKey
		b, err := json.Marshal(&mp)
		must(t, err)
		_, err = vs.Blobs.Put(ctx, activation.ManifestKey(id), bytes.NewReader(b))
		must(t, err)
		pids = append(pids, id)
	}
	first.Close()
	runtime.GC()
	debug.FreeOSMemory()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	rss0 := residentBytes()
	start := time.Now()
	srv, err := edgehttp.New(edgehttp.Options{Versions: vs, UserKey: bytes.Repeat([]byte{7}, pubsync.UserKeySize)})
	must(t, err)
	defer srv.Close()
	must(t, srv.Load(ctx))
	loadTime := time.Since(start)
	runtime.GC()
	rss1 := residentBytes()
	runtime.ReadMemStats(&ms1)
	engines := make([]*edge.Engine, len(pids))
	for i, id := range pids {
		if engines[i] = srv.Engine(id); engines[i] == nil {
			t.Fatalf("publisher %s not loaded", id)
		}
	}
	hashes := make([]uint64, len(ids))
	for i, id := range ids {
		hashes[i] = engines[0].Hash(id)
	}
	// Lookups (Decide: the snapshot and the caps), from GOMAXPROCS goroutines for d each, on one
	// publisher and then on a random publisher each time.
	const d = 3 * time.Second
	rate := func(spread int) float64 {
		var n atomic.Int64
		var wg sync.WaitGroup
		stop := time.Now().Add(d)
		for g := range runtime.GOMAXPROCS(0) {
			wg.Go(func() {
				r := rand.New(rand.NewPCG(uint64(g), 9))
				now := time.Now()
				var dst []uint32
				k := 0
				for time.Now().Before(stop) {
					for range 1000 {
						dst = engines[r.IntN(spread)].Decide(hashes[r.IntN(len(hashes))], now, dst[:0])
					}
					k += 1000
				}
				n.Add(int64(k))
			})
		}
		wg.Wait()
		return float64(n.Load()) / d.Seconds()
	}
	loadBefore := loadAverage()
	one, all := rate(1), rate(len(engines))
	one2, all2 := rate(1), rate(len(engines))
	slots := edge.NewLastSeen(edge.LastSeenSlots(snap.Users(), 0)).Slots() // as the server sizes it, rounded up to a power of two
	t.Logf("%d publishers x %d users (%d memberships each), GOMAXPROCS %d, load average %s -> %s",
		len(pids), users, snap.Memberships(), runtime.GOMAXPROCS(0), loadBefore, loadAverage())
	t.Logf("load of all snapshots: %v; resident memory grew by %.0f MB (%.1f MB per publisher, %.2f B per served user); snapshots %.1f MB each (%.2f B per served user)",
		loadTime.Round(time.Millisecond), float64(rss1-rss0)/1e6, float64(rss1-rss0)/1e6/float64(len(pids)),
		float64(rss1-rss0)/float64(len(pids))/float64(snap.Users()), float64(snap.Bytes())/1e6, float64(snap.Bytes())/float64(snap.Users()))
	t.Logf("the Go heap in use grew by %.0f MB (%.1f MB per publisher): the snapshots' decrypted files and the last-seen tables",
		float64(ms1.HeapInuse-ms0.HeapInuse)/1e6, float64(ms1.HeapInuse-ms0.HeapInuse)/1e6/float64(len(pids)))
	t.Logf("last-seen tables reserved: %d slots x 12 B = %.1f MB per publisher, %.0f MB in all",
		slots, float64(slots*12)/1e6, float64(slots*12*len(pids))/1e6)
	t.Logf("Decide on one publisher: %.0f and %.0f lookups/s; spread over %d publishers: %.0f and %.0f lookups/s",
		one, one2, len(pids), all, all2)
}
