package pubsync

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom/benchenv"
	"github.com/cleanroom-oss/cleanroom/localblob"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// benchTaxonomy returns the genCohorts cohorts c0, c1, ... the generator draws from.
func benchTaxonomy(tb testing.TB) *Taxonomy {
	cs := make([]vault.CohortInfo, genCohorts)
	for i := range cs {
		cs[i] = vault.CohortInfo{ID: "c" + strconv.Itoa(i), Name: "Cohort " + strconv.Itoa(i)}
		if i%10 == 0 {
			cs[i].Standard, cs[i].IABID = true, 100+i
		}
	}
	t, err := NewTaxonomy(cs)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

func randomKey() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

// peakRSS returns the process's peak resident set size in bytes (VmHWM), or 0.
func peakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// BenchmarkSync measures a publisher sync end to end: a synthetic profile file generated on the
// fly (1M users by default, CLEANROOM_BENCH_USERS to change), parsed, fingerprinted, sorted and
// written encrypted to a local blob directory.
func BenchmarkSync(b *testing.B) {
	users := 1_000_000
	if s := os.Getenv("CLEANROOM_BENCH_USERS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			b.Fatalf("CLEANROOM_BENCH_USERS=%q", s)
		}
		users = n
	}
	ctx := context.Background()
	tax := benchTaxonomy(b)
	opt := Options{FingerprintKey: randomKey(), UserKey: randomKey()}
	dir := b.TempDir()
	if d := os.Getenv("CLEANROOM_BENCH_DIR"); d != "" {
		dir = d
	}
	blobs, err := localblob.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	dataKey := randomKey()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		cpu0 := benchenv.CPUTime()
		start := time.Now()
		in := newGenReader(users, uint64(i)+1)
		var phases []string
		last, lastPhase := start, "parse"
		opt.Progress = func(p Progress) {
			if p.Phase != lastPhase {
				now := time.Now()
				phases = append(phases, fmt.Sprintf("%s %v", lastPhase, now.Sub(last).Round(time.Millisecond)))
				last, lastPhase = now, p.Phase
			}
		}
		v, rep, err := Sync(ctx, in, tax, opt)
		if err != nil {
			b.Fatal(err)
		}
		synced := time.Since(start)
		n, err := v.Write(ctx, blobs, "publisher/v"+strconv.Itoa(i), dataKey)
		if err != nil {
			b.Fatal(err)
		}
		total := time.Since(start)
		cpu := benchenv.CPUTime() - cpu0
		ids := float64(v.Rows())
		b.ReportMetric(total.Seconds(), "s/sync")
		b.ReportMetric(float64(users)/total.Seconds(), "users/s")
		b.ReportMetric(ids/total.Seconds(), "ids/s")
		b.ReportMetric(float64(n)/ids, "stored-B/id")
		b.ReportMetric(float64(peakRSS())/(1<<20), "peak-RSS-MiB")
		b.Logf("users=%d identifiers=%d input=%.2f GB sync=%v write=%v total=%v cpu=%v stored=%d B (%.2f B/id; index %.0f B/id) peakRSS=%d MiB GOMAXPROCS=%d",
			v.Users, v.Rows(), float64(rep.Bytes)/1e9, synced.Round(time.Millisecond), (total - synced).Round(time.Millisecond),
			total.Round(time.Millisecond), cpu.Round(time.Millisecond), n, float64(n)/ids,
			float64(16*len(v.FPs)+4*len(v.Ords))/ids, peakRSS()>>20, runtime.GOMAXPROCS(0))
		b.Logf("phases: %s, write %v", strings.Join(phases, ", "), (total - synced).Round(time.Millisecond))
		b.Logf("report: %v; tags %v; identifiers %v; rejected %v", rep, rep.Tags, rep.Identifiers, rep.Rejected)
		blobs.Delete(ctx, "publisher/v"+strconv.Itoa(i))
	}
}

// BenchmarkGenerator measures the synthetic input alone, to subtract from BenchmarkSync.
func BenchmarkGenerator(b *testing.B) {
	users := 1_000_000
	if s := os.Getenv("CLEANROOM_BENCH_USERS"); s != "" {
		users, _ = strconv.Atoi(s)
	}
	buf := make([]byte, 8<<20)
	for b.Loop() {
		in := newGenReader(users, 1)
		total := 0
		start := time.Now()
		for {
			n, err := in.Read(buf)
			total += n
			if err != nil {
				break
			}
		}
		b.SetBytes(int64(total))
		b.ReportMetric(float64(users)/time.Since(start).Seconds(), "users/s")
	}
}

// BenchmarkApplyErase measures the streaming updates on a version of CLEANROOM_BENCH_USERS users
// (1M by default): a batch of 10,000 identify events (half of them new users) and 10,000
// membership updates, then the erasure of 1,000 users.
func BenchmarkApplyErase(b *testing.B) {
	users := 1_000_000
	if s := os.Getenv("CLEANROOM_BENCH_USERS"); s != "" {
		users, _ = strconv.Atoi(s)
	}
	opt := Options{FingerprintKey: randomKey(), UserKey: randomKey()}
	base, _, err := Sync(context.Background(), newGenReader(users, 1), benchTaxonomy(b), opt)
	if err != nil {
		b.Fatal(err)
	}
	var batch Batch
	for i := range 10_000 {
		id := "u" + strconv.Itoa(i*(users/10_000))
		if i%2 == 1 {
			id = "new-" + strconv.Itoa(i)
		}
		batch.Identify = append(batch.Identify, IdentifyEvent{UserID: id, Country: "DE",
			Identifiers: []Identifier{{"maid", fmt.Sprintf("%08x-aaaa-4bbb-8ccc-%012x", i, i)}}})
		batch.Memberships = append(batch.Memberships, MembershipUpdate{UserID: id, CohortID: "c" + strconv.Itoa(i%genCohorts), Op: OpAdd})
	}
	erase := make([]string, 1000)
	for i := range erase {
		erase[i] = "u" + strconv.Itoa(i*(users/1000)+1)
	}
	for b.Loop() {
		start := time.Now()
		v, _, err := Apply(base, batch, opt)
		if err != nil {
			b.Fatal(err)
		}
		applied := time.Since(start)
		start = time.Now()
		_, n, err := Erase(v, erase, opt)
		if err != nil || n != 1000 {
			b.Fatal(n, err)
		}
		b.ReportMetric(applied.Seconds(), "s/apply")
		b.ReportMetric(time.Since(start).Seconds(), "s/erase")
	}
}
