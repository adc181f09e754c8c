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

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/identity"
	"github.com/cleanroom-oss/cleanroom/sealed"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// Spilling. The workers' records are grouped by tag and the leading 4 bits of their
// fingerprint: a group's records are contiguous in the version, so each group is sorted,
// spilled and merged on its own, in parallel. A spill writes one file per group (a run of that
// group): its records sorted and deduplicated, each as the 16 bytes of its fingerprint, the
// number of its segments and their indices (uvarints). The final merge of a group's runs writes
// two files: the fingerprints, as they go into the version, and the segment lists. Every file is
// sealed (package sealed) under a key made for the ingest and never stored: no file ever holds
// an identifier, and the files are unreadable once the process is gone.
const (
	groupBits  = 4
	groupsPerT = 1 << groupBits // groups per tag
	// spillChunk is the chunk size of the sealed spill files.
	spillChunk = 64 << 10
	// tempPrefix starts the name of every ingest's directory of spill files.
	tempPrefix = "ingest-"
)

// maxFanIn is the most runs merged at once; more runs are first merged into fewer. A merge holds
// a buffer and a sealed reader per run, about 200 KiB. (A variable, so that tests can lower it.)
var maxFanIn = 64

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

// spillRun is one sorted run: per group, the part that holds its records.
type spillRun struct {
	parts []part
}

// paths returns the files of the run.
func (r *spillRun) paths() []string {
	var out []string
	for _, p := range r.parts {
		if p.path != "" && !slices.Contains(out, p.path) {
			out = append(out, p.path)
		}
	}
	return out
}

func newSorter(rn *run, opt Options) *sorter {
	return &sorter{rn: rn, budget: opt.MemoryBudget, n: opt.Workers, tempDir: opt.TempDir, chunks: &chunkPool{}}
}

