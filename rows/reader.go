package rows

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"errors"
	"io"
	"sync/atomic"
	"unicode/utf8"

	"github.com/cleanroom-oss/cleanroom"
)

// DefaultMaxLineBytes is the longest line accepted when Options.MaxLineBytes is 0.
const DefaultMaxLineBytes = 64 << 10

// Options configure a Reader.
type Options struct {
	// Limits bound the file's decompressed size and lines.
	Limits
	// MaxLineBytes is the longest line accepted, its line end excluded (0: DefaultMaxLineBytes).
	// A longer line is skipped without being held: its Line has no text and says so.
	MaxLineBytes int
	// RequireUTF8 flags lines that are not valid UTF-8.
	RequireUTF8 bool
}

// Reader reads a file as lines: in blocks of whole lines for parallel parsers ([Reader.Next]),
// or one line ([Reader.Line]) or record ([Reader.Record]) at a time. It is not safe for
// concurrent use, except for [Reader.InputBytes].
type Reader struct {
	in     countingReader
	src    io.Reader // decompressed, at most MaxBytes+1 bytes
	gzip   bool
	lim    Limits
	checks checks

	carry    []byte // the start of a line that did not fit in the last block
	line     int64  // the number of the next line
	n        int64  // decompressed bytes read
	started  bool   // the first bytes were read (and a byte order mark dropped)
	eof      bool
	skipping bool // discarding the rest of a line longer than a block
	err      error

	// Sequential reading.
	cur  Block
	sbuf []byte
}

// checks are what a Block needs to judge its lines.
type checks struct {
	maxLine int
	utf8    bool
	tooLong Error
}

// countingReader counts the bytes read through it; the count may be read concurrently.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// utf8BOM is the byte order mark some programs write at the start of a UTF-8 file.
var utf8BOM = []byte{0xef, 0xbb, 0xbf}

// NewReader returns a reader of the lines of r, decompressing r if it starts with the gzip magic
// bytes. A damaged gzip header is an EINVALID error.
func NewReader(r io.Reader, opt Options) (*Reader, error) {
	if opt.MaxLineBytes <= 0 {
		opt.MaxLineBytes = DefaultMaxLineBytes
	}
	rd := &Reader{lim: opt.Limits.withDefaults(), line: 1,
		checks: checks{maxLine: opt.MaxLineBytes, utf8: opt.RequireUTF8, tooLong: lineTooLong(opt.MaxLineBytes)}}
	rd.in.r = r
	br := bufio.NewReaderSize(&rd.in, 64<<10)
	src := io.Reader(br)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, gzipError(err)
		}
		src, rd.gzip = zr, true
	}
	rd.src = io.LimitReader(src, rd.lim.MaxBytes+1)
	return rd, nil
}

// Gzip reports whether the file is gzip-compressed.
func (r *Reader) Gzip() bool { return r.gzip }

// InputBytes returns the number of bytes read from the file as given (compressed if it is
// gzipped). It may be called from any goroutine.
func (r *Reader) InputBytes() int64 { return r.in.n.Load() }

// Bytes returns the number of decompressed bytes read.
func (r *Reader) Bytes() int64 { return r.n }

// MaxLineBytes returns the line limit.
func (r *Reader) MaxLineBytes() int { return r.checks.maxLine }

// MinBlock is the smallest buffer Next accepts: a line at the limit with its CRLF fits in it.
func (r *Reader) MinBlock() int { return r.checks.maxLine + 2 }

// Done reports whether Next has nothing left to return.
func (r *Reader) Done() bool { return r.err != nil || (r.eof && len(r.carry) == 0 && !r.skipping) }

// Next fills buf (which must hold at least MinBlock bytes) with the next lines of the file and
// returns them as a block. It returns io.EOF after the last block, and an EINVALID error for a
// damaged gzip stream or a file beyond the Limits; errors are sticky. The block's lines are
// valid until buf is reused.
func (r *Reader) Next(buf []byte) (Block, error) {
	if r.err != nil {
		return Block{}, r.err
	}
	if len(buf) < r.MinBlock() {
		panic("rows: Next: buffer shorter than MinBlock")
	}
	n := copy(buf, r.carry)
	r.carry = r.carry[:0]
	for {
		for n < len(buf) && !r.eof {
			m, err := r.src.Read(buf[n:])
			n += m
			r.n += int64(m)
			if r.n > r.lim.MaxBytes {
				return Block{}, r.fail(tooManyBytes(r.lim.MaxBytes))
			}
			if err == io.EOF {
				r.eof = true
			} else if err != nil {
				if r.gzip {
					err = gzipError(err)
				}
				return Block{}, r.fail(err)
			}
		}
		if !r.started {
			r.started = true
			if bytes.HasPrefix(buf[:n], utf8BOM) {
				n = copy(buf, buf[len(utf8BOM):n])
				continue
			}
		}
		if r.skipping {
			i := bytes.IndexByte(buf[:n], '\n')
			if i < 0 {
				if r.eof {
					r.skipping = false
					return Block{}, io.EOF
				}
				n = 0
				continue
			}
			r.skipping = false
			n = copy(buf, buf[i+1:n])
			continue
		}
		if n == 0 {
			return Block{}, io.EOF
		}
		end := bytes.LastIndexByte(buf[:n], '\n') + 1
		if end == 0 && !r.eof {
			// One line fills the whole buffer: report it and skip to its end.
			r.skipping = true
			clear(buf[:n])
			b := Block{buf: buf, first: r.line, next: r.line, lines: 1, long: true, c: &r.checks}
			return b, r.count(1)
		}
		if r.eof {
			end = n
		}
		r.carry = append(r.carry, buf[end:n]...)
		data := buf[:end]
		lines := int64(bytes.Count(data, []byte{'\n'}))
		if data[end-1] != '\n' {
			lines++ // the last line of the file, without a line end
		}
		b := Block{buf: buf, data: data, first: r.line, next: r.line, lines: lines, size: end, c: &r.checks}
		return b, r.count(lines)
	}
}

