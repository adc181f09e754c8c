package lookalike_test

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
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
	var size uint64
	for _, m := range a.pub.Members {
		size += m.GetSizeInBytes()
	}
	b.Logf("built %d users x 500 cohorts in %s: cohort bitmaps %d MB, countries %d MB", users,
		time.Since(start).Round(time.Millisecond), size>>20, len(a.pub.Country)*2>>20)
	seeds := a.seedsOf(5, 10)
	debug.FreeOSMemory() // drop the building's garbage, so that the peak below is the training's
	peakBefore := resetPeakRSS()
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
	if peak := peakRSS(); peak > 0 {
		b.Logf("peak RSS during training %d MB (%d MB resident before)", peak>>20, peakBefore>>20)
		b.ReportMetric(float64(peak>>20), "train-peak-MB")
	}
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

// resetPeakRSS resets the process's peak resident set size (VmHWM) to the current one and
// returns it, on Linux; 0 elsewhere.
func resetPeakRSS() uint64 {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		return 0
	}
	return procStatus("VmRSS:")
}

// peakRSS returns the process's peak resident set size since the last reset, on Linux; 0 elsewhere.
func peakRSS() uint64 { return procStatus("VmHWM:") }

// procStatus returns a size field of /proc/self/status in bytes, or 0.
func procStatus(field string) uint64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(raw)) {
		if rest, ok := strings.CutPrefix(line, field); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}
