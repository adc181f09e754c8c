package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/app"
	"github.com/cleanroom-oss/cleanroom/postgres"
	"github.com/cleanroom-oss/cleanroom/uploads"
)

// s3Test is the S3 server the tests use ($CLEANROOM_TEST_S3_ENDPOINT, an http://127.0.0.1:PORT
// URL, with $CLEANROOM_TEST_S3_ACCESS_KEY and $CLEANROOM_TEST_S3_SECRET_KEY). Tests that need it
// skip without it, unless $CLEANROOM_TEST_REQUIRE_S3=1.
type s3Test struct {
	endpoint, access, secret string
	client                   *minio.Client
}

func newS3Test(t *testing.T) *s3Test {
	t.Helper()
	endpoint := os.Getenv("CLEANROOM_TEST_S3_ENDPOINT")
	if endpoint == "" {
		if os.Getenv("CLEANROOM_TEST_REQUIRE_S3") == "1" {
			t.Fatal("CLEANROOM_TEST_REQUIRE_S3=1 and no CLEANROOM_TEST_S3_ENDPOINT")
		}
		t.Skip("no S3 server: set CLEANROOM_TEST_S3_ENDPOINT, CLEANROOM_TEST_S3_ACCESS_KEY and CLEANROOM_TEST_S3_SECRET_KEY")
	}
	s := &s3Test{endpoint: endpoint, access: os.Getenv("CLEANROOM_TEST_S3_ACCESS_KEY"), secret: os.Getenv("CLEANROOM_TEST_S3_SECRET_KEY")}
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	if s.client, err = minio.New(u.Host, &minio.Options{Creds: credentials.NewStaticV4(s.access, s.secret, ""), Secure: u.Scheme == "https"}); err != nil {
		t.Fatal(err)
	}
	return s
}

// bucket makes a bucket of a random name for one test.
func (s *s3Test) bucket(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	name := "imports-" + hex.EncodeToString(b)
	if err := s.client.MakeBucket(context.Background(), name, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	return name
}

func (s *s3Test) put(t *testing.T, bucket, key string, data []byte) {
	t.Helper()
	if _, err := s.client.PutObject(context.Background(), bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
}

// importEnv is an API whose imports may reach the test's S3 server on loopback.
func importEnv(t *testing.T, store cleanroom.Store) *env {
	return newEnvWith(t, store, func(c *app.Config) { exactCounts(c); c.ImportAllowPrivate = true })
}

// newDataSource creates a data source with segments s1..s3 as token and returns its ID.
func (e *env) newDataSource(token, name string) string {
	e.t.Helper()
	r := e.do(req{method: "POST", path: "/v1/data-sources", token: token, body: map[string]string{"name": name}})
	if r.status != http.StatusCreated {
		e.t.Fatalf("create data source: %d %s", r.status, r.raw)
	}
	id := r.body["id"].(string)
	if r := e.do(req{method: "PUT", path: "/v1/data-sources/" + id + "/taxonomy", token: token, body: withHeaders{
		"segment_id,segment_name\ns1,One\ns2,Two\ns3,Three\n", map[string]string{"Content-Type": "text/csv"}}}); r.status != http.StatusOK {
		e.t.Fatalf("taxonomy: %d %s", r.status, r.raw)
	}
	return id
}

// sameReport reports whether two processing reports are equal but for how long they took.
func sameReport(a, b any) bool {
	am, _ := a.(map[string]any)
	bm, _ := b.(map[string]any)
	if am == nil || bm == nil {
		return false
	}
	am, bm = maps.Clone(am), maps.Clone(bm)
	delete(am, "duration_ms")
	delete(bm, "duration_ms")
	return reflect.DeepEqual(am, bm)
}

// items returns a list answer's items.
func items(r *resp) []map[string]any {
	var out []map[string]any
	for _, it := range r.body["items"].([]any) {
		out = append(out, it.(map[string]any))
	}
	return out
}

// TestImportFromBucket: a data source pulls its files from a bucket prefix: an object is imported
// once however often the import runs (a new one makes one more upload), through the same
// processing and report as the same file uploaded by hand, in parts; the secret shows in no answer
// and no audit entry; another tenant reaches nothing; wrong credentials and a missing bucket leave
// a clear error on the import source and store nothing. On PostgreSQL too when
// $CLEANROOM_TEST_POSTGRES is set.
func TestImportFromBucket(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testImportFromBucket(t, importEnv(t, nil)) })
	t.Run("postgres", func(t *testing.T) { testImportFromBucket(t, importEnv(t, postgres.MustOpenTest(t))) })
}

