package edgehttp_test

// The measurement of docs/BENCHMARKS.md, "Edge impressions with Redis counters": the events
// route's rate of impressions counted with caps applied, the counters in Debian's redis-server
// (started here), with one edge replica and with two sharing it, each replica an HTTP server of
// its own, in this process. A measurement, not a timed test: it runs only with
// CLEANROOM_BENCH_REDIS=1 and reports its figures with t.Log.
//
//	CLEANROOM_BENCH_REDIS=1 go test -run TestEventsWithRedis -v -timeout 10m ./edgehttp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom/edge"
	"github.com/cleanroom-oss/cleanroom/edgehttp"
	"github.com/cleanroom-oss/cleanroom/edgeredis"
	"github.com/cleanroom-oss/cleanroom/redistest"
)

func TestEventsWithRedis(t *testing.T) {
	if os.Getenv("CLEANROOM_BENCH_REDIS") != "1" {
		t.Skip("a measurement: set CLEANROOM_BENCH_REDIS=1")
	}
	const users, clients, d = 200_000, 8, 5 * time.Second
	rs := redistest.Start(t, redistest.Options{})
	ctx := context.Background()
	usedMemory := func(srv *edgehttp.Server) int64 {
		mem, err := srv.Redis().Redis().Info(ctx, "memory").Result()
		must(t, err)
		var n int64
		for _, l := range strings.Split(mem, "\r\n") {
			if v, ok := strings.CutPrefix(l, "used_memory:"); ok {
				fmt.Sscan(v, &n)
			}
		}
		return n
	}
	var bases []string
	var ids []string
	var first *edgehttp.Server
	for range 2 {
		srv, us := benchEdgeWith(t, users, func(o *edgehttp.Options) {
			o.Redis = edgeredis.Options{URL: rs.URL(0)}
		})
		hs := httptest.NewServer(srv)
		t.Cleanup(func() { hs.Close(); srv.Close() })
		bases, ids = append(bases, hs.URL+"/edge/v1/"+benchPublisher), us
		if first == nil {
			first = srv
		}
	}
	// Batches of 100 impressions of capped line items, as text/plain (as in TestLoopbackVersusRedis).
	var batches [][]byte
	for b := range 256 {
		var ev []edge.Event
		for i := range 100 {
			ev = append(ev, edge.Event{UserID: ids[(b*100+i)%len(ids)], LineItemID: fmt.Sprintf("50000%05d", (i%100)*10), Time: time.Now().UnixMilli()})
		}
		body, _ := json.Marshal(edge.Batch{Events: ev})
		batches = append(batches, body)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	run := func(replicas int) (float64, time.Duration, time.Duration) {
		rate, p50, p99, err := load(clients, d, func(c, i int) error {
			res, err := client.Post(bases[c%replicas]+"/events", "text/plain", bytes.NewReader(batches[(c*31+i)%len(batches)]))
			if err != nil {
				return err
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusNoContent {
				return fmt.Errorf("events: status %d", res.StatusCode)
			}
			return nil
		})
		must(t, err)
		return rate * 100, p50, p99
	}
	before := usedMemory(first)
	one, one50, one99 := run(1)
	two, two50, two99 := run(2)
	n, err := first.Redis().Redis().DBSize(ctx).Result()
	must(t, err)
	used := usedMemory(first) - before
	stats, err := first.Redis().Redis().Info(ctx, "commandstats").Result()
	must(t, err)
	for _, l := range strings.Split(stats, "\r\n") {
		if strings.HasPrefix(l, "cmdstat_") {
			t.Logf("redis %s", l)
		}
	}
	// The same load on one replica with the default counters (journal files), for comparison.
	srv, _ := benchEdgeWith(t, users, func(o *edgehttp.Options) { o.CounterDir = t.TempDir() })
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); srv.Close() })
	bases = []string{hs.URL + "/edge/v1/" + benchPublisher}
	file, file50, file99 := run(1)
	load, _ := os.ReadFile("/proc/loadavg")
	t.Logf("%d users, %d clients, %v each, GOMAXPROCS %d, load average %s", users, clients, d, runtime.GOMAXPROCS(0), strings.TrimSpace(string(load)))
	t.Logf("one replica:  %.0f impressions/s (batches of 100), p50 %v, p99 %v per batch", one, one50, one99)
	t.Logf("two replicas: %.0f impressions/s (batches of 100), p50 %v, p99 %v per batch", two, two50, two99)
	t.Logf("file journal: %.0f impressions/s (batches of 100), p50 %v, p99 %v per batch (one replica, no Redis)", file, file50, file99)
	t.Logf("redis: %d keys, used_memory grew by %d bytes: %.0f bytes per key", n, used, float64(used)/float64(n))
	if down := first.Redis().Down(); down {
		t.Fatal("Redis went down during the measurement")
	}
}
