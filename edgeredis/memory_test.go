package edgeredis_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom/edge"
	"github.com/cleanroom-oss/cleanroom/edgeredis"
	"github.com/cleanroom-oss/cleanroom/redistest"
)

// TestBytesPerCounter measures Redis's memory per counter (docs/BENCHMARKS.md): 200,000
// counters below their cap, then the same number reaching it (a counter and its capped-hash
// entry). A measurement: it runs with CLEANROOM_BENCH_REDIS=1.
//
//	CLEANROOM_BENCH_REDIS=1 go test -run TestBytesPerCounter -v ./edgeredis
func TestBytesPerCounter(t *testing.T) {
	if os.Getenv("CLEANROOM_BENCH_REDIS") != "1" {
		t.Skip("a measurement: set CLEANROOM_BENCH_REDIS=1")
	}
	srv := redistest.Start(t, redistest.Options{})
	now := time.Now()
	cl, err := edgeredis.Open(edgeredis.Options{URL: srv.URL(0)})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	k := cl.Counter(pub)
	ctx := context.Background()
	used := func() int64 {
		s, err := cl.Redis().Info(ctx, "memory").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(s, "\r\n") {
			if v, ok := strings.CutPrefix(l, "used_memory:"); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				return n
			}
		}
		return 0
	}
	const n = 200_000
	w := edge.WindowOf(edge.Day, now, time.UTC)
	for _, c := range []struct {
		name  string
		code  uint32
		limit uint32
	}{{"below the cap", 1, 1000}, {"reaching the cap", 2, 1}} {
		before := used()
		hits := make([]edge.Hit, 0, 500)
		for u := range n {
			hits = append(hits, edge.Hit{User: uint64(u)*0x9e3779b97f4a7c15 + 1, Code: c.code, Window: w, Limit: c.limit})
			if len(hits) == cap(hits) {
				if err := k.Add(hits, now, time.UTC); err != nil {
					t.Fatal(err)
				}
				hits = hits[:0]
			}
		}
		t.Logf("%d counters %s: %.0f bytes each (used_memory)", n, c.name, float64(used()-before)/n)
	}
}
