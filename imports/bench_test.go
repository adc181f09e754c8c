package imports_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/app"
	"github.com/cleanroom-oss/cleanroom/app/apptest"
	"github.com/cleanroom-oss/cleanroom/imports"
	"github.com/cleanroom-oss/cleanroom/ingest"
	"github.com/cleanroom-oss/cleanroom/pipeline"
)

// BenchmarkImportFromBucket measures taking one advertiser file of 500,000 rows (about 42 MB)
// from the test S3 server ($CLEANROOM_TEST_S3_*) into an upload's encrypted parts: the import's
// own work, listing and streaming, without the processing that follows (an upload's). It reports
// the bytes imported per second.
func BenchmarkImportFromBucket(b *testing.B) {
	endpoint := os.Getenv("CLEANROOM_TEST_S3_ENDPOINT")
	if endpoint == "" {
		b.Skip("no S3 server: set CLEANROOM_TEST_S3_ENDPOINT, CLEANROOM_TEST_S3_ACCESS_KEY and CLEANROOM_TEST_S3_SECRET_KEY")
	}
	access, secret := os.Getenv("CLEANROOM_TEST_S3_ACCESS_KEY"), os.Getenv("CLEANROOM_TEST_S3_SECRET_KEY")
	ctx := context.Background()
	m := apptest.Open(b, apptest.Options{Configure: func(c *app.Config) { c.ImportAllowPrivate = true }})
	must := func(err error) {
		b.Helper()
		if err != nil {
			b.Fatal(err)
		}
	}
	org, err := m.Accounts.CreateOrg(ctx, "Acme", cleanroom.OrgAdvertiser)
	must(err)
	_, err = m.Accounts.RecordDPA(ctx, org.ID, time.Time{})
	must(err)
	org, err = m.Accounts.EnableCleanRoom(ctx, org.ID)
	must(err)
	caller := &cleanroom.Caller{Org: org, Role: cleanroom.RoleAdmin}
	u, err := url.Parse(endpoint)
	must(err)
	cl, err := minio.New(u.Host, &minio.Options{Creds: credentials.NewStaticV4(access, secret, ""), Secure: u.Scheme == "https"})
	must(err)
	tax, _, err := ingest.ParseTaxonomy(bytes.NewReader([]byte("segment_id,segment_name\ns1,One\ns2,Two\n")))
	must(err)
	var data bytes.Buffer
	for i := range 500_000 {
		h := sha256.Sum256(fmt.Appendf(nil, "bench-%d@example.com", i))
		fmt.Fprintf(&data, "%s\temail_sha256\ts%d\n", hex.EncodeToString(h[:]), 1+i%2)
	}
	b.SetBytes(int64(data.Len()))
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		rb := make([]byte, 6)
		rand.Read(rb)
		bucket := "bench-" + hex.EncodeToString(rb)
		must(cl.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}))
		_, err := cl.PutObject(ctx, bucket, "crm.tsv", bytes.NewReader(data.Bytes()), int64(data.Len()), minio.PutObjectOptions{})
		must(err)
		ds, err := m.Connections.CreateDataSource(ctx, caller, fmt.Sprint("Bench ", i), "")
		must(err)
		must(pipeline.PutDataSourceTaxonomy(ctx, m.Store, ds.ID, tax, time.Now()))
		src, err := m.Imports.Put(ctx, caller, imports.DataSource(ds.ID), imports.Settings{Endpoint: endpoint, Bucket: bucket, AccessKeyID: access, SecretAccessKey: &secret})
		must(err)
		b.StartTimer()
		if n, err := m.Imports.Import(ctx, src, func(cleanroom.Progress) {}); err != nil || n != 1 {
			b.Fatalf("import: %d, %v", n, err)
		}
	}
}
