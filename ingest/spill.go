package ingest

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/identity"
	"github.com/cleanroom-oss/cleanroom/sealed"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// Spilling. The workers' records are partitioned by task (tag and leading fingerprint byte): a
// task's records are contiguous in the version, so each task is sorted on its own. A spill writes
// a run: per task, its records sorted and deduplicated, each as the 16 bytes of its fingerprint
// and its segment set (a bitmask, or the number of segments and their indices, as uvarints), as
// one part of a spill file. At the end, a task's parts in all the runs (a few hundred KiB each)
// are read back together with its records still in memory, and merged by sorting them together
// in memory, where the duplicates across runs meet; the merged tasks go, in order, to three
// files that hold the version's arrays (fingerprints, segment counts, segment indices). Every file is sealed (package sealed) under a key made for the ingest and never stored: no file
// ever holds an identifier, and the files are unreadable once the process is gone.
const (
	// spillChunk is the chunk size of the sealed spill files.
	spillChunk = 16 << 10
	// tempPrefix starts the name of every ingest's directory of spill files.
	tempPrefix = "ingest-"
)

// spillHook, when set (by tests), is called with every run spilled and the ingest's key.
var spillHook func(r *spillRun, key []byte)

// RemoveTemp removes the spill directories that ingests left under dir, as a process that
// crashed mid-ingest does. Call it at start, before any ingest runs with Options.TempDir = dir.
func RemoveTemp(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tempPrefix) {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// sorter turns the workers' records into a version, spilling them to disk whenever they take
// more than the memory budget.
type sorter struct {
	rn      *run
	budget  int64
	n       int // goroutines that sort and merge
	tempDir string
	chunks  *chunkPool

	// mu is held shared by workers while they parse a block, exclusively while a spill takes
	// their records.
	mu   sync.RWMutex
	dir  string // this ingest's spill directory, once made
	key  []byte
	runs []*spillRun
	next int // number of the next file
}

// spillRun is one sorted run: per task, the part that holds its records.
type spillRun struct {
	parts []part
}

func newSorter(rn *run, opt Options) *sorter {
	return &sorter{rn: rn, budget: opt.MemoryBudget, n: opt.Workers, tempDir: opt.TempDir, chunks: &chunkPool{}}
}

// tasks returns the number of tasks: 256 per tag, in the version's order.
func (s *sorter) tasks() int { return len(s.rn.tags) * 256 }

// over reports whether the workers' records take more than the budget.
func (s *sorter) over(ws []*worker) bool {
	var m int64
	for _, w := range ws {
		m += w.memory.Load()
	}
	return m >= s.budget
}

// flush spills the workers' records if they are still over the budget, with the workers
// paused.
func (s *sorter) flush(ctx context.Context, ws []*worker) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.over(ws) {
		return nil // another worker spilled them meanwhile
	}
	return s.spill(ctx, ws)
}

// remove deletes the spill directory.
func (s *sorter) remove() {
	if s.dir != "" {
		os.RemoveAll(s.dir)
		s.dir = ""
	}
}

// newFile creates a spill file of this ingest.
func (s *sorter) newFile(kind string) (*os.File, error) {
	if s.dir == "" {
		base := s.tempDir
		if base == "" {
			base = os.TempDir()
		}
		if err := os.MkdirAll(base, 0o700); err != nil {
			return nil, fmt.Errorf("ingest: temporary directory: %w", err)
		}
		dir, err := os.MkdirTemp(base, tempPrefix+"*")
		if err != nil {
			return nil, fmt.Errorf("ingest: temporary directory: %w", err)
		}
		s.dir = dir
		s.key = make([]byte, sealed.KeySize)
		rand.Read(s.key)
	}
	name := filepath.Join(s.dir, fmt.Sprintf("%06d.%s", s.next, kind))
	s.next++
	f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("ingest: spill: %w", err)
	}
	return f, nil
}

// part is one sealed stream in a spill file: the records of a group in a run, or a merged
// group's fingerprints or segment lists. A spill file holds the parts one goroutine wrote in one
// phase, one after the other.
type part struct {
	path      string // "" for an empty group
	off, size int64
}

