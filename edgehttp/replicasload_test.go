package edgehttp_test

// The measurement of docs/BENCHMARKS.md, "Edge lookups with one and two replicas": the same
// targeting load as TestLoopbackVersusRedis against one edge process, then spread over two edge
// processes serving the same snapshot, their frequency counters shared in one Redis (as with
// cleanroom edge --redis). A measurement, not a timed test: it runs only with
// CLEANROOM_BENCH_REPLICAS=1 and reports its figures with t.Log.
//
//	CLEANROOM_BENCH_REPLICAS=1 go test -run TestEdgeReplicas -v -timeout 10m ./edgehttp
//
// CLEANROOM_BENCH_EDGE_USERS (1,000,000), CLEANROOM_BENCH_CLIENTS (32) and
// CLEANROOM_BENCH_ROUNDS (5) size it as in TestLoopbackVersusRedis.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom/edge"
	"github.com/cleanroom-oss/cleanroom/redistest"
)

// cpuSeconds returns the user and system CPU time of process pid so far (/proc/<pid>/stat).
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // fields from the third (state) on
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	k, _ := strconv.ParseFloat(f[12], 64)
	return (u + k) / 100 // USER_HZ is 100 on Linux
}

// selfCPUSeconds returns this process's CPU time so far.
func selfCPUSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func TestEdgeReplicas(t *testing.T) {
	if os.Getenv("CLEANROOM_BENCH_REPLICAS") != "1" {
		t.Skip("a measurement: set CLEANROOM_BENCH_REPLICAS=1")
	}
	users, clients, rounds, d := 1_000_000, 32, 5, 10*time.Second
	if n, _ := strconv.Atoi(os.Getenv("CLEANROOM_BENCH_EDGE_USERS")); n > 0 {
		users = n
	}
	if n, _ := strconv.Atoi(os.Getenv("CLEANROOM_BENCH_CLIENTS")); n > 0 {
		clients = n
	}
	if n, _ := strconv.Atoi(os.Getenv("CLEANROOM_BENCH_ROUNDS")); n > 0 {
		rounds = n
	}
	rs := redistest.Start(t, redistest.Options{})
	// This process's copy of the snapshot gives the user IDs and each user's codes before any
	// impression; the two edge processes build the same one.
	srv, ids := benchEdge(t, users)
	var pids [2]int
	var addrs [2]string
	for i := range 2 {
		cmd, addr := startEdgeProcess(t, users, rs.URL(0))
		pids[i], addrs[i] = cmd.Process.Pid, addr
	}
	base := func(i int) string { return "http://" + addrs[i] + "/edge/v1/" + benchPublisher }

	// Caps across replicas: users in a capped cohort get 3 impressions of its line item (its cap)
	// through edge 0; edge 1 must then withhold that code from them, having counted none.
	const capped = 2000
	e := srv.Engine(benchPublisher)
	type hit struct {
		uid  string
		code uint32
	}
	var hits []hit
	for i := 0; len(hits) < capped && i < len(ids); i++ {
		for _, c := range e.DecideUser(ids[i], time.Now(), nil) {
			if (c-100001)%10 == 0 {
				hits = append(hits, hit{ids[i], c})
				break
			}
		}
	}
	var evs []edge.Event
	post := func() {
		body, _ := json.Marshal(edge.Batch{Events: evs})
		res, err := http.Post(base(0)+"/events", "text/plain", bytes.NewReader(body))
		must(t, err)
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusNoContent {
			t.Fatalf("events: %s", res.Status)
		}
		evs = evs[:0]
	}
	for _, h := range hits {
		for range 3 {
			evs = append(evs, edge.Event{UserID: h.uid, LineItemID: fmt.Sprintf("50000%05d", h.code-100001), Time: time.Now().UnixMilli()})
		}
		if len(evs) >= 99 {
			post()
		}
	}
	if len(evs) > 0 {
		post()
	}
	withheld := func(i int, h hit) bool {
		res, err := http.Get(base(i) + "/targeting?uid=" + h.uid)
		must(t, err)
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return !strings.Contains(string(b), fmt.Sprintf(`"%d"`, h.code))
	}
	last := hits[len(hits)-1]
	for deadline := time.Now().Add(10 * time.Second); !withheld(1, last); {
		if time.Now().After(deadline) {
			t.Fatal("edge 1 still serves a capped code 10 s after edge 0 counted its cap")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, h := range hits {
		for i := range 2 {
			if !withheld(i, h) {
				t.Fatalf("edge %d serves code %d to a user who reached its cap", i, h.code)
			}
		}
	}
	t.Logf("caps: %d users took their cap of a cohort through edge 0; both edges withhold it from all of them", len(hits))

	// The load: the client of TestLoopbackVersusRedis, every client on edge 0, then the clients
	// spread over both edges (client c on edge c%2), in alternating rounds.
	dial := func(addr string) (w *bufio.Writer, r *bufio.Reader) {
		nc, err := net.Dial("tcp", addr)
		must(t, err)
		t.Cleanup(func() { nc.Close() })
		return bufio.NewWriter(nc), bufio.NewReader(nc)
	}
	type conn struct {
		w *bufio.Writer
		r *bufio.Reader
	}
	one, two := make([]conn, clients), make([]conn, clients)
	for c := range clients {
		one[c].w, one[c].r = dial(addrs[0])
		two[c].w, two[c].r = dial(addrs[c%2])
	}
	probe := func(c, i int) string { return ids[(c*7919+i*104729)%len(ids)] }
	path := "/edge/v1/" + benchPublisher + "/targeting?uid="
	get := func(cs []conn) func(c, i int) error {
		return func(c, i int) error {
			fmt.Fprintf(cs[c].w, "GET %s%s HTTP/1.1\r\nHost: edge\r\n\r\n", path, probe(c, i))
			if err := cs[c].w.Flush(); err != nil {
				return err
			}
			return readHTTP(cs[c].r)
		}
	}
	type side struct {
		tally
		cpu [3]float64 // CPU seconds of edge 0, edge 1 and the load client
	}
	var sides [2]side
	cpu := func() [3]float64 {
		return [3]float64{cpuSeconds(pids[0]), cpuSeconds(pids[1]), selfCPUSeconds()}
	}
	loadBefore := loadAverage()
	for r := range rounds {
		for s, cs := range [][]conn{one, two} {
			before := cpu()
			must(t, sides[s].load(clients, d/time.Duration(rounds), r<<20, get(cs)))
			after := cpu()
			for k := range after {
				sides[s].cpu[k] += after[k] - before[k]
			}
		}
	}
	loadAfter := loadAverage()
	t.Logf("%d users, %d clients, %v per side in %d alternating rounds, GOMAXPROCS %d, %d CPUs; each edge in its own process with its counters in one redis-server, the load client in this one",
		users, clients, d, rounds, runtime.GOMAXPROCS(0), runtime.NumCPU())
	t.Logf("load average before %s, after %s", loadBefore, loadAfter)
	for s, name := range []string{"one edge:  ", "two edges: "} {
		rate, p50, p99, err := sides[s].result()
		must(t, err)
		secs := sides[s].elapsed.Seconds()
		t.Logf("%s %.0f lookups/s, p50 %v, p99 %v; CPU used (cores): edge 0 %.2f, edge 1 %.2f, load client %.2f",
			name, rate, p50, p99, sides[s].cpu[0]/secs, sides[s].cpu[1]/secs, sides[s].cpu[2]/secs)
	}
}
