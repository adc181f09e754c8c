package storetest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
)

// Kinds of IDs for uploads, versions and bridges (well above the other lists).
const (
	kindUpload = iota + 0x200
	kindVersion
	kindBridge
)

func uploadID(n int) string  { return uid(kindUpload, n) }
func versionID(n int) string { return uid(kindVersion, n) }
func bridgeID(n int) string  { return uid(kindBridge, n) }

// sha256Hex is a declared digest; the store does not check it.
var sha256Hex = strings.Repeat("0123456789abcdef", 4)

// newUpload returns upload n in org o to a data source (data source ds), open, 300 bytes, created
// at t0+created by user 1; not stored yet.
func newUpload(n, o, ds int, created time.Duration) *cleanroom.Upload {
	return &cleanroom.Upload{ID: uploadID(n), OrgID: orgID(o), Target: cleanroom.UploadDataSource, TargetID: dataSourceID(ds),
		Name: fmt.Sprintf("file-%d.csv", n), Size: 300, State: cleanroom.UploadOpen, SHA256: sha256Hex,
		HashState: []byte("hash state 0"), WrappedKey: []byte(fmt.Sprintf("wrapped key %d", n)), CreatedBy: userID(1),
		CreatedAt: t0.Add(created)}
}

// createUpload stores u and returns it as written back.
func createUpload(t *testing.T, s cleanroom.Store, u *cleanroom.Upload) *cleanroom.Upload {
	t.Helper()
	ok(t, s.CreateUpload(t.Context(), u))
	return u
}

func findUpload(t *testing.T, s cleanroom.Store, id string) *cleanroom.Upload {
	t.Helper()
	u, err := s.FindUpload(t.Context(), id)
	ok(t, err)
	return u
}

func uploadIDs(us []*cleanroom.Upload) []string {
	ids := []string{}
	for _, u := range us {
		ids = append(ids, u.ID)
	}
	return ids
}

// listParts returns an upload's parts, failing the test on an error or a nil slice.
func listParts(t *testing.T, s cleanroom.Store, uploadID string) []*cleanroom.UploadPart {
	t.Helper()
	ps, err := s.ListUploadParts(t.Context(), uploadID)
	ok(t, err)
	if ps == nil {
		t.Fatal("ListUploadParts returned nil, want a non-nil slice")
	}
	return ps
}

// addPart adds a part of size bytes at offset to upload n, with hash state "hash <offset+size>",
// at t0+now, and returns the part (with its Seq) and the upload.
func addPart(t *testing.T, s cleanroom.Store, n int, offset, size int64, now time.Duration) (*cleanroom.UploadPart, *cleanroom.Upload) {
	t.Helper()
	p := &cleanroom.UploadPart{UploadID: uploadID(n), Offset: offset, Size: size, BlobKey: partKey(n, offset)}
	u, err := s.AddUploadPart(t.Context(), p, []byte(fmt.Sprintf("hash %d", offset+size)), t0.Add(now))
	ok(t, err)
	return p, u
}

func partKey(n int, offset int64) string { return fmt.Sprintf("uploads/%s/%012d", uploadID(n), offset) }

