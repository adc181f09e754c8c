package edge

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoHTTPNorSQL: the edge engine runs anywhere (the serving process, a benchmark); its HTTP
// handlers live elsewhere.
func TestNoHTTPNorSQL(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range strings.Fields(string(out)) {
		if d == "net/http" || d == "database/sql" {
			t.Errorf("package edge depends on %s", d)
		}
	}
}
