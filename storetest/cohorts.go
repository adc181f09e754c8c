package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
)

const kindCohort = 0x300

func cohortID(n int) string { return uid(kindCohort, n) }

// newCohort returns cohort n of org o targeting the given connections (connection c at
// publisher org pubs[i]); not stored yet.
func newCohort(n, o int, targets ...[2]int) *cleanroom.Cohort {
	c := &cleanroom.Cohort{ID: cohortID(n), OrgID: orgID(o), Name: "Lapsed travellers", Kind: cleanroom.CohortMatched,
		Query:     json.RawMessage(`{"op":"any","conditions":[{"data_source":"x"}]}`),
		CreatedBy: userID(1), CreatedAt: t0}
	for _, t := range targets {
		c.Targets = append(c.Targets, cleanroom.CohortTarget{ConnectionID: connID(t[0]), PublisherID: orgID(t[1])})
	}
	return c
}

func createCohort(t *testing.T, s cleanroom.Store, c *cleanroom.Cohort) *cleanroom.Cohort {
	t.Helper()
	ok(t, s.CreateCohort(t.Context(), c))
	return c
}

func findCohort(t *testing.T, s cleanroom.Store, id string) *cleanroom.Cohort {
	t.Helper()
	c, err := s.FindCohort(t.Context(), id)
	ok(t, err)
	return c
}

func codesOf(c *cleanroom.Cohort) map[string]int64 {
	out := map[string]int64{}
	for _, t := range c.Targets {
		out[t.ConnectionID] = t.Code
	}
	return out
}