// groups returns the number of groups.
func (s *sorter) groups() int { return len(s.rn.tags) * groupsPerT }

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
	pw.encoder = newEncoder(sw)
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
	var groups []int
	for g := range s.groups() {
		t := s.rn.byName[g/groupsPerT]
		for _, w := range ws {
			if w.parts[t] != nil && slices.ContainsFunc(w.parts[t][(g%groupsPerT)<<(8-groupBits):][:1<<(8-groupBits)],
				func(l recList) bool { return l.n > 0 }) {
				groups = append(groups, g)
				break
			}
		}
	}
	if len(groups) == 0 {
		return nil
	}
	run := &spillRun{parts: make([]part, s.groups())}
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
			if k >= len(groups) {
				return
			}
			if errs[i] = ctx.Err(); errs[i] != nil {
				return
			}
			g := groups[k]
			pw, err := out.begin()
			if err != nil {
				errs[i] = err
				return
			}
			t := s.rn.byName[g/groupsPerT]
			lo := (g % groupsPerT) << (8 - groupBits)
			for b := lo; b < lo+1<<(8-groupBits) && err == nil; b++ {
				s.takeTask(ws, ts, t, b)
				for _, r := range ts.sorted() {
					if err = pw.record(&r.fp, ts.set(&r)); err != nil {
						break
					}
				}
				ts.reset()
			}
			if err == nil {
				run.parts[g], err = pw.end()
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
// nothing was spilled, otherwise by spilling the rest and merging the runs.
func (s *sorter) finish(ctx context.Context, ws []*worker, rep *Report) (*Version, error) {
	if len(s.runs) == 0 {
		return s.inMemory(ws, rep)
	}
	if err := s.spill(ctx, ws); err != nil {
		return nil, err
	}
	for len(s.runs) > maxFanIn {
		merged, err := s.mergeRuns(ctx, s.runs[:maxFanIn])
		if err != nil {
			return nil, err
		}
		s.runs = append([]*spillRun{merged}, s.runs[maxFanIn:]...)
		if spillHook != nil {
			spillHook(merged, s.key)
		}
	}
	rep.SpilledRuns = len(s.runs)
	return s.mergeFinal(ctx, rep)
}

// inMemory sorts and deduplicates every task in memory, in parallel; the version is written
// from the records themselves.
func (s *sorter) inMemory(ws []*worker, rep *Report) (*Version, error) {
	rn := s.rn
	ntask := len(rn.tags) * 256
	src := &memSource{masks: rn.masks, tasks: make([][][]rec, ntask)}
	uniq := make([]int64, ntask)
	nsegs := make([]int64, ntask)
	perSeg := make([][]int64, s.n)
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
	perTag := make([]int64, len(rn.tags))
	var segEntries int64
	for i := range ntask {
		perTag[i/256] += uniq[i]
		segEntries += nsegs[i]
	}
	return s.version(rep, perTag, segEntries, perSeg, src)
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
	s.dir = "" // the version owns it now
	return v, nil
}

// mergeRuns merges runs into one run on disk, group by group, and removes their files.
func (s *sorter) mergeRuns(ctx context.Context, runs []*spillRun) (*spillRun, error) {
	out := &spillRun{parts: make([]part, s.groups())}
	var fileMu sync.Mutex
	files := make([]*spillFile, s.n)
	for i := range files {
		files[i] = &spillFile{s: s, mu: &fileMu, kind: "run"}
	}
	err := s.eachGroup(ctx, runs, func(i, g int, in []*decoder) error {
		pw, err := files[i].begin()
		if err != nil {
			return err
		}
		if err := merge(in, s.rn.masks, pw.record); err != nil {
			return err
		}
		out.parts[g], err = pw.end()
		return err
	})
	for _, f := range files {
		if cerr := f.close(); err == nil {
			err = cerr
		}
	}
	return out, err
}

// mergeFinal merges the runs into the version's parts, group by group, and completes the report.
// A group's parts hold its share of the version's fingerprints as they are written, and its
// rows' segment sets, from which Write makes the offsets and the indices.
func (s *sorter) mergeFinal(ctx context.Context, rep *Report) (*Version, error) {
	rn := s.rn
	src := &fileSource{key: s.key, masks: rn.masks, groups: make([]mergedGroup, s.groups())}
	var fileMu sync.Mutex
	files := make([][2]*spillFile, s.n)
	for i := range files {
		for k, kind := range []string{"fps", "sets"} {
			files[i][k] = &spillFile{s: s, mu: &fileMu, kind: kind}
		}
	}
	perSeg := make([][]int64, s.n)
	err := s.eachGroup(ctx, s.runs, func(i, g int, in []*decoder) error {
		out := &src.groups[g]
		if perSeg[i] == nil {
			perSeg[i] = make([]int64, rn.tax.Len())
		}
		counts := perSeg[i]
		var pw [2]*partWriter
		for k := range pw {
			var err error
			if pw[k], err = files[i][k].begin(); err != nil {
				return err
			}
		}
		fps, sets := pw[0], pw[1]
		err := merge(in, rn.masks, func(fp *identity.Fingerprint, x set) error {
			out.rows++
			for _, j := range x.list {
				counts[j]++
			}
			for m := x.mask; m != 0; m &= m - 1 {
				counts[bits.TrailingZeros64(m)]++
			}
			out.segEntries += int64(x.size())
			if err := fps.raw(fp[:]); err != nil {
				return err
			}
			return sets.set(x)
		})
		if err != nil {
			return err
		}
		for k, p := range []*part{&out.fps, &out.sets} {
			if *p, err = pw[k].end(); err != nil {
				return err
			}
		}
		return nil
	})
	for i := range files {
		for _, f := range files[i] {
			if cerr := f.close(); err == nil {
				err = cerr
			}
		}
	}
	if err != nil {
		return nil, err
	}
	perTag := make([]int64, len(rn.tags))
	var segEntries int64
	for g := range src.groups {
		perTag[g/groupsPerT] += src.groups[g].rows
		segEntries += src.groups[g].segEntries
	}
	return s.version(rep, perTag, segEntries, perSeg, src)
}

// eachGroup calls fn for every group with a record in runs, in parallel on s.n goroutines (i is
// the goroutine's number), with decoders of the group's parts in the runs. The runs' files are
// removed at the end.
func (s *sorter) eachGroup(ctx context.Context, runs []*spillRun, fn func(i, g int, in []*decoder) error) error {
	var next atomic.Int64
	errs := make([]error, s.n)
	parallel(s.n, func(i int) {
		var pool []*decoder
		for errs[i] == nil {
			g := int(next.Add(1) - 1)
			if g >= s.groups() {
				return
			}
			if errs[i] = ctx.Err(); errs[i] != nil {
				return
			}
			var in []*decoder
			for _, r := range runs {
				if r.parts[g].path == "" {
					continue
				}
				if len(pool) == len(in) {
					pool = append(pool, &decoder{buf: make([]byte, 64<<10)})
				}
				d := pool[len(in)]
				if errs[i] = d.open(r.parts[g], s.key); errs[i] != nil {
					break
				}
				in = append(in, d)
			}
			if errs[i] == nil && len(in) > 0 {
				errs[i] = fn(i, g, in)
			}
			for _, d := range in {
				d.close()
			}
		}
	})
	for _, r := range runs {
		for _, p := range r.paths() {
			os.Remove(p)
		}
	}
	return errors.Join(errs...)
}

// merge merges the sorted, deduplicated runs in, calling emit for each fingerprint in order
// with the union of its segment sets.
func merge(in []*decoder, masks bool, emit func(fp *identity.Fingerprint, x set) error) error {
	// A binary min-heap of the runs by their current fingerprint, with the fingerprint's halves
	// in the heap itself, so that comparisons touch one array.
	type head struct {
		hi, lo uint64
		d      *decoder
	}
	h := make([]head, 0, len(in))
	for _, d := range in {
		d.masks = masks
		ok, err := d.next()
		if err != nil {
			return err
		}
		if ok {
			h = append(h, head{d.hi, d.lo, d})
		}
	}
	down := func(i int) {
		n := len(h)
		x := h[i]
		for {
			l := 2*i + 1
			if l >= n {
				break
			}
			m := l
			if r := l + 1; r < n && (h[r].hi < h[l].hi || h[r].hi == h[l].hi && h[r].lo < h[l].lo) {
				m = r
			}
			if !(h[m].hi < x.hi || h[m].hi == x.hi && h[m].lo < x.lo) {
				break
			}
			h[i] = h[m]
			i = m
		}
		h[i] = x
	}
	for i := len(h)/2 - 1; i >= 0; i-- {
		down(i)
	}
	union := make([]uint32, 0, 16) // never nil: a nil list is a bitmask
	for len(h) > 0 {
		top := h[0].d
		hi, lo := h[0].hi, h[0].lo
		fp := top.fp
		x := top.set
		if !masks {
			union = append(union[:0], x.list...) // a copy: next overwrites top's list
			x.list = union
		}
		dup := false
		for {
			// Advance the run on top; the next top may hold the same fingerprint.
			ok, err := top.next()
			if err != nil {
				return err
			}
			if ok {
				h[0].hi, h[0].lo = top.hi, top.lo
			} else {
				h[0] = h[len(h)-1]
				h = h[:len(h)-1]
			}
			if len(h) > 1 {
				down(0)
			}
			if len(h) == 0 || h[0].hi != hi || h[0].lo != lo {
				break
			}
			top = h[0].d
			x.mask |= top.mask
			if !masks {
				x.list = append(x.list, top.list...)
				dup = true
			}
		}
		if dup {
			slices.Sort(x.list)
			x.list = slices.Compact(x.list)
			union = x.list
		}
		if err := emit(&fp, x); err != nil {
			return err
		}
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

func newEncoder(w io.Writer) *encoder { return &encoder{w: w, buf: make([]byte, 0, 32<<10)} }

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

// u32 writes x, little-endian.
func (e *encoder) u32(x uint32) error {
	if len(e.buf)+4 > cap(e.buf) {
		if err := e.flush(); err != nil {
			return err
		}
	}
	e.buf = binary.LittleEndian.AppendUint32(e.buf, x)
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
	if x.list == nil {
		e.buf = binary.AppendUvarint(e.buf, x.mask)
		return nil
	}
	e.buf = binary.AppendUvarint(e.buf, uint64(len(x.list)))
	for _, i := range x.list {
		e.buf = binary.AppendUvarint(e.buf, uint64(i))
	}
	return nil
}

func (e *encoder) flush() error {
	_, err := e.w.Write(e.buf)
	e.buf = e.buf[:0]
	return err
}

// errSpillCorrupt reports a spill file that does not decode: a bug, or the disk.
var errSpillCorrupt = errors.New("ingest: spill file damaged")

// decoder reads a part of a spill file: records, a fingerprint and its segment set (a bitmask
// when masks is set), or with noFP segment sets alone.
type decoder struct {
	f        *os.File
	src      io.Reader
	buf      []byte
	pos, end int
	eof      bool
	masks    bool
	noFP     bool

	// The current record.
	fp     identity.Fingerprint
	hi, lo uint64
	set
}

// open starts reading a part.
func (d *decoder) open(p part, key []byte) error {
	f, err := os.Open(p.path)
	if err != nil {
		return fmt.Errorf("ingest: spill: %w", err)
	}
	r, err := sealed.NewReader(io.NewSectionReader(f, p.off, p.size), key)
	if err != nil {
		f.Close()
		return fmt.Errorf("ingest: spill: %w", err)
	}
	d.f, d.src, d.pos, d.end, d.eof = f, r, 0, 0, false
	return nil
}

func (d *decoder) close() {
	if d.f != nil {
		d.f.Close()
		d.f, d.src = nil, nil
	}
}

// fill makes at least n bytes available if the file has them, and reports how many are.
func (d *decoder) fill(n int) (int, error) {
	if d.end-d.pos >= n || d.eof {
		return d.end - d.pos, nil
	}
	copy(d.buf, d.buf[d.pos:d.end])
	d.end -= d.pos
	d.pos = 0
	if n > len(d.buf) {
		nb := make([]byte, max(n, 2*len(d.buf)))
		copy(nb, d.buf[:d.end])
		d.buf = nb
	}
	for d.end < n && !d.eof {
		m, err := d.src.Read(d.buf[d.end:])
		d.end += m
		if err == io.EOF {
			d.eof = true
		} else if err != nil {
			return 0, fmt.Errorf("ingest: spill: %w", err)
		}
	}
	return d.end - d.pos, nil
}

// next reads the next record, reporting false at the end of the part.
func (d *decoder) next() (bool, error) {
	const most = len(identity.Fingerprint{}) + binary.MaxVarintLen64
	avail := d.end - d.pos
	if avail < most && !d.eof {
		var err error
		if avail, err = d.fill(most); err != nil {
			return false, err
		}
	}
	if avail == 0 {
		return false, nil
	}
	b := d.buf[d.pos:d.end]
	if !d.noFP {
		if len(b) < len(d.fp) {
			return false, errSpillCorrupt
		}
		d.fp = identity.Fingerprint(b)
		d.hi, d.lo = binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:16])
		b = b[16:]
		d.pos += 16
	}
	x, n := binary.Uvarint(b)
	if n <= 0 {
		return false, errSpillCorrupt
	}
	d.pos += n
	if d.masks {
		d.mask = x
		return true, nil
	}
	if x > MaxSegments {
		return false, errSpillCorrupt
	}
	if _, err := d.fill(int(x) * binary.MaxVarintLen32); err != nil {
		return false, err
	}
	d.list = d.list[:0]
	if d.list == nil {
		d.list = []uint32{}
	}
	for range x {
		i, k := binary.Uvarint(d.buf[d.pos:d.end])
		if k <= 0 || i >= MaxSegments {
			return false, errSpillCorrupt
		}
		d.pos += k
		d.list = append(d.list, uint32(i))
	}
	return true, nil
}

// source writes the arrays of a version: from memory or from the merged files.
type source interface {
	writeFPs(w io.Writer) error
	writeSegOff(w io.Writer) error
	writeSegs(w io.Writer) error
}

// mergedGroup is one group's share of a merged version: its parts and sizes.
type mergedGroup struct {
	fps, sets        part
	rows, segEntries int64
}

// fileSource is a version merged into files, group by group.
type fileSource struct {
	key    []byte
	masks  bool
	groups []mergedGroup // in the version's order; empty groups have no parts
}

func (s *fileSource) writeFPs(w io.Writer) error {
	return pipeline(w, func(out *pipeWriter) error {
		for _, g := range s.groups {
			if g.fps.path == "" {
				continue
			}
			f, err := os.Open(g.fps.path)
			if err != nil {
				return fmt.Errorf("ingest: spill: %w", err)
			}
			r, err := sealed.NewReader(io.NewSectionReader(f, g.fps.off, g.fps.size), s.key)
			var n int64
			if err == nil {
				n, err = r.WriteTo(out)
			}
			f.Close()
			if err == nil && n != 16*g.rows {
				err = errSpillCorrupt
			}
			if err != nil {
				return fmt.Errorf("ingest: spill: %w", err)
			}
		}
		return nil
	})
}

// eachSet calls fn with every row's segment set, in order.
func (s *fileSource) eachSet(fn func(x set) error) error {
	d := &decoder{buf: make([]byte, 64<<10), noFP: true, masks: s.masks}
	for _, g := range s.groups {
		if g.sets.path == "" {
			continue
		}
		if err := d.open(g.sets, s.key); err != nil {
			return err
		}
		var rows int64
		for {
			ok, err := d.next()
			if err == nil && ok {
				rows++
				err = fn(d.set)
			}
			if err != nil {
				d.close()
				return err
			}
			if !ok {
				break
			}
		}
		d.close()
		if rows != g.rows {
			return errSpillCorrupt
		}
	}
	return nil
}

func (s *fileSource) writeSegOff(w io.Writer) error {
	return pipeline(w, func(out *pipeWriter) error {
		var off uint32
		err := s.eachSet(func(x set) error {
			err := out.u32(off)
			off += uint32(x.size())
			return err
		})
		if err != nil {
			return err
		}
		return out.u32(off)
	})
}

func (s *fileSource) writeSegs(w io.Writer) error {
	return pipeline(w, func(out *pipeWriter) error {
		return s.eachSet(func(x set) error {
			for _, i := range x.list {
				if err := out.u32(i); err != nil {
					return err
				}
			}
			for m := x.mask; m != 0; m &= m - 1 {
				if err := out.u32(uint32(bits.TrailingZeros64(m))); err != nil {
					return err
				}
			}
			return nil
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
func (v *Version) Spilled() bool { _, ok := v.src.(*fileSource); return ok }

// Write encrypts the version under dataKey and stores it at key (a file of kind
// vault.KindAdvertiser, read by vault.OpenAdvertiser), streaming: the version is never whole in
// memory. It returns the number of bytes stored, and may be called again.
func (v *Version) Write(ctx context.Context, blobs cleanroom.BlobStore, key string, dataKey []byte) (int64, error) {
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
