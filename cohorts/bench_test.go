package cohorts_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/accounts"
	"github.com/cleanroom-oss/cleanroom/benchenv"
	"github.com/cleanroom-oss/cleanroom/cohorts"
	"github.com/cleanroom-oss/cleanroom/connections"
	"github.com/cleanroom-oss/cleanroom/ingest"
	"github.com/cleanroom-oss/cleanroom/jobs"
	"github.com/cleanroom-oss/cleanroom/keyring"
	"github.com/cleanroom-oss/cleanroom/localblob"
	"github.com/cleanroom-oss/cleanroom/pipeline"
	"github.com/cleanroom-oss/cleanroom/pubsync"
	"github.com/cleanroom-oss/cleanroom/sqlite"
	"github.com/cleanroom-oss/cleanroom/synth"
	"github.com/cleanroom-oss/cleanroom/uploads"
	"github.com/cleanroom-oss/cleanroom/versions"
)

// BenchmarkUploadToCohort measures the path from an advertiser's upload to served cohorts, on
// the real services (SQLite, encrypted blob files, the job runner): processing the upload, then
// building a matched cohort and a lookalike at similarity 0.8 against the publisher's audience.
// The publisher's sync happens before the timer. Sizes: CLEANROOM_BENCH_USERS publisher users
// (default 200,000; 500 custom cohorts) and CLEANROOM_BENCH_ROWS advertiser rows (default
// 100,000), for example
//
//	CLEANROOM_BENCH_USERS=10000000 CLEANROOM_BENCH_ROWS=10000000 go test ./cohorts -run '^$' -bench UploadToCohort -benchtime 1x -timeout 60m
func BenchmarkUploadToCohort(b *testing.B) {
	users := benchenv.Int(b, "CLEANROOM_BENCH_USERS", 200_000)
	rows := benchenv.Int(b, "CLEANROOM_BENCH_ROWS", 100_000)
	ctx := context.Background()
	dir := b.TempDir()
	store, err := sqlite.Open(ctx, filepath.Join(dir, "cleanroom.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	blobs, err := localblob.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		b.Fatal(err)
	}
	keys := keyring.Generate()
	logger := slog.New(slog.DiscardHandler)
	runner := jobs.NewRunner(store, logger)
	up := uploads.New(store, blobs, keys, runner)
	pipe := pipeline.New(store, up, versions.New(store, blobs, keys, logger), keys, logger)
	pipe.Register(runner)
	conns := connections.New(store)
	svc := cohorts.New(store, conns, pipe, runner, 4)
	svc.Register(runner)
	acc := accounts.New(store, keys)
	ready := func(name string, kind cleanroom.OrgKind) *cleanroom.Org {
		o, err := acc.CreateOrg(ctx, name, kind)
		if err == nil {
			_, err = acc.RecordDPA(ctx, o.ID, time.Time{})
		}
		if err == nil {
			o, err = acc.EnableCleanRoom(ctx, o.ID)
		}
		if err != nil {
			b.Fatal(err)
		}
		return o
	}
	pub, adv := ready("Publisher", cleanroom.OrgPublisher), ready("Advertiser", cleanroom.OrgAdvertiser)
	conn, _, err := conns.CreateConnection(ctx, pub.ID, adv.ID, cleanroom.Permissions{MatchedCohorts: true, ModeledAudiences: true})
	if err != nil {
		b.Fatal(err)
	}
	run := func() {
		if _, err := runner.RunPending(ctx); err != nil {
			b.Fatal(err)
		}
	}
	// send uploads a file in parts and processes it.
	send := func(orgID string, target cleanroom.UploadTarget, targetID, path string) {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		st, _ := f.Stat()
		u, err := up.Begin(ctx, uploads.Spec{OrgID: orgID, Target: target, TargetID: targetID, Name: filepath.Base(path), Size: st.Size()})
		if err != nil {
			b.Fatal(err)
		}
		part := int64(uploads.DefaultMaxPartBytes)
		for off := int64(0); off < st.Size(); off += part {
			if u, err = up.WritePart(ctx, u, off, io.LimitReader(f, part), ""); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := up.Complete(ctx, u); err != nil {
			b.Fatal(err)
		}
		run()
	}
	write := func(name string, fill func(io.Writer) error) string {
		path := filepath.Join(dir, name)
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		if err := fill(f); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
		return path
	}
	u, err := synth.NewUniverse(synth.UniverseConfig{Seed: 1, Users: users, Cohorts: 500})
	if err != nil {
		b.Fatal(err)
	}
	var tax bytes.Buffer
	if err := u.WriteTaxonomy(&tax); err != nil {
		b.Fatal(err)
	}
	ptax, _, err := pubsync.ParseTaxonomy(&tax)
	if err != nil {
		b.Fatal(err)
	}
	if err := pipeline.PutPublisherTaxonomy(ctx, store, pub.ID, ptax, time.Now()); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	send(pub.ID, cleanroom.UploadPublisher, pub.ID, write("profiles.tsv", func(w io.Writer) error {
		_, err := u.WriteProfiles(w, synth.WriteOptions{})
		return err
	}))
	b.Logf("publisher: %d users synced in %s", users, time.Since(start).Round(time.Millisecond))
	a, err := synth.NewAdvertiser(u, synth.AdvertiserConfig{Seed: 2, Rows: rows, Overlap: 0.3})
	if err != nil {
		b.Fatal(err)
	}
	dataPath := write("crm.tsv", func(w io.Writer) error { _, err := a.WriteData(w, synth.WriteOptions{}); return err })
	tax.Reset()
	if err := a.WriteTaxonomy(&tax); err != nil {
		b.Fatal(err)
	}
	atax, _, err := ingest.ParseTaxonomy(&tax)
	if err != nil {
		b.Fatal(err)
	}
	caller := cleanroom.NewCaller(adv.ID, cleanroom.RoleAdmin)
	b.ResetTimer()
	for range b.N {
		ds, err := conns.CreateDataSource(ctx, caller, "CRM", "")
		if err != nil {
			b.Fatal(err)
		}
		if err := pipeline.PutDataSourceTaxonomy(ctx, store, ds.ID, atax, time.Now()); err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		send(adv.ID, cleanroom.UploadDataSource, ds.ID, dataPath)
		t1 := time.Now()
		q := cleanroom.CohortQuery{Op: cleanroom.OpAny, Conditions: []cleanroom.Condition{{DataSource: ds.ID, Segment: a.Segments()[1].ID}}}
		matched, err := svc.Create(ctx, caller, cohorts.Spec{Name: "Matched", Kind: cleanroom.CohortMatched, Query: q, ConnectionIDs: []string{conn.ID}})
		if err != nil {
			b.Fatal(err)
		}
		run()
		t2 := time.Now()
		sim := 0.8
		modeled, err := svc.Create(ctx, caller, cohorts.Spec{Name: "Lookalike", Kind: cleanroom.CohortModeled, Query: q, ConnectionIDs: []string{conn.ID}, Similarity: &sim})
		if err != nil {
			b.Fatal(err)
		}
		run()
		t3 := time.Now()
		for _, id := range []string{matched.ID, modeled.ID} {
			co, err := store.FindCohort(ctx, id)
			if err != nil || co.Status != cleanroom.CohortActive {
				b.Fatalf("cohort %s: %+v %v", id, co, err)
			}
			b.Logf("%s: %d users, code %d", co.Name, co.Targets[0].Size, co.Targets[0].Code)
		}
		b.ReportMetric(t1.Sub(t0).Seconds(), "s-ingest")
		b.ReportMetric(t2.Sub(t1).Seconds(), "s-matched-build")
		b.ReportMetric(t3.Sub(t2).Seconds(), "s-modeled-build")
		b.ReportMetric(t2.Sub(t0).Seconds(), "s-upload-to-matched")
		b.ReportMetric(t3.Sub(t0).Seconds()-t2.Sub(t1).Seconds(), "s-upload-to-modeled")
	}
}
