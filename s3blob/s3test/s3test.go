// Package s3test gives tests a real S3 server: the one CLEANROOM_TEST_S3_ENDPOINT names (a local
// MinIO that .ci/run starts), signed in with CLEANROOM_TEST_S3_ACCESS_KEY and
// CLEANROOM_TEST_S3_SECRET_KEY. A test that needs it is skipped when the endpoint is not set,
// unless CLEANROOM_TEST_REQUIRE_S3=1 (as in CI), which makes it fail instead. Each test gets a
// bucket of its own with a random name, emptied and removed when the test ends.
package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/cleanroom-oss/cleanroom/s3blob"
)

// The environment that names the test server.
const (
	EnvEndpoint  = "CLEANROOM_TEST_S3_ENDPOINT"
	EnvAccessKey = "CLEANROOM_TEST_S3_ACCESS_KEY"
	EnvSecretKey = "CLEANROOM_TEST_S3_SECRET_KEY"
	EnvRequire   = "CLEANROOM_TEST_REQUIRE_S3"
)

// Region is the region the test buckets are made in.
const Region = "us-east-1"

// Server is the test S3 server.
type Server struct {
	Endpoint, AccessKey, SecretKey string
}

// Require returns the test server from the environment. Without CLEANROOM_TEST_S3_ENDPOINT it
// skips t, or fails it when CLEANROOM_TEST_REQUIRE_S3=1.
func Require(t testing.TB) Server {
	t.Helper()
	s := Server{Endpoint: os.Getenv(EnvEndpoint), AccessKey: os.Getenv(EnvAccessKey), SecretKey: os.Getenv(EnvSecretKey)}
	if s.Endpoint == "" {
		if os.Getenv(EnvRequire) == "1" {
			t.Fatalf("%s=1 but %s is not set: start MinIO (see the README) and set %s, %s and %s", EnvRequire, EnvEndpoint, EnvEndpoint, EnvAccessKey, EnvSecretKey)
		}
		t.Skipf("set %s (and %s, %s) to run the tests against an S3 server", EnvEndpoint, EnvAccessKey, EnvSecretKey)
	}
	return s
}

// client returns a client of the server for setting up and tearing down buckets.
func (s Server) client(t testing.TB) *minio.Client {
	t.Helper()
	u, err := url.Parse(s.Endpoint)
	if err != nil || u.Host == "" {
		t.Fatalf("%s=%q is not a URL such as http://127.0.0.1:9000", EnvEndpoint, s.Endpoint)
	}
	c, err := minio.New(u.Host, &minio.Options{Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""), Secure: u.Scheme == "https", Region: Region})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Bucket makes a bucket with a random name and returns the name; when t ends, the bucket is
// emptied (objects and unfinished uploads) and removed.
func (s Server) Bucket(t testing.TB) string {
	t.Helper()
	c := s.client(t)
	b := make([]byte, 8)
	rand.Read(b)
	name := "cleanroom-test-" + hex.EncodeToString(b)
	if err := c.MakeBucket(t.Context(), name, minio.MakeBucketOptions{Region: Region}); err != nil {
		t.Fatalf("make bucket %s at %s: %v", name, s.Endpoint, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		for u := range c.ListIncompleteUploads(ctx, name, "", true) {
			if u.Err == nil {
				c.RemoveIncompleteUpload(ctx, name, u.Key)
			}
		}
		objects := c.ListObjects(ctx, name, minio.ListObjectsOptions{Recursive: true, WithVersions: true})
		for e := range c.RemoveObjects(ctx, name, objects, minio.RemoveObjectsOptions{}) {
			t.Errorf("empty bucket %s: %v", name, e.Err)
		}
		if err := c.RemoveBucket(ctx, name); err != nil {
			t.Errorf("remove bucket %s: %v", name, err)
		}
	})
	return name
}

// Config returns the configuration of a blob store in bucket under prefix.
func (s Server) Config(bucket, prefix string) s3blob.Config {
	return s3blob.Config{Endpoint: s.Endpoint, Region: Region, AccessKey: s.AccessKey, SecretKey: s.SecretKey, Bucket: bucket, Prefix: prefix}
}

// Env returns the AWS environment (NAME=value lines) under which a cleanroom process given
// --blobs s3://bucket/prefix uses the server.
func (s Server) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL_S3=" + s.Endpoint, "AWS_REGION=" + Region,
		"AWS_ACCESS_KEY_ID=" + s.AccessKey, "AWS_SECRET_ACCESS_KEY=" + s.SecretKey,
	}
}

// Setenv sets Env in this process for the rest of t (so t may not be parallel).
func (s Server) Setenv(t testing.TB) {
	t.Helper()
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("AWS_SESSION_TOKEN", "")
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

// Store opens a blob store in a new bucket of the test server (see Require and Bucket).
func Store(t testing.TB) *s3blob.Store {
	t.Helper()
	s := Require(t)
	st, err := s3blob.Open(t.Context(), s.Config(s.Bucket(t), "cr"))
	if err != nil {
		t.Fatal(err)
	}
	return st
}
