package pipeline_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/identity"
	"github.com/cleanroom-oss/cleanroom/jobs"
	"github.com/cleanroom-oss/cleanroom/keyring"
	"github.com/cleanroom-oss/cleanroom/memblob"
	"github.com/cleanroom-oss/cleanroom/pipeline"
	"github.com/cleanroom-oss/cleanroom/pubsync"
	"github.com/cleanroom-oss/cleanroom/sqlite"
	"github.com/cleanroom-oss/cleanroom/uploads"
	"github.com/cleanroom-oss/cleanroom/versions"
)

const pubID = "01900000-0000-7000-8000-000000000001"

func emailHash(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

// racingMeta is the metadata store with a hook that runs before the first version is created
// through it: another process's change landing while a version is being built.
type racingMeta struct {
	*sqlite.DB
	before func()
}

func (m *racingMeta) CreateVersion(ctx context.Context, v *cleanroom.Version, base string) error {
	if f := m.before; f != nil {
		m.before = nil
		f()
	}
	return m.DB.CreateVersion(ctx, v, base)
}

type world struct {
	t      *testing.T
	db     *sqlite.DB
	meta   *racingMeta
	pipe   *pipeline.Service
	runner *jobs.Runner
	keys   *keyring.Master
}

func newWorld(t *testing.T) *world {
	db := sqlite.MustOpen(t)
	if err := db.CreateOrg(t.Context(), &cleanroom.Org{ID: pubID, Name: "Courier", Kind: cleanroom.OrgPublisher}); err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, db: db, meta: &racingMeta{DB: db}, keys: keyring.Generate()}
	blobs := memblob.New()
	log := slog.New(slog.DiscardHandler)
	w.runner = jobs.NewRunner(db, log)
	up := uploads.New(db, blobs, w.keys, w.runner)
	w.pipe = pipeline.New(db, up, versions.New(w.meta, blobs, w.keys, log), w.keys, log)
	w.pipe.Register(w.runner)
	tax, _, err := pubsync.ParseTaxonomy(strings.NewReader("cohort_id,name,iab_id,standard\nsports,Sports,,false\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := pipeline.PutPublisherTaxonomy(t.Context(), db, pubID, tax, time.Now()); err != nil {
		t.Fatal(err)
	}
	return w
}

// sync processes a profile file of users u0..u<n-1>.
func (w *world) sync(n int) *cleanroom.Upload {
	w.t.Helper()
	var b bytes.Buffer
	b.WriteString("user_id\tcountry\tidentifiers\tcohorts\n")
	for i := range n {
		fmt.Fprintf(&b, "u%d\tGB\temail_sha256=%s\t\n", i, emailHash(fmt.Sprintf("u%d", i)))
	}
	sp := uploads.Spec{OrgID: pubID, Target: cleanroom.UploadPublisher, TargetID: pubID, Name: "p.tsv", Size: int64(b.Len())}
	u, err := w.pipe.Uploads.Begin(w.t.Context(), sp)
	if err == nil {
		u, err = w.pipe.Uploads.WritePart(w.t.Context(), u, 0, &b, "")
	}
	if err == nil {
		u, err = w.pipe.Uploads.Complete(w.t.Context(), u)
	}
	if err != nil {
		w.t.Fatal(err)
	}
	w.run()
	got, _ := w.db.FindUpload(w.t.Context(), u.ID)
	return got
}

func (w *world) run() {
	w.t.Helper()
	if _, err := w.runner.RunPending(context.Background()); err != nil {
		w.t.Fatal(err)
	}
}

// holds reports whether the publisher's current version has user's identifier.
func (w *world) holds(user string) bool {
	w.t.Helper()
	cur, err := w.pipe.Versions.Current(w.t.Context(), versions.PublisherOwner(pubID))
	if err != nil {
		w.t.Fatal(err)
	}
	v, err := w.pipe.Versions.OpenPublisher(w.t.Context(), cur)
	if err != nil {
		w.t.Fatal(err)
	}
	fp, _ := identity.NewFingerprinter(w.keys.Derive(pipeline.FingerprintPurpose))
	_, ok := v.Lookup(identity.TagEmailSHA256, fp.Fingerprint(identity.TagEmailSHA256, emailHash(user)))
	return ok
}

// An event batch whose version lost the race to an erasure is built again on the erasure's
// version: the erased user stays erased and the batch's user is added.
func TestEventsRebuiltOnAnErasure(t *testing.T) {
	w := newWorld(t)
	if u := w.sync(10); u.State != cleanroom.UploadProcessed {
		t.Fatalf("sync: %s %s", u.State, u.Error)
	}
	ctx := t.Context()
	j, err := w.pipe.SubmitEvents(ctx, pubID, "", pubsync.Batch{Identify: []pubsync.IdentifyEvent{{UserID: "new",
		Identifiers: []pubsync.Identifier{{Tag: "email_sha256", Value: emailHash("new")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	// While the batch's version is built on the synced one, another process erases u3.
	w.meta.before = func() {
		cur, err := w.pipe.Versions.Current(ctx, versions.PublisherOwner(pubID))
		if err != nil {
			t.Fatal(err)
		}
		base, err := w.pipe.Versions.OpenPublisher(ctx, cur)
		if err != nil {
			t.Fatal(err)
		}
		v, n, err := pubsync.Erase(base, []string{"u3"}, w.pipe.PublisherOptions())
		if err != nil || n != 1 {
			t.Fatalf("erase: %d %v", n, err)
		}
		if _, err := w.pipe.Versions.Create(ctx, versions.PublisherOwner(pubID), cur.ID, v.Write, versions.Record{}); err != nil {
			t.Fatal(err)
		}
	}
	w.run()
	if got, _ := w.db.FindJob(ctx, j.ID); got.State != cleanroom.JobSucceeded {
		t.Fatalf("events job: %s %s", got.State, got.LastError)
	}
	if w.holds("u3") {
		t.Error("the erased user came back with the event batch")
	}
	if !w.holds("new") || !w.holds("u4") {
		t.Error("the batch's user, or a kept user, is missing")
	}
}

// An erasure removes the users from every stored version, even when none of them is in the
// current one any more (a later sync dropped them), and reports what it did.
func TestErasureReachesOlderVersions(t *testing.T) {
	w := newWorld(t)
	w.sync(10)
	w.sync(6) // u6..u9 are only in the older version now
	ctx := t.Context()
	if vs, _ := w.pipe.Versions.List(ctx, versions.PublisherOwner(pubID)); len(vs) != 2 {
		t.Fatalf("%d versions, want 2", len(vs))
	}
	j, err := w.pipe.SubmitErasures(ctx, pubID, "", pipeline.ErasureRequest{UserIDs: []string{"u8"}})
	if err != nil {
		t.Fatal(err)
	}
	w.run()
	var args uploads.JobArgs
	got, _ := w.db.FindJob(ctx, j.ID)
	if got.State != cleanroom.JobSucceeded {
		t.Fatalf("erasure job: %s %s", got.State, got.LastError)
	}
	jsonArgs(t, got.Args, &args)
	u, _ := w.db.FindUpload(ctx, args.UploadID)
	var rep cleanroom.UploadReport
	jsonArgs(t, u.Report, &rep)
	if u.State != cleanroom.UploadProcessed || rep.RowsRead != 1 || rep.Erased != 0 {
		t.Fatalf("erasure upload: %s %s", u.State, u.Report)
	}
	if vs, _ := w.pipe.Versions.List(ctx, versions.PublisherOwner(pubID)); len(vs) != 1 {
		t.Fatalf("%d versions after the erasure, want 1", len(vs))
	}
	// The request itself is not kept once applied.
	if ps, _ := w.db.ListUploadParts(ctx, u.ID); len(ps) != 0 {
		t.Fatalf("the erasure request's parts are kept: %d", len(ps))
	}
}

// A processing failure the engines do not cause (a stored part that cannot be read) fails the
// upload on the last attempt with a user-safe message, not the cause.
func TestInternalFailureIsUserSafe(t *testing.T) {
	w := newWorld(t)
	var b bytes.Buffer
	b.WriteString("user_id\tcountry\tidentifiers\tcohorts\nu1\tGB\t\t\n")
	ctx := t.Context()
	u, _ := w.pipe.Uploads.Begin(ctx, uploads.Spec{OrgID: pubID, Target: cleanroom.UploadPublisher, TargetID: pubID, Name: "p.tsv", Size: int64(b.Len())})
	u, _ = w.pipe.Uploads.WritePart(ctx, u, 0, &b, "")
	parts, _ := w.db.ListUploadParts(ctx, u.ID)
	w.pipe.Uploads.Blobs.Put(ctx, parts[0].BlobKey, strings.NewReader("damaged"))
	w.pipe.Uploads.Complete(ctx, u)
	for range 3 {
		w.runner.Now = func() time.Time { return time.Now().Add(24 * time.Hour) } // past any backoff
		w.run()
	}
	got, _ := w.db.FindUpload(ctx, u.ID)
	j, _ := w.db.FindJob(ctx, got.JobID)
	if got.State != cleanroom.UploadFailed || j.State != cleanroom.JobFailed {
		t.Fatalf("upload %s, job %s", got.State, j.State)
	}
	for _, text := range []string{got.Error, j.LastError} {
		if text == "" || strings.Contains(text, "uploads/") || strings.Contains(text, "sealed") {
			t.Errorf("shown to the tenant: %q", text)
		}
	}
}

func jsonArgs(t *testing.T, raw []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatal(err)
	}
}
