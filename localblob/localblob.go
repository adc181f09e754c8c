// Package localblob implements cleanroom.BlobStore on a local directory. Writes go to a temporary
// file in the target's directory, are fsynced and renamed into place, and the directory is
// fsynced, so a crash leaves either the old file or the new one, plus perhaps a half-written
// temporary file, which Open removes.
package localblob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/cleanroom-oss/cleanroom"
)

// Dir is a blob store rooted at a directory.
type Dir struct {
	root string
}

var (
	_ cleanroom.BlobStore       = (*Dir)(nil)
	_ cleanroom.BlobRangeReader = (*Dir)(nil)
)

// tempPrefix starts the name of every temporary file: no key segment can start with a dot.
const tempPrefix = ".tmp-"

// StaleTemp is how long a temporary file must have gone unchanged for Open to remove it as the
// remains of a crash. A write in progress (another process sharing the directory, an admin
// command run beside the server) changes its file all the time, so it is left alone.
const StaleTemp = 10 * time.Minute

// Open returns the blob store rooted at root, creating the directory (mode 0700) if needed, and
// removes the temporary files that writes interrupted by a crash left behind (those unchanged
// for StaleTemp).
func Open(root string) (*Dir, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("localblob: %w", err)
	}
	// A root that is a symbolic link (a data directory whose blobs/ points at a shared or mounted
	// directory) is resolved, so that walking it (List) descends into the target.
	if r, err := filepath.EvalSymlinks(root); err == nil {
		root = r
	}
	d := &Dir{root: root}
	if _, err := d.RemoveStaleTemp(time.Now().Add(-StaleTemp)); err != nil {
		return nil, err
	}
	return d, nil
}

// RemoveStaleTemp removes the temporary files last changed before cutoff and returns how many it
// removed.
func (d *Dir) RemoveStaleTemp(cutoff time.Time) (int, error) {
	n := 0
	err := filepath.WalkDir(d.root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed meanwhile
			}
			return err
		}
		if e.IsDir() || !strings.HasPrefix(e.Name(), tempPrefix) {
			return nil
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // renamed into place meanwhile
		} else if err != nil {
			return err
		}
		if fi.ModTime().Before(cutoff) {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return n, fmt.Errorf("localblob: remove temporary files: %w", err)
	}
	return n, nil
}

// path checks key and returns its file path.
func (d *Dir) path(key string) (string, error) {
	if err := cleanroom.CheckBlobKey(key); err != nil {
		return "", err
	}
	return filepath.Join(d.root, filepath.FromSlash(key)), nil
}

// Put implements cleanroom.BlobStore.
func (d *Dir) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	p, err := d.path(key)
	if err != nil {
		return 0, err
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, fmt.Errorf("localblob: %w", err)
	}
	f, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return 0, fmt.Errorf("localblob: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	n, err := io.CopyBuffer(&writebackWriter{f: f}, contextReader{ctx, r}, make([]byte, 1<<20))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		return 0, fmt.Errorf("localblob: put %s: %w", key, err)
	}
	return n, nil
}

// Open implements cleanroom.BlobStore.
func (d *Dir) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("localblob: open %s: %w", key, cleanroom.ErrBlobNotFound)
	} else if err != nil {
		return nil, fmt.Errorf("localblob: %w", err)
	}
	return f, nil
}

// OpenRange implements cleanroom.BlobRangeReader.
func (d *Dir) OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	if off < 0 || n < 0 {
		return nil, fmt.Errorf("localblob: open %s: bad range %d+%d", key, off, n)
	}
	rc, err := d.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	f := rc.(*os.File)
	return sectionCloser{io.NewSectionReader(f, off, n), f}, nil
}

// sectionCloser reads a section of a file and closes the file.
type sectionCloser struct {
	*io.SectionReader
	f *os.File
}

func (s sectionCloser) Close() error { return s.f.Close() }

// Stat implements cleanroom.BlobStore.
func (d *Dir) Stat(ctx context.Context, key string) (int64, error) {
	p, err := d.path(key)
	if err != nil {
		return 0, err
	}
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("localblob: stat %s: %w", key, cleanroom.ErrBlobNotFound)
	} else if err != nil {
		return 0, fmt.Errorf("localblob: %w", err)
	}
	return fi.Size(), nil
}

// Delete implements cleanroom.BlobStore.
func (d *Dir) Delete(ctx context.Context, key string) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("localblob: delete %s: %w", key, err)
	}
	return syncDir(filepath.Dir(p))
}

// List implements cleanroom.BlobStore.
func (d *Dir) List(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	err := filepath.WalkDir(d.root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() || strings.HasPrefix(e.Name(), tempPrefix) {
			return nil
		}
		rel, err := filepath.Rel(d.root, p)
		if err != nil {
			return err
		}
		if k := filepath.ToSlash(rel); strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("localblob: list: %w", err)
	}
	sort.Strings(keys)
	return keys, nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	defer f.Close()
	return f.Sync()
}

// contextReader stops a copy when the context ends.
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (c contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
