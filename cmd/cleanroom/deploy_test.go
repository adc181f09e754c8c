package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/accounts"
	"github.com/cleanroom-oss/cleanroom/app"
	"github.com/cleanroom-oss/cleanroom/client"
	"github.com/cleanroom-oss/cleanroom/ingest"
	"github.com/cleanroom-oss/cleanroom/keyring"
	"github.com/cleanroom-oss/cleanroom/pipeline"
	"github.com/cleanroom-oss/cleanroom/postgres"
	"github.com/cleanroom-oss/cleanroom/pubsync"
	"github.com/cleanroom-oss/cleanroom/synth"
	"github.com/cleanroom-oss/cleanroom/uploads"
)

// deployment is a multi-process deployment of the built binary on this machine: one PostgreSQL
// database, one blob directory and one master key file shared by every process, each process with
// a data directory of its own (temporary files, edge counters) whose blobs/ links to the shared one.
type deployment struct {
	t              testing.TB
	bin, dir, dsn  string
	keyFile, blobs string
	mu             sync.Mutex
	procs          []*proc
}

// proc is one process of the deployment.
type proc struct {
	name, addr, data string
	cmd              *exec.Cmd
	log              string
}

// start runs the binary with args (serve or edge) in a data directory of its own and waits until
// it answers /healthz.
func (d *deployment) start(name string, args ...string) *proc {
	d.t.Helper()
	p := &proc{name: name, addr: freePort(d.t), data: filepath.Join(d.dir, name)}
	if err := os.MkdirAll(p.data, 0o700); err != nil {
		d.t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(p.data, "blobs")); os.IsNotExist(err) {
		if err := os.Symlink(d.blobs, filepath.Join(p.data, "blobs")); err != nil {
			d.t.Fatal(err)
		}
	}
	p.log = filepath.Join(d.dir, name+".log")
	lf, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		d.t.Fatal(err)
	}
	defer lf.Close()
	p.cmd = exec.Command(d.bin, append(args, "--data", p.data, "--addr", p.addr, "--database", d.dsn, "--log-level", "info")...)
	p.cmd.Env = append(os.Environ(), "CLEANROOM_MASTER_KEY_FILE="+d.keyFile)
	p.cmd.Stdout, p.cmd.Stderr = lf, lf
	if err := p.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	d.mu.Lock()
	d.procs = append(d.procs, p)
	d.mu.Unlock()
	deadline := time.Now().Add(time.Minute)
	for {
		if res, err := http.Get("http://" + p.addr + "/healthz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("%s did not start:\n%s", name, tail(p.log))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill ends p with SIGKILL: no graceful shutdown, leases left to expire.
func (d *deployment) kill(p *proc) {
	d.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		d.t.Fatal(err)
	}
	p.cmd.Wait()
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// waitFor polls cond until it holds (a bound on a wait, not a timed assertion).
func (d *deployment) waitFor(what string, limit time.Duration, cond func() bool) {
	d.t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			var logs strings.Builder
			for _, p := range d.procs {
				fmt.Fprintf(&logs, "--- %s\n%s\n", p.name, tail(p.log))
			}
			d.t.Fatalf("gave up waiting for %s\n%s", what, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// codes asks an edge for a user's GAM codes; ok is false when the edge did not answer.
func codesAt(addr, publisherID, uid string) (codes []string, ok bool) {
	res, err := http.Get("http://" + addr + "/edge/v1/" + publisherID + "/targeting?uid=" + url.QueryEscape(uid))
	if err != nil {
		return nil, false
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return nil, false
	}
	var a struct {
		GAM map[string][]string `json:"gam"`
	}
	if json.Unmarshal(b, &a) != nil {
		return nil, false
	}
	for _, v := range a.GAM {
		codes = append(codes, v...)
	}
	slices.Sort(codes)
	return codes, true
}

// TestMultiProcessDeployment runs the deployment that grows past one process, with the binary
// built from this tree: one api process, two workers and two edges (`cleanroom edge --database`,
// whose poll is an hour so that only PostgreSQL's NOTIFY brings them new snapshots) on one
// PostgreSQL database. It uploads and builds cohorts through the API, kills the worker running an
// ingest with SIGKILL (the other takes the job over after its lease), kills an edge under load
// and publishes a new snapshot while it is down; every job then has succeeded once, the data
// source's versions are exactly its two uploads' (none lost, none resurrected), and both edges
// serve the same codes to every user after the swap.
//
// It needs $CLEANROOM_TEST_POSTGRES (.ci/run sets it) and skips without it, except under CI.
func TestMultiProcessDeployment(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts five processes")
	}
	if os.Getenv(postgres.TestDSNEnv) == "" && os.Getenv("CI") != "" {
		t.Fatalf("CI without %s: the multi-process test must run", postgres.TestDSNEnv)
	}
	cfg := postgres.TestSchema(t) // skips without $CLEANROOM_TEST_POSTGRES
	dsn := os.Getenv(postgres.TestDSNEnv)
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	dsn += sep + "search_path=" + cfg.RuntimeParams["search_path"]
	ctx := context.Background()
	dir := t.TempDir()
	d := &deployment{t: t, dir: dir, dsn: dsn, bin: filepath.Join(dir, "cleanroom"), blobs: filepath.Join(dir, "shared-blobs"), keyFile: filepath.Join(dir, "secrets", "master.key")}
	t.Cleanup(func() {
		for _, p := range d.procs {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	})
	build := exec.Command("go", "build", "-o", d.bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if err := keyring.Generate().WriteFile(d.keyFile); err != nil {
		t.Fatal(err)
	}

	// The setup an operator does with the admin commands, in-process on the same database: a
	// publisher with an audience, an advertiser with two data sources, a connection.
	setupDir := filepath.Join(dir, "setup")
	os.MkdirAll(setupDir, 0o700)
	if err := os.Symlink(d.blobs, filepath.Join(setupDir, "blobs")); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(d.blobs, 0o700)
	m := app.NewMain()
	m.Config.DataDir, m.Config.Database, m.Config.MasterKeyFile, m.Config.Role = setupDir, dsn, d.keyFile, app.RoleAPI
	m.Logger = slog.New(slog.DiscardHandler)
	if err := m.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ds1, token := advertiserSetup(t, m)
	caller, err := m.Accounts.Authenticate(ctx, accounts.Credentials{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	ds2, err := m.Connections.CreateDataSource(ctx, caller, "Web shop", "")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := m.Accounts.CreateOrg(ctx, "Daily Planet", cleanroom.OrgPublisher)
	if err == nil {
		_, err = m.Accounts.RecordDPA(ctx, pub.ID, time.Time{})
	}
	if err == nil {
		pub, err = m.Accounts.EnableCleanRoom(ctx, pub.ID)
	}
	if err != nil {
		t.Fatal(err)
	}
	const users = 3000
	u, err := synth.NewUniverse(synth.UniverseConfig{Seed: 5, Users: users, Cohorts: 10})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	u.WriteTaxonomy(&buf)
	ptax, _, err := pubsync.ParseTaxonomy(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if err := pipeline.PutPublisherTaxonomy(ctx, m.Store, pub.ID, ptax, time.Now()); err != nil {
		t.Fatal(err)
	}
	conn, _, err := m.Connections.CreateConnection(ctx, pub.ID, caller.Org.ID, cleanroom.Permissions{MatchedCohorts: true})
	if err != nil {
		t.Fatal(err)
	}
	pubAdmin := cleanroom.NewCaller(pub.ID, cleanroom.RoleAdmin)
	if _, err := m.Activation.PutSettings(ctx, pubAdmin, cleanroom.AdServerSettings{GAMKey: "crc", XandrKey: "crx"}); err != nil {
		t.Fatal(err)
	}

	// The deployment: one api, two workers, two edges.
	api := d.start("api", "serve", "--role", "api")
	serveWorker := func(name string) *proc {
		return d.start(name, "serve", "--role", "worker", "--workers", "2", "--job-lease", "3s", "--periodic-lease", "3s", "--cohort-refresh", "1s", "--edge-refresh", "1s")
	}
	workers := []*proc{serveWorker("worker1"), serveWorker("worker2")}
	startEdge := func(name string) *proc {
		return d.start(name, "edge", "--edge-refresh", "1h", "--edge-counters", filepath.Join(dir, name, "counters"))
	}
	edges := []*proc{startEdge("edge1"), startEdge("edge2")}
	cl := client.New("http://"+api.addr, token)

	// The publisher's audience (queued here, processed by a worker).
	buf.Reset()
	u.WriteProfiles(&buf, synth.WriteOptions{})
	up, err := m.Uploads.Begin(ctx, uploads.Spec{OrgID: pub.ID, Target: cleanroom.UploadPublisher, TargetID: pub.ID, Name: "profiles.tsv", Size: int64(buf.Len())})
	if err == nil {
		up, err = m.Uploads.WritePart(ctx, up, 0, bytes.NewReader(buf.Bytes()), "")
	}
	if err == nil {
		up, err = m.Uploads.Complete(ctx, up)
	}
	if err != nil {
		t.Fatal(err)
	}
	uploadState := func(id string) cleanroom.UploadState {
		got, err := m.Store.FindUpload(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got.State == cleanroom.UploadFailed {
			t.Fatalf("upload %s failed: %s", id, got.Error)
		}
		return got.State
	}
	d.waitFor("the audience", 2*time.Minute, func() bool { return uploadState(up.ID) == cleanroom.UploadProcessed })

	// Advertiser files through the API.
	send := func(dsID, name string, data []byte) *cleanroom.Upload {
		u := beginUpload(t, cl, dsID, name, data)
		u, err := cl.CompleteUpload(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	ad, err := synth.NewAdvertiser(u, synth.AdvertiserConfig{Seed: 3, Rows: users / 2, Overlap: 0.8})
	if err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	ad.WriteTaxonomy(&buf)
	atax, _, err := ingest.ParseTaxonomy(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if err := pipeline.PutDataSourceTaxonomy(ctx, m.Store, ds1, atax, time.Now()); err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	ad.WriteData(&buf, synth.WriteOptions{})
	crm := send(ds1, "crm.tsv", buf.Bytes())
	if err := cl.PutTaxonomy(ctx, ds2.ID, strings.NewReader("segment_id,segment_name\ns1,One\ns2,Two\n")); err != nil {
		t.Fatal(err)
	}
	small := send(ds2.ID, "small.tsv", mustRead(t, writeDataFile(t, dir, 1000, "first")))
	d.waitFor("the first uploads", 2*time.Minute, func() bool {
		return uploadState(crm.ID) == cleanroom.UploadProcessed && uploadState(small.ID) == cleanroom.UploadProcessed
	})

	// A large ingest; the worker running it is killed, the other takes it over after the lease.
	big := send(ds2.ID, "big.tsv", mustRead(t, writeDataFile(t, dir, 1_000_000, "second")))
	var victim *proc
	d.waitFor("the large ingest to run", 2*time.Minute, func() bool {
		j, err := m.Store.FindJob(ctx, big.JobID)
		if err != nil {
			t.Fatal(err)
		}
		if j.State != cleanroom.JobRunning {
			return false
		}
		for _, w := range workers {
			if strings.Contains(j.LeaseOwner, ":"+strconv.Itoa(w.cmd.Process.Pid)+":") {
				victim = w
			}
		}
		return victim != nil
	})
	d.kill(victim)
	t.Logf("killed %s (pid %d) during the ingest", victim.name, victim.cmd.Process.Pid)
	d.waitFor("the large ingest to be taken over", 3*time.Minute, func() bool {
		j, err := m.Store.FindJob(ctx, big.JobID)
		return err == nil && j.State != cleanroom.JobRunning && j.State != cleanroom.JobQueued
	})
	j, err := m.Store.FindJob(ctx, big.JobID)
	if err != nil || j.Attempt < 2 || j.State != cleanroom.JobSucceeded || uploadState(big.ID) != cleanroom.UploadProcessed {
		t.Fatalf("the large ingest's job after the kill: %+v %v", j, err)
	}
	smallDone, _ := m.Store.FindUpload(ctx, small.ID)
	bigDone, _ := m.Store.FindUpload(ctx, big.ID)
	vs, err := m.Store.ListVersions(ctx, ds2.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range vs {
		got = append(got, v.ID)
	}
	if want := []string{bigDone.VersionID, smallDone.VersionID}; !slices.Equal(got, want) {
		t.Fatalf("versions of the data source %v, want the two uploads' %v", got, want)
	}
	if cur, err := m.Store.CurrentVersion(ctx, ds2.ID); err != nil || cur.ID != bigDone.VersionID {
		t.Fatalf("current version %+v %v, want the large upload's", cur, err)
	}
	survivor := workers[0]
	if survivor == victim {
		survivor = workers[1]
	}

	// Cohorts through the API, served at both edges.
	newCohort := func(name string) int64 {
		var co cleanroom.Cohort
		if _, err := cl.Do(ctx, "POST", "/v1/cohorts", map[string]any{"name": name, "kind": "matched", "connections": []string{conn.ID},
			"query": cleanroom.CohortQuery{Op: cleanroom.OpAny, Conditions: []cleanroom.Condition{{DataSource: ds1}}}}, &co, nil); err != nil {
			t.Fatal(err)
		}
		d.waitFor("cohort "+name+" to be active", 2*time.Minute, func() bool {
			c, err := m.Store.FindCohort(ctx, co.ID)
			if err != nil || c.Status == cleanroom.CohortFailed {
				t.Fatalf("cohort %s: %+v %v", name, c, err)
			}
			return c.Status == cleanroom.CohortActive
		})
		if _, err := m.Activation.SetSwitches(ctx, pubAdmin, co.ID, conn.ID, cleanroom.ActivationSwitches{Direct: true}); err != nil {
			t.Fatal(err)
		}
		c, _ := m.Store.FindCohort(ctx, co.ID)
		return c.Targets[0].Code
	}
	code1 := newCohort("CRM")
	sample := make([]string, 400)
	for i := range sample {
		sample[i] = synth.UserID(i)
	}
	serves := func(e *proc, code int64) bool {
		for _, uid := range sample {
			if c, _ := codesAt(e.addr, pub.ID, uid); slices.Contains(c, strconv.FormatInt(code, 10)) {
				return true
			}
		}
		return false
	}
	for _, e := range edges {
		d.waitFor(e.name+" to serve the first cohort", 2*time.Minute, func() bool { return serves(e, code1) })
	}

	// Load on both edges; edge1 is killed under it and a new snapshot is published meanwhile.
	var stop atomic.Bool
	var loadErrs [2]atomic.Int64
	var loadOK [2]atomic.Int64
	var wg sync.WaitGroup
	for i, e := range edges {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; !stop.Load(); n++ {
				if _, ok := codesAt(e.addr, pub.ID, sample[n%len(sample)]); ok {
					loadOK[i].Add(1)
				} else {
					loadErrs[i].Add(1)
				}
			}
		}()
	}
	d.waitFor("load on both edges", time.Minute, func() bool { return loadOK[0].Load() > 100 && loadOK[1].Load() > 100 })
	d.kill(edges[0])
	code2 := newCohort("CRM again")
	d.waitFor("edge2 to load the new snapshot (NOTIFY)", 2*time.Minute, func() bool { return serves(edges[1], code2) })
	stop.Store(true)
	wg.Wait()
	if loadErrs[1].Load() != 0 {
		t.Errorf("edge2 failed %d of %d requests while edge1 died", loadErrs[1].Load(), loadOK[1].Load()+loadErrs[1].Load())
	}
	edges[0] = startEdge("edge1")
	for _, uid := range sample {
		a, ok1 := codesAt(edges[0].addr, pub.ID, uid)
		b, ok2 := codesAt(edges[1].addr, pub.ID, uid)
		if !ok1 || !ok2 || !slices.Equal(a, b) {
			t.Fatalf("user %s: edge1 %v (%v), edge2 %v (%v); want the same codes\n%s", uid, a, ok1, b, ok2, tail(edges[0].log))
		}
	}
	if !serves(edges[0], code2) || !serves(edges[0], code1) {
		t.Fatal("the restarted edge does not serve both cohorts")
	}

	// Every job succeeded, once: none failed, none left, none repeated for one upload or build.
	d.waitFor("the queue to drain", time.Minute, func() bool {
		counts, err := m.Store.CountJobs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, byState := range counts {
			if byState[cleanroom.JobQueued]+byState[cleanroom.JobRunning] > 0 {
				return false
			}
		}
		return true
	})
	jobs, _, err := m.Store.ListJobs(ctx, cleanroom.JobFilter{Page: cleanroom.Page{Limit: cleanroom.MaxPageLimit}})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, j := range jobs {
		kinds[j.Kind]++
		if j.State != cleanroom.JobSucceeded {
			t.Errorf("job %d (%s) %s: %s", j.ID, j.Kind, j.State, j.LastError)
		}
	}
	if kinds["ingest.data_source"] != 3 || kinds["ingest.publisher"] != 1 {
		t.Errorf("jobs by kind %v; want one per upload", kinds)
	}
	t.Logf("jobs by kind %v; edge load: edge1 %d answered before its kill, edge2 %d answered, 0 failed; survivor %s", kinds, loadOK[0].Load(), loadOK[1].Load(), survivor.name)
}

// freePort returns a local address nobody listens on.
func freePort(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// beginUpload sends data for a data source through the API in parts of 32 MiB, without
// completing the upload.
func beginUpload(t testing.TB, cl *client.Client, dsID, name string, data []byte) *cleanroom.Upload {
	t.Helper()
	ctx := context.Background()
	u, err := cl.BeginUpload(ctx, dsID, name, int64(len(data)), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(data); off += 32 << 20 {
		part := data[off:min(off+32<<20, len(data))]
		s := sha256.Sum256(part)
		if _, err := cl.PutPart(ctx, u.ID, int64(off), part, hex.EncodeToString(s[:])); err != nil {
			t.Fatal(err)
		}
	}
	return u
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
