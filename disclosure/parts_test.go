package disclosure_test

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/disclosure"
	"github.com/cleanroom-oss/cleanroom/privacy"
)

// TestReleaseParts: several counts and tables are one question, charged once; the same question
// again is free and identical; a part keeps its noise whichever other parts come with it; over
// budget it is refused; two parts with one label are an error; without noise the counts are exact
// from k up and a table's lone hidden cell is covered by another.
func TestReleaseParts(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, disclosure.Deployment{Budget: privacy.EpsilonUnit})
	parts := []disclosure.Part{{Label: "size", Cells: []int64{750}}, {Label: "country", Cells: []int64{375, 300, 75}, Table: true}}
	qq := q("insights/cohort", "v1")
	a, got, err := w.gate.ReleaseParts(ctx, w.adv, w.conn, qq, parts)
	if err != nil || len(got) != 2 || len(got[1].Cells) != 3 {
		t.Fatalf("release: %v %v", got, err)
	}
	if a.Budget.Spent != privacy.EpsilonUnit/2 {
		t.Errorf("spent %s, want one question (0.5)", a.Budget.Spent)
	}
	a2, again, err := w.gate.ReleaseParts(ctx, w.adv, w.conn, qq, parts)
	if err != nil || a2.Budget.Spent != a.Budget.Spent || fmt.Sprint(again) != fmt.Sprint(got) {
		t.Errorf("again: %v %v, spent %s", again, err, a2.Budget.Spent)
	}
	// One question with fewer parts: the remaining part's noise is unchanged. (A new question:
	// its sensitivity differs from the first one's, 3.)
	fixed := qq
	fixed.Sensitivity = 4
	_, both, err := w.gate.ReleaseParts(ctx, w.adv, w.conn, fixed, parts)
	if err != nil {
		t.Fatal(err)
	}
	_, one, err := w.gate.ReleaseParts(ctx, w.adv, w.conn, fixed, parts[1:])
	if err != nil || fmt.Sprint(one[0]) != fmt.Sprint(both[1]) {
		t.Errorf("a part's noise moved with the other parts: %v %v %v", one, both, err)
	}
	// The budget (1) is spent: a new question is refused, saying when the budget returns.
	_, _, err = w.gate.ReleaseParts(ctx, w.adv, w.conn, q("insights/cohort", "v2"), parts)
	if cleanroom.ErrorCode(err) != cleanroom.EFORBIDDEN || cleanroom.ErrorDetails(err)["budget_returns_at"] == nil {
		t.Errorf("over budget: %v", err)
	}
	if _, _, err := w.gate.ReleaseParts(ctx, w.adv, w.conn, qq, append(parts, parts[0])); err == nil {
		t.Errorf("two parts labelled alike released")
	}
	if _, _, err := w.gate.ReleaseParts(ctx, cleanroom.NewCaller("01900000-0000-7000-8000-000000000009", cleanroom.RoleAdmin), w.conn, qq, parts); cleanroom.ErrorCode(err) != cleanroom.ENOTFOUND {
		t.Errorf("another org: %v", err)
	}

	exact := newWorld(t, disclosure.Deployment{Mechanism: privacy.NoNoise})
	_, got, err = exact.gate.ReleaseParts(ctx, exact.adv, exact.conn, qq, parts)
	if err != nil {
		t.Fatal(err)
	}
	c := got[1].Cells
	// 75 is below k; 300, the smallest other cell, is hidden with it so 75 is not the total
	// minus the cells shown.
	if got[0].Count().Value != 750 || c[0].Value != 375 || !c[1].Suppressed || !c[2].Suppressed || got[1].Total.Value != 750 {
		t.Errorf("without noise: %+v", got)
	}
}

// TestReleasePartsSplitsEpsilon: the question's ε is split over its sensitivity, by default one
// for each count and two for each table: 200 counts released as one question carry about 200
// times the noise of a question of sensitivity 1.
func TestReleasePartsSplitsEpsilon(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, disclosure.Deployment{K: 1, Budget: 10 * privacy.EpsilonUnit})
	var parts []disclosure.Part
	for i := range 200 {
		parts = append(parts, disclosure.Part{Label: fmt.Sprint(i), Cells: []int64{100_000}})
	}
	spread := func(q disclosure.Question) float64 {
		_, got, err := w.gate.ReleaseParts(ctx, w.adv, w.conn, q, parts)
		if err != nil {
			t.Fatal(err)
		}
		var s float64
		for _, r := range got {
			s += math.Abs(float64(r.Count().Value - 100_000))
		}
		return s / float64(len(got))
	}
	one := q("split", "v1")
	one.Sensitivity = 1
	all := q("split", "v2") // sensitivity 0: PartsSensitivity, 200
	lo, hi := spread(one), spread(all)
	// Laplace at ε 0.5 has a mean absolute deviation of about 2; at ε 0.0025, about 400.
	if lo > 10 || hi < 100 {
		t.Errorf("mean absolute noise %.1f at sensitivity 1 and %.1f at 200, want about 2 and 400", lo, hi)
	}
	if n := disclosure.PartsSensitivity(parts[:3]) + disclosure.PartsSensitivity([]disclosure.Part{{Table: true}}); n != 5 {
		t.Errorf("PartsSensitivity: %d, want 5", n)
	}
}
