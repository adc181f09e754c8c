package edgehttp_test

// The loopback measurement of docs/BENCHMARKS.md: the edge's targeting route over HTTP on
// 127.0.0.1 against Redis GET of the same keys (Debian's redis-server, started here), with the
// same Go load client, and the rate of impressions the events route counts with caps applied. It
// is a measurement, not a timed test: it runs only with CLEANROOM_BENCH_LOOPBACK=1 and reports
// its figures with t.Log.
//
//	CLEANROOM_BENCH_LOOPBACK=1 go test -run TestLoopbackVersusRedis -v -timeout 10m ./edgehttp
//
// The edge process serves with the edge's own loop (HTTPServer); CLEANROOM_BENCH_EDGE_NETHTTP=1
// serves it with net/http as before, for comparison; CLEANROOM_BENCH_EDGE_CPUPROFILE=<file>
// writes the edge process's CPU profile of the targeting load (and skips the events).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
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

const benchPublisher = "01900000-0000-7000-8000-00000000beef"

// benchEdge publishes a snapshot of users users, each in 3 of 1,000 cohorts, every 10th cohort
// capped at 3 a day through line item 50000000<nn>, and returns the edge serving it.
func benchEdge(t testing.TB, users int) (*edgehttp.Server, []string) {
	t.Helper()
	return edgeWith(t, users, nil, nil)
}

// benchEdgeWith is benchEdge with the server's options changed by opt.
func benchEdgeWith(t testing.TB, users int, opt func(*edgehttp.Options)) (*edgehttp.Server, []string) {
	t.Helper()
	return edgeWith(t, users, nil, opt)
}

// newEdge is benchEdge with the origins the publisher lists.
func newEdge(t testing.TB, users int, origins []string) (*edgehttp.Server, []string) {
	t.Helper()
	return edgeWith(t, users, origins, nil)
}

