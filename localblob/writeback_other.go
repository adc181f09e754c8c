//go:build !linux

package localblob

import "os"

// startWriteback does nothing where sync_file_range does not exist: the fsync at the end of
// the write does all the work.
func startWriteback(f *os.File, off, n int64) {}
