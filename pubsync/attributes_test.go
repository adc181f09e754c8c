package pubsync

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// members lists the user IDs of a bitmap's ordinals, by the order of ids.
func membersOf(t *testing.T, v *vault.PublisherVersion, ids []string, attr, value string) []string {
	t.Helper()
	for a, info := range v.Attributes {
		if info.Name != attr {
			continue
		}
		for k, val := range info.Values {
			if val != value {
				continue
			}
			var out []string
			for _, id := range ids {
				if o, ok := userOrd(t, v, id); ok && v.AttributeMembers[a][k].Contains(o) {
					out = append(out, id)
				}
			}
			return out
		}
	}
	t.Fatalf("no value %s of %s", value, attr)
	return nil
}

func TestSyncAttributes(t *testing.T) {
	ids := []string{"u1", "u2", "u3", "u4", "u5"}
	for _, tc := range []struct {
		name, file string
	}{
		{"tsv", "user_id\tcountry\tnumber:page_views_30d\tlist:iab_categories\n" +
			"u1\tUS\t0\tIAB1,IAB2\n" +
			"u2\tUS\t3\tIAB2, IAB2\n" +
			"u1\tUS\t99\tIAB9\n" + // duplicate: ignored whole, and renumbers the later users
			"u3\t\t120\t\n" +
			"u4\t\tmany\tIAB 3,IAB3\n" +
			"u5\n"},
		{"csv", "user_id,list:iab_categories,number:page_views_30d\n" +
			"u1,\"IAB1,IAB2\",0\n" +
			"u2,\"IAB2,IAB2\",3\n" +
			"u1,IAB9,99\n" +
			"u3,,120\n" +
			"u4,\"IAB 3,IAB3\",many\n" +
			"u5\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, rep := mustSync(t, tc.file, testTaxonomy(t), testOptions())
			want := []vault.AttributeInfo{
				{Name: "page_views_30d", Kind: vault.AttributeNumber, Values: []string{"0", "1-4", "5-9", "10-19", "20-49", "50-99", "100+"}},
				{Name: "iab_categories", Kind: vault.AttributeList, Values: []string{"IAB1", "IAB2", "IAB3"}},
			}
			if tc.name == "csv" {
				want[0], want[1] = want[1], want[0]
			}
			if diff := cmp.Diff(want, v.Attributes); diff != "" {
				t.Fatalf("attributes (-want +got):\n%s", diff)
			}
			for _, c := range []struct {
				attr, value string
				want        []string
			}{
				{"page_views_30d", "0", []string{"u1"}},
				{"page_views_30d", "1-4", []string{"u2"}},
				{"page_views_30d", "50-99", nil},
				{"page_views_30d", "100+", []string{"u3"}},
				{"iab_categories", "IAB1", []string{"u1"}},
				{"iab_categories", "IAB2", []string{"u1", "u2"}},
				{"iab_categories", "IAB3", []string{"u4"}},
			} {
				if got := membersOf(t, v, ids, c.attr, c.value); !cmp.Equal(c.want, got) {
					t.Errorf("%s=%s: %v, want %v", c.attr, c.value, got, c.want)
				}
			}
			if rep.Rejected[ReasonBadAttribute] != 2 || len(rep.IgnoredColumns) != 0 {
				t.Errorf("report: rejected %v, ignored %v", rep.Rejected, rep.IgnoredColumns)
			}
			// Events keep the attributes; a new user has none.
			ap, _, err := Apply(v, Batch{Identify: []IdentifyEvent{{UserID: "u9", Country: "FR"}}}, testOptions())
			if err != nil {
				t.Fatal(err)
			}
			if err := ap.Validate(); err != nil {
				t.Fatal(err)
			}
			if got := membersOf(t, ap, append(ids, "u9"), "iab_categories", "IAB2"); !cmp.Equal([]string{"u1", "u2"}, got) {
				t.Errorf("after an event: %v", got)
			}
			// Erasure takes the user out of every attribute.
			e, n, err := Erase(v, []string{"u2"}, testOptions())
			if err != nil || n != 1 {
				t.Fatal(n, err)
			}
			if err := e.Validate(); err != nil {
				t.Fatal(err)
			}
			if got := membersOf(t, e, ids, "iab_categories", "IAB2"); !cmp.Equal([]string{"u1"}, got) {
				t.Errorf("after erasure: %v", got)
			}
		})
	}
}

func TestSyncAttributeHeader(t *testing.T) {
	many := "user_id"
	for i := range MaxAttributes + 1 {
		many += "\tnumber:a" + string(rune('a'+i))
	}
	for _, h := range []string{
		"user_id\tnumber:Page Views",
		"user_id\tlist:",
		"user_id\tnumber:x\tlist:x",
		many,
	} {
		_, _, err := syncString(t, h+"\nu1\n", testTaxonomy(t), testOptions())
		if cleanroom.ErrorCode(err) != cleanroom.EINVALID {
			t.Errorf("%q: %v", h, err)
		}
	}
	// Other prefixes are ordinary ignored columns.
	_, rep := mustSync(t, "user_id\ttext:x\nu1\tfoo\n", testTaxonomy(t), testOptions())
	if !cmp.Equal(rep.IgnoredColumns, []string{"text:x"}) {
		t.Errorf("ignored %v", rep.IgnoredColumns)
	}
}

func TestSyncAttributeValueLimit(t *testing.T) {
	var b strings.Builder
	b.WriteString("user_id\tlist:topics\n")
	for i := range MaxAttributeValues + 5 {
		b.WriteString("u" + strconv.Itoa(i) + "\tt" + strconv.Itoa(i) + "\n")
	}
	v, rep := mustSync(t, b.String(), testTaxonomy(t), testOptions())
	if len(v.Attributes[0].Values) != MaxAttributeValues || rep.Rejected[ReasonTooManyAttributeValues] != 5 {
		t.Errorf("%d values, rejected %v", len(v.Attributes[0].Values), rep.Rejected)
	}
}

func TestNaturalCompare(t *testing.T) {
	in := []string{"IAB10", "IAB2", "IAB1-2", "IAB1", "IAB1-10", "IAB02x", "b", "a", "IAB1-3"}
	slices.SortFunc(in, naturalCompare)
	want := []string{"IAB1", "IAB1-2", "IAB1-3", "IAB1-10", "IAB2", "IAB02x", "IAB10", "a", "b"}
	if !slices.Equal(in, want) {
		t.Errorf("%q, want %q", in, want)
	}
}
