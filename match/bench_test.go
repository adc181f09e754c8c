package match_test

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/match"
	"github.com/cleanroom-oss/cleanroom/match/matchtest"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// benchSizes returns the benchmark's advertiser rows and publisher identifiers: 1M x 10M, or
// the design target 10M x 100M with CLEANROOM_BENCH_FULL=1 (about 2.5 GB of data and 15 s to
// generate); CLEANROOM_BENCH_MATCH_ADV and CLEANROOM_BENCH_MATCH_PUB set either (the sizes of
// docs/SCALE.md).
func benchSizes() (adv, pub int) {
	adv, pub = 1_000_000, 10_000_000
	if os.Getenv("CLEANROOM_BENCH_FULL") == "1" {
		adv, pub = 10_000_000, 100_000_000
	}
	if n, err := strconv.Atoi(os.Getenv("CLEANROOM_BENCH_MATCH_ADV")); err == nil && n > 0 {
		adv = n
	}
	if n, err := strconv.Atoi(os.Getenv("CLEANROOM_BENCH_MATCH_PUB")); err == nil && n > 0 {
		pub = n
	}
	return adv, pub
}

var benchData struct {
	once sync.Once
	adv  *vault.AdvertiserVersion
	pub  *vault.PublisherVersion
}

func benchVersions(b *testing.B) (*vault.AdvertiserVersion, *vault.PublisherVersion) {
	benchData.once.Do(func() {
		a, p := benchSizes()
		benchData.adv, benchData.pub = matchtest.Generate(matchtest.Default(1, a, p))
		runtime.GC()
		debug.FreeOSMemory()
	})
	return benchData.adv, benchData.pub
}

// BenchmarkSegments matches the synthetic advertiser against the synthetic publisher (see
// matchtest.Default: 12 segments, 40% of the advertiser's rows on the publisher side) on one
// and two workers. It reports advertiser rows and publisher identifiers per second, and the
// peak RSS of the process while matching (data included), from VmHWM after a reset.
//
//	go test ./match -run '^$' -bench Segments -benchmem
//	CLEANROOM_BENCH_FULL=1 go test ./match -run '^$' -bench Segments -benchmem -benchtime 5x -timeout 30m
func BenchmarkSegments(b *testing.B) {
	adv, pub := benchVersions(b)
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			runtime.GC()
			resetPeakRSS()
			var res *match.Result
			for b.Loop() {
				var err error
				if res, err = match.Segments(adv, pub, match.Options{Workers: workers}); err != nil {
					b.Fatal(err)
				}
			}
			sec := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(float64(adv.Rows())/sec/1e6, "Madv-rows/s")
			b.ReportMetric(float64(pub.Rows())/sec/1e6, "Mpub-ids/s")
			b.ReportMetric(float64(res.Any.GetCardinality()), "matched-users")
			if rss := peakRSS(); rss > 0 {
				b.ReportMetric(float64(rss)/(1<<20), "peak-RSS-MiB")
			}
		})
	}
}

// BenchmarkEvaluate evaluates a two-source query with a nested group and a geo-lock over the
// benchmark's match result.
func BenchmarkEvaluate(b *testing.B) {
	adv, pub := benchVersions(b)
	res, err := match.Segments(adv, pub, match.Options{})
	if err != nil {
		b.Fatal(err)
	}
	sources := map[string]*match.Result{"crm": res, "web": res}
	q := cleanroom.CohortQuery{Op: cleanroom.OpAll, Country: []string{"US", "DE"}, Conditions: []cleanroom.Condition{
		{DataSource: "crm", Segment: "s0"},
		{Op: cleanroom.OpAny, Conditions: []cleanroom.Condition{{DataSource: "web", Segment: "s1"}, {DataSource: "web", Segment: "s2"}}},
	}}
	for b.Loop() {
		if _, err := match.Evaluate(q, match.Resolver(sources, pub), pub); err != nil {
			b.Fatal(err)
		}
	}
}

// resetPeakRSS resets the kernel's peak RSS mark (VmHWM) of this process, where Linux allows.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSS returns VmHWM in bytes, or 0 where /proc is missing.
func peakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
