package ingest_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/identity"
	"github.com/cleanroom-oss/cleanroom/ingest"
	"github.com/cleanroom-oss/cleanroom/keyring"
	"github.com/cleanroom-oss/cleanroom/localblob"
	"github.com/cleanroom-oss/cleanroom/rows"
	"github.com/cleanroom-oss/cleanroom/sealed"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// Identifiers used by the tests.
var (
	emailA = sha256Hex("a@example.com")
	emailB = sha256Hex("b@example.com")
	phoneA = sha256Hex("+447700900123")
	maidA  = "6d92078a-8246-4ba4-ae5b-76104861e7dc"
)

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// smallTaxonomy has the segments s1, s2 and s3.
func smallTaxonomy(t testing.TB) *ingest.Taxonomy {
	t.Helper()
	tax, err := ingest.NewTaxonomy([]ingest.Segment{{"s1", "One"}, {"s2", "Two"}, {"s3", "Three"}})
	if err != nil {
		t.Fatal(err)
	}
	return tax
}

// run ingests file with the test key and the given options changes, and returns the version as
// written and read back. It also ingests the file with a memory budget of one byte, so that the
// rows are spilled and merged, and checks that this gives the same file, byte for byte, and the
// same report.
func run(t testing.TB, file string, tax *ingest.Taxonomy, change func(*ingest.Options)) (*vault.AdvertiserVersion, *ingest.Report, error) {
	t.Helper()
	opt := ingestOptions()
	if change != nil {
		change(&opt)
	}
	v, rep, err := ingest.Advertiser(context.Background(), strings.NewReader(file), tax, opt)
	if rep == nil {
		t.Fatalf("no report (err %v)", err)
	}
	if err != nil {
		if v != nil {
			t.Fatalf("a version with the error %v", err)
		}
		return nil, rep, err
	}
	defer v.Close()
	if v.Spilled() || rep.SpilledRuns != 0 {
		t.Fatalf("%d bytes spilled with the default budget", len(file))
	}
	loaded, plain := writeAndLoad(t, v)

	opt.MemoryBudget = 1
	opt.TempDir = t.TempDir()
	spilled, srep, err := ingest.Advertiser(context.Background(), strings.NewReader(file), tax, opt)
	if err != nil {
		t.Fatalf("with a budget of 1 byte: %v", err)
	}
	defer spilled.Close()
	if !spilled.Spilled() || srep.SpilledRuns == 0 {
		t.Fatal("nothing spilled with a budget of 1 byte")
	}
	if _, splain := writeAndLoad(t, spilled); !bytes.Equal(plain, splain) {
		t.Fatalf("spilled and merged, the version differs (%d bytes, %d in memory)", len(splain), len(plain))
	}
	a, b := *rep, *srep
	a.Duration, b.Duration, b.SpilledRuns = 0, 0, 0
	if diff := cmp.Diff(a, b); diff != "" {
		t.Fatalf("spilled and merged, the report differs (-in memory +spilled):\n%s", diff)
	}
	if err := spilled.Close(); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(opt.TempDir); len(left) != 0 {
		t.Fatalf("%d spill files left after Close", len(left))
	}
	return loaded, rep, nil
}

// writeAndLoad writes v to a blob store and reads it back as the match does; it returns the
// version and the file's plaintext.
func writeAndLoad(t testing.TB, v *ingest.Version) (*vault.AdvertiserVersion, []byte) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	blobs, err := localblob.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	key := keyring.NewDataKey()
	n, err := v.Write(ctx, blobs, "v", key)
	if err != nil {
		t.Fatal(err)
	}
	sealedFile, err := os.ReadFile(filepath.Join(dir, "v"))
	if err != nil || int64(len(sealedFile)) != n {
		t.Fatalf("stored %d bytes, read %d: %v", n, len(sealedFile), err)
	}
	plain, err := sealed.DecryptAll(bytes.NewReader(sealedFile), n, key, 1)
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := vault.OpenAdvertiser(ctx, blobs, "v", key, 2)
	if err != nil {
		t.Fatalf("the version does not open: %v", err)
	}
	if int64(loaded.Rows()) != v.Rows() || !slices.Equal(loaded.Tags, v.Tags()) {
		t.Fatalf("opened %d rows of %v; Rows() = %d, Tags() = %v", loaded.Rows(), loaded.Tags, v.Rows(), v.Tags())
	}
	return loaded, plain
}

// mustRun ingests file and fails the test on an error.
func mustRun(t testing.TB, file string, tax *ingest.Taxonomy, change func(*ingest.Options)) (*vault.AdvertiserVersion, *ingest.Report) {
	t.Helper()
	v, rep, err := run(t, file, tax, change)
	if err != nil {
		t.Fatalf("Advertiser: %v", err)
	}
	return v, rep
}