// spillFile is a spill file being written by one goroutine.
type spillFile struct {
	s    *sorter
	mu   *sync.Mutex // shared by the goroutines of a phase, for newFile
	kind string
	f    *os.File
	off  int64
	buf  []byte // the encoders' buffer, reused from part to part
}

// begin starts a part at the end of the file, creating the file the first time.
func (sf *spillFile) begin() (*partWriter, error) {
	if sf.f == nil {
		sf.mu.Lock()
		f, err := sf.s.newFile(sf.kind)
		sf.mu.Unlock()
		if err != nil {
			return nil, err
		}
		sf.f = f
	}
	pw := &partWriter{sf: sf, cw: countingWriter{w: sf.f}}
	sw, err := sealed.NewWriter(&pw.cw, sf.s.key, sealed.WithChunkSize(spillChunk))
	if err != nil {
		return nil, err
	}
	pw.sw = sw
	if sf.buf == nil {
		sf.buf = make([]byte, 0, 32<<10)
	}
	pw.encoder = &encoder{w: sw, buf: sf.buf[:0]}
	return pw, nil
}

// close closes the file.
func (sf *spillFile) close() error {
	if sf.f == nil {
		return nil
	}
	err := sf.f.Close()
	sf.f = nil
	if err != nil {
		return fmt.Errorf("ingest: spill: %w", err)
	}
	return nil
}

// partWriter writes one part.
type partWriter struct {
	*encoder
	sf *spillFile
	cw countingWriter
	sw *sealed.Writer
}

// write writes b as it is, bypassing the encoder's buffer when it is large.
func (pw *partWriter) write(b []byte) error {
	if len(b) < cap(pw.buf)/2 {
		return pw.raw(b)
	}
	if err := pw.flush(); err != nil {
		return err
	}
	_, err := pw.sw.Write(b)
	return err
}

