package cleanroom_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// goList runs "go list" with args and decodes its JSON stream.
func goList(t *testing.T, args ...string) []listedPackage {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list", "-json"}, args...)...).Output()
	if err != nil {
		t.Fatalf("go list %v: %v", args, err)
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p listedPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

type listedPackage struct {
	ImportPath string
	Doc        string
	Name       string
	Deps       []string
	Imports    []string
}

const module = "github.com/cleanroom-oss/cleanroom"

// TestEnginesStayPure: the engines take plain values and files; they never reach HTTP or SQL, not
// even through another package, so they can run anywhere (a worker, the edge, a benchmark).
func TestEnginesStayPure(t *testing.T) {
	engines := []string{"identity", "sealed", "vault", "ingest", "pubsync", "match", "lookalike", "bridge", "rows", "privacy", "edge", "insights"}
	forbidden := []string{"net/http", "database/sql"}
	var paths []string
	for _, e := range engines {
		paths = append(paths, module+"/"+e)
	}
	for _, p := range goList(t, paths...) {
		for _, d := range append(p.Deps, p.Imports...) {
			for _, f := range forbidden {
				if d == f {
					t.Errorf("%s depends on %s", p.ImportPath, f)
				}
			}
		}
	}
}

// TestRootImportsNothingOfOurs: the root package holds the domain; every other package depends on
// it, never the reverse, and it takes no third-party code.
func TestRootImportsNothingOfOurs(t *testing.T) {
	for _, p := range goList(t, module) {
		for _, d := range p.Imports {
			if strings.Contains(d, ".") {
				t.Errorf("the root package imports %s", d)
			}
		}
	}
}

// TestEveryPackageHasADocComment: a reader finds what each package is for before opening it.
func TestEveryPackageHasADocComment(t *testing.T) {
	for _, p := range goList(t, "./...") {
		if p.Name == "main" && strings.HasPrefix(p.Doc, "Command") {
			continue
		}
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("package %s has no doc comment", p.ImportPath)
		}
	}
}
