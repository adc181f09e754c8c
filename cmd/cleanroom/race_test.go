package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/app"
	"github.com/cleanroom-oss/cleanroom/identity"
	"github.com/cleanroom-oss/cleanroom/pipeline"
	"github.com/cleanroom-oss/cleanroom/postgres"
	"github.com/cleanroom-oss/cleanroom/pubsync"
	"github.com/cleanroom-oss/cleanroom/uploads"
	"github.com/cleanroom-oss/cleanroom/versions"
)

func emailHash(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

// TestErasuresRaceEventsAcrossProcesses runs two server processes on one PostgreSQL database
// and sends them, at the same time, event batches and erasure requests for one publisher. Every
// change is applied (the events' users are all there), and no erased user is in any stored
// version: an event batch built before an erasure cannot bring its users back.
func TestErasuresRaceEventsAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two server processes")
	}
	cfg := postgres.TestSchema(t) // skips without $CLEANROOM_TEST_POSTGRES
	dsn := os.Getenv(postgres.TestDSNEnv)
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	dsn += sep + "search_path=" + cfg.RuntimeParams["search_path"]
	dir := t.TempDir()
	ctx := context.Background()

	// A publisher with an audience of 200 users, u0..u199, each with one hashed email.
	m := app.NewMain()
	m.Config.DataDir, m.Config.Database = dir, dsn
	m.Logger = slog.New(slog.DiscardHandler)
	if err := m.Open(ctx); err != nil {
		t.Fatal(err)
	}
	pub, mem, token := enabledOrg(t, m, "Courier", cleanroom.OrgPublisher, "ops@courier.example")
	tax, _, err := pubsync.ParseTaxonomy(strings.NewReader("cohort_id,name,iab_id,standard\nsports,Sports,,false\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := pipeline.PutPublisherTaxonomy(ctx, m.Store, pub.ID, tax, time.Now()); err != nil {
		t.Fatal(err)
	}
	var profiles bytes.Buffer
	profiles.WriteString("user_id\tcountry\tidentifiers\tcohorts\n")
	for i := range 200 {
		fmt.Fprintf(&profiles, "u%d\tGB\temail_sha256=%s\t\n", i, emailHash(fmt.Sprintf("u%d@example.com", i)))
	}
	up, err := m.Uploads.Begin(ctx, uploads.Spec{OrgID: pub.ID, UserID: mem.ID, Target: cleanroom.UploadPublisher, TargetID: pub.ID,
		Name: "profiles.tsv", Size: int64(profiles.Len())})
	if err == nil {
		up, err = m.Uploads.WritePart(ctx, up, 0, bytes.NewReader(profiles.Bytes()), "")
	}
	if err == nil {
		_, err = m.Uploads.Complete(ctx, up)
	}
	if err == nil {
		_, err = m.Jobs.RunPending(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	m.Close()

	// Two servers on the same database and data directory.
	addrs := []string{freeAddr(t), freeAddr(t)}
	for _, a := range addrs {
		startServer(t, dir, a, "--database", dsn)
	}
	post := func(addr, path string, body any) int64 {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", "http://"+addr+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return 0
		}
		defer res.Body.Close()
		var j cleanroom.Job
		json.NewDecoder(res.Body).Decode(&j)
		if res.StatusCode != http.StatusAccepted || j.ID == 0 {
			t.Errorf("POST %s: %d", path, res.StatusCode)
		}
		return j.ID
	}
	// 20 batches each identify 5 new users (and put 5 kept users in a cohort); 20 erasures each
	// erase 5 of u0..u99. Sent at once, alternating between the servers.
	const rounds = 20
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		jobIDs []int64
	)
	start := make(chan struct{})
	for r := range rounds {
		wg.Go(func() {
			<-start
			var batch pubsync.Batch
			for k := range 5 {
				id := fmt.Sprintf("n%d-%d", r, k)
				batch.Identify = append(batch.Identify, pubsync.IdentifyEvent{UserID: id, Country: "FR",
					Identifiers: []pubsync.Identifier{{Tag: "email_sha256", Value: emailHash(id + "@example.com")}}})
				batch.Memberships = append(batch.Memberships, pubsync.MembershipUpdate{UserID: fmt.Sprintf("u%d", 100+5*r+k), CohortID: "sports", Op: pubsync.OpAdd})
			}
			id := post(addrs[r%2], "/v1/publisher/events", batch)
			mu.Lock()
			jobIDs = append(jobIDs, id)
			mu.Unlock()
		})
		wg.Go(func() {
			<-start
			var ids []string
			for k := range 5 {
				ids = append(ids, fmt.Sprintf("u%d", 5*r+k))
			}
			id := post(addrs[(r+1)%2], "/v1/publisher/erasures", map[string]any{"user_ids": ids})
			mu.Lock()
			jobIDs = append(jobIDs, id)
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// Every job succeeds.
	deadline := time.Now().Add(3 * time.Minute)
	for _, id := range jobIDs {
		for {
			req, _ := http.NewRequest("GET", fmt.Sprintf("http://%s/v1/jobs/%d", addrs[0], id), nil)
			req.Header.Set("Authorization", "Bearer "+token)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var j cleanroom.Job
			json.NewDecoder(res.Body).Decode(&j)
			res.Body.Close()
			if j.State == cleanroom.JobSucceeded {
				break
			}
			if j.State == cleanroom.JobFailed || time.Now().After(deadline) {
				t.Fatalf("job %d (%s): %s %s", id, j.Kind, j.State, j.LastError)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// Every stored version is free of the erased users; the current one has every event's user.
	m = app.NewMain()
	m.Config.DataDir, m.Config.Database = dir, dsn
	m.Logger = slog.New(slog.DiscardHandler)
	if err := m.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	fp, err := identity.NewFingerprinter(m.Keys.Derive(pipeline.FingerprintPurpose))
	if err != nil {
		t.Fatal(err)
	}
	has := func(v interface {
		Lookup(identity.Tag, identity.Fingerprint) (uint32, bool)
	}, user string) bool {
		_, ok := v.Lookup(identity.TagEmailSHA256, fp.Fingerprint(identity.TagEmailSHA256, emailHash(user+"@example.com")))
		return ok
	}
	owner := versions.PublisherOwner(pub.ID)
	vs, err := m.Versions.List(ctx, owner)
	if err != nil || len(vs) == 0 {
		t.Fatalf("versions: %d %v", len(vs), err)
	}
	for i, ver := range vs {
		v, err := m.Versions.OpenPublisher(ctx, ver)
		if err != nil {
			t.Fatal(err)
		}
		for u := range 100 {
			if has(v, fmt.Sprintf("u%d", u)) {
				t.Errorf("version %d (seq %d) holds erased user u%d", i, ver.Seq, u)
			}
		}
		if i > 0 {
			continue
		}
		if got := v.Live(); got != 200-100+5*rounds {
			t.Errorf("the current version has %d users, want %d", got, 200-100+5*rounds)
		}
		for r := range rounds {
			for k := range 5 {
				if !has(v, fmt.Sprintf("n%d-%d", r, k)) {
					t.Errorf("the current version lacks n%d-%d: an event batch was lost", r, k)
				}
			}
		}
		for u := 100; u < 200; u++ {
			if !has(v, fmt.Sprintf("u%d", u)) {
				t.Errorf("the current version lacks kept user u%d", u)
			}
		}
	}
}