// end finishes the part.
func (pw *partWriter) end() (part, error) {
	err := pw.flush()
	if err == nil {
		err = pw.sw.Close()
	}
	if err != nil {
		return part{}, fmt.Errorf("ingest: spill: %w", err)
	}
	p := part{path: pw.sf.f.Name(), off: pw.sf.off, size: pw.cw.n}
	pw.sf.off += pw.cw.n
	return p, nil
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// taskSorter returns a task sorter for goroutine g, over the workers' segment pools.
func (s *sorter) taskSorter(ws []*worker, g int) *taskSorter {
	lists := &segLists{pools: make([][]uint32, len(ws))}
	for i, w := range ws {
		lists.pools[i] = w.pool
	}
	return &taskSorter{masks: s.rn.masks, lists: lists, pool: len(ws) + g}
}

// takeTask gathers the records of task (tag position t, leading byte b) from the workers into
// ts, giving their chunks back to the pool.
func (s *sorter) takeTask(ws []*worker, ts *taskSorter, t, b int) {
	for _, w := range ws {
		if w.parts[t] == nil {
			continue
		}
		l := &w.parts[t][b]
		ts.gather(l.all())
		for _, c := range l.all() {
			s.chunks.put(c)
		}
		*l = recList{}
	}
}

// spill sorts the workers' records into a run on disk and empties the workers.
func (s *sorter) spill(ctx context.Context, ws []*worker) error {
	var tasks []int
	for i := range s.tasks() {
		t, b := s.rn.byName[i/256], i%256
		for _, w := range ws {
			if w.parts[t] != nil && w.parts[t][b].n > 0 {
				tasks = append(tasks, i)
				break
			}
		}
	}
	if len(tasks) == 0 {
		return nil
	}
	run := &spillRun{parts: make([]part, s.tasks())}
	var next atomic.Int64
	var fileMu sync.Mutex
	errs := make([]error, s.n)
	parallel(s.n, func(i int) {
		ts := s.taskSorter(ws, i)
		out := &spillFile{s: s, mu: &fileMu, kind: "run"}
		defer func() {
			if err := out.close(); errs[i] == nil {
				errs[i] = err
			}
		}()
		for errs[i] == nil {
			k := int(next.Add(1) - 1)
			if k >= len(tasks) {
				return
			}
			if errs[i] = ctx.Err(); errs[i] != nil {
				return
			}
			task := tasks[k]
			pw, err := out.begin()
			if err != nil {
				errs[i] = err
				return
			}
			// The records go out as they are: the final merge sorts each task's records of
			// every run together anyway.
			s.takeTask(ws, ts, s.rn.byName[task/256], task%256)
			if s.rn.masks {
				err = pw.write(recBytes(ts.a))
			} else {
				for k := range ts.a {
					if err = pw.record(&ts.a[k].fp, ts.set(&ts.a[k])); err != nil {
						break
					}
				}
			}
			ts.a = ts.a[:0]
			if err == nil {
				run.parts[task], err = pw.end()
			}
			errs[i] = err
		}
	})
	// The records are gone: empty the workers' segment lists too.
	for _, w := range ws {
		w.mem = 0
		if !s.rn.masks {
			w.pool = w.pool[:1]
			clear(w.segCache)
		}
		w.publishMemory()
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	s.runs = append(s.runs, run)
	if spillHook != nil {
		spillHook(run, s.key)
	}
	return nil
}

// finish sorts what the workers hold into the version and completes the report: in memory when
// nothing was spilled, otherwise with the records still in memory as the last run.
func (s *sorter) finish(ctx context.Context, ws []*worker, rep *Report) (*Version, error) {
	if len(s.runs) == 0 {
		return s.inMemory(ws, rep)
	}
	rep.SpilledRuns = len(s.runs)
	last, _, _, _ := s.sortTasks(ws)
	return s.mergeFinal(ctx, rep, last)
}

// inMemory sorts and deduplicates every task in memory, in parallel; the version is written
// from the records themselves.
func (s *sorter) inMemory(ws []*worker, rep *Report) (*Version, error) {
	rn := s.rn
	src, uniq, nsegs, perSeg := s.sortTasks(ws)
	perTag := make([]int64, len(rn.tags))
	var segEntries int64
	for i := range uniq {
		perTag[i/256] += uniq[i]
		segEntries += nsegs[i]
	}
	return s.version(rep, perTag, segEntries, perSeg, src)
}

// sortTasks sorts and deduplicates the workers' records task by task, in parallel, into chunks
// of the pool, and returns them with each task's rows and segment entries and the segment counts
// of each goroutine.
func (s *sorter) sortTasks(ws []*worker) (src *memSource, uniq, nsegs []int64, perSeg [][]int64) {
	rn := s.rn
	ntask := len(rn.tags) * 256
	src = &memSource{masks: rn.masks, tasks: make([][][]rec, ntask)}
	uniq = make([]int64, ntask)
	nsegs = make([]int64, ntask)
	perSeg = make([][]int64, s.n)
	sorters := make([]*taskSorter, s.n)
	var next atomic.Int64
	parallel(s.n, func(g int) {
		ts := s.taskSorter(ws, g)
		sorters[g] = ts
		counts := make([]int64, rn.tax.Len())
		var segs []uint32
		for {
			i := int(next.Add(1) - 1)
			if i >= ntask {
				break
			}
			s.takeTask(ws, ts, rn.byName[i/256], i%256)
			a := ts.sorted()
			for k := range a {
				segs = ts.segments(segs[:0], &a[k])
				for _, x := range segs {
					counts[x]++
				}
				nsegs[i] += int64(len(segs))
			}
			uniq[i] = int64(len(a))
			src.tasks[i] = s.chunks.store(a)
		}
		perSeg[g] = counts
	})
	src.lists = sorters[0].lists
	for _, ts := range sorters {
		src.lists.pools = append(src.lists.pools, ts.mine)
	}
	return src, uniq, nsegs, perSeg
}

// version makes the Version of a finished sort and fills the report's counts. perTag is indexed
// by the tags' order by name.
func (s *sorter) version(rep *Report, perTag []int64, segEntries int64, perSeg [][]int64, src source) (*Version, error) {
	rn := s.rn
	v := &Version{src: src, dir: s.dir}
	v.stream.Segments = rn.tax.IDs()
	v.stream.TagStart = []uint32{0}
	var rows int64
	rep.PerTag = map[identity.Tag]int64{}
	for k, n := range perTag {
		if n == 0 {
			continue
		}
		rows += n
		if rows >= math.MaxUint32 {
			break
		}
		tag := rn.tags[rn.byName[k]]
		v.stream.Tags = append(v.stream.Tags, tag)
		v.stream.TagStart = append(v.stream.TagStart, uint32(rows))
		rep.PerTag[tag] = n
	}
	if rows >= math.MaxUint32 || segEntries >= math.MaxUint32 {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "The file has more than %d distinct identifiers or segment memberships.", math.MaxUint32-1).
			Hint("Split the file over several data sources.")
	}
	v.stream.Rows, v.stream.SegEntries = rows, segEntries
	v.stream.WriteFPs, v.stream.WriteSegOff, v.stream.WriteSegs = src.writeFPs, src.writeSegOff, src.writeSegs
	rep.PerSegment = make(map[string]int64, len(v.stream.Segments))
	for i, id := range v.stream.Segments {
		var c int64
		for _, counts := range perSeg {
			if counts != nil {
				c += counts[i]
			}
		}
		rep.PerSegment[id] = c
	}
	rep.Duplicates = rep.RowsAccepted - rows
	return v, nil
}

// finalSorter returns the task sorter of goroutine g for the final merge: its lists are those of
// the last run, and its own pool holds the lists read from the runs and the unions.
func (s *sorter) finalSorter(last *memSource, g int) *taskSorter {
	lists := &segLists{}
	if last != nil {
		lists = last.lists
	}
	return &taskSorter{masks: s.rn.masks, lists: lists, pool: len(lists.pools) + g}
}

// mergeTask gathers task i's records from every run's part (read into buf, returned grown) and
// from the last run, and returns them sorted and deduplicated (valid until ts is used again).
func (s *sorter) mergeTask(ts *taskSorter, last *memSource, i int, buf []byte) ([]rec, []byte, error) {
	ts.a = ts.a[:0]
	for _, r := range s.runs {
		p := r.parts[i]
		if p.path == "" {
			continue
		}
		var err error
		if buf, err = readPart(p, s.key, buf); err != nil {
			return nil, buf, err
		}
		if err := ts.decode(buf); err != nil {
			return nil, buf, err
		}
	}
	if last != nil {
		ts.gather(last.tasks[i])
	}
	if len(ts.a) == 0 {
		return nil, buf, nil
	}
	return ts.sorted(), buf, nil
}

// readPart returns the plaintext of a part, read into buf.
func readPart(p part, key, buf []byte) ([]byte, error) {
	f, err := os.Open(p.path)
	if err != nil {
		return buf, fmt.Errorf("ingest: spill: %w", err)
	}
	defer f.Close()
	r, err := sealed.NewReader(io.NewSectionReader(f, p.off, p.size), key)
	if err != nil {
		return buf, fmt.Errorf("ingest: spill: %w", err)
	}
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, max(64<<10, cap(buf)))
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, fmt.Errorf("ingest: spill: %w", err)
		}
	}
}