func testImportFromBucket(t *testing.T, e *env) {
	s3 := newS3Test(t)
	bucket := s3.bucket(t)
	tok := e.tokens["b-member"]
	ds := e.newDataSource(tok, "CRM from the bucket")
	first, _ := testRows(30000, "first") // about 2.5 MB: three parts of 1 MiB
	s3.put(t, bucket, "exports/2026-12-01.tsv", first)
	s3.put(t, bucket, "elsewhere/ignored.tsv", first)

	base := "/v1/data-sources/" + ds
	settings := map[string]any{"endpoint": s3.endpoint, "bucket": bucket, "prefix": "exports/", "access_key_id": s3.access,
		"secret_access_key": s3.secret, "schedule": "daily"}
	r := e.do(req{method: "PUT", path: base + "/import-source", token: tok, body: settings})
	if r.status != http.StatusOK || r.body["secret_set"] != true || r.body["access_key_id"] != s3.access || r.body["enabled"] != true {
		t.Fatalf("put import source: %d %s", r.status, r.raw)
	}
	answers := [][]byte{r.raw}

	run := func() {
		t.Helper()
		r := e.do(req{method: "POST", path: base + "/import", token: tok, body: map[string]any{}})
		if r.status != http.StatusAccepted || r.body["kind"] != "import.bucket" {
			t.Fatalf("run import: %d %s", r.status, r.raw)
		}
		e.drainJobs()
	}
	uploadsOf := func(id string) []map[string]any {
		t.Helper()
		r := e.do(req{method: "GET", path: "/v1/data-sources/" + id + "/uploads", token: tok})
		if r.status != http.StatusOK {
			t.Fatalf("uploads: %d %s", r.status, r.raw)
		}
		return items(r)
	}
	objects := func() []map[string]any {
		t.Helper()
		r := e.do(req{method: "GET", path: base + "/imported-objects", token: tok})
		if r.status != http.StatusOK {
			t.Fatalf("imported objects: %d %s", r.status, r.raw)
		}
		answers = append(answers, r.raw)
		return items(r)
	}

	run()
	run() // nothing new
	us := uploadsOf(ds)
	if len(us) != 1 || us[0]["state"] != "processed" || us[0]["name"] != "exports/2026-12-01.tsv" || us[0]["parts"].(float64) != 3 {
		t.Fatalf("after two runs, uploads: %v", us)
	}
	objs := objects()
	if len(objs) != 1 || objs[0]["key"] != "exports/2026-12-01.tsv" || objs[0]["upload_id"] != us[0]["id"] ||
		objs[0]["upload"].(map[string]any)["state"] != "processed" || objs[0]["size"].(float64) != float64(len(first)) {
		t.Fatalf("imported objects: %v", objs)
	}

	// The same file uploaded by hand to another data source gets the same report.
	other := e.newDataSource(tok, "CRM by hand")
	byHand := e.upload(tok, other, first, 1<<20)
	if !sameReport(us[0]["report"], byHand.body["report"]) {
		t.Errorf("report of the import:\n%v\nof the upload:\n%v", us[0]["report"], byHand.body["report"])
	}
	if d := e.do(req{method: "GET", path: base, token: tok}); d.body["status"] != "ready" {
		t.Errorf("data source after the import: %s", d.raw)
	}

	// A new object makes one more upload.
	second, _ := testRows(100, "second")
	s3.put(t, bucket, "exports/2026-12-02.tsv", second)
	run()
	if us := uploadsOf(ds); len(us) != 2 || us[0]["name"] != "exports/2026-12-02.tsv" || us[0]["state"] != "processed" {
		t.Fatalf("after a new object, uploads: %v", us)
	}
	src := e.do(req{method: "GET", path: base + "/import-source", token: e.tokens["b-viewer"]})
	if src.status != http.StatusOK || src.body["last_error"] != nil || src.body["last_checked_at"] == nil {
		t.Fatalf("import source after success: %d %s", src.status, src.raw)
	}
	answers = append(answers, src.raw)

	// Another tenant reaches nothing; a viewer of the owner reads but does not change or run.
	for _, q := range []req{
		{method: "GET", path: base + "/import-source"}, {method: "PUT", path: base + "/import-source", body: settings},
		{method: "DELETE", path: base + "/import-source"}, {method: "POST", path: base + "/import", body: map[string]any{}},
		{method: "GET", path: base + "/imported-objects"},
	} {
		q.token = e.tokens["c-admin"]
		if r := e.do(q); r.status != http.StatusNotFound {
			t.Errorf("another tenant: %s %s: %d %s", q.method, q.path, r.status, r.raw)
		}
		if q.method != "GET" {
			q.token = e.tokens["b-viewer"]
			if r := e.do(q); r.status != http.StatusForbidden {
				t.Errorf("viewer: %s %s: %d %s", q.method, q.path, r.status, r.raw)
			}
		}
	}

	// Wrong credentials: a clear error on the import source, nothing stored.
	wrong := map[string]any{}
	for k, v := range settings {
		wrong[k] = v
	}
	const wrongSecret = "not-the-secret-0123456789"
	wrong["secret_access_key"] = wrongSecret
	s3.put(t, bucket, "exports/2026-12-03.tsv", second)
	if r := e.do(req{method: "PUT", path: base + "/import-source", token: tok, body: wrong}); r.status != http.StatusOK {
		t.Fatalf("put wrong secret: %d %s", r.status, r.raw)
	}
	run()
	src = e.do(req{method: "GET", path: base + "/import-source", token: tok})
	if msg, _ := src.body["last_error"].(string); !strings.Contains(msg, "refused the secret access key") {
		t.Errorf("wrong secret: last_error %q", msg)
	}
	answers = append(answers, src.raw)
	// A missing bucket.
	if r := e.do(req{method: "PUT", path: base + "/import-source", token: tok, body: map[string]any{"endpoint": s3.endpoint,
		"bucket": bucket + "-missing", "prefix": "exports/", "access_key_id": s3.access, "secret_access_key": s3.secret}}); r.status != http.StatusOK {
		t.Fatalf("put missing bucket: %d %s", r.status, r.raw)
	}
	run()
	src = e.do(req{method: "GET", path: base + "/import-source", token: tok})
	if msg, _ := src.body["last_error"].(string); !strings.Contains(msg, "There is no bucket") || !strings.Contains(msg, "Check the bucket") {
		t.Errorf("missing bucket: last_error %q", msg)
	}
	if us := uploadsOf(ds); len(us) != 2 {
		t.Errorf("failed runs stored uploads: %v", us)
	}
	if objs := objects(); len(objs) != 2 {
		t.Errorf("failed runs recorded objects: %v", objs)
	}
	// A new endpoint needs the secret again.
	if r := e.do(req{method: "PUT", path: base + "/import-source", token: tok, body: map[string]any{"endpoint": "https://s3.example.com",
		"bucket": bucket, "access_key_id": s3.access}}); r.status != http.StatusBadRequest || !strings.Contains(string(r.raw), "secret_access_key") {
		t.Errorf("new endpoint without a secret: %d %s", r.status, r.raw)
	}
	// Fixed (the stored secret kept: same endpoint and key): the object waiting is imported, the
	// error cleared.
	delete(settings, "secret_access_key")
	if r := e.do(req{method: "PUT", path: base + "/import-source", token: tok, body: settings}); r.status != http.StatusOK {
		t.Fatalf("put fixed: %d %s", r.status, r.raw)
	}
	run()
	if src := e.do(req{method: "GET", path: base + "/import-source", token: tok}); src.body["last_error"] != nil {
		t.Errorf("after the fix: %s", src.raw)
	}
	if us := uploadsOf(ds); len(us) != 3 {
		t.Errorf("after the fix, %d uploads, want 3", len(us))
	}

	// The secrets appear in no answer and no audit entry.
	entries, _, err := e.store.ListAudit(context.Background(), cleanroom.AuditFilter{OrgID: e.orgB.ID, Page: cleanroom.Page{Limit: 500}})
	if err != nil {
		t.Fatal(err)
	}
	audit, _ := json.Marshal(entries)
	if !strings.Contains(string(audit), "data_source.import_source.set") || !strings.Contains(string(audit), "data_source.import.run") {
		t.Errorf("no import audit entries: %s", audit)
	}
	for _, secret := range []string{s3.secret, wrongSecret} {
		if bytes.Contains(audit, []byte(secret)) {
			t.Errorf("the audit log holds the secret")
		}
		for _, a := range answers {
			if bytes.Contains(a, []byte(secret)) {
				t.Errorf("an answer holds the secret: %s", a)
			}
		}
	}

	// Deleting the import source keeps the uploads.
	if r := e.do(req{method: "DELETE", path: base + "/import-source", token: tok}); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.raw)
	}
	if r := e.do(req{method: "GET", path: base + "/import-source", token: tok}); r.status != http.StatusNotFound {
		t.Errorf("after delete: %d %s", r.status, r.raw)
	}
	if us := uploadsOf(ds); len(us) != 3 {
		t.Errorf("after delete, %d uploads, want 3", len(us))
	}
}

