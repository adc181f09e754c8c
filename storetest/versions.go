package storetest

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
)

// Cases for what the version store and the publisher jobs rely on: removing a data source's
// uploads and taxonomy (nothing of them may stay), bridge registrations, and serialised jobs.

var uploadRemovalCases = []testCase{
	{"delete the uploads of a target", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		for n, ds := range map[int]int{1: 1, 2: 1, 3: 2} {
			createUpload(t, s, newUpload(n, 1, ds, time.Duration(n)*time.Minute))
			addPart(t, s, n, 0, 100, time.Hour)
		}
		pub := newUpload(4, 1, 1, 0)
		pub.Target = cleanroom.UploadPublisher // another target with the same ID is not touched
		createUpload(t, s, pub)
		n, err := s.DeleteUploads(t.Context(), cleanroom.UploadDataSource, dataSourceID(1))
		ok(t, err)
		if n != 2 {
			t.Fatalf("deleted %d uploads, want 2", n)
		}
		for _, id := range []string{uploadID(1), uploadID(2)} {
			_, err := s.FindUpload(t.Context(), id)
			wantCode(t, err, cleanroom.ENOTFOUND)
			same(t, "parts of a deleted upload", []*cleanroom.UploadPart{}, listParts(t, s, id))
		}
		findUpload(t, s, uploadID(3))
		findUpload(t, s, uploadID(4))
		if got := countRows(t, s, "upload_parts"); got != 1 {
			t.Fatalf("%d part rows left, want 1", got)
		}
		n, err = s.DeleteUploads(t.Context(), cleanroom.UploadDataSource, dataSourceID(1))
		ok(t, err)
		if n != 0 {
			t.Fatalf("deleted %d uploads the second time, want 0", n)
		}
	}},
	{"confirm drop round trip", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgPublisher)
		for n, confirm := range []bool{false, true} {
			u := newUpload(n+1, 1, 1, 0)
			u.Target, u.TargetID, u.ConfirmDrop = cleanroom.UploadPublisher, orgID(1), confirm
			createUpload(t, s, u)
			if got := findUpload(t, s, u.ID); got.ConfirmDrop != confirm {
				t.Fatalf("ConfirmDrop %v read back as %v", confirm, got.ConfirmDrop)
			}
		}
	}},
	{"delete a taxonomy", func(t *testing.T, s cleanroom.Store) {
		ok(t, s.PutTaxonomy(t.Context(), dataSourceID(1), json.RawMessage(`{"segments":[{"id":"s1","name":"Secret name"}]}`), t0))
		ok(t, s.PutTaxonomy(t.Context(), dataSourceID(2), json.RawMessage(`{}`), t0))
		ok(t, s.DeleteTaxonomy(t.Context(), dataSourceID(1)))
		_, err := s.FindTaxonomy(t.Context(), dataSourceID(1))
		wantCode(t, err, cleanroom.ENOTFOUND)
		if _, err := s.FindTaxonomy(t.Context(), dataSourceID(2)); err != nil {
			t.Fatalf("the other taxonomy: %v", err)
		}
		ok(t, s.DeleteTaxonomy(t.Context(), dataSourceID(1))) // a missing one is not an error
		if got := countRows(t, s, "taxonomies"); got != 1 {
			t.Fatalf("%d taxonomy rows, want 1", got)
		}
	}},
}

func newBridge(n, pub int, created time.Duration, tags ...string) *cleanroom.Bridge {
	return &cleanroom.Bridge{ID: bridgeID(n), Name: fmt.Sprintf("Bridge %d", n), PublisherID: orgID(pub), Tags: tags, CreatedAt: t0.Add(created)}
}