// decode appends the records of a part's plaintext to the gathered records; their segment
// lists, when not bitmasks, go to the sorter's own pool.
func (ts *taskSorter) decode(b []byte) error {
	if ts.masks {
		if len(b)%int(recSize) != 0 {
			return errSpillCorrupt
		}
		n := len(b) / int(recSize)
		ts.a = slices.Grow(ts.a, n)
		copy(recBytes(ts.a[len(ts.a):len(ts.a)+n]), b)
		ts.a = ts.a[:len(ts.a)+n]
		return nil
	}
	if len(ts.mine) == 0 {
		ts.mine = append(ts.mine, 0) // offset 0 is the empty list
	}
	for len(b) > 0 {
		if len(b) < 17 {
			return errSpillCorrupt
		}
		r := rec{fp: identity.Fingerprint(b)}
		x, n := binary.Uvarint(b[16:])
		if n <= 0 {
			return errSpillCorrupt
		}
		b = b[16+n:]
		if ts.masks {
			r.segs = x
		} else if x > 0 {
			if x > MaxSegments {
				return errSpillCorrupt
			}
			off := len(ts.mine)
			ts.mine = append(ts.mine, uint32(x))
			for range x {
				i, k := binary.Uvarint(b)
				if k <= 0 || i >= MaxSegments {
					return errSpillCorrupt
				}
				b = b[k:]
				ts.mine = append(ts.mine, uint32(i))
			}
			r.segs = listRef(ts.pool, off)
		}
		ts.a = append(ts.a, r)
	}
	return nil
}