var uploadCases = []testCase{
	{"create and find", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		u := &cleanroom.Upload{ID: uploadID(1), OrgID: orgID(1), Target: cleanroom.UploadDataSource, TargetID: dataSourceID(1),
			Name: "customers.csv", Size: 1 << 40, Received: 7, Parts: 2, State: cleanroom.UploadProcessed, SHA256: sha256Hex,
			HashState: []byte{0, 1, 2, 0xff}, WrappedKey: []byte("wrapped\x00key"), JobID: 42,
			Report: json.RawMessage(`{"rows": 10, "rejected": {"bad_hash": 2}}`), Error: "2 rows rejected",
			VersionID: versionID(1), CreatedBy: userID(1), CreatedAt: t0, UpdatedAt: t0.Add(time.Minute)}
		ok(t, s.CreateUpload(t.Context(), u))
		want := &cleanroom.Upload{ID: uploadID(1), OrgID: orgID(1), Target: cleanroom.UploadDataSource, TargetID: dataSourceID(1),
			Name: "customers.csv", Size: 1 << 40, Received: 7, Parts: 2, State: cleanroom.UploadProcessed, SHA256: sha256Hex,
			HashState: []byte{0, 1, 2, 0xff}, WrappedKey: []byte("wrapped\x00key"), JobID: 42,
			Report: json.RawMessage(`{"rows": 10, "rejected": {"bad_hash": 2}}`), Error: "2 rows rejected",
			VersionID: versionID(1), CreatedBy: userID(1), CreatedAt: at(0), UpdatedAt: at(time.Minute)}
		same(t, "created upload", want, u)
		same(t, "found upload", want, findUpload(t, s, u.ID))
	}},
	{"create defaults", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgPublisher)
		// No state, no times, no hash state, key or report: empty slices read back as nil.
		u := &cleanroom.Upload{ID: uploadID(1), OrgID: orgID(1), Target: cleanroom.UploadPublisher, TargetID: orgID(1),
			Name: "profiles.csv", Size: 10, HashState: []byte{}, Report: json.RawMessage{}}
		ok(t, s.CreateUpload(t.Context(), u))
		if u.State != cleanroom.UploadOpen {
			t.Fatalf("State = %q, want %q", u.State, cleanroom.UploadOpen)
		}
		if u.CreatedAt.IsZero() || !u.UpdatedAt.Equal(u.CreatedAt) {
			t.Fatalf("CreatedAt %v, UpdatedAt %v: want both set and equal", u.CreatedAt, u.UpdatedAt)
		}
		if u.HashState != nil || u.WrappedKey != nil || u.Report != nil {
			t.Fatalf("HashState %q, WrappedKey %q, Report %q written back: want nil", u.HashState, u.WrappedKey, u.Report)
		}
		got := findUpload(t, s, u.ID)
		same(t, "found upload", u, got)
		if got.Report != nil || got.HashState != nil || got.WrappedKey != nil {
			t.Fatalf("Report %q, HashState %q, WrappedKey %q read back: want nil", got.Report, got.HashState, got.WrappedKey)
		}
	}},
	{"every state and target round trips", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgPublisher)
		n := 0
		for _, target := range []struct {
			target cleanroom.UploadTarget
			id     string
		}{{cleanroom.UploadDataSource, dataSourceID(1)}, {cleanroom.UploadPublisher, orgID(1)}, {cleanroom.UploadBridge, bridgeID(1)}} {
			for _, st := range []cleanroom.UploadState{cleanroom.UploadOpen, cleanroom.UploadComplete, cleanroom.UploadProcessing,
				cleanroom.UploadProcessed, cleanroom.UploadFailed, cleanroom.UploadAborted} {
				n++
				u := newUpload(n, 1, 1, 0)
				u.Target, u.TargetID, u.State = target.target, target.id, st
				ok(t, s.CreateUpload(t.Context(), u))
				got := findUpload(t, s, u.ID)
				if got.Target != target.target || got.TargetID != target.id || got.State != st {
					t.Errorf("upload to %s %s, %s read back as to %s %s, %s", target.target, target.id, st, got.Target, got.TargetID, got.State)
				}
			}
		}
		for _, bad := range []func(u *cleanroom.Upload){
			func(u *cleanroom.Upload) { u.State = "deleted" },
			func(u *cleanroom.Upload) { u.Target = "vault" },
		} {
			u := newUpload(99, 1, 1, 0)
			bad(u)
			if err := s.CreateUpload(t.Context(), u); err == nil {
				t.Fatalf("an upload to %q in state %q was stored", u.Target, u.State)
			}
		}
		_, err := s.FindUpload(t.Context(), uploadID(99))
		wantCode(t, err, cleanroom.ENOTFOUND)
	}},
	{"create needs the org", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		err := s.CreateUpload(t.Context(), newUpload(1, 9, 1, 0))
		wantCode(t, err, cleanroom.ENOTFOUND)
		wantMessage(t, err, "Organization not found.")
		_, err = s.FindUpload(t.Context(), uploadID(1))
		wantCode(t, err, cleanroom.ENOTFOUND)
	}},
	{"duplicate ID", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		first := createUpload(t, s, newUpload(1, 1, 1, 0))
		again := newUpload(1, 1, 2, time.Hour)
		again.Name = "other.csv"
		err := s.CreateUpload(t.Context(), again)
		wantCode(t, err, cleanroom.ECONFLICT)
		wantMessage(t, err, "An upload with this ID already exists.")
		same(t, "upload after a failed duplicate", first, findUpload(t, s, first.ID))
	}},
	{"find missing", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		createUpload(t, s, newUpload(1, 1, 1, 0))
		_, err := s.FindUpload(t.Context(), uploadID(2))
		wantCode(t, err, cleanroom.ENOTFOUND)
		wantMessage(t, err, "Upload not found.")
	}},
	{"report JSON round trips byte for byte", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		for i, report := range []string{
			`{}`,
			`{"z": 1,  "a": [1, 2.50, 1e3],` + "\n\t" + `"n": null}`,
			`{"big": 123456789012345678901234567890, "neg": -0.0}`,
			`{"esc": "quote\" back\\ \u00e9 tab\t", "ünï": "cödé ✓"}`,
			`[{"reason": "bad_hash", "line": 3}]`,
			`null`,
			` "a string with spaces around" `,
		} {
			t.Run(fmt.Sprintf("report %d", i), func(t *testing.T) {
				u := newUpload(i+1, 1, 1, 0)
				u.Report = json.RawMessage(report)
				ok(t, s.CreateUpload(t.Context(), u))
				if got := string(findUpload(t, s, u.ID).Report); got != report {
					t.Fatalf("created report read back as %q, want %q", got, report)
				}
				// The same through UpdateUpload, on an upload created without one.
				v := newUpload(100+i, 1, 1, 0)
				createUpload(t, s, v)
				got, err := s.UpdateUpload(t.Context(), v.ID, cleanroom.UploadUpdate{Report: json.RawMessage(report)}, t0)
				ok(t, err)
				if string(got.Report) != report {
					t.Fatalf("updated report returned as %q, want %q", got.Report, report)
				}
				if got := string(findUpload(t, s, v.ID).Report); got != report {
					t.Fatalf("updated report read back as %q, want %q", got, report)
				}
			})
		}
	}},
	{"malformed report refused", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		stored := createUpload(t, s, newUpload(1, 1, 1, 0))
		for _, report := range []string{`{`, `{"a": 1} x`, `not json`, "\"\xff\""} {
			u := newUpload(2, 1, 1, 0)
			u.Report = json.RawMessage(report)
			if err := s.CreateUpload(t.Context(), u); err == nil {
				t.Fatalf("an upload with report %q was stored", report)
			}
			if _, err := s.UpdateUpload(t.Context(), stored.ID, cleanroom.UploadUpdate{Report: json.RawMessage(report)}, t0.Add(time.Hour)); err == nil {
				t.Fatalf("report %q was stored by an update", report)
			}
		}
		_, err := s.FindUpload(t.Context(), uploadID(2))
		wantCode(t, err, cleanroom.ENOTFOUND)
		same(t, "upload after failed updates", stored, findUpload(t, s, stored.ID))
	}},
	{"list by target, newest first", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgPublisher)
		createOrg(t, s, 2, cleanroom.OrgAdvertiser)
		// Data source 1: uploads 1 (t0+1h), 2 (t0+3h), 3 (t0+2h), 5 and 4 (both t0+3h, so ID
		// breaks the tie); data source 2: upload 6; publisher 1: upload 7; bridge 1: upload 8;
		// a publisher upload whose target ID is data source 1's: upload 9.
		for _, c := range []struct {
			n       int
			target  cleanroom.UploadTarget
			id      string
			created time.Duration
		}{
			{1, cleanroom.UploadDataSource, dataSourceID(1), time.Hour},
			{2, cleanroom.UploadDataSource, dataSourceID(1), 3 * time.Hour},
			{3, cleanroom.UploadDataSource, dataSourceID(1), 2 * time.Hour},
			{5, cleanroom.UploadDataSource, dataSourceID(1), 3 * time.Hour},
			{4, cleanroom.UploadDataSource, dataSourceID(1), 3 * time.Hour},
			{6, cleanroom.UploadDataSource, dataSourceID(2), 9 * time.Hour},
			{7, cleanroom.UploadPublisher, orgID(1), time.Hour},
			{8, cleanroom.UploadBridge, bridgeID(1), time.Hour},
			{9, cleanroom.UploadPublisher, dataSourceID(1), 9 * time.Hour},
		} {
			u := newUpload(c.n, 2, 1, c.created)
			u.Target, u.TargetID = c.target, c.id
			if c.target == cleanroom.UploadPublisher {
				u.OrgID = orgID(1)
			}
			createUpload(t, s, u)
		}
		for _, c := range []struct {
			name   string
			target cleanroom.UploadTarget
			id     string
			want   []int
		}{
			{"data source 1", cleanroom.UploadDataSource, dataSourceID(1), []int{5, 4, 2, 3, 1}},
			{"data source 2", cleanroom.UploadDataSource, dataSourceID(2), []int{6}},
			{"publisher", cleanroom.UploadPublisher, orgID(1), []int{7}},
			{"bridge", cleanroom.UploadBridge, bridgeID(1), []int{8}},
			{"publisher named like data source 1", cleanroom.UploadPublisher, dataSourceID(1), []int{9}},
			{"bridge without uploads", cleanroom.UploadBridge, bridgeID(2), nil},
			{"data source 1 as a bridge", cleanroom.UploadBridge, dataSourceID(1), nil},
		} {
			t.Run(c.name, func(t *testing.T) {
				got, next, err := s.ListUploads(t.Context(), c.target, c.id, cleanroom.Page{})
				ok(t, err)
				want := []string{}
				for _, n := range c.want {
					want = append(want, uploadID(n))
				}
				same(t, "listed IDs", want, uploadIDs(got))
				if next != "" {
					t.Fatalf("next = %q on a single page", next)
				}
			})
		}
		got, _, err := s.ListUploads(t.Context(), cleanroom.UploadBridge, bridgeID(1), cleanroom.Page{})
		ok(t, err)
		want := newUpload(8, 2, 1, time.Hour)
		want.Target, want.TargetID, want.CreatedAt, want.UpdatedAt = cleanroom.UploadBridge, bridgeID(1), at(time.Hour), at(time.Hour)
		same(t, "listed upload", []*cleanroom.Upload{want}, got)
	}},
	{"list pages", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		// Seven uploads to data source 1, four of them at the same time, and one elsewhere.
		created := map[int]time.Duration{1: time.Hour, 2: 2 * time.Hour, 3: 2 * time.Hour, 4: 2 * time.Hour, 5: 2 * time.Hour,
			6: 3 * time.Hour, 7: 30 * time.Minute}
		for _, n := range []int{4, 7, 1, 6, 3, 5, 2} {
			createUpload(t, s, newUpload(n, 1, 1, created[n]))
		}
		createUpload(t, s, newUpload(8, 1, 2, 2*time.Hour))
		var want []string
		for _, n := range []int{6, 5, 4, 3, 2, 1, 7} {
			want = append(want, uploadID(n))
		}
		for _, c := range []struct{ limit, pages int }{{1, 7}, {2, 4}, {3, 3}, {4, 2}, {6, 2}, {7, 1}, {0, 1}} {
			t.Run(fmt.Sprintf("limit %d", c.limit), func(t *testing.T) {
				limit := c.limit
				if limit == 0 {
					limit = cleanroom.DefaultPageLimit
				}
				got, pages := collectPages(t, limit, func(p cleanroom.Page) ([]*cleanroom.Upload, string, error) {
					p.Limit = c.limit
					return s.ListUploads(t.Context(), cleanroom.UploadDataSource, dataSourceID(1), p)
				})
				same(t, "listed IDs", want, uploadIDs(got))
				if pages != c.pages {
					t.Errorf("%d pages, want %d", pages, c.pages)
				}
			})
		}
		cursor := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
		for _, after := range []string{"not a cursor!", cursor("12345"), cursor("x," + uploadID(1)), cursor("12345,"), cursor(",")} {
			_, _, err := s.ListUploads(t.Context(), cleanroom.UploadDataSource, dataSourceID(1), cleanroom.Page{After: after})
			wantCode(t, err, cleanroom.EINVALID)
		}
		none, next, err := s.ListUploads(t.Context(), cleanroom.UploadDataSource, dataSourceID(9), cleanroom.Page{})
		ok(t, err)
		if none == nil || len(none) != 0 || next != "" {
			t.Fatalf("uploads of a data source without any: %v, next %q; want an empty non-nil slice", none, next)
		}
	}},
	{"update", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		u := createUpload(t, s, newUpload(1, 1, 1, 0))
		other := createUpload(t, s, newUpload(2, 1, 1, 0))
		complete, failed := cleanroom.UploadComplete, cleanroom.UploadFailed
		job, job2 := int64(17), int64(0)
		msg, none := "line 3: bad hash", ""
		version := versionID(3)
		report := json.RawMessage(`{"rows": 3}`)
		report2 := json.RawMessage(`{"rows": 4, "rejected": 1}`)
		want := *u
		// Steps run in order; each changes want as the store should.
		for i, step := range []struct {
			name   string
			upd    cleanroom.UploadUpdate
			change func(u *cleanroom.Upload)
		}{
			{"nothing", cleanroom.UploadUpdate{}, func(*cleanroom.Upload) {}},
			{"state", cleanroom.UploadUpdate{State: &complete}, func(u *cleanroom.Upload) { u.State = complete }},
			{"job", cleanroom.UploadUpdate{JobID: &job}, func(u *cleanroom.Upload) { u.JobID = job }},
			{"report", cleanroom.UploadUpdate{Report: report}, func(u *cleanroom.Upload) { u.Report = report }},
			{"error", cleanroom.UploadUpdate{Error: &msg}, func(u *cleanroom.Upload) { u.Error = msg }},
			{"version", cleanroom.UploadUpdate{VersionID: &version}, func(u *cleanroom.Upload) { u.VersionID = version }},
			{"nil report keeps it", cleanroom.UploadUpdate{Report: nil}, func(*cleanroom.Upload) {}},
			{"report replaced", cleanroom.UploadUpdate{Report: report2}, func(u *cleanroom.Upload) { u.Report = report2 }},
			{"empty report removes it", cleanroom.UploadUpdate{Report: json.RawMessage{}}, func(u *cleanroom.Upload) { u.Report = nil }},
			{"all at once", cleanroom.UploadUpdate{State: &failed, JobID: &job2, Report: report, Error: &none, VersionID: &none},
				func(u *cleanroom.Upload) {
					u.State, u.JobID, u.Report, u.Error, u.VersionID = failed, 0, report, "", ""
				}},
		} {
			t.Run(step.name, func(t *testing.T) {
				now := time.Duration(i+1) * time.Hour
				got, err := s.UpdateUpload(t.Context(), u.ID, step.upd, t0.Add(now))
				ok(t, err)
				step.change(&want)
				want.UpdatedAt = at(now)
				same(t, "updated upload", &want, got)
				same(t, "found upload", &want, findUpload(t, s, u.ID))
			})
		}
		same(t, "the other upload", other, findUpload(t, s, other.ID))

		bad := cleanroom.UploadState("deleted")
		if _, err := s.UpdateUpload(t.Context(), u.ID, cleanroom.UploadUpdate{State: &bad}, t0.Add(time.Hour)); err == nil {
			t.Fatal("state \"deleted\" was stored")
		}
		same(t, "upload after a failed update", &want, findUpload(t, s, u.ID))
	}},
	{"concurrent updates of different fields all stick", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		for round := 1; round <= 5; round++ {
			u := createUpload(t, s, newUpload(round, 1, 1, 0))
			st, job, msg, version := cleanroom.UploadFailed, int64(round), fmt.Sprintf("error %d", round), versionID(round)
			report := json.RawMessage(fmt.Sprintf(`{"round": %d}`, round))
			upds := []cleanroom.UploadUpdate{{State: &st}, {JobID: &job}, {Report: report}, {Error: &msg}, {VersionID: &version}}
			var (
				wg    sync.WaitGroup
				start = make(chan struct{})
				errs  = make([]error, len(upds))
			)
			for i, upd := range upds {
				wg.Go(func() {
					<-start
					_, errs[i] = s.UpdateUpload(t.Context(), u.ID, upd, t0.Add(time.Hour))
				})
			}
			close(start)
			wg.Wait()
			for _, err := range errs {
				ok(t, err)
			}
			want := *u
			want.State, want.JobID, want.Report, want.Error, want.VersionID, want.UpdatedAt = st, job, report, msg, version, at(time.Hour)
			same(t, fmt.Sprintf("round %d: upload", round), &want, findUpload(t, s, u.ID))
		}
	}},
	{"update missing", func(t *testing.T, s cleanroom.Store) {
		st := cleanroom.UploadAborted
		_, err := s.UpdateUpload(t.Context(), uploadID(1), cleanroom.UploadUpdate{State: &st}, t0)
		wantCode(t, err, cleanroom.ENOTFOUND)
		wantMessage(t, err, "Upload not found.")
	}},
}