var bridgeCases = []testCase{
	{"create, find and list", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgPublisher)
		createOrg(t, s, 2, cleanroom.OrgPublisher)
		b2 := newBridge(2, 1, time.Hour, "x-hh", "x-ip")
		b1 := newBridge(1, 1, 2*time.Hour)
		b3 := newBridge(3, 2, 0, "x-z")
		for _, b := range []*cleanroom.Bridge{b2, b1, b3} {
			ok(t, s.CreateBridge(t.Context(), b))
		}
		want1 := &cleanroom.Bridge{ID: bridgeID(1), Name: "Bridge 1", PublisherID: orgID(1), Tags: []string{}, CreatedAt: at(2 * time.Hour)}
		same(t, "written back", want1, b1)
		got, err := s.FindBridge(t.Context(), bridgeID(1))
		ok(t, err)
		same(t, "found", want1, got)
		want2 := &cleanroom.Bridge{ID: bridgeID(2), Name: "Bridge 2", PublisherID: orgID(1), Tags: []string{"x-hh", "x-ip"}, CreatedAt: at(time.Hour)}
		bs, err := s.ListBridges(t.Context(), orgID(1))
		ok(t, err)
		same(t, "publisher 1's bridges, oldest first", []*cleanroom.Bridge{want2, want1}, bs)
		bs, err = s.ListBridges(t.Context(), orgID(9))
		ok(t, err)
		same(t, "no bridges", []*cleanroom.Bridge{}, bs)
		_, err = s.FindBridge(t.Context(), bridgeID(9))
		wantCode(t, err, cleanroom.ENOTFOUND)
		wantMessage(t, err, "Bridge not found.")
	}},
	{"create needs the publisher, IDs are unique", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgPublisher)
		err := s.CreateBridge(t.Context(), newBridge(1, 9, 0))
		wantCode(t, err, cleanroom.ENOTFOUND)
		ok(t, s.CreateBridge(t.Context(), newBridge(1, 1, 0)))
		err = s.CreateBridge(t.Context(), newBridge(1, 1, 0))
		wantCode(t, err, cleanroom.ECONFLICT)
	}},
	{"deleting the publisher deletes its bridges", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgPublisher)
		createOrg(t, s, 2, cleanroom.OrgPublisher)
		ok(t, s.CreateBridge(t.Context(), newBridge(1, 1, 0)))
		ok(t, s.CreateBridge(t.Context(), newBridge(2, 2, 0)))
		deleteOrg(t, s, 1)
		_, err := s.FindBridge(t.Context(), bridgeID(1))
		wantCode(t, err, cleanroom.ENOTFOUND)
		if _, err := s.FindBridge(t.Context(), bridgeID(2)); err != nil {
			t.Fatal(err)
		}
	}},
}

// enqueueSerial stores a job of kind "k" with a serial key, runnable at t0+runAt.
func enqueueSerial(t *testing.T, s cleanroom.Store, key string, runAt time.Duration, max int) *cleanroom.Job {
	t.Helper()
	j := &cleanroom.Job{Kind: "k", OrgID: orgID(1), SerialKey: key, MaxAttempts: max, RunAt: t0.Add(runAt)}
	ok(t, s.EnqueueJob(t.Context(), j, t0))
	return j
}

