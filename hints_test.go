package cleanroom_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestHintsNamePagesThatExist: every error hint that sends the user to a dashboard page ("the
// dashboard's Overview page") names a page of the dashboard's navigation, and none sends them to
// pages the dashboard does not have (Tokens: tokens are on the Settings page).
func TestHintsNamePagesThatExist(t *testing.T) {
	layout, err := os.ReadFile("web/templates/layout.html")
	if err != nil {
		t.Fatal(err)
	}
	pages := map[string]bool{}
	for _, m := range regexp.MustCompile(`<a href="/[a-z-]*">([^<]+)</a>`).FindAllStringSubmatch(string(layout), -1) {
		pages[m[1]] = true
	}
	if !pages["Overview"] {
		t.Fatalf("the dashboard's navigation has no Overview page: %v", pages)
	}
	page := regexp.MustCompile(`(?:'s|\bits|\bthe|\byour) ([A-Z][a-z]+(?: [a-z]+)?) page`)
	checked := 0
	err = filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != "." {
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir // another module (bench/duckdb)
			}
			return nil
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			lit, isLit := call.Args[0].(*ast.BasicLit)
			if !ok || sel.Sel.Name != "Hint" || !isLit || lit.Kind != token.STRING {
				return true
			}
			hint, err := strconv.Unquote(lit.Value)
			if err != nil {
				t.Errorf("%s: hint %s: %v", path, lit.Value, err)
				return true
			}
			checked++
			for _, bad := range []string{"Tokens page"} {
				if strings.Contains(hint, bad) {
					t.Errorf("%s: hint %q names %q, which the dashboard does not have", path, hint, bad)
				}
			}
			for _, m := range page.FindAllStringSubmatch(hint, -1) {
				if !pages[m[1]] {
					t.Errorf("%s: hint %q names the %s page; the dashboard's pages are %v", path, hint, m[1], pages)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Errorf("only %d hints found: is the walk broken?", checked)
	}
}