// fingerprint returns the fingerprint of a normalised value under the test key.
func fingerprint(t testing.TB, tag identity.Tag, value string) identity.Fingerprint {
	t.Helper()
	f, err := identity.NewFingerprinter(testKey)
	if err != nil {
		t.Fatal(err)
	}
	return f.Fingerprint(tag, value)
}

// rowsOf returns a version's rows as "tag fingerprint-hex segments", sorted, for comparisons.
func rowsOf(v *vault.AdvertiserVersion) []string {
	var out []string
	for k, tag := range v.Tags {
		for r := v.TagStart[k]; r < v.TagStart[k+1]; r++ {
			var segs []string
			for _, s := range v.RowSegments(int(r)) {
				segs = append(segs, v.Segments[s])
			}
			out = append(out, fmt.Sprintf("%s %s %s", tag, v.FPs[r], strings.Join(segs, ",")))
		}
	}
	slices.Sort(out)
	return out
}

func TestAdvertiserRowErrors(t *testing.T) {
	good := emailA + "\temail_sha256\ts1\n"
	tests := []struct {
		name   string
		line   string // the bad line, without its line end; it is line 2 of the file
		reason string
		warn   bool // a warning: the row is kept
		opt    func(*ingest.Options)
	}{
		{"raw email", "Jane@Example.com\temail_sha256\ts1", "raw_email", false, nil},
		{"raw phone", "+44 7700 900123\tphone_sha256\ts1", "raw_phone", false, nil},
		{"md5", "0cc175b9c0f1b6a831c399e269772661\temail_sha256\ts1", "md5", false, nil},
		{"sha1", "86f7e437faa5a7fce15d1ddcb9eaeaea377667b8\temail_sha256\ts1", "sha1", false, nil},
		{"wrong length", strings.Repeat("ab", 30) + "\temail_sha256\ts1", "wrong_length", false, nil},
		{"not hex", strings.Repeat("x", 64) + "\temail_sha256\ts1", "not_hex", false, nil},
		{"empty hash", sha256Hex("") + "\temail_sha256\ts1", "empty_hash", false, nil},
		{"empty value", "\temail_sha256\ts1", "empty", false, nil},
		{"zero maid", "00000000-0000-0000-0000-000000000000\tmaid\ts1", "zero_maid", false, nil},
		{"bad uuid", "not-a-uuid\tmaid\ts1", "bad_uuid", false, nil},
		{"bad ip", "999.1.1.1\tip_address\ts1", "bad_ip", false, nil},
		{"bad xandr id", "-1\tappnexus\ts1", "bad_number", false, nil},
		{"unknown tag", emailA + "\temail_md5\ts1", "unknown_tag", false, nil},
		{"missing tag", emailA + "\t\ts1", "unknown_tag", false, nil},
		{"one column", emailA, "wrong_column_count", false, nil},
		{"four columns", emailA + "\temail_sha256\ts1\textra", "wrong_column_count", false, nil},
		{"bad utf-8", emailA + "\temail_sha256\ts1\xff", "bad_utf8", false, nil},
		{"line too long", emailA + "\temail_sha256\t" + strings.Repeat("s1,", 100), "line_too_long", false,
			func(o *ingest.Options) { o.MaxLineBytes = 200 }},
		{"unknown segment", emailB + "\temail_sha256\ts1,nope", "unknown_segment", true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := good + tt.line + "\n" + good
			v, rep := mustRun(t, file, smallTaxonomy(t), func(o *ingest.Options) {
				o.MaxErrorRate = 0.5
				if tt.opt != nil {
					tt.opt(o)
				}
			})
			if rep.RowsRead != 3 {
				t.Errorf("RowsRead = %d, want 3", rep.RowsRead)
			}
			list, counts := rep.FirstErrors, rep.Rejected
			wantAccepted := int64(2)
			if tt.warn {
				list, counts, wantAccepted = rep.FirstWarnings, rep.Warnings, 3
			}
			if rep.RowsAccepted != wantAccepted || rep.RowsRejected != 3-wantAccepted {
				t.Errorf("accepted %d, rejected %d; want %d, %d", rep.RowsAccepted, rep.RowsRejected, wantAccepted, 3-wantAccepted)
			}
			if len(list) != 1 || list[0].Line != 2 || list[0].Reason != tt.reason || list[0].Message == "" || list[0].Hint == "" {
				t.Fatalf("errors = %+v, want one %s on line 2 with a message and hint", list, tt.reason)
			}
			if !cmp.Equal(counts, map[string]int64{tt.reason: 1}) {
				t.Errorf("counts = %v", counts)
			}
			if tt.warn {
				if got := rowsOf(v); len(got) != 2 || !strings.HasSuffix(got[0], " s1") && !strings.HasSuffix(got[1], " s1") {
					t.Errorf("rows = %v: the row with an unknown segment should be kept with s1", got)
				}
			} else if v.Rows() != 1 {
				t.Errorf("version has %d rows, want the 1 good (duplicated) row", v.Rows())
			}
			// No message quotes the line.
			msg, _ := json.Marshal(rep)
			if field, _, _ := strings.Cut(tt.line, "\t"); len(field) > 3 && bytes.Contains(msg, []byte(field)) {
				t.Errorf("the report quotes the value: %s", msg)
			}
		})
	}
}