var uploadPartCases = []testCase{
	{"add parts", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		u := createUpload(t, s, newUpload(1, 1, 1, 0))
		other := createUpload(t, s, newUpload(2, 1, 1, 0))
		want := *u
		var wantParts []*cleanroom.UploadPart
		for i, c := range []struct{ offset, size int64 }{{0, 100}, {100, 150}, {250, 50}} {
			now := time.Duration(i+1) * time.Minute
			p, got := addPart(t, s, 1, c.offset, c.size, now)
			if p.Seq != i+1 {
				t.Fatalf("part %d: Seq = %d, want %d", i+1, p.Seq, i+1)
			}
			want.Received, want.Parts, want.UpdatedAt = c.offset+c.size, i+1, at(now)
			want.HashState = []byte(fmt.Sprintf("hash %d", c.offset+c.size))
			same(t, fmt.Sprintf("upload after part %d", i+1), &want, got)
			same(t, fmt.Sprintf("found upload after part %d", i+1), &want, findUpload(t, s, u.ID))
			wantParts = append(wantParts, &cleanroom.UploadPart{UploadID: u.ID, Seq: i + 1, Offset: c.offset, Size: c.size,
				BlobKey: partKey(1, c.offset)})
			same(t, fmt.Sprintf("parts after part %d", i+1), wantParts, listParts(t, s, u.ID))
		}
		same(t, "the other upload", other, findUpload(t, s, other.ID))
		same(t, "the other upload's parts", []*cleanroom.UploadPart{}, listParts(t, s, other.ID))
	}},
	{"wrong offset", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		createUpload(t, s, newUpload(1, 1, 1, 0))
		_, u := addPart(t, s, 1, 0, 100, time.Minute)
		parts := listParts(t, s, u.ID)
		for _, offset := range []int64{0, 50, 99, 101, 250} {
			p := &cleanroom.UploadPart{UploadID: u.ID, Offset: offset, Size: 10, BlobKey: "uploads/x"}
			got, err := s.AddUploadPart(t.Context(), p, []byte("other hash"), t0.Add(time.Hour))
			wantCode(t, err, cleanroom.ECONFLICT)
			wantMessage(t, err, fmt.Sprintf("The upload is at byte 100, not %d.", offset))
			same(t, "details", map[string]any{"offset": int64(100)}, cleanroom.ErrorDetails(err))
			if got != nil || p.Seq != 0 {
				t.Fatalf("a refused part returned upload %v and Seq %d", got, p.Seq)
			}
		}
		same(t, "upload after refused parts", u, findUpload(t, s, u.ID))
		same(t, "parts after refused parts", parts, listParts(t, s, u.ID))
		// The right offset still works.
		p, got := addPart(t, s, 1, 100, 200, 2*time.Minute)
		if p.Seq != 2 || got.Received != 300 || got.Parts != 2 {
			t.Fatalf("part at 100: Seq %d, Received %d, Parts %d; want 2, 300, 2", p.Seq, got.Received, got.Parts)
		}
	}},
	{"upload not open", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		for i, st := range []cleanroom.UploadState{cleanroom.UploadComplete, cleanroom.UploadProcessing, cleanroom.UploadProcessed,
			cleanroom.UploadFailed, cleanroom.UploadAborted} {
			t.Run(string(st), func(t *testing.T) {
				u := newUpload(i+1, 1, 1, 0)
				u.State = st
				createUpload(t, s, u)
				p := &cleanroom.UploadPart{UploadID: u.ID, Offset: 0, Size: 10, BlobKey: "uploads/x"}
				_, err := s.AddUploadPart(t.Context(), p, []byte("other hash"), t0.Add(time.Hour))
				wantCode(t, err, cleanroom.ECONFLICT)
				wantMessage(t, err, fmt.Sprintf("The upload is %s, not open.", st))
				if p.Seq != 0 {
					t.Fatalf("Seq = %d after a refused part", p.Seq)
				}
				same(t, "upload after a refused part", u, findUpload(t, s, u.ID))
				same(t, "parts", []*cleanroom.UploadPart{}, listParts(t, s, u.ID))
			})
		}
	}},
	{"upload missing", func(t *testing.T, s cleanroom.Store) {
		_, err := s.AddUploadPart(t.Context(), &cleanroom.UploadPart{UploadID: uploadID(1), Size: 10, BlobKey: "uploads/x"}, nil, t0)
		wantCode(t, err, cleanroom.ENOTFOUND)
		wantMessage(t, err, "Upload not found.")
	}},
	{"concurrent parts at one offset", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		u := newUpload(1, 1, 1, 0)
		u.Size = 1000
		createUpload(t, s, u)
		const writers = 8
		var received int64
		// Several rounds: in each, every writer sends a part at the upload's current offset.
		for round := 1; round <= 3; round++ {
			offset := received
			var (
				wg    sync.WaitGroup
				start = make(chan struct{})
				errs  = make([]error, writers)
				ups   = make([]*cleanroom.Upload, writers)
				parts = make([]*cleanroom.UploadPart, writers)
			)
			for w := range writers {
				parts[w] = &cleanroom.UploadPart{UploadID: u.ID, Offset: offset, Size: int64(10 + w),
					BlobKey: fmt.Sprintf("uploads/%d/%d", round, w)}
				wg.Go(func() {
					<-start
					ups[w], errs[w] = s.AddUploadPart(t.Context(), parts[w], []byte(fmt.Sprintf("hash %d %d", round, w)), t0.Add(time.Duration(round)*time.Minute))
				})
			}
			close(start)
			wg.Wait()
			winner := -1
			for w, err := range errs {
				switch cleanroom.ErrorCode(err) {
				case "":
					if winner >= 0 {
						t.Fatalf("round %d: writers %d and %d both added a part at %d", round, winner, w, offset)
					}
					winner = w
				case cleanroom.ECONFLICT:
				default:
					t.Fatalf("round %d: writer %d: %v, want success or a conflict", round, w, err)
				}
			}
			if winner < 0 {
				t.Fatalf("round %d: no writer added a part", round)
			}
			received = offset + int64(10+winner)
			// Every loser ran after the winner (before it, it would have won) and was told so.
			for w, err := range errs {
				if w == winner {
					continue
				}
				wantMessage(t, err, fmt.Sprintf("The upload is at byte %d, not %d.", received, offset))
				same(t, fmt.Sprintf("round %d: writer %d's error details", round, w), map[string]any{"offset": received}, cleanroom.ErrorDetails(err))
			}
			got := findUpload(t, s, u.ID)
			if got.Received != received || got.Parts != round || string(got.HashState) != fmt.Sprintf("hash %d %d", round, winner) {
				t.Fatalf("round %d: upload has Received %d, Parts %d, HashState %q; want %d, %d, writer %d's",
					round, got.Received, got.Parts, got.HashState, received, round, winner)
			}
			same(t, fmt.Sprintf("round %d: returned upload", round), got, ups[winner])
			if parts[winner].Seq != round {
				t.Fatalf("round %d: Seq = %d, want %d", round, parts[winner].Seq, round)
			}
			ps := listParts(t, s, u.ID)
			if len(ps) != round || ps[round-1].BlobKey != parts[winner].BlobKey {
				t.Fatalf("round %d: %d parts stored, the last %+v; want %d, the last writer %d's", round, len(ps), ps[len(ps)-1], round, winner)
			}
		}
	}},
	{"list parts of each upload in order", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		createUpload(t, s, newUpload(1, 1, 1, 0))
		createUpload(t, s, newUpload(2, 1, 1, 0))
		// Interleaved, with blob keys that sort against the parts' order.
		add := func(n int, offset, size int64, key string) {
			t.Helper()
			p := &cleanroom.UploadPart{UploadID: uploadID(n), Offset: offset, Size: size, BlobKey: key}
			_, err := s.AddUploadPart(t.Context(), p, nil, t0)
			ok(t, err)
		}
		add(1, 0, 5, "z")
		add(2, 0, 7, "y")
		add(1, 5, 5, "m")
		add(1, 10, 5, "a")
		add(2, 7, 1, "b")
		same(t, "upload 1's parts", []*cleanroom.UploadPart{
			{UploadID: uploadID(1), Seq: 1, Offset: 0, Size: 5, BlobKey: "z"},
			{UploadID: uploadID(1), Seq: 2, Offset: 5, Size: 5, BlobKey: "m"},
			{UploadID: uploadID(1), Seq: 3, Offset: 10, Size: 5, BlobKey: "a"},
		}, listParts(t, s, uploadID(1)))
		same(t, "upload 2's parts", []*cleanroom.UploadPart{
			{UploadID: uploadID(2), Seq: 1, Offset: 0, Size: 7, BlobKey: "y"},
			{UploadID: uploadID(2), Seq: 2, Offset: 7, Size: 1, BlobKey: "b"},
		}, listParts(t, s, uploadID(2)))
		same(t, "an unknown upload's parts", []*cleanroom.UploadPart{}, listParts(t, s, uploadID(3)))
	}},
	{"delete parts", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		createUpload(t, s, newUpload(1, 1, 1, 0))
		createUpload(t, s, newUpload(2, 1, 1, 0))
		addPart(t, s, 1, 0, 100, time.Minute)
		_, u := addPart(t, s, 1, 100, 100, 2*time.Minute)
		addPart(t, s, 2, 0, 100, time.Minute)
		kept := listParts(t, s, uploadID(2))

		ok(t, s.DeleteUploadParts(t.Context(), uploadID(1)))
		same(t, "upload 1's parts", []*cleanroom.UploadPart{}, listParts(t, s, uploadID(1)))
		same(t, "upload 2's parts", kept, listParts(t, s, uploadID(2)))
		// The upload keeps its offset and count.
		same(t, "upload 1", u, findUpload(t, s, uploadID(1)))
		// Again, and for an upload that never had parts: nothing to do.
		ok(t, s.DeleteUploadParts(t.Context(), uploadID(1)))
		ok(t, s.DeleteUploadParts(t.Context(), uploadID(9)))
		// A later part does not reuse a Seq.
		p, _ := addPart(t, s, 1, 200, 100, 3*time.Minute)
		if p.Seq != 3 {
			t.Fatalf("Seq after deleting parts = %d, want 3", p.Seq)
		}
	}},
}

