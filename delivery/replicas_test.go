package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cleanroom-oss/cleanroom/activation"
	"github.com/cleanroom-oss/cleanroom/edge"
	"github.com/cleanroom-oss/cleanroom/edgehttp"
	"github.com/cleanroom-oss/cleanroom/edgeredis"
	"github.com/cleanroom-oss/cleanroom/keyring"
	"github.com/cleanroom-oss/cleanroom/memblob"
	"github.com/cleanroom-oss/cleanroom/pubsync"
	"github.com/cleanroom-oss/cleanroom/redistest"
	"github.com/cleanroom-oss/cleanroom/versions"
)

const replicaPub = "01900000-0000-7000-8000-00000000d00d"

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestReplicasMerge: two edge replicas serve one publisher; users report impressions to either
// (some to both) and ask either for targeting. Each replica stores its own sealed files, and the
// merge gives the reach, frequency buckets, held-back users and active users of all the traffic,
// each user counted once with the sum of its impressions.
func TestReplicasMerge(t *testing.T) {
	t.Run("file counters", func(t *testing.T) { testReplicasMerge(t, "") })
	t.Run("redis counters", func(t *testing.T) { testReplicasMerge(t, redistest.Start(t, redistest.Options{}).URL(0)) })
}

func testReplicasMerge(t *testing.T, redisURL string) {
	ctx := context.Background()
	userKey := bytes.Repeat([]byte{5}, pubsync.UserKeySize)
	vs := versions.New(nil, memblob.New(), keyring.Generate(), nil)
	h, err := pubsync.NewUserHasher(userKey)
	must(t, err)
	const users = 12
	keys := make([]uint64, users)
	idx := make([]int, users)
	for i := range users {
		keys[i], idx[i] = h.Hash(fmt.Sprintf("u%d", i)), i
	}
	sort.Slice(idx, func(a, b int) bool { return keys[idx[a]] < keys[idx[b]] })
	in := edge.Input{Users: users, UserKeys: make([]uint64, users), UserOrds: make([]uint32, users)}
	for j, i := range idx {
		in.UserKeys[j], in.UserOrds[j] = keys[i], uint32(i)
	}
	all := roaring.New()
	all.AddRange(0, users)
	in.Cohorts = []edge.ServedCohort{{Code: 100001, Members: all}}
	snap, err := edge.Build(in)
	must(t, err)
	f, err := vs.PutFile(ctx, versions.SnapshotOwner(replicaPub), "1", snap.Write)
	must(t, err)
	m := &activation.Manifest{PublisherID: replicaPub, Digest: "d", GAMKey: "crc", SnapshotKey: f.Key, WrappedKey: f.WrappedKey,
		Caps:      []activation.ManifestCap{{Code: 100001, Limit: 4, Period: "day"}},
		LineItems: map[string]uint32{"5000000001": 100001},
		Served:    []activation.ServedCode{{Code: 100001, CohortID: "c1", ConnectionID: "k1"}}}
	b, _ := json.Marshal(m)
	_, err = vs.Blobs.Put(ctx, activation.ManifestKey(replicaPub), bytes.NewReader(b))
	must(t, err)
	now := time.Date(2030, 1, 2, 12, 0, 0, 0, time.UTC) // Redis expires keys by its own clock: a date to come
	var bases []string
	var srvs []*edgehttp.Server
	for _, id := range []string{"edge-a", "edge-b"} {
		srv, err := edgehttp.New(edgehttp.Options{Versions: vs, UserKey: userKey, CounterDir: t.TempDir(), EdgeID: id,
			Now: func() time.Time { return now }, EventBurst: 1000, Redis: edgeredis.Options{URL: redisURL}})
		must(t, err)
		must(t, srv.Load(ctx))
		hs := httptest.NewServer(srv)
		t.Cleanup(func() { hs.Close(); srv.Close() })
		bases, srvs = append(bases, hs.URL), append(srvs, srv)
	}
	// User i sees the line item i times over both replicas (alternating), so a user is split
	// across replicas; users 0-5 ask replica a for targeting, 3-8 replica b.
	post := func(base, uid string) {
		body := fmt.Sprintf(`{"events":[{"uid":%q,"line_item":"5000000001","t":%d}]}`, uid, now.UnixMilli())
		res, err := http.Post(base+"/edge/v1/"+replicaPub+"/events", "text/plain", strings.NewReader(body))
		must(t, err)
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusNoContent {
			t.Fatalf("events: %s", res.Status)
		}
	}
	for i := 1; i < users; i++ {
		for j := range i {
			post(bases[j%2], fmt.Sprintf("u%d", i))
		}
	}
	for i := range 9 {
		base := bases[0]
		if i >= 3 && (i >= 6 || i%2 == 1) {
			base = bases[1]
		}
		if i >= 3 && i < 6 {
			http.Get(bases[0] + "/edge/v1/" + replicaPub + "/targeting?uid=" + fmt.Sprintf("u%d", i))
		}
		res, err := http.Get(base + "/edge/v1/" + replicaPub + "/targeting?uid=" + fmt.Sprintf("u%d", i))
		must(t, err)
		res.Body.Close()
	}
	for _, srv := range srvs {
		must(t, srv.StoreDelivery(ctx))
	}
	day := now.Format(time.DateOnly)
	s := &Service{Blobs: vs.Blobs, Versions: vs}
	rf, err := activation.ReadReplicaFiles(ctx, vs.Blobs, replicaPub, day, day)
	must(t, err)
	if len(rf.Delivery[day]) != 2 || len(rf.Active) != 2 {
		t.Fatalf("replica files %+v, want one of each replica", rf)
	}
	days, err := s.deliveryDays(ctx, m, rf, day, day)
	must(t, err)
	if len(days) != 1 || len(days[0].Rows) != 1 {
		t.Fatalf("days %+v", days)
	}
	row := days[0].Rows[0]
	// Users 1..11 with 1..11 impressions: buckets 1, 2, 3, 4-5, 6-10, 11+.
	if row.Users != 11 || row.Impressions != 66 || row.Frequency != [6]int64{1, 1, 1, 2, 5, 1} || row.CohortID != "c1" {
		t.Fatalf("merged row %+v", row)
	}
	// Held back: with Redis, the users whose 4th impression over both replicas came (4..11),
	// each by the one replica that counted it. Without, each replica counts its own impressions,
	// so a user is held back by replica a from its 4th there (users 7..11) and by b from its 4th
	// there (8..11): 5 users, each once though both held 8..11 back.
	wantHeld := int64(5)
	if redisURL != "" {
		wantHeld = 8
	}
	if len(days[0].Held) != 1 || days[0].Held[0].Users != wantHeld {
		t.Fatalf("held %+v, want %d users", days[0].Held, wantHeld)
	}
	a, err := s.activeUsers(ctx, replicaPub, rf)
	must(t, err)
	if a.Users != 9 || a.Codes[100001] != 9 || a.Day != day {
		t.Fatalf("active %+v, want 9 users (the union of both replicas)", a)
	}
	// The replicas' files are sealed: neither the records nor a user hash is readable.
	keysInStore, err := vs.Blobs.List(ctx, versions.EdgeOwner(replicaPub).Prefix())
	must(t, err)
	for _, k := range keysInStore {
		r, err := vs.Blobs.Open(ctx, k)
		must(t, err)
		raw, _ := io.ReadAll(r)
		r.Close()
		for _, h := range keys {
			var hb [8]byte
			for i := range 8 {
				hb[i] = byte(h >> (8 * i))
			}
			if bytes.Contains(raw, hb[:]) || bytes.Contains(raw, []byte("CREDGED1")) {
				t.Fatalf("%s holds a user hash or plain records", k)
			}
		}
	}
	if len(keysInStore) != 2*2 {
		t.Fatalf("%d sealed files, want one day and one active file per replica: %q", len(keysInStore), keysInStore)
	}

	// Three days on, no replica can change the day any more: the first replica to store turns it
	// into counts only and deletes the records (the user hashes); the report reads the same.
	now = now.Add(3 * 24 * time.Hour)
	must(t, srvs[1].StoreDelivery(ctx))
	rf, err = activation.ReadReplicaFiles(ctx, vs.Blobs, replicaPub, day, day)
	must(t, err)
	if len(rf.Delivery[day]) != 0 {
		t.Fatalf("the finished day's records are still kept: %+v", rf.Delivery[day])
	}
	after, err := s.deliveryDays(ctx, m, rf, day, day)
	must(t, err)
	if len(after) != 1 || js(after[0].Rows) != js(days[0].Rows) || js(after[0].Held) != js(days[0].Held) {
		t.Fatalf("after finalizing: %+v, want %+v", after, days)
	}
	left, err := vs.Blobs.List(ctx, versions.EdgeOwner(replicaPub).Prefix())
	must(t, err)
	for _, k := range left {
		if strings.Contains(k, "delivery-") {
			t.Fatalf("sealed records left: %q", left)
		}
	}
}

func js(v any) string { b, _ := json.Marshal(v); return string(b) }
