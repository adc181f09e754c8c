package ingest

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/identity"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// Defaults of Options.
const (
	// DefaultMaxErrorRate is the share of rejected rows above which a file fails.
	DefaultMaxErrorRate = 0.05
	// DefaultMaxLineBytes is the longest line accepted.
	DefaultMaxLineBytes = 64 << 10
	// minBlockSize is the size of the blocks the reader hands to the workers, unless
	// MaxLineBytes asks for more.
	minBlockSize = 4 << 20
	// minFirstBlock is the size of the first block, beyond twice MaxLineBytes: small, so that
	// a small upload costs little memory.
	minFirstBlock = 64 << 10
)

// Options configures Advertiser.
type Options struct {
	// Registry holds the identifier types accepted; nil means the built-in ones.
	Registry *identity.Registry
	// FingerprintKey is the deployment's fingerprint key (identity.FingerprintKeySize bytes).
	FingerprintKey []byte
	// MaxErrorRate is the share of rejected rows (of the rows read) above which the file fails;
	// 0 means DefaultMaxErrorRate, and a negative value fails the file on any rejected row.
	MaxErrorRate float64
	// MaxLineBytes is the longest line accepted, line end excluded; a longer line is a row
	// error and reading goes on after it. 0 means DefaultMaxLineBytes.
	MaxLineBytes int
	// Workers is the number of goroutines that parse, fingerprint and sort; 0 means
	// runtime.GOMAXPROCS(0).
	Workers int
	// Progress, when set, is called after each block of a few MiB is read, and once at the end,
	// from one goroutine at a time. It must return quickly.
	Progress func(Progress)
}

// Progress tells how far an ingest has got.
type Progress struct {
	// BytesRead counts the bytes read from the upload, compressed if it is gzipped.
	BytesRead int64 `json:"bytes_read"`
	// Rows counts the rows parsed so far; it lags BytesRead by the blocks in flight.
	Rows int64 `json:"rows"`
}

// Report describes what an ingest did with each row. It holds counts, line numbers and
// reasons, never a value of the file, so it can be stored and shown as it is.
type Report struct {
	// Format is "tsv" or "csv"; Gzip is set when the upload was gzipped.
	Format string `json:"format"`
	Gzip   bool   `json:"gzip,omitempty"`
	// RowsRead counts the data rows (not a header or blank lines).
	RowsRead int64 `json:"rows_read"`
	// RowsAccepted counts the rows kept, duplicates included; RowsRejected the others.
	RowsAccepted int64 `json:"rows_accepted"`
	RowsRejected int64 `json:"rows_rejected"`
	// Rejected counts the rejected rows by reason.
	Rejected map[string]int64 `json:"rejected"`
	// Warnings counts the accepted rows by warning (ReasonUnknownSegment).
	Warnings map[string]int64 `json:"warnings"`
	// PerTag counts the unique identifiers of each type; PerSegment the unique identifiers in
	// each segment of the taxonomy, by segment ID. Both are filled only when the file is
	// accepted.
	PerTag     map[identity.Tag]int64 `json:"per_tag"`
	PerSegment map[string]int64       `json:"per_segment"`
	// Duplicates counts the accepted rows merged into an earlier row with the same identifier.
	Duplicates int64 `json:"duplicates"`
	// FirstErrors holds the first 100 rejected rows by line number; FirstWarnings the first
	// 100 rows kept with a warning.
	FirstErrors   []RowError `json:"first_errors"`
	FirstWarnings []RowError `json:"first_warnings"`
	// Bytes counts the bytes read from the upload, compressed if it is gzipped.
	Bytes int64 `json:"bytes"`
	// Duration is the wall time of the ingest.
	Duration time.Duration `json:"duration_ns"`
}

// ErrorRate returns the share of rows read that were rejected.
func (r *Report) ErrorRate() float64 {
	if r.RowsRead == 0 {
		return 0
	}
	return float64(r.RowsRejected) / float64(r.RowsRead)
}

