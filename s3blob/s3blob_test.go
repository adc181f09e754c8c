package s3blob_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/blobtest"
	"github.com/cleanroom-oss/cleanroom/s3blob"
	"github.com/cleanroom-oss/cleanroom/s3blob/s3test"
)

func TestConformance(t *testing.T) {
	s3test.Require(t)
	blobtest.Run(t, func(t *testing.T) cleanroom.BlobStore { return s3test.Store(t) })
}

// Two stores in one bucket under different prefixes see only their own files; objects under the
// prefix whose names are not blob keys are not listed.
func TestPrefixesKeepStoresApart(t *testing.T) {
	srv := s3test.Require(t)
	bucket := srv.Bucket(t)
	open := func(prefix string) *s3blob.Store {
		s, err := s3blob.Open(t.Context(), srv.Config(bucket, prefix))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b, root := open("tenant/a"), open("tenant/b"), open("")
	a.Put(t.Context(), "k/1", strings.NewReader("a1"))
	b.Put(t.Context(), "k/1", strings.NewReader("b1"))
	root.Put(t.Context(), "k/2", strings.NewReader("root"))
	for _, c := range []struct {
		s    *s3blob.Store
		want string
	}{{a, "[k/1]"}, {b, "[k/1]"}, {root, "[k/2 tenant/a/k/1 tenant/b/k/1]"}} {
		keys, err := c.s.List(t.Context(), "")
		if err != nil || fmt.Sprint(keys) != c.want {
			t.Errorf("list: %v, %v; want %s", keys, err, c.want)
		}
	}
	if err := a.Delete(t.Context(), "k/1"); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Stat(t.Context(), "k/1"); err != nil || n != 2 {
		t.Errorf("b's file after a's delete: %d, %v", n, err)
	}
}

func TestFromURL(t *testing.T) {
	env := map[string]string{
		"AWS_ENDPOINT_URL": "http://generic:1", "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9000",
		"AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "s3cr3t", "AWS_SESSION_TOKEN": "tok",
	}
	c, err := s3blob.FromURL("s3://my-bucket/some/prefix/", func(k string) string { return env[k] })
	want := s3blob.Config{Endpoint: "http://127.0.0.1:9000", Region: "eu-west-1", AccessKey: "AKID", SecretKey: "s3cr3t", SessionToken: "tok", Bucket: "my-bucket", Prefix: "some/prefix"}
	if err != nil || c != want {
		t.Fatalf("FromURL = %+v, %v; want %+v", c, err, want)
	}
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		if p := fmt.Sprintf(f, c); strings.Contains(p, "s3cr3t") || strings.Contains(p, "tok") || !strings.Contains(p, "my-bucket") {
			t.Errorf("%s of the configuration: %s", f, p)
		}
	}
	env["AWS_REGION"], env["AWS_ENDPOINT_URL_S3"] = "us-west-2", ""
	if c, _ := s3blob.FromURL("s3://my-bucket", func(k string) string { return env[k] }); c.Region != "us-west-2" || c.Endpoint != "http://generic:1" || c.Prefix != "" {
		t.Errorf("AWS_REGION and AWS_ENDPOINT_URL: %+v", c)
	}
	none := func(string) string { return "" }
	if c, err := s3blob.FromURL("s3://my-bucket/p", none); err != nil || c.Endpoint != "" || c.AccessKey != "" {
		t.Errorf("AWS defaults: %+v, %v", c, err)
	}
	for _, bad := range []struct{ url, endpoint, secret, want string }{
		{"https://bucket/x", "", "", "want s3://bucket"},
		{"s3:///x", "", "", "want s3://bucket"},
		{"s3://user:hunter2@bucket/x", "", "", "want s3://bucket"},
		{"s3://bucket/x?versionId=1", "", "", "want s3://bucket"},
		{"s3://Bucket_Name/x", "", "", "bucket name"},
		{"s3://ab/x", "", "", "bucket name"},
		{"s3://bucket/UPPER/x", "", "", "prefix"},
		{"s3://bucket/a/../b", "", "", "prefix"},
		{"s3://bucket/x", "127.0.0.1:9000", "", "endpoint"},
		{"s3://bucket/x", "ftp://host", "", "endpoint"},
		{"s3://bucket/x", "http://host/path", "", "endpoint"},
		{"s3://bucket/x", "http://user:hunter2@host", "", "endpoint"},
		{"s3://user:hunter2%zz@bucket/x", "", "", "want s3://bucket"},  // not a URL at all
		{"s3://bucket/x", "http://user:hunter2@ho st", "", "endpoint"}, // nor this
		{"s3://bucket/x", "http://user:hunter2@host:port", "", "endpoint"},
		{"s3://bucket/x", "", "only-the-secret", "AWS_ACCESS_KEY_ID"},
	} {
		env := map[string]string{"AWS_ENDPOINT_URL_S3": bad.endpoint, "AWS_SECRET_ACCESS_KEY": bad.secret}
		_, err := s3blob.FromURL(bad.url, func(k string) string { return env[k] })
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("FromURL(%q, endpoint %q): %v; want an error about %s", bad.url, bad.endpoint, err, bad.want)
		} else if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "only-the-secret") {
			t.Errorf("FromURL(%q): the error repeats a secret: %v", bad.url, err)
		}
	}
}

// Open fails at start, saying why, for a missing bucket, wrong credentials or a server that does
// not answer; no error repeats the secret key.
func TestOpenChecksTheBucket(t *testing.T) {
	srv := s3test.Require(t)
	bucket := srv.Bucket(t)
	const secret = "not-the-secret-key-1234"
	for _, c := range []struct {
		name string
		cfg  s3blob.Config
		want string
	}{
		{"missing bucket", srv.Config("cleanroom-no-such-bucket", "p"), "create the bucket"},
		{"wrong secret", func() s3blob.Config { c := srv.Config(bucket, ""); c.SecretKey = secret; return c }(), "AWS_SECRET_ACCESS_KEY"},
		{"unknown access key", func() s3blob.Config { c := srv.Config(bucket, ""); c.AccessKey = "nobody"; return c }(), "AWS_ACCESS_KEY_ID"},
		{"no server", func() s3blob.Config { c := srv.Config(bucket, ""); c.Endpoint = "http://127.0.0.1:1"; return c }(), "check the endpoint"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			_, err := s3blob.Open(ctx, c.cfg)
			t.Log(err)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Open: %v; want an error saying %q", err, c.want)
			}
			for _, s := range []string{secret, srv.SecretKey} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("the error repeats the secret key: %v", err)
				}
			}
		})
	}
}

// A read error other than a missing key does not pass for one.
func TestMissingKeyOnly(t *testing.T) {
	srv := s3test.Require(t)
	bucket := srv.Bucket(t)
	s, err := s3blob.Open(t.Context(), srv.Config(bucket, ""))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Stat(ctx, "k"); err == nil || errors.Is(err, cleanroom.ErrBlobNotFound) {
		t.Errorf("stat with a cancelled context: %v", err)
	}
}
