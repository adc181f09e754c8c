package pubsync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/rows"
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
	input  *rows.Reader

	blocks   []*blockResult // committed blocks, in file order
	preUsers uint64         // users committed so far, duplicates included
	errs     errorList
	tagState []int8            // per registry tag: 0 not seen, 1 accepted, -1 rejected (too many types)
	accepted []int             // accepted registry tags in the order first seen
	members  []*roaring.Bitmap // per cohort, over pre-ordinals (duplicates not yet removed)
	ordBuf   []uint32
	attrs    []syncAttr // per engagement attribute, over pre-ordinals
}

func (s *syncer) progress(phase string) {
	if s.cfg.Progress != nil {
		s.cfg.Progress(Progress{Phase: phase, Bytes: s.input.InputBytes(), Rows: s.report.Rows, Users: int64(s.preUsers)})
	}
}

// parse reads the header, then runs the block pipeline on cfg.Workers goroutines, each of
// which in turn takes the next block from the input (under a lock, so blocks are cut in order),
// parses it, and commits whatever blocks are ready in file order (under another lock). There are
// no other goroutines: with as many goroutines as processors, none is preempted or moved to
// another core, where its caches would be cold.
func (s *syncer) parse(ctx context.Context, r io.Reader) error {
	rd, err := rows.NewReader(r, rows.Options{Limits: s.cfg.Limits, MaxLineBytes: s.cfg.MaxLineBytes})
	if err != nil {
		return err
	}
	s.input = rd
	s.report.Gzip = rd.Gzip()
	defer rd.Wipe()
	in := &blockSource{rd: rd, size: s.cfg.blockSize}
	first, err := s.header(in)
	if err != nil {
		return err
	}
	in.first = first
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

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
				buf = b.Buf()
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
	s.report.Bytes = rd.InputBytes()
	s.report.DecompressedBytes = rd.Bytes()
	return nil
}

// blockSource hands out the blocks of the input in order, to workers that take turns. The first
// block, which held the header, is read before the workers start.
type blockSource struct {
	mu    sync.Mutex
	rd    *rows.Reader
	size  int
	first *rows.Block
	seq   int
}

// next returns the next block, reading into buf (allocated if too small), or nil at the end of
// the input.
func (in *blockSource) next(buf []byte) (*block, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.first != nil {
		b := &block{Block: *in.first, seq: in.seq}
		in.first = nil
		in.seq++
		return b, nil
	}
	if in.rd.Done() {
		return nil, nil
	}
	if cap(buf) < in.size {
		buf = make([]byte, in.size)
	}
	blk, err := in.rd.Next(buf[:in.size])
	if err == io.EOF {
		return nil, nil
	}
	if err != nil {
		if cleanroom.ErrorCode(err) == cleanroom.EINTERNAL {
			return nil, cleanroom.Errorf(cleanroom.EINVALID, "The file could not be read to its end.").Wrap(err)
		}
		return nil, err
	}
	b := &block{Block: blk, seq: in.seq}
	in.seq++
	return b, nil
}

// header reads the header line (after any blank lines) and sets the layout. It returns the block
// that held it, with the lines up to the header taken off.
func (s *syncer) header(in *blockSource) (*rows.Block, error) {
	empty := cleanroom.Errorf(cleanroom.EINVALID, "The file is empty.").
		Hint("Start the file with the header line user_id<TAB>country<TAB>identifiers<TAB>cohorts, then one line per user.")
	for {
		b, err := in.next(nil)
		if err != nil {
			return nil, err
		}
		if b == nil {
			return nil, empty
		}
		for l, ok := b.Next(); ok; l, ok = b.Next() {
			if l.Bad() {
				return nil, cleanroom.Errorf(cleanroom.EINVALID, "The first line is longer than %d bytes, so it is not the header.", s.cfg.MaxLineBytes).
					Hint("Start the file with the header line user_id<TAB>country<TAB>identifiers<TAB>cohorts.")
			}
			if rows.Blank(l.Text) {
				continue
			}
			if err := s.readLayout(l.Text); err != nil {
				return nil, err
			}
			in.seq = 0 // the block goes to the workers first
			return &b.Block, nil
		}
		in.seq = 0
	}
}

// readLayout sets the layout from the header line.
func (s *syncer) readLayout(line []byte) error {
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
		if a, ok, err := parseAttrColumn(n, i); err != nil {
			return err
		} else if ok {
			if err := s.lay.addAttrColumn(a); err != nil {
				return err
			}
			found = true
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

// truncate shortens s to at most n bytes for a report.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "..."
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
	s.commitAttributes(b)
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