func TestAdvertiserFormats(t *testing.T) {
	tsv := emailA + "\temail_sha256\ts1,s2\n" +
		maidA + "\tmaid\t\n" +
		phoneA + "\tphone_sha256\ts3\n"
	want, _ := mustRun(t, tsv, smallTaxonomy(t), nil)
	if want.Rows() != 3 || !slices.Equal(want.Tags, []identity.Tag{"email_sha256", "maid", "phone_sha256"}) {
		t.Fatalf("TSV gives %d rows of %v", want.Rows(), want.Tags)
	}
	gz := func(s string) string {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write([]byte(s))
		zw.Close()
		return b.String()
	}
	tests := []struct {
		name, file string
		format     string
		gzip       bool
	}{
		{"tsv two columns", emailA + "\temail_sha256\ts1,s2\n" + maidA + "\tmaid\n" + phoneA + "\tphone_sha256\ts3", "tsv", false},
		{"tsv header", "id\ttag\tsegments\n" + tsv, "tsv", false},
		{"tsv crlf bom", "\ufeff" + strings.ReplaceAll(tsv, "\n", "\r\n"), "tsv", false},
		{"tsv blank lines", "\n\n" + strings.ReplaceAll(tsv, "\n", "\n  \n"), "tsv", false},
		{"tsv spaces and aliases", " " + emailA + " \tEMAIL-SHA256\t s1 , s2 ,\n" + strings.ToUpper(maidA) + "\tidfa\t\n" + phoneA + "\tsha256_phone\ts3,s3", "tsv", false},
		{"csv", "id,tag,segments\n" + emailA + ",email_sha256,\"s1,s2\"\n" + maidA + ",maid,\n" + phoneA + ",phone_sha256,s3\n", "csv", false},
		{"csv reordered", "segments,id,tag\n\"s1,s2\"," + emailA + ",email_sha256\n," + maidA + ",maid\n" + "s3," + phoneA + ",phone_sha256\n", "csv", false},
		{"csv quoted header extra column crlf", "\ufeff\"Tag\",note,\"ID\",Segments\r\nemail_sha256,\"a \"\"b\"\"\"," + emailA + ",\"s2,s1\"\r\nmaid,x,\"" + maidA + "\",\r\nphone_sha256,,\"" + phoneA + "\",s3", "csv", false},
		{"tsv gzip", gz(tsv), "tsv", true},
		{"csv gzip", gz("tag,id,segments\nemail_sha256," + emailA + ",\"s1,s2\"\nmaid," + maidA + ",\nphone_sha256," + phoneA + ",s3\n"), "csv", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, rep := mustRun(t, tt.file, smallTaxonomy(t), nil)
			if diff := cmp.Diff(want, v); diff != "" {
				t.Errorf("version differs from the plain TSV one (-want +got):\n%s", diff)
			}
			if rep.Format != tt.format || rep.Gzip != tt.gzip || rep.RowsRead != 3 || rep.RowsRejected != 0 {
				t.Errorf("report: format %s gzip %v, %d rows read, %d rejected (%v)", rep.Format, rep.Gzip, rep.RowsRead, rep.RowsRejected, rep.FirstErrors)
			}
		})
	}
}

func TestAdvertiserFileErrors(t *testing.T) {
	tests := []struct {
		name, file string
	}{
		{"empty", ""},
		{"only blank lines", "\n \r\n\n"},
		{"only a header", "id\ttag\tsegments\n"},
		{"csv without header", emailA + ",email_sha256,s1\n"},
		{"csv header twice a column", "id,tag,ID\n"},
		{"not gzip after the magic", "\x1f\x8bnot really gzip"},
		{"all rows bad", "x\temail_sha256\ns\tmaid\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, rep, err := run(t, tt.file, smallTaxonomy(t), nil)
			if cleanroom.ErrorCode(err) != cleanroom.EINVALID || v != nil {
				t.Fatalf("got %v, %v; want an EINVALID error", v, err)
			}
			if rep.Duration <= 0 {
				t.Error("no duration in the report")
			}
		})
	}
}