var taxonomyCases = []testCase{
	{"put, replace and find", func(t *testing.T, s cleanroom.Store) {
		_, err := s.FindTaxonomy(t.Context(), dataSourceID(1))
		wantCode(t, err, cleanroom.ENOTFOUND)
		wantMessage(t, err, "No taxonomy has been uploaded yet.")

		first := `{"segments": [{"id": "s1", "name": "Sports"}]}`
		second := `{"segments":[{"id":"s2","name":"Autos"},{"id":"s3","name":"Ünïcode ✓"}]}`
		other := `{"segments": []}`
		ok(t, s.PutTaxonomy(t.Context(), dataSourceID(1), json.RawMessage(first), t0))
		ok(t, s.PutTaxonomy(t.Context(), orgID(1), json.RawMessage(other), t0))
		for _, step := range []struct {
			name        string
			put         string
			want        map[string]string
			wantMissing []string
		}{
			{"first", "", map[string]string{dataSourceID(1): first, orgID(1): other}, []string{dataSourceID(2)}},
			{"replaced", second, map[string]string{dataSourceID(1): second, orgID(1): other}, []string{dataSourceID(2)}},
			{"replaced by the first again", first, map[string]string{dataSourceID(1): first, orgID(1): other}, []string{dataSourceID(2)}},
		} {
			t.Run(step.name, func(t *testing.T) {
				if step.put != "" {
					ok(t, s.PutTaxonomy(t.Context(), dataSourceID(1), json.RawMessage(step.put), t0.Add(time.Hour)))
				}
				for owner, want := range step.want {
					got, err := s.FindTaxonomy(t.Context(), owner)
					ok(t, err)
					if string(got) != want {
						t.Fatalf("taxonomy of %s = %q, want %q", owner, got, want)
					}
				}
				for _, owner := range step.wantMissing {
					_, err := s.FindTaxonomy(t.Context(), owner)
					wantCode(t, err, cleanroom.ENOTFOUND)
				}
			})
		}
	}},
	{"malformed body refused", func(t *testing.T, s cleanroom.Store) {
		stored := `{"segments": []}`
		ok(t, s.PutTaxonomy(t.Context(), dataSourceID(1), json.RawMessage(stored), t0))
		for _, body := range []string{"", `{`, `[1, 2`, "segments"} {
			if err := s.PutTaxonomy(t.Context(), dataSourceID(1), json.RawMessage(body), t0.Add(time.Hour)); err == nil {
				t.Fatalf("taxonomy %q was stored", body)
			}
			if err := s.PutTaxonomy(t.Context(), dataSourceID(2), json.RawMessage(body), t0.Add(time.Hour)); err == nil {
				t.Fatalf("taxonomy %q was stored", body)
			}
		}
		got, err := s.FindTaxonomy(t.Context(), dataSourceID(1))
		ok(t, err)
		if string(got) != stored {
			t.Fatalf("taxonomy after refused ones = %q, want %q", got, stored)
		}
		_, err = s.FindTaxonomy(t.Context(), dataSourceID(2))
		wantCode(t, err, cleanroom.ENOTFOUND)
	}},
}

