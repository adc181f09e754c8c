package synth

import (
	"bytes"
	"compress/gzip"
	"io"
	"runtime"
	"sync"
)

// WriteOptions control the streaming writers.
type WriteOptions struct {
	// Gzip compresses the output. Chunks are compressed in parallel as separate gzip members;
	// their concatenation is one valid gzip file (RFC 1952), which gzip, zcat and Go's
	// gzip.Reader read whole.
	Gzip bool
	// Workers is the number of goroutines generating chunks (0: GOMAXPROCS).
	Workers int
	// Progress, if set, is called from the writing goroutine after each chunk with the number
	// of rows written so far.
	Progress func(rows int64)
	// Engagement adds the engagement attribute columns to a publisher profile file
	// (ProfileHeaderEngagement; see Universe.Engagement).
	Engagement bool
}

func (o *WriteOptions) workers() int {
	if o.Workers > 0 {
		return o.Workers
	}
	return runtime.GOMAXPROCS(0)
}

// chunk is a generated piece of output.
type chunk struct {
	data []byte
	rows int64
	info any // per-chunk statistics, merged by the writer
}

// bufferPool recycles chunk buffers (*[]byte).
var bufferPool = sync.Pool{New: func() any { return new([]byte) }}

func getBuffer() []byte { return (*bufferPool.Get().(*[]byte))[:0] }

func putBuffer(b []byte) { bufferPool.Put(&b) }

var gzipPool = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	return w
}}

// compress returns data as one gzip member, releasing data.
func compress(data []byte) []byte {
	out := bytes.NewBuffer(getBuffer())
	zw := gzipPool.Get().(*gzip.Writer)
	zw.Reset(out)
	zw.Write(data) // writes to a bytes.Buffer do not fail
	zw.Close()
	gzipPool.Put(zw)
	putBuffer(data)
	return out.Bytes()
}

// writeChunked generates chunks 0, 1, ... in parallel with gen (which appends a chunk's lines to
// buf and returns it with their count and statistics) and writes them to w in order, so the
// output is the same whatever the number of workers. jobs yields the chunk descriptions in
// order. merge, if set, receives each chunk's statistics in order. It returns the number of rows
// written.
func writeChunked[J any](w io.Writer, opts WriteOptions, jobs func(yield func(J) bool),
	gen func(job J, buf []byte) (out []byte, rows int64, info any), merge func(info any)) (int64, error) {
	var total int64
	err := pipeline(opts.workers(), jobs, func(job J) chunk {
		buf, rows, info := gen(job, getBuffer())
		if opts.Gzip {
			buf = compress(buf)
		}
		return chunk{buf, rows, info}
	}, func(c chunk) error {
		_, err := w.Write(c.data)
		putBuffer(c.data)
		if err != nil {
			return err
		}
		total += c.rows
		if merge != nil {
			merge(c.info)
		}
		if opts.Progress != nil {
			opts.Progress(total)
		}
		return nil
	})
	return total, err
}

// pipeline runs work on each job from jobs on the given number of goroutines and calls consume
// with the results in job order, from the calling goroutine. At most 2×workers results wait at
// once. It stops at the first error from consume and returns it.
func pipeline[J, R any](workers int, jobs func(yield func(J) bool), work func(J) R, consume func(R) error) error {
	type task struct {
		job J
		out chan R
	}
	done := make(chan struct{})
	order := make(chan chan R, 2*workers)
	tasks := make(chan task)
	go func() {
		defer close(order)
		defer close(tasks)
		jobs(func(j J) bool {
			select {
			case <-done:
				return false
			default:
			}
			out := make(chan R, 1)
			select {
			case order <- out:
			case <-done:
				return false
			}
			select {
			case tasks <- task{j, out}:
				return true
			case <-done:
				return false
			}
		})
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for t := range tasks {
				t.out <- work(t.job)
			}
		})
	}
	var err error
	for out := range order {
		if err != nil {
			continue // drain; some results will never come
		}
		if err = consume(<-out); err != nil {
			close(done)
		}
	}
	wg.Wait()
	return err
}

// span is a range [lo, hi) of users or persons.
type span struct{ lo, hi int }

// spans yields [0, n) in pieces of size at most size; for n = 0, one empty piece, so that
// headers are written and a gzip file is valid.
func spans(n, size int) func(yield func(span) bool) {
	return func(yield func(span) bool) {
		if n == 0 {
			yield(span{})
			return
		}
		for lo := 0; lo < n; lo += size {
			if !yield(span{lo, min(lo+size, n)}) {
				return
			}
		}
	}
}
