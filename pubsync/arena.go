package pubsync

import (
	"sync"

	"github.com/cleanroom-oss/cleanroom/vault"
)

// arena hands out slices carved from large chunks, so that the many per-block arrays of a sync
// are backed by huge pages (see makeLarge) instead of being faulted in 4 KiB at a time. A chunk
// stays alive while any slice of it does; all of them die together at the end of a sync. It is
// safe for concurrent use.
type arena[T any] struct {
	mu    sync.Mutex
	cur   []T
	chunk int // elements per chunk
}

// alloc returns a zeroed slice of n elements.
func (a *arena[T]) alloc(n int) []T {
	if n > a.chunk/8 {
		return vault.MakeLarge[T](n)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.cur) < n {
		a.cur = vault.MakeLarge[T](a.chunk)
	}
	s := a.cur[:n:n]
	a.cur = a.cur[n:]
	return s
}
