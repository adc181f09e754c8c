package privacy_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The package is an engine: no HTTP, no SQL, and of this project only the root package, so any
// service (and the edge) can release through it.
func TestPrivacyStaysPure(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/cleanroom-oss/cleanroom/privacy").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, d := range strings.Fields(string(out)) {
		switch {
		case d == "net/http", d == "database/sql":
			t.Errorf("privacy depends on %s", d)
		case strings.HasPrefix(d, "github.com/cleanroom-oss/cleanroom/") && d != "github.com/cleanroom-oss/cleanroom/privacy":
			t.Errorf("privacy depends on %s", d)
		case strings.Contains(strings.SplitN(d, "/", 2)[0], ".") && !strings.HasPrefix(d, "github.com/cleanroom-oss/cleanroom"):
			t.Errorf("privacy depends on third-party %s", d)
		}
	}
}
