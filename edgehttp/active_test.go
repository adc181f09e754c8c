package edgehttp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cleanroom-oss/cleanroom/activation"
	"github.com/cleanroom-oss/cleanroom/delivery"
	"github.com/cleanroom-oss/cleanroom/edge"
	"github.com/cleanroom-oss/cleanroom/edgehttp"
	"github.com/cleanroom-oss/cleanroom/keyring"
	"github.com/cleanroom-oss/cleanroom/memblob"
	"github.com/cleanroom-oss/cleanroom/pubsync"
	"github.com/cleanroom-oss/cleanroom/versions"
)

const activePublisher = "01900000-0000-7000-8000-0000000ac71e"

var activeUserKey = bytes.Repeat([]byte{9}, pubsync.UserKeySize)

// publishActive stores in vs a manifest and snapshot of users users, all in one cohort, and
// returns their IDs.
func publishActive(t *testing.T, users int, vs *versions.Store) []string {
	t.Helper()
	ctx := context.Background()
	h, err := pubsync.NewUserHasher(activeUserKey)
	must(t, err)
	type pair struct {
		k uint64
		o uint32
	}
	ids, pairs := make([]string, users), make([]pair, users)
	for o := range users {
		ids[o] = fmt.Sprintf("reader-%d", o)
		pairs[o] = pair{h.Hash(ids[o]), uint32(o)}
	}
	slices.SortFunc(pairs, func(a, b pair) int {
		if a.k < b.k {
			return -1
		}
		return 1
	})
	in := edge.Input{Users: uint32(users), UserKeys: make([]uint64, users), UserOrds: make([]uint32, users)}
	for i, p := range pairs {
		in.UserKeys[i], in.UserOrds[i] = p.k, p.o
	}
	all := roaring.New()
	all.AddRange(0, uint64(users))
	in.Cohorts = []edge.ServedCohort{{Code: 100001, Members: all}}
	snap, err := edge.Build(in)
	must(t, err)
	f, err := vs.PutFile(ctx, versions.SnapshotOwner(activePublisher), "1", snap.Write)
	must(t, err)
	m := &activation.Manifest{PublisherID: activePublisher, Digest: "active", GAMKey: "crc", XandrKey: "crc", DataName: "cleanroom",
		SnapshotKey: f.Key, WrappedKey: f.WrappedKey}
	b, err := json.Marshal(m)
	must(t, err)
	_, err = vs.Blobs.Put(ctx, activation.ManifestKey(activePublisher), bytes.NewReader(b))
	must(t, err)
	return ids
}

func newActiveServer(t *testing.T, vs *versions.Store) *edgehttp.Server {
	t.Helper()
	srv, err := edgehttp.New(edgehttp.Options{Versions: vs, UserKey: activeUserKey, Now: time.Now})
	must(t, err)
	must(t, srv.Load(context.Background()))
	return srv
}

// TestActiveUsersSurviveARestart: the active users an edge stored (a sealed set of hashes) fill
// a new edge's table, so its next count still holds the users seen before the restart; older
// sets are deleted.
func TestActiveUsersSurviveARestart(t *testing.T) {
	ctx := context.Background()
	vs := versions.New(nil, memblob.New(), keyring.Generate(), nil)
	ids := publishActive(t, 2000, vs)
	ask := func(srv http.Handler, uids []string) {
		for _, uid := range uids {
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, httptest.NewRequest("GET", "/edge/v1/"+activePublisher+"/targeting?uid="+uid, nil))
			if rec.Code != http.StatusOK {
				t.Fatalf("targeting: %d", rec.Code)
			}
		}
	}
	dv := &delivery.Service{Blobs: vs.Blobs, Versions: vs}
	count := func() (int, string) {
		set, id, err := dv.ActiveSet(ctx, activePublisher)
		must(t, err)
		if set == nil {
			return 0, id
		}
		return set.Users(), id
	}
	first := newActiveServer(t, vs)
	ask(first, ids[:10])
	must(t, first.StoreActive(ctx, activePublisher))
	must(t, first.Close())
	if n, id := count(); n != 10 || id == "" {
		t.Fatalf("first edge stored %d users (%s)", n, id)
	}
	second := newActiveServer(t, vs)
	defer second.Close()
	ask(second, ids[5:15]) // five seen before, five new
	must(t, second.StoreActive(ctx, activePublisher))
	if n, _ := count(); n != 15 {
		t.Fatalf("after a restart: %d active users, want 15", n)
	}
	keys, err := vs.Blobs.List(ctx, versions.EdgeOwner(activePublisher).Prefix())
	must(t, err)
	if len(keys) != 1 {
		t.Fatalf("files kept %v, want the last set only", keys)
	}
}
