package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/accounts"
	"github.com/cleanroom-oss/cleanroom/app"
	"github.com/cleanroom-oss/cleanroom/auth"
	"github.com/cleanroom-oss/cleanroom/client"
)

// TestMain lets the test binary act as the cleanroom binary in a child process (for the crash
// test): with CLEANROOM_TEST_AS_MAIN=1 it runs the CLI with its arguments and exits.
func TestMain(m *testing.M) {
	if os.Getenv("CLEANROOM_TEST_AS_MAIN") == "1" {
		os.Exit(Execute(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// enabledOrg makes, in m, an organization of kind with the DPA recorded and the clean room
// enabled, and an admin with email; it returns the org, the admin and an API token of theirs.
func enabledOrg(t *testing.T, m *app.Main, name string, kind cleanroom.OrgKind, email string) (*cleanroom.Org, *cleanroom.Member, string) {
	t.Helper()
	ctx := context.Background()
	m.Accounts.Passwords = auth.TestParams
	org, err := m.Accounts.CreateOrg(ctx, name, kind)
	if err == nil {
		_, err = m.Accounts.RecordDPA(ctx, org.ID, time.Time{})
	}
	if err == nil {
		org, err = m.Accounts.EnableCleanRoom(ctx, org.ID)
	}
	if err != nil {
		t.Fatal(err)
	}
	admin, _, err := m.Accounts.AddMember(ctx, org.ID, accounts.NewUser{Email: email, Password: pw, Role: cleanroom.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := m.Accounts.IssueToken(ctx, admin.ID, org.ID, "cli", 0)
	if err != nil {
		t.Fatal(err)
	}
	return org, admin, token
}

// advertiserSetup makes, in the data directory, an advertiser with a data source and a taxonomy,
// and returns the data source ID and an API token.
func advertiserSetup(t *testing.T, m *app.Main) (dsID, token string) {
	t.Helper()
	ctx := context.Background()
	adv, mem, token := enabledOrg(t, m, "Northwind", cleanroom.OrgAdvertiser, "data@northwind.example")
	ds, err := m.Connections.CreateDataSource(ctx, &cleanroom.Caller{User: &cleanroom.User{ID: mem.ID}, Org: &cleanroom.Org{ID: adv.ID}, Role: cleanroom.RoleAdmin}, "CRM", "")
	if err != nil {
		t.Fatal(err)
	}
	return ds.ID, token
}

// writeDataFile writes n advertiser rows to a file and returns its path.
func writeDataFile(t *testing.T, dir string, n int, seed string) string {
	t.Helper()
	p := filepath.Join(dir, seed+".tsv")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for i := range n {
		h := sha256.Sum256([]byte(fmt.Sprintf("%s-%d@example.com", seed, i)))
		fmt.Fprintf(w, "%s\temail_sha256\ts%d\n", hex.EncodeToString(h[:]), 1+i%2)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return p
}

// TestUploadCommandResumes: `cleanroom upload` uploads the taxonomy and the file, follows the
// processing and prints the report; run again on an interrupted upload, it resumes from the
// server's offset.
func TestUploadCommandResumes(t *testing.T) {
	dir := t.TempDir()
	m := app.NewMain()
	m.Config.DataDir, m.Config.Addr = dir, "127.0.0.1:0"
	m.Logger = slog.New(slog.DiscardHandler)
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	dsID, token := advertiserSetup(t, m)
	if err := m.Serve(); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tax := filepath.Join(dir, "tax.csv")
	os.WriteFile(tax, []byte("segment_id,segment_name\ns1,One\ns2,Two\n"), 0o600)
	file := writeDataFile(t, dir, 50000, "a")

	// An earlier run sent the first part and was interrupted.
	cl := client.New(m.URL(), token)
	ctx := context.Background()
	if err := cl.PutTaxonomy(ctx, dsID, strings.NewReader("segment_id,segment_name\ns1,One\ns2,Two\n")); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(file)
	sum := sha256.Sum256(data)
	u, err := cl.BeginUpload(ctx, dsID, "a.tsv", int64(len(data)), hex.EncodeToString(sum[:]), 0)
	if err != nil {
		t.Fatal(err)
	}
	first := data[:1<<20]
	fsum := sha256.Sum256(first)
	if _, err := cl.PutPart(ctx, u.ID, 0, first, hex.EncodeToString(fsum[:])); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(file)
	st, _ := json.Marshal(uploadState{Server: m.URL(), DataSourceID: dsID, UploadID: u.ID, Size: fi.Size(), SHA256: hex.EncodeToString(sum[:]), ModTime: fi.ModTime().UnixNano()})
	os.WriteFile(file+".cleanroom-upload", st, 0o600)

	code, out, errs := run(t, "", "upload", "--server", m.URL(), "--token", token, "--data-source", dsID, "--file", file, "--taxonomy", tax, "--part-size", "1")
	if code != 0 {
		t.Fatalf("upload: exit %d\n%s\n%s", code, out, errs)
	}
	if !strings.Contains(errs, "resuming upload "+u.ID+" at byte 1048576") {
		t.Errorf("did not resume: %s", errs)
	}
	if !strings.Contains(out, "rows read 50000, accepted 50000") || !strings.Contains(out, "s1") {
		t.Errorf("report: %s", out)
	}
	if _, err := os.Stat(file + ".cleanroom-upload"); err == nil {
		t.Error("state file left after a finished upload")
	}
	// Mistakes are one line with a hint.
	code, _, errs = run(t, "", "upload", "--server", m.URL(), "--token", token, "--data-source", "nope", "--file", file)
	if code != 2 || !strings.Contains(errs, cleanroom.UUIDFormat) {
		t.Errorf("bad data source ID: %d %s", code, errs)
	}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServer runs `cleanroom serve` on dir in a child process and waits until it is ready.
func startServer(t *testing.T, dir, addr string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"serve", "--data", dir, "--addr", addr, "--job-lease", "2s", "--log-level", "warn"}, args...)...)
	cmd.Env = append(os.Environ(), "CLEANROOM_TEST_AS_MAIN=1")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return cmd
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("server did not start: %s", logs.String())
	return nil
}

// TestCrashDuringIngest kills a real server process while it processes an upload: the previous
// version stays intact and current, and after a restart the job is taken over and finishes.
func TestCrashDuringIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes and ingests a million rows")
	}
	dir := t.TempDir()
	m := app.NewMain()
	m.Config.DataDir = dir
	m.Logger = slog.New(slog.DiscardHandler)
	ctx := context.Background()
	if err := m.Open(ctx); err != nil {
		t.Fatal(err)
	}
	dsID, token := advertiserSetup(t, m)
	m.Close()

	addr := freeAddr(t)
	srv := startServer(t, dir, addr)
	cl := client.New("http://"+addr, token)
	if err := cl.PutTaxonomy(ctx, dsID, strings.NewReader("segment_id,segment_name\ns1,One\ns2,Two\n")); err != nil {
		t.Fatal(err)
	}
	send := func(path string) *cleanroom.Upload {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		u, err := cl.BeginUpload(ctx, dsID, filepath.Base(path), int64(len(data)), "", 0)
		if err != nil {
			t.Fatal(err)
		}
		for off := 0; off < len(data); off += 32 << 20 {
			part := data[off:min(off+32<<20, len(data))]
			s := sha256.Sum256(part)
			if _, err := cl.PutPart(ctx, u.ID, int64(off), part, hex.EncodeToString(s[:])); err != nil {
				t.Fatal(err)
			}
		}
		if u, err = cl.CompleteUpload(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		return u
	}
	waitState := func(id string, want cleanroom.UploadState, d time.Duration) *cleanroom.Upload {
		deadline := time.Now().Add(d)
		for time.Now().Before(deadline) {
			if u, err := cl.Upload(ctx, id); err == nil && u.State == want {
				return u
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("upload %s did not reach %s", id, want)
		return nil
	}
	v1 := waitState(send(writeDataFile(t, dir, 1000, "first")).ID, cleanroom.UploadProcessed, 60*time.Second)

	big := send(writeDataFile(t, dir, 1_500_000, "second"))
	waitState(big.ID, cleanroom.UploadProcessing, 60*time.Second)
	if err := srv.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	srv.Wait()

	// While the server is down: version 1 is current and its file reads back whole.
	m = app.NewMain()
	m.Config.DataDir = dir
	m.Logger = slog.New(slog.DiscardHandler)
	if err := m.Open(ctx); err != nil {
		t.Fatal(err)
	}
	cur, err := m.Store.CurrentVersion(ctx, dsID)
	if err != nil || cur.ID != v1.VersionID {
		t.Fatalf("current version after the crash: %+v %v (want %s)", cur, err, v1.VersionID)
	}
	rc, err := m.Blobs.Open(ctx, cur.BlobKey)
	if err != nil {
		t.Fatalf("version 1's file: %v", err)
	}
	io.Copy(io.Discard, rc)
	rc.Close()
	m.Close()

	// Restarted, the server takes the job over once the dead worker's lease expires.
	startServer(t, dir, addr)
	done := waitState(big.ID, cleanroom.UploadProcessed, 120*time.Second)
	if done.VersionID == v1.VersionID || !strings.Contains(string(done.Report), `"rows_accepted":1500000`) {
		t.Errorf("after the restart: version %s report %.300s", done.VersionID, done.Report)
	}
	j, err := cl.Job(ctx, done.JobID)
	if err != nil || j.Attempt < 2 {
		t.Errorf("job after the crash: %+v %v", j, err)
	}
}

// TestUploadFileLimits: files beyond --max-file-rows or --max-file-bytes-decompressed (a gzip
// bomb) fail, with an error on the upload that names the flag to change; a file within them is
// processed, spilled to <data>/tmp with a one-byte --ingest-memory, and leaves no temporary file
// behind, nor does an earlier crash.
func TestUploadFileLimits(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "tmp", "ingest-12345")
	if err := os.MkdirAll(stale, 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(stale, "000001.run"), []byte("left by a crash"), 0o600)
	m := app.NewMain()
	m.Config.DataDir, m.Config.Addr = dir, "127.0.0.1:0"
	m.Config.MaxFileRows, m.Config.MaxFileBytes, m.Config.IngestMemory = 1000, 1<<20, 1
	m.Logger = slog.New(slog.DiscardHandler)
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("a spill directory left by a crash is still there after start: %v", err)
	}
	dsID, token := advertiserSetup(t, m)
	if err := m.Serve(); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tax := filepath.Join(dir, "tax.csv")
	os.WriteFile(tax, []byte("segment_id,segment_name\ns1,One\ns2,Two\n"), 0o600)

	// 64 MiB of identical long rows (it reaches the bytes limit before the lines limit), gzipped
	// to a few hundred KiB.
	bomb := filepath.Join(dir, "bomb.tsv.gz")
	f, err := os.Create(bomb)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	row := []byte(strings.Repeat("ab", 32) + "\temail_sha256\t" + strings.Repeat("s1,", 600) + "s2\n")
	for range (64 << 20) / len(row) {
		zw.Write(row)
	}
	zw.Close()
	f.Close()
	for _, tt := range []struct {
		file, flag string
	}{
		{writeDataFile(t, dir, 1001, "rows"), "--max-file-rows"},
		{bomb, "--max-file-bytes-decompressed"},
	} {
		code, out, errs := run(t, "", "upload", "--server", m.URL(), "--token", token, "--data-source", dsID, "--file", tt.file, "--taxonomy", tax)
		if code == 0 || !strings.Contains(errs, "Processing failed") || !strings.Contains(errs, tt.flag) {
			t.Errorf("%s: exit %d, want an error naming %s\n%s\n%s", filepath.Base(tt.file), code, tt.flag, out, errs)
		}
	}
	code, out, errs := run(t, "", "upload", "--server", m.URL(), "--token", token, "--data-source", dsID, "--file", writeDataFile(t, dir, 1000, "ok"))
	if code != 0 || !strings.Contains(out, "rows read 1000, accepted 1000") {
		t.Fatalf("a file within the limits: exit %d\n%s\n%s", code, out, errs)
	}
	var id string
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, "upload "); ok {
			id, _, _ = strings.Cut(rest, ":")
		}
	}
	u, err := client.New(m.URL(), token).Upload(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		SpilledRuns int `json:"spilled_runs"`
	}
	if json.Unmarshal(u.Report, &rep); rep.SpilledRuns < 1 {
		t.Errorf("with a one-byte --ingest-memory, nothing was spilled: %s", u.Report)
	}
	left, _ := os.ReadDir(filepath.Join(dir, "tmp"))
	if len(left) != 0 {
		t.Errorf("%d temporary files left in the data directory after processing", len(left))
	}
}

// TestUploadRefusesRawIdentifiers: `cleanroom upload` reads the start of the file and refuses a
// raw export (a header naming email or phone columns over plain values) and an upload file whose
// rows hold raw emails or phone numbers, gzipped or not, before it sends a byte; it points to
// cleanroom prepare. Prepared files and hashed columns pass the check.
func TestUploadRefusesRawIdentifiers(t *testing.T) {
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.Error(w, "no", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	dir := t.TempDir()
	write := func(name, content string, gz bool) string {
		p := filepath.Join(dir, name)
		var b bytes.Buffer
		if gz {
			zw := gzip.NewWriter(&b)
			zw.Write([]byte(content))
			zw.Close()
		} else {
			b.WriteString(content)
		}
		if err := os.WriteFile(p, b.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var rawCSV, rawTSV, phones, hashed strings.Builder
	rawCSV.WriteString("Email,Phone,maid,segments\n")
	hashed.WriteString("id,tag,segments,email_sha256\n")
	for i := range 300 {
		fmt.Fprintf(&rawCSV, "person%d@example.com,+44 7700 900%03d,,s1\n", i, i)
		fmt.Fprintf(&rawTSV, "%s\temail_sha256\ts1\n", hexOf(i))
		if i%10 == 0 {
			fmt.Fprintf(&rawTSV, "Person%d@Example.com\temail_sha256\ts1\n", i)
		}
		fmt.Fprintf(&phones, "+1 (415) 555-%04d\tphone_sha256\ts1\n", i)
		fmt.Fprintf(&hashed, "%s,email_sha256,s1,%s\n", hexOf(i), hexOf(i))
	}
	ds := "01a2376b-9d4c-72ef-808c-871e680d194f"
	for _, c := range []struct {
		name, file string
		refused    bool
	}{
		{"raw export", write("raw.csv", rawCSV.String(), false), true},
		{"raw export, gzipped", write("raw.csv.gz", rawCSV.String(), true), true},
		{"raw emails in an upload file", write("mixed.tsv", rawTSV.String(), false), true},
		{"raw phones, gzipped", write("phones.tsv.gz", phones.String(), true), true},
		{"a prepared file", writeDataFile(t, dir, 500, "ok"), false},
		{"a hashed column named email", write("hashed.csv", hashed.String(), false), false},
	} {
		before := requests.Load()
		code, _, errs := run(t, "", "upload", "--server", srv.URL, "--token", "crt_x", "--data-source", ds, "--file", c.file)
		sent := requests.Load() - before
		if c.refused {
			if code != 2 || sent != 0 || !strings.Contains(errs, "raw email addresses or phone numbers") ||
				!strings.Contains(errs, "cleanroom prepare --in "+c.file) {
				t.Errorf("%s: exit %d, %d requests, %q; want exit 2, nothing sent, a pointer to cleanroom prepare", c.name, code, sent, errs)
			}
		} else if sent == 0 {
			t.Errorf("%s: refused before sending: exit %d %q", c.name, code, errs)
		}
	}
}

// hexOf returns a SHA-256 digest in hex, different for each i.
func hexOf(i int) string {
	s := sha256.Sum256([]byte(fmt.Sprint(i)))
	return hex.EncodeToString(s[:])
}
