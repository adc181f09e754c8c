package lookalike_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom/lookalike"
)

// BenchmarkLookalike trains, scores every user and draws the curve on a synthetic audience of
// CLEANROOM_BENCH_USERS users (1M by default) with 500 custom cohorts; the seeds are a tenth of
// the users with one planted interest. Building the audience is outside the timer. Reported: the
// planted interest's share among the users selected at 5x the seeds' reach (precision@5x), its
// base rate among the non-seed users, the lift between them, the curve's own estimate of the
// precision there, the holdout AUC, the seconds of one training and of one Select at that cut.
//
//	CLEANROOM_BENCH_USERS=50000000 go test ./lookalike -run '^$' -bench Lookalike -benchtime 1x -timeout 30m
func BenchmarkLookalike(b *testing.B) {
	users := 1_000_000
	if s := os.Getenv("CLEANROOM_BENCH_USERS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 10_000 {
			b.Fatalf("CLEANROOM_BENCH_USERS=%q", s)
		}
		users = n
	}
	start := time.Now()
	a := buildAudience(b, users, 500)
	b.Logf("built %d users x 500 cohorts in %s", users, time.Since(start).Round(time.Millisecond))
	seeds := a.seedsOf(5, 10)
	var res *lookalike.Result
	var phases []string
	b.ResetTimer()
	for range b.N {
		phases = phases[:0]
		t0, last := time.Now(), time.Now()
		opt := lookalike.Options{Country: true, Seed: 1, Progress: func(done float64) {
			phases = append(phases, fmt.Sprintf("%.2f +%s", done, time.Since(last).Round(time.Millisecond)))
			last = time.Now()
		}}
		var err error
		if res, err = lookalike.Train(context.Background(), a.pub, seeds, opt); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(t0).Seconds(), "train-s")
	}
	b.StopTimer()
	b.Logf("progress reports (done +time since the previous): %s", strings.Join(phases, ", "))
	t0 := time.Now()
	prec, base := quality(b, a, res, seeds, 5)
	b.Logf("%s; precision at 5x seed reach %.3f, base rate %.3f; select and check %s", res, prec, base, time.Since(t0).Round(time.Millisecond))
	est := 0.0
	for _, p := range res.Curve { // the curve's estimate at the last point within 5x the seeds
		if p.Reach <= 5*res.Seeds {
			est = p.Precision
		}
	}
	b.ReportMetric(prec, "precision@5x")
	b.ReportMetric(base, "base-rate")
	b.ReportMetric(prec/base, "lift@5x")
	b.ReportMetric(est, "est-precision@5x")
	b.ReportMetric(res.AUC, "auc")
}