// Advertiser reads an advertiser data file (see the package documentation for the formats)
// and returns the data source version it holds, over the segments of tax (nil for none), with
// a report of what happened to each row.
//
// Segment IDs are matched exactly (case matters) against the taxonomy. The file is streamed
// in blocks and never held whole: memory use is about 24 bytes per accepted row for the
// records being sorted, then the version (16 bytes per unique identifier, 4 per row offset and
// 4 per segment membership), plus a few MiB of blocks.
//
// The file fails, with a nil version, the report and an EINVALID error pointing at the
// report, when it has no usable row or more than opt.MaxErrorRate of its rows are rejected; a
// CSV file without a usable header and a damaged gzip stream fail with EINVALID too. A
// cancelled ctx stops the ingest with ctx's error. Other errors come from reading r or from a
// bad opt.FingerprintKey.
func Advertiser(ctx context.Context, r io.Reader, tax *Taxonomy, opt Options) (*vault.AdvertiserVersion, *Report, error) {
	start := time.Now()
	opt = opt.withDefaults()
	fingerprinter, err := identity.NewFingerprinter(opt.FingerprintKey)
	if err != nil {
		return nil, nil, fmt.Errorf("ingest: %w", err)
	}
	rep := &Report{Format: "tsv", Rejected: map[string]int64{}, Warnings: map[string]int64{},
		FirstErrors: []RowError{}, FirstWarnings: []RowError{}}
	finish := func(v *vault.AdvertiserVersion, err error) (*vault.AdvertiserVersion, *Report, error) {
		rep.Duration = time.Since(start)
		return v, rep, err
	}

	counted := &countingReader{r: r}
	blockSize := max(minBlockSize, 2*opt.MaxLineBytes+2)
	br, err := newBlockReader(counted)
	if err != nil {
		return finish(nil, err)
	}
	rep.Gzip = br.gzip

	// Buffers circulate between the reader and the workers; the reader waits for a free one, so
	// at most Workers+2 blocks are in memory.
	bufs := newBuffers(opt.Workers+2, blockSize, 2*opt.MaxLineBytes+minFirstBlock)
	defer func() {
		bufs.wipe()
		clear(br.carry[:cap(br.carry)])
	}()

	// The first block decides the format.
	first, err := br.next(bufs.get(ctx))
	if err == io.EOF {
		rep.Bytes = counted.n
		return finish(nil, cleanroom.Errorf(cleanroom.EINVALID, "The file is empty.").
			Hint(hintFileShape))
	}
	if err != nil {
		return finish(nil, err)
	}
	rn, err := newRun(opt, tax, &first)
	if err != nil {
		return finish(nil, err)
	}
	rep.Format = rn.format.String()

	ws := make([]*worker, opt.Workers)
	for i := range ws {
		ws[i] = newWorker(rn, i, fingerprinter.Clone())
	}
	var rows atomic.Int64
	var readErr error      // set by the reader before it sets failed
	var failed atomic.Bool // the reader failed: the workers skip what is left
	blocks := make(chan block, opt.Workers+2)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(blocks)
		blocks <- first
		for {
			if opt.Progress != nil {
				opt.Progress(Progress{BytesRead: counted.n, Rows: rows.Load()})
			}
			if br.done() {
				return
			}
			buf := bufs.get(ctx)
			if buf == nil {
				readErr = ctx.Err()
				failed.Store(true)
				return
			}
			b, err := br.next(buf)
			if err != nil {
				bufs.put(buf)
				if err != io.EOF {
					readErr = err
					failed.Store(true)
				}
				return
			}
			blocks <- b
		}
	})
	for _, w := range ws {
		wg.Go(func() {
			for b := range blocks {
				if ctx.Err() == nil && !failed.Load() {
					n := w.read
					w.block(b)
					rows.Add(w.read - n)
				}
				bufs.put(b.buf)
			}
		})
	}
	wg.Wait()
	rep.Bytes = counted.n
	if readErr == nil {
		readErr = ctx.Err()
	}
	if readErr != nil {
		return finish(nil, readErr)
	}
	for _, w := range ws {
		rep.RowsRead += w.read
		rep.RowsRejected += w.rejected
		addCounts(rep.Rejected, w.rejectedBy)
		addCounts(rep.Warnings, w.warnedBy)
		rep.FirstErrors = append(rep.FirstErrors, w.errs...)
		rep.FirstWarnings = append(rep.FirstWarnings, w.warns...)
	}
	rep.RowsAccepted = rep.RowsRead - rep.RowsRejected
	rep.FirstErrors = firstByLine(rep.FirstErrors)
	rep.FirstWarnings = firstByLine(rep.FirstWarnings)
	if opt.Progress != nil {
		opt.Progress(Progress{BytesRead: rep.Bytes, Rows: rep.RowsRead})
	}
	if err := rep.verdict(opt.MaxErrorRate); err != nil {
		return finish(nil, err)
	}

	v, err := rn.build(ws, opt.Workers, rep)
	return finish(v, err)
}

