package pubsync

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// Sync reads a publisher's bulk profile file from r and builds a new publisher version from it:
// one user per accepted row, numbered in file order, with the row's identifiers fingerprinted
// into the identity index, its cohorts (from tax) as bitmaps and its country. The file format,
// the handling of bad rows and the pipeline are described in the package documentation.
//
// Sync streams r in blocks and never holds the whole input. It returns the version (not yet
// written: call its Write), and a report of what was read. It fails, with a nil version, when r
// cannot be read, the header is wrong, more than opt.MaxErrorRate of the rows have errors, or
// ctx is cancelled; the report is returned whenever the input could be parsed.
func Sync(ctx context.Context, r io.Reader, tax *Taxonomy, opt Options) (*vault.PublisherVersion, *Report, error) {
	start := time.Now()
	cfg, err := opt.prepare()
	if err != nil {
		return nil, nil, err
	}
	if tax == nil {
		return nil, nil, errors.New("pubsync: Sync needs a taxonomy (an empty one if the publisher has no cohorts)")
	}
	s := &syncer{cfg: cfg, tax: tax, report: &Report{}, tagState: make([]int8, len(cfg.regTags))}
	s.members = make([]*roaring.Bitmap, tax.Len())
	for i := range s.members {
		s.members[i] = roaring.New()
	}
	if err := s.parse(ctx, r); err != nil {
		return nil, nil, err
	}
	s.progress("users")
	v, err := s.assemble(ctx)
	s.report.Duration = time.Since(start)
	if err != nil {
		if cleanroom.ErrorCode(err) == cleanroom.EINVALID {
			return nil, s.report, err
		}
		return nil, nil, err
	}
	s.progress("done")
	return v, s.report, nil
}

