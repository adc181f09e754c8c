package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
)

const kindImportSource = 0x500

func importSourceID(n int) string { return uid(kindImportSource, n) }

// newImportSource is import source n of data source ds in org o (ds 0: publisher o's audience).
func newImportSource(n, o, ds int, schedule cleanroom.ImportSchedule, next time.Time) *cleanroom.ImportSource {
	s := &cleanroom.ImportSource{ID: importSourceID(n), OrgID: orgID(o), Target: cleanroom.UploadPublisher, TargetID: orgID(o),
		Endpoint: "https://s3.example.com", Bucket: "crm-exports", Prefix: "daily/", Region: "eu-west-1", AccessKeyID: "AKIA1",
		WrappedSecret: []byte("wrapped secret"), SecretSet: true, Schedule: schedule, Enabled: true, MaxErrorRate: 0.1, NextRunAt: next,
		UpdatedBy: userID(1), CreatedAt: t0, UpdatedAt: t0}
	if ds > 0 {
		s.Target, s.TargetID = cleanroom.UploadDataSource, dataSourceID(ds)
	}
	return s
}

// importCases test the ImportStore: sources, due runs claimed once, imported objects.
var importCases = []testCase{
	{"sources: create, find, update, delete, one per target", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		createDataSource(t, s, 1, 1, 0)
		src := newImportSource(1, 1, 1, cleanroom.ImportOff, time.Time{})
		ok(t, s.CreateImportSource(t.Context(), src))
		got, err := s.FindImportSource(t.Context(), cleanroom.UploadDataSource, dataSourceID(1))
		ok(t, err)
		same(t, "found by target", src, got)
		got, err = s.FindImportSourceByID(t.Context(), src.ID)
		ok(t, err)
		same(t, "found by ID", src, got)
		wantCode(t, s.CreateImportSource(t.Context(), newImportSource(2, 1, 1, cleanroom.ImportOff, time.Time{})), cleanroom.ECONFLICT)
		wantCode(t, s.CreateImportSource(t.Context(), newImportSource(3, 1, 9, cleanroom.ImportOff, time.Time{})), cleanroom.ENOTFOUND)
		src.Bucket, src.Schedule, src.NextRunAt, src.Enabled, src.WrappedSecret, src.UpdatedAt = "other", cleanroom.ImportDaily, at(time.Hour), false, []byte("new"), at(time.Minute)
		ok(t, s.UpdateImportSource(t.Context(), src))
		got, err = s.FindImportSourceByID(t.Context(), src.ID)
		ok(t, err)
		same(t, "updated", src, got)
		ok(t, s.RecordImportCheck(t.Context(), src.ID, at(2*time.Minute), "The bucket is gone."))
		got, err = s.FindImportSourceByID(t.Context(), src.ID)
		ok(t, err)
		if !got.LastCheckedAt.Equal(at(2*time.Minute)) || got.LastError != "The bucket is gone." {
			t.Errorf("after a check: %v %q", got.LastCheckedAt, got.LastError)
		}
		ok(t, s.DeleteImportSource(t.Context(), src.ID))
		_, err = s.FindImportSourceByID(t.Context(), src.ID)
		wantCode(t, err, cleanroom.ENOTFOUND)
		wantCode(t, s.DeleteImportSource(t.Context(), src.ID), cleanroom.ENOTFOUND)
		wantCode(t, s.RecordImportCheck(t.Context(), src.ID, t0, ""), cleanroom.ENOTFOUND)
	}},
	{"due runs are claimed once, and move on by their interval", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgPublisher)
		createOrg(t, s, 2, cleanroom.OrgAdvertiser)
		createDataSource(t, s, 1, 2, 0)
		createDataSource(t, s, 2, 2, 0)
		ok(t, s.CreateImportSource(t.Context(), newImportSource(1, 1, 0, cleanroom.ImportHourly, at(0))))
		ok(t, s.CreateImportSource(t.Context(), newImportSource(2, 2, 1, cleanroom.ImportDaily, at(time.Minute))))
		ok(t, s.CreateImportSource(t.Context(), newImportSource(3, 2, 2, cleanroom.ImportOff, time.Time{})))
		var mu sync.Mutex
		var claimed []string
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				got, err := s.ClaimDueImports(t.Context(), at(2*time.Minute), 10)
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				for _, g := range got {
					claimed = append(claimed, g.ID)
				}
				mu.Unlock()
			})
		}
		wg.Wait()
		if len(claimed) != 2 {
			t.Fatalf("claimed %v, want each due source once", claimed)
		}
		hourly, err := s.FindImportSourceByID(t.Context(), importSourceID(1))
		ok(t, err)
		daily, err := s.FindImportSourceByID(t.Context(), importSourceID(2))
		ok(t, err)
		if !hourly.NextRunAt.Equal(at(2*time.Minute+time.Hour)) || !daily.NextRunAt.Equal(at(2*time.Minute+24*time.Hour)) {
			t.Errorf("next runs %v and %v", hourly.NextRunAt, daily.NextRunAt)
		}
		got, err := s.ClaimDueImports(t.Context(), at(time.Hour), 10)
		ok(t, err)
		same(t, "claimed before the next run", 0, len(got))
		got, err = s.ClaimDueImports(t.Context(), at(3*time.Hour), 10)
		ok(t, err)
		if len(got) != 1 || got[0].ID != importSourceID(1) {
			t.Errorf("three hours on, claimed %d sources, want the hourly one", len(got))
		}
	}},
	{"imported objects: once each, newest first, removed with their source", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		createDataSource(t, s, 1, 1, 0)
		ok(t, s.CreateImportSource(t.Context(), newImportSource(1, 1, 1, cleanroom.ImportOff, time.Time{})))
		createUpload(t, s, newUpload(1, 1, 1, 0))
		a := &cleanroom.ImportedObject{SourceID: importSourceID(1), Bucket: "b", Key: "a.tsv", ETag: "e1", Size: 10, UploadID: uploadID(1), CreatedAt: at(0)}
		b := &cleanroom.ImportedObject{SourceID: importSourceID(1), Bucket: "b", Key: "b.tsv", ETag: "e2", Size: 0, Error: "The object is empty.", CreatedAt: at(time.Second)}
		ok(t, s.AddImportedObject(t.Context(), a))
		ok(t, s.AddImportedObject(t.Context(), b))
		again := *a
		again.UploadID = ""
		wantCode(t, s.AddImportedObject(t.Context(), &again), cleanroom.ECONFLICT)
		changed := &cleanroom.ImportedObject{SourceID: importSourceID(1), Bucket: "b", Key: "a.tsv", ETag: "e3", Size: 10, CreatedAt: at(2 * time.Second)}
		ok(t, s.AddImportedObject(t.Context(), changed))
		got, err := s.FindImportedObject(t.Context(), importSourceID(1), "b", "a.tsv", "e1", 10)
		ok(t, err)
		same(t, "found", a, got)
		_, err = s.FindImportedObject(t.Context(), importSourceID(1), "b", "a.tsv", "e1", 11)
		wantCode(t, err, cleanroom.ENOTFOUND)
		all, pages := collectPages(t, 1, func(p cleanroom.Page) ([]*cleanroom.ImportedObject, string, error) {
			return s.ListImportedObjects(t.Context(), importSourceID(1), p)
		})
		same(t, "listed", []*cleanroom.ImportedObject{changed, b, a}, all)
		same(t, "pages", 3, pages)
		// The upload's deletion keeps the record (the object stays imported).
		ok(t, s.DeleteUploadParts(t.Context(), uploadID(1)))
		_, err = s.DeleteUploads(t.Context(), cleanroom.UploadDataSource, dataSourceID(1))
		ok(t, err)
		got, err = s.FindImportedObject(t.Context(), importSourceID(1), "b", "a.tsv", "e1", 10)
		ok(t, err)
		same(t, "upload deleted", "", got.UploadID)
		// Deleting the data source deletes its import source and the records.
		ok(t, s.DeleteDataSource(t.Context(), dataSourceID(1)))
		_, err = s.FindImportSourceByID(t.Context(), importSourceID(1))
		wantCode(t, err, cleanroom.ENOTFOUND)
		_, err = s.FindImportedObject(t.Context(), importSourceID(1), "b", "b.tsv", "e2", 0)
		wantCode(t, err, cleanroom.ENOTFOUND)
	}},
}