// withDefaults returns opt with its zero fields set to their defaults.
func (opt Options) withDefaults() Options {
	if opt.MaxErrorRate == 0 {
		opt.MaxErrorRate = DefaultMaxErrorRate
	}
	if opt.MaxLineBytes <= 0 {
		opt.MaxLineBytes = DefaultMaxLineBytes
	}
	if opt.Workers <= 0 {
		opt.Workers = runtime.GOMAXPROCS(0)
	}
	return opt
}

// hintFileShape says what a data file looks like.
const hintFileShape = "Upload a file with one identifier per line: the identifier, its type and its segment IDs, separated by tabs."

// verdict returns the error that fails the file the report describes, or nil.
func (rep *Report) verdict(maxRate float64) error {
	const see = "see the report for the reasons and the first rows with errors"
	switch {
	case rep.RowsRead == 0:
		return cleanroom.Errorf(cleanroom.EINVALID, "The file has no data rows.").
			Hint(hintFileShape)
	case rep.RowsAccepted == 0:
		return cleanroom.Errorf(cleanroom.EINVALID, "No row of the file is usable: all %d rows were rejected; %s.", rep.RowsRead, see).
			With("error_rate", 1.0)
	case rep.ErrorRate() > max(maxRate, 0):
		return cleanroom.Errorf(cleanroom.EINVALID,
			"%.2f%% of the rows were rejected (%d of %d), more than the %.2f%% the upload's max_error_rate allows, so the file was not used; %s.",
			100*rep.ErrorRate(), rep.RowsRejected, rep.RowsRead, 100*max(maxRate, 0), see).
			With("error_rate", rep.ErrorRate()).With("max_error_rate", max(maxRate, 0)).Hint(cleanroom.ErrorRateHint)
	}
	return nil
}

// addCounts adds the counts of src to dst.
func addCounts(dst, src map[string]int64) {
	for k, n := range src {
		dst[k] += n
	}
}

// firstByLine returns the first maxReportedRowErrors of errs by line number.
func firstByLine(errs []RowError) []RowError {
	slices.SortStableFunc(errs, func(a, b RowError) int { return cmp.Compare(a.Line, b.Line) })
	return slices.Clip(errs[:min(len(errs), maxReportedRowErrors)])
}

// run is the configuration the workers share, read-only.
type run struct {
	reg      *identity.Registry
	tags     []identity.Tag       // the registry's tags; records refer to them by position
	tagIndex map[identity.Tag]int // tag -> position in tags
	tax      *Taxonomy
	masks    bool // segment sets are bitmasks (the taxonomy has at most 64 segments)
	format   format
	maxLine  int
}

// newRun prepares the shared configuration and, from the first block, the format: it strips a
// byte order mark and a header row from the block.
func newRun(opt Options, tax *Taxonomy, first *block) (*run, error) {
	rn := &run{reg: opt.Registry, tags: opt.Registry.Tags(), tagIndex: map[identity.Tag]int{},
		tax: tax, masks: tax.Len() <= 64, format: tsvFormat, maxLine: opt.MaxLineBytes}
	for i, t := range rn.tags {
		rn.tagIndex[t] = i
	}
	data := bytes.TrimPrefix(first.data, []byte(utf8BOM))
	first.data = data
	for line := first.firstLine; len(data) > 0; line++ {
		ln, rest, _ := bytes.Cut(data, []byte{'\n'})
		data = rest
		ln = bytes.TrimSuffix(ln, []byte{'\r'})
		if isBlank(ln) {
			continue
		}
		f, header, err := detectFormat(ln)
		if err != nil {
			return nil, err
		}
		rn.format = f
		if header {
			first.data, first.firstLine = data, line+1
		}
		break
	}
	return rn, nil
}

// rec is one accepted row: its fingerprint and its segment set.
type rec struct {
	fp identity.Fingerprint
	// segs is a bitmask of segment indices when run.masks is set, and otherwise a reference to
	// a list (see segLists); 0 is the empty set in both.
	segs uint64
}

// Chunk sizes of a recList, in records.
const (
	minChunk = 32
	maxChunk = 8192
)

// recList is a worker's records of one tag and leading fingerprint byte, in chunks that grow
// from minChunk to maxChunk records, so that small files take little memory and big ones few
// allocations.
type recList struct {
	chunks [][]rec // the full chunks
	cur    []rec   // the chunk being filled
	n      int     // records
	segs   int     // their segment entries, an upper bound of what is left after deduplication
}