func TestAdvertiserTruncatedGzip(t *testing.T) {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	for range 1000 {
		fmt.Fprintf(zw, "%s\temail_sha256\ts1\n", emailA)
	}
	zw.Close()
	_, _, err := run(t, b.String()[:b.Len()/2], smallTaxonomy(t), nil)
	if cleanroom.ErrorCode(err) != cleanroom.EINVALID {
		t.Fatalf("truncated gzip: %v, want EINVALID", err)
	}
}

func TestAdvertiserDuplicatesMerged(t *testing.T) {
	file := emailA + "\temail_sha256\ts1\n" +
		strings.ToUpper(emailA) + "\temail_sha256\ts3\n" + // the same digest, another spelling
		emailA + "\tphone_sha256\ts2\n" + // another tag: another row
		emailA + "\temail_sha256\t\n" +
		emailB + "\temail_sha256\t\n" +
		emailB + "\temail_sha256\t\n"
	v, rep := mustRun(t, file, smallTaxonomy(t), nil)
	want := []string{
		fmt.Sprintf("email_sha256 %s s1,s3", fingerprint(t, identity.TagEmailSHA256, emailA)),
		fmt.Sprintf("email_sha256 %s ", fingerprint(t, identity.TagEmailSHA256, emailB)),
		fmt.Sprintf("phone_sha256 %s s2", fingerprint(t, identity.TagPhoneSHA256, emailA)),
	}
	slices.Sort(want)
	if diff := cmp.Diff(want, rowsOf(v)); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if rep.Duplicates != 3 || rep.RowsAccepted != 6 {
		t.Errorf("duplicates %d of %d accepted, want 3 of 6", rep.Duplicates, rep.RowsAccepted)
	}
	wantTag := map[identity.Tag]int64{"email_sha256": 2, "phone_sha256": 1}
	wantSeg := map[string]int64{"s1": 1, "s2": 1, "s3": 1}
	if !cmp.Equal(rep.PerTag, wantTag) || !cmp.Equal(rep.PerSegment, wantSeg) {
		t.Errorf("per tag %v, per segment %v; want %v, %v", rep.PerTag, rep.PerSegment, wantTag, wantSeg)
	}
}

func TestAdvertiserLongLines(t *testing.T) {
	good := func(i int) string { return sha256Hex(fmt.Sprint(i)) + "\temail_sha256\ts1\n" }
	var b strings.Builder
	b.WriteString(good(1))
	b.WriteString(strings.Repeat("x", 300) + "\n") // longer than MaxLineBytes, shorter than a block
	b.WriteString(good(2))
	b.WriteString(strings.Repeat("y", 9<<20) + "\r\n") // longer than a block
	b.WriteString(good(3))
	b.WriteString(good(4))
	b.WriteString(strings.Repeat("z", 5<<20)) // longer than a block, at the end without a line end
	v, rep := mustRun(t, b.String(), smallTaxonomy(t), func(o *ingest.Options) {
		o.MaxLineBytes = 200
		o.MaxErrorRate = 0.5
	})
	var lines []int64
	for _, e := range rep.FirstErrors {
		if e.Reason != ingest.ReasonLineTooLong {
			t.Errorf("line %d: %s, want line_too_long", e.Line, e.Reason)
		}
		lines = append(lines, e.Line)
	}
	if !slices.Equal(lines, []int64{2, 4, 7}) || v.Rows() != 4 || rep.RowsRead != 7 {
		t.Errorf("too long lines %v, %d rows kept of %d; want lines [2 4 7], 4 of 7", lines, v.Rows(), rep.RowsRead)
	}
}

func TestAdvertiserErrorRate(t *testing.T) {
	var b strings.Builder
	for i := range 100 {
		if i%10 == 9 {
			b.WriteString("bad\temail_sha256\ts1\n") // lines 10, 20, ... 100: 10%
		} else {
			fmt.Fprintf(&b, "%s\temail_sha256\ts1\n", sha256Hex(fmt.Sprint(i)))
		}
	}
	tests := []struct {
		rate float64
		ok   bool
	}{{0, false}, {0.05, false}, {0.099, false}, {0.1, true}, {0.5, true}, {-1, false}}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.rate), func(t *testing.T) {
			v, rep, err := run(t, b.String(), smallTaxonomy(t), func(o *ingest.Options) { o.MaxErrorRate = tt.rate })
			if rep.RowsRejected != 10 || rep.ErrorRate() != 0.1 || len(rep.FirstErrors) != 10 || rep.FirstErrors[9].Line != 100 {
				t.Errorf("report: %d rejected, rate %v, errors %v", rep.RowsRejected, rep.ErrorRate(), rep.FirstErrors)
			}
			if tt.ok {
				if err != nil || v.Rows() != 90 {
					t.Errorf("got %v; want 90 rows", err)
				}
				return
			}
			if cleanroom.ErrorCode(err) != cleanroom.EINVALID || v != nil {
				t.Fatalf("got %v; want EINVALID", err)
			}
			if msg := cleanroom.ErrorMessage(err); !strings.Contains(msg, "10.00%") || !strings.Contains(msg, "report") {
				t.Errorf("message %q should give the error rate and point at the report", msg)
			}
		})
	}
}

