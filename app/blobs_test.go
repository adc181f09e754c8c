package app_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cleanroom-oss/cleanroom/app"
	"github.com/cleanroom-oss/cleanroom/localblob"
	"github.com/cleanroom-oss/cleanroom/s3blob"
	"github.com/cleanroom-oss/cleanroom/s3blob/s3test"
)

// OpenBlobs: no --blobs is the data directory's blobs/; a URL that is not s3://bucket/prefix fails
// with an error naming the flag.
func TestOpenBlobsConfig(t *testing.T) {
	c := app.DefaultConfig()
	c.DataDir = t.TempDir()
	b, err := app.OpenBlobs(context.Background(), c)
	if _, ok := b.(*localblob.Dir); err != nil || !ok {
		t.Fatalf("default: %T, %v; want the local directory", b, err)
	}
	b.Put(t.Context(), "x/y", strings.NewReader("z"))
	if n, err := localblob.Open(filepath.Join(c.DataDir, "blobs")); err != nil {
		t.Fatal(err)
	} else if size, err := n.Stat(t.Context(), "x/y"); err != nil || size != 1 {
		t.Fatalf("not in <data>/blobs: %d, %v", size, err)
	}
	for _, bad := range []struct{ blobs, want string }{
		{"/srv/blobs", "want s3://bucket"},
		{"file:///srv/blobs", "want s3://bucket"},
		{"s3://", "want s3://bucket"},
		{"s3://Bad_Bucket/x", "bucket name"},
	} {
		c.Blobs = bad.blobs
		_, err := app.OpenBlobs(context.Background(), c)
		if err == nil || !strings.Contains(err.Error(), "--blobs") || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("--blobs %q: %v; want an error about --blobs saying %q", bad.blobs, err, bad.want)
		}
	}
}

// --blobs s3://bucket/prefix opens the bucket with the AWS environment's endpoint and
// credentials; a missing bucket fails at start.
func TestOpenBlobsS3(t *testing.T) {
	srv := s3test.Require(t)
	bucket := srv.Bucket(t)
	srv.Setenv(t)
	c := app.DefaultConfig()
	c.DataDir = t.TempDir()
	c.Blobs = "s3://" + bucket + "/deployment/one"
	b, err := app.OpenBlobs(t.Context(), c)
	if _, ok := b.(*s3blob.Store); err != nil || !ok {
		t.Fatalf("%T, %v; want the S3 store", b, err)
	}
	c.Blobs = "s3://cleanroom-missing-" + bucket[len("cleanroom-test-"):]
	if _, err := app.OpenBlobs(t.Context(), c); err == nil || !strings.Contains(err.Error(), "create the bucket") {
		t.Errorf("missing bucket: %v", err)
	}
}