func (l *recList) add(r rec, nsegs int) {
	if len(l.cur) == cap(l.cur) {
		size := minChunk
		if cap(l.cur) > 0 {
			l.chunks = append(l.chunks, l.cur)
			size = min(2*cap(l.cur), maxChunk)
		}
		l.cur = make([]rec, 0, size)
	}
	l.cur = append(l.cur, r)
	l.n++
	l.segs += nsegs
}

// worker parses blocks into records, one goroutine each.
type worker struct {
	*run
	id int
	fp *identity.Fingerprinter

	parts    [][]recList       // per tag (nil until the tag is seen): 256 lists, by leading fingerprint byte
	pool     []uint32          // segment lists, when not run.masks (see segLists)
	tagOf    map[string]int    // tag spellings seen -> position in run.tags
	segCache map[string]segSet // segment fields seen -> their sets

	lastTag    []byte // the tag spelling of the last row, and its position
	lastTagIdx int

	fields  [][]byte
	scratch []byte
	segIdx  []uint32

	read, rejected       int64
	rejectedBy, warnedBy map[string]int64
	errs, warns          []RowError
	blockErrs, blockWarn int // errs and warns recorded for the current block
}

func newWorker(rn *run, id int, fp *identity.Fingerprinter) *worker {
	n := len(rn.tags)
	return &worker{run: rn, id: id, fp: fp,
		parts: make([][]recList, n),
		pool:  []uint32{0}, tagOf: map[string]int{}, segCache: map[string]segSet{}, lastTagIdx: -1,
		rejectedBy: map[string]int64{}, warnedBy: map[string]int64{}}
}

// block parses the lines of b.
func (w *worker) block(b block) {
	w.blockErrs, w.blockWarn = 0, 0
	if b.longLine {
		w.read++
		w.reject(errLineTooLong.at(b.firstLine))
		return
	}
	data, line := b.data, b.firstLine
	for len(data) > 0 {
		var ln []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			ln, data = data[:i], data[i+1:]
		} else {
			ln, data = data, nil
		}
		w.row(ln, line)
		line++
	}
	// Keep only what can still be among the first errors of the file.
	if len(w.errs) > 2*maxReportedRowErrors {
		w.errs = firstByLine(w.errs)
	}
	if len(w.warns) > 2*maxReportedRowErrors {
		w.warns = firstByLine(w.warns)
	}
}

// row parses, checks and fingerprints one line.
func (w *worker) row(ln []byte, line int64) {
	if n := len(ln); n > 0 && ln[n-1] == '\r' {
		ln = ln[:n-1]
	}
	if len(ln) > w.maxLine {
		w.read++
		w.reject(errLineTooLong.at(line))
		return
	}
	if isBlank(ln) {
		return
	}
	w.read++
	if !utf8.Valid(ln) {
		w.reject(errBadUTF8.at(line))
		return
	}
	var id, tag, segs []byte
	if !w.format.csv {
		i := bytes.IndexByte(ln, '\t')
		if i < 0 {
			w.reject(errTSVColumns.at(line))
			return
		}
		id, tag = ln[:i], ln[i+1:]
		if j := bytes.IndexByte(tag, '\t'); j >= 0 {
			tag, segs = tag[:j], tag[j+1:]
			if bytes.IndexByte(segs, '\t') >= 0 {
				w.reject(errTSVColumns.at(line))
				return
			}
		}
	} else {
		var ok bool
		if w.fields, w.scratch, ok = splitCSV(ln, w.fields, w.scratch); !ok {
			w.reject(errBadQuoting.at(line))
			return
		}
		if len(w.fields) != w.format.cols {
			w.reject(errCSVColumns.at(line))
			return
		}
		id, tag = w.fields[w.format.id], w.fields[w.format.tag]
		if w.format.seg >= 0 {
			segs = w.fields[w.format.seg]
		}
	}

	t, err := w.tag(tag)
	if err != nil {
		w.reject(rowErrorOf(line, err))
		return
	}
	normalized := unsafeString(id)
	if !canonical(w.tags[t], id) {
		var err error
		if normalized, err = w.reg.Normalize(w.tags[t], normalized); err != nil {
			w.reject(valueRowError(line, err))
			return
		}
	}
	fp := w.fp.Fingerprint(w.tags[t], normalized)
	set, nsegs, unknown := w.segments(segs)
	if unknown {
		w.warn(warnUnknownSegment.at(line))
	}

	if w.parts[t] == nil {
		w.parts[t] = make([]recList, 256)
	}
	w.parts[t][fp[0]].add(rec{fp: fp, segs: set}, nsegs)
}

