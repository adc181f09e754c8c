// Command duckdb compares the clean room's matcher (match.Segments) with DuckDB running the
// equivalent SQL join, side by side on the same synthetic data (match/matchtest, seeded):
//
//	SELECT seg, COUNT(DISTINCT ord) FROM adv JOIN pub USING (fp_hi, fp_lo) GROUP BY seg
//
// It generates the advertiser and publisher versions in memory, times match.Segments on them
// (the per-segment counts are the result bitmaps' cardinalities), loads the same fingerprints
// into DuckDB tables with the Appender API (adv exploded to one row per (row, segment), pub
// one row per identifier), times the query, checks that both give the same count for every
// segment (exit status 1 otherwise), and prints a table. Each engine runs -runs times on warm
// data; only the match or the query is timed, never generation or loading.
//
// See README.md for the command and the figures.
package main

import (
	"bufio"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/duckdb/duckdb-go/v2"
	"github.com/klauspost/cpuid/v2"

	"github.com/cleanroom-oss/cleanroom/match"
	"github.com/cleanroom-oss/cleanroom/match/matchtest"
	"github.com/cleanroom-oss/cleanroom/vault"
)

func main() {
	advRows := flag.Int("adv", 1_000_000, "advertiser rows")
	pubRows := flag.Int("pub", 10_000_000, "publisher identifiers (users: half as many)")
	threads := flag.Int("threads", 2, "threads for DuckDB (SET threads) and workers for match.Segments")
	seed := flag.Uint64("seed", 1, "data seed")
	runs := flag.Int("runs", 2, "timed runs of each engine")
	flag.Parse()
	if err := run(*advRows, *pubRows, *threads, *seed, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "duckdb bench:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func run(advRows, pubRows, threads int, seed uint64, runs int) error {
	load0 := loadAvg()
	cfg := matchtest.Default(seed, advRows, pubRows)
	logf("generating %d advertiser rows, %d publisher identifiers (seed %d)", advRows, pubRows, seed)
	t := time.Now()
	adv, pub := matchtest.Generate(cfg)
	genTime := time.Since(t)
	pairs := len(adv.Segs)
	runtime.GC()
	debug.FreeOSMemory()

	// Ours.
	logf("match.Segments, %d workers, %d runs", threads, runs)
	resetPeakRSS()
	var ours []time.Duration
	var want []uint64
	for range runs {
		t := time.Now()
		res, err := match.Segments(adv, pub, match.Options{Workers: threads})
		if err != nil {
			return err
		}
		counts := make([]uint64, len(res.Matched))
		for s, b := range res.Matched {
			counts[s] = b.GetCardinality()
		}
		ours = append(ours, time.Since(t))
		want = counts
	}
	oursRSS := peakRSS()

	// DuckDB.
	ctx := context.Background()
	connector, err := duckdb.NewConnector("", nil)
	if err != nil {
		return err
	}
	defer connector.Close()
	db := sql.OpenDB(connector)
	defer db.Close()
	db.SetMaxOpenConns(1) // one connection: the SET and the tables are the query's
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	var version string
	if err := conn.QueryRowContext(ctx, "SELECT version()").Scan(&version); err != nil {
		return err
	}
	for _, q := range []string{
		"SET threads = " + strconv.Itoa(threads),
		"CREATE TABLE adv (fp_hi UBIGINT, fp_lo UBIGINT, seg INTEGER)",
		"CREATE TABLE pub (fp_hi UBIGINT, fp_lo UBIGINT, ord UINTEGER)",
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	logf("loading DuckDB %s: %d advertiser (row, segment) pairs, %d publisher identifiers", version, pairs, pub.Rows())
	t = time.Now()
	if err := loadTables(conn, adv, pub); err != nil {
		return err
	}
	loadTime := time.Since(t)
	nseg := len(adv.Segments)
	adv, pub = nil, nil // DuckDB holds its own copy now
	runtime.GC()
	debug.FreeOSMemory()

	logf("DuckDB query, %d threads, %d runs", threads, runs)
	resetPeakRSS()
	var theirs []time.Duration
	var got map[int]uint64
	for range runs {
		t := time.Now()
		got, err = query(ctx, conn)
		if err != nil {
			return err
		}
		theirs = append(theirs, time.Since(t))
	}
	duckRSS := peakRSS()

	// Same answer?
	var mismatches []string
	for s := range nseg {
		if got[s] != want[s] {
			mismatches = append(mismatches, fmt.Sprintf("segment %d: match %d, DuckDB %d", s, want[s], got[s]))
		}
	}
	for s := range got {
		if s < 0 || s >= nseg {
			mismatches = append(mismatches, fmt.Sprintf("DuckDB returned unknown segment %d", s))
		}
	}

	// Report.
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	fmt.Fprintf(w, "machine      %d cores (GOMAXPROCS %d), %s; load average %s at start, %s at end\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), cpuModel(), load0, loadAvg())
	fmt.Fprintf(w, "data         %d advertiser rows (%d row-segment pairs, %d segments), %d publisher identifiers, %d users; seed %d; generated in %.1f s\n",
		advRows, pairs, nseg, pubRows, cfg.Users, seed, genTime.Seconds())
	fmt.Fprintf(w, "DuckDB       %s, threads %d, tables loaded in %.1f s\n", version, threads, loadTime.Seconds())
	fmt.Fprintf(w, "\n%-28s", "")
	for i := range runs {
		fmt.Fprintf(w, "%12s", fmt.Sprintf("run %d", i+1))
	}
	fmt.Fprintf(w, "%16s\n", "peak RSS")
	row := func(name string, ds []time.Duration, rss string) {
		fmt.Fprintf(w, "%-28s", name)
		for _, d := range ds {
			fmt.Fprintf(w, "%12s", fmt.Sprintf("%.3f s", d.Seconds()))
		}
		fmt.Fprintf(w, "%16s\n", rss)
	}
	row(fmt.Sprintf("match.Segments (%d workers)", threads), ours, gib(oursRSS))
	row(fmt.Sprintf("DuckDB join (%d threads)", threads), theirs, gib(duckRSS))
	fmt.Fprintf(w, "%-28s", "ratio DuckDB / match")
	for i := range runs {
		fmt.Fprintf(w, "%12s", fmt.Sprintf("%.1fx", theirs[i].Seconds()/ours[i].Seconds()))
	}
	fmt.Fprintf(w, "%16s\n", fmt.Sprintf("best %.1fx", best(theirs).Seconds()/best(ours).Seconds()))
	fmt.Fprintln(w, "\npeak RSS is the process's (VmHWM, reset before each engine): match's includes the generated versions, DuckDB's its tables and the Go runtime's leftovers.")
	fmt.Fprintf(w, "\nsegment  distinct matched users\n")
	for s := range nseg {
		fmt.Fprintf(w, "%7d  %d\n", s, want[s])
	}
	if len(mismatches) > 0 {
		fmt.Fprintf(w, "\nMISMATCH between match.Segments and DuckDB:\n  %s\n", strings.Join(mismatches, "\n  "))
		w.Flush()
		return errors.New("the engines disagree")
	}
	fmt.Fprintf(w, "\nboth engines agree on all %d segments\n", nseg)
	return nil
}

// loadTables appends the advertiser's (fingerprint, segment) pairs and the publisher's
// (fingerprint, ordinal) rows to the adv and pub tables.
func loadTables(conn *sql.Conn, adv *vault.AdvertiserVersion, pub *vault.PublisherVersion) error {
	return conn.Raw(func(dc any) error {
		a, err := duckdb.NewAppenderFromConn(dc.(driver.Conn), "", "adv")
		if err != nil {
			return err
		}
		for r, fp := range adv.FPs {
			hi, lo := binary.BigEndian.Uint64(fp[:8]), binary.BigEndian.Uint64(fp[8:])
			for _, s := range adv.RowSegments(r) {
				if err := a.AppendRow(hi, lo, int32(s)); err != nil {
					return err
				}
			}
		}
		if err := a.Close(); err != nil {
			return err
		}
		p, err := duckdb.NewAppenderFromConn(dc.(driver.Conn), "", "pub")
		if err != nil {
			return err
		}
		for i, fp := range pub.FPs {
			if err := p.AppendRow(binary.BigEndian.Uint64(fp[:8]), binary.BigEndian.Uint64(fp[8:]), pub.Ords[i]); err != nil {
				return err
			}
			if i%20_000_000 == 0 && i > 0 {
				logf("  %d publisher rows", i)
			}
		}
		return p.Close()
	})
}

// query runs the join and returns the count per segment.
func query(ctx context.Context, conn *sql.Conn) (map[int]uint64, error) {
	rows, err := conn.QueryContext(ctx, "SELECT seg, COUNT(DISTINCT ord) FROM adv JOIN pub USING (fp_hi, fp_lo) GROUP BY seg")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int]uint64{}
	for rows.Next() {
		var seg int
		var n uint64
		if err := rows.Scan(&seg, &n); err != nil {
			return nil, err
		}
		out[seg] = n
	}
	return out, rows.Err()
}

func best(ds []time.Duration) time.Duration {
	b := ds[0]
	for _, d := range ds {
		b = min(b, d)
	}
	return b
}

func gib(b int64) string {
	if b <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30))
}

// resetPeakRSS resets the kernel's peak RSS mark (VmHWM) of this process, where Linux allows.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSS returns VmHWM in bytes, or 0 where /proc is missing.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// cpuModel returns /proc/cpuinfo's model name and, when it differs, the CPUID brand string
// (which Go's benchmarks print; a VM's model name can be vaguer).
func cpuModel() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if brand := strings.TrimSpace(cpuid.CPU.BrandName); brand != "" && brand != model {
		model += " (" + brand + ")"
	}
	return model
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "n/a"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "n/a"
	}
	return strings.Join(f[:3], " ")
}
