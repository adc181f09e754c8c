package localblob

import "os"

// writebackStep is how many bytes a write lets pile up in the page cache before it asks the
// kernel to start writing them to disk.
const writebackStep = 8 << 20

// writebackWriter writes to a file and, every writebackStep bytes, starts the kernel writing
// the bytes written so far to disk without waiting for it (startWriteback). A large file is then
// on its way to the disk while the rest of it is produced, and the fsync that ends the write
// waits only for the tail, instead of for the whole file at once: the write of a version takes
// about as long as the disk needs, not that plus the time to produce it.
type writebackWriter struct {
	f         *os.File
	off, done int64 // bytes written; bytes handed to the kernel's writeback
}

func (w *writebackWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.off += int64(n)
	if w.off-w.done >= writebackStep {
		startWriteback(w.f, w.done, w.off-w.done)
		w.done = w.off
	}
	return n, err
}
