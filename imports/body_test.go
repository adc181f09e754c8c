package imports

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/cleanroom-oss/cleanroom"
)

// TestResponsesBounded: the bucket's server is the tenant's to choose, so what it answers is
// bounded: a listing larger than the limit, a body that stops arriving, and one that trickles in
// too slowly each end the read with an error rather than holding the worker's memory or time.
func TestResponsesBounded(t *testing.T) {
	saved := limits
	t.Cleanup(func() { limits = saved })
	limits = bodyLimits{maxMeta: 1 << 20, idle: 200 * time.Millisecond, window: 300 * time.Millisecond, minRate: 1 << 20}

	entry := func(i int) string {
		return fmt.Sprintf("<Contents><Key>data/%08d.csv</Key><ETag>\"e\"</ETag><Size>10</Size></Contents>", i)
	}
	head := `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>bkt</Name><Prefix></Prefix><KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>`
	for _, c := range []struct {
		name  string
		serve func(w http.ResponseWriter, r *http.Request)
		want  error
	}{
		{"huge listing", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/xml")
			fmt.Fprint(w, head)
			for i := 0; i < 100000 && r.Context().Err() == nil; i++ { // about 8 MiB
				fmt.Fprint(w, entry(i))
			}
			fmt.Fprint(w, "</ListBucketResult>")
		}, errResponseTooLarge},
		{"listing of exactly the limit", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/xml")
			body := head + entry(0) + "</ListBucketResult>"
			fmt.Fprint(w, head, entry(0), strings.Repeat(" ", int(limits.maxMeta)-len(body)), "</ListBucketResult>")
		}, nil},
		{"stalled listing", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/xml")
			fmt.Fprint(w, head, entry(0))
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}, errResponseStalled},
		{"trickling listing", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/xml")
			fmt.Fprint(w, head)
			for r.Context().Err() == nil {
				fmt.Fprint(w, " ")
				w.(http.Flusher).Flush()
				time.Sleep(20 * time.Millisecond)
			}
		}, errResponseTooSlow},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(c.serve))
			defer srv.Close()
			cl, err := minio.New(strings.TrimPrefix(srv.URL, "http://"), &minio.Options{
				Creds: credentials.NewStaticV4("k", "s", ""), Region: "us-east-1", MaxRetries: 1,
				Transport: (Policy{AllowPrivate: true, AllowHTTP: true}).roundTripper()})
			if err != nil {
				t.Fatal(err)
			}
			// A guard only: the bounds end the read long before.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var got error
			n := 0
			for obj := range cl.ListObjects(ctx, "bkt", minio.ListObjectsOptions{Recursive: true}) {
				if obj.Err != nil {
					got = obj.Err
					break
				}
				n++
			}
			if !errors.Is(got, c.want) || c.want == nil && n != 1 {
				t.Errorf("listing: %d objects, error %v; want %v", n, got, c.want)
			}
		})
	}
}

// TestBoundedErrorsForUsers: a response ended by the bounds fails the run with an error users
// read, naming the endpoint, never an internal error.
func TestBoundedErrorsForUsers(t *testing.T) {
	src := &cleanroom.ImportSource{Endpoint: "https://s3.example.com", Bucket: "bkt"}
	for _, e := range []error{errResponseTooLarge, errResponseStalled, errResponseTooSlow} {
		err := bucketError(src, fmt.Errorf("uploads: store part: %w", e))
		if cleanroom.ErrorCode(err) != cleanroom.EUNAVAILABLE || !strings.Contains(cleanroom.ErrorText(err), src.Endpoint) {
			t.Errorf("%v: %v", e, err)
		}
	}
}