// set is a segment set in a spill file: a bitmask when the taxonomy has at most 64 segments,
// otherwise a sorted list of indices.
type set struct {
	mask uint64
	list []uint32
}

// size returns the number of segments in the set.
func (x set) size() int {
	if x.list != nil {
		return len(x.list)
	}
	return bits.OnesCount64(x.mask)
}

// set returns the segment set of r.
func (ts *taskSorter) set(r *rec) set {
	if ts.masks {
		return set{mask: r.segs}
	}
	l := ts.list(r.segs)
	if l == nil {
		l = []uint32{}
	}
	return set{list: l}
}

// encoder writes spill records through a buffer.
type encoder struct {
	w   io.Writer
	buf []byte
}

// record writes a fingerprint with its segment set.
func (e *encoder) record(fp *identity.Fingerprint, x set) error {
	if err := e.raw(fp[:]); err != nil {
		return err
	}
	return e.set(x)
}

// raw writes b as it is.
func (e *encoder) raw(b []byte) error {
	if len(e.buf)+len(b) > cap(e.buf) {
		if err := e.flush(); err != nil {
			return err
		}
	}
	e.buf = append(e.buf, b...)
	return nil
}

// set writes a segment set: a bitmask as a uvarint, or a list as its length and its indices, as
// uvarints.
func (e *encoder) set(x set) error {
	if len(e.buf)+binary.MaxVarintLen32*(len(x.list)+2) > cap(e.buf) {
		if err := e.flush(); err != nil {
			return err
		}
	}
	e.buf = appendSet(e.buf, x)
	return nil
}

// appendSet appends the encoding of a segment set to b.
func appendSet(b []byte, x set) []byte {
	if x.list == nil {
		return binary.AppendUvarint(b, x.mask)
	}
	b = binary.AppendUvarint(b, uint64(len(x.list)))
	for _, i := range x.list {
		b = binary.AppendUvarint(b, uint64(i))
	}
	return b
}

func (e *encoder) flush() error {
	_, err := e.w.Write(e.buf)
	e.buf = e.buf[:0]
	return err
}

// recBytes returns the memory of records as bytes: the form in which a run's records go to disk
// when their segment sets are bitmasks. The files are read back only by this process, so the
// layout and byte order of rec in memory are the format.
func recBytes(a []rec) []byte {
	if len(a) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&a[0])), len(a)*int(recSize))
}

// errSpillCorrupt reports a spill file that does not decode: a bug, or the disk.
var errSpillCorrupt = errors.New("ingest: spill file damaged")

// source writes the arrays of a version: from memory or from the merged files.
type source interface {
	writeFPs(w io.Writer) error
	writeSegOff(w io.Writer) error
	writeSegs(w io.Writer) error
}

// mergedTask is one task's share of a merged version: its sizes and segment counts.
type mergedTask struct {
	rows, segEntries int64
}

// mergeSource is a version merged from the runs as it is written. Finishing the ingest counts
// each merged task (mergeFinal), so that the version's header can give its sizes; writing the
// fingerprints merges the tasks again and streams them straight into the version, while each
// row's number of segments (a uvarint) and the segment indices (little-endian uint32, as the
// version stores them) go to two temporary files, read back for the version's last two arrays.
// The merge thus runs while the version is on its way to disk, and the fingerprints, the bulk
// of the version, are never written to a temporary file.
type mergeSource struct {
	s     *sorter
	ctx   context.Context // the context of the write under way
	last  *memSource      // the last run, in memory (nil if it was empty)
	order []int           // the tasks that have records, in the version's order
	tasks []mergedTask
	// counts and segs are the temporary parts, once the first write of the fingerprints has
	// made them.
	counts, segs part
	written      bool
}

