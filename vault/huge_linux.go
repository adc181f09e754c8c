package vault

import (
	"syscall"
	"unsafe"
)

// hugePage is the size of a transparent huge page on amd64 and arm64 Linux.
const hugePage = 2 << 20

// MakeLarge returns make([]T, n), and for large arrays asks the kernel to back the memory with
// transparent huge pages (madvise MADV_HUGEPAGE) before it is first touched. Where the system
// leaves huge pages to madvise, this divides the number of page faults by 512; in the virtual
// machines this was measured on, first touching fresh memory cost 3 s per GiB with 4 KiB pages
// and under 2 s with huge pages. The advice is a hint: errors are ignored.
func MakeLarge[T any](n int) []T {
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
		start := unsafe.Add(base, lo-p)
		syscall.Madvise(unsafe.Slice((*byte)(start), hi-lo), 14) // MADV_HUGEPAGE
	}
	return s
}
