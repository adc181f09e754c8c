// Package vault stores bulk identity data: immutable, versioned files of fixed-width arrays
// (sorted fingerprints, ordinals, segment lists, bitmaps), each encrypted with its own data key
// (package sealed) and written through the blob store atomically. A file is a header (its kind,
// a JSON description, and the section table) followed by named sections, each 8-byte aligned, so
// a reader decrypts the file once into memory and then uses the sections in place as typed
// slices, without parsing or copying.
//
// Layout of the plaintext:
//
//	magic   "CRVAULT1"                      8 bytes
//	hlen    uint32, little-endian           4 bytes
//	header  JSON {kind, meta, sections: [{name, offset, length}]}  hlen bytes
//	pad     zero bytes to a multiple of 8
//	data    the sections at their offsets (relative to the start of data), each 8-byte aligned
package vault

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"unsafe"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/sealed"
)

const magic = "CRVAULT1"

// Section is one named array of a file.
type Section struct {
	Name string
	Data []byte
}

type sectionEntry struct {
	Name   string `json:"name"`
	Offset int64  `json:"offset"`
	Length int64  `json:"length"`
}

type header struct {
	Kind     string          `json:"kind"`
	Meta     json.RawMessage `json:"meta,omitempty"`
	Sections []sectionEntry  `json:"sections"`
}

func align8(n int64) int64 { return (n + 7) &^ 7 }

// Write encrypts a file of kind with meta (any JSON-encodable description) and sections under
// dataKey and stores it at key. The blob store makes the write atomic: a reader sees the old file
// or the whole new one.
func Write(ctx context.Context, blobs cleanroom.BlobStore, key string, dataKey []byte, kind string, meta any, sections []Section) (int64, error) {
	streams := make([]StreamSection, len(sections))
	for i, s := range sections {
		streams[i] = StreamSection{Name: s.Name, Size: int64(len(s.Data)), Write: func(w io.Writer) error {
			_, err := w.Write(s.Data)
			return err
		}}
	}
	return WriteStream(ctx, blobs, key, dataKey, kind, meta, streams)
}

// StreamSection is a section whose bytes are not held in memory: Write writes exactly Size
// bytes of it to w, in as many calls as it likes.
type StreamSection struct {
	Name  string
	Size  int64
	Write func(w io.Writer) error
}

// WriteStream is Write for sections produced as they are written, so that a file larger than
// memory can be stored. The layout is the same: the header, which holds every section's size,
// comes first, so the sizes must be known before the first byte. A section that writes more or
// fewer bytes than its Size fails the write, and nothing is stored.
func WriteStream(ctx context.Context, blobs cleanroom.BlobStore, key string, dataKey []byte, kind string, meta any, sections []StreamSection) (int64, error) {
	h := header{Kind: kind}
	if meta != nil {
		m, err := json.Marshal(meta)
		if err != nil {
			return 0, fmt.Errorf("vault: encode meta: %w", err)
		}
		h.Meta = m
	}
	var off int64
	for _, s := range sections {
		h.Sections = append(h.Sections, sectionEntry{Name: s.Name, Offset: off, Length: s.Size})
		off = align8(off + s.Size)
	}
	hb, err := json.Marshal(h)
	if err != nil {
		return 0, fmt.Errorf("vault: encode header: %w", err)
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(writePlain(pw, dataKey, hb, sections))
	}()
	n, err := blobs.Put(ctx, key, pr)
	pr.CloseWithError(err) // stop the writer if Put failed early
	if err != nil {
		return 0, fmt.Errorf("vault: write %s: %w", key, err)
	}
	return n, nil
}

