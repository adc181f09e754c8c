//go:build !linux

package vault

// MakeLarge returns make([]T, n); on Linux it also advises huge pages.
func MakeLarge[T any](n int) []T { return make([]T, n) }