// TestImportPublisherProfiles: a publisher's audience syncs from its bucket like a profile upload;
// only its members and admins set it up or run it.
func TestImportPublisherProfiles(t *testing.T) {
	e := importEnv(t, nil)
	s3 := newS3Test(t)
	bucket := s3.bucket(t)
	tok := e.tokens["a-member"]
	if r := e.do(req{method: "PUT", path: "/v1/publisher/taxonomy", token: tok, body: withHeaders{
		"cohort_id,name,iab_id,standard\nsports,Sports fans,483,true\n", map[string]string{"Content-Type": "text/csv"}}}); r.status != 200 {
		t.Fatalf("taxonomy: %d %s", r.status, r.raw)
	}
	var b bytes.Buffer
	b.WriteString("user_id\tcountry\tidentifiers\tcohorts\n")
	for i := range 500 {
		fmt.Fprintf(&b, "u%d\tGB\temail_sha256=%s\tsports\n", i, hexSHA([]byte(fmt.Sprintf("reader-%d@example.com", i))))
	}
	s3.put(t, bucket, "profiles/day1.tsv", b.Bytes())
	body := map[string]any{"endpoint": s3.endpoint, "bucket": bucket, "prefix": "profiles/", "access_key_id": s3.access, "secret_access_key": s3.secret}
	if r := e.do(req{method: "PUT", path: "/v1/publisher/import-source", token: e.tokens["a-viewer"], body: body}); r.status != http.StatusForbidden {
		t.Errorf("viewer sets up: %d %s", r.status, r.raw)
	}
	if r := e.do(req{method: "PUT", path: "/v1/publisher/import-source", token: e.tokens["b-admin"], body: body}); r.status != http.StatusForbidden {
		t.Errorf("advertiser sets up a publisher import: %d %s", r.status, r.raw)
	}
	if r := e.do(req{method: "PUT", path: "/v1/publisher/import-source", token: tok, body: body}); r.status != http.StatusOK || r.body["target"] != "publisher" {
		t.Fatalf("put: %d %s", r.status, r.raw)
	}
	for range 2 {
		if r := e.do(req{method: "POST", path: "/v1/publisher/import", token: tok, body: map[string]any{}}); r.status != http.StatusAccepted {
			t.Fatalf("run: %d %s", r.status, r.raw)
		}
		e.drainJobs()
	}
	r := e.do(req{method: "GET", path: "/v1/publisher/imported-objects", token: e.tokens["a-viewer"]})
	objs := items(r)
	if len(objs) != 1 || objs[0]["upload"].(map[string]any)["state"] != "processed" {
		t.Fatalf("imported objects: %s", r.raw)
	}
	if objs[0]["upload"].(map[string]any)["report"] == nil {
		t.Errorf("the import's upload has no report: %s", r.raw)
	}
	vs := e.do(req{method: "GET", path: "/v1/publisher/versions", token: tok})
	if len(items(vs)) != 1 {
		t.Errorf("publisher versions: %s", vs.raw)
	}
}