// count adds lines to the lines read and checks the limit.
func (r *Reader) count(lines int64) error {
	r.line += lines
	if r.line-1 > r.lim.MaxRows {
		return r.fail(tooManyRows(r.lim.MaxRows))
	}
	return nil
}

// fail makes err sticky.
func (r *Reader) fail(err error) error {
	r.err = err
	return err
}

// Line returns the next line of the file, for sequential reading (not to be mixed with Next).
// It returns io.EOF after the last line and the errors of Next. The line's text is valid until
// the next call.
func (r *Reader) Line() (Line, error) {
	for {
		if l, ok := r.cur.Next(); ok {
			return l, nil
		}
		if r.err != nil {
			return Line{}, r.err
		}
		if r.sbuf == nil {
			r.sbuf = make([]byte, max(64<<10, 2*r.MinBlock()))
		}
		b, err := r.Next(r.sbuf)
		if err != nil {
			return Line{}, err
		}
		r.cur = b
	}
}

// Wipe clears the reader's own buffers, so that no bytes of the file stay behind in memory
// that is about to become garbage. The reader must not be used afterwards.
func (r *Reader) Wipe() {
	clear(r.carry[:cap(r.carry)])
	clear(r.sbuf)
}

// gzipError classifies an error reading a gzip stream: a damaged stream is the user's problem,
// anything else is the system's.
func gzipError(err error) error {
	var corrupt flate.CorruptInputError
	if errors.Is(err, gzip.ErrHeader) || errors.Is(err, gzip.ErrChecksum) || errors.As(err, &corrupt) ||
		errors.Is(err, io.ErrUnexpectedEOF) {
		return cleanroom.Errorf(cleanroom.EINVALID, "The file is not a valid gzip file, or it is truncated.").
			Hint("Compress the file again with gzip, or upload it uncompressed.").Wrap(err)
	}
	return err
}

// Block is a run of whole lines of a file, numbered. Its Next method hands them out one by one.
type Block struct {
	buf         []byte // the buffer given to Reader.Next
	data        []byte // the lines not handed out yet
	first, next int64  // the numbers of the block's first line and of the next line
	lines       int64
	size        int
	long        bool // the block stands for one line longer than a block, skipped
	c           *checks
}

// Buf returns the buffer the block is in, to be reused once its lines are parsed.
func (b *Block) Buf() []byte { return b.buf }

// FirstLine returns the number of the block's first line.
func (b *Block) FirstLine() int64 { return b.first }

// Lines returns the number of lines in the block.
func (b *Block) Lines() int64 { return b.lines }

// Size returns the number of bytes of the file in the block, line ends included (0 for a line
// too long to hold).
func (b *Block) Size() int { return b.size }

// Next returns the block's next line, and false when there is none left. Blank lines are
// returned too; see [Blank].
func (b *Block) Next() (Line, bool) {
	if b.long {
		b.long = false
		b.next++
		return Line{No: b.first, problem: &b.c.tooLong}, true
	}
	if len(b.data) == 0 {
		return Line{}, false
	}
	var ln []byte
	if i := bytes.IndexByte(b.data, '\n'); i >= 0 {
		ln, b.data = b.data[:i], b.data[i+1:]
	} else {
		ln, b.data = b.data, nil
	}
	no := b.next
	b.next++
	if n := len(ln); n > 0 && ln[n-1] == '\r' {
		ln = ln[:n-1]
	}
	if len(ln) > b.c.maxLine {
		return Line{No: no, problem: &b.c.tooLong}, true
	}
	if b.c.utf8 && !utf8.Valid(ln) {
		return Line{No: no, problem: &badUTF8}, true
	}
	return Line{No: no, Text: ln}, true
}

// Line is one line of a file.
type Line struct {
	// No is the line's 1-based number in the decompressed file.
	No int64
	// Text is the line without its line end (LF or CRLF); nil when the line is bad.
	Text    []byte
	problem *Error
}

// Bad reports whether the line is unusable as a whole: longer than the limit, or not UTF-8
// when the reader requires it. Err says which.
func (l Line) Bad() bool { return l.problem != nil }

// Err returns the row error of a bad line.
func (l Line) Err() Error {
	if l.problem == nil {
		return Error{}
	}
	return l.problem.At(l.No)
}

// Blank reports whether b holds nothing but spaces and tabs.
func Blank(b []byte) bool { return len(TrimSpace(b)) == 0 }

// TrimSpace trims ASCII spaces and tabs from both ends of b.
func TrimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}
