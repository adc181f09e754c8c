package ingest

import (
	"unsafe"
)

// lowerASCII lowercases the ASCII letters of b in place and returns it.
func lowerASCII(b []byte) []byte {
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return b
}

// unsafeString returns b as a string without copying. The string must not outlive the next
// change to b's memory: it is only passed to functions that do not keep it (normalisation and
// fingerprinting of a row, map look-ups).
func unsafeString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}
