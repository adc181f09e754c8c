package main

// The client-side tools: gen (synthetic data for tests and benchmarks) and prepare (hash a raw
// customer list locally into an upload file).

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/identity"
	"github.com/cleanroom-oss/cleanroom/prepare"
	"github.com/cleanroom-oss/cleanroom/synth"
)

// genCommand groups the synthetic data generators.
func (c *cli) genCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "gen",
		Short: "Generate synthetic publisher and advertiser data for tests and benchmarks",
		Long: `Generate deterministic synthetic data with planted ground truth, at any scale: a publisher's
profile file and taxonomy (gen publisher), and an advertiser's data file, taxonomy, ground truth and
raw PII overlapping it (gen advertiser). The same flags always give byte-identical files. The
formats are described in docs/FORMATS.md.`,
	}
	cmd.AddCommand(c.genPublisherCommand(), c.genAdvertiserCommand())
	return cmd
}

func (c *cli) genPublisherCommand() *cobra.Command {
	var (
		cfg     synth.UniverseConfig
		out     string
		gz      bool
		workers int
		engaged bool
	)
	cmd := &cobra.Command{
		Use:   "publisher --users N --out DIR",
		Short: "Write a publisher profile file (profiles.tsv) and taxonomy (taxonomy.csv)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := synth.NewUniverse(cfg)
			if err != nil {
				return flagError(err, "Check the flag values.")
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			start := time.Now()
			s := &genSummary{}
			var rows int64
			name := withGzip("profiles.tsv", gz)
			p := c.newToolProgress(int64(cfg.Users), "profiles", false)
			if err := s.write(out, name, func(w io.Writer) (int64, error) {
				n, err := u.WriteProfiles(w, synth.WriteOptions{Gzip: gz, Workers: workers, Progress: p.set, Engagement: engaged})
				rows = n
				return n, err
			}); err != nil {
				return err
			}
			p.done(rows, "users")
			if err := s.write(out, "taxonomy.csv", func(w io.Writer) (int64, error) {
				return int64(cfg.Cohorts), u.WriteTaxonomy(w)
			}); err != nil {
				return err
			}
			s.print(c.stdout, rows, "users", time.Since(start))
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Users, "users", 100_000, "number of publisher users")
	f.Uint64Var(&cfg.Seed, "seed", 1, "random seed: what the publisher knows about its users")
	f.IntVar(&cfg.Cohorts, "cohorts", synth.DefaultCohorts, "number of publisher custom cohorts")
	f.IntVar(&cfg.Interests, "interests", synth.DefaultInterests, "number of hidden interests")
	f.StringVar(&out, "out", "", "output directory (created if missing)")
	f.BoolVar(&gz, "gzip", false, "gzip the profile file (profiles.tsv.gz)")
	f.IntVar(&workers, "workers", 0, "generating goroutines (default: one per CPU)")
	f.BoolVar(&engaged, "engagement", false, "add engagement attributes (number:page_views_30d, list:iab_categories) for advanced insights")
	cmd.MarkFlagRequired("out")
	return cmd
}

func (c *cli) genAdvertiserCommand() *cobra.Command {
	var (
		ucfg    synth.UniverseConfig
		acfg    synth.AdvertiserConfig
		pubSeed uint64
		tags    []string
		out     string
		gz, pii bool
		workers int
	)
	cmd := &cobra.Command{
		Use:   "advertiser --rows N --publisher-users N --out DIR",
		Short: "Write an advertiser data file, taxonomy, ground truth and optionally raw PII",
		Long: `Write an advertiser's data file (data.tsv), segment taxonomy (taxonomy.csv) and ground truth
(truth.json), and with --pii the same persons' unhashed identifiers (raw.csv) for trying
cleanroom prepare. A share --overlap of the advertiser's persons are users of the publisher made by
gen publisher with the same --publisher-users and --publisher-seed (default: --seed).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("publisher-seed") {
				pubSeed = acfg.Seed
			}
			ucfg.Seed = pubSeed
			acfg.Tags = nil
			for _, t := range tags {
				tag, err := identity.ParseTag(nil, t)
				if err != nil {
					return flagError(err, "Pass --tags as a comma-separated list such as email_sha256,phone_sha256,maid.")
				}
				acfg.Tags = append(acfg.Tags, tag)
			}
			u, err := synth.NewUniverse(ucfg)
			if err != nil {
				return flagError(err, "Check the flag values.")
			}
			a, err := synth.NewAdvertiser(u, acfg)
			if err != nil {
				return flagError(err, "Check the flag values.")
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			start := time.Now()
			s := &genSummary{}
			var stats synth.DataStats
			p := c.newToolProgress(int64(acfg.Rows), "data", false)
			if err := s.write(out, withGzip("data.tsv", gz), func(w io.Writer) (int64, error) {
				st, err := a.WriteData(w, synth.WriteOptions{Gzip: gz, Workers: workers, Progress: p.set})
				stats = st
				return st.Rows, err
			}); err != nil {
				return err
			}
			p.done(stats.Rows, "rows")
			if err := s.write(out, "taxonomy.csv", func(w io.Writer) (int64, error) {
				return int64(len(a.Segments())), a.WriteTaxonomy(w)
			}); err != nil {
				return err
			}
			if err := s.write(out, "truth.json", func(w io.Writer) (int64, error) {
				return 0, a.WriteTruth(w, &stats)
			}); err != nil {
				return err
			}
			if pii {
				p := c.newToolProgress(int64(a.Persons()), "raw PII", false)
				var n int64
				if err := s.write(out, withGzip("raw.csv", gz), func(w io.Writer) (int64, error) {
					var err error
					n, err = a.WritePII(w, synth.WriteOptions{Gzip: gz, Workers: workers, Progress: p.set})
					return n, err
				}); err != nil {
					return err
				}
				p.done(n, "persons")
			}
			s.print(c.stdout, stats.Rows, "rows", time.Since(start))
			fmt.Fprintf(c.stdout, "persons %d, publisher users among them %d, matchable %d, rows with mistakes %d\n",
				stats.Persons, stats.PersonsInUniverse, stats.MatchablePersons, stats.Rows-stats.RowsByMistake["none"])
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&acfg.Rows, "rows", 100_000, "number of data file rows (one identifier each)")
	f.Float64Var(&acfg.Overlap, "overlap", 0.3, "share of the advertiser's persons who are publisher users")
	f.IntVar(&ucfg.Users, "publisher-users", 100_000, "number of publisher users (as given to gen publisher)")
	f.Uint64Var(&acfg.Seed, "seed", 1, "random seed of the advertiser")
	f.Uint64Var(&pubSeed, "publisher-seed", 0, "seed given to gen publisher (default: the value of --seed)")
	f.IntVar(&ucfg.Interests, "interests", synth.DefaultInterests, "number of hidden interests (as given to gen publisher)")
	f.Float64Var(&acfg.Mistakes, "mistakes", 0, "share of rows with a realistic mistake (raw email, MD5, bad tag, ...)")
	f.IntVar(&acfg.Segments, "segments", synth.DefaultSegments, "number of interest segments (plus the all customers segment)")
	f.StringSliceVar(&tags, "tags", []string{"email_sha256", "phone_sha256", "maid"}, "identifier types the advertiser holds")
	f.StringVar(&out, "out", "", "output directory (created if missing)")
	f.BoolVar(&gz, "gzip", false, "gzip the data file (data.tsv.gz) and raw PII (raw.csv.gz)")
	f.BoolVar(&pii, "pii", false, "also write the persons' raw identifiers to raw.csv")
	f.IntVar(&workers, "workers", 0, "generating goroutines (default: one per CPU)")
	cmd.MarkFlagRequired("out")
	return cmd
}

func (c *cli) prepareCommand() *cobra.Command {
	var (
		opts             prepare.Options
		in, out, rejects string
		delimiter        string
		gz               bool
	)
	cmd := &cobra.Command{
		Use:   "prepare --in FILE.csv --out upload.tsv",
		Short: "Hash a raw customer list locally into an upload file",
		Long: `Read a CSV export of customers (header row; comma, semicolon or tab delimited; UTF-8) and write
the upload file: every email address and phone number normalised and SHA-256 hashed, mobile
advertising IDs and IP addresses normalised, one row per identifier with its segments. Everything
happens on this machine: raw personal data never leaves it, and the rejects file and the summary
name lines, columns and reasons, never values.

Columns are found by their usual names (email, phone, maid, ip, segments and common variants);
name them with the --*-col flags otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case in == "":
				return cleanroom.Errorf(cleanroom.EINVALID, "no input file").Hint("Pass --in FILE.csv (or --in - for standard input).")
			case out == "":
				return cleanroom.Errorf(cleanroom.EINVALID, "no output file").Hint("Pass --out upload.tsv (or --out - for standard output).")
			case in != "-" && (samePath(in, out) || samePath(in, rejects)):
				return cleanroom.Errorf(cleanroom.EINVALID, "the output would overwrite the input %s", in).Hint("Choose other --out and --rejects paths.")
			}
			d, err := parseDelimiter(delimiter)
			if err != nil {
				return err
			}
			opts.Delimiter = d

			var input io.Reader = c.stdin
			var size int64 = -1
			if in != "-" {
				f, err := os.Open(in)
				if err != nil {
					return cleanroom.Errorf(cleanroom.EINVALID, "cannot open the input: %v", err).Hint("Check the --in path.")
				}
				defer f.Close()
				if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
					size = fi.Size()
				}
				input = f
			}
			counter := &byteCounter{r: input}
			p := c.newToolProgress(size, "prepare", true)
			opts.Progress = func(int64) { p.set(counter.n.Load()) }

			summaryTo := c.stdout
			var output io.Writer = c.stdout
			var commit []func() error
			var cleanup []func()
			defer func() {
				for _, f := range cleanup {
					f()
				}
			}()
			if out == "-" {
				summaryTo = c.stderr
			} else {
				// Hashed identifiers are still personal data: readable by the owner only.
				f, err := createAtomic(out, 0o600)
				if err != nil {
					return err
				}
				cleanup = append(cleanup, f.discard)
				commit = append(commit, f.commit)
				output = f
			}
			if gz {
				// Hex digests barely compress beyond what Huffman coding gives; the fastest level
				// keeps prepare disk-bound rather than compression-bound.
				zw, _ := gzip.NewWriterLevel(output, gzip.BestSpeed)
				commit = append([]func() error{zw.Close}, commit...)
				output = zw
			}
			var rejectsW io.Writer
			if rejects != "" {
				f, err := createAtomic(rejects, 0o600)
				if err != nil {
					return err
				}
				cleanup = append(cleanup, f.discard)
				commit = append(commit, f.commit)
				rejectsW = f
			}
			start := time.Now()
			sum, err := prepare.Run(counter, output, rejectsW, opts)
			if err != nil {
				return err
			}
			for _, f := range commit {
				if err := f(); err != nil {
					return err
				}
			}
			p.done(sum.Rows, "rows")
			printPrepareSummary(summaryTo, sum, out, rejects, time.Since(start))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&in, "in", "", "raw CSV file (- for standard input; gzip is detected)")
	f.StringVar(&out, "out", "", "upload file to write (- for standard output)")
	f.StringVar(&opts.EmailColumn, "email-col", "", "column of email addresses (default: a column named email, e-mail, email_address, ...)")
	f.StringVar(&opts.PhoneColumn, "phone-col", "", "column of phone numbers (default: phone, mobile, telephone, ...)")
	f.StringVar(&opts.MAIDColumn, "maid-col", "", "column of mobile advertising IDs (default: maid, idfa, gaid, aaid, ...)")
	f.StringVar(&opts.IPColumn, "ip-col", "", "column of IP addresses (default: ip, ip_address, ...)")
	f.StringVar(&opts.SegmentsColumn, "segments-col", "", "column of segment IDs (default: segments, segment, audiences, ...)")
	f.StringVar(&opts.SegmentsSeparator, "segments-sep", ";", "separator of segment IDs within the segments column")
	f.StringSliceVar(&opts.Segments, "segment", nil, "segment ID added to every row (repeatable)")
	f.StringVar(&delimiter, "delimiter", "", `field delimiter: ",", ";", "tab" or "|" (default: detected from the header)`)
	f.StringVar(&opts.DefaultCountryCode, "default-country-code", "", "calling code of phone numbers written without one, such as 44 or 1")
	f.BoolVar(&opts.FoldGmail, "fold-gmail", false, "remove dots and +suffixes of gmail.com addresses before hashing (only if the destination asks for it)")
	f.StringVar(&rejects, "rejects", "", "write rejected values' line, column, reason and hint (never the value) to this CSV")
	f.BoolVar(&gz, "gzip", false, "gzip the upload file")
	return cmd
}

