//go:build linux

package edge

import (
	"syscall"
	"unsafe"
)

// hugePage is the size of a transparent huge page on amd64 and arm64 Linux.
const hugePage = 2 << 20

// makeLarge returns make([]T, n), and for large arrays asks the kernel to back the memory with
// transparent huge pages (madvise MADV_HUGEPAGE) before it is first touched: fewer page faults
// while building, fewer TLB misses while looking up. The same helper as pubsync's (unexported
// there); the advice is a hint, errors are ignored.
func makeLarge[T any](n int) []T {
	s := make([]T, n)
	var zero T
	size := uintptr(n) * unsafe.Sizeof(zero)
	if size < 4*hugePage {
		return s
	}
	base := unsafe.Pointer(unsafe.SliceData(s))
	p := uintptr(base)
	lo := (p + hugePage - 1) &^ (hugePage - 1)
	hi := (p + size) &^ (hugePage - 1)
	if hi > lo {
		syscall.Madvise(unsafe.Slice((*byte)(unsafe.Add(base, lo-p)), hi-lo), 14) // MADV_HUGEPAGE
	}
	return s
}
