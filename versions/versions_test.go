package versions_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/keyring"
	"github.com/cleanroom-oss/cleanroom/memblob"
	"github.com/cleanroom-oss/cleanroom/sqlite"
	"github.com/cleanroom-oss/cleanroom/vault"
	"github.com/cleanroom-oss/cleanroom/versions"
)

const orgID = "01900000-0000-7000-8000-000000000001"

func newStore(t *testing.T) (*versions.Store, *memblob.Store) {
	db := sqlite.MustOpen(t)
	if err := db.CreateOrg(t.Context(), &cleanroom.Org{ID: orgID, Name: "Org", Kind: cleanroom.OrgPublisher}); err != nil {
		t.Fatal(err)
	}
	blobs := memblob.New()
	return versions.New(db, blobs, keyring.Generate(), nil), blobs
}

var owner = versions.Owner{Kind: versions.DataSource, ID: "01900000-0000-7000-8000-0000000000d5", OrgID: orgID}

// text writes a vault file holding s.
func text(s string) versions.Writer {
	return func(ctx context.Context, blobs cleanroom.BlobStore, key string, dataKey []byte) (int64, error) {
		return vault.Write(ctx, blobs, key, dataKey, "test/v1", nil, []vault.Section{{Name: "s", Data: []byte(s)}})
	}
}

func openText(ctx context.Context, blobs cleanroom.BlobStore, key string, dataKey []byte, workers int) (string, error) {
	f, err := vault.Open(ctx, blobs, key, dataKey, "test/v1", workers)
	if err != nil {
		return "", err
	}
	return string(f.Bytes("s")), nil
}

