package pubsync

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/vault"
)

func TestParseTaxonomy(t *testing.T) {
	tax, errs, err := ParseTaxonomy(strings.NewReader("\ufeffCohort_ID,Name,IAB_ID,Standard\r\n" +
		"c1,Sports fans,,false\r\n" +
		"\r\n" +
		"c2,\"Cooks, \"\"amateur\"\"\",,\r\n" +
		"auto,Auto intenders,178,TRUE\r\n" +
		"x-9,Ünïcode name,  42 , no\r\n"))
	if err != nil {
		t.Fatal(err, errs)
	}
	want := []vault.CohortInfo{
		{ID: "c1", Name: "Sports fans"},
		{ID: "c2", Name: `Cooks, "amateur"`},
		{ID: "auto", Name: "Auto intenders", IABID: 178, Standard: true},
		{ID: "x-9", Name: "Ünïcode name", IABID: 42},
	}
	if diff := cmp.Diff(want, tax.Cohorts()); diff != "" {
		t.Errorf("cohorts (-want +got):\n%s", diff)
	}
	if i, ok := tax.Index("auto"); !ok || i != 2 {
		t.Errorf("Index(auto) = %d, %v", i, ok)
	}
	if _, ok := tax.Index("nope"); ok {
		t.Error("Index(nope) found")
	}
}

func TestParseTaxonomyTSVAndColumnOrder(t *testing.T) {
	tax, _, err := ParseTaxonomy(strings.NewReader("name\tcohort_id\textra\nSports\tc1\tignored\nTravel\tc2\t\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []vault.CohortInfo{{ID: "c1", Name: "Sports"}, {ID: "c2", Name: "Travel"}}
	if diff := cmp.Diff(want, tax.Cohorts()); diff != "" {
		t.Errorf("cohorts (-want +got):\n%s", diff)
	}
}

func TestParseTaxonomyRowErrors(t *testing.T) {
	const head = "cohort_id,name,iab_id,standard\n"
	long := strings.Repeat("n", MaxCohortNameBytes+1)
	for _, tc := range []struct {
		name string
		body string
		want []RowError // Line and Reason only
	}{
		{"duplicate", "c1,A,,\nc2,B,,\nc1,C,,\n", []RowError{{Line: 4, Reason: ReasonDuplicateCohort}}},
		{"empty name", "c1,,,\nc2,  ,,\n", []RowError{{Line: 2, Reason: ReasonEmptyName}, {Line: 3, Reason: ReasonEmptyName}}},
		{"bad utf8", "c1,caf\xe9,,\n", []RowError{{Line: 2, Reason: ReasonBadUTF8}}},
		{"control in name", "c1,\"a\x01b\",,\n", []RowError{{Line: 2, Reason: ReasonBadName}}},
		{"long name", "c1," + long + ",,\n", []RowError{{Line: 2, Reason: ReasonBadName}}},
		{"bad id space", "c 1,A,,\n", []RowError{{Line: 2, Reason: ReasonBadCohortID}}},
		{"bad id non-ascii", "cé,A,,\n", []RowError{{Line: 2, Reason: ReasonBadCohortID}}},
		{"empty id", ",A,,\n", []RowError{{Line: 2, Reason: ReasonBadCohortID}}},
		{"long id", strings.Repeat("x", 129) + ",A,,\n", []RowError{{Line: 2, Reason: ReasonBadCohortID}}},
		{"iab not numeric", "c1,A,abc,\n", []RowError{{Line: 2, Reason: ReasonBadIABID}}},
		{"iab zero", "c1,A,0,\n", []RowError{{Line: 2, Reason: ReasonBadIABID}}},
		{"iab negative", "c1,A,-5,\n", []RowError{{Line: 2, Reason: ReasonBadIABID}}},
		{"standard bad", "c1,A,5,maybe\n", []RowError{{Line: 2, Reason: ReasonBadStandard}}},
		{"standard without iab", "c1,A,,true\n", []RowError{{Line: 2, Reason: ReasonMissingIABID}}},
		{"too many columns", "c1,A,,,extra\n", []RowError{{Line: 2, Reason: ReasonColumnCount}}},
		{"bad quoting", "c1,\"A,,\n", []RowError{{Line: 2, Reason: ReasonBadQuoting}}},
		{"several, after good rows", "c1,A,,\n\nc2,,,\nc3,C,,\nc3,D,,\n", []RowError{{Line: 4, Reason: ReasonEmptyName}, {Line: 6, Reason: ReasonDuplicateCohort}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tax, errs, err := ParseTaxonomy(strings.NewReader(head + tc.body))
			if err == nil || cleanroom.ErrorCode(err) != cleanroom.EINVALID {
				t.Fatalf("err = %v, want EINVALID", err)
			}
			if tax != nil {
				t.Error("a taxonomy with bad rows was returned")
			}
			var got []RowError
			for _, e := range errs {
				if e.Message == "" || e.Hint == "" {
					t.Errorf("error without message or hint: %+v", e)
				}
				got = append(got, RowError{Line: e.Line, Reason: e.Reason})
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseTaxonomyFileErrors(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"empty", ""},
		{"blank", "\n\n"},
		{"no name column", "cohort_id,label\nc1,A\n"},
		{"no id column", "id,name\nc1,A\n"},
		{"repeated column", "cohort_id,name,name\n"},
		{"empty column name", "cohort_id,,name\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tax, errs, err := ParseTaxonomy(strings.NewReader(tc.in))
			if err == nil || tax != nil || errs != nil {
				t.Fatalf("got %v, %v, %v; want an error only", tax, errs, err)
			}
		})
	}
	// A header alone is an empty taxonomy.
	tax, _, err := ParseTaxonomy(strings.NewReader("cohort_id,name\n"))
	if err != nil || tax.Len() != 0 {
		t.Errorf("header only: %v, %v", tax, err)
	}
}

func TestNewTaxonomy(t *testing.T) {
	if _, err := NewTaxonomy([]vault.CohortInfo{{ID: "a", Name: "A"}, {ID: "a", Name: "B"}}); err == nil {
		t.Error("duplicate IDs accepted")
	}
	if _, err := NewTaxonomy([]vault.CohortInfo{{ID: "a"}}); err == nil {
		t.Error("empty name accepted")
	}
	if _, err := NewTaxonomy([]vault.CohortInfo{{ID: "a", Name: "A", Standard: true}}); err == nil {
		t.Error("standard cohort without IAB ID accepted")
	}
	tax, err := NewTaxonomy([]vault.CohortInfo{{ID: "a", Name: "A"}, {ID: "b", Name: "B", IABID: 3, Standard: true}})
	if err != nil || tax.Len() != 2 {
		t.Fatal(tax, err)
	}
}
