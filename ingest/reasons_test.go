package ingest_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cleanroom-oss/cleanroom/identity"
	"github.com/cleanroom-oss/cleanroom/ingest"
)

// TestRowReasonsComplete: ingest.RowReasons names every reason a row of a data file can be
// counted under, so code that explains reports (the cohort diagnostics) can handle each one:
// every reason constant of this package but the taxonomy's, and every identity reason that
// identity.Normalize can give.
func TestRowReasonsComplete(t *testing.T) {
	// Reasons of taxonomy entries, not of data rows.
	taxonomyOnly := []string{ingest.ReasonBadSegmentID, ingest.ReasonBadSegmentName, ingest.ReasonDuplicateSegmentID,
		ingest.ReasonDuplicateSegmentName, ingest.ReasonTooManySegments}
	// Reasons of identity's raw-value helpers (cleanroom prepare), which ingest never calls.
	prepareOnly := []identity.Reason{identity.ReasonBadEmail, identity.ReasonBadPhone}

	own := 0
	for _, r := range ownReasons(t) {
		own++
		if !slices.Contains(ingest.RowReasons, r) && !slices.Contains(taxonomyOnly, r) {
			t.Errorf("reason %q is neither in ingest.RowReasons nor a taxonomy reason", r)
		}
	}
	if own < 5 {
		t.Fatalf("found only %d reason constants", own)
	}
	for _, r := range identity.Reasons {
		if !slices.Contains(ingest.RowReasons, string(r)) && !slices.Contains(prepareOnly, r) {
			t.Errorf("identity reason %q is missing from ingest.RowReasons", r)
		}
	}
	for _, r := range ingest.RowReasons {
		if slices.Contains(taxonomyOnly, r) || slices.Contains(prepareOnly, identity.Reason(r)) {
			t.Errorf("ingest.RowReasons lists %q, which no data row gets", r)
		}
	}
}

// ownReasons returns the values of this package's Reason* constants written as string literals
// (the others alias identity reasons).
func ownReasons(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	fset := token.NewFileSet()
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, e.Name(), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			spec, ok := n.(*ast.ValueSpec)
			if !ok {
				return true
			}
			for i, name := range spec.Names {
				if !strings.HasPrefix(name.Name, "Reason") || i >= len(spec.Values) {
					continue
				}
				if lit, ok := spec.Values[i].(*ast.BasicLit); ok {
					s, _ := strconv.Unquote(lit.Value)
					out = append(out, s)
				}
			}
			return false
		})
	}
	return out
}
