package delivery

import (
	"context"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom/activation"
	"github.com/cleanroom-oss/cleanroom/edge"
	"github.com/cleanroom-oss/cleanroom/keyring"
	"github.com/cleanroom-oss/cleanroom/memblob"
	"github.com/cleanroom-oss/cleanroom/versions"
)

// TestPointerToAnotherPublishersFile: the pointers edge replicas keep in the blob store are not
// sealed, so someone who can write the bucket but has no master key could point one publisher's
// pointer at another publisher's sealed file, with its wrapped key. Such a file is refused: a
// publisher's records are read only from under its own files' prefix.
func TestPointerToAnotherPublishersFile(t *testing.T) {
	ctx := context.Background()
	vs := versions.New(nil, memblob.New(), keyring.Generate(), nil)
	s := &Service{Blobs: vs.Blobs, Versions: vs}
	const a, b = "01900000-0000-7000-8000-00000000000a", "01900000-0000-7000-8000-00000000000b"
	day := time.Now().UTC().Format(time.DateOnly)
	f, err := vs.PutFile(ctx, versions.EdgeOwner(b), "e1/active-1", edge.ActiveWriter([]uint64{1, 2, 3}, nil, map[uint32][]uint64{7: {1, 2, 3}}))
	must(t, err)
	for _, pub := range []string{a, b} {
		must(t, activation.WriteReplicaFile(ctx, vs.Blobs, activation.ReplicaActiveKey(pub, "e1"),
			&activation.ReplicaFile{EdgeID: "e1", Day: day, UpdatedAt: time.Now(), Key: f.Key, WrappedKey: f.WrappedKey}))
	}
	if set, _, err := s.ActiveSet(ctx, b); err != nil || set.Users() != 3 {
		t.Fatalf("the publisher's own set: %v users, %v", set, err)
	}
	if set, _, err := s.ActiveSet(ctx, a); err == nil {
		t.Fatalf("publisher A read publisher B's active users (%d users) through a pointer", set.Users())
	}
}
