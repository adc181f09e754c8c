package prepare

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/cleanroom-oss/cleanroom/identity"
)

// vectorsFile is the one test-vector file both implementations of the preparation rules check:
// this package (TestBrowserVectors) and the dashboard's port in web/static/prepare.js (the
// browser test TestBrowserPrepareVectors in package web).
const vectorsFile = "testdata/browser-vectors.json"

var updateVectors = flag.Bool("update-vectors", false, "rewrite "+vectorsFile+" from the Go implementation")

// fieldVector is one raw value: the upload value it becomes, or the reason it is refused.
type fieldVector struct {
	Tag       string `json:"tag"`
	Raw       string `json:"raw"`
	FoldGmail bool   `json:"fold_gmail,omitempty"`
	Country   string `json:"default_country_code,omitempty"`
	Want      string `json:"want,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

// fileVector is one whole CSV file: the upload rows it becomes and the rejects by reason.
type fileVector struct {
	Name     string           `json:"name"`
	Country  string           `json:"default_country_code,omitempty"`
	Segments []string         `json:"segments,omitempty"`
	Input    string           `json:"input"`
	Output   string           `json:"output"`
	Rejected map[string]int64 `json:"rejected"`
}

type vectors struct {
	Comment string        `json:"comment"`
	Fields  []fieldVector `json:"fields"`
	Files   []fileVector  `json:"files"`
}

// TestBrowserVectors checks the shared vectors against the Go rules (with -update-vectors,
// rewrites their expected values from them).
func TestBrowserVectors(t *testing.T) {
	b, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Fields) < 40 || len(v.Files) < 2 {
		t.Fatalf("%d field and %d file vectors; the file lost its cases", len(v.Fields), len(v.Files))
	}
	for i, f := range v.Fields {
		got, err := normalize(identity.Tag(f.Tag), f.Raw, &Options{FoldGmail: f.FoldGmail, DefaultCountryCode: f.Country})
		reason := string(identity.ReasonOf(err))
		if *updateVectors {
			v.Fields[i].Want, v.Fields[i].Reason = got, reason
			continue
		}
		if got != f.Want || reason != f.Reason {
			t.Errorf("%s %q: got %q %q, want %q %q", f.Tag, f.Raw, got, reason, f.Want, f.Reason)
		}
	}
	for i, f := range v.Files {
		var out bytes.Buffer
		sum, err := Run(strings.NewReader(f.Input), &out, nil, Options{DefaultCountryCode: f.Country, Segments: f.Segments})
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		if *updateVectors {
			v.Files[i].Output, v.Files[i].Rejected = out.String(), sum.Rejected
			continue
		}
		if out.String() != f.Output {
			t.Errorf("%s: output\n%s\nwant\n%s", f.Name, out.String(), f.Output)
		}
		gotRej, _ := json.Marshal(sum.Rejected)
		wantRej, _ := json.Marshal(f.Rejected)
		if !bytes.Equal(gotRej, wantRej) {
			t.Errorf("%s: rejected %s, want %s", f.Name, gotRej, wantRej)
		}
	}
	if *updateVectors {
		b, _ := json.MarshalIndent(v, "", "  ")
		if err := os.WriteFile(vectorsFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