// edgeWith builds the benchmark's edge with the publisher's origins and the server's options
// changed by opt.
func edgeWith(t testing.TB, users int, origins []string, opt func(*edgehttp.Options)) (*edgehttp.Server, []string) {
	t.Helper()
	ctx := context.Background()
	userKey := bytes.Repeat([]byte{7}, pubsync.UserKeySize)
	h, err := pubsync.NewUserHasher(userKey)
	must(t, err)
	ids := make([]string, users)
	type pair struct {
		k uint64
		o uint32
	}
	pairs := make([]pair, users)
	r := rand.New(rand.NewPCG(1, 2))
	members := make([][]uint32, 1000)
	for o := range users {
		ids[o] = fmt.Sprintf("user-%08d-%x", o, r.Uint64())
		pairs[o] = pair{h.Hash(ids[o]), uint32(o)}
		for range 3 {
			c := r.IntN(1000)
			members[c] = append(members[c], uint32(o))
		}
	}
	slices.SortFunc(pairs, func(a, b pair) int {
		if a.k < b.k {
			return -1
		}
		return 1
	})
	in := edge.Input{Users: uint32(users), UserKeys: make([]uint64, users), UserOrds: make([]uint32, users)}
	for i, p := range pairs {
		in.UserKeys[i], in.UserOrds[i] = p.k, p.o
	}
	m := &activation.Manifest{PublisherID: benchPublisher, Digest: "bench", GAMKey: "crc", XandrKey: "crc", DataName: "cleanroom",
		TimeZone: "Europe/Paris", LineItems: map[string]uint32{}, Origins: origins, UIDCookie: "planet_uid"}
	for c := range 1000 {
		bm := roaring.New()
		bm.AddMany(members[c])
		in.Cohorts = append(in.Cohorts, edge.ServedCohort{Code: uint32(100001 + c), Members: bm})
		if c%10 == 0 {
			m.Caps = append(m.Caps, activation.ManifestCap{Code: uint32(100001 + c), Limit: 3, Period: "day"})
			m.LineItems[fmt.Sprintf("50000%05d", c)] = uint32(100001 + c)
		}
	}
	snap, err := edge.Build(in)
	must(t, err)
	vs := versions.New(nil, memblob.New(), keyring.Generate(), nil)
	f, err := vs.PutFile(ctx, versions.SnapshotOwner(benchPublisher), "1", snap.Write)
	must(t, err)
	m.SnapshotKey, m.WrappedKey = f.Key, f.WrappedKey
	b, err := json.Marshal(m)
	must(t, err)
	_, err = vs.Blobs.Put(ctx, activation.ManifestKey(benchPublisher), bytes.NewReader(b))
	must(t, err)
	o := edgehttp.Options{Versions: vs, UserKey: userKey, EventBurst: 1 << 30, EventInterval: time.Nanosecond}
	if opt != nil {
		opt(&o)
	}
	srv, err := edgehttp.New(o)
	must(t, err)
	must(t, srv.Load(ctx))
	return srv, ids
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// load runs clients goroutines, each calling do in a loop for d, and returns the calls per
// second and the latency percentiles.
func load(clients int, d time.Duration, do func(client, i int) error) (rate float64, p50, p99 time.Duration, err error) {
	var tl tally
	if err := tl.load(clients, d, 0, do); err != nil {
		return 0, 0, 0, err
	}
	return tl.result()
}

// tally gathers the latencies and the time of one side's rounds.
type tally struct {
	lat     []time.Duration
	elapsed time.Duration
}

// load runs clients goroutines, each calling do(client, from+i) in a loop for d, and adds
// their calls to the tally.
func (tl *tally) load(clients int, d time.Duration, from int, do func(client, i int) error) error {
	var wg sync.WaitGroup
	lat := make([][]time.Duration, clients)
	var firstErr atomic.Value
	stop := time.Now().Add(d)
	start := time.Now()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := from; ; i++ {
				t0 := time.Now()
				if t0.After(stop) {
					return
				}
				if err := do(c, i); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	tl.elapsed += time.Since(start)
	for _, l := range lat {
		tl.lat = append(tl.lat, l...)
	}
	if e, ok := firstErr.Load().(error); ok {
		return e
	}
	return nil
}

// result returns the calls per second and the latency percentiles.
func (tl *tally) result() (rate float64, p50, p99 time.Duration, err error) {
	all := tl.lat
	slices.Sort(all)
	if len(all) == 0 {
		return 0, 0, 0, fmt.Errorf("no calls")
	}
	return float64(len(all)) / tl.elapsed.Seconds(), all[len(all)/2], all[len(all)*99/100], nil
}

// loadAverage returns the machine's load averages (/proc/loadavg), "" where there are none.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// redis starts Debian's redis-server on a free port and returns its address.
func redis(t *testing.T) string {
	t.Helper()
	return redistest.Start(t, redistest.Options{}).Addr
}

// resp writes a RESP command.
func resp(w *bufio.Writer, args ...string) {
	fmt.Fprintf(w, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(w, "$%d\r\n%s\r\n", len(a), a)
	}
}

// readReply reads one RESP reply (simple string, error, or bulk string) and discards it.
func readReply(r *bufio.Reader) error {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return err
	}
	switch line[0] {
	case '+', ':':
		return nil
	case '-':
		return fmt.Errorf("redis: %s", line)
	case '$':
		n, _ := strconv.Atoi(string(bytes.TrimSpace(line[1:])))
		if n < 0 {
			return nil
		}
		_, err = r.Discard(n + 2)
		return err
	}
	return fmt.Errorf("redis: unexpected reply %q", line)
}

// readHTTP reads one HTTP/1.1 response with a Content-Length and discards it.
func readHTTP(r *bufio.Reader) error {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 200")) {
		return fmt.Errorf("status line %q", line)
	}
	n := -1
	for {
		line, err = r.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		if k, v, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(k, []byte("Content-Length")) {
			n, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
	if n < 0 {
		return fmt.Errorf("no Content-Length")
	}
	_, err = r.Discard(n)
	return err
}

// TestEdgeServerProcess is the edge process of TestLoopbackVersusRedis and TestEdgeReplicas: it
// serves the benchmark snapshot until killed, having written its address to
// $CLEANROOM_BENCH_EDGE_SERVE; with $CLEANROOM_BENCH_EDGE_REDIS (a redis:// URL) its frequency
// counters live in that Redis, as with cleanroom edge --redis.
func TestEdgeServerProcess(t *testing.T) {
	file := os.Getenv("CLEANROOM_BENCH_EDGE_SERVE")
	if file == "" {
		t.Skip("the edge process of TestLoopbackVersusRedis")
	}
	users, _ := strconv.Atoi(os.Getenv("CLEANROOM_BENCH_EDGE_USERS"))
	srv, _ := benchEdgeWith(t, users, func(o *edgehttp.Options) {
		if url := os.Getenv("CLEANROOM_BENCH_EDGE_REDIS"); url != "" {
			o.Redis = edgeredis.Options{URL: url} // counters shared with the other replicas (TestEdgeReplicas)
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	if prof := os.Getenv("CLEANROOM_BENCH_EDGE_CPUPROFILE"); prof != "" {
		f, err := os.Create(prof)
		must(t, err)
		must(t, pprof.StartCPUProfile(f))
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, os.Interrupt)
		go func() {
			<-stop
			pprof.StopCPUProfile()
			f.Close()
			os.Exit(0)
		}()
	}
	must(t, os.WriteFile(file+".tmp", []byte(ln.Addr().String()), 0o600))
	must(t, os.Rename(file+".tmp", file))
	if os.Getenv("CLEANROOM_BENCH_EDGE_NETHTTP") == "1" {
		http.Serve(ln, edgeMux(srv)) // the path before the edge's own loop, for comparison
		return
	}
	srv.NewHTTPServer(edgehttp.LoopOptions{Fallback: edgeMux(srv)}).Serve(ln)
}

// startEdgeProcess runs this test's binary again as TestEdgeServerProcess, serving the benchmark
// snapshot of users users (its counters in the Redis at redisURL, if any), and returns the
// process and its address; the process is killed when the test ends.
func startEdgeProcess(t *testing.T, users int, redisURL string) (*exec.Cmd, string) {
	t.Helper()
	addrFile := t.TempDir() + "/addr"
	cmd := exec.Command(os.Args[0], "-test.run=^TestEdgeServerProcess$")
	cmd.Env = append(os.Environ(), "CLEANROOM_BENCH_EDGE_SERVE="+addrFile, fmt.Sprintf("CLEANROOM_BENCH_EDGE_USERS=%d", users),
		"CLEANROOM_BENCH_EDGE_REDIS="+redisURL)
	cmd.Stderr = os.Stderr
	must(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for range 1200 {
		if b, err := os.ReadFile(addrFile); err == nil && len(b) > 0 {
			return cmd, string(b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("the edge process did not start")
	return nil, ""
}

// TestLoopbackVersusRedis measures, in one run, the edge over loopback HTTP and Redis GET of the
// same keys with the same client, then the events route's ingestion rate.
func TestLoopbackVersusRedis(t *testing.T) {
	if os.Getenv("CLEANROOM_BENCH_LOOPBACK") != "1" {
		t.Skip("a measurement: set CLEANROOM_BENCH_LOOPBACK=1")
	}
	users, clients, d := 1_000_000, 32, 10*time.Second
	if n, _ := strconv.Atoi(os.Getenv("CLEANROOM_BENCH_EDGE_USERS")); n > 0 {
		users = n
	}
	if n, _ := strconv.Atoi(os.Getenv("CLEANROOM_BENCH_CLIENTS")); n > 0 {
		clients = n
	}
	srv, ids := benchEdge(t, users)
	// The edge serves from a process of its own, as redis-server does: this test's binary again,
	// running TestEdgeServerProcess with the same snapshot.
	cmd, edgeAddr := startEdgeProcess(t, users, "")
	base := "http://" + edgeAddr + "/edge/v1/" + benchPublisher
	probe := func(c, i int) string { return ids[(c*7919+i*104729)%len(ids)] }

	// Redis holds, per user, the same answer bytes the edge sends.
	addr := redis(t)
	conn, err := net.Dial("tcp", addr)
	must(t, err)
	bw, br := bufio.NewWriterSize(conn, 1<<20), bufio.NewReader(conn)
	e := srv.Engine(benchPublisher)
	f := edge.Format{GAMKey: "crc", XandrKey: "crc", Name: "cleanroom"}
	var codes []uint32
	for i, id := range ids {
		codes = e.DecideUser(id, time.Now(), codes[:0])
		resp(bw, "SET", "u:"+id, string(edge.AppendAnswer(nil, &f, codes)))
		if i%10000 == 9999 || i == len(ids)-1 {
			must(t, bw.Flush())
			for range i%10000 + 1 {
				must(t, readReply(br))
			}
		}
	}
	conn.Close()

	// The same kind of client for both: one keep-alive connection per client, a request written
	// and its answer read whole before the next (HTTP/1.1 here, RESP for Redis).
	hc := make([]struct {
		w *bufio.Writer
		r *bufio.Reader
	}, clients)
	for c := range hc {
		nc, err := net.Dial("tcp", edgeAddr)
		must(t, err)
		defer nc.Close()
		hc[c].w, hc[c].r = bufio.NewWriter(nc), bufio.NewReader(nc)
	}
	conns := make([]struct {
		w *bufio.Writer
		r *bufio.Reader
	}, clients)
	for c := range conns {
		nc, err := net.Dial("tcp", addr)
		must(t, err)
		defer nc.Close()
		conns[c].w, conns[c].r = bufio.NewWriter(nc), bufio.NewReader(nc)
	}
	path := "/edge/v1/" + benchPublisher + "/targeting?uid="
	edgeGet := func(c, i int) error {
		fmt.Fprintf(hc[c].w, "GET %s%s HTTP/1.1\r\nHost: edge\r\n\r\n", path, probe(c, i))
		if err := hc[c].w.Flush(); err != nil {
			return err
		}
		return readHTTP(hc[c].r)
	}
	redisGet := func(c, i int) error {
		resp(conns[c].w, "GET", "u:"+probe(c, i))
		if err := conns[c].w.Flush(); err != nil {
			return err
		}
		return readReply(conns[c].r)
	}
	// The two sides take turns, rounds short rounds each, so that a change in the machine's
	// load falls on both alike.
	rounds := 5
	if n, _ := strconv.Atoi(os.Getenv("CLEANROOM_BENCH_ROUNDS")); n > 0 {
		rounds = n
	}
	loadBefore := loadAverage()
	var edgeT, redisT tally
	for r := range rounds {
		must(t, edgeT.load(clients, d/time.Duration(rounds), r<<20, edgeGet))
		must(t, redisT.load(clients, d/time.Duration(rounds), r<<20, redisGet))
	}
	loadAfter := loadAverage()
	if os.Getenv("CLEANROOM_BENCH_EDGE_CPUPROFILE") != "" {
		// The edge process writes its profile and exits.
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}
	edgeRate, edge50, edge99, err := edgeT.result()
	must(t, err)
	redisRate, redis50, redis99, err := redisT.result()
	must(t, err)
	t.Logf("%d users, %d clients, %v each in %d alternating rounds, GOMAXPROCS %d; each server in its own process, the load client in this one",
		users, clients, d, rounds, runtime.GOMAXPROCS(0))
	t.Logf("load average before %s, after %s", loadBefore, loadAfter)
	t.Logf("edge HTTP targeting: %.0f lookups/s, p50 %v, p99 %v", edgeRate, edge50, edge99)
	t.Logf("redis GET:           %.0f gets/s, p50 %v, p99 %v", redisRate, redis50, redis99)
	t.Logf("ratio edge/redis: %.2f", edgeRate/redisRate)
	if os.Getenv("CLEANROOM_BENCH_EDGE_CPUPROFILE") != "" {
		return
	}

	// Events: batches of 100 impressions of capped line items, as text/plain.
	var batches [][]byte
	for b := range 64 {
		var ev []edge.Event
		for i := range 100 {
			ev = append(ev, edge.Event{UserID: ids[(b*100+i)%len(ids)], LineItemID: fmt.Sprintf("50000%05d", (i%100)*10), Time: time.Now().UnixMilli()})
		}
		body, _ := json.Marshal(edge.Batch{Events: ev})
		batches = append(batches, body)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	evRate, ev50, ev99, err := load(8, 5*time.Second, func(c, i int) error {
		res, err := client.Post(base+"/events", "text/plain", bytes.NewReader(batches[(c+i)%len(batches)]))
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
	t.Logf("events over HTTP: %.0f impressions/s (%.0f batches of 100/s), p50 %v, p99 %v per batch", evRate*100, evRate, ev50, ev99)
}
