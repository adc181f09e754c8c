package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/cleanroom-oss/cleanroom"
)

// runTool runs a command built by a cli in-process, as the root command would, and returns its
// error, stdout and stderr.
func runTool(t *testing.T, build func(*cli) *cobra.Command, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	c := &cli{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb}
	cmd := build(c)
	cmd.SetArgs(args)
	cmd.SetIn(c.stdin)
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SilenceUsage = true
	cmd.SilenceErrors = true
	err := cmd.Execute()
	return out.String(), errb.String(), err
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if b, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func TestGenAndPrepare(t *testing.T) {
	dir := t.TempDir()
	pub := filepath.Join(dir, "pub")
	out, errs, err := runTool(t, (*cli).genCommand, "", "publisher", "--users", "3000", "--seed", "5", "--out", pub)
	if err != nil {
		t.Fatal(err, errs)
	}
	if !strings.Contains(out, "profiles.tsv") || !strings.Contains(out, "3000 rows") || !strings.Contains(out, "3000 users in") {
		t.Errorf("summary:\n%s", out)
	}
	if !strings.HasPrefix(errs, "profiles: 3000 users in ") { // stderr is no terminal: one line
		t.Errorf("stderr: %q", errs)
	}
	profiles := readFile(t, filepath.Join(pub, "profiles.tsv"))
	if n := bytes.Count(profiles, []byte("\n")); n != 3001 {
		t.Errorf("profiles.tsv has %d lines", n)
	}
	if tax := readFile(t, filepath.Join(pub, "taxonomy.csv")); !bytes.HasPrefix(tax, []byte("cohort_id,name,iab_id,standard\n")) {
		t.Errorf("taxonomy: %q", tax[:40])
	}

	// The same flags with --gzip give the same content, compressed.
	pubz := filepath.Join(dir, "pubz")
	if _, errs, err := runTool(t, (*cli).genCommand, "", "publisher", "--users", "3000", "--seed", "5", "--out", pubz, "--gzip"); err != nil {
		t.Fatal(err, errs)
	}
	if !bytes.Equal(readFile(t, filepath.Join(pubz, "profiles.tsv.gz")), profiles) {
		t.Error("profiles.tsv.gz differs from profiles.tsv")
	}

	adv := filepath.Join(dir, "adv")
	out, errs, err = runTool(t, (*cli).genCommand, "", "advertiser", "--rows", "4000", "--overlap", "0.4",
		"--publisher-users", "3000", "--publisher-seed", "5", "--seed", "6", "--mistakes", "0.02", "--pii", "--out", adv)
	if err != nil {
		t.Fatal(err, errs)
	}
	for _, f := range []string{"data.tsv", "taxonomy.csv", "truth.json", "raw.csv", "matchable"} {
		if !strings.Contains(out, f) {
			t.Errorf("summary does not mention %s:\n%s", f, out)
		}
	}
	if n := bytes.Count(readFile(t, filepath.Join(adv, "data.tsv")), []byte("\n")); n != 4000 {
		t.Errorf("data.tsv has %d lines", n)
	}
	var truth struct {
		Publisher struct{ Seed, Users int }
		Segments  []struct {
			ID       string
			Interest int
		}
		Summary struct {
			Rows              int
			PersonsInUniverse int `json:"persons_in_universe"`
		}
	}
	if err := json.Unmarshal(readFile(t, filepath.Join(adv, "truth.json")), &truth); err != nil {
		t.Fatal(err)
	}
	if truth.Publisher.Seed != 5 || truth.Publisher.Users != 3000 || len(truth.Segments) != 13 ||
		truth.Summary.Rows != 4000 || truth.Summary.PersonsInUniverse == 0 {
		t.Errorf("truth.json: %+v", truth)
	}

	// prepare turns raw.csv into hashes that the publisher's profiles contain.
	upload := filepath.Join(dir, "upload.tsv")
	rejects := filepath.Join(dir, "rejects.csv")
	out, errs, err = runTool(t, (*cli).prepareCommand, "", "--in", filepath.Join(adv, "raw.csv"), "--out", upload,
		"--rejects", rejects, "--default-country-code", "44")
	if err != nil {
		t.Fatal(err, errs)
	}
	if !strings.Contains(out, "wrote ") || !strings.Contains(out, "email_sha256") || !strings.HasPrefix(errs, "prepare: ") {
		t.Errorf("prepare output:\n%s\nstderr: %s", out, errs)
	}
	matched := 0
	for line := range strings.Lines(string(readFile(t, upload))) {
		value, _, _ := strings.Cut(line, "\t")
		if bytes.Contains(profiles, []byte("="+value)) {
			matched++
		}
	}
	if matched < 100 {
		t.Errorf("only %d prepared identifiers appear in the publisher's profiles", matched)
	}
	if _, err := os.Stat(rejects); err != nil {
		t.Error(err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}

func TestPrepareKeepsValuesPrivate(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	const secretEmail, secretPhone = "Zed.Secret@@example.com", "+44 secret 31415926"
	os.WriteFile(in, []byte("Email;Telefon;Segmente\r\n"+secretEmail+";"+secretPhone+";vip\r\nok@example.com;;vip\r\n"), 0o600)
	out, errs, err := runTool(t, (*cli).prepareCommand, "", "--in", in, "--out", "-", "--rejects", filepath.Join(dir, "r.csv"),
		"--phone-col", "telefon", "--segments-col", "segmente")
	if err != nil {
		t.Fatal(err, errs)
	}
	rejects := string(readFile(t, filepath.Join(dir, "r.csv")))
	for _, s := range []string{"Zed", "Secret", "secret", "31415926"} {
		if strings.Contains(rejects, s) || strings.Contains(errs, s) {
			t.Errorf("%q leaks into the rejects or the summary:\n%s\n%s", s, rejects, errs)
		}
	}
	if !strings.Contains(rejects, "2,Email,bad_email,") || !strings.Contains(rejects, "2,Telefon,bad_phone,") {
		t.Errorf("rejects:\n%s", rejects)
	}
	// With --out -, the upload goes to stdout and the summary to stderr.
	if strings.Count(out, "\n") != 1 || !strings.Contains(out, "\temail_sha256\tvip") || !strings.Contains(errs, "rejected 2") {
		t.Errorf("stdout %q\nstderr %q", out, errs)
	}
}

func TestToolErrors(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	os.WriteFile(in, []byte("mail address,segments\nx@example.com,s\n"), 0o600)
	tests := []struct {
		name  string
		build func(*cli) *cobra.Command
		args  []string
		want  string
	}{
		{"prepare missing column", (*cli).prepareCommand, []string{"--in", in, "--out", filepath.Join(dir, "o.tsv"), "--email-col", "e-mail"},
			`column "e-mail" not found; the header has: "mail address", "segments" Pass --email-col`},
		{"prepare no input", (*cli).prepareCommand, []string{"--out", "x"}, "no input file"},
		{"prepare overwrite", (*cli).prepareCommand, []string{"--in", in, "--out", in}, "overwrite the input"},
		{"prepare delimiter", (*cli).prepareCommand, []string{"--in", in, "--out", "-", "--delimiter", "x"}, "unsupported delimiter"},
		{"prepare missing file", (*cli).prepareCommand, []string{"--in", filepath.Join(dir, "nope.csv"), "--out", "-"}, "cannot open the input"},
		{"gen overlap", (*cli).genCommand, []string{"advertiser", "--overlap", "2", "--out", dir}, "Overlap 2"},
		{"gen tag", (*cli).genCommand, []string{"advertiser", "--tags", "email", "--out", dir}, "unknown identifier type"},
		{"gen universe", (*cli).genCommand, []string{"advertiser", "--rows", "100000", "--overlap", "1", "--publisher-users", "10", "--out", dir}, "raise the publisher users"},
		{"gen users", (*cli).genCommand, []string{"publisher", "--users", "-5", "--out", dir}, "Users -5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runTool(t, tt.build, "", tt.args...)
			if cleanroom.ErrorCode(err) != cleanroom.EINVALID || exitCode(err) != 2 {
				t.Fatalf("error %v (code %q), want invalid", err, cleanroom.ErrorCode(err))
			}
			if line := errorLine(err); !strings.Contains(line, tt.want) {
				t.Errorf("%q does not contain %q", line, tt.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "o.tsv")); !os.IsNotExist(err) {
		t.Errorf("a failed prepare left its output: %v", err)
	}
}