// newVersion returns version n of data source ds in org o, created at t0+created; not stored yet.
func newVersion(n, o, ds int, created time.Duration) *cleanroom.Version {
	return &cleanroom.Version{ID: versionID(n), OrgID: orgID(o), OwnerType: cleanroom.UploadDataSource, OwnerID: dataSourceID(ds),
		BlobKey: fmt.Sprintf("versions/%s", versionID(n)), WrappedKey: []byte(fmt.Sprintf("key %d", n)), Bytes: int64(1000 * n),
		Rows: int64(10 * n), Stats: json.RawMessage(fmt.Sprintf(`{"segments": %d}`, n)), UploadID: uploadID(n),
		CreatedAt: t0.Add(created)}
}

// baseOf returns the ID of the owner's current version, "" for none: the base of its next version.
func baseOf(t *testing.T, s cleanroom.Store, ownerID string) string {
	t.Helper()
	v, err := s.CurrentVersion(t.Context(), ownerID)
	if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
		return ""
	}
	ok(t, err)
	return v.ID
}

// createVersion stores v on its owner's current version and checks that it got Seq seq.
func createVersion(t *testing.T, s cleanroom.Store, v *cleanroom.Version, seq int) *cleanroom.Version {
	t.Helper()
	ok(t, s.CreateVersion(t.Context(), v, baseOf(t, s, v.OwnerID)))
	if v.Seq != seq {
		t.Fatalf("version %s: Seq = %d, want %d", v.ID, v.Seq, seq)
	}
	return v
}

