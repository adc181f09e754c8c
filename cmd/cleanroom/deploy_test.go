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
	"github.com/cleanroom-oss/cleanroom/activation"
	"github.com/cleanroom-oss/cleanroom/app"
	"github.com/cleanroom-oss/cleanroom/client"
	"github.com/cleanroom-oss/cleanroom/ingest"
	"github.com/cleanroom-oss/cleanroom/keyring"
	"github.com/cleanroom-oss/cleanroom/pipeline"
	"github.com/cleanroom-oss/cleanroom/postgres"
	"github.com/cleanroom-oss/cleanroom/pubsync"
	"github.com/cleanroom-oss/cleanroom/redistest"
	"github.com/cleanroom-oss/cleanroom/s3blob/s3test"
	"github.com/cleanroom-oss/cleanroom/synth"
	"github.com/cleanroom-oss/cleanroom/uploads"
)

// deployment is a multi-process deployment of the built binary on this machine: one PostgreSQL
// database, one blob store and one master key file shared by every process, each process with a
// data directory of its own (temporary files, edge counters). The blob store is the bucket
// blobsURL names (s3://bucket/prefix, on the server env's AWS variables name) or, without it,
// the directory blobs, which each process's blobs/ links to.
type deployment struct {
	t              testing.TB
	bin, dir, dsn  string
	keyFile, blobs string
	blobsURL       string
	env            []string
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
	if _, err := os.Lstat(filepath.Join(p.data, "blobs")); os.IsNotExist(err) && d.blobsURL == "" {
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
	args = append(args, "--data", p.data, "--addr", p.addr, "--database", d.dsn, "--log-level", "info")
	if d.blobsURL != "" {
		args = append(args, "--blobs", d.blobsURL)
	}
	p.cmd = exec.Command(d.bin, args...)
	p.cmd.Env = append(append(os.Environ(), "CLEANROOM_MASTER_KEY_FILE="+d.keyFile), d.env...)
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

// TestMultiProcessDeployment runs the deployment that grows past one machine, with the binary
// built from this tree, on the engines it grows on: PostgreSQL (metadata, the job queue, NOTIFY),
// an S3 server (MinIO) holding every bulk file (`--blobs s3://...`, the AWS_* variables), and Redis
// holding the edges' frequency counters. One api process, two workers and two edges (`cleanroom
// edge --blobs s3://... --redis ... --database ...`, each with its own --edge-id, polling only
// every hour so that only PostgreSQL's NOTIFY brings them new snapshots).
//
// Through the API it uploads files and builds cohorts (the advertiser), switches them on and
// enters a deal's line item (the publisher) and caps the cohort (the advertiser). It kills the
// worker running an ingest with SIGKILL (the other takes the job over after its lease), kills an
// edge under load and publishes a new snapshot while it is down. Then: every job has succeeded,
// once; the data source's versions are exactly its two uploads', both in the bucket (none lost,
// none resurrected); both edges serve the same codes to every user after the swap; and a cap of
// capN holds exactly across both edges: capN−1 impressions of a user sent at once, alternately to
// the two edges, leave the code served on both, and the capN-th takes it away on both.
//
// It needs $CLEANROOM_TEST_POSTGRES, the S3 server of $CLEANROOM_TEST_S3_* (package s3test) and
// redis-server (package redistest), which .ci/run provides; without one it skips, except under CI
// or with CLEANROOM_TEST_REQUIRE_S3=1 / CLEANROOM_TEST_REQUIRE_REDIS=1, where it fails.
func TestMultiProcessDeployment(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts five processes")
	}
	if os.Getenv("CI") != "" {
		if os.Getenv(postgres.TestDSNEnv) == "" {
			t.Fatalf("CI without %s: the multi-process test must run", postgres.TestDSNEnv)
		}
		// The helpers then fail instead of skipping.
		t.Setenv(s3test.EnvRequire, "1")
		t.Setenv(redistest.EnvRequire, "1")
	}
	cfg := postgres.TestSchema(t) // skips without $CLEANROOM_TEST_POSTGRES
	s3 := s3test.Require(t)
	rds := redistest.Start(t, redistest.Options{})
	dsn := os.Getenv(postgres.TestDSNEnv)
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	dsn += sep + "search_path=" + cfg.RuntimeParams["search_path"]
	ctx := context.Background()
	dir := t.TempDir()
	bucket := s3.Bucket(t)
	s3.Setenv(t) // for the setup below, which opens the same bucket
	d := &deployment{t: t, dir: dir, dsn: dsn, bin: filepath.Join(dir, "cleanroom"), keyFile: filepath.Join(dir, "secrets", "master.key"),
		blobsURL: "s3://" + bucket + "/deploy", env: s3.Env()}
	t.Cleanup(func() { // before the bucket is emptied and Redis stopped
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

	// The setup an operator does with the admin commands, in-process on the same database and
	// bucket: a publisher with an audience and a person, an advertiser with two data sources, a
	// connection.
	setupDir := filepath.Join(dir, "setup")
	os.MkdirAll(setupDir, 0o700)
	m := app.NewMain()
	m.Config.DataDir, m.Config.Database, m.Config.MasterKeyFile, m.Config.Role, m.Config.Blobs = setupDir, dsn, d.keyFile, app.RoleAPI, d.blobsURL
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
	pub, _, pubToken := enabledOrg(t, m, "Daily Planet", cleanroom.OrgPublisher, "ads@planet.example")
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

	// The deployment: one api, two workers, two edges sharing Redis.
	api := d.start("api", "serve", "--role", "api")
	serveWorker := func(name string) *proc {
		return d.start(name, "serve", "--role", "worker", "--workers", "2", "--job-lease", "3s", "--periodic-lease", "3s", "--cohort-refresh", "1s", "--edge-refresh", "1s")
	}
	workers := []*proc{serveWorker("worker1"), serveWorker("worker2")}
	startEdge := func(name string) *proc {
		return d.start(name, "edge", "--edge-refresh", "1h", "--edge-counters", filepath.Join(dir, name, "counters"),
			"--redis", rds.URL(0), "--edge-id", name)
	}
	edges := []*proc{startEdge("edge1"), startEdge("edge2")}
	cl := client.New("http://"+api.addr, token)
	pcl := client.New("http://"+api.addr, pubToken)
	if _, err := pcl.Do(ctx, "PUT", "/v1/ad-server-settings", map[string]any{"gam_key": "crc", "xandr_key": "crx", "time_zone": "Pacific/Auckland"}, nil, nil); err != nil {
		t.Fatal(err)
	}

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
	t.Logf("killed %s (pid %d) with SIGKILL during the ingest", victim.name, victim.cmd.Process.Pid)
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
		if _, err := m.Blobs.Stat(ctx, v.BlobKey); err != nil {
			t.Errorf("version %s is not in the bucket: %v", v.ID, err)
		}
	}
	if want := []string{bigDone.VersionID, smallDone.VersionID}; !slices.Equal(got, want) {
		t.Fatalf("versions of the data source %v, want the two uploads' %v", got, want)
	}
	if cur, err := m.Store.CurrentVersion(ctx, ds2.ID); err != nil || cur.ID != bigDone.VersionID {
		t.Fatalf("current version %+v %v, want the large upload's", cur, err)
	}
	t.Logf("large ingest: job %d succeeded at attempt %d; data source versions %d (both in the bucket)", j.ID, j.Attempt, len(vs))
	survivor := workers[0]
	if survivor == victim {
		survivor = workers[1]
	}

	// Cohorts through the API (the advertiser builds, the publisher switches on), served at both
	// edges.
	newCohort := func(name string) (id string, code int64) {
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
		if _, err := pcl.Do(ctx, "PUT", "/v1/cohorts/"+co.ID+"/activation/"+conn.ID, map[string]any{"direct": true}, nil, nil); err != nil {
			t.Fatal(err)
		}
		c, _ := m.Store.FindCohort(ctx, co.ID)
		return co.ID, c.Targets[0].Code
	}
	cohort1, code1 := newCohort("CRM")
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
	_, code2 := newCohort("CRM again")
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
	t.Logf("after the swap both edges serve the same codes to all %d sampled users (cohort codes %d and %d)", len(sample), code1, code2)

	// A frequency cap: the publisher switches the PMP deal on with its line item, the advertiser
	// caps the cohort;
	// both edges apply it once they have swapped in the manifest that holds it (an edge logs the
	// digest of each manifest it loads).
	const capN, lineItem = 5, "5550000001"
	if _, err := pcl.Do(ctx, "PUT", "/v1/cohorts/"+cohort1+"/activation/"+conn.ID, map[string]any{"direct": true, "programmatic": true, "deal": cleanroom.Deal{
		ProposalID: "4242", ProposalName: "CRM deal", LineItems: []cleanroom.LineItem{{ID: lineItem, Floor: "2.50", Currency: "USD"}}}}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Do(ctx, "PUT", "/v1/cohorts/"+cohort1+"/frequency-cap", map[string]any{"max_impressions": capN, "period": "day"}, nil, nil); err != nil {
		t.Fatal(err)
	}
	for _, e := range edges {
		d.waitFor(e.name+" to load the cap", 2*time.Minute, func() bool {
			mf, err := activation.ReadManifest(ctx, m.Blobs, pub.ID)
			if err != nil {
				t.Fatal(err)
			}
			if mf.LineItems[lineItem] != uint32(code1) || !slices.Contains(mf.Caps, activation.ManifestCap{Code: uint32(code1), Limit: capN, Period: "day"}) {
				return false
			}
			b, err := os.ReadFile(e.log)
			return err == nil && bytes.Contains(b, []byte("digest="+mf.Digest))
		})
	}
	c1 := strconv.FormatInt(code1, 10)
	servedTo := func(e *proc, uid string) bool {
		c, ok := codesAt(e.addr, pub.ID, uid)
		if !ok {
			t.Fatalf("%s did not answer", e.name)
		}
		return slices.Contains(c, c1)
	}
	var members []string // users the first cohort is served to: three capped, one not
	for _, uid := range sample {
		if len(members) < 4 && servedTo(edges[0], uid) && servedTo(edges[1], uid) {
			members = append(members, uid)
		}
	}
	if len(members) < 4 {
		t.Fatalf("the first cohort is served to %d sampled users", len(members))
	}
	capped, control := members[:3], members[3]
	var impressions atomic.Int64
	impress := func(wg *sync.WaitGroup, k int, uid string) { // the k-th impression goes to edge k%2
		defer wg.Done()
		body := fmt.Sprintf(`{"events":[{"uid":%q,"line_item":%q,"t":%d}]}`, uid, lineItem, time.Now().UnixMilli())
		res, err := http.Post("http://"+edges[k%2].addr+"/edge/v1/"+pub.ID+"/events", "text/plain", strings.NewReader(body))
		if err != nil {
			t.Errorf("impression %d of %s: %v", k, uid, err)
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusNoContent {
			t.Errorf("impression %d of %s: %s %s", k, uid, res.Status, b)
			return
		}
		impressions.Add(1)
	}
	// capN−1 impressions of each capped user at once, alternately to the two edges: the code
	// stays on both (a cap that acted on a count of the one edge's own, or counted an impression
	// twice, would take it away here).
	var iw sync.WaitGroup
	for _, uid := range capped {
		for k := range capN - 1 {
			iw.Add(1)
			go impress(&iw, k, uid)
		}
	}
	iw.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for _, uid := range capped {
		for _, e := range edges {
			if !servedTo(e, uid) {
				t.Fatalf("%s withholds the capped cohort after %d impressions of a cap of %d", e.name, capN-1, capN)
			}
		}
	}
	// The capN-th, to one edge: the code goes from both (the other learns it from Redis).
	for _, uid := range capped {
		iw.Add(1)
		go impress(&iw, capN-1, uid)
	}
	iw.Wait()
	for _, e := range edges {
		d.waitFor(e.name+" to withhold the capped cohort after the cap's last impression", time.Minute, func() bool {
			return !slices.ContainsFunc(capped, func(uid string) bool { return servedTo(e, uid) })
		})
		if !servedTo(e, control) {
			t.Errorf("%s withholds the cohort from a user who saw no impression", e.name)
		}
	}
	t.Logf("cap of %d a day (Pacific/Auckland): %d impressions of %d users, alternately to both edges: served on both after %d, withheld on both after %d",
		capN, impressions.Load(), len(capped), capN-1, capN)
	// An edge killed and started again withholds the capped users from its first answer (it
	// reads them from Redis, for the windows of the publisher's time zone, before it serves), and
	// serves the others.
	d.kill(edges[1])
	edges[1] = startEdge("edge2")
	for _, uid := range capped {
		if servedTo(edges[1], uid) {
			t.Errorf("the restarted edge2 serves the capped cohort to a user past the cap")
		}
	}
	if !servedTo(edges[1], control) {
		t.Errorf("the restarted edge2 withholds the cohort from a user who saw no impression")
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
	// The advertiser sees the same through the job API: each upload's job once, succeeded.
	var page struct {
		Items []cleanroom.Job `json:"items"`
	}
	if _, err := cl.Do(ctx, "GET", "/v1/jobs?limit=100", nil, &page, nil); err != nil {
		t.Fatal(err)
	}
	listed := map[int64]int{}
	for _, j := range page.Items {
		listed[j.ID]++
		if j.State != cleanroom.JobSucceeded {
			t.Errorf("the job API shows job %d (%s) %s", j.ID, j.Kind, j.State)
		}
	}
	for _, up := range []*cleanroom.Upload{crm, small, big} {
		if listed[up.JobID] != 1 {
			t.Errorf("the job API lists upload %s's job %d %d times", up.Name, up.JobID, listed[up.JobID])
		}
	}
	t.Logf("jobs by kind %v, all succeeded; edge load: edge1 %d answered before its kill, edge2 %d answered, 0 failed; survivor %s", kinds, loadOK[0].Load(), loadOK[1].Load(), survivor.name)
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
