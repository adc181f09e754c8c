package activation_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/app"
	"github.com/cleanroom-oss/cleanroom/app/apptest"
	"github.com/cleanroom-oss/cleanroom/cohorts"
	"github.com/cleanroom-oss/cleanroom/ingest"
	"github.com/cleanroom-oss/cleanroom/pipeline"
	"github.com/cleanroom-oss/cleanroom/pubsync"
	"github.com/cleanroom-oss/cleanroom/synth"
	"github.com/cleanroom-oss/cleanroom/uploads"
)

// world is the whole application, served, with a synced publisher audience, an advertiser's
// processed upload, a connection between them and a matched cohort built over it.
type world struct {
	t         *testing.T
	m         *app.Main
	log       *syncBuffer
	pub, adv  *cleanroom.Org
	conn, ds  string
	wsConn    string
	users     int
	responses []string // every edge answer and header seen, for the leak scan
	mu        sync.Mutex
}

// syncBuffer collects the application's log.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func newWorld(t *testing.T, users int) *world { return newWorldWith(t, users, nil) }

// newWorldWith is newWorld with the configuration changed by configure (after the defaults: the
// edge checks every 50 ms, cohorts every 100 ms).
func newWorldWith(t *testing.T, users int, configure func(*app.Config)) *world {
	t.Helper()
	ctx := context.Background()
	log := &syncBuffer{}
	m := apptest.Open(t, apptest.Options{Log: log, Configure: func(c *app.Config) {
		c.Addr = "127.0.0.1:0"
		c.EdgeRefresh = 50 * time.Millisecond
		c.CohortRefresh = 100 * time.Millisecond
		c.LogLevel = "debug"
		if configure != nil {
			configure(c)
		}
	}})
	must(t, m.Serve())
	w := &world{t: t, m: m, log: log, users: users}
	acc := m.Accounts
	ready := func(name string, kind cleanroom.OrgKind) *cleanroom.Org {
		o, err := acc.CreateOrg(ctx, name, kind)
		must(t, err)
		_, err = acc.RecordDPA(ctx, o.ID, time.Time{})
		must(t, err)
		o, err = acc.EnableCleanRoom(ctx, o.ID)
		must(t, err)
		return o
	}
	w.pub, w.adv = ready("Daily Planet", cleanroom.OrgPublisher), ready("Acme Outdoor", cleanroom.OrgAdvertiser)
	u, err := synth.NewUniverse(synth.UniverseConfig{Seed: 5, Users: users, Cohorts: 10})
	must(t, err)
	var buf bytes.Buffer
	must(t, u.WriteTaxonomy(&buf))
	ptax, _, err := pubsync.ParseTaxonomy(&buf)
	must(t, err)
	must(t, pipeline.PutPublisherTaxonomy(ctx, m.Store, w.pub.ID, ptax, time.Now()))
	buf.Reset()
	_, err = u.WriteProfiles(&buf, synth.WriteOptions{})
	must(t, err)
	w.upload(w.pub.ID, cleanroom.UploadPublisher, w.pub.ID, buf.Bytes())
	ad, err := synth.NewAdvertiser(u, synth.AdvertiserConfig{Seed: 3, Rows: users / 3, Overlap: 0.7})
	must(t, err)
	ds, err := m.Connections.CreateDataSource(ctx, cleanroom.NewCaller(w.adv.ID, cleanroom.RoleAdmin), "CRM customers", "")
	must(t, err)
	buf.Reset()
	must(t, ad.WriteTaxonomy(&buf))
	atax, _, err := ingest.ParseTaxonomy(&buf)
	must(t, err)
	must(t, pipeline.PutDataSourceTaxonomy(ctx, m.Store, ds.ID, atax, time.Now()))
	buf.Reset()
	_, err = ad.WriteData(&buf, synth.WriteOptions{})
	must(t, err)
	w.upload(w.adv.ID, cleanroom.UploadDataSource, ds.ID, buf.Bytes())
	conn, _, err := m.Connections.CreateConnection(ctx, w.pub.ID, w.adv.ID, cleanroom.Permissions{MatchedCohorts: true, ModeledAudiences: true})
	must(t, err)
	wsConn, _, err := m.Connections.CreateConnection(ctx, w.pub.ID, w.pub.DemandSideID, cleanroom.Permissions{MatchedCohorts: true})
	must(t, err)
	w.conn, w.ds, w.wsConn = conn.ID, ds.ID, wsConn.ID
	return w
}