var cohortCases = []testCase{
	{"create and find", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		c := newCohort(1, 1, [2]int{1, 2}, [2]int{2, 3})
		c.Description, c.Country = "Bought no trip this year", []string{"DE", "FR"}
		createCohort(t, s, c)
		want := &cleanroom.Cohort{ID: cohortID(1), OrgID: orgID(1), Name: "Lapsed travellers", Description: "Bought no trip this year",
			Kind: cleanroom.CohortMatched, Query: json.RawMessage(`{"op":"any","conditions":[{"data_source":"x"}]}`),
			Country: []string{"DE", "FR"}, Status: cleanroom.CohortBuilding, Generation: 1, CreatedBy: userID(1),
			CreatedAt: at(0), UpdatedAt: at(0), Targets: []cleanroom.CohortTarget{
				{ConnectionID: connID(1), PublisherID: orgID(2), Code: cleanroom.FirstCohortCode},
				{ConnectionID: connID(2), PublisherID: orgID(3), Code: cleanroom.FirstCohortCode},
			}}
		same(t, "created cohort", want, c)
		same(t, "found cohort", want, findCohort(t, s, c.ID))
	}},
	{"find missing", func(t *testing.T, s cleanroom.Store) {
		_, err := s.FindCohort(t.Context(), cohortID(9))
		wantCode(t, err, cleanroom.ENOTFOUND)
		_, err = s.UpdateCohort(t.Context(), cohortID(9), cleanroom.CohortUpdate{}, at(0))
		wantCode(t, err, cleanroom.ENOTFOUND)
		wantCode(t, s.DeleteCohort(t.Context(), cohortID(9)), cleanroom.ENOTFOUND)
	}},
	{"create needs the org and a free ID", func(t *testing.T, s cleanroom.Store) {
		wantCode(t, s.CreateCohort(t.Context(), newCohort(1, 1, [2]int{1, 2})), cleanroom.ENOTFOUND)
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		createCohort(t, s, newCohort(1, 1, [2]int{1, 2}))
		wantCode(t, s.CreateCohort(t.Context(), newCohort(1, 1, [2]int{1, 2})), cleanroom.ECONFLICT)
	}},
	{"codes count up per publisher and are never reused", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		createOrg(t, s, 4, cleanroom.OrgAdvertiser)
		a := createCohort(t, s, newCohort(1, 1, [2]int{1, 2}))
		b := createCohort(t, s, newCohort(2, 4, [2]int{2, 2}, [2]int{3, 3}))
		same(t, "first codes", map[string]int64{connID(1): cleanroom.FirstCohortCode}, codesOf(a))
		same(t, "second codes", map[string]int64{connID(2): cleanroom.FirstCohortCode + 1, connID(3): cleanroom.FirstCohortCode}, codesOf(b))
		ok(t, s.DeleteCohort(t.Context(), a.ID))
		c := createCohort(t, s, newCohort(3, 1, [2]int{1, 2}))
		same(t, "code after a delete", map[string]int64{connID(1): cleanroom.FirstCohortCode + 2}, codesOf(c))
	}},
	{"update fields and targets", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		c := createCohort(t, s, newCohort(1, 1, [2]int{1, 2}, [2]int{2, 3}))
		name, status, reason, progress := "Renamed", cleanroom.CohortActive, "", 1.0
		sim := 0.7
		simp := &sim
		incl, inputs, built := true, "v1", at(time.Hour)
		targets := []cleanroom.CohortTarget{
			{ConnectionID: connID(2), PublisherID: orgID(3), Size: 1234, Seeds: 99, Active: true,
				Model: json.RawMessage(`{"curve":[]}`), Diagnostics: json.RawMessage(`{"tags":[]}`),
				BlobKey: "cohorts/x", WrappedKey: []byte{1, 2, 3}, BuiltAt: at(time.Hour)},
			{ConnectionID: connID(5), PublisherID: orgID(2), Reason: "Too small."},
		}
		got, err := s.UpdateCohort(t.Context(), c.ID, cleanroom.CohortUpdate{Name: &name, Status: &status, StatusReason: &reason,
			Progress: &progress, Similarity: &simp, IncludeSeeds: &incl, Inputs: &inputs, BuiltAt: &built,
			Country: &[]string{"US"}, Query: json.RawMessage(`{"op":"all"}`), BumpGeneration: true, Targets: &targets}, at(time.Hour))
		ok(t, err)
		want := &cleanroom.Cohort{ID: c.ID, OrgID: orgID(1), Name: "Renamed", Kind: cleanroom.CohortMatched,
			Query: json.RawMessage(`{"op":"all"}`), Country: []string{"US"}, Status: cleanroom.CohortActive, Progress: 1,
			Similarity: &sim, IncludeSeeds: true, Inputs: "v1", Generation: 2, BuiltAt: at(time.Hour), CreatedBy: userID(1),
			CreatedAt: at(0), UpdatedAt: at(time.Hour), Targets: []cleanroom.CohortTarget{
				// connection 2 keeps its code; connection 5 is new at publisher 2, whose next code is the second.
				{ConnectionID: connID(2), PublisherID: orgID(3), Code: cleanroom.FirstCohortCode, Size: 1234, Seeds: 99, Active: true,
					Model: json.RawMessage(`{"curve":[]}`), Diagnostics: json.RawMessage(`{"tags":[]}`),
					BlobKey: "cohorts/x", WrappedKey: []byte{1, 2, 3}, BuiltAt: at(time.Hour)},
				{ConnectionID: connID(5), PublisherID: orgID(2), Code: cleanroom.FirstCohortCode + 1, Reason: "Too small."},
			}}
		same(t, "updated cohort", want, got)
		same(t, "found cohort", want, findCohort(t, s, c.ID))
		// Clearing the similarity.
		var none *float64
		got, err = s.UpdateCohort(t.Context(), c.ID, cleanroom.CohortUpdate{Similarity: &none}, at(time.Hour))
		ok(t, err)
		if got.Similarity != nil {
			t.Fatalf("similarity = %v, want none", *got.Similarity)
		}
	}},
	{"conditional update", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		c := createCohort(t, s, newCohort(1, 1, [2]int{1, 2}))
		gen := c.Generation
		_, err := s.UpdateCohort(t.Context(), c.ID, cleanroom.CohortUpdate{BumpGeneration: true}, at(time.Minute))
		ok(t, err)
		status := cleanroom.CohortActive
		_, err = s.UpdateCohort(t.Context(), c.ID, cleanroom.CohortUpdate{Status: &status, IfGeneration: &gen}, at(time.Minute))
		wantCode(t, err, cleanroom.ECONFLICT)
		if got := findCohort(t, s, c.ID); got.Status != cleanroom.CohortBuilding || got.Generation != gen+1 {
			t.Fatalf("after a refused update: status %s generation %d", got.Status, got.Generation)
		}
		gen++
		got, err := s.UpdateCohort(t.Context(), c.ID, cleanroom.CohortUpdate{Status: &status, IfGeneration: &gen}, at(time.Minute))
		ok(t, err)
		if got.Status != cleanroom.CohortActive {
			t.Fatalf("status %s", got.Status)
		}
	}},
	{"list by org and publisher with pages", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		createOrg(t, s, 4, cleanroom.OrgAdvertiser)
		for n := 1; n <= 5; n++ {
			createCohort(t, s, newCohort(n, 1, [2]int{1, 2}))
		}
		createCohort(t, s, newCohort(6, 4, [2]int{2, 3}))
		all, pages := collectPages(t, 2, func(p cleanroom.Page) ([]*cleanroom.Cohort, string, error) {
			return s.ListCohorts(t.Context(), cleanroom.CohortFilter{OrgID: orgID(1), Page: p})
		})
		if len(all) != 5 || pages != 3 {
			t.Fatalf("org 1: %d cohorts in %d pages, want 5 in 3", len(all), pages)
		}
		for i, c := range all {
			if c.ID != cohortID(i+1) || len(c.Targets) != 1 {
				t.Fatalf("cohort %d: %s with %d targets", i, c.ID, len(c.Targets))
			}
		}
		at3, _, err := s.ListCohorts(t.Context(), cleanroom.CohortFilter{PublisherID: orgID(3)})
		ok(t, err)
		if len(at3) != 1 || at3[0].ID != cohortID(6) {
			t.Fatalf("publisher 3's cohorts: %v", at3)
		}
	}},
	{"deleting the org deletes its cohorts", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		createCohort(t, s, newCohort(1, 1, [2]int{1, 2}))
		deleteOrg(t, s, 1)
		_, err := s.FindCohort(t.Context(), cohortID(1))
		wantCode(t, err, cleanroom.ENOTFOUND)
	}},
}