// writePlain streams the plaintext layout through a sealed writer into w.
func writePlain(w io.Writer, dataKey, hb []byte, sections []StreamSection) error {
	sw, err := sealed.NewWriter(w, dataKey)
	if err != nil {
		return err
	}
	var pad [8]byte
	var hlen [4]byte
	binary.LittleEndian.PutUint32(hlen[:], uint32(len(hb)))
	pre := int64(len(magic) + 4 + len(hb))
	for _, p := range [][]byte{[]byte(magic), hlen[:], hb, pad[:align8(pre)-pre]} {
		if _, err := sw.Write(p); err != nil {
			return err
		}
	}
	for _, s := range sections {
		cw := &countingWriter{w: sw}
		if err := s.Write(cw); err != nil {
			return err
		}
		if cw.n != s.Size {
			return fmt.Errorf("vault: section %q: wrote %d bytes, want %d", s.Name, cw.n, s.Size)
		}
		if _, err := sw.Write(pad[:align8(s.Size)-s.Size]); err != nil {
			return err
		}
	}
	return sw.Close()
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// File is a decrypted vault file held in memory.
type File struct {
	Kind     string
	Meta     json.RawMessage
	sections map[string][]byte
}

// From a store with ranged reads, Open has at least RangeWorkers reads on their way at once, each
// of RangeBatch chunks (8 MiB at the default 1 MiB chunk), so that a remote store's round trips
// overlap and each request carries enough to amortise its cost. Memory beyond the plaintext is
// RangeWorkers × RangeBatch chunks.
const (
	RangeWorkers = 8
	RangeBatch   = 8
)

// Open reads, authenticates and decrypts the file at key (in parallel over workers; 0 means
// GOMAXPROCS) and checks its kind. From a store with ranged reads (cleanroom.BlobRangeReader,
// as every store in this repository has), each chunk is read on its own, so nothing but the
// plaintext and a batch of chunks per worker is ever in memory (see RangeWorkers). Returns an error wrapping
// cleanroom.ErrBlobNotFound if there is no such file.
func Open(ctx context.Context, blobs cleanroom.BlobStore, key string, dataKey []byte, kind string, workers int) (*File, error) {
	size, err := blobs.Stat(ctx, key)
	if err != nil {
		return nil, err
	}
	var ra io.ReaderAt
	batch := 1
	if rr, ok := blobs.(cleanroom.BlobRangeReader); ok {
		batch = RangeBatch
		ra = cleanroom.RangeReaderAt(ctx, rr, key)
		if workers < 1 {
			workers = max(runtime.GOMAXPROCS(0), RangeWorkers)
		}
	} else {
		rc, err := blobs.Open(ctx, key)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		var ok bool
		if ra, ok = rc.(io.ReaderAt); !ok {
			b, err := io.ReadAll(rc)
			if err != nil {
				return nil, fmt.Errorf("vault: read %s: %w", key, err)
			}
			ra, size = bytes.NewReader(b), int64(len(b))
		}
	}
	plain, err := sealed.DecryptAllBatched(ra, size, dataKey, workers, batch)
	if err != nil {
		return nil, fmt.Errorf("vault: open %s: %w", key, err)
	}
	return parse(plain, kind)
}

func parse(plain []byte, kind string) (*File, error) {
	if len(plain) < len(magic)+4 || string(plain[:len(magic)]) != magic {
		return nil, errors.New("vault: not a vault file")
	}
	hlen := int64(binary.LittleEndian.Uint32(plain[len(magic):]))
	pre := int64(len(magic)) + 4
	if pre+hlen > int64(len(plain)) {
		return nil, errors.New("vault: header overruns the file")
	}
	var h header
	if err := json.Unmarshal(plain[pre:pre+hlen], &h); err != nil {
		return nil, fmt.Errorf("vault: header: %w", err)
	}
	if h.Kind != kind {
		return nil, fmt.Errorf("vault: file is a %q, want %q", h.Kind, kind)
	}
	data := plain[align8(pre+hlen):]
	f := &File{Kind: h.Kind, Meta: h.Meta, sections: map[string][]byte{}}
	for _, s := range h.Sections {
		if s.Offset < 0 || s.Length < 0 || s.Offset+s.Length > int64(len(data)) || s.Offset%8 != 0 {
			return nil, fmt.Errorf("vault: section %q out of bounds", s.Name)
		}
		f.sections[s.Name] = data[s.Offset : s.Offset+s.Length : s.Offset+s.Length]
	}
	return f, nil
}

// Bytes returns a section's bytes, or nil if the file has no such section.
func (f *File) Bytes(name string) []byte { return f.sections[name] }

// Has reports whether the file has the section.
func (f *File) Has(name string) bool { _, ok := f.sections[name]; return ok }

// DecodeMeta decodes the file's meta into v.
func (f *File) DecodeMeta(v any) error { return json.Unmarshal(f.Meta, v) }

// View returns section name as a slice of T (a fixed-size, pointer-free type such as uint32 or
// [16]byte) sharing the file's memory. It fails if the length is not a multiple of T's size.
func View[T any](f *File, name string) ([]T, error) {
	b := f.sections[name]
	var zero T
	size := int(unsafe.Sizeof(zero))
	if len(b)%size != 0 {
		return nil, fmt.Errorf("vault: section %q is %d bytes, not a multiple of %d", name, len(b), size)
	}
	if len(b) == 0 {
		return []T{}, nil
	}
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/size), nil
}

// Raw returns the bytes of a slice of fixed-size, pointer-free values, sharing its memory, for
// writing it as a section.
func Raw[T any](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	var zero T
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(zero)))
}

func init() {
	// Sections are little-endian arrays used in place: refuse to run on a big-endian machine.
	x := uint16(1)
	if *(*byte)(unsafe.Pointer(&x)) != 1 {
		panic("vault: big-endian machines are not supported")
	}
}