func read(t *testing.T, s *versions.Store, v *cleanroom.Version) string {
	t.Helper()
	got, err := versions.Open(t.Context(), s, v, openText)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestCreateOnTheBase(t *testing.T) {
	s, blobs := newStore(t)
	ctx := t.Context()
	v1, err := s.Create(ctx, owner, "", text("one"), versions.Record{Rows: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(v1.BlobKey, owner.Prefix()) || read(t, s, v1) != "one" {
		t.Fatalf("version 1: %+v", v1)
	}
	raw, _ := blobs.Open(ctx, v1.BlobKey)
	if b, _ := io.ReadAll(raw); bytes.Contains(b, []byte("one")) {
		t.Fatal("the file is stored in the clear")
	}
	v2, err := s.Create(ctx, owner, v1.ID, text("two"), versions.Record{})
	if err != nil {
		t.Fatal(err)
	}
	// A version built on version 1 is refused now, and its file does not stay.
	_, err = s.Create(ctx, owner, v1.ID, text("stale"), versions.Record{})
	if cleanroom.ErrorCode(err) != cleanroom.ECONFLICT || cleanroom.ErrorDetails(err)["current"] != v2.ID {
		t.Fatalf("a version on a stale base: %v", err)
	}
	if keys, _ := blobs.List(ctx, ""); len(keys) != 2 {
		t.Fatalf("files: %v", keys)
	}
	// A draft stays until it is committed or discarded: the caller may commit it on the new base.
	d, err := s.Put(ctx, owner, text("three"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(ctx, d, v1.ID, versions.Record{}); cleanroom.ErrorCode(err) != cleanroom.ECONFLICT {
		t.Fatalf("commit on a stale base: %v", err)
	}
	v3, err := s.Commit(ctx, d, v2.ID, versions.Record{})
	if err != nil || read(t, s, v3) != "three" {
		t.Fatalf("commit on the new base: %v", err)
	}
	cur, err := s.Current(ctx, owner)
	if err != nil || cur.ID != v3.ID || cur.Seq != 3 {
		t.Fatalf("current: %+v %v", cur, err)
	}
}

func TestPruneAndShred(t *testing.T) {
	s, blobs := newStore(t)
	ctx := t.Context()
	other := versions.Owner{Kind: versions.DataSource, ID: "01900000-0000-7000-8000-0000000000d6", OrgID: orgID}
	ov, _ := s.Create(ctx, other, "", text("other"), versions.Record{})
	base := ""
	var vs []*cleanroom.Version
	for _, x := range []string{"a", "b", "c", "d"} {
		v, err := s.Create(ctx, owner, base, text(x), versions.Record{})
		if err != nil {
			t.Fatal(err)
		}
		vs, base = append(vs, v), v.ID
	}
	if err := s.Prune(ctx, owner, 2); err != nil {
		t.Fatal(err)
	}
	list, _ := s.List(ctx, owner)
	if len(list) != 2 || list[0].ID != vs[3].ID || list[1].ID != vs[2].ID {
		t.Fatalf("after pruning to 2: %d versions", len(list))
	}
	if _, err := blobs.Stat(ctx, vs[0].BlobKey); !errors.Is(err, cleanroom.ErrBlobNotFound) {
		t.Fatalf("a pruned version's file: %v", err)
	}
	if err := s.PruneOlder(ctx, owner, vs[3]); err != nil {
		t.Fatal(err)
	}
	if list, _ := s.List(ctx, owner); len(list) != 1 {
		t.Fatalf("after pruning older ones: %d versions", len(list))
	}
	// A crash left a draft's file behind: Shred deletes it too, and nothing of the other owner.
	blobs.Put(ctx, owner.Prefix()+"orphan", strings.NewReader("x"))
	n, err := s.Shred(ctx, owner)
	if err != nil || n != 1 {
		t.Fatalf("shred: %d %v", n, err)
	}
	if keys, _ := blobs.List(ctx, ""); len(keys) != 1 || keys[0] != ov.BlobKey {
		t.Fatalf("files after the shred: %v", keys)
	}
	if _, err := s.Current(ctx, owner); cleanroom.ErrorCode(err) != cleanroom.ENOTFOUND {
		t.Fatalf("current after the shred: %v", err)
	}
}

// A stored file that cannot be read gives a user-safe error: no key, no cipher detail.
func TestUnreadableIsUserSafe(t *testing.T) {
	s, blobs := newStore(t)
	ctx := t.Context()
	v, _ := s.Create(ctx, owner, "", text("one"), versions.Record{})
	blobs.Put(ctx, v.BlobKey, strings.NewReader("garbage that is not a sealed file at all"))
	_, err := versions.Open(ctx, s, v, openText)
	msg := cleanroom.ErrorMessage(err)
	if cleanroom.ErrorCode(err) != cleanroom.EINTERNAL || strings.Contains(msg, "vaults/") || strings.Contains(msg, "sealed") || msg == "" {
		t.Fatalf("unreadable version: %q (%v)", msg, err)
	}
	blobs.Delete(ctx, v.BlobKey)
	if _, err := versions.Open(ctx, s, v, openText); cleanroom.ErrorCode(err) != cleanroom.EINTERNAL || strings.Contains(cleanroom.ErrorMessage(err), v.BlobKey) {
		t.Fatalf("missing version file: %v", err)
	}
}

// Files of an owner (a cohort's members): each under its own key, bound to the file.
func TestFiles(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	co := versions.Owner{Kind: versions.Cohort, ID: "01900000-0000-7000-8000-0000000000c1", OrgID: orgID}
	a, err := s.PutFile(ctx, co, "conn-1", text("members a"))
	if err != nil || a.Key != "cohorts/"+co.ID+"/conn-1" {
		t.Fatalf("put: %+v %v", a, err)
	}
	b, _ := s.PutFile(ctx, co, "conn-2", text("members b"))
	f, err := s.OpenFile(ctx, versions.Cohort, a, "test/v1")
	if err != nil || string(f.Bytes("s")) != "members a" {
		t.Fatalf("open: %v", err)
	}
	// A key does not open another file.
	if _, err := s.OpenFile(ctx, versions.Cohort, versions.File{Key: b.Key, WrappedKey: a.WrappedKey}, "test/v1"); err == nil {
		t.Fatal("file a's key opened file b")
	}
	if err := s.DeleteFile(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, err := s.OpenFile(ctx, versions.Cohort, a, "test/v1"); err == nil {
		t.Fatal("a deleted file opened")
	}
}