// TestAdvertiserManyBlocks checks line numbers and counts over a file of several blocks, with
// more workers than cores.
func TestAdvertiserManyBlocks(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	var b strings.Builder
	var wantLines []int64
	for i := 1; i <= 120_000; i++ { // about 11 MiB: three blocks
		if i%1000 == 7 {
			b.WriteString("0cc175b9c0f1b6a831c399e269772661\temail_sha256\ts1\n")
			wantLines = append(wantLines, int64(i))
			continue
		}
		fmt.Fprintf(&b, "%s\temail_sha256\ts%d\n", sha256Hex(fmt.Sprint(i%100_000)), 1+i%3)
	}
	for _, workers := range []int{1, 3} {
		v, rep := mustRun(t, b.String(), smallTaxonomy(t), func(o *ingest.Options) { o.Workers = workers })
		var lines []int64
		for _, e := range rep.FirstErrors {
			lines = append(lines, e.Line)
		}
		if !slices.Equal(lines, wantLines[:100]) || rep.Rejected["md5"] != 120 {
			t.Errorf("workers %d: error lines %v..., %d md5; want %v..., 120", workers, lines[:5], rep.Rejected["md5"], wantLines[:5])
		}
		if v.Rows() != 100_000-100 || rep.Duplicates != 120_000-120-int64(v.Rows()) {
			t.Errorf("workers %d: %d rows, %d duplicates", workers, v.Rows(), rep.Duplicates)
		}
	}
}

func TestAdvertiserProgressAndCancel(t *testing.T) {
	var file bytes.Buffer
	if err := writeAdvertiserFile(&file, genConfig{rows: 200_000, seed: 3}); err != nil {
		t.Fatal(err)
	}
	var calls []ingest.Progress
	popt := ingestOptions()
	popt.Progress = func(p ingest.Progress) { calls = append(calls, p) }
	v, rep, err := ingest.Advertiser(context.Background(), bytes.NewReader(file.Bytes()), benchTaxonomy(t), popt)
	if err != nil {
		t.Fatal(err)
	}
	v.Close()
	if len(calls) < 3 || calls[len(calls)-1] != (ingest.Progress{BytesRead: int64(file.Len()), Rows: 200_000}) {
		t.Errorf("progress calls %v", calls)
	}
	for i := 1; i < len(calls); i++ {
		if calls[i].BytesRead < calls[i-1].BytesRead || calls[i].Rows < calls[i-1].Rows {
			t.Errorf("progress goes back: %v", calls)
		}
	}
	if rep.Bytes != int64(file.Len()) {
		t.Errorf("Bytes = %d, want %d", rep.Bytes, file.Len())
	}

	ctx, cancel := context.WithCancel(context.Background())
	opt := ingestOptions()
	opt.Progress = func(ingest.Progress) { cancel() }
	if _, _, err := ingest.Advertiser(ctx, bytes.NewReader(file.Bytes()), benchTaxonomy(t), opt); err != context.Canceled {
		t.Errorf("cancelled: %v", err)
	}
}

func TestAdvertiserBadKey(t *testing.T) {
	_, _, err := ingest.Advertiser(context.Background(), strings.NewReader(""), nil, ingest.Options{FingerprintKey: make([]byte, 32)})
	if err == nil {
		t.Fatal("an all-zero key was accepted")
	}
}

