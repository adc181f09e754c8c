package ingest

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/identity"
	"github.com/cleanroom-oss/cleanroom/rows"
)

// Defaults of Options.
const (
	// DefaultMaxErrorRate is the share of rejected rows above which a file fails.
	DefaultMaxErrorRate = 0.05
	// DefaultMaxLineBytes is the longest line accepted.
	DefaultMaxLineBytes = 64 << 10
	// minFirstBlock is the size of the first block, beyond twice MaxLineBytes: small, so that
	// a small upload costs little memory.
	minFirstBlock = 64 << 10
	// DefaultMemoryBudget is the default of Options.MemoryBudget: about 11M rows are sorted in
	// memory before spilling starts.
	DefaultMemoryBudget = 256 << 20
)

// minBlockSize is the size of the blocks the reader hands to the workers, unless MaxLineBytes
// asks for more. (A variable, so that tests can make files of many blocks small.)
var minBlockSize = 4 << 20

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
	// Limits bound the file's decompressed size and lines (zero fields: the rows package's
	// defaults). A file beyond them fails with an EINVALID error naming the limit.
	Limits rows.Limits
	// MemoryBudget bounds the memory the accepted rows take while they are collected and sorted
	// (0 means DefaultMemoryBudget). Beyond it they are sorted and spilled, encrypted, to
	// temporary files, which are merged into the version: see the package documentation.
	MemoryBudget int64
	// TempDir is the directory under which the spill files of one ingest are created (in a
	// directory of their own, removed when the Version is closed or the ingest fails); empty
	// means os.TempDir().
	TempDir string
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
	// SpilledRuns is the number of sorted runs spilled to disk and merged, when the rows took
	// more than the memory budget (Options.MemoryBudget).
	SpilledRuns int `json:"spilled_runs,omitempty"`
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
// a report of what happened to each row. The version is sorted and deduplicated but not yet
// stored: call its Write, and Close it in any case.
//
// Segment IDs are matched exactly (case matters) against the taxonomy. The file is streamed
// in blocks and never held whole, and memory stays within about opt.MemoryBudget plus a few
// MiB of blocks per worker: the accepted rows (about 24 bytes each) are collected in memory up
// to the budget, then sorted and spilled, encrypted under a key that exists only in memory, to
// temporary files under opt.TempDir, which are merged when the file has been read.
//
// The file fails, with a nil version, the report and an EINVALID error pointing at the
// report, when it has no usable row or more than opt.MaxErrorRate of its rows are rejected; a
// CSV file without a usable header, a damaged gzip stream and a file beyond opt.Limits fail
// with EINVALID too. A cancelled ctx stops the ingest with ctx's error. Other errors come from
// reading r, from the temporary files, or from a bad opt.FingerprintKey. Temporary files are
// removed whenever an error is returned.
func Advertiser(ctx context.Context, r io.Reader, tax *Taxonomy, opt Options) (*Version, *Report, error) {
	start := time.Now()
	opt = opt.withDefaults()
	fingerprinter, err := identity.NewFingerprinter(opt.FingerprintKey)
	if err != nil {
		return nil, nil, fmt.Errorf("ingest: %w", err)
	}
	rep := &Report{Format: "tsv", Rejected: map[string]int64{}, Warnings: map[string]int64{},
		FirstErrors: []RowError{}, FirstWarnings: []RowError{}}
	finish := func(v *Version, err error) (*Version, *Report, error) {
		rep.Duration = time.Since(start)
		return v, rep, err
	}

	rd, err := rows.NewReader(r, rows.Options{Limits: opt.Limits, MaxLineBytes: opt.MaxLineBytes, RequireUTF8: true})
	if err != nil {
		return finish(nil, err)
	}
	rep.Gzip = rd.Gzip()
	blockSize := max(minBlockSize, 2*opt.MaxLineBytes+2)

	// Buffers circulate between the reader and the workers; the reader waits for a free one, so
	// at most Workers+2 blocks are in memory.
	bufs := newBuffers(opt.Workers+2, blockSize, 2*opt.MaxLineBytes+minFirstBlock)
	defer func() {
		bufs.wipe()
		rd.Wipe()
	}()

	// The first block decides the format.
	first, err := rd.Next(bufs.get(ctx))
	if err == io.EOF {
		rep.Bytes = rd.InputBytes()
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

	srt := newSorter(rn, opt)
	ws := make([]*worker, opt.Workers)
	for i := range ws {
		ws[i] = newWorker(rn, i, fingerprinter.Clone(), srt.chunks)
	}
	var rowsRead atomic.Int64
	var failure error      // set by the goroutine that failed before it sets failed
	var failMu sync.Mutex  // guards failure
	var failed atomic.Bool // a goroutine failed: the others skip what is left
	fail := func(err error) {
		failMu.Lock()
		if failure == nil {
			failure = err
		}
		failMu.Unlock()
		failed.Store(true)
	}
	blocks := make(chan rows.Block, opt.Workers+2)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(blocks)
		blocks <- first
		for {
			if opt.Progress != nil {
				opt.Progress(Progress{BytesRead: rd.InputBytes(), Rows: rowsRead.Load()})
			}
			if rd.Done() || failed.Load() {
				return
			}
			buf := bufs.get(ctx)
			if buf == nil {
				fail(ctx.Err())
				return
			}
			b, err := rd.Next(buf)
			if err != nil {
				bufs.put(buf)
				if err != io.EOF {
					fail(err)
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
					srt.mu.RLock()
					n := w.read
					w.block(&b)
					rowsRead.Add(w.read - n)
					w.publishMemory()
					srt.mu.RUnlock()
					if srt.over(ws) {
						if err := srt.flush(ctx, ws); err != nil {
							fail(err)
						}
					}
				}
				bufs.put(b.Buf())
			}
		})
	}
	wg.Wait()
	rep.Bytes = rd.InputBytes()
	if failure == nil {
		failure = ctx.Err()
	}
	if failure != nil {
		srt.remove()
		return finish(nil, failure)
	}
	var errs, warns rows.Errors
	for _, w := range ws {
		rep.RowsRead += w.read
		errs.Merge(&w.errs)
		warns.Merge(&w.warns)
	}
	rep.RowsRejected = errs.Total()
	rep.RowsAccepted = rep.RowsRead - rep.RowsRejected
	rep.Rejected, rep.Warnings = errs.Counts(), warns.Counts()
	rep.FirstErrors, rep.FirstWarnings = errs.First(), warns.First()
	if opt.Progress != nil {
		opt.Progress(Progress{BytesRead: rep.Bytes, Rows: rep.RowsRead})
	}
	if err := rep.verdict(opt.MaxErrorRate); err != nil {
		srt.remove()
		return finish(nil, err)
	}
	v, err := srt.finish(ctx, ws, rep)
	if err != nil {
		srt.remove()
		return finish(nil, err)
	}
	return finish(v, nil)
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
	if opt.MemoryBudget <= 0 {
		opt.MemoryBudget = DefaultMemoryBudget
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

// run is the configuration the workers share, read-only.
type run struct {
	reg      *identity.Registry
	tags     []identity.Tag       // the registry's tags; records refer to them by position
	tagIndex map[identity.Tag]int // tag -> position in tags
	tax      *Taxonomy
	masks    bool // segment sets are bitmasks (the taxonomy has at most 64 segments)
	format   format
	maxLine  int
	byName   []int // the positions in tags, in the order of the tags' names: the version's order
	rank     []int // tag position -> its place in byName
}

// newRun prepares the shared configuration and, from the first block, the format: it takes a
// header row off the block.
func newRun(opt Options, tax *Taxonomy, first *rows.Block) (*run, error) {
	rn := &run{reg: opt.Registry, tags: opt.Registry.Tags(), tagIndex: map[identity.Tag]int{},
		tax: tax, masks: tax.Len() <= 64, format: tsvFormat, maxLine: opt.MaxLineBytes}
	for i, t := range rn.tags {
		rn.tagIndex[t] = i
	}
	rn.byName = make([]int, len(rn.tags))
	for i := range rn.byName {
		rn.byName[i] = i
	}
	slices.SortFunc(rn.byName, func(a, b int) int { return cmp.Compare(rn.tags[a], rn.tags[b]) })
	rn.rank = make([]int, len(rn.tags))
	for k, t := range rn.byName {
		rn.rank[t] = k
	}
	b := *first
	for l, ok := b.Next(); ok; l, ok = b.Next() {
		if l.Bad() {
			break // rejected as a row; the file is TSV
		}
		if rows.Blank(l.Text) {
			continue
		}
		f, header, err := detectFormat(l.Text)
		if err != nil {
			return nil, err
		}
		rn.format = f
		if header {
			*first = b
		}
		break
	}
	return rn, nil
}

// recSize is the memory a rec takes.
const recSize = int64(unsafe.Sizeof(rec{}))

// recList is a worker's records of one tag and leading fingerprint byte, in chunks that grow
// from minChunk to maxChunk records, so that small files take little memory and big ones few
// allocations. Chunks come from, and go back to, the sorter's chunkPool.
type recList struct {
	chunks [][]rec // the full chunks
	cur    []rec   // the chunk being filled
	n      int     // records
	// compactAt is the number of records at which the list is sorted and deduplicated in place
	// (0: minCompact): see worker.compact.
	compactAt int
}

// all returns the list's records, chunk by chunk.
func (l *recList) all() [][]rec {
	if len(l.cur) == 0 {
		return l.chunks
	}
	return append(l.chunks, l.cur)
}

// worker parses blocks into records, one goroutine each.
type worker struct {
	*run
	id     int
	fp     *identity.Fingerprinter
	chunks *chunkPool

	parts    [][]recList       // per tag (nil until the tag is seen): 256 lists, by leading fingerprint byte
	pool     []uint32          // segment lists, when not run.masks (see segLists)
	tagOf    map[string]int    // tag spellings seen -> position in run.tags
	segCache map[string]segSet // segment fields seen -> their sets

	seen []seenTag // the first maxSeenTags tag spellings seen, scanned before tagOf

	fields  [][]byte
	scratch []byte
	segIdx  []uint32
	sorter  taskSorter // for compact

	read        int64
	errs, warns rows.Errors

	// mem is the memory the worker's records and segment lists take; memory is mem as of the
	// end of the last block, for the sorter to read.
	mem    int64
	memory atomic.Int64
}

func newWorker(rn *run, id int, fp *identity.Fingerprinter, chunks *chunkPool) *worker {
	n := len(rn.tags)
	return &worker{run: rn, id: id, fp: fp, chunks: chunks,
		parts: make([][]recList, n),
		pool:  []uint32{0}, tagOf: map[string]int{}, segCache: map[string]segSet{},
		sorter: taskSorter{masks: rn.masks}}
}

// add appends a record to l.
func (w *worker) add(l *recList, r rec) {
	if len(l.cur) == cap(l.cur) {
		w.grow(l)
	}
	l.cur = append(l.cur, r)
	l.n++
}

// grow gives l a new chunk to fill, compacting l first when it is long (see compact).
func (w *worker) grow(l *recList) {
	size := minChunk
	if cap(l.cur) > 0 {
		l.chunks = append(l.chunks, l.cur)
		size = min(2*cap(l.cur), maxChunk)
	}
	l.cur = w.chunks.get(size)
	w.mem += int64(cap(l.cur)) * recSize
	if l.n >= max(l.compactAt, minCompact) {
		w.compact(l)
	}
}

// minCompact is the size (in records) at which a list is first compacted. Fingerprints are
// uniformly random, so lists of different leading bytes grow alike, and a budget's worth of
// rows spread over 256 lists per tag and worker keeps each far below it; a list this long holds
// the same few identifiers over and over, as in a file of millions of copies of one row.
const minCompact = 1 << 16

// compact sorts and deduplicates l in place, so that a file repeating a few identifiers takes
// the memory of those identifiers, not of its rows. It is rare (see minCompact); if it does not
// halve the list, the list must double before it is tried again.
func (w *worker) compact(l *recList) {
	ts := &w.sorter
	pools := make([][]uint32, w.id+1)
	pools[w.id] = w.pool
	ts.lists, ts.pool = &segLists{pools: pools}, w.id+1
	n0 := l.n
	ts.gather(l.all())
	for _, c := range l.all() {
		w.mem -= int64(cap(c)) * recSize
		w.chunks.put(c)
	}
	a := ts.sorted()
	*l = recList{compactAt: math.MaxInt} // no compaction while the records go back
	for _, r := range a {
		if !w.masks && r.segs != 0 && int(r.segs>>40) == ts.pool {
			// A union made by the deduplication: into the worker's own pool.
			ids := ts.list(r.segs)
			off := len(w.pool)
			w.pool = append(w.pool, uint32(len(ids)))
			w.pool = append(w.pool, ids...)
			r.segs = listRef(w.id, off)
		}
		w.add(l, r)
	}
	u := len(a)
	ts.reset()
	l.compactAt = max(minCompact, 2*u)
	if u > n0/2 {
		l.compactAt = max(l.compactAt, 2*n0)
	}
}

// publishMemory makes the worker's memory use visible to the sorter.
func (w *worker) publishMemory() {
	w.memory.Store(w.mem + int64(cap(w.pool))*4)
}

// block parses the lines of b.
func (w *worker) block(b *rows.Block) {
	for l, ok := b.Next(); ok; l, ok = b.Next() {
		if l.Bad() {
			w.read++
			w.reject(l.Err())
			continue
		}
		if rows.Blank(l.Text) {
			continue
		}
		w.read++
		w.row(l.Text, l.No)
	}
}

// row parses, checks and fingerprints one line.
func (w *worker) row(ln []byte, line int64) {
	var id, tag, segs []byte
	if !w.format.csv {
		i := bytes.IndexByte(ln, '\t')
		if i < 0 {
			w.reject(errTSVColumns.At(line))
			return
		}
		id, tag = ln[:i], ln[i+1:]
		if j := bytes.IndexByte(tag, '\t'); j >= 0 {
			tag, segs = tag[:j], tag[j+1:]
			if bytes.IndexByte(segs, '\t') >= 0 {
				w.reject(errTSVColumns.At(line))
				return
			}
		}
	} else {
		var ok bool
		if w.fields, w.scratch, ok = rows.CSV.Split(ln, w.fields, w.scratch); !ok {
			w.reject(rows.BadQuoting.At(line))
			return
		}
		if len(w.fields) != w.format.cols {
			w.reject(errCSVColumns.At(line))
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
	set, _, unknown := w.segments(segs)
	if unknown {
		w.warn(warnUnknownSegment.At(line))
	}

	if w.parts[t] == nil {
		w.parts[t] = make([]recList, 256)
	}
	w.add(&w.parts[t][fp[0]], rec{fp: fp, segs: set})
}

// valueRowError returns the row error for an error of identity.Normalize.
func valueRowError(line int64, err error) RowError {
	if e, ok := errors.AsType[*identity.ValueError](err); ok {
		return rowErrorOf(line, e)
	}
	return RowError{Line: line, Reason: "invalid", Message: "the identifier is not valid"}
}

// seenTag is a tag spelling and its position in run.tags.
type seenTag struct {
	spelling []byte
	i        int
}

// maxSeenTags is the most tag spellings a worker scans before it looks in its map.
const maxSeenTags = 8

// tag returns the position in run.tags of the tag spelled b.
func (w *worker) tag(b []byte) (int, *identity.ValueError) {
	// Files mix a few types, row by row: a short list of the spellings seen first is faster to
	// scan than a map lookup is to hash.
	for k := range w.seen {
		if bytes.Equal(b, w.seen[k].spelling) {
			return w.seen[k].i, nil
		}
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
	if len(w.seen) < maxSeenTags {
		w.seen = append(w.seen, seenTag{spelling: append([]byte(nil), b...), i: i})
	}
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
		if s = rows.TrimSpace(s); len(s) == 0 {
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
func (w *worker) reject(e RowError) { w.errs.Add(e) }

// warn counts a row kept with a warning and keeps the warning if it may be among the first.
func (w *worker) warn(e RowError) { w.warns.Add(e) }
