package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/accounts"
	"github.com/cleanroom-oss/cleanroom/app"
	"github.com/cleanroom-oss/cleanroom/benchenv"
	"github.com/cleanroom-oss/cleanroom/client"
	"github.com/cleanroom-oss/cleanroom/keyring"
	"github.com/cleanroom-oss/cleanroom/postgres"
)

// TestIngestJobsPerMinute measures how many advertiser ingest jobs a deployment finishes per
// minute with one and with two worker processes (each running --workers 2), the binary built
// from this tree, on PostgreSQL: $CLEANROOM_BENCH_INGEST_JOBS files (default 20) of
// $CLEANROOM_BENCH_INGEST_ROWS rows (default 100000), each for a data source of its own, are
// uploaded through the API process, then completed at once; the clock runs from the first
// completion to the last processed upload. A measurement, not a check: it runs only when
// $CLEANROOM_BENCH_INGEST is set (and PostgreSQL is), and logs its figures (docs/BENCHMARKS.md).
func TestIngestJobsPerMinute(t *testing.T) {
	if os.Getenv("CLEANROOM_BENCH_INGEST") == "" {
		t.Skip("set CLEANROOM_BENCH_INGEST=1 (and CLEANROOM_TEST_POSTGRES) to measure")
	}
	files, rows := benchenv.Int(t, "CLEANROOM_BENCH_INGEST_JOBS", 20), benchenv.Int(t, "CLEANROOM_BENCH_INGEST_ROWS", 100_000)
	dir := t.TempDir()
	bin := filepath.Join(dir, "cleanroom")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	paths := make([]string, files)
	for i := range paths {
		paths[i] = writeDataFile(t, dir, rows, fmt.Sprintf("bench%d", i))
	}
	for _, workers := range []int{1, 2} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			cfg := postgres.TestSchema(t)
			dsn := os.Getenv(postgres.TestDSNEnv)
			sep := "?"
			if strings.Contains(dsn, "?") {
				sep = "&"
			}
			dsn += sep + "search_path=" + cfg.RuntimeParams["search_path"]
			sub := t.TempDir()
			d := &deployment{t: t, dir: sub, dsn: dsn, bin: bin, blobs: filepath.Join(sub, "shared-blobs"), keyFile: filepath.Join(sub, "secrets", "master.key")}
			t.Cleanup(func() {
				for _, p := range d.procs {
					p.cmd.Process.Kill()
					p.cmd.Wait()
				}
			})
			if err := keyring.Generate().WriteFile(d.keyFile); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			setup := filepath.Join(sub, "setup")
			os.MkdirAll(setup, 0o700)
			os.MkdirAll(d.blobs, 0o700)
			os.Symlink(d.blobs, filepath.Join(setup, "blobs"))
			m := app.NewMain()
			m.Config.DataDir, m.Config.Database, m.Config.MasterKeyFile, m.Config.Role = setup, dsn, d.keyFile, app.RoleAPI
			m.Logger = slog.New(slog.DiscardHandler)
			if err := m.Open(ctx); err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			ds0, token := advertiserSetup(t, m)
			caller, err := m.Accounts.Authenticate(ctx, accounts.Credentials{Token: token})
			if err != nil {
				t.Fatal(err)
			}
			api := d.start("api", "serve", "--role", "api")
			for i := range workers {
				d.start(fmt.Sprintf("worker%d", i+1), "serve", "--role", "worker")
			}
			cl := client.New("http://"+api.addr, token)
			var ups []*cleanroom.Upload
			for i, p := range paths {
				dsID := ds0
				if i > 0 {
					ds, err := m.Connections.CreateDataSource(ctx, caller, fmt.Sprintf("Source %d", i), "")
					if err != nil {
						t.Fatal(err)
					}
					dsID = ds.ID
				}
				if err := cl.PutTaxonomy(ctx, dsID, strings.NewReader("segment_id,segment_name\ns1,One\ns2,Two\n")); err != nil {
					t.Fatal(err)
				}
				ups = append(ups, beginUpload(t, cl, dsID, filepath.Base(p), mustRead(t, p)))
			}
			start := time.Now()
			for _, u := range ups {
				if _, err := cl.CompleteUpload(ctx, u.ID); err != nil {
					t.Fatal(err)
				}
			}
			d.waitFor("every upload processed", 30*time.Minute, func() bool {
				for _, u := range ups {
					got, err := m.Store.FindUpload(ctx, u.ID)
					if err != nil || got.State == cleanroom.UploadFailed {
						t.Fatalf("upload %s: %+v %v", u.ID, got, err)
					}
					if got.State != cleanroom.UploadProcessed {
						return false
					}
				}
				return true
			})
			elapsed := time.Since(start)
			load, _ := os.ReadFile("/proc/loadavg")
			t.Logf("%d worker process(es): %d jobs of %d rows in %.1f s = %.1f jobs/min; load average %s",
				workers, files, rows, elapsed.Seconds(), float64(files)/elapsed.Minutes(), strings.TrimSpace(string(load)))
		})
	}
}
