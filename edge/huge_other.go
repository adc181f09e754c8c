//go:build !linux

package edge

// makeLarge returns make([]T, n); on Linux it also advises huge pages.
func makeLarge[T any](n int) []T { return make([]T, n) }
