package activation_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/app"
	"github.com/cleanroom-oss/cleanroom/s3blob"
	"github.com/cleanroom-oss/cleanroom/s3blob/s3test"
	"github.com/cleanroom-oss/cleanroom/versions"
)

// TestOnS3: with --blobs s3://bucket/prefix the whole flow (uploads, versions, a cohort, the
// edge's snapshot) keeps its files in the bucket, none in the data directory; `cleanroom edge`
// on the same bucket serves the same code; shredding a data source deletes its objects.
func TestOnS3(t *testing.T) {
	srv := s3test.Require(t)
	bucket := srv.Bucket(t)
	srv.Setenv(t)
	w := newWorldWith(t, 2000, func(c *app.Config) { c.Blobs = "s3://" + bucket + "/cr" })
	if _, ok := w.m.Blobs.(*s3blob.Store); !ok {
		t.Fatalf("blob store %T, want S3", w.m.Blobs)
	}
	ctx := context.Background()
	co := w.cohort(cleanroom.NewCaller(w.adv.ID, cleanroom.RoleMember), "Acme - CRM", w.conn, w.ds)
	code := co.Targets[0].Code
	_, err := w.m.Activation.SetSwitches(ctx, cleanroom.NewCaller(w.pub.ID, cleanroom.RoleMember), co.ID, w.conn, cleanroom.ActivationSwitches{Direct: true})
	must(t, err)
	w.waitFor("the code to be served", func() bool { return w.servedUsers(code) > 0 })
	uid := w.member(code, nil)

	// The files are in the bucket under the prefix, not in the data directory.
	s := s3test.Require(t)
	raw, err := s3blob.Open(ctx, s.Config(bucket, ""))
	must(t, err)
	all, err := raw.List(ctx, "")
	must(t, err)
	if len(all) == 0 {
		t.Fatal("nothing in the bucket")
	}
	t.Logf("%d objects in the bucket: %v", len(all), all)
	for _, k := range all {
		if !strings.HasPrefix(k, "cr/") {
			t.Errorf("object %s outside the prefix", k)
		}
	}
	filepath.WalkDir(w.m.Config.DataDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(p, string(filepath.Separator)+"blobs"+string(filepath.Separator)) {
			t.Errorf("a blob in the data directory: %s", p)
		}
		return nil
	})

	// The edge alone reads the snapshots from the bucket.
	alone := app.NewMain()
	alone.Config.DataDir, alone.Config.Addr, alone.Config.EdgeCounters = w.m.Config.DataDir, "127.0.0.1:0", t.TempDir()
	alone.Config.Blobs, alone.Config.EdgeRefresh = w.m.Config.Blobs, 50*time.Millisecond
	alone.Logger = w.m.Logger
	must(t, alone.ServeEdge())
	defer alone.Close()
	resp, b := w.do("GET", alone.URL()+"/edge/v1/"+w.pub.ID+"/targeting?uid="+uid, "", "", nil)
	if resp.StatusCode != 200 || !strings.Contains(string(b), itoa(code)) {
		t.Errorf("edge alone on S3: %d %s", resp.StatusCode, b)
	}

	// Shredding the data source deletes its objects.
	ds, err := w.m.Store.FindDataSource(ctx, w.ds)
	must(t, err)
	o := versions.DataSourceOwner(ds)
	before, err := w.m.Blobs.List(ctx, o.Prefix())
	must(t, err)
	if len(before) == 0 {
		t.Fatalf("no objects under %s", o.Prefix())
	}
	_, err = w.m.Versions.Shred(ctx, o)
	must(t, err)
	if after, err := raw.List(ctx, "cr/"+o.Prefix()); err != nil || len(after) != 0 {
		t.Errorf("after the shred: %v, %v", after, err)
	}
}
