package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/identity"
	"github.com/cleanroom-oss/cleanroom/pipeline"
	"github.com/cleanroom-oss/cleanroom/postgres"
)

func hexSHA(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// testRows returns an advertiser file of n rows: hashed emails in segments s1..s3, plus the
// normalised hashes, so tests can look for them later.
func testRows(n int, seed string) ([]byte, []string) {
	var buf bytes.Buffer
	var ids []string
	for i := range n {
		h := hexSHA([]byte(fmt.Sprintf("%s-user-%d@example.com", seed, i)))
		ids = append(ids, h)
		fmt.Fprintf(&buf, "%s\temail_sha256\ts%d,s%d\n", h, 1+i%3, 1+(i+1)%3)
	}
	return buf.Bytes(), ids
}

// upload sends data to a data source in parts of partSize through the API and completes it.
func (e *env) upload(token, dsID string, data []byte, partSize int) *resp {
	return e.uploadWith(token, dsID, data, partSize, 0)
}

// uploadWith is upload with a chosen refusal threshold.
func (e *env) uploadWith(token, dsID string, data []byte, partSize int, maxErrorRate float64) *resp {
	e.t.Helper()
	r := e.do(req{method: "POST", path: "/v1/data-sources/" + dsID + "/uploads", token: token,
		body: map[string]any{"name": "crm.tsv", "size": len(data), "sha256": hexSHA(data), "max_error_rate": maxErrorRate}})
	if r.status != http.StatusCreated {
		e.t.Fatalf("begin upload: %d %s", r.status, r.raw)
	}
	id := r.body["id"].(string)
	for off := 0; off < len(data); off += partSize {
		part := data[off:min(off+partSize, len(data))]
		r := e.do(req{method: "PUT", path: "/v1/uploads/" + id + "/content", token: token, body: string(part),
			header: map[string]string{"Upload-Offset": strconv.Itoa(off), "Upload-Part-SHA256": hexSHA(part), "Content-Type": "application/octet-stream"}})
		if r.status != http.StatusOK {
			e.t.Fatalf("part at %d: %d %s", off, r.status, r.raw)
		}
	}
	if r := e.do(req{method: "POST", path: "/v1/uploads/" + id + "/complete", token: token, body: map[string]any{}}); r.status != http.StatusAccepted {
		e.t.Fatalf("complete: %d %s", r.status, r.raw)
	}
	if ran, err := e.runner.RunOnce(context.Background()); !ran || err != nil {
		e.t.Fatalf("processing job: ran=%v %v", ran, err)
	}
	return e.do(req{method: "GET", path: "/v1/uploads/" + id, token: token})
}

// TestUploadLifecycle: taxonomy, a resumable upload in parts with checksums, processing into a
// version with its report, a failed upload that leaves the previous version in place, tenancy,
// and an unlink after which neither the identifiers nor their fingerprints are anywhere on disk,
// and nothing of the data source (its segment names, file names, checksums) in the database.
// It runs on SQLite, and on PostgreSQL when $CLEANROOM_TEST_POSTGRES is set.
func TestUploadLifecycle(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testUploadLifecycle(t, newEnv(t)) })
	t.Run("postgres", func(t *testing.T) {
		e := newEnvOn(t, postgres.MustOpenTest(t))
		testUploadLifecycle(t, e)
	})
}