var serialJobCases = []testCase{
	{"one job of a key at a time, in order", func(t *testing.T, s cleanroom.Store) {
		a1 := enqueueSerial(t, s, "publisher:a", 0, 3)
		a2 := enqueueSerial(t, s, "publisher:a", 0, 3)
		b1 := enqueueSerial(t, s, "publisher:b", 0, 3)
		free := enqueue(t, s, "k", 0, 3)
		if got := findJob(t, s, a1.ID); got.SerialKey != "publisher:a" {
			t.Fatalf("serial key read back as %q", got.SerialKey)
		}
		// a1 runs; a2 waits for it; b1 and the free job run beside it.
		var got []int64
		for range 4 {
			got = append(got, claimID(t, s, "w", 0, "k"))
		}
		same(t, "claimed while a1 runs", []int64{a1.ID, b1.ID, free.ID, 0}, got)
		ok(t, s.FinishJob(t.Context(), a1.ID, "w", nil, time.Time{}, t0))
		same(t, "after a1", a2.ID, claimID(t, s, "w", 0, "k"))
		// A finished job's key (it names what the job worked on) is cleared; a retried one keeps it.
		same(t, "a1's key once finished", "", findJob(t, s, a1.ID).SerialKey)
		ok(t, s.FinishJob(t.Context(), a2.ID, "w", fmt.Errorf("boom"), t0.Add(time.Hour), t0))
		same(t, "a2's key while it waits for a retry", "publisher:a", findJob(t, s, a2.ID).SerialKey)
	}},
	{"an older job waiting for a retry holds the later ones back", func(t *testing.T, s cleanroom.Store) {
		a1 := enqueueSerial(t, s, "publisher:a", 0, 3)
		a2 := enqueueSerial(t, s, "publisher:a", 0, 3)
		same(t, "first claim", a1.ID, claimID(t, s, "w", 0, "k"))
		// a1 fails and is retried in an hour: a2 must not overtake it.
		ok(t, s.FinishJob(t.Context(), a1.ID, "w", fmt.Errorf("boom"), t0.Add(time.Hour), t0))
		same(t, "while a1 waits", int64(0), claimID(t, s, "w", time.Minute, "k"))
		same(t, "a1's retry", a1.ID, claimID(t, s, "w", time.Hour, "k"))
		ok(t, s.FinishJob(t.Context(), a1.ID, "w", fmt.Errorf("boom"), time.Time{}, t0.Add(time.Hour)))
		same(t, "after a1 failed for good", a2.ID, claimID(t, s, "w", time.Hour, "k"))
	}},
	{"a later job does not run beside an earlier one taken over", func(t *testing.T, s cleanroom.Store) {
		a1 := enqueueSerial(t, s, "publisher:a", 0, 3)
		a2 := enqueueSerial(t, s, "publisher:a", 0, 3)
		same(t, "first claim", a1.ID, claimID(t, s, "dead", 0, "k"))
		// The worker died: once the lease expires, a1 is taken over, and a2 still waits.
		same(t, "before the lease expires", int64(0), claimID(t, s, "w", 30*time.Second, "k"))
		same(t, "after it expired", a1.ID, claimID(t, s, "w", 2*time.Minute, "k"))
		same(t, "while a1 runs again", int64(0), claimID(t, s, "w", 2*time.Minute, "k"))
		ok(t, s.CancelJob(t.Context(), a1.ID, t0))
		same(t, "after a1 was cancelled", a2.ID, claimID(t, s, "w", 2*time.Minute, "k"))
	}},
	{"a running job of a key keeps an older one back", func(t *testing.T, s cleanroom.Store) {
		// Jobs can commit out of ID order (PostgreSQL): the newer one is claimed before the older
		// one appears. Simulated by giving the older job its key only once the newer one runs.
		db, isSQL := s.(SQLStore)
		if !isSQL {
			t.Skip("needs SQL to change a job's key")
		}
		old := enqueueSerial(t, s, "publisher:other", 0, 3)
		newer := enqueueSerial(t, s, "publisher:a", 0, 3)
		ok(t, s.CancelJob(t.Context(), old.ID, t0)) // out of the way for the first claim
		same(t, "newer claimed", newer.ID, claimID(t, s, "w", 0, "k"))
		_, err := db.SQL().ExecContext(t.Context(), fmt.Sprintf(`UPDATE jobs SET serial_key = 'publisher:a', state = 'queued', finished_at = 0 WHERE id = %d`, old.ID))
		ok(t, err)
		same(t, "the older job while the newer one runs", int64(0), claimID(t, s, "w", 30*time.Second, "k"))
		ok(t, s.FinishJob(t.Context(), newer.ID, "w", nil, time.Time{}, t0.Add(30*time.Second)))
		same(t, "the older job after it", old.ID, claimID(t, s, "w", 30*time.Second, "k"))
	}},
}

