package disclosure_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/cleanroom-oss/cleanroom/disclosure"
	"github.com/cleanroom-oss/cleanroom/privacy"
)

// BenchmarkRelease measures one count released through the gate on SQLite: a new question
// (settings read, budget charged in a write transaction, noise drawn) and a repeated one
// (settings read, the ledger looked up, no write).
func BenchmarkRelease(b *testing.B) {
	ctx := context.Background()
	for _, c := range []struct {
		name string
		q    func(i int) disclosure.Question
	}{
		{"new", func(i int) disclosure.Question { return q("estimate", "v"+strconv.Itoa(i)) }},
		{"repeat", func(int) disclosure.Question { return q("estimate", "v") }},
	} {
		b.Run(c.name, func(b *testing.B) {
			w := newWorld(b, disclosure.Deployment{Budget: 1_000_000 * privacy.EpsilonUnit})
			i := 0
			for b.Loop() {
				if _, err := w.gate.Release(ctx, w.adv, w.conn, c.q(i), 12345); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