func testUploadLifecycle(t *testing.T, e *env) {
	tok := e.tokens["b-member"]
	r := e.do(req{method: "POST", path: "/v1/data-sources", token: tok, body: map[string]string{"name": "Lapsed customers"}})
	ds := r.body["id"].(string)

	// An upload needs a taxonomy; a bad taxonomy is refused whole, naming each bad line.
	if r := e.do(req{method: "POST", path: "/v1/data-sources/" + ds + "/uploads", token: tok, body: map[string]any{"size": 10}}); r.status != http.StatusConflict || !strings.Contains(hint(r), "taxonomy") {
		t.Errorf("upload before taxonomy: %d %s", r.status, r.raw)
	}
	csvHeader := map[string]string{"Content-Type": "text/csv"}
	r = e.do(req{method: "PUT", path: "/v1/data-sources/" + ds + "/taxonomy", token: tok, header: csvHeader,
		body: "segment_id,segment_name\ns1,Lapsed 6m\ns1,Duplicate\ns2,\n"})
	if r.status != 400 || !strings.Contains(string(r.raw), `"line":3`) || !strings.Contains(string(r.raw), `"line":4`) {
		t.Errorf("bad taxonomy: %d %s", r.status, r.raw)
	}
	r = e.do(req{method: "PUT", path: "/v1/data-sources/" + ds + "/taxonomy", token: tok, header: csvHeader,
		body: "segment_id,segment_name\ns1,Lapsed 6 months\ns2,Lapsed 12 months\ns3,High value\n"})
	if r.status != 200 || len(r.body["segments"].([]any)) != 3 {
		t.Fatalf("taxonomy: %d %s", r.status, r.raw)
	}

	data, ids := testRows(300, "a")
	// Resumability: the server tells the offset it has; a wrong offset or a damaged part is refused.
	r = e.do(req{method: "POST", path: "/v1/data-sources/" + ds + "/uploads", token: tok, body: map[string]any{"name": "x.tsv", "size": len(data)}})
	up := r.body["id"].(string)
	put := func(off int, part []byte, sum string) *resp {
		return e.do(req{method: "PUT", path: "/v1/uploads/" + up + "/content", token: tok, body: string(part),
			header: map[string]string{"Upload-Offset": strconv.Itoa(off), "Upload-Part-SHA256": sum, "Content-Type": "application/octet-stream"}})
	}
	if r := put(0, data[:1000], hexSHA(data[:1000])); r.status != 200 || r.header.Get("Upload-Offset") != "1000" {
		t.Fatalf("first part: %d %s", r.status, r.raw)
	}
	if r := put(0, data[:1000], hexSHA(data[:1000])); r.status != http.StatusConflict || r.body["error"].(map[string]any)["details"].(map[string]any)["offset"] != 1000.0 {
		t.Errorf("part at a stale offset: %d %s", r.status, r.raw)
	}
	if r := put(1000, data[1000:2000], hexSHA([]byte("other"))); r.status != 400 || !strings.Contains(r.errMessage(), "damaged") {
		t.Errorf("damaged part: %d %s", r.status, r.raw)
	}
	if r := e.do(req{method: "POST", path: "/v1/uploads/" + up + "/complete", token: tok, body: map[string]any{}}); r.status != http.StatusConflict {
		t.Errorf("completing a partial upload: %d", r.status)
	}
	if r := e.do(req{method: "GET", path: "/v1/uploads/" + up, token: e.tokens["c-admin"]}); r.status != http.StatusNotFound {
		t.Errorf("another org reads the upload: %d", r.status)
	}
	if r := put(1000, data[1000:], hexSHA(data[1000:])); r.status != 200 {
		t.Fatalf("rest: %d %s", r.status, r.raw)
	}
	e.do(req{method: "POST", path: "/v1/uploads/" + up + "/complete", token: tok, body: map[string]any{}})
	if ran, err := e.runner.RunOnce(context.Background()); !ran || err != nil {
		t.Fatal("no processing job", err)
	}
	r = e.do(req{method: "GET", path: "/v1/uploads/" + up, token: tok})
	rep, _ := r.body["report"].(map[string]any)
	if r.body["state"] != "processed" || rep["rows_accepted"] != 300.0 || rep["per_segment"].(map[string]any)["s1"] != 200.0 {
		t.Fatalf("processed upload: %s", r.raw)
	}
	if r := e.do(req{method: "GET", path: "/v1/data-sources/" + ds, token: tok}); r.body["status"] != "ready" {
		t.Errorf("data source status: %s", r.raw)
	}

	// A second, broken file fails with a report and leaves version 1 in use.
	bad := []byte(strings.Repeat("not-a-hash\temail_sha256\ts1\n", 50))
	r = e.upload(tok, ds, bad, 400)
	if r.body["state"] != "failed" || !strings.Contains(string(r.raw), `"line":1`) || strings.Contains(string(r.raw), "not-a-hash") {
		t.Errorf("bad file: %s", r.raw)
	}
	if r := e.do(req{method: "GET", path: "/v1/data-sources/" + ds + "/versions", token: tok}); len(r.body["items"].([]any)) != 1 {
		t.Errorf("versions after a failed upload: %s", r.raw)
	}
	if r := e.do(req{method: "GET", path: "/v1/data-sources/" + ds, token: tok}); r.body["status"] != "ready" {
		t.Errorf("status after a failed upload: %s", r.raw)
	}
	// The user sets how many bad rows a file may have: 20% bad rows fail at the default 5% and
	// pass at 30%.
	good, _ := testRows(80, "c")
	mixed := append(append([]byte{}, good...), bytes.Repeat([]byte("5d41402abc4b2a76b9719d911017c592\temail_sha256\ts1\n"), 20)...)
	if r := e.uploadWith(tok, ds, mixed, 4000, 0); r.body["state"] != "failed" || !strings.Contains(string(r.raw), `"md5":20`) {
		t.Errorf("20%% MD5 rows at the default threshold: %s", r.raw)
	} else if msg, _ := r.body["error"].(string); !strings.Contains(msg, "more than the 5.00% the upload's max_error_rate allows") ||
		!strings.Contains(msg, "upload it again with a higher max_error_rate") || !strings.Contains(msg, "cleanroom upload --max-error-rate") {
		// The refusal names the setting that changes it, and where to set it.
		t.Errorf("the refusal does not name max_error_rate and where to set it: %q", msg)
	}
	if r := e.uploadWith(tok, ds, mixed, 4000, 0.3); r.body["state"] != "processed" || r.body["report"].(map[string]any)["rows_accepted"] != 80.0 {
		t.Errorf("20%% MD5 rows at a 30%% threshold: %s", r.raw)
	}
	if r := e.do(req{method: "POST", path: "/v1/data-sources/" + ds + "/uploads", token: tok, body: map[string]any{"size": 5, "max_error_rate": 1.5}}); r.status != 400 {
		t.Errorf("threshold over 1: %d", r.status)
	}
	// A new good file becomes the next version.
	data2, ids2 := testRows(120, "b")
	if r := e.upload(tok, ds, data2, 700); r.body["state"] != "processed" {
		t.Fatalf("second upload: %s", r.raw)
	}
	if r := e.do(req{method: "GET", path: "/v1/data-sources/" + ds + "/versions", token: tok}); len(r.body["items"].([]any)) != 2 {
		t.Errorf("versions (the newest two are kept): %s", r.raw)
	}

	// Unlink: nothing of the data is left in the data directory, nor in the database but the
	// data source's ID in the audit log.
	if r := e.do(req{method: "DELETE", path: "/v1/data-sources/" + ds, token: tok}); r.status != http.StatusNoContent {
		t.Fatalf("unlink: %d %s", r.status, r.raw)
	}
	if r := e.do(req{method: "GET", path: "/v1/data-sources/" + ds, token: tok}); r.status != http.StatusNotFound {
		t.Errorf("unlinked data source: %d", r.status)
	}
	residue := map[string]string{"the data source's ID": ds, "a file name": "crm.tsv", "another file name": "x.tsv",
		"a segment name": "Lapsed 6 months", "another segment name": "High value", "a file's SHA-256": hexSHA(data2), "another's": hexSHA(mixed)}
	for where, what := range scanDatabase(t, e.store, residue) {
		if what == "the data source's ID" && strings.HasPrefix(where, "audit.") {
			continue // the audit log keeps the ID of what was unlinked, and nothing else of it
		}
		t.Errorf("%s left in %s after the unlink", what, where)
	}
	fp, err := identity.NewFingerprinter(e.keys.Derive(pipeline.FingerprintPurpose))
	if err != nil {
		t.Fatal(err)
	}
	var needles [][]byte
	for _, id := range append(ids, ids2...) {
		f := fp.Fingerprint(identity.TagEmailSHA256, id)
		raw, _ := hex.DecodeString(id)
		needles = append(needles, []byte(id), raw, f[:], []byte(f.String()))
	}
	e.store.Close() // flush the database to its file (SQLite)
	files := 0
	filepath.WalkDir(e.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		b, _ := os.ReadFile(p)
		for _, n := range needles {
			if bytes.Contains(b, n) {
				t.Errorf("%s still holds an identifier or its fingerprint after the unlink", p)
				return nil
			}
		}
		if strings.Contains(p, "data-sources") || strings.Contains(p, "uploads") {
			t.Errorf("file left after the unlink: %s", p)
		}
		return nil
	})
	if _, isPG := e.store.(*postgres.DB); files == 0 && !isPG {
		t.Fatal("scanned no files")
	}
}

