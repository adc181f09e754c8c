package identity_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cleanroom-oss/cleanroom/identity"
)

// TestReasonsComplete: identity.Reasons holds every Reason constant of the package, so code that
// handles each reason (the cohort diagnostics) can iterate over them.
func TestReasonsComplete(t *testing.T) {
	declared := reasonConstants(t, ".", func(spec *ast.ValueSpec) bool {
		id, ok := spec.Type.(*ast.Ident)
		return ok && id.Name == "Reason"
	})
	if len(declared) < 10 {
		t.Fatalf("found only %d Reason constants: %v", len(declared), declared)
	}
	for _, r := range declared {
		if !slices.Contains(identity.Reasons, identity.Reason(r)) {
			t.Errorf("identity.Reasons lacks %q", r)
		}
	}
	if len(identity.Reasons) != len(declared) {
		t.Errorf("identity.Reasons has %d entries for %d constants", len(identity.Reasons), len(declared))
	}
}

// reasonConstants returns the string values of the constants of the package in dir that keep
// says are reasons.
func reasonConstants(t *testing.T, dir string, keep func(*ast.ValueSpec) bool) []string {
	t.Helper()
	fset := token.NewFileSet()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	var out []string
	for _, f := range files {
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, s := range g.Specs {
				spec := s.(*ast.ValueSpec)
				if !keep(spec) {
					continue
				}
				for _, v := range spec.Values {
					if lit, ok := v.(*ast.BasicLit); ok {
						s, _ := strconv.Unquote(lit.Value)
						out = append(out, s)
					}
				}
			}
		}
	}
	return out
}