// naiveVersion computes the version of a TSV file the simple way: split each line, check it
// with package identity, and collect segment sets in maps.
func naiveVersion(t testing.TB, file string, tax *ingest.Taxonomy, reg *identity.Registry) ([]string, map[identity.Tag]int64, map[string]int64) {
	t.Helper()
	f, err := identity.NewFingerprinter(testKey)
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		tag identity.Tag
		fp  identity.Fingerprint
	}
	sets := map[key]map[string]bool{}
	for _, line := range strings.Split(file, "\n") {
		cols := strings.Split(line, "\t")
		if line == "" || len(cols) < 2 || len(cols) > 3 {
			continue
		}
		tag, err := identity.ParseTag(reg, cols[1])
		if err != nil {
			continue
		}
		v, err := reg.Normalize(tag, cols[0])
		if err != nil {
			continue
		}
		k := key{tag, f.Fingerprint(tag, v)}
		if sets[k] == nil {
			sets[k] = map[string]bool{}
		}
		if len(cols) == 3 {
			for _, s := range strings.Split(cols[2], ",") {
				if _, ok := tax.Index(strings.TrimSpace(s)); ok {
					sets[k][strings.TrimSpace(s)] = true
				}
			}
		}
	}
	var rows []string
	perTag := map[identity.Tag]int64{}
	perSeg := map[string]int64{}
	for _, id := range tax.IDs() {
		perSeg[id] = 0
	}
	for k, set := range sets {
		var segs []string
		for _, id := range tax.IDs() { // taxonomy order, as the version stores indices
			if set[id] {
				segs = append(segs, id)
				perSeg[id]++
			}
		}
		perTag[k.tag]++
		rows = append(rows, fmt.Sprintf("%s %s %s", k.tag, k.fp, strings.Join(segs, ",")))
	}
	slices.Sort(rows)
	return rows, perTag, perSeg
}