// TestImportRefusesInternalEndpoints: endpoints at link-local and metadata addresses are refused
// whatever the operator allows; private and loopback ones unless the operator allows them; plain
// http unless loopback (allowed) or the operator allows it.
func TestImportRefusesInternalEndpoints(t *testing.T) {
	for _, allowPrivate := range []bool{false, true} {
		t.Run(fmt.Sprintf("allow-private=%v", allowPrivate), func(t *testing.T) {
			e := newEnvWith(t, nil, func(c *app.Config) { exactCounts(c); c.ImportAllowPrivate = allowPrivate })
			tok := e.tokens["b-member"]
			ds := e.newDataSource(tok, "Guarded")
			for _, c := range []struct {
				endpoint string
				ok       bool // with private endpoints allowed
			}{
				{"https://169.254.169.254", false},
				{"http://169.254.169.254/latest/meta-data", false},
				{"https://[fd00:ec2::254]", false},
				{"https://[fe80::1]", false},
				{"https://[::ffff:169.254.169.254]", false},
				{"https://[64:ff9b::a9fe:a9fe]", false},
				{"https://0.0.0.0", false},
				{"https://100.100.100.200", false},
				{"https://10.1.2.3:9000", true},
				{"https://192.168.0.10", true},
				{"https://127.0.0.1:9000", true},
				{"http://127.0.0.1:9000", true},
				{"https://localhost:9000", true},
				{"http://10.1.2.3:9000", false}, // http beyond loopback needs --import-allow-http
				{"http://s3.example.com", false},
				{"ftp://s3.example.com", false},
				{"https://user:pw@s3.example.com", false},
				{"https://s3.example.com/bucket", false},
				{"https://s3.example.com", true},
			} {
				want := http.StatusBadRequest
				if c.ok && (allowPrivate || c.endpoint == "https://s3.example.com") {
					want = http.StatusOK
				}
				r := e.do(req{method: "PUT", path: "/v1/data-sources/" + ds + "/import-source", token: tok, body: map[string]any{
					"endpoint": c.endpoint, "bucket": "crm-exports", "access_key_id": "AKIAEXAMPLE", "secret_access_key": "s3cr3t"}})
				if r.status != want {
					t.Errorf("%s: %d %s, want %d", c.endpoint, r.status, r.raw, want)
				}
				if r.status == http.StatusBadRequest && r.body["error"].(map[string]any)["details"].(map[string]any)["field"] != "endpoint" {
					t.Errorf("%s: error names no field: %s", c.endpoint, r.raw)
				}
			}
		})
	}
}