// flagError classifies err (a bad flag value found by a library) as invalid input with a hint.
func flagError(err error, hint string) error {
	msg := strings.TrimPrefix(err.Error(), "synth: ")
	if ve, ok := errors.AsType[*identity.ValueError](err); ok && ve.Hint != "" {
		hint = ve.Hint
	}
	return cleanroom.Errorf(cleanroom.EINVALID, "%s", msg).Hint("%s", hint)
}

// parseDelimiter reads the --delimiter flag.
func parseDelimiter(s string) (rune, error) {
	switch strings.ToLower(s) {
	case "":
		return 0, nil
	case ",", "comma":
		return ',', nil
	case ";", "semicolon":
		return ';', nil
	case "tab", `\t`, "\t":
		return '\t', nil
	case "|", "pipe":
		return '|', nil
	}
	return 0, cleanroom.Errorf(cleanroom.EINVALID, "unsupported delimiter %q", s).Hint(`Pass --delimiter ",", ";", "tab" or "|".`)
}

// samePath reports whether paths a and b name the same existing file.
func samePath(a, b string) bool {
	if a == "" || b == "" || b == "-" {
		return false
	}
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

// byteCounter counts the bytes read through it, for the progress bar.
type byteCounter struct {
	r io.Reader
	n atomic.Int64
}

func (c *byteCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// atomicFile is a file written under a temporary name and renamed into place on commit, so an
// interrupted run never leaves a complete-looking partial file.
type atomicFile struct {
	*os.File
	path      string
	committed bool
}

// createAtomic starts the file path with the given permissions.
func createAtomic(path string, perm os.FileMode) (*atomicFile, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err == nil {
		if err = f.Chmod(perm); err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}
	if err != nil {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "cannot create %s: %v", path, err).Hint("Check that the directory exists and is writable.")
	}
	return &atomicFile{File: f, path: path}, nil
}

func (t *atomicFile) commit() error {
	if err := t.Close(); err != nil {
		return err
	}
	if err := os.Rename(t.Name(), t.path); err != nil {
		return err
	}
	t.committed = true
	return nil
}

func (t *atomicFile) discard() {
	if !t.committed {
		t.Close()
		os.Remove(t.Name())
	}
}

// withGzip adds .gz to name when gz is set.
func withGzip(name string, gz bool) string {
	if gz {
		return name + ".gz"
	}
	return name
}

// genSummary collects the files a gen command wrote.
type genSummary struct {
	files []genFile
}

type genFile struct {
	path string
	rows int64
	size int64
}

// write creates dir/name through a temporary file, fills it with fill (which returns its row
// count) and records it.
func (s *genSummary) write(dir, name string, fill func(io.Writer) (int64, error)) error {
	path := filepath.Join(dir, name)
	f, err := createAtomic(path, 0o644)
	if err != nil {
		return err
	}
	defer f.discard()
	rows, err := fill(f)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.commit(); err != nil {
		return err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	s.files = append(s.files, genFile{path, rows, fi.Size()})
	return nil
}

// print writes the summary: one line per file, then the total rate.
func (s *genSummary) print(w io.Writer, rows int64, unit string, elapsed time.Duration) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for _, f := range s.files {
		rowText := ""
		if f.rows > 0 {
			rowText = fmt.Sprintf("%d rows", f.rows)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", f.path, rowText, humanBytes(f.size))
	}
	tw.Flush()
	fmt.Fprintf(w, "%d %s in %s (%s %s/s)\n", rows, unit, elapsed.Round(time.Millisecond), humanCount(float64(rows)/elapsed.Seconds()), unit)
}

// printPrepareSummary writes what prepare did. It shows counts, column names and reasons only.
func printPrepareSummary(w io.Writer, s *prepare.Summary, out, rejects string, elapsed time.Duration) {
	var cols []string
	for _, k := range []string{"email", "phone", "maid", "ip", "segments"} {
		if h, ok := s.Columns[k]; ok {
			cols = append(cols, fmt.Sprintf("%s=%q", k, h))
		}
	}
	fmt.Fprintf(w, "read %d rows (delimiter %q; columns %s) in %s\n", s.Rows, s.Delimiter, strings.Join(cols, " "), elapsed.Round(time.Millisecond))
	var total int64
	for _, n := range s.Written {
		total += n
	}
	fmt.Fprintf(w, "wrote %d identifiers from %d rows to %s\n", total, s.RowsWritten, out)
	for _, tag := range (*identity.Registry)(nil).Tags() {
		if n := s.Written[tag]; n > 0 {
			fmt.Fprintf(w, "  %-14s %d\n", tag, n)
		}
	}
	var rejected int64
	reasons := make([]string, 0, len(s.Rejected))
	for r, n := range s.Rejected {
		rejected += n
		reasons = append(reasons, r)
	}
	slices.Sort(reasons)
	if rejected == 0 {
		fmt.Fprintln(w, "rejected nothing")
		return
	}
	where := ""
	if rejects != "" {
		where = " (lines and hints in " + rejects + ")"
	}
	fmt.Fprintf(w, "rejected %d%s\n", rejected, where)
	for _, r := range reasons {
		fmt.Fprintf(w, "  %-14s %d\n", r, s.Rejected[r])
	}
}

// toolProgress shows a progress bar on a terminal, else one line when done.
type toolProgress struct {
	bar   *progressbar.ProgressBar
	w     io.Writer
	start time.Time
	what  string
}

// newToolProgress starts the progress of a step towards max units (-1 when unknown); bytes says the
// units are bytes. The bar is drawn only when stderr is a terminal.
func (c *cli) newToolProgress(max int64, what string, bytes bool) *toolProgress {
	p := &toolProgress{w: c.stderr, start: time.Now(), what: what}
	if !writerIsTerminal(c.stderr) {
		return p
	}
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(c.stderr),
		progressbar.OptionSetDescription(what),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(c.stderr) }),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionSetRenderBlankState(true),
	}
	if bytes {
		opts = append(opts, progressbar.OptionShowBytes(true), progressbar.OptionShowTotalBytes(true))
	} else {
		opts = append(opts, progressbar.OptionShowIts(), progressbar.OptionSetItsString("rows"))
	}
	p.bar = progressbar.NewOptions64(max, opts...)
	return p
}

// set reports the units done so far.
func (p *toolProgress) set(n int64) {
	if p.bar != nil {
		p.bar.Set64(n)
	}
}

// done ends the progress: the bar is completed, or the one-line summary printed.
func (p *toolProgress) done(n int64, unit string) {
	elapsed := time.Since(p.start)
	if p.bar != nil {
		p.bar.Finish()
		return
	}
	fmt.Fprintf(p.w, "%s: %d %s in %s (%s %s/s)\n", p.what, n, unit, elapsed.Round(time.Millisecond), humanCount(float64(n)/elapsed.Seconds()), unit)
}

// writerIsTerminal reports whether w is a character device such as a terminal.
func writerIsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// humanBytes writes a size in bytes with a decimal unit: 1.5 MB.
func humanBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}

// humanCount writes a rate with thousands separators.
func humanCount(x float64) string {
	if math.IsInf(x, 0) || math.IsNaN(x) {
		return "-"
	}
	s := fmt.Sprintf("%.0f", x)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
