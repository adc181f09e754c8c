package web_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/accounts"
	"github.com/cleanroom-oss/cleanroom/app"
	"github.com/cleanroom-oss/cleanroom/app/apptest"
	"github.com/cleanroom-oss/cleanroom/ingest"
	"github.com/cleanroom-oss/cleanroom/pipeline"
	"github.com/cleanroom-oss/cleanroom/uploads"
)

// uploadWorld is a running server with an advertiser (Acme, admin Ada) and a data source, whose
// handler keeps a copy of every upload part the browser sends.
type uploadWorld struct {
	*fixture
	app  *app.Main
	adv  *cleanroom.Org
	ds   *cleanroom.DataSource
	mu   sync.Mutex
	sent bytes.Buffer // the bodies of every PUT /v1/uploads/{id}/content
	puts int
}

func newUploadWorld(t *testing.T) *uploadWorld {
	t.Helper()
	needBrowser(t)
	ctx := context.Background()
	m := apptest.Open(t, apptest.Options{Log: t.Output()})
	w := &uploadWorld{app: m}
	h, err := m.Handler()
	if err != nil {
		t.Fatal(err)
	}
	m.Web.UploadPartBytes = 256 // several parts for a small file
	m.Web.RefreshEvery = 100 * time.Millisecond
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/content") {
			b, _ := io.ReadAll(r.Body)
			w.mu.Lock()
			w.sent.Write(b)
			w.puts++
			w.mu.Unlock()
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
		h.ServeHTTP(rw, r)
	}))
	t.Cleanup(srv.Close)
	w.fixture = &fixture{t: t, url: srv.URL, store: m.Store, acc: m.Accounts}
	w.adv, err = m.Accounts.CreateOrg(ctx, "Acme Outdoor", cleanroom.OrgAdvertiser)
	if err == nil {
		_, err = m.Accounts.RecordDPA(ctx, w.adv.ID, time.Time{})
	}
	if err == nil {
		w.adv, err = m.Accounts.EnableCleanRoom(ctx, w.adv.ID)
	}
	var ada *cleanroom.Member
	if err == nil {
		ada, _, err = m.Accounts.AddMember(ctx, w.adv.ID, accounts.NewUser{Email: "ada@acme.example", Name: "Ada", Password: testPassword, Role: cleanroom.RoleAdmin})
	}
	if err == nil {
		w.ds, err = m.Connections.CreateDataSource(ctx, cleanroom.MemberCaller(ada, w.adv), "CRM customers", "")
	}
	if err == nil {
		var tax *ingest.Taxonomy
		if tax, _, err = ingest.ParseTaxonomy(strings.NewReader("segment_id,name\nbuyers,Buyers\nvip,VIP customers\n")); err == nil {
			err = pipeline.PutDataSourceTaxonomy(ctx, m.Store, w.ds.ID, tax, time.Now())
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestBrowserPrepareVectors runs the shared test vectors of the preparation rules
// (prepare/testdata/browser-vectors.json, which the prepare package's Go test checks too)
// through the page's port, prepare.js: every value and every file gives what Go gives.
func TestBrowserPrepareVectors(t *testing.T) {
	w := newUploadWorld(t)
	raw, err := os.ReadFile("../prepare/testdata/browser-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	b := w.newTab()
	b.login("ada@acme.example")
	b.navigate("/data-sources/" + w.ds.ID)
	script := `(async (v) => {
	  const P = window.CleanroomPrepare, bad = [];
	  for (const f of v.fields) {
	    let got = "", reason = "";
	    try { got = await P.field(f.tag, f.raw, {foldGmail: !!f.fold_gmail, defaultCountryCode: f.default_country_code || ""}); }
	    catch (e) { if (!(e instanceof P.ValueError)) throw e; reason = e.reason; }
	    if (got !== (f.want || "") || reason !== (f.reason || "")) bad.push(JSON.stringify([f.tag, f.raw, got, reason, f.want, f.reason]));
	  }
	  for (const f of v.files) {
	    const r = await P.run(f.input, {defaultCountryCode: f.default_country_code || "", segments: f.segments || []});
	    if (r.output !== f.output) bad.push(f.name + ": output " + JSON.stringify(r.output) + " want " + JSON.stringify(f.output));
	    const sorted = (o) => JSON.stringify(Object.keys(o).sort().map((k) => [k, o[k]]));
	    if (sorted(r.summary.rejected) !== sorted(f.rejected || {})) bad.push(f.name + ": rejected " + sorted(r.summary.rejected) + " want " + sorted(f.rejected || {}));
	  }
	  return {checked: v.fields.length + v.files.length, bad};
	})(` + string(raw) + `)`
	type result struct {
		Checked int      `json:"checked"`
		Bad     []string `json:"bad"`
	}
	res := run(b, "run the vectors", chromedp.Evaluate[result](script, chromedp.EvalAwaitPromise))
	if res.Checked < 40 {
		t.Fatalf("checked %d vectors", res.Checked)
	}
	for _, s := range res.Bad {
		t.Errorf("prepare.js differs from Go: %s", s)
	}
}

// TestBrowserUploadInPage: the advertiser chooses a raw customer list on the data source page;
// it is prepared in the browser (the bytes sent hold no raw email address or phone number, only
// their digests), sent in parts with a progress bar, stopped after one part, resumed from where
// the server's copy ends after a reload, processed, and reported with its refused rows.
func TestBrowserUploadInPage(t *testing.T) {
	w := newUploadWorld(t)
	var csv strings.Builder
	csv.WriteString("Email,Phone,Segments\n")
	var raws []string
	for i := range 40 {
		email := fmt.Sprintf("Customer.%d@Example.com", i)
		phone := fmt.Sprintf("+44 20 7946 %04d", i)
		raws = append(raws, email, strings.ToLower(email), phone, strings.ReplaceAll(phone, " ", ""))
		fmt.Fprintf(&csv, "%s,%s,buyers;vip\n", email, phone)
	}
	csv.WriteString("not-an-address,,buyers\n")
	file := filepath.Join(t.TempDir(), "customers.csv")
	if err := os.WriteFile(file, []byte(csv.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	b := w.newTab()
	b.login("ada@acme.example")
	b.navigate("/data-sources/" + w.ds.ID)
	if !b.exists("#upload-form") {
		t.Fatal("no upload form on the data source page")
	}
	// The first attempt stops after one part, as a lost connection would.
	b.do("choose the file and upload one part",
		chromedp.SetAttributeValue(chromedp.CSS("#upload"), "data-pause-after-parts", "1"),
		chromedp.SetUploadFiles(chromedp.CSS(`#upload-form input[type=file]`), []string{file}),
		chromedp.Click(chromedp.CSS(`#upload-form button[type=submit]`)),
	)
	run(b, "wait for the pause", chromedp.Poll[bool](`document.querySelector("#upload-status").textContent.startsWith("Stopped")`))
	if got := b.text("#prepare-rejects"); !strings.Contains(got, "bad_email") || !strings.Contains(got, "42") {
		t.Errorf("the refused rows shown = %q, want line 42's bad_email", got)
	}
	if v := js[float64](b, `document.querySelector("#upload-progress").value`); v <= 0 {
		t.Errorf("progress bar at %v after a part", v)
	}
	w.mu.Lock()
	first := w.puts
	w.mu.Unlock()
	if first != 1 {
		t.Fatalf("%d parts sent before the pause, want 1", first)
	}
	// Reloaded, the same file resumes where the server's copy ends.
	b.navigate("/data-sources/" + w.ds.ID)
	b.do("choose the file again",
		chromedp.SetUploadFiles(chromedp.CSS(`#upload-form input[type=file]`), []string{file}),
		chromedp.Click(chromedp.CSS(`#upload-form button[type=submit]`)),
	)
	run(b, "wait for the upload", chromedp.Poll[bool](`(document.querySelector("#upload-status") || {textContent: ""}).textContent.startsWith("Sent") || !!document.querySelector("#upload-report")`))
	// The page reloads itself once sent; let it, so that the next navigation is not cut short.
	reloaded := false
	for range 100 { // evaluations fail while the page navigates: try again
		ctx, cancel := b.step()
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.readyState === "complete" && document.querySelector("#upload-status") !== null && document.querySelector("#upload-status").textContent === ""`))
		cancel()
		if reloaded = err == nil && ok; reloaded {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !reloaded {
		t.Fatal("the page did not reload itself after the upload")
	}
	ups, _, err := w.store.ListUploads(context.Background(), cleanroom.UploadDataSource, w.ds.ID, cleanroom.Page{Limit: 10})
	// Resumed, not begun again: one upload, and every byte of it sent once.
	if err != nil || len(ups) != 1 {
		t.Fatalf("uploads: %d %v, want the one upload, resumed", len(ups), err)
	}
	// Nothing raw was sent: no address or number in any form, only digests.
	w.mu.Lock()
	sent := w.sent.String()
	w.mu.Unlock()
	for _, raw := range raws {
		if strings.Contains(sent, raw) {
			t.Fatalf("the bytes sent contain the raw identifier %q", raw)
		}
	}
	if !strings.Contains(sent, "\temail_sha256\tbuyers,vip\n") || !strings.Contains(sent, "\tphone_sha256\t") || int64(len(sent)) != ups[0].Size {
		t.Errorf("the bytes sent (%d, upload of %d) are not the prepared rows", len(sent), ups[0].Size)
	}
	// Processed, the page shows the report.
	if _, err := w.app.Jobs.RunPending(context.Background()); err != nil {
		t.Fatal(err)
	}
	b.navigate("/data-sources/" + w.ds.ID)
	if got := b.text("#upload-report"); !strings.Contains(got, "80") {
		t.Errorf("report = %q, want 80 rows read", got)
	}
	b.screenshot("upload-in-page")
}

// TestBrowserDeleteAndAudit: the advertiser deletes a data source from its page (the
// confirmation lists what is shredded), then finds the deletion in the audit log by filtering on
// the action, with its own name as the actor, and the export link carries the filter.
func TestBrowserDeleteAndAudit(t *testing.T) {
	w := newUploadWorld(t)
	b := w.newTab()
	b.login("ada@acme.example")
	b.navigate("/data-sources/" + w.ds.ID)
	msg := js[string](b, `document.querySelector("#delete-form").dataset.confirm`)
	if !strings.Contains(msg, "the taxonomy (2 segments)") || !strings.Contains(msg, "cannot be undone") {
		t.Errorf("the delete confirmation says %q", msg)
	}
	b.confirmAll()
	b.submit("delete", chromedp.Click(chromedp.CSS(`#delete-form button`)))
	if p := b.path(); p != "/data-sources" || !b.exists("#no-data-sources") {
		t.Fatalf("after the delete: at %s", p)
	}
	b.do("open the audit log", chromedp.Click(chromedp.CSS(`nav a[href="/audit"]`)), chromedp.WaitVisible(chromedp.CSS("#audit-filters")))
	b.fill("filter", "#audit-filters", map[string]string{"input[name=action]": "data_source."})
	rows := b.rows("table.audit")
	if len(rows) != 1 || rows[0][1] != "data_source.unlink" || rows[0][2] != "Ada <ada@acme.example>" || rows[0][4] != "Acme Outdoor" {
		t.Errorf("filtered audit rows = %q, want Ada's unlink", rows)
	}
	if href := js[string](b, `document.querySelector("#audit-export").getAttribute("href")`); href != "/audit.csv?action=data_source." {
		t.Errorf("export link = %q", href)
	}
}

// TestBrowserUploadRawPII: a file of raw email addresses sent as if hashed (with `cleanroom
// upload`, not prepared) is refused row by row, and the data source page's report lists each row
// with the raw_email reason and its fix, without echoing the address.
func TestBrowserUploadRawPII(t *testing.T) {
	w := newUploadWorld(t)
	ctx := context.Background()
	data := []byte("ada.lovelace@example.com\temail_sha256\tbuyers\ncharles.babbage@example.org\temail_sha256\tvip\n")
	up, err := w.app.Uploads.Begin(ctx, uploads.Spec{OrgID: w.adv.ID, Target: cleanroom.UploadDataSource, TargetID: w.ds.ID, Name: "raw.tsv", Size: int64(len(data))})
	if err == nil {
		up, err = w.app.Uploads.WritePart(ctx, up, 0, bytes.NewReader(data), "")
	}
	if err == nil {
		_, err = w.app.Uploads.Complete(ctx, up)
	}
	if err == nil {
		_, err = w.app.Jobs.RunPending(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	b := w.newTab()
	b.login("ada@acme.example")
	b.navigate("/data-sources/" + w.ds.ID)
	rows := b.rows("#row-errors")
	if len(rows) != 2 {
		t.Fatalf("row errors shown: %q, want the two rows", rows)
	}
	for _, r := range rows {
		if !strings.Contains(r[1], "raw_email") || !strings.Contains(r[2], "SHA-256") {
			t.Errorf("row error %q, want raw_email and how to hash it", r)
		}
	}
	if got := b.text("main"); strings.Contains(got, "ada.lovelace") || strings.Contains(got, "babbage") {
		t.Errorf("the page echoes a raw address: %q", got)
	}
	b.screenshot("upload-raw-pii")
}