func currentVersion(t *testing.T, s cleanroom.Store, ownerID string) *cleanroom.Version {
	t.Helper()
	v, err := s.CurrentVersion(t.Context(), ownerID)
	ok(t, err)
	return v
}

func wantNoCurrentVersion(t *testing.T, s cleanroom.Store, ownerID string) {
	t.Helper()
	v, err := s.CurrentVersion(t.Context(), ownerID)
	wantCode(t, err, cleanroom.ENOTFOUND)
	wantMessage(t, err, "No version has been processed yet.")
	if v != nil {
		t.Fatalf("CurrentVersion returned %+v with its error", v)
	}
}

// versionSeqs returns the Seqs of an owner's versions as ListVersions orders them.
func versionSeqs(t *testing.T, s cleanroom.Store, ownerID string) []int {
	t.Helper()
	vs, err := s.ListVersions(t.Context(), ownerID)
	ok(t, err)
	if vs == nil {
		t.Fatal("ListVersions returned nil, want a non-nil slice")
	}
	seqs := []int{}
	for _, v := range vs {
		seqs = append(seqs, v.Seq)
	}
	return seqs
}

// countRows counts a table's rows with SQL; it skips the test for stores without SQL.
func countRows(t *testing.T, s cleanroom.Store, table string) int {
	t.Helper()
	db, isSQL := s.(SQLStore)
	if !isSQL {
		t.Skip("the store does not expose SQL")
	}
	var n int
	ok(t, db.SQL().QueryRowContext(t.Context(), `SELECT COUNT(*) FROM `+table).Scan(&n))
	return n
}