// scanDatabase reads every text column of every table of the store's database and returns, for
// each "table.column" holding one of the needles, the needle's name.
func scanDatabase(t *testing.T, store cleanroom.Store, needles map[string]string) map[string]string {
	t.Helper()
	db := store.(interface{ SQL() *sql.DB }).SQL()
	ctx := context.Background()
	cols := map[string][]string{}
	if _, isPG := store.(*postgres.DB); isPG {
		rows, err := db.QueryContext(ctx, `SELECT table_name, column_name FROM information_schema.columns
			WHERE table_schema = current_schema() AND data_type IN ('text', 'character varying', 'json', 'jsonb')`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var tb, c string
			rows.Scan(&tb, &c)
			cols[tb] = append(cols[tb], c)
		}
		rows.Close()
	} else {
		rows, err := db.QueryContext(ctx, `SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p
			WHERE m.type = 'table' AND p.type = 'TEXT'`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var tb, c string
			rows.Scan(&tb, &c)
			cols[tb] = append(cols[tb], c)
		}
		rows.Close()
	}
	if len(cols["uploads"]) == 0 || len(cols["taxonomies"]) == 0 {
		t.Fatalf("found no text columns of uploads or taxonomies: %v", cols)
	}
	found := map[string]string{}
	for tb, cs := range cols {
		for _, c := range cs {
			rows, err := db.QueryContext(ctx, fmt.Sprintf(`SELECT %q FROM %q`, c, tb))
			if err != nil {
				t.Fatalf("read %s.%s: %v", tb, c, err)
			}
			for rows.Next() {
				var v sql.NullString
				if err := rows.Scan(&v); err != nil {
					t.Fatal(err)
				}
				for name, needle := range needles {
					if strings.Contains(v.String, needle) {
						found[tb+"."+c] = name
					}
				}
			}
			rows.Close()
		}
	}
	return found
}
