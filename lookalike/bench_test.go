package lookalike_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom/lookalike"
)

// BenchmarkLookalike trains, scores every user and draws the curve on a synthetic audience of
// CLEANROOM_BENCH_USERS users (1M by default) with 500 custom cohorts; the seeds are a tenth of
// the users with one planted interest. Building the audience is outside the timer. Reported: the
// planted interest's share among the users selected at 5x the seeds' reach, its base rate, and
// the lift between them.
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
	b.ResetTimer()
	var res *lookalike.Result
	for range b.N {
		var err error
		res, err = lookalike.Train(context.Background(), a.pub, seeds, lookalike.Options{Country: true, Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	prec, base := quality(b, a, res, seeds, 5)
	b.Logf("%s; precision at 5x seed reach %.3f, base rate %.3f", res, prec, base)
	b.ReportMetric(prec, "precision@5x")
	b.ReportMetric(base, "base-rate")
	b.ReportMetric(prec/base, "lift@5x")
	b.ReportMetric(res.AUC, "auc")
}