var versionCases = []testCase{
	{"create and find", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		v := &cleanroom.Version{ID: versionID(1), OrgID: orgID(1), OwnerType: cleanroom.UploadDataSource, OwnerID: dataSourceID(1),
			Seq: 99, BlobKey: "versions/1", WrappedKey: []byte{0, 0xff, 1}, Bytes: 1 << 40, Rows: 123456789,
			Stats: json.RawMessage(`{"rows": 123456789,  "segments": {"s1": 3}}`), UploadID: uploadID(1), CreatedAt: t0}
		ok(t, s.CreateVersion(t.Context(), v, ""))
		want := &cleanroom.Version{ID: versionID(1), OrgID: orgID(1), OwnerType: cleanroom.UploadDataSource, OwnerID: dataSourceID(1),
			Seq: 1, BlobKey: "versions/1", WrappedKey: []byte{0, 0xff, 1}, Bytes: 1 << 40, Rows: 123456789,
			Stats: json.RawMessage(`{"rows": 123456789,  "segments": {"s1": 3}}`), UploadID: uploadID(1), CreatedAt: at(0)}
		same(t, "created version", want, v)
		same(t, "current version", want, currentVersion(t, s, dataSourceID(1)))
		vs, err := s.ListVersions(t.Context(), dataSourceID(1))
		ok(t, err)
		same(t, "listed versions", []*cleanroom.Version{want}, vs)
	}},
	{"create defaults", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgPublisher)
		v := &cleanroom.Version{ID: versionID(1), OrgID: orgID(1), OwnerType: cleanroom.UploadPublisher, OwnerID: orgID(1),
			BlobKey: "versions/1", WrappedKey: []byte{}, Stats: json.RawMessage{}}
		ok(t, s.CreateVersion(t.Context(), v, ""))
		if v.CreatedAt.IsZero() || v.Seq != 1 || v.WrappedKey != nil || v.Stats != nil {
			t.Fatalf("written back CreatedAt %v, Seq %d, WrappedKey %q, Stats %q; want a time, 1, nil, nil", v.CreatedAt, v.Seq, v.WrappedKey, v.Stats)
		}
		got := currentVersion(t, s, orgID(1))
		same(t, "current version", v, got)
		if got.Stats != nil || got.WrappedKey != nil {
			t.Fatalf("Stats %q, WrappedKey %q read back; want nil", got.Stats, got.WrappedKey)
		}
	}},
	{"every owner type, and no other", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgPublisher)
		for i, ot := range []cleanroom.UploadTarget{cleanroom.UploadDataSource, cleanroom.UploadPublisher, cleanroom.UploadBridge} {
			v := newVersion(i+1, 1, i+1, 0)
			v.OwnerType = ot
			createVersion(t, s, v, 1)
			if got := currentVersion(t, s, v.OwnerID); got.OwnerType != ot {
				t.Errorf("owner type %q read back as %q", ot, got.OwnerType)
			}
		}
		bad := newVersion(9, 1, 9, 0)
		bad.OwnerType = "vault"
		if err := s.CreateVersion(t.Context(), bad, ""); err == nil {
			t.Fatal("a version with owner type \"vault\" was stored")
		}
		wantNoCurrentVersion(t, s, dataSourceID(9))
	}},
	{"stats round trip, malformed refused", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		for i, stats := range []string{`{}`, `{"b": 2, "a": 1.50}`, "[\n 1,\t2 ]", `{"big": 98765432109876543210}`} {
			v := newVersion(i+1, 1, 1, 0)
			v.Stats = json.RawMessage(stats)
			createVersion(t, s, v, i+1)
			if got := string(currentVersion(t, s, dataSourceID(1)).Stats); got != stats {
				t.Fatalf("stats read back as %q, want %q", got, stats)
			}
		}
		for _, stats := range []string{`{`, `nope`} {
			v := newVersion(9, 1, 1, 0)
			v.Stats = json.RawMessage(stats)
			if err := s.CreateVersion(t.Context(), v, baseOf(t, s, v.OwnerID)); err == nil {
				t.Fatalf("a version with stats %q was stored", stats)
			}
		}
		same(t, "seqs", []int{4, 3, 2, 1}, versionSeqs(t, s, dataSourceID(1)))
	}},
	{"create needs the org", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		v := newVersion(1, 9, 1, 0)
		err := s.CreateVersion(t.Context(), v, "")
		wantCode(t, err, cleanroom.ENOTFOUND)
		wantMessage(t, err, "Organization not found.")
		if v.Seq != 0 {
			t.Fatalf("Seq = %d after a failed creation", v.Seq)
		}
		wantNoCurrentVersion(t, s, dataSourceID(1))
	}},
	{"duplicate ID", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		first := createVersion(t, s, newVersion(1, 1, 1, 0), 1)
		// The same ID for the same owner and for another.
		for _, ds := range []int{1, 2} {
			again := newVersion(1, 1, ds, time.Hour)
			err := s.CreateVersion(t.Context(), again, baseOf(t, s, again.OwnerID))
			wantCode(t, err, cleanroom.ECONFLICT)
			wantMessage(t, err, "A version with this ID already exists.")
			if again.Seq != 0 {
				t.Fatalf("Seq = %d after a failed creation", again.Seq)
			}
		}
		same(t, "current version", first, currentVersion(t, s, dataSourceID(1)))
		same(t, "seqs", []int{1}, versionSeqs(t, s, dataSourceID(1)))
		wantNoCurrentVersion(t, s, dataSourceID(2))
	}},
	{"seqs count per owner and the current version follows", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		// Data source 1 gets versions 1, 2, 4; data source 2 versions 3, 5; interleaved.
		steps := []struct{ n, ds, seq int }{{1, 1, 1}, {2, 1, 2}, {3, 2, 1}, {4, 1, 3}, {5, 2, 2}}
		current := map[int]*cleanroom.Version{}
		for i, st := range steps {
			v := createVersion(t, s, newVersion(st.n, 1, st.ds, time.Duration(i)*time.Minute), st.seq)
			current[st.ds] = v
			for ds, want := range current {
				same(t, fmt.Sprintf("after version %d: current version of data source %d", st.n, ds), want, currentVersion(t, s, dataSourceID(ds)))
			}
		}
		same(t, "data source 1's seqs", []int{3, 2, 1}, versionSeqs(t, s, dataSourceID(1)))
		same(t, "data source 2's seqs", []int{2, 1}, versionSeqs(t, s, dataSourceID(2)))
		vs, err := s.ListVersions(t.Context(), dataSourceID(1))
		ok(t, err)
		want := []*cleanroom.Version{newVersion(4, 1, 1, 3*time.Minute), newVersion(2, 1, 1, time.Minute), newVersion(1, 1, 1, 0)}
		for i, v := range want {
			v.Seq, v.CreatedAt = 3-i, cleanroom.UTC(v.CreatedAt)
		}
		same(t, "data source 1's versions", want, vs)
		wantNoCurrentVersion(t, s, dataSourceID(3))
		same(t, "an owner without versions", []int{}, versionSeqs(t, s, dataSourceID(3)))
	}},
	{"a version is created only on the current version", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgPublisher)
		v1 := createVersion(t, s, newVersion(1, 1, 1, 0), 1)
		v2 := createVersion(t, s, newVersion(2, 1, 1, time.Minute), 2)
		for _, c := range []struct{ name, base string }{
			{"on an older version", v1.ID},
			{"as if there were none", ""},
			{"on an unknown version", versionID(9)},
			{"on another owner's version", versionID(5)},
		} {
			if c.base == versionID(5) {
				createVersion(t, s, newVersion(5, 1, 2, 0), 1)
			}
			v := newVersion(3, 1, 1, 2*time.Minute)
			err := s.CreateVersion(t.Context(), v, c.base)
			wantCode(t, err, cleanroom.ECONFLICT)
			wantMessage(t, err, "The current version changed while this one was being built.")
			same(t, c.name+": details", map[string]any{"current": v2.ID}, cleanroom.ErrorDetails(err))
			if v.Seq != 0 {
				t.Fatalf("%s: Seq = %d after a refused creation", c.name, v.Seq)
			}
			same(t, c.name+": current version", v2, currentVersion(t, s, dataSourceID(1)))
			same(t, c.name+": seqs", []int{2, 1}, versionSeqs(t, s, dataSourceID(1)))
		}
		// With no current version (it was deleted), only a version built on none is created.
		ok(t, s.DeleteVersion(t.Context(), v2.ID))
		err := s.CreateVersion(t.Context(), newVersion(3, 1, 1, 0), v2.ID)
		wantCode(t, err, cleanroom.ECONFLICT)
		same(t, "details with no current version", map[string]any{"current": ""}, cleanroom.ErrorDetails(err))
		ok(t, s.CreateVersion(t.Context(), newVersion(3, 1, 1, 0), ""))
		same(t, "seqs", []int{2, 1}, versionSeqs(t, s, dataSourceID(1)))
	}},
	{"concurrent creations on one base: one wins", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		// Each round, writers race to build on the current version of two owners (round 1: on
		// none). Exactly one per owner wins; the others learn the winner's ID.
		const writers = 8
		n := 0
		for round := 1; round <= 4; round++ {
			owners := []int{1, 2}
			bases := map[int]string{}
			for _, ds := range owners {
				bases[ds] = baseOf(t, s, dataSourceID(ds))
			}
			var (
				wg    sync.WaitGroup
				start = make(chan struct{})
				vs    = make([]*cleanroom.Version, len(owners)*writers)
				errs  = make([]error, len(vs))
			)
			for i := range vs {
				n++
				vs[i] = newVersion(n, 1, owners[i%len(owners)], 0)
				base := bases[owners[i%len(owners)]]
				wg.Go(func() {
					<-start
					errs[i] = s.CreateVersion(t.Context(), vs[i], base)
				})
			}
			close(start)
			wg.Wait()
			for k, ds := range owners {
				var winners []*cleanroom.Version
				for i, v := range vs {
					if i%len(owners) == k && errs[i] == nil {
						winners = append(winners, v)
					}
				}
				if len(winners) != 1 {
					t.Fatalf("round %d: data source %d: %d creations on one base succeeded, want 1", round, ds, len(winners))
				}
				for i := range vs {
					if i%len(owners) == k && errs[i] != nil {
						wantCode(t, errs[i], cleanroom.ECONFLICT)
						same(t, "loser's details", map[string]any{"current": winners[0].ID}, cleanroom.ErrorDetails(errs[i]))
					}
				}
				if winners[0].Seq != round {
					t.Fatalf("round %d: data source %d: the winner got Seq %d", round, ds, winners[0].Seq)
				}
				same(t, fmt.Sprintf("round %d: data source %d's current version", round, ds), winners[0], currentVersion(t, s, dataSourceID(ds)))
				if stored := versionSeqs(t, s, dataSourceID(ds)); len(stored) != round {
					t.Fatalf("round %d: data source %d has seqs %v", round, ds, stored)
				}
			}
		}
	}},
	{"deleting an old version keeps the current one", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		createVersion(t, s, newVersion(1, 1, 1, 0), 1)
		createVersion(t, s, newVersion(2, 1, 1, time.Minute), 2)
		v3 := createVersion(t, s, newVersion(3, 1, 1, 2*time.Minute), 3)
		other := createVersion(t, s, newVersion(4, 1, 2, 0), 1)

		ok(t, s.DeleteVersion(t.Context(), versionID(1)))
		same(t, "current version", v3, currentVersion(t, s, dataSourceID(1)))
		same(t, "seqs", []int{3, 2}, versionSeqs(t, s, dataSourceID(1)))
		ok(t, s.DeleteVersion(t.Context(), versionID(2)))
		same(t, "current version", v3, currentVersion(t, s, dataSourceID(1)))
		same(t, "seqs", []int{3}, versionSeqs(t, s, dataSourceID(1)))
		same(t, "the other owner's current version", other, currentVersion(t, s, dataSourceID(2)))

		err := s.DeleteVersion(t.Context(), versionID(1))
		wantCode(t, err, cleanroom.ENOTFOUND)
		wantMessage(t, err, "Version not found.")
		// Numbering goes on from the highest stored Seq.
		v5 := createVersion(t, s, newVersion(5, 1, 1, 3*time.Minute), 4)
		same(t, "current version", v5, currentVersion(t, s, dataSourceID(1)))
	}},
	{"deleting the current version leaves none", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		createVersion(t, s, newVersion(1, 1, 1, 0), 1)
		createVersion(t, s, newVersion(2, 1, 1, time.Minute), 2)
		other := createVersion(t, s, newVersion(3, 1, 2, 0), 1)
		if n := countRows(t, s, "current_versions"); n != 2 {
			t.Fatalf("%d current_versions rows, want 2", n)
		}

		ok(t, s.DeleteVersion(t.Context(), versionID(2)))
		// No fall back to version 1.
		wantNoCurrentVersion(t, s, dataSourceID(1))
		same(t, "seqs", []int{1}, versionSeqs(t, s, dataSourceID(1)))
		same(t, "the other owner's current version", other, currentVersion(t, s, dataSourceID(2)))
		if n := countRows(t, s, "current_versions"); n != 1 {
			t.Fatalf("%d current_versions rows, want 1", n)
		}
		// The next version is current again.
		v4 := createVersion(t, s, newVersion(4, 1, 1, 2*time.Minute), 2)
		same(t, "current version", v4, currentVersion(t, s, dataSourceID(1)))
		// Deleting every version (unlinking) leaves nothing.
		ok(t, s.DeleteVersion(t.Context(), versionID(4)))
		ok(t, s.DeleteVersion(t.Context(), versionID(1)))
		wantNoCurrentVersion(t, s, dataSourceID(1))
		same(t, "seqs", []int{}, versionSeqs(t, s, dataSourceID(1)))
		v5 := createVersion(t, s, newVersion(5, 1, 1, 3*time.Minute), 1)
		same(t, "current version", v5, currentVersion(t, s, dataSourceID(1)))
	}},
}

