package ingest

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"errors"
	"io"

	"github.com/cleanroom-oss/cleanroom"
)

// block is a run of whole lines of the upload, handed to one worker.
type block struct {
	buf       []byte // the pool buffer that holds data
	data      []byte // whole lines; the last may lack its line end at the end of the file
	firstLine int64  // the line number of data's first line
	// longLine marks a line longer than a whole block, skipped by the reader: data is empty
	// and the line is firstLine.
	longLine bool
}

// blockReader cuts a stream into blocks of whole lines and numbers them.
type blockReader struct {
	src      io.Reader
	carry    []byte // the start of a line that did not fit in the last block
	line     int64  // the number of the next line
	eof      bool
	skipping bool // discarding the rest of a line longer than a block
	gzip     bool // the stream is gzip-compressed
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// newBlockReader returns a reader of the lines of r, decompressing r if it starts with the
// gzip magic bytes.
func newBlockReader(r io.Reader) (*blockReader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	src, gz := io.Reader(br), false
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, gzipError(err)
		}
		src, gz = zr, true
	}
	return &blockReader{src: src, line: 1, gzip: gz}, nil
}

// next fills buf with the next block. It returns io.EOF after the last block, and an EINVALID
// error for a damaged gzip stream.
func (br *blockReader) next(buf []byte) (block, error) {
	n := copy(buf, br.carry)
	br.carry = br.carry[:0]
	for {
		for n < len(buf) && !br.eof {
			m, err := br.src.Read(buf[n:])
			n += m
			if err == io.EOF {
				br.eof = true
			} else if err != nil {
				if br.gzip {
					err = gzipError(err)
				}
				return block{}, err
			}
		}
		if br.skipping {
			i := bytes.IndexByte(buf[:n], '\n')
			if i < 0 {
				if br.eof {
					br.skipping = false
					return block{}, io.EOF
				}
				n = 0
				continue
			}
			br.skipping = false
			n = copy(buf, buf[i+1:n])
			continue
		}
		if n == 0 {
			return block{}, io.EOF
		}
		end := bytes.LastIndexByte(buf[:n], '\n') + 1
		if end == 0 && !br.eof {
			// One line fills the whole buffer: report it and skip to its end.
			br.skipping = true
			b := block{buf: buf, firstLine: br.line, longLine: true}
			br.line++
			clear(buf[:n])
			return b, nil
		}
		if br.eof {
			end = n
		}
		br.carry = append(br.carry, buf[end:n]...)
		b := block{buf: buf, data: buf[:end], firstLine: br.line}
		br.line += int64(bytes.Count(b.data, []byte{'\n'}))
		return b, nil
	}
}

// done reports whether next has nothing left to return.
func (br *blockReader) done() bool { return br.eof && len(br.carry) == 0 }

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

// buffers hands out the block buffers that circulate between the reader and the workers: at
// most n of them, allocated as needed, the first one small so that a small upload costs little
// memory. get is called by one goroutine at a time; put by any.
type buffers struct {
	free      chan []byte
	all       [][]byte
	n         int
	size      int // of every buffer but the first
	firstSize int
}

func newBuffers(n, size, firstSize int) *buffers {
	return &buffers{free: make(chan []byte, n), n: n, size: size, firstSize: min(size, firstSize)}
}

// get returns a free buffer, waiting for one when n are in use; nil if ctx is done first.
func (p *buffers) get(ctx context.Context) []byte {
	select {
	case b := <-p.free:
		return b
	default:
	}
	if len(p.all) < p.n {
		size := p.size
		if len(p.all) == 0 {
			size = p.firstSize
		}
		b := make([]byte, size)
		p.all = append(p.all, b)
		return b
	}
	select {
	case b := <-p.free:
		return b
	case <-ctx.Done():
		return nil
	}
}

// put returns a buffer to the pool.
func (p *buffers) put(b []byte) { p.free <- b }

// wipe clears every buffer, so that no upload bytes stay behind in memory that is about to be
// garbage. No buffer may be in use.
func (p *buffers) wipe() {
	for _, b := range p.all {
		clear(b)
	}
}