// valueRowError returns the row error for an error of identity.Normalize.
func valueRowError(line int64, err error) RowError {
	if e, ok := errors.AsType[*identity.ValueError](err); ok {
		return rowErrorOf(line, e)
	}
	return RowError{Line: line, Reason: "invalid", Message: "the identifier is not valid"}
}

// tag returns the position in run.tags of the tag spelled b.
func (w *worker) tag(b []byte) (int, *identity.ValueError) {
	if w.lastTagIdx >= 0 && bytes.Equal(b, w.lastTag) {
		return w.lastTagIdx, nil
	}
	i, ok := w.tagOf[string(b)]
	if !ok {
		tag, err := identity.ParseTag(w.reg, unsafeString(b))
		if err != nil {
			if e, ok := errors.AsType[*identity.ValueError](err); ok {
				return 0, e
			}
			return 0, &identity.ValueError{Reason: identity.ReasonUnknownTag, Message: "unknown identifier type"}
		}
		i = w.tagIndex[tag]
		if len(w.tagOf) < 256 { // spellings of real tags are few; do not let a bad file grow this
			w.tagOf[string(b)] = i
		}
	}
	w.lastTag = append(w.lastTag[:0], b...)
	w.lastTagIdx = i
	return i, nil
}

// segments returns the set of the taxonomy segments listed in a segments field (IDs separated
// by commas, surrounding spaces ignored, empty entries skipped), its size, and whether the
// field lists an ID the taxonomy does not have.
//
// Uploads repeat the same few segment lists over and over, so the answer for each distinct
// field is cached (up to segCacheSize of them); in list mode, rows with the same field then
// share one list in the pool.
func (w *worker) segments(field []byte) (set uint64, n int, unknown bool) {
	if len(field) == 0 {
		return 0, 0, false
	}
	if e, ok := w.segCache[string(field)]; ok {
		return e.set, e.n, e.unknown
	}
	set, n, unknown = w.parseSegments(field)
	if len(w.segCache) < segCacheSize {
		w.segCache[string(field)] = segSet{set, n, unknown}
	}
	return set, n, unknown
}

// segCacheSize is the most segment fields a worker caches.
const segCacheSize = 4096

// segSet is a cached answer of segments.
type segSet struct {
	set     uint64
	n       int
	unknown bool
}

// parseSegments does the work of segments.
func (w *worker) parseSegments(field []byte) (set uint64, n int, unknown bool) {
	var index map[string]uint32
	if w.tax != nil {
		index = w.tax.index
	}
	ids := w.segIdx[:0]
	for len(field) > 0 {
		var s []byte
		if i := bytes.IndexByte(field, ','); i >= 0 {
			s, field = field[:i], field[i+1:]
		} else {
			s, field = field, nil
		}
		if s = trimSpace(s); len(s) == 0 {
			continue
		}
		idx, ok := index[string(s)]
		switch {
		case !ok:
			unknown = true
		case w.masks:
			set |= 1 << idx
		default:
			ids = append(ids, idx)
		}
	}
	if w.masks {
		return set, bits.OnesCount64(set), unknown
	}
	if len(ids) == 0 {
		return 0, 0, unknown
	}
	w.segIdx = ids
	slices.Sort(ids)
	ids = slices.Compact(ids)
	off := len(w.pool)
	w.pool = append(w.pool, uint32(len(ids)))
	w.pool = append(w.pool, ids...)
	return listRef(w.id, off), len(ids), unknown
}

// reject counts a rejected row and keeps its error if it may be among the first.
func (w *worker) reject(e RowError) {
	w.rejected++
	w.rejectedBy[e.Reason]++
	if w.blockErrs < maxReportedRowErrors {
		w.errs = append(w.errs, e)
		w.blockErrs++
	}
}

// warn counts a row kept with a warning and keeps the warning if it may be among the first.
func (w *worker) warn(e RowError) {
	w.warnedBy[e.Reason]++
	if w.blockWarn < maxReportedRowErrors {
		w.warns = append(w.warns, e)
		w.blockWarn++
	}
}

// tagNames returns the tags' names in the order of the positions given.
func tagNames(tags []identity.Tag, pos []int) []identity.Tag {
	out := make([]identity.Tag, len(pos))
	for i, p := range pos {
		out[i] = tags[p]
	}
	return out
}
