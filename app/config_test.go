package app

import (
	"path/filepath"
	"testing"

	"github.com/cleanroom-oss/cleanroom/edgehttp"
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
