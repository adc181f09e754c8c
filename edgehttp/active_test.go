package edgehttp_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/cleanroom-oss/cleanroom/activation"
	"github.com/cleanroom-oss/cleanroom/keyring"
	"github.com/cleanroom-oss/cleanroom/memblob"
	"github.com/cleanroom-oss/cleanroom/versions"
)

// TestActiveUsersSurviveARestart: the active users an edge stored (a sealed set of hashes) fill
// a new edge's table, so its next count still holds the users seen before the restart; older
// sets are deleted.
func TestActiveUsersSurviveARestart(t *testing.T) {
	ctx := context.Background()
	vs := versions.New(nil, memblob.New(), keyring.Generate(), nil)
	ids := publishBench(t, 2000, vs)
	ask := func(srv http.Handler, uids []string) {
		for _, uid := range uids {
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, httptest.NewRequest("GET", "/edge/v1/"+benchPublisher+"/targeting?uid="+uid, nil))
			if rec.Code != http.StatusOK {
				t.Fatalf("targeting: %d", rec.Code)
			}
		}
	}
	count := func() *activation.ActiveUsers {
		a, err := activation.ReadActiveUsers(ctx, vs.Blobs, benchPublisher)
		must(t, err)
		return a
	}
	first := newBenchServer(t, vs)
	ask(first, ids[:10])
	must(t, first.StoreActive(ctx, benchPublisher))
	must(t, first.Close())
	if a := count(); a.Users != 10 || a.SetKey == "" {
		t.Fatalf("first edge stored %+v", a)
	}
	second := newBenchServer(t, vs)
	defer second.Close()
	ask(second, ids[5:15]) // five seen before, five new
	must(t, second.StoreActive(ctx, benchPublisher))
	a := count()
	if a.Users != 15 {
		t.Fatalf("after a restart: %d active users, want 15", a.Users)
	}
	keys, err := vs.Blobs.List(ctx, versions.ActiveOwner(benchPublisher).Prefix())
	must(t, err)
	if len(keys) != 1 || keys[0] != a.SetKey {
		t.Fatalf("sets kept %v, want only %s", keys, a.SetKey)
	}
}