// syncer holds the state of one Sync.
type syncer struct {
	cfg    *config
	tax    *Taxonomy
	lay    layout
	report *Report
	input  *countingReader

	blocks   []*blockResult // committed blocks, in file order
	preUsers uint64         // users committed so far, duplicates included
	lineBase int64          // lines before the next block
	decBytes int64
	errs     errorList
	tagState []int8            // per registry tag: 0 not seen, 1 accepted, -1 rejected (too many types)
	accepted []int             // accepted registry tags in the order first seen
	members  []*roaring.Bitmap // per cohort, over pre-ordinals (duplicates not yet removed)
	ordBuf   []uint32
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (s *syncer) progress(phase string) {
	if s.cfg.Progress != nil {
		s.cfg.Progress(Progress{Phase: phase, Bytes: s.input.n.Load(), Rows: s.report.Rows, Users: int64(s.preUsers)})
	}
}

// parse reads the header, then runs the block pipeline on cfg.Workers goroutines, each of
// which in turn takes the next block from the input (under a lock, so blocks are cut in order),
// parses it, and commits whatever blocks are ready in file order (under another lock). There are
// no other goroutines: with as many goroutines as processors, none is preempted or moved to
// another core, where its caches would be cold.
func (s *syncer) parse(ctx context.Context, r io.Reader) error {
	s.input = &countingReader{r: r}
	br := bufio.NewReaderSize(s.input, 64<<10)
	var src io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return cleanroom.Errorf(cleanroom.EINVALID, "The file starts like gzip but cannot be decompressed.").Wrap(err)
		}
		src = zr
		s.report.Gzip = true
	}
	hr := bufio.NewReaderSize(src, s.cfg.MaxLineBytes+16)
	if err := s.header(hr); err != nil {
		return err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	in := &blockSource{r: hr, size: s.cfg.blockSize}
	var (
		commitMu sync.Mutex
		pending  = map[int]*blockResult{}
		next     int
	)
	ar := newArenas()
	var wg sync.WaitGroup
	for range s.cfg.Workers {
		w := newWorker(s.cfg, s.lay, s.tax, ar)
		wg.Go(func() {
			var buf []byte
			for ctx.Err() == nil {
				b, err := in.next(buf)
				if err != nil {
					cancel(err)
					return
				}
				if b == nil {
					return // end of input
				}
				res := w.parse(b)
				buf = b.data[:0]
				commitMu.Lock()
				pending[res.seq] = res
				for ctx.Err() == nil && pending[next] != nil {
					c := pending[next]
					delete(pending, next)
					next++
					if err := s.commit(c); err != nil {
						cancel(err)
						break
					}
					s.progress("parse")
				}
				commitMu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	s.report.Bytes = s.input.n.Load()
	s.report.DecompressedBytes += s.decBytes
	return nil
}

// blockSource cuts the input into blocks of about size bytes ending at line ends. A line longer
// than a whole block is skipped and stands for itself as a longLine block.
type blockSource struct {
	mu    sync.Mutex
	r     *bufio.Reader
	size  int
	carry []byte // the start of a line that the previous block cut
	seq   int
	eof   bool
}

// next returns the next block, reading into buf (allocated if too small), or nil at the end of
// the input.
func (in *blockSource) next(buf []byte) (*block, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for !in.eof {
		if cap(buf) < in.size {
			buf = make([]byte, 0, in.size)
		}
		buf = append(buf[:0], in.carry...)
		n, err := io.ReadFull(in.r, buf[len(buf):in.size])
		buf = buf[:len(buf)+n]
		in.eof = errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		if err != nil && !in.eof {
			return nil, cleanroom.Errorf(cleanroom.EINVALID, "The file could not be read to its end.").Wrap(err)
		}
		seq := in.seq
		if in.eof {
			if len(buf) == 0 {
				return nil, nil
			}
			in.seq++
			return &block{seq: seq, data: buf}, nil
		}
		in.seq++
		last := bytes.LastIndexByte(buf, '\n')
		if last < 0 {
			// One line fills the whole block: skip to its end.
			in.carry = in.carry[:0]
			if err := skipLine(in.r); err != nil {
				if !errors.Is(err, io.EOF) {
					return nil, cleanroom.Errorf(cleanroom.EINVALID, "The file could not be read to its end.").Wrap(err)
				}
				in.eof = true
			}
			return &block{seq: seq, data: buf[:0], longLine: true}, nil
		}
		in.carry = append(in.carry[:0], buf[last+1:]...)
		return &block{seq: seq, data: buf[:last+1]}, nil
	}
	return nil, nil
}

// header reads the header line (after any blank lines and a byte order mark) and sets the
// layout.
func (s *syncer) header(r *bufio.Reader) error {
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return cleanroom.Errorf(cleanroom.EINVALID, "The first line is longer than %d bytes, so it is not the header.", s.cfg.MaxLineBytes).
				Hint("Start the file with the header line user_id<TAB>country<TAB>identifiers<TAB>cohorts.")
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("pubsync: read: %w", err)
		}
		s.lineBase++
		s.report.DecompressedBytes += int64(len(line))
		if s.lineBase == 1 {
			line = bytes.TrimPrefix(line, utf8BOM)
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(trimSpace(line)) == 0 {
			if err == io.EOF {
				return cleanroom.Errorf(cleanroom.EINVALID, "The file is empty.").
					Hint("Start the file with the header line user_id<TAB>country<TAB>identifiers<TAB>cohorts, then one line per user.")
			}
			continue
		}
		names, csv, herr := readHeader(line)
		if herr != nil {
			return herr
		}
		s.lay = layout{csv: csv, ncols: len(names)}
		for i := range s.lay.col {
			s.lay.col[i] = -1
		}
		for i, n := range names {
			found := false
			for c, want := range profileColumnNames {
				if n == want {
					s.lay.col[c], found = i, true
				}
			}
			if !found {
				s.report.IgnoredColumns = append(s.report.IgnoredColumns, truncate(n, 40))
			}
		}
		if s.lay.col[colUser] < 0 {
			return cleanroom.Errorf(cleanroom.EINVALID, "The header does not name a user_id column.").
				Hint("Start the file with the header line user_id<TAB>country<TAB>identifiers<TAB>cohorts (or the same names separated by commas).")
		}
		s.report.Format = "tsv"
		if csv {
			s.report.Format = "csv"
		}
		return nil
	}
}

// truncate shortens s to at most n bytes for a report.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "..."
}

// skipLine reads r up to and including the next line end.
func skipLine(r *bufio.Reader) error {
	for {
		_, err := r.ReadSlice('\n')
		if !errors.Is(err, bufio.ErrBufferFull) {
			return err
		}
	}
}

// commit takes the next block in file order: it numbers its users and lines, decides which
// identifier types are accepted, adds its memberships to the cohort bitmaps and collects its
// errors.
func (s *syncer) commit(b *blockResult) error {
	users := uint64(b.users)
	if s.preUsers+users > MaxUsers {
		return cleanroom.Errorf(cleanroom.EINVALID, "The file has more than %d users, the most a version can hold.", uint64(MaxUsers))
	}
	b.base = uint32(s.preUsers)
	s.preUsers += users
	b.firstLine = s.lineBase + 1
	s.lineBase += int64(b.lines)
	s.decBytes += int64(b.bytes)
	s.report.Rows += b.rows
	s.report.RowsWithErrors += b.errRows
	s.report.RejectedRows += b.rows - int64(users)
	// Identifier types, in the order this block first uses them.
	slices.SortFunc(b.tags, func(x, y blockTag) int { return int(x.firstLine) - int(y.firstLine) })
	var tooMany []RowError
	kept := b.tags[:0]
	for _, bt := range b.tags {
		if s.tagState[bt.tag] == 0 {
			if len(s.accepted) < s.cfg.MaxTypes {
				s.tagState[bt.tag] = 1
				s.accepted = append(s.accepted, bt.tag)
			} else {
				s.tagState[bt.tag] = -1
			}
		}
		if s.tagState[bt.tag] > 0 {
			kept = append(kept, bt)
			continue
		}
		if b.errs.rejected == nil {
			b.errs.rejected = map[string]int64{}
		}
		b.errs.rejected[ReasonTooManyTypes] += int64(len(bt.recs))
		msg := fmt.Sprintf("%s identifiers are dropped: the publisher already uses %d identifier types (%s), the limit",
			s.cfg.regTags[bt.tag], s.cfg.MaxTypes, s.acceptedNames())
		for _, l := range bt.lines {
			tooMany = append(tooMany, RowError{Line: int64(l), Reason: ReasonTooManyTypes, Message: msg,
				Hint: fmt.Sprintf("Leave this identifier type out, or ask the operator to raise the limit of %d identifier types per publisher.", s.cfg.MaxTypes)})
		}
	}
	b.tags = kept
	// Cohort memberships, over pre-ordinals.
	for i, c := range b.cohIDs {
		us := b.cohUsers[b.cohOff[i]:b.cohOff[i+1]]
		s.ordBuf = s.ordBuf[:0]
		for _, u := range us {
			s.ordBuf = append(s.ordBuf, b.base+u)
		}
		s.members[c].AddMany(s.ordBuf)
	}
	b.cohIDs, b.cohOff, b.cohUsers = nil, nil, nil
	// Errors, in line order.
	all := b.errs.first
	if len(tooMany) > 0 {
		all = append(slices.Clone(all), tooMany...)
		slices.SortStableFunc(all, func(x, y RowError) int { return int(x.Line - y.Line) })
	}
	for _, e := range all {
		e.Line += b.firstLine
		if len(s.errs.first) < maxListedErrors {
			s.errs.first = append(s.errs.first, e)
		}
	}
	if s.errs.rejected == nil {
		s.errs.rejected = map[string]int64{}
	}
	for k, n := range b.errs.rejected {
		s.errs.rejected[k] += n
	}
	b.errs = errorList{}
	s.blocks = append(s.blocks, b)
	return nil
}

// acceptedNames lists the accepted identifier types.
func (s *syncer) acceptedNames() string {
	names := make([]string, len(s.accepted))
	for i, t := range s.accepted {
		names[i] = string(s.cfg.regTags[t])
	}
	return strings.Join(names, ", ")
}

// lineOf returns the file line of pre-ordinal p.
func (s *syncer) lineOf(p uint32) int64 {
	// The last block whose base is at most p holds p (blocks without users share their base
	// with the next block, so they are never the last).
	i := searchInts(len(s.blocks), func(i int) bool { return s.blocks[i].base > p }) - 1
	b := s.blocks[i]
	rel := p - b.base
	for _, sk := range b.skipped {
		if sk <= rel {
			rel++
		} else {
			break
		}
	}
	return b.firstLine + int64(rel)
}

// searchInts returns the smallest i in [0, n) for which f is true (f is false, then true), or n;
// sort.Search without the function value escaping.
func searchInts(n int, f func(int) bool) int {
	lo, hi := 0, n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if !f(m) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// tagsByName returns the accepted registry tags sorted by name, the order of the version.
func (s *syncer) tagsByName() []int {
	out := slices.Clone(s.accepted)
	slices.SortFunc(out, func(a, b int) int { return strings.Compare(string(s.cfg.regTags[a]), string(s.cfg.regTags[b])) })
	return out
}