// randomFile returns a TSV file of n random rows over the given segment IDs: few distinct
// identifiers (so many duplicates), several tags and spellings, some bad rows and unknown
// segments.
func randomFile(rng *rand.Rand, n int, segIDs []string) string {
	var b strings.Builder
	for range n {
		var id, tag string
		switch rng.IntN(6) {
		case 0, 1:
			id, tag = sha256Hex(fmt.Sprint(rng.IntN(n))), "email_sha256"
			if rng.IntN(4) == 0 {
				id = strings.ToUpper(id)
			}
		case 2:
			id, tag = sha256Hex(fmt.Sprint(rng.IntN(n))), "phone_sha256"
		case 3:
			id, tag = fmt.Sprintf("%08x-0000-4000-8000-%012x", rng.IntN(n)+1, rng.IntN(3)), "maid"
		case 4:
			id, tag = fmt.Sprintf("10.%d.%d.%d", rng.IntN(3), rng.IntN(4), rng.IntN(n/10+1)%256), "ip_address"
		default:
			id, tag = fmt.Sprint(rng.IntN(n)), "appnexus" // 0 is rejected
		}
		if rng.IntN(50) == 0 {
			tag = "bogus"
		}
		fmt.Fprintf(&b, "%s\t%s\t", id, tag)
		for k := range rng.IntN(4) {
			if k > 0 {
				b.WriteByte(',')
			}
			if rng.IntN(20) == 0 {
				b.WriteString("unknown")
			} else {
				b.WriteString(segIDs[rng.IntN(len(segIDs))])
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// TestAdvertiserMatchesNaive compares ingest with naiveVersion on random files, with a
// taxonomy small enough for bitmask segment sets and one too large for them.
func TestAdvertiserMatchesNaive(t *testing.T) {
	for _, nseg := range []int{3, 64, 65, 300} {
		for seed := range uint64(3) {
			t.Run(fmt.Sprintf("%d segments seed %d", nseg, seed), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(seed, uint64(nseg)))
				segs := make([]ingest.Segment, nseg)
				ids := make([]string, nseg)
				for i := range segs {
					ids[i] = fmt.Sprintf("seg-%d", rng.IntN(1_000_000)*nseg+i) // unique, not in file order
					segs[i] = ingest.Segment{ID: ids[i], Name: fmt.Sprint("Segment ", i)}
				}
				tax, err := ingest.NewTaxonomy(segs)
				if err != nil {
					t.Fatal(err)
				}
				file := randomFile(rng, 3000+rng.IntN(3000), ids)
				wantRows, wantTag, wantSeg := naiveVersion(t, file, tax, nil)
				v, rep := mustRun(t, file, tax, func(o *ingest.Options) {
					o.MaxErrorRate = 1
					o.Workers = 1 + int(seed)
				})
				if diff := cmp.Diff(wantRows, rowsOf(v)); diff != "" {
					t.Errorf("rows (-naive +ingest):\n%s", diff)
				}
				if diff := cmp.Diff(wantTag, rep.PerTag); diff != "" {
					t.Errorf("per tag (-naive +ingest):\n%s", diff)
				}
				if diff := cmp.Diff(wantSeg, rep.PerSegment); diff != "" {
					t.Errorf("per segment (-naive +ingest):\n%s", diff)
				}
				if rep.RowsAccepted-rep.Duplicates != int64(len(wantRows)) {
					t.Errorf("%d accepted - %d duplicates != %d rows", rep.RowsAccepted, rep.Duplicates, len(wantRows))
				}
				if !slices.Equal(v.Segments, ids) {
					t.Errorf("segments are not in taxonomy order")
				}
			})
		}
	}
}

// TestAdvertiserNothingRawStored writes a version and checks that neither the stored file nor
// the report holds any identifier of the upload, raw or normalised.
func TestAdvertiserNothingRawStored(t *testing.T) {
	var b strings.Builder
	var values []string
	for i := range 2000 {
		e := sha256Hex(fmt.Sprint("user", i))
		m := fmt.Sprintf("%08x-1111-4222-8333-%012x", i+1, i)
		values = append(values, e, strings.ToUpper(e), m)
		fmt.Fprintf(&b, "%s\temail_sha256\ts1\n%s\tmaid\ts2\n", e, m)
		if i%10 == 0 {
			fmt.Fprintf(&b, "%s\tmaid\ts1\n", e) // rejected: a digest as a MAID
		}
	}
	opt := ingestOptions()
	opt.MemoryBudget = 1 // spill files too
	opt.TempDir = t.TempDir()
	v, rep, err := ingest.Advertiser(context.Background(), strings.NewReader(b.String()), smallTaxonomy(t), opt)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	dir := t.TempDir()
	blobs, err := localblob.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Write(context.Background(), blobs, "ds/v1", keyring.NewDataKey()); err != nil {
		t.Fatal(err)
	}
	stored, err := os.ReadFile(filepath.Join(dir, "ds", "v1"))
	if err != nil {
		t.Fatal(err)
	}
	report, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	if rep.RowsRejected == 0 || !bytes.Contains(report, []byte("bad_uuid")) {
		t.Fatalf("the test needs rejected rows in the report: %s", report)
	}
	for _, val := range values {
		for _, form := range [][]byte{[]byte(val), mustHexDecode(val)} {
			if len(form) >= 8 && (bytes.Contains(stored, form) || bytes.Contains(report, form)) {
				t.Fatalf("value %s found in the stored file or the report", val)
			}
		}
	}
	// The plaintext holds fingerprints only: check the version's arrays too.
	loaded, _ := writeAndLoad(t, v)
	for _, fp := range loaded.FPs {
		for _, val := range values[:30] {
			if bytes.Contains([]byte(val), fp[:8]) {
				t.Fatal("a fingerprint holds part of a value")
			}
		}
	}
}

func mustHexDecode(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil {
		return nil
	}
	return b
}

// TestAdvertiserWriteTwice writes a version twice, from memory and from spill files: Write may
// be called again and stores the same version.
func TestAdvertiserWriteTwice(t *testing.T) {
	var file bytes.Buffer
	if err := writeAdvertiserFile(&file, genConfig{rows: 50_000, seed: 7, dupRate: 0.05, badRate: 0.01}); err != nil {
		t.Fatal(err)
	}
	for _, budget := range []int64{0, 1} {
		opt := ingestOptions()
		opt.MemoryBudget, opt.TempDir = budget, t.TempDir()
		v, _, err := ingest.Advertiser(context.Background(), bytes.NewReader(file.Bytes()), benchTaxonomy(t), opt)
		if err != nil {
			t.Fatal(err)
		}
		first, a := writeAndLoad(t, v)
		_, b := writeAndLoad(t, v)
		if !bytes.Equal(a, b) || first.Rows() < 40_000 {
			t.Errorf("budget %d: two writes differ, or %d rows", budget, first.Rows())
		}
		v.Close()
	}
}

// TestFingerprintsMatchIdentity checks that the stored fingerprints are identity's, of the
// normalised values.
func TestFingerprintsMatchIdentity(t *testing.T) {
	ip := "2001:DB8::0:1"
	file := strings.ToUpper(emailA) + "\temail_sha256\n" + "{" + strings.ToUpper(maidA) + "}\tIDFA\n" + ip + "\tipv6\n" + "00042\txandr\n"
	v, _ := mustRun(t, file, nil, nil)
	want := []string{
		fmt.Sprintf("appnexus %s ", fingerprint(t, identity.TagAppNexus, "42")),
		fmt.Sprintf("email_sha256 %s ", fingerprint(t, identity.TagEmailSHA256, emailA)),
		fmt.Sprintf("ip_address %s ", fingerprint(t, identity.TagIPAddress, "2001:db8::1")),
		fmt.Sprintf("maid %s ", fingerprint(t, identity.TagMAID, maidA)),
	}
	if diff := cmp.Diff(want, rowsOf(v)); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
}

func TestAdvertiserCustomTag(t *testing.T) {
	reg, err := identity.NewRegistry("bridge_id")
	if err != nil {
		t.Fatal(err)
	}
	file := "abc-123\tbridge_id\ts1\nabc-123\tBRIDGE_ID\ts2\nx y\tbridge_id\ts1\n"
	v, rep := mustRun(t, file, smallTaxonomy(t), func(o *ingest.Options) { o.Registry = reg; o.MaxErrorRate = 0.5 })
	want := []string{fmt.Sprintf("bridge_id %s s1,s2", fingerprint(t, "bridge_id", "abc-123"))}
	if diff := cmp.Diff(want, rowsOf(v)); diff != "" || rep.Rejected["bad_char"] != 1 {
		t.Errorf("rows (-want +got):\n%s\nrejected %v", diff, rep.Rejected)
	}
	if _, rep, _ := run(t, file, smallTaxonomy(t), nil); rep.Rejected["unknown_tag"] != 3 {
		t.Errorf("without the registry: %v", rep.Rejected)
	}
}

// TestAdvertiserManyDuplicates repeats one identifier many times, each time with other segments,
// over a taxonomy too large for bitmasks: the row must get the union, in linear time.
func TestAdvertiserManyDuplicates(t *testing.T) {
	segs := make([]ingest.Segment, 300)
	for i := range segs {
		segs[i] = ingest.Segment{ID: fmt.Sprint("s", i), Name: fmt.Sprint("Segment ", i)}
	}
	tax, err := ingest.NewTaxonomy(segs)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for i := range 30_000 {
		fmt.Fprintf(&b, "%s\temail_sha256\ts%d,s%d\n", emailA, i%300, (i*7)%300)
	}
	fmt.Fprintf(&b, "%s\temail_sha256\ts1\n", emailB)
	v, rep := mustRun(t, b.String(), tax, nil)
	if v.Rows() != 2 || rep.Duplicates != 29_999 {
		t.Fatalf("%d rows, %d duplicates", v.Rows(), rep.Duplicates)
	}
	a, _, _ := v.TagRange(identity.TagEmailSHA256)
	for r := a; r < a+2; r++ {
		if n := len(v.RowSegments(r)); n != 300 && n != 1 {
			t.Errorf("row %d has %d segments, want all 300 or 1", r, n)
		}
	}
	if rep.PerSegment["s1"] != 2 || rep.PerSegment["s299"] != 1 {
		t.Errorf("per segment: s1 %d, s299 %d", rep.PerSegment["s1"], rep.PerSegment["s299"])
	}
}

// brokenReader returns its data, then an error.
type brokenReader struct {
	data []byte
	err  error
}

func (r *brokenReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestAdvertiserReadError(t *testing.T) {
	var file bytes.Buffer
	if err := writeAdvertiserFile(&file, genConfig{rows: 100_000, seed: 5}); err != nil {
		t.Fatal(err)
	}
	for _, readErr := range []error{fmt.Errorf("connection reset"), io.ErrUnexpectedEOF} {
		for _, n := range []int{0, 1000, file.Len() - 10} {
			_, _, err := ingest.Advertiser(context.Background(), &brokenReader{file.Bytes()[:n], readErr}, benchTaxonomy(t), ingestOptions())
			if err != readErr {
				t.Errorf("after %d bytes: %v, want the read error %v", n, err, readErr)
			}
		}
	}
}

// TestAdvertiserLimits: a gzip bomb (a small file of millions of identical rows) and a file of
// too many lines stop at the limit with an error naming the flag that changes it.
func TestAdvertiserLimits(t *testing.T) {
	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	row := []byte(emailA + "\temail_sha256\ts1\n")
	for range 500_000 { // 41 MB of rows, 40 KB gzipped
		zw.Write(row)
	}
	zw.Close()
	tests := []struct {
		name   string
		in     []byte
		limits rows.Limits
		flag   string
	}{
		{"gzip bomb", bomb.Bytes(), rows.Limits{MaxBytes: 8 << 20}, rows.FlagMaxBytes},
		{"too many lines", []byte(strings.Repeat(string(row), 1001)), rows.Limits{MaxRows: 1000}, rows.FlagMaxRows},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opt := ingestOptions()
			opt.Limits = tt.limits
			v, rep, err := ingest.Advertiser(context.Background(), bytes.NewReader(tt.in), smallTaxonomy(t), opt)
			if v != nil || cleanroom.ErrorCode(err) != cleanroom.EINVALID || !strings.Contains(cleanroom.ErrorMessage(err), "--"+tt.flag) {
				t.Fatalf("error %v, want one naming --%s", err, tt.flag)
			}
			if rep == nil || rep.RowsRead != 0 {
				t.Errorf("report %+v", rep)
			}
		})
	}
	// Within the limits, the same bomb is one row.
	v, rep, err := ingest.Advertiser(context.Background(), bytes.NewReader(bomb.Bytes()), smallTaxonomy(t), ingestOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if v.Rows() != 1 || rep.Duplicates != 499_999 || v.Spilled() {
		t.Errorf("%d rows, %d duplicates, spilled %v", v.Rows(), rep.Duplicates, v.Spilled())
	}
}