// taskOut is a merged task: its numbers, and with them (when asked for) its arrays.
type taskOut struct {
	rows, segEntries  int64
	fps, counts, segs []byte
	perSeg            []int64
	err               error
}

// mergeTasks merges each task of tasks (its parts in every run, and its records in the last
// run, sorted together in memory), in parallel on every core, and hands the merged tasks to emit
// in order, on the calling goroutine. With arrays, a merged task carries the fingerprints, the
// segment counts and the segment indices it adds to the version; without, only its numbers. At
// most 2n merged tasks are in memory at a time.
func (s *sorter) mergeTasks(ctx context.Context, last *memSource, tasks []int, arrays bool, emit func(task int, out *taskOut) error) error {
	nseg := s.rn.tax.Len()
	// A goroutine takes a token before a task and emit's loop gives it back after emitting it.
	outs := make([]chan taskOut, len(tasks))
	for i := range outs {
		outs[i] = make(chan taskOut, 1)
	}
	tokens := make(chan struct{}, 2*s.n)
	stop := make(chan struct{})
	var next atomic.Int64
	var wg sync.WaitGroup
	for g := range s.n {
		wg.Go(func() {
			ts, buf := s.finalSorter(last, g), []byte(nil)
			for {
				select {
				case tokens <- struct{}{}:
				case <-stop:
					return
				}
				k := int(next.Add(1) - 1)
				if k >= len(tasks) {
					return
				}
				var out taskOut
				if out.err = ctx.Err(); out.err == nil {
					var a []rec
					a, buf, out.err = s.mergeTask(ts, last, tasks[k], buf)
					out.rows = int64(len(a))
					out.perSeg = make([]int64, nseg)
					if arrays {
						out.fps = make([]byte, 0, 16*len(a))
						out.counts = make([]byte, 0, len(a)+16)
					}
					for i := range a {
						x := ts.set(&a[i])
						out.segEntries += int64(x.size())
						if arrays {
							out.fps = append(out.fps, a[i].fp[:]...)
							out.counts = binary.AppendUvarint(out.counts, uint64(x.size()))
						}
						for _, j := range x.list {
							if arrays {
								out.segs = binary.LittleEndian.AppendUint32(out.segs, j)
							}
							out.perSeg[j]++
						}
						for mask := x.mask; mask != 0; mask &= mask - 1 {
							j := bits.TrailingZeros64(mask)
							if arrays {
								out.segs = binary.LittleEndian.AppendUint32(out.segs, uint32(j))
							}
							out.perSeg[j]++
						}
					}
				}
				ts.reset()
				outs[k] <- out
			}
		})
	}
	err := func() error {
		for k, task := range tasks {
			out := <-outs[k]
			<-tokens
			if out.err != nil {
				return out.err
			}
			if err := emit(task, &out); err != nil {
				return err
			}
		}
		return nil
	}()
	close(stop)
	wg.Wait()
	return err
}