var ingestCascadeCases = []testCase{
	{"deleting an org", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		createOrg(t, s, 2, cleanroom.OrgAdvertiser)
		// Each org: an upload with two parts, two versions of a data source, a taxonomy.
		for o := 1; o <= 2; o++ {
			createUpload(t, s, newUpload(o, o, o, 0))
			addPart(t, s, o, 0, 100, time.Minute)
			addPart(t, s, o, 100, 100, 2*time.Minute)
			createVersion(t, s, newVersion(2*o-1, o, o, 0), 1)
			createVersion(t, s, newVersion(2*o, o, o, time.Minute), 2)
			ok(t, s.PutTaxonomy(t.Context(), dataSourceID(o), json.RawMessage(`{}`), t0))
		}
		counts := func() map[string]int {
			m := map[string]int{}
			for _, table := range []string{"uploads", "upload_parts", "versions", "current_versions", "taxonomies"} {
				m[table] = countRows(t, s, table)
			}
			return m
		}
		same(t, "rows before", map[string]int{"uploads": 2, "upload_parts": 4, "versions": 4, "current_versions": 2, "taxonomies": 2}, counts())
		u2, v4 := findUpload(t, s, uploadID(2)), currentVersion(t, s, dataSourceID(2))

		deleteOrg(t, s, 1)
		// Taxonomies name their owner without a foreign key, so they stay.
		same(t, "rows after", map[string]int{"uploads": 1, "upload_parts": 2, "versions": 2, "current_versions": 1, "taxonomies": 2}, counts())
		_, err := s.FindUpload(t.Context(), uploadID(1))
		wantCode(t, err, cleanroom.ENOTFOUND)
		same(t, "org 1's parts", []*cleanroom.UploadPart{}, listParts(t, s, uploadID(1)))
		wantNoCurrentVersion(t, s, dataSourceID(1))
		same(t, "org 1's seqs", []int{}, versionSeqs(t, s, dataSourceID(1)))
		same(t, "org 2's upload", u2, findUpload(t, s, uploadID(2)))
		if ps := listParts(t, s, uploadID(2)); len(ps) != 2 {
			t.Fatalf("org 2's upload has %d parts, want 2", len(ps))
		}
		same(t, "org 2's current version", v4, currentVersion(t, s, dataSourceID(2)))
		same(t, "org 2's seqs", []int{2, 1}, versionSeqs(t, s, dataSourceID(2)))
	}},
}
