package ingest

import (
	"context"
)

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
