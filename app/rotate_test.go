package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom/activation"
	"github.com/cleanroom-oss/cleanroom/keyring"
	"github.com/cleanroom-oss/cleanroom/versions"
)

// TestRotationRewrapsEdgeFiles: the data keys of what edge replicas store in the blob store (each
// replica's delivery records and active users, and the active users' set an edge of an earlier
// release stored) are re-wrapped by the rotation too, so after it the old master key opens none of
// them, the new key opens all of them, and FinishRotation refuses while one is left.
func TestRotationRewrapsEdgeFiles(t *testing.T) {
	ctx := context.Background()
	m := openMain(t, "", "", "", testKey, nil)
	old := m.Keys
	pub := "pub-1"
	type pointer struct {
		blob, file string
		read       func() (file string, wrapped []byte)
	}
	wrap := func(file string) []byte {
		w, err := old.Wrap(keyring.NewDataKey(), versions.FileKeyLabel(versions.Edge, file))
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	replica := func(blob, file string) pointer {
		if err := activation.WriteReplicaFile(ctx, m.Blobs, blob, &activation.ReplicaFile{EdgeID: "e1", Day: "2026-12-01",
			UpdatedAt: time.Now(), Key: file, WrappedKey: wrap(file)}); err != nil {
			t.Fatal(err)
		}
		return pointer{blob, file, func() (string, []byte) {
			f, err := activation.ReadReplicaFile(ctx, m.Blobs, blob)
			if err != nil || f == nil {
				t.Fatalf("%s: %v", blob, err)
			}
			return f.Key, f.WrappedKey
		}}
	}
	ps := []pointer{
		replica(activation.ReplicaDeliveryKey(pub, "e1", "2026-12-01"), versions.EdgeOwner(pub).Prefix()+"delivery-2026-12-01"),
		replica(activation.ReplicaActiveKey(pub, "e1"), versions.EdgeOwner(pub).Prefix()+"active"),
	}
	legacy := versions.EdgeOwner(pub).Prefix() + "active/set"
	if err := activation.WriteActiveUsers(ctx, m.Blobs, &activation.ActiveUsers{PublisherID: pub, Day: "2026-12-01",
		Codes: map[uint32]int64{}, SetKey: legacy, WrappedKey: wrap(legacy)}); err != nil {
		t.Fatal(err)
	}
	ps = append(ps, pointer{activation.ActiveKey(pub), legacy, func() (string, []byte) {
		a, err := activation.ReadActiveUsers(ctx, m.Blobs, pub)
		if err != nil || a == nil {
			t.Fatalf("legacy active users: %v", err)
		}
		return a.SetKey, a.WrappedKey
	}})

	next := keyring.Generate()
	if _, err := m.RotateMasterKey(ctx, next, 0); err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		file, w := p.read()
		if file != p.file {
			t.Errorf("%s: the file is now %q, want %q", p.blob, file, p.file)
		}
		if _, err := next.Unwrap(w, versions.FileKeyLabel(versions.Edge, file)); err != nil {
			t.Errorf("%s: the data key does not open with the new master key", p.blob)
		}
		if _, err := old.Unwrap(w, versions.FileKeyLabel(versions.Edge, file)); err == nil {
			t.Errorf("%s: the data key still opens with the old master key", p.blob)
		}
	}
	if err := m.FinishRotation(ctx, next); err != nil {
		t.Fatalf("finishing: %v", err)
	}

	// A pointer left under the old key stops FinishRotation.
	replica(activation.ReplicaActiveKey(pub, "e2"), versions.EdgeOwner(pub).Prefix()+"active-e2")
	if err := m.FinishRotation(ctx, next); err == nil {
		t.Error("FinishRotation accepted a replica file whose key opens only with the old master key")
	}
}