func (w *world) upload(orgID string, target cleanroom.UploadTarget, targetID string, data []byte) {
	w.t.Helper()
	ctx := context.Background()
	up, err := w.m.Uploads.Begin(ctx, uploads.Spec{OrgID: orgID, Target: target, TargetID: targetID, Name: "f.tsv", Size: int64(len(data))})
	if err == nil {
		up, err = w.m.Uploads.WritePart(ctx, up, 0, bytes.NewReader(data), "")
	}
	if err == nil {
		_, err = w.m.Uploads.Complete(ctx, up)
	}
	must(w.t, err)
	w.waitFor("the upload to be processed", func() bool {
		u, err := w.m.Store.FindUpload(ctx, up.ID)
		must(w.t, err)
		if u.State == cleanroom.UploadFailed {
			w.t.Fatalf("upload failed: %s", u.Error)
		}
		return u.State == cleanroom.UploadProcessed
	})
}

// waitFor polls cond until it holds (a bound on a wait, not a timed assertion).
func (w *world) waitFor(what string, cond func() bool) time.Duration {
	w.t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > 2*time.Minute {
			w.t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// cohort creates a matched cohort of every row of the data source and waits for it to be active.
func (w *world) cohort(c *cleanroom.Caller, name, connID, dsID string) *cleanroom.Cohort {
	w.t.Helper()
	co, err := w.m.Cohorts.Create(context.Background(), c, cohorts.Spec{Name: name, Kind: cleanroom.CohortMatched,
		ConnectionIDs: []string{connID}, Query: cleanroom.CohortQuery{Op: cleanroom.OpAny, Conditions: []cleanroom.Condition{{DataSource: dsID}}}})
	must(w.t, err)
	return w.waitActive(co.ID)
}

func (w *world) waitActive(id string) *cleanroom.Cohort {
	w.t.Helper()
	var co *cleanroom.Cohort
	w.waitFor("the cohort to be active", func() bool {
		var err error
		co, err = w.m.Store.FindCohort(context.Background(), id)
		must(w.t, err)
		if co.Status == cleanroom.CohortFailed {
			w.t.Fatalf("cohort %s: %s", co.Status, co.StatusReason)
		}
		return co.Status == cleanroom.CohortActive
	})
	return co
}

// answer is the edge's targeting answer.
type answer struct {
	GAM   map[string][]string `json:"gam"`
	Xandr map[string][]string `json:"xandr"`
	ORTB2 struct {
		User struct {
			Data []struct {
				Name string `json:"name"`
				Ext  struct {
					Segtax int `json:"segtax"`
				} `json:"ext"`
				Segment []struct {
					ID string `json:"id"`
				} `json:"segment"`
			} `json:"data"`
			Keywords string `json:"keywords"`
		} `json:"user"`
	} `json:"ortb2"`
}

// record keeps an edge answer with its headers for the leak scan.
func (w *world) record(resp *http.Response, body []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var h strings.Builder
	resp.Header.Write(&h)
	w.responses = append(w.responses, h.String(), string(body))
}

func (w *world) do(method, path, origin, contentType string, body []byte) (*http.Response, []byte) {
	w.t.Helper()
	u := path
	if strings.HasPrefix(path, "/") {
		u = w.m.URL() + path
	}
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	must(w.t, err)
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	must(w.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	must(w.t, err)
	w.record(resp, b)
	return resp, b
}

// codes returns the GAM codes the edge answers for a user.
func (w *world) codes(uid string) []string {
	w.t.Helper()
	resp, b := w.do("GET", "/edge/v1/"+w.pub.ID+"/targeting?uid="+url.QueryEscape(uid), "", "", nil)
	if resp.StatusCode == http.StatusNotFound {
		return nil // nothing published yet
	}
	if resp.StatusCode != http.StatusOK {
		w.t.Fatalf("targeting: %d %s", resp.StatusCode, b)
	}
	var a answer
	must(w.t, json.Unmarshal(b, &a))
	for _, v := range a.GAM {
		return v
	}
	return nil
}

func has(codes []string, code int64) bool {
	for _, c := range codes {
		if c == itoa(code) {
			return true
		}
	}
	return false
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// member returns a user ID the edge serves code to, scanning the synthetic users.
func (w *world) member(code int64, skip map[string]bool) string {
	w.t.Helper()
	e := w.m.Edge.Engine(w.pub.ID)
	if e == nil {
		w.t.Fatal("no engine")
	}
	var buf [8]uint32
	for i := range w.users {
		uid := synth.UserID(i)
		if skip[uid] {
			continue
		}
		for _, c := range e.DecideUser(uid, time.Now(), buf[:0]) {
			if int64(c) == code {
				return uid
			}
		}
	}
	w.t.Fatalf("no user is served code %d", code)
	return ""
}

// servedUsers counts the synthetic users the edge serves code to.
func (w *world) servedUsers(code int64) int {
	e := w.m.Edge.Engine(w.pub.ID)
	if e == nil {
		return 0
	}
	var buf [8]uint32
	n := 0
	for i := range w.users {
		for _, c := range e.DecideUser(synth.UserID(i), time.Now(), buf[:0]) {
			if int64(c) == code {
				n++
			}
		}
	}
	return n
}
