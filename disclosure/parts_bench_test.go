package disclosure_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/cleanroom-oss/cleanroom/disclosure"
	"github.com/cleanroom-oss/cleanroom/privacy"
)

// BenchmarkReleaseParts measures an insights report's cohort question through the gate on
// SQLite: 500 overlaps and a table of 5 countries (a new question each time: charged).
func BenchmarkReleaseParts(b *testing.B) {
	ctx := context.Background()
	parts := []disclosure.Part{{Label: "country/cohort", Cells: []int64{2e6, 2e6, 2e6, 2e6, 2e6}, Table: true}}
	for k := range 500 {
		parts = append(parts, disclosure.Part{Label: "overlap/c" + strconv.Itoa(k), Cells: []int64{int64(1000 * (k + 1))}})
	}
	w := newWorld(b, disclosure.Deployment{Budget: 1_000_000 * privacy.EpsilonUnit})
	i := 0
	for b.Loop() {
		if _, _, err := w.gate.ReleaseParts(ctx, w.adv, w.conn, q("insights/cohort", "v"+strconv.Itoa(i)), parts); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