// mergeFinal counts what merging the runs and the last run (in memory) makes of each task, and
// completes the report; the version's arrays are merged again as they are written.
func (s *sorter) mergeFinal(ctx context.Context, rep *Report, last *memSource) (*Version, error) {
	rn := s.rn
	src := &mergeSource{s: s, last: last, tasks: make([]mergedTask, s.tasks())}
	for i := range s.tasks() {
		has := last != nil && len(last.tasks[i]) > 0
		for _, r := range s.runs {
			has = has || r.parts[i].path != ""
		}
		if has {
			src.order = append(src.order, i)
		}
	}
	perSeg := make([]int64, rn.tax.Len())
	err := s.mergeTasks(ctx, last, src.order, false, func(task int, out *taskOut) error {
		src.tasks[task] = mergedTask{rows: out.rows, segEntries: out.segEntries}
		for j, n := range out.perSeg {
			perSeg[j] += n
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	perTag := make([]int64, len(rn.tags))
	var segEntries int64
	for i := range src.tasks {
		perTag[i/256] += src.tasks[i].rows
		segEntries += src.tasks[i].segEntries
	}
	return s.version(rep, perTag, segEntries, [][]int64{perSeg}, src)
}

// writeFPs merges the tasks again and writes their fingerprints to w; the first time, it also
// writes the segment counts and indices to their temporary files.
func (m *mergeSource) writeFPs(w io.Writer) error {
	ctx := m.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	keep := !m.written
	var mu sync.Mutex
	var files [2]*spillFile
	var pw [2]*partWriter
	if keep {
		for i, kind := range []string{"counts", "segs"} {
			files[i] = &spillFile{s: m.s, mu: &mu, kind: kind}
			defer files[i].close()
			var err error
			if pw[i], err = files[i].begin(); err != nil {
				return err
			}
		}
	}
	err := m.s.mergeTasks(ctx, m.last, m.order, true, func(task int, out *taskOut) error {
		if t := m.tasks[task]; out.rows != t.rows || out.segEntries != t.segEntries {
			return errSpillCorrupt // the runs changed since they were counted
		}
		if _, err := w.Write(out.fps); err != nil {
			return err
		}
		if keep {
			for i, b := range [][]byte{out.counts, out.segs} {
				if err := pw[i].write(b); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil || !keep {
		return err
	}
	for i, p := range []*part{&m.counts, &m.segs} {
		if *p, err = pw[i].end(); err != nil {
			return err
		}
	}
	for _, f := range files {
		if err := f.close(); err != nil {
			return err
		}
	}
	m.written = true
	return nil
}

// readAll streams the plaintext of part p to fn in pieces.
func (m *mergeSource) readAll(p part, fn func(b []byte) error) error {
	f, err := os.Open(p.path)
	if err != nil {
		return fmt.Errorf("ingest: spill: %w", err)
	}
	defer f.Close()
	r, err := sealed.NewReader(io.NewSectionReader(f, p.off, p.size), m.s.key)
	if err != nil {
		return fmt.Errorf("ingest: spill: %w", err)
	}
	buf := make([]byte, 256<<10)
	for {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			if err := fn(buf[:n]); err != nil {
				return err
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("ingest: spill: %w", err)
		}
	}
}

func (m *mergeSource) writeSegOff(w io.Writer) error {
	if !m.written {
		return errors.New("ingest: the fingerprints of a merged version are written first")
	}
	return pipeline(w, func(out *pipeWriter) error {
		var off uint32
		var rows int64
		var carry []byte // a uvarint cut between two pieces
		err := m.readAll(m.counts, func(b []byte) error {
			if len(carry) > 0 {
				b = append(carry, b...)
				carry = nil
			}
			for len(b) > 0 {
				if b[0] < 0x80 { // the common case: fewer than 128 segments
					if err := out.u32(off); err != nil {
						return err
					}
					off += uint32(b[0])
					b = b[1:]
					rows++
					continue
				}
				x, n := binary.Uvarint(b)
				if n == 0 {
					carry = append([]byte(nil), b...)
					return nil
				}
				if n < 0 {
					return errSpillCorrupt
				}
				if err := out.u32(off); err != nil {
					return err
				}
				off += uint32(x)
				b = b[n:]
				rows++
			}
			return nil
		})
		if err != nil {
			return err
		}
		var want int64
		for _, t := range m.tasks {
			want += t.rows
		}
		if rows != want || len(carry) > 0 {
			return errSpillCorrupt
		}
		return out.u32(off)
	})
}

func (m *mergeSource) writeSegs(w io.Writer) error {
	if !m.written {
		return errors.New("ingest: the fingerprints of a merged version are written first")
	}
	return pipeline(w, func(out *pipeWriter) error {
		return m.readAll(m.segs, func(b []byte) error {
			_, err := out.Write(b)
			return err
		})
	})
}

// pipeWriter hands the bytes written to it to pipeline's writer in buffers.
type pipeWriter struct {
	buf  []byte
	full chan<- []byte
	free <-chan []byte
	stop <-chan struct{}
}

var errPipeStopped = errors.New("ingest: pipeline stopped")

// Write buffers p.
func (p *pipeWriter) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		if len(p.buf) == cap(p.buf) {
			if err := p.send(); err != nil {
				return n - len(b), err
			}
		}
		k := copy(p.buf[len(p.buf):cap(p.buf)], b)
		p.buf = p.buf[:len(p.buf)+k]
		b = b[k:]
	}
	return n, nil
}

// raw buffers b, which is shorter than a buffer.
func (p *pipeWriter) raw(b []byte) error {
	if len(p.buf)+len(b) > cap(p.buf) {
		if err := p.send(); err != nil {
			return err
		}
	}
	p.buf = append(p.buf, b...)
	return nil
}

// u32 buffers x, little-endian.
func (p *pipeWriter) u32(x uint32) error {
	if len(p.buf)+4 > cap(p.buf) {
		if err := p.send(); err != nil {
			return err
		}
	}
	p.buf = binary.LittleEndian.AppendUint32(p.buf, x)
	return nil
}

// send hands the buffer over and takes a free one.
func (p *pipeWriter) send() error {
	if len(p.buf) > 0 {
		select {
		case p.full <- p.buf:
		case <-p.stop:
			return errPipeStopped
		}
	}
	select {
	case b := <-p.free:
		p.buf = b[:0]
	case <-p.stop:
		return errPipeStopped
	}
	return nil
}

// pipeline runs produce in a goroutine, writing into buffers that are written to w here, so that
// producing (decrypting, decoding) and w (encrypting) run on two cores.
func pipeline(w io.Writer, produce func(out *pipeWriter) error) error {
	const bufSize, nbuf = 256 << 10, 4
	full := make(chan []byte, nbuf)
	free := make(chan []byte, nbuf)
	for range nbuf - 1 {
		free <- make([]byte, 0, bufSize)
	}
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		out := &pipeWriter{buf: make([]byte, 0, bufSize), full: full, free: free, stop: stop}
		err := produce(out)
		if err == nil && len(out.buf) > 0 {
			select {
			case full <- out.buf:
			case <-stop:
			}
		}
		close(full)
		done <- err
	}()
	var werr error
	for b := range full {
		if werr == nil {
			if _, werr = w.Write(b); werr != nil {
				close(stop)
			}
		}
		if werr == nil {
			free <- b
		}
	}
	if err := <-done; err != nil && err != errPipeStopped {
		return err
	}
	return werr
}

// Version is an advertiser data source version made by Advertiser: sorted and deduplicated,
// held in memory or, for a file beyond the memory budget, in encrypted temporary files, until
// it is written. Close it when done with it.
type Version struct {
	stream vault.AdvertiserStream
	src    source
	dir    string // the spill directory, removed by Close
}

// Rows returns the number of rows of the version: unique identifiers over all types.
func (v *Version) Rows() int64 { return v.stream.Rows }

// Tags returns the version's identifier types, sorted by name.
func (v *Version) Tags() []identity.Tag { return slices.Clone(v.stream.Tags) }

// Spilled reports whether the version was merged from spill files.
func (v *Version) Spilled() bool { _, ok := v.src.(*mergeSource); return ok }

// Write encrypts the version under dataKey and stores it at key (a file of kind
// vault.KindAdvertiser, read by vault.OpenAdvertiser), streaming: the version is never whole in
// memory. It returns the number of bytes stored, and may be called again.
func (v *Version) Write(ctx context.Context, blobs cleanroom.BlobStore, key string, dataKey []byte) (int64, error) {
	if m, ok := v.src.(*mergeSource); ok {
		m.ctx = ctx
		defer func() { m.ctx = nil }()
	}
	return v.stream.Write(ctx, blobs, key, dataKey)
}

// Close removes the version's temporary files, if it has any.
func (v *Version) Close() error {
	if v.dir == "" {
		return nil
	}
	err := os.RemoveAll(v.dir)
	v.dir = ""
	return err
}
