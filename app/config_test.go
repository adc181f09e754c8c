package app

import (
	"path/filepath"
	"testing"

	"github.com/cleanroom-oss/cleanroom/edge"
	"github.com/cleanroom-oss/cleanroom/edgehttp"
	"github.com/cleanroom-oss/cleanroom/keyring"
	"github.com/cleanroom-oss/cleanroom/memblob"
)

// TestEdgeReplicaID: the default edge ID is valid, the same for the same counter directory (so
// across restarts) and different for two edges of one host; a given one wins.
func TestEdgeReplicaID(t *testing.T) {
	dir := t.TempDir()
	a := Config{DataDir: filepath.Join(dir, "a")}
	a2 := Config{DataDir: filepath.Join(dir, "a")}
	b := Config{DataDir: filepath.Join(dir, "a"), EdgeCounters: filepath.Join(dir, "b")}
	if err := edgehttp.CheckEdgeID(a.EdgeReplicaID()); err != nil {
		t.Fatal(err)
	}
	if a.EdgeReplicaID() != a2.EdgeReplicaID() || a.EdgeReplicaID() == b.EdgeReplicaID() {
		t.Fatalf("IDs %q %q %q", a.EdgeReplicaID(), a2.EdgeReplicaID(), b.EdgeReplicaID())
	}
	if c := (Config{EdgeID: "edge-7"}); c.EdgeReplicaID() != "edge-7" {
		t.Fatalf("given ID not used: %q", c.EdgeReplicaID())
	}
}

// TestEdgeBoundsReachTheEdge: --edge-max-counters and --edge-max-users set the edge's bounds.
func TestEdgeBoundsReachTheEdge(t *testing.T) {
	m := NewMain()
	m.Config.DataDir = t.TempDir()
	m.Config.EdgeMaxCounters, m.Config.EdgeMaxUsers = 12345, 67890
	m.Keys, m.Blobs = keyring.Generate(), memblob.New()
	srv, err := m.NewEdge()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if o := srv.Options(); o.MaxCounters != 12345 || o.MaxLastSeen != 67890 || o.MaxDeliveryUsers != 67890 {
		t.Fatalf("the edge runs with counters %d, last-seen %d, delivery users %d; want 12345, 67890, 67890", o.MaxCounters, o.MaxLastSeen, o.MaxDeliveryUsers)
	}
	if d := DefaultConfig(); d.EdgeMaxCounters != edge.DefaultMaxCounters || d.EdgeMaxUsers != edge.DefaultMaxLastSeen {
		t.Fatalf("defaults %d, %d", d.EdgeMaxCounters, d.EdgeMaxUsers)
	}
}
