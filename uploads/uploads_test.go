package uploads_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strings"
	"testing"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/keyring"
	"github.com/cleanroom-oss/cleanroom/memblob"
	"github.com/cleanroom-oss/cleanroom/sqlite"
	"github.com/cleanroom-oss/cleanroom/uploads"
)

// queue records enqueued jobs.
type queue struct{ jobs []*cleanroom.Job }

func (q *queue) Enqueue(ctx context.Context, j *cleanroom.Job) error {
	j.ID = int64(len(q.jobs) + 1)
	q.jobs = append(q.jobs, j)
	return nil
}

type fixture struct {
	svc   *uploads.Service
	store *sqlite.DB
	blobs *memblob.Store
	q     *queue
	org   string
}

func newFixture(t *testing.T) *fixture {
	store := sqlite.MustOpen(t)
	org := &cleanroom.Org{ID: "01900000-0000-7000-8000-000000000001", Name: "Org", Kind: cleanroom.OrgAdvertiser}
	if err := store.CreateOrg(t.Context(), org); err != nil {
		t.Fatal(err)
	}
	f := &fixture{store: store, blobs: memblob.New(), q: &queue{}, org: org.ID}
	f.svc = uploads.New(store, f.blobs, keyring.Generate(), f.q)
	f.svc.MaxPartBytes = 1000
	return f
}

