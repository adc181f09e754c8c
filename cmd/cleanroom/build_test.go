package main

import (
	"debug/buildinfo"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// TestREADMEBuildIsStatic runs the README's build command, as written there (in an environment
// without CGO_ENABLED of its own), and checks that it makes the static binary the README
// promises: built with CGO_ENABLED=0 and, on Linux, an ELF file without a program interpreter or
// shared libraries. It compiles every package once more in that configuration, which takes
// minutes on a fresh cache, so it runs when CLEANROOM_TEST_STATIC_BUILD=1 (as .ci/run sets).
func TestREADMEBuildIsStatic(t *testing.T) {
	if os.Getenv("CLEANROOM_TEST_STATIC_BUILD") != "1" {
		t.Skip("set CLEANROOM_TEST_STATIC_BUILD=1 to build the binary with the README's command")
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	line := regexp.MustCompile(`(?m)^((?:[A-Z_]+=\S+ )*)go build -o cleanroom (\S+)`).FindSubmatch(readme)
	if line == nil {
		t.Fatal("the README has no line `... go build -o cleanroom ./cmd/cleanroom`")
	}
	env := strings.Fields(string(line[1]))
	bin := filepath.Join(t.TempDir(), "cleanroom")
	cmd := exec.Command("go", "build", "-o", bin, string(line[2]))
	cmd.Dir = "../.."
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CGO_ENABLED=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s go build: %v\n%s", line[1], err, out)
	}
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	cgo := ""
	for _, s := range info.Settings {
		if s.Key == "CGO_ENABLED" {
			cgo = s.Value
		}
	}
	if cgo != "0" {
		t.Errorf("the README's build command builds with CGO_ENABLED=%q; a static binary needs 0 (env: %q)", cgo, env)
	}
	if runtime.GOOS != "linux" {
		return
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary names a program interpreter: it is dynamically linked")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs shared libraries: %v", libs)
	}
}
