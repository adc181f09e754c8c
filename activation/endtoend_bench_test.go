package activation_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/activation"
	"github.com/cleanroom-oss/cleanroom/app"
	"github.com/cleanroom-oss/cleanroom/app/apptest"
	"github.com/cleanroom-oss/cleanroom/benchenv"
	"github.com/cleanroom-oss/cleanroom/cohorts"
	"github.com/cleanroom-oss/cleanroom/ingest"
	"github.com/cleanroom-oss/cleanroom/pipeline"
	"github.com/cleanroom-oss/cleanroom/pubsync"
	"github.com/cleanroom-oss/cleanroom/synth"
	"github.com/cleanroom-oss/cleanroom/uploads"
)

// BenchmarkUploadToEdge measures an advertiser's file to codes answered by the edge, through the
// whole application as `cleanroom serve` wires it (SQLite, the encrypted blob store, the job
// runner with its default 2 workers, the publisher loop and the edge with their default 2 s
// refresh, real HTTP on loopback). Before the timer: the publisher's audience synced (its
// profile file uploaded and processed), its ad-server settings saved, the connection made, and
// the advertiser's file and taxonomy written. Timed:
//
//   - upload: the file sent through the upload protocol in 64 MiB parts and processed;
//   - matched: a matched cohort on one of its segments created and built (active);
//   - publish: the publisher switches it on (direct) until the manifest that serves its code is
//     written (the check, then job edge.publish: the publisher's version opened, the snapshot
//     built, sealed and stored);
//   - edge load: from there until GET /edge/v1/{pub}/targeting for a member answers the code
//     (the in-process edge opens and swaps the snapshot in; the member is polled over HTTP);
//
// then the same for a lookalike at similarity 0.8 (modeled: upload, lookalike build, publish,
// edge load). Finding a member's user ID (from the cohort's member bitmap, a test-side step) is
// left out of the time. Sizes: CLEANROOM_BENCH_USERS publisher users (default 200,000; 500
// custom cohorts) and CLEANROOM_BENCH_ROWS advertiser rows (default 100,000), for example
//
//	CLEANROOM_BENCH_USERS=10000000 CLEANROOM_BENCH_ROWS=10000000 go test ./activation -run '^$' -bench UploadToEdge -benchtime 1x -timeout 60m
func BenchmarkUploadToEdge(b *testing.B) {
	users := benchenv.Int(b, "CLEANROOM_BENCH_USERS", 200_000)
	rows := benchenv.Int(b, "CLEANROOM_BENCH_ROWS", 100_000)
	ctx := context.Background()
	dir := b.TempDir()
	m := apptest.Open(b, apptest.Options{Configure: func(c *app.Config) {
		d := app.DefaultConfig()
		c.Addr, c.EdgeRefresh, c.CohortRefresh, c.Workers = "127.0.0.1:0", d.EdgeRefresh, d.CohortRefresh, d.Workers
	}})
	must(b, m.Serve())
	ready := func(name string, kind cleanroom.OrgKind) *cleanroom.Org {
		o, err := m.Accounts.CreateOrg(ctx, name, kind)
		must(b, err)
		_, err = m.Accounts.RecordDPA(ctx, o.ID, time.Time{})
		must(b, err)
		o, err = m.Accounts.EnableCleanRoom(ctx, o.ID)
		must(b, err)
		return o
	}
	pub, adv := ready("Publisher", cleanroom.OrgPublisher), ready("Advertiser", cleanroom.OrgAdvertiser)
	pubAdmin, advMember := cleanroom.NewCaller(pub.ID, cleanroom.RoleAdmin), cleanroom.NewCaller(adv.ID, cleanroom.RoleMember)
	write := func(name string, fill func(io.Writer) error) string {
		path := filepath.Join(dir, name)
		f, err := os.Create(path)
		must(b, err)
		must(b, fill(f))
		must(b, f.Close())
		return path
	}
	// wait polls cond every 5 ms until it holds (a bound on the wait, not an assertion).
	wait := func(what string, cond func() bool) {
		start := time.Now()
		for !cond() {
			if time.Since(start) > 30*time.Minute {
				b.Fatalf("gave up waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// send uploads a file in parts and waits until it is processed.
	send := func(orgID string, target cleanroom.UploadTarget, targetID, path string) {
		f, err := os.Open(path)
		must(b, err)
		defer f.Close()
		st, err := f.Stat()
		must(b, err)
		up, err := m.Uploads.Begin(ctx, uploads.Spec{OrgID: orgID, Target: target, TargetID: targetID, Name: filepath.Base(path), Size: st.Size()})
		must(b, err)
		part := int64(uploads.DefaultMaxPartBytes)
		for off := int64(0); off < st.Size(); off += part {
			up, err = m.Uploads.WritePart(ctx, up, off, io.LimitReader(f, part), "")
			must(b, err)
		}
		_, err = m.Uploads.Complete(ctx, up)
		must(b, err)
		wait("the upload to be processed", func() bool {
			u, err := m.Store.FindUpload(ctx, up.ID)
			must(b, err)
			if u.State == cleanroom.UploadFailed {
				b.Fatalf("upload failed: %s", u.Error)
			}
			return u.State == cleanroom.UploadProcessed
		})
	}

	u, err := synth.NewUniverse(synth.UniverseConfig{Seed: 1, Users: users, Cohorts: 500})
	must(b, err)
	var tax bytes.Buffer
	must(b, u.WriteTaxonomy(&tax))
	ptax, _, err := pubsync.ParseTaxonomy(&tax)
	must(b, err)
	must(b, pipeline.PutPublisherTaxonomy(ctx, m.Store, pub.ID, ptax, time.Now()))
	t := time.Now()
	send(pub.ID, cleanroom.UploadPublisher, pub.ID, write("profiles.tsv", func(w io.Writer) error {
		_, err := u.WriteProfiles(w, synth.WriteOptions{})
		return err
	}))
	b.Logf("publisher: %d users synced in %s", users, time.Since(t).Round(time.Millisecond))
	_, err = m.Activation.PutSettings(ctx, pubAdmin, cleanroom.AdServerSettings{GAMKey: "crc", XandrKey: "crx", GAMNetworkCode: "1234"})
	must(b, err)
	conn, _, err := m.Connections.CreateConnection(ctx, pub.ID, adv.ID, cleanroom.Permissions{MatchedCohorts: true, ModeledAudiences: true})
	must(b, err)
	a, err := synth.NewAdvertiser(u, synth.AdvertiserConfig{Seed: 2, Rows: rows, Overlap: 0.3})
	must(b, err)
	dataPath := write("crm.tsv", func(w io.Writer) error { _, err := a.WriteData(w, synth.WriteOptions{}); return err })
	tax.Reset()
	must(b, a.WriteTaxonomy(&tax))
	atax, _, err := ingest.ParseTaxonomy(&tax)
	must(b, err)

	// member returns user IDs of the cohort's members at the publisher (ordinal i of a first sync
	// is synthetic user i; polling confirms it).
	member := func(co *cleanroom.Cohort) []string {
		bm, err := m.Cohorts.Members(ctx, &co.Targets[0])
		must(b, err)
		var ids []string
		it := bm.Iterator()
		for it.HasNext() && len(ids) < 8 {
			ids = append(ids, synth.UserID(int(it.Next())))
		}
		return ids
	}
	// answers reports whether the edge answers code for any of the user IDs, over HTTP.
	answers := func(uids []string, code int64) bool {
		for _, uid := range uids {
			resp, err := http.Get(m.URL() + "/edge/v1/" + pub.ID + "/targeting?uid=" + url.QueryEscape(uid))
			must(b, err)
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			must(b, err)
			if resp.StatusCode == http.StatusNotFound {
				return false // nothing published yet
			}
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("targeting: %d %s", resp.StatusCode, body)
			}
			var ans answer
			must(b, json.Unmarshal(body, &ans))
			if slices.Contains(ans.GAM["crc"], strconv.FormatInt(code, 10)) {
				return true
			}
		}
		return false
	}
	// The moment each manifest is written: Published is called right after (in `serve` the
	// in-process edge then loads the snapshot at once).
	var published atomic.Int64
	load := m.Activation.Published
	m.Activation.Published = func(id string) {
		published.Store(time.Now().UnixNano())
		load(id)
	}
	// serve switches the cohort on and returns the time until the manifest that serves its code
	// is written (publish) and from there until the edge answers it for a member (edge load),
	// with the CPU seconds of the whole.
	serve := func(co *cleanroom.Cohort) (publish, edge time.Duration, cpu float64) {
		code := co.Targets[0].Code
		uids := member(co)
		cpu0 := benchenv.CPUTime().Seconds()
		t0 := time.Now()
		_, err := m.Activation.SetSwitches(ctx, pubAdmin, co.ID, conn.ID, cleanroom.ActivationSwitches{Direct: true})
		must(b, err)
		var at time.Time
		wait("the manifest to serve the code", func() bool {
			p := published.Load()
			man, err := m.Activation.Manifest(ctx, pub.ID)
			must(b, err)
			at = time.Unix(0, p)
			return p > t0.UnixNano() && slices.ContainsFunc(man.Served, func(s activation.ServedCode) bool { return int64(s.Code) == code })
		})
		wait("the edge to answer the code", func() bool { return answers(uids, code) })
		return at.Sub(t0), time.Since(at), benchenv.CPUTime().Seconds() - cpu0
	}
	active := func(id string) *cleanroom.Cohort {
		var co *cleanroom.Cohort
		wait("the cohort to be active", func() bool {
			co, err = m.Store.FindCohort(ctx, id)
			must(b, err)
			if co.Status == cleanroom.CohortFailed {
				b.Fatalf("cohort %s: %s", co.Status, co.StatusReason)
			}
			return co.Status == cleanroom.CohortActive
		})
		return co
	}

	b.ResetTimer()
	for range b.N {
		ds, err := m.Connections.CreateDataSource(ctx, cleanroom.NewCaller(adv.ID, cleanroom.RoleAdmin), "CRM", "")
		must(b, err)
		must(b, pipeline.PutDataSourceTaxonomy(ctx, m.Store, ds.ID, atax, time.Now()))
		cpu0 := benchenv.CPUTime().Seconds()
		t0 := time.Now()
		send(adv.ID, cleanroom.UploadDataSource, ds.ID, dataPath)
		upload, uploadCPU := time.Since(t0), benchenv.CPUTime().Seconds()-cpu0
		q := cleanroom.CohortQuery{Op: cleanroom.OpAny, Conditions: []cleanroom.Condition{{DataSource: ds.ID, Segment: a.Segments()[1].ID}}}

		cpu0, t1 := benchenv.CPUTime().Seconds(), time.Now()
		matched, err := m.Cohorts.Create(ctx, advMember, cohorts.Spec{Name: "Matched", Kind: cleanroom.CohortMatched, Query: q, ConnectionIDs: []string{conn.ID}})
		must(b, err)
		matched = active(matched.ID)
		matchedBuild, matchedBuildCPU := time.Since(t1), benchenv.CPUTime().Seconds()-cpu0
		matchedPublish, matchedLoad, matchedServeCPU := serve(matched)

		cpu0, t2 := benchenv.CPUTime().Seconds(), time.Now()
		sim := 0.8
		modeled, err := m.Cohorts.Create(ctx, advMember, cohorts.Spec{Name: "Lookalike", Kind: cleanroom.CohortModeled, Query: q, ConnectionIDs: []string{conn.ID}, Similarity: &sim})
		must(b, err)
		modeled = active(modeled.ID)
		modeledBuild, modeledBuildCPU := time.Since(t2), benchenv.CPUTime().Seconds()-cpu0
		modeledPublish, modeledLoad, modeledServeCPU := serve(modeled)

		b.Logf("matched: %d users, code %d; lookalike: %d users, code %d", matched.Targets[0].Size, matched.Targets[0].Code, modeled.Targets[0].Size, modeled.Targets[0].Code)
		b.ReportMetric(upload.Seconds(), "s-upload")
		b.ReportMetric(matchedBuild.Seconds(), "s-matched-build")
		b.ReportMetric(matchedPublish.Seconds(), "s-matched-publish")
		b.ReportMetric(matchedLoad.Seconds(), "s-matched-edge")
		b.ReportMetric((upload + matchedBuild + matchedPublish + matchedLoad).Seconds(), "s-upload-to-matched-edge")
		b.ReportMetric(modeledBuild.Seconds(), "s-modeled-build")
		b.ReportMetric(modeledPublish.Seconds(), "s-modeled-publish")
		b.ReportMetric(modeledLoad.Seconds(), "s-modeled-edge")
		b.ReportMetric((upload + modeledBuild + modeledPublish + modeledLoad).Seconds(), "s-upload-to-modeled-edge")
		// CPU seconds (the whole process, both cores) of each step: what a busy machine does not
		// stretch. A step mostly on one core takes about its CPU time on a quiet machine.
		b.ReportMetric(uploadCPU, "cpu-upload")
		b.ReportMetric(matchedBuildCPU, "cpu-matched-build")
		b.ReportMetric(matchedServeCPU, "cpu-matched-publish+edge")
		b.ReportMetric(modeledBuildCPU, "cpu-modeled-build")
		b.ReportMetric(modeledServeCPU, "cpu-modeled-publish+edge")
	}
}
