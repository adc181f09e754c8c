package activation_test

import (
	"bytes"
	"encoding/csv"
	"testing"

	"github.com/cleanroom-oss/cleanroom/activation"
)

// TestWriteCSVNoFormulas: a cohort name (typed by the advertiser) never reaches the publisher's
// spreadsheet as a formula.
func TestWriteCSVNoFormulas(t *testing.T) {
	for _, tt := range []struct{ name, want string }{
		{"Acme - Hikers", "Acme - Hikers"},
		{"=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"},
		{"+1", "'+1"}, {"-1", "'-1"}, {"@SUM(A1)", "'@SUM(A1)"},
		{"\t=1", "'\t=1"}, {"\r=1", "'\r=1"},
	} {
		var b bytes.Buffer
		if err := activation.WriteCSV(&b, []activation.ExportRow{{Code: 100001, Name: tt.name}}); err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(&b).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if got := recs[1][1]; got != tt.want {
			t.Errorf("%q written as %q, want %q", tt.name, got, tt.want)
		}
	}
}