func (f *fixture) spec(size int64) uploads.Spec {
	return uploads.Spec{OrgID: f.org, Target: cleanroom.UploadDataSource, TargetID: "01900000-0000-7000-8000-0000000000d5", Name: "f.tsv", Size: size}
}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func readAll(t *testing.T, f *fixture, u *cleanroom.Upload) []byte {
	t.Helper()
	rc, err := f.svc.Open(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A file sent in parts, with a resume at a stale offset refused, reads back whole; the parts are
// never stored in the clear; completing it checks the checksum and queues one serialised job.
func TestPartsResumeAndComplete(t *testing.T) {
	f := newFixture(t)
	data := bytes.Repeat([]byte("0123456789abcdef secret-looking-row\n"), 70) // 2590 bytes, 3 parts
	sp := f.spec(int64(len(data)))
	sp.SHA256 = sum(data)
	u, err := f.svc.Begin(t.Context(), sp)
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(data); off += 1000 {
		part := data[off:min(off+1000, len(data))]
		if u, err = f.svc.WritePart(t.Context(), u, int64(off), bytes.NewReader(part), sum(part)); err != nil {
			t.Fatalf("part at %d: %v", off, err)
		}
		if off == 0 {
			_, err := f.svc.WritePart(t.Context(), u, 0, bytes.NewReader(part), "")
			if cleanroom.ErrorCode(err) != cleanroom.ECONFLICT || cleanroom.ErrorDetails(err)["offset"] != int64(1000) {
				t.Fatalf("a part at a stale offset: %v %v", err, cleanroom.ErrorDetails(err))
			}
		}
	}
	keys, _ := f.blobs.List(t.Context(), "uploads/")
	if len(keys) != 3 {
		t.Fatalf("%d part files, want 3", len(keys))
	}
	for _, k := range keys {
		rc, _ := f.blobs.Open(t.Context(), k)
		b, _ := io.ReadAll(rc)
		if bytes.Contains(b, []byte("secret-looking-row")) {
			t.Fatalf("part %s is stored in the clear", k)
		}
	}
	if got := readAll(t, f, u); !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes, not the file", len(got))
	}
	u, err = f.svc.Complete(t.Context(), u)
	if err != nil || u.State != cleanroom.UploadComplete || u.JobID != 1 {
		t.Fatalf("complete: %+v %v", u, err)
	}
	j := f.q.jobs[0]
	if j.Kind != "ingest.data_source" || j.SerialKey != "data_source:"+sp.TargetID || !strings.Contains(string(j.Args), u.ID) {
		t.Fatalf("queued job: %+v", j)
	}
}

func TestCompleteChecksTheWholeFile(t *testing.T) {
	f := newFixture(t)
	data := []byte("a\tb\n")
	sp := f.spec(int64(len(data)))
	sp.SHA256 = sum([]byte("something else"))
	u, _ := f.svc.Begin(t.Context(), sp)
	u, _ = f.svc.WritePart(t.Context(), u, 0, bytes.NewReader(data), "")
	if _, err := f.svc.Complete(t.Context(), u); cleanroom.ErrorCode(err) != cleanroom.EINVALID || !strings.Contains(err.Error(), "damaged or changed") {
		t.Fatalf("a changed file: %v", err)
	}
	if len(f.q.jobs) != 0 {
		t.Fatal("a job was queued for a damaged file")
	}
}

func TestBeginRefuses(t *testing.T) {
	f := newFixture(t)
	for name, c := range map[string]func(*uploads.Spec){
		"no size":                   func(s *uploads.Spec) { s.Size = 0 },
		"too big":                   func(s *uploads.Spec) { s.Size = uploads.DefaultMaxUploadBytes + 1 },
		"a bad checksum":            func(s *uploads.Spec) { s.SHA256 = "abc" },
		"an error rate above 1":     func(s *uploads.Spec) { s.MaxErrorRate = 1.5 },
		"confirm_drop on a dataset": func(s *uploads.Spec) { s.ConfirmDrop = true },
	} {
		sp := f.spec(10)
		c(&sp)
		if _, err := f.svc.Begin(t.Context(), sp); cleanroom.ErrorCode(err) != cleanroom.EINVALID {
			t.Errorf("%s: %v", name, err)
		}
	}
	sp := f.spec(10)
	sp.Target, sp.TargetID, sp.ConfirmDrop = cleanroom.UploadPublisher, f.org, true
	if u, err := f.svc.Begin(t.Context(), sp); err != nil || !u.ConfirmDrop {
		t.Fatalf("a confirmed publisher upload: %+v %v", u, err)
	}
}

// Submit keeps a body that arrived whole as a complete upload, in parts, and queues its job
// with the target's serial key.
func TestSubmit(t *testing.T) {
	f := newFixture(t)
	body := bytes.Repeat([]byte(`{"user_ids":["u1"]}`), 150) // 2850 bytes: 3 parts
	sp := uploads.Spec{OrgID: f.org, Target: cleanroom.UploadPublisher, TargetID: f.org, Name: "erasures.json"}
	u, j, err := f.svc.Submit(t.Context(), sp, body, "publisher.erasures")
	if err != nil {
		t.Fatal(err)
	}
	if u.State != cleanroom.UploadComplete || u.Parts != 3 || u.JobID != j.ID || j.Kind != "publisher.erasures" || j.SerialKey != "publisher:"+f.org {
		t.Fatalf("submitted: %+v %+v", u, j)
	}
	if got := readAll(t, f, u); !bytes.Equal(got, body) {
		t.Fatal("the body does not read back")
	}
}

// DeleteAll leaves nothing of a target's uploads: no part file, no record.
func TestDeleteAll(t *testing.T) {
	f := newFixture(t)
	for range 2 {
		u, _ := f.svc.Begin(t.Context(), f.spec(4))
		f.svc.WritePart(t.Context(), u, 0, strings.NewReader("abcd"), "")
	}
	other := f.spec(4)
	other.TargetID = "01900000-0000-7000-8000-0000000000d6"
	kept, _ := f.svc.Begin(t.Context(), other)
	f.svc.WritePart(t.Context(), kept, 0, strings.NewReader("abcd"), "")
	n, err := f.svc.DeleteAll(t.Context(), cleanroom.UploadDataSource, f.spec(4).TargetID)
	if err != nil || n != 2 {
		t.Fatalf("deleted %d, %v", n, err)
	}
	us, _, _ := f.store.ListUploads(t.Context(), cleanroom.UploadDataSource, f.spec(4).TargetID, cleanroom.Page{})
	keys, _ := f.blobs.List(t.Context(), "uploads/")
	if len(us) != 0 || len(keys) != 1 || !strings.HasPrefix(keys[0], "uploads/"+kept.ID+"/") {
		t.Fatalf("left: %d uploads, files %v", len(us), keys)
	}
}
