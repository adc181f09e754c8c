package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cleanroom-oss/cleanroom/identity"
	"github.com/cleanroom-oss/cleanroom/sealed"
)

var internalKey = []byte("0123456789abcdef0123456789abcdef")

// spillFile returns a file of n rows over 3 tags and 70 segments (lists, not bitmasks), with
// duplicates across the whole file, and the raw values it holds.
func spillTestFile(n int) (string, []string, *Taxonomy) {
	segs := make([]Segment, 70)
	for i := range segs {
		segs[i] = Segment{ID: fmt.Sprint("s", i), Name: fmt.Sprint("Segment ", i)}
	}
	tax, _ := NewTaxonomy(segs)
	var b strings.Builder
	var values []string
	for i := range n {
		d := sha256.Sum256([]byte(fmt.Sprint("user", i%(n/2))))
		v := hex.EncodeToString(d[:])
		values = append(values, v)
		tag := []string{"email_sha256", "phone_sha256", "maid"}[i%3]
		if tag == "maid" {
			v = fmt.Sprintf("%s-%s-4%s-8%s-%s", v[:8], v[8:12], v[13:16], v[17:20], v[20:32])
			values = append(values, v)
		}
		fmt.Fprintf(&b, "%s\t%s\ts%d,s%d\n", v, tag, i%70, (i*7)%70)
	}
	return b.String(), values, tax
}

// writePlain ingests file with opt and returns the plaintext of the version written.
func writePlain(t *testing.T, file string, tax *Taxonomy, opt Options) ([]byte, *Report) {
	t.Helper()
	v, rep, err := Advertiser(context.Background(), strings.NewReader(file), tax, opt)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	var plain bytes.Buffer
	check := func(name string, size int64, write func(io.Writer) error) {
		var buf bytes.Buffer
		if err := write(&buf); err != nil {
			t.Fatal(err)
		}
		if int64(buf.Len()) != size {
			t.Fatalf("section %s: %d bytes, want %d", name, buf.Len(), size)
		}
		plain.Write(buf.Bytes())
	}
	check("fps", 16*v.stream.Rows, v.stream.WriteFPs)
	check("seg_off", 4*(v.stream.Rows+1), v.stream.WriteSegOff)
	check("segs", 4*v.stream.SegEntries, v.stream.WriteSegs)
	return plain.Bytes(), rep
}

// TestSpillManyRuns spills dozens of runs, over blocks of 64 KiB: merged, they give the same
// version as sorting in memory, the spill files never hold a value of the file, and every file
// is gone after Close.
func TestSpillManyRuns(t *testing.T) {
	defer func(b int) { minBlockSize = b }(minBlockSize)
	minBlockSize = 64 << 10
	file, values, tax := spillTestFile(30_000) // about 2.7 MiB: 40 blocks
	opt := Options{FingerprintKey: internalKey, Workers: 2}
	want, wantRep := writePlain(t, file, tax, opt)

	var runs int
	var spilled [][]byte
	spillHook = func(r *spillRun, key []byte) {
		runs++
		for _, p := range r.parts {
			if p.path == "" {
				continue
			}
			f, err := os.Open(p.path)
			if err != nil {
				t.Fatal(err)
			}
			sr, err := sealed.NewReader(io.NewSectionReader(f, p.off, p.size), key)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(sr)
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			spilled = append(spilled, b)
		}
	}
	defer func() { spillHook = nil }()
	opt.MemoryBudget, opt.TempDir = 1, t.TempDir()
	got, rep := writePlain(t, file, tax, opt)
	if !bytes.Equal(got, want) {
		t.Errorf("spilled in %d runs, the version differs", rep.SpilledRuns)
	}
	if rep.SpilledRuns < 10 || runs != rep.SpilledRuns {
		t.Errorf("%d runs spilled, %d in the report; want 10 or more", runs, rep.SpilledRuns)
	}
	if rep.Duplicates != wantRep.Duplicates || rep.Duplicates == 0 {
		t.Errorf("duplicates %d, in memory %d", rep.Duplicates, wantRep.Duplicates)
	}
	if left, _ := os.ReadDir(opt.TempDir); len(left) != 0 {
		t.Errorf("%d files left after Close", len(left))
	}
	// The spill files hold fingerprints and segments only.
	all := bytes.Join(spilled, nil)
	if len(all) < 30_000*16 {
		t.Fatalf("%d bytes read from the spill files", len(all))
	}
	for _, val := range values[:300] {
		raw, _ := hex.DecodeString(strings.ReplaceAll(val, "-", ""))
		if bytes.Contains(all, []byte(val)) || bytes.Contains(all, raw[:8]) {
			t.Fatal("a spill file holds a value of the upload")
		}
	}
}

// failAfter returns data, then an error.
type failAfter struct {
	data []byte
	err  error
}

