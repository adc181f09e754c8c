package web_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/cleanroom-oss/cleanroom/app"
)

// testBucket makes a bucket of a random name on the test S3 server ($CLEANROOM_TEST_S3_*; the
// test skips without one unless $CLEANROOM_TEST_REQUIRE_S3=1) and puts objects in it. It returns
// the endpoint, the credentials and the bucket's name.
func testBucket(t *testing.T, objects map[string][]byte) (endpoint, access, secret, bucket string) {
	t.Helper()
	endpoint, access, secret = os.Getenv("CLEANROOM_TEST_S3_ENDPOINT"), os.Getenv("CLEANROOM_TEST_S3_ACCESS_KEY"), os.Getenv("CLEANROOM_TEST_S3_SECRET_KEY")
	if endpoint == "" {
		if os.Getenv("CLEANROOM_TEST_REQUIRE_S3") == "1" {
			t.Fatal("CLEANROOM_TEST_REQUIRE_S3=1 and no CLEANROOM_TEST_S3_ENDPOINT")
		}
		t.Skip("no S3 server: set CLEANROOM_TEST_S3_ENDPOINT, CLEANROOM_TEST_S3_ACCESS_KEY and CLEANROOM_TEST_S3_SECRET_KEY")
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := minio.New(u.Host, &minio.Options{Creds: credentials.NewStaticV4(access, secret, ""), Secure: u.Scheme == "https"})
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	bucket = "web-imports-" + hex.EncodeToString(b)
	ctx := context.Background()
	if err := cl.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	for k, v := range objects {
		if _, err := cl.PutObject(ctx, bucket, k, bytes.NewReader(v), int64(len(v)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return endpoint, access, secret, bucket
}

// TestImportPage: the data source's member sets up a bucket import on its page (the secret never
// shown again), runs it, and sees the imported object and its upload, and on the data source's
// page where the files come from; a wrong secret shows its error there; a viewer sees the import
// without the form; another org finds nothing.
func TestImportPage(t *testing.T) {
	w := newCohortWorldWith(t, func(c *app.Config) { exactCounts(c); c.ImportAllowPrivate = true })
	var file bytes.Buffer
	for i := range 200 {
		fmt.Fprintf(&file, "%064x\temail_sha256\t%s\n", i+1, "1")
	}
	endpoint, access, secret, bucket := testBucket(t, map[string][]byte{"crm/2026-12-01.tsv": file.Bytes()})
	acme := w.signIn("crm@acme.example")
	base := "/data-sources/" + w.dataSource + "/import"
	if status, html := acme.get("/data-sources/" + w.dataSource); status != 200 || !strings.Contains(html, `href="`+base+`"`) || !strings.Contains(html, "Set it up") {
		t.Fatalf("data source page: %d, no link to set up an import", status)
	}
	status, path, html := acme.post(base, url.Values{"endpoint": {"https://169.254.169.254"}, "bucket": {bucket}, "access_key_id": {access},
		"secret_access_key": {secret}, "enabled": {"on"}})
	if status != 400 || !strings.Contains(html, "link-local") || !strings.Contains(html, `value="`+bucket+`"`) || strings.Contains(html, secret) {
		t.Errorf("metadata endpoint: %d at %s, want 400 with the form kept (without the secret)", status, path)
	}
	status, path, html = acme.post(base, url.Values{"endpoint": {endpoint}, "bucket": {bucket}, "prefix": {"crm/"}, "access_key_id": {access},
		"secret_access_key": {secret}, "schedule": {"daily"}, "enabled": {"on"}})
	if status != 200 || path != base || !strings.Contains(html, "(secret stored)") || strings.Contains(html, secret) {
		t.Fatalf("save: %d at %s", status, path)
	}
	if status, path, _ = acme.post(base+"/run", url.Values{}); status != 200 || path != base {
		t.Fatalf("run: %d at %s", status, path)
	}
	w.drain()
	status, html = acme.get(base)
	if status != 200 || !strings.Contains(html, "crm/2026-12-01.tsv") || !strings.Contains(html, "state-processed") || strings.Contains(html, secret) {
		t.Errorf("after the run: %d", status)
	}
	if _, html := acme.get("/data-sources/" + w.dataSource); !strings.Contains(html, "crm/2026-12-01.tsv") || !strings.Contains(html, endpoint+"/"+bucket+"/crm/") {
		t.Errorf("the data source page shows neither the imported upload nor where the files come from")
	}
	// A wrong secret: the error shows on the data source's page.
	if status, _, _ := acme.post(base, url.Values{"endpoint": {endpoint}, "bucket": {bucket}, "prefix": {"crm/"}, "access_key_id": {access},
		"secret_access_key": {"wrong-secret-value"}, "enabled": {"on"}}); status != 200 {
		t.Fatalf("save wrong secret: %d", status)
	}
	acme.post(base+"/run", url.Values{})
	w.drain()
	if _, html := acme.get("/data-sources/" + w.dataSource); !strings.Contains(html, `id="import-error"`) || !strings.Contains(html, "refused the secret access key") {
		t.Errorf("the data source page does not show the import's error")
	}
	if status, html := w.signIn("look@acme.example").get(base); status != 200 || strings.Contains(html, `id="import-form"`) || !strings.Contains(html, "crm/2026-12-01.tsv") {
		t.Errorf("viewer: %d, want the import without its form", status)
	}
	other := w.signIn("crm@other.example")
	if status, _ := other.get(base); status != 404 {
		t.Errorf("another org's GET: %d, want 404", status)
	}
	if status, _, _ := other.post(base+"/run", url.Values{}); status != 404 {
		t.Errorf("another org's run: %d, want 404", status)
	}
	// Removed: the uploads stay.
	if status, _, html := acme.post(base+"/delete", url.Values{}); status != 200 || !strings.Contains(html, "Set it up") {
		t.Errorf("remove: %d", status)
	}
}
