package ingest_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/ingest"
)

func TestParseTaxonomy(t *testing.T) {
	want := []ingest.Segment{{"s1", "Lapsed customers"}, {"s2", "Travel, frequent"}, {"s3", `Say "hi"`}}
	tests := []struct{ name, file string }{
		{"plain", "s1,Lapsed customers\ns2,\"Travel, frequent\"\ns3,\"Say \"\"hi\"\"\"\n"},
		{"header", "segment_id,segment_name\ns1,Lapsed customers\ns2,\"Travel, frequent\"\ns3,\"Say \"\"hi\"\"\""},
		{"other header", "ID , Name\ns1,Lapsed customers\ns2,\"Travel, frequent\"\ns3,\"Say \"\"hi\"\"\"\n"},
		{"bom crlf blank lines", "\ufeffSegment ID,Segment Name\r\n\r\ns1, Lapsed customers \r\n s2 ,\"Travel, frequent\"\r\n\r\ns3,\"Say \"\"hi\"\"\"\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tax, rowErrs, err := ingest.ParseTaxonomy(strings.NewReader(tt.file))
			if err != nil || rowErrs != nil {
				t.Fatalf("ParseTaxonomy: %v %v", err, rowErrs)
			}
			if diff := cmp.Diff(want, tax.Segments()); diff != "" {
				t.Errorf("segments (-want +got):\n%s", diff)
			}
			if i, ok := tax.Index("s3"); !ok || i != 2 || tax.Len() != 3 {
				t.Errorf("Index(s3) = %d, %v; Len %d", i, ok, tax.Len())
			}
			if _, ok := tax.Index("Lapsed customers"); ok {
				t.Error("a name was taken for an ID")
			}
		})
	}
}

func TestParseTaxonomyErrors(t *testing.T) {
	secret := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		name   string
		file   string
		line   int64
		reason string
	}{
		{"duplicate id", "s1,One\ns2,Two\ns1,Three\n", 3, ingest.ReasonDuplicateSegmentID},
		{"duplicate name", "s1,One\ns2,One\n", 2, ingest.ReasonDuplicateSegmentName},
		{"empty id", "s1,One\n,Two\n", 2, ingest.ReasonBadSegmentID},
		{"id with a space", "s1,One\n" + secret + " x,Two\n", 2, ingest.ReasonBadSegmentID},
		{"non-ascii id", "s1,One\nsé,Two\n", 2, ingest.ReasonBadSegmentID},
		{"id too long", "s1,One\n" + strings.Repeat(secret, 3) + ",Two\n", 2, ingest.ReasonBadSegmentID},
		{"empty name", "s1,One\ns2, \n", 2, ingest.ReasonBadSegmentName},
		{"name too long", "s1,One\ns2," + strings.Repeat("é", 201) + "\n", 2, ingest.ReasonBadSegmentName},
		{"control character", "s1,One\ns2,T\x01wo\n", 2, ingest.ReasonBadSegmentName},
		{"bad utf-8", "s1,One\ns2,Tw\xffo\n", 2, ingest.ReasonBadUTF8},
		{"one column", "s1,One\n" + secret + "\n", 2, ingest.ReasonColumnCount},
		{"three columns", "s1,One\n" + secret + "\temail_sha256,s1,s2\n", 2, ingest.ReasonColumnCount},
		{"bad quoting", "s1,One\ns2,\"Two\n", 2, ingest.ReasonBadQuoting},
		{"line too long", "s1,One\ns2," + strings.Repeat("x", ingest.MaxTaxonomyLineBytes) + "\ns3,Three\n", 2, ingest.ReasonLineTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tax, rowErrs, err := ingest.ParseTaxonomy(strings.NewReader(tt.file))
			if tax != nil || cleanroom.ErrorCode(err) != cleanroom.EINVALID {
				t.Fatalf("got %v, %v; want an EINVALID error", tax, err)
			}
			if len(rowErrs) != 1 || rowErrs[0].Line != tt.line || rowErrs[0].Reason != tt.reason || rowErrs[0].Hint == "" {
				t.Fatalf("row errors %+v, want one %s on line %d with a hint", rowErrs, tt.reason, tt.line)
			}
			if strings.Contains(fmt.Sprint(rowErrs, err), secret) {
				t.Errorf("an error quotes the file: %v %v", rowErrs, err)
			}
		})
	}
}

func TestParseTaxonomyLimits(t *testing.T) {
	var b strings.Builder
	b.WriteString("segment_id,segment_name\n")
	for i := range ingest.MaxSegments + 5 {
		fmt.Fprintf(&b, "s%d,Segment %d\n", i, i)
	}
	_, rowErrs, err := ingest.ParseTaxonomy(strings.NewReader(b.String()))
	if cleanroom.ErrorCode(err) != cleanroom.EINVALID || len(rowErrs) != 1 ||
		rowErrs[0].Reason != ingest.ReasonTooManySegments || rowErrs[0].Line != ingest.MaxSegments+2 {
		t.Errorf("too many segments: %v %+v", err, rowErrs)
	}

	// Many bad rows: the first 100 are listed, the error counts them all.
	b.Reset()
	for range 150 {
		b.WriteString("bad id,Name\n")
	}
	_, rowErrs, err = ingest.ParseTaxonomy(strings.NewReader(b.String()))
	if len(rowErrs) != 100 || rowErrs[99].Line != 100 || !strings.Contains(cleanroom.ErrorMessage(err), "150") {
		t.Errorf("150 bad rows: %d listed, %v", len(rowErrs), err)
	}

	for _, empty := range []string{"", "\n\r\n", "segment_id,segment_name\n"} {
		if _, rowErrs, err := ingest.ParseTaxonomy(strings.NewReader(empty)); cleanroom.ErrorCode(err) != cleanroom.EINVALID || rowErrs != nil {
			t.Errorf("empty taxonomy %q: %v %v", empty, err, rowErrs)
		}
	}

	readErr := errors.New("disk on fire")
	if _, _, err := ingest.ParseTaxonomy(&failingReader{readErr}); !errors.Is(err, readErr) {
		t.Errorf("read error: %v", err)
	}
}

type failingReader struct{ err error }

func (r *failingReader) Read([]byte) (int, error) { return 0, r.err }

func TestNewTaxonomy(t *testing.T) {
	if _, err := ingest.NewTaxonomy([]ingest.Segment{{"a", "A"}, {"b", "A"}}); cleanroom.ErrorCode(err) != cleanroom.EINVALID {
		t.Errorf("duplicate name: %v", err)
	}
	if _, err := ingest.NewTaxonomy([]ingest.Segment{{"a b", "A"}}); cleanroom.ErrorCode(err) != cleanroom.EINVALID {
		t.Errorf("bad ID: %v", err)
	}
	tax, err := ingest.NewTaxonomy(nil)
	if err != nil || tax.Len() != 0 || len(tax.IDs()) != 0 {
		t.Errorf("empty: %v %v", tax, err)
	}
	var none *ingest.Taxonomy
	if _, ok := none.Index("a"); ok || none.Len() != 0 || none.Segments() != nil {
		t.Error("a nil taxonomy is not empty")
	}
}
