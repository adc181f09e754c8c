package cohorts

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cleanroom-oss/cleanroom/ingest"
)

// TestReportCausesComplete: every reason an upload report can count rows under has a cause of
// its own with a fix; none falls into the "other problems" fallback, and no reason is claimed
// twice.
func TestReportCausesComplete(t *testing.T) {
	seen := map[string]string{}
	for _, rc := range reportCauses {
		if rc.code == "" || rc.code == fallbackCause.code || !strings.Contains(rc.message, "%d") || rc.fix == "" {
			t.Errorf("cause %+v: want a code of its own, a message with the row count and a fix", rc)
		}
		for _, r := range rc.reasons {
			if prev, ok := seen[r]; ok {
				t.Errorf("reason %q is explained by both %s and %s", r, prev, rc.code)
			}
			seen[r] = rc.code
		}
	}
	for _, reason := range ingest.RowReasons {
		rc := causeOf(reason)
		if rc == &fallbackCause {
			t.Errorf("reason %q of the upload report has no cause: it falls into %q", reason, fallbackCause.code)
			continue
		}
		got := explainReport(map[string]int64{reason: 7})
		if len(got) != 1 || got[0].Code != rc.code || got[0].Rows != 7 || !strings.HasPrefix(got[0].Message, "7 rows") ||
			!slices.Equal(got[0].Reasons, []string{reason}) {
			t.Errorf("reason %q: causes %+v", reason, got)
		}
	}
	// Reasons of one cause add up; an unknown reason still gets the fallback.
	got := explainReport(map[string]int64{"raw_email": 2, "raw_phone": 3, "from_the_future": 1}, map[string]int64{"unknown_segment": 4})
	want := []string{"invalid_values 1 [from_the_future]", "unhashed_values 5 [raw_email raw_phone]", "unknown_segments 4 [unknown_segment]"}
	var have []string
	for _, c := range got {
		have = append(have, fmt.Sprintf("%s %d %v", c.Code, c.Rows, c.Reasons))
	}
	if !slices.Equal(have, want) {
		t.Errorf("causes %v, want %v", have, want)
	}
}