// TestImportOnceUnderRaces: two imports of one source running at once (a worker that lost its
// lease and the one that took over) queue each object once; and an import that stopped midway
// through an object (a crash) resumes it where it stopped at the next run.
func TestImportOnceUnderRaces(t *testing.T) {
	e := importEnv(t, nil)
	s3 := newS3Test(t)
	bucket := s3.bucket(t)
	tok := e.tokens["b-member"]
	ds := e.newDataSource(tok, "Raced")
	for i := range 4 {
		data, _ := testRows(2000, fmt.Sprint("race", i))
		s3.put(t, bucket, fmt.Sprintf("in/%d.tsv", i), data)
	}
	r := e.do(req{method: "PUT", path: "/v1/data-sources/" + ds + "/import-source", token: tok, body: map[string]any{
		"endpoint": s3.endpoint, "bucket": bucket, "prefix": "in/", "access_key_id": s3.access, "secret_access_key": s3.secret}})
	if r.status != http.StatusOK {
		t.Fatalf("put: %d %s", r.status, r.raw)
	}
	ctx := context.Background()
	src, err := e.store.FindImportSource(ctx, cleanroom.UploadDataSource, ds)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	counts := make([]int, 3)
	for i := range counts {
		wg.Go(func() {
			n, err := e.api.Imports.Import(ctx, src, func(cleanroom.Progress) {})
			if err != nil {
				t.Error(err)
			}
			counts[i] = n
		})
	}
	wg.Wait()
	if n := counts[0] + counts[1] + counts[2]; n < 4 {
		t.Errorf("racing imports queued %v uploads, want 4 in all", counts)
	}
	us, _, err := e.store.ListUploads(ctx, cleanroom.UploadDataSource, ds, cleanroom.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	queued := 0
	for _, u := range us {
		if u.State == cleanroom.UploadComplete {
			queued++
		}
	}
	if queued != 4 {
		t.Errorf("%d uploads queued, want 4", queued)
	}
	e.drainJobs()
	objs, _, err := e.store.ListImportedObjects(ctx, src.ID, cleanroom.Page{})
	if err != nil || len(objs) != 4 {
		t.Fatalf("imported objects: %d, %v", len(objs), err)
	}
	versions := map[string]bool{} // each object's upload processed once: a version of its own
	for _, o := range objs {
		u, err := e.store.FindUpload(ctx, o.UploadID)
		if err != nil || u.State != cleanroom.UploadProcessed {
			t.Fatalf("object %s: upload %v, %v", o.Key, u, err)
		}
		versions[u.VersionID] = true
	}
	if len(versions) != 4 {
		t.Errorf("the four uploads made %d versions", len(versions))
	}

	// A crash midway: the object's record and part of its bytes are stored, its upload open.
	data, _ := testRows(30000, "crash")
	s3.put(t, bucket, "in/9.tsv", data)
	info, err := s3.client.StatObject(ctx, bucket, "in/9.tsv", minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	u, err := e.api.Pipeline.BeginImport(ctx, uploads.Spec{OrgID: src.OrgID, UserID: src.UpdatedBy, Target: src.Target, TargetID: ds, Name: "in/9.tsv", Size: info.Size})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.AddImportedObject(ctx, &cleanroom.ImportedObject{SourceID: src.ID, Bucket: bucket, Key: "in/9.tsv", ETag: info.ETag, Size: info.Size, UploadID: u.ID, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.api.Uploads.WritePart(ctx, u, 0, bytes.NewReader(data[:1<<20]), ""); err != nil {
		t.Fatal(err)
	}
	if n, err := e.api.Imports.Import(ctx, src, func(cleanroom.Progress) {}); err != nil || n != 1 {
		t.Fatalf("resumed import: %d, %v", n, err)
	}
	e.drainJobs()
	got, err := e.store.FindUpload(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != cleanroom.UploadProcessed || got.Received != int64(len(data)) {
		t.Errorf("resumed upload: %s, %d of %d bytes (%s)", got.State, got.Received, len(data), got.Error)
	}
	byHand := e.upload(tok, e.newDataSource(tok, "Crash by hand"), data, 1<<20)
	var rep map[string]any
	json.Unmarshal(got.Report, &rep)
	if !sameReport(rep, byHand.body["report"]) {
		t.Errorf("resumed report %v, by hand %v", rep, byHand.body["report"])
	}
}

// TestImportSchedule: the periodic check queues each due import once however many processes
// check at once, and the next run comes a schedule's interval later.
func TestImportSchedule(t *testing.T) {
	e := importEnv(t, nil)
	tok := e.tokens["b-member"]
	ds := e.newDataSource(tok, "Scheduled")
	r := e.do(req{method: "PUT", path: "/v1/data-sources/" + ds + "/import-source", token: tok, body: map[string]any{
		"endpoint": "https://s3.example.com", "bucket": "crm-exports", "access_key_id": "AKIAEXAMPLE", "secret_access_key": "s3cr3t", "schedule": "hourly"}})
	if r.status != http.StatusOK {
		t.Fatalf("put: %d %s", r.status, r.raw)
	}
	ctx := context.Background()
	check := func() int {
		t.Helper()
		var wg sync.WaitGroup
		counts := make([]int, 4)
		for i := range counts {
			wg.Go(func() {
				n, err := e.api.Imports.EnqueueDue(ctx)
				if err != nil {
					t.Error(err)
				}
				counts[i] = n
			})
		}
		wg.Wait()
		return counts[0] + counts[1] + counts[2] + counts[3]
	}
	if n := check(); n != 1 {
		t.Errorf("first check queued %d, want 1", n)
	}
	if n := check(); n != 0 {
		t.Errorf("a check within the hour queued %d, want 0", n)
	}
	e.now = e.now.Add(61 * time.Minute)
	if n := check(); n != 1 {
		t.Errorf("a check an hour later queued %d, want 1", n)
	}
	// The first run has not started (no worker here): the second is that one, not another.
	js, _, err := e.store.ListJobs(ctx, cleanroom.JobFilter{OrgID: e.orgB.ID, Kind: "import.bucket"})
	if err != nil || len(js) != 1 {
		t.Errorf("import jobs: %d, %v; want the one still queued", len(js), err)
	}
	// Run on demand while it waits: the same job again, however often it is asked.
	for range 3 {
		r = e.do(req{method: "POST", path: "/v1/data-sources/" + ds + "/import", token: tok})
		if r.status != http.StatusAccepted {
			t.Fatalf("run: %d %s", r.status, r.raw)
		}
	}
	if js2, _, err := e.store.ListJobs(ctx, cleanroom.JobFilter{OrgID: e.orgB.ID, Kind: "import.bucket"}); err != nil || len(js2) != 1 {
		t.Errorf("after three runs asked: %d import jobs, %v; want 1", len(js2), err)
	}
	// Turned off, it is not queued.
	r = e.do(req{method: "PUT", path: "/v1/data-sources/" + ds + "/import-source", token: tok, body: map[string]any{
		"endpoint": "https://s3.example.com", "bucket": "crm-exports", "access_key_id": "AKIAEXAMPLE", "schedule": "off"}})
	if r.status != http.StatusOK {
		t.Fatalf("put off: %d %s", r.status, r.raw)
	}
	e.now = e.now.Add(25 * time.Hour)
	if n := check(); n != 0 {
		t.Errorf("an import without a schedule was queued %d times", n)
	}
}