// ConcurrentSerialClaims checks, with workersPerStore workers on each of stores (one database),
// that jobs sharing a serial key never run at the same time and run in ID order, while jobs of
// different keys share the workers.
func ConcurrentSerialClaims(t *testing.T, workersPerStore int, stores ...cleanroom.Store) {
	const keys, perKey = 4, 12
	var ids []int64
	for i := range keys * perKey {
		ids = append(ids, enqueueSerial(t, stores[0], fmt.Sprintf("key-%d", i%keys), 0, 1).ID)
	}
	var (
		mu      sync.Mutex
		running = map[string]int64{} // key -> job running now
		order   = map[string][]int64{}
		wg      sync.WaitGroup
		errs    = make(chan error, 1000)
		start   = make(chan struct{})
		keyOf   = map[int64]string{}
		done    int
		aborted bool // a worker failed: the others stop waiting
	)
	fail := func(err error) {
		errs <- err
		mu.Lock()
		aborted = true
		mu.Unlock()
	}
	for i, id := range ids {
		keyOf[id] = fmt.Sprintf("key-%d", i%keys)
	}
	for i, s := range stores {
		for w := range workersPerStore {
			owner := fmt.Sprintf("store-%d-worker-%d", i, w)
			wg.Go(func() {
				<-start
				for {
					j, err := s.ClaimJob(t.Context(), owner, []string{"k"}, t0, time.Hour)
					if err != nil {
						fail(fmt.Errorf("%s: claim: %w", owner, err))
						return
					}
					if j == nil {
						mu.Lock()
						all := done == len(ids) || aborted
						mu.Unlock()
						if all {
							return
						}
						time.Sleep(time.Millisecond) // the jobs left wait for running ones of their keys
						continue
					}
					key := keyOf[j.ID]
					mu.Lock()
					if other, busy := running[key]; busy {
						errs <- fmt.Errorf("jobs %d and %d of %s ran at the same time", other, j.ID, key)
					}
					running[key] = j.ID
					order[key] = append(order[key], j.ID)
					mu.Unlock()
					time.Sleep(100 * time.Microsecond)
					mu.Lock()
					delete(running, key)
					mu.Unlock()
					if err := s.FinishJob(t.Context(), j.ID, owner, nil, time.Time{}, t0); err != nil {
						fail(fmt.Errorf("%s: finish job %d: %w", owner, j.ID, err))
						return
					}
					mu.Lock()
					done++
					mu.Unlock()
				}
			})
		}
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := range keys {
		key := fmt.Sprintf("key-%d", i)
		var want []int64
		for _, id := range ids {
			if keyOf[id] == key {
				want = append(want, id)
			}
		}
		same(t, key+"'s order", want, order[key])
	}
}

var concurrentSerialCases = []testCase{
	{"concurrent claimers", func(t *testing.T, s cleanroom.Store) { ConcurrentSerialClaims(t, 4, s) }},
}

// MigratedBridges checks that the migration giving bridges their own table (0006) carries over
// the registrations stored before it as taxonomy rows, and leaves no bridge rows in taxonomies.
// db is a database migrated up to 0005 and q rewrites ? placeholders for it; migrate applies the
// remaining migrations and returns the store.
func MigratedBridges(t *testing.T, db *sql.DB, q func(string) string, migrate func() cleanroom.Store) {
	exec := func(query string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(t.Context(), q(query), args...); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range []int{1, 2} {
		exec(`INSERT INTO orgs (id, name, kind, created_at, updated_at) VALUES (?, ?, 'publisher', 0, 0)`, orgID(o), fmt.Sprintf("Publisher %d", o))
	}
	reg := func(n, pub int, tags string) string {
		return fmt.Sprintf(`{"kind":"bridge","id":%q,"name":"Bridge %d","publisher_id":%q,"tags":%s,"created_at":"2026-03-14T09:26:53Z"}`,
			bridgeID(n), n, orgID(pub), tags)
	}
	rows := []struct {
		owner, body string
		at          time.Duration
	}{
		{bridgeID(1), reg(1, 1, `["x-hh","x-ip"]`), time.Hour},
		{bridgeID(2), reg(2, 1, `[]`), 2 * time.Hour},
		{bridgeID(3), reg(3, 9, `[]`), 0}, // its publisher is gone
		{"bridges-of:" + orgID(1), fmt.Sprintf(`[%q,%q]`, bridgeID(1), bridgeID(2)), 0},
		{dataSourceID(1), `{"segments":[{"id":"s1","name":"One"}]}`, 0},
		{orgID(2), `{"cohorts":[]}`, 0},
	}
	for _, r := range rows {
		exec(`INSERT INTO taxonomies (owner_id, body, updated_at) VALUES (?, ?, ?)`, r.owner, r.body, at(r.at).UnixMicro())
	}
	s := migrate()
	bs, err := s.ListBridges(t.Context(), orgID(1))
	ok(t, err)
	same(t, "migrated bridges", []*cleanroom.Bridge{
		{ID: bridgeID(1), Name: "Bridge 1", PublisherID: orgID(1), Tags: []string{"x-hh", "x-ip"}, CreatedAt: at(time.Hour)},
		{ID: bridgeID(2), Name: "Bridge 2", PublisherID: orgID(1), Tags: []string{}, CreatedAt: at(2 * time.Hour)},
	}, bs)
	for _, owner := range []string{bridgeID(1), bridgeID(2), bridgeID(3), "bridges-of:" + orgID(1)} {
		_, err := s.FindTaxonomy(t.Context(), owner)
		wantCode(t, err, cleanroom.ENOTFOUND)
	}
	for _, owner := range []string{dataSourceID(1), orgID(2)} {
		if _, err := s.FindTaxonomy(t.Context(), owner); err != nil {
			t.Fatalf("taxonomy of %s after the migration: %v", owner, err)
		}
	}
}