func (r *failAfter) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// TestSpillRemovedOnFailure fails an ingest after it spilled (a read error; a file over the
// error threshold; a cancelled context): its spill directory is gone.
func TestSpillRemovedOnFailure(t *testing.T) {
	defer func(b int) { minBlockSize = b }(minBlockSize)
	minBlockSize = 64 << 10
	file, _, tax := spillTestFile(10_000)
	bad := file + strings.Repeat("bad\temail_sha256\n", 5000)
	for name, in := range map[string]io.Reader{
		"read error": &failAfter{data: []byte(file), err: fmt.Errorf("connection reset")},
		"error rate": strings.NewReader(bad),
		"cut short":  &failAfter{data: []byte(file), err: io.ErrUnexpectedEOF},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			opt := Options{FingerprintKey: internalKey, MemoryBudget: 1, TempDir: dir}
			spilled := false
			spillHook = func(*spillRun, []byte) { spilled = true }
			defer func() { spillHook = nil }()
			v, _, err := Advertiser(context.Background(), in, tax, opt)
			if err == nil || v != nil {
				t.Fatalf("no error: %v", err)
			}
			if !spilled {
				t.Fatal("nothing spilled before the failure")
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Errorf("%d spill directories left after %v", len(left), err)
			}
		})
	}
}

func TestRemoveTemp(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"ingest-1", "ingest-abc", "keep"} {
		os.MkdirAll(filepath.Join(dir, name, "sub"), 0o700)
		os.WriteFile(filepath.Join(dir, name, "000001.run"), []byte("x"), 0o600)
	}
	if err := RemoveTemp(dir); err != nil {
		t.Fatal(err)
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 1 || left[0].Name() != "keep" {
		t.Errorf("left %v", left)
	}
	if err := RemoveTemp(filepath.Join(dir, "missing")); err != nil {
		t.Errorf("a missing directory: %v", err)
	}
}

// TestCompactRepeatedRows adds the same few records millions of times, as a gzip bomb of
// identical rows does: the list keeps the memory of the distinct records, not of the rows.
func TestCompactRepeatedRows(t *testing.T) {
	for _, nseg := range []int{3, 70} {
		t.Run(fmt.Sprint(nseg, " segments"), func(t *testing.T) {
			segs := make([]Segment, nseg)
			for i := range segs {
				segs[i] = Segment{ID: fmt.Sprint("s", i), Name: fmt.Sprint("Segment ", i)}
			}
			tax, _ := NewTaxonomy(segs)
			rn := &run{tags: []identity.Tag{identity.TagEmailSHA256}, tax: tax, masks: tax.Len() <= 64}
			w := newWorker(rn, 0, nil, &chunkPool{})
			l := &recList{}
			var fps [3]identity.Fingerprint
			for i := range fps {
				fps[i][1] = byte(i)
			}
			fields := [][]byte{[]byte("s0"), []byte("s1,s2"), []byte("s2")}
			const rows = 2_000_000
			for i := range rows {
				set, _, _ := w.segments(fields[i%3])
				w.add(l, rec{fp: fps[i%3], segs: set})
			}
			if w.mem > 4<<20 || l.n > 2*minCompact { // 2M rows would take 48 MB

				t.Errorf("%d identical rows take %d bytes in %d records", rows, w.mem, l.n)
			}
			// The records left are the three fingerprints, each with the union of its segments.
			ts := &w.sorter
			ts.lists = &segLists{pools: [][]uint32{w.pool}}
			ts.gather(l.all())
			a := ts.sorted()
			if len(a) != 3 {
				t.Fatalf("%d records after deduplication, want 3", len(a))
			}
		})
	}
}

// TestSortRecs checks sortRecs, on arrays small and large enough to be split first, against a
// comparison sort, with ties on the leading bytes.
func TestSortRecs(t *testing.T) {
	for _, n := range []int{0, 1, 63, 64, 1000, msdMin - 1, msdMin, 3 * msdMin} {
		rng := rand.New(rand.NewPCG(uint64(n), 7))
		a := make([]rec, n)
		for i := range a {
			a[i].fp[0] = 9
			for k := 1; k < 16; k++ {
				a[i].fp[k] = byte(rng.Uint32())
			}
			if i > 0 && i%50 == 0 {
				copy(a[i].fp[:6], a[i-1].fp[:6]) // ties on the first 6 bytes
			}
			a[i].segs = uint64(i)
		}
		want := slices.Clone(a)
		slices.SortStableFunc(want, func(x, y rec) int { return x.fp.Compare(y.fp) })
		sortRecs(a, nil)
		for i := range a {
			if a[i].fp != want[i].fp {
				t.Fatalf("n=%d: record %d out of order", n, i)
			}
		}
	}
}
