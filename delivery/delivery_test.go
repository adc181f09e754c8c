package delivery

import (
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom/privacy"
)

func TestComplement(t *testing.T) {
	r := func(v int64) privacy.Released { return privacy.Released{Value: v} }
	s := privacy.Released{Suppressed: true}
	for _, tc := range []struct {
		name string
		in   []privacy.Released
		want []bool // suppressed after
	}{
		{"none withheld", []privacy.Released{r(300), r(200), r(150)}, []bool{false, false, false}},
		{"a lone withheld bucket takes the smallest with it", []privacy.Released{r(300), s, r(150), r(200)}, []bool{false, true, true, false}},
		{"two withheld need nothing more", []privacy.Released{r(300), s, s}, []bool{false, true, true}},
		{"all withheld", []privacy.Released{s, s}, []bool{true, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			complement(tc.in)
			for i, w := range tc.want {
				if tc.in[i].Suppressed != w {
					t.Fatalf("bucket %d suppressed %v, want %v (%+v)", i, tc.in[i].Suppressed, w, tc.in)
				}
			}
		})
	}
}

func TestParsePeriod(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		from, to, wantFrom, wantTo string
		ok                         bool
	}{
		{"", "", "2026-11-03", "2026-12-02", true},
		{"2026-11-01", "2026-11-30", "2026-11-01", "2026-11-30", true},
		{"2026-12-02", "2026-11-30", "", "", false},
		{"2026-01-01", "2026-12-01", "", "", false},
		{"yesterday", "", "", "", false},
		{"", "2026-13-01", "", "", false},
	} {
		f, to, err := ParsePeriod(tc.from, tc.to, now)
		if (err == nil) != tc.ok || tc.ok && (f != tc.wantFrom || to != tc.wantTo) {
			t.Errorf("ParsePeriod(%q, %q) = %q, %q, %v", tc.from, tc.to, f, to, err)
		}
	}
}
