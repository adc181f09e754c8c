package pubsync

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/identity"
	"github.com/cleanroom-oss/cleanroom/vault"
)

const (
	hash1 = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"
	hash2 = "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b"
	maid1 = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
	maid2 = "0f8fad5b-d9cb-469f-a165-70867728950e"
)

func TestSyncBasic(t *testing.T) {
	in := "user_id\tcountry\tidentifiers\tcohorts\n" +
		"alice\tUS\temail_sha256=" + hash1 + ",maid=" + maid1 + "\tc1,c3\n" +
		"bob\tgb\temail_sha256=" + strings.ToUpper(hash2) + ",email_sha256=" + hash1 + "\tc3\n" +
		"carol\t\tip_address=203.0.113.7,maid=" + strings.ToUpper(maid2) + "\t\n" +
		"dave\tDE\t\tc5,c5,c1\n"
	v, rep := mustSync(t, in, testTaxonomy(t), testOptions())
	if v.Users != 4 || rep.Users != 4 || rep.Rows != 4 || len(rep.Errors) != 0 {
		t.Fatalf("users %d, report %+v", v.Users, rep)
	}
	for i, id := range []string{"alice", "bob", "carol", "dave"} {
		if o, ok := userOrd(t, v, id); !ok || o != uint32(i) {
			t.Errorf("user %s: ordinal %d, %v; want %d", id, o, ok, i)
		}
	}
	if _, ok := userOrd(t, v, "eve"); ok {
		t.Error("found a user that is not in the file")
	}
	wantTags := []identity.Tag{identity.TagEmailSHA256, identity.TagIPAddress, identity.TagMAID}
	if diff := cmp.Diff(wantTags, v.Tags); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]identity.Tag{identity.TagEmailSHA256, identity.TagMAID, identity.TagIPAddress}, rep.Tags); diff != "" {
		t.Errorf("report tags in first-seen order (-want +got):\n%s", diff)
	}
	// hash1 belongs to alice and bob.
	if got := v.LookupAll(identity.TagEmailSHA256, fingerprint(t, identity.TagEmailSHA256, hash1)); !slices.Equal(got, []uint32{0, 1}) {
		t.Errorf("hash1 users = %v", got)
	}
	for _, c := range []struct {
		tag   identity.Tag
		value string
		ord   uint32
	}{
		{identity.TagEmailSHA256, hash2, 1}, {identity.TagMAID, maid1, 0}, {identity.TagMAID, maid2, 2},
		{identity.TagIPAddress, "203.0.113.7", 2},
	} {
		if o, ok := v.Lookup(c.tag, fingerprint(t, c.tag, c.value)); !ok || o != c.ord {
			t.Errorf("Lookup %s %s = %d, %v; want %d", c.tag, c.value, o, ok, c.ord)
		}
	}
	if _, ok := v.Lookup(identity.TagMAID, fingerprint(t, identity.TagMAID, "11111111-2222-3333-4444-555555555555")); ok {
		t.Error("found an identifier that is not in the file")
	}
	if v.Rows() != 6 || rep.Identifiers[identity.TagEmailSHA256] != 3 || rep.Identifiers[identity.TagMAID] != 2 {
		t.Errorf("rows %d, identifiers %v", v.Rows(), rep.Identifiers)
	}
	for id, want := range map[string][]uint32{"c1": {0, 3}, "c2": {}, "c3": {0, 1}, "c4": {}, "c5": {3}} {
		if got := members(t, v, id); !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Errorf("cohort %s = %v, want %v", id, got, want)
		}
	}
	if got := []string{vault.CountryCode(v.Country[0]), vault.CountryCode(v.Country[1]), vault.CountryCode(v.Country[2]), vault.CountryCode(v.Country[3])}; !slices.Equal(got, []string{"US", "GB", "", "DE"}) {
		t.Errorf("countries %v", got)
	}
	if diff := cmp.Diff(map[string]int64{"US": 1, "GB": 1, "DE": 1, "": 1}, rep.Countries); diff != "" {
		t.Errorf("report countries (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int64{"c1": 2, "c2": 0, "c3": 2, "c4": 0, "c5": 1}, rep.Cohorts); diff != "" {
		t.Errorf("report cohorts (-want +got):\n%s", diff)
	}
	if rep.UsersWithoutIdentifiers != 1 || rep.Format != "tsv" || rep.Gzip {
		t.Errorf("report %+v", rep)
	}
}

func TestSyncRowErrors(t *testing.T) {
	long := "u-long\tUS\tmaid=" + maid1 + strings.Repeat(",maid="+maid1, 40) + "\t" // > 1024 bytes
	lines := []string{
		"user_id\tcountry\tidentifiers\tcohorts", // 1
		"u1\tUS\temail_sha256=" + hash1 + "\tc1", // 2 ok
		"",                                       // 3 blank
		"u2\tXX\tmaid=" + maid1 + "\tc2",         // 4 bad_country, kept
		"\tUS\tmaid=" + maid2 + "\t",             // 5 missing_user_id, rejected
		"u3\tUS\temail_sha256=abc\tc1",           // 6 wrong_length, kept
		"u4\tUS\tfoo=bar\t",                      // 7 unknown_tag, kept
		"u5\tUS\tnoequals\t",                     // 8 bad_identifier, kept
		"u6\tUS\tmaid=00000000-0000-0000-0000-000000000000\tc9,c1", // 9 zero_maid + unknown_cohort, kept
		"u1\tGB\tip_address=1.2.3.4\tc3",                           // 10 duplicate_user, rejected
		"u7\tUS\ta\tb\tc",                                          // 11 wrong_column_count, rejected
		"u8\tus\tip_address=1.2.3.4",                               // 12 ok (short row)
		"u9\x01\tUS\t\t",                                           // 13 bad_user_id, rejected
		long,                                                       // 14 line_too_long, rejected
		"u10\tUK\t\t",                                              // 15 bad_country, kept
		"u11\tUSA\t\t",                                             // 16 bad_country, kept
		"u\xff\tUS\t\t",                                            // 17 bad_utf8, rejected
		"u12\tFR\temail_sha256=test@example.com,maid=" + maid2 + "\tc4", // 18 raw_email, kept
	}
	in := strings.Join(lines, "\r\n") + "\r\n"
	v, rep := mustSync(t, in, testTaxonomy(t), testOptions())
	type le struct {
		Line   int64
		Reason string
	}
	want := []le{
		{4, ReasonBadCountry}, {5, ReasonMissingUserID}, {6, string(identity.ReasonWrongLength)},
		{7, ReasonUnknownTag}, {8, ReasonBadIdentifier}, {9, string(identity.ReasonZeroMAID)},
		{9, ReasonUnknownCohort}, {10, ReasonDuplicateUser}, {11, ReasonColumnCount}, {13, ReasonBadUserID},
		{14, ReasonLineTooLong}, {15, ReasonBadCountry}, {16, ReasonBadCountry}, {17, ReasonBadUTF8},
		{18, string(identity.ReasonRawEmail)},
	}
	var got []le
	for _, e := range rep.Errors {
		got = append(got, le{e.Line, e.Reason})
		if e.Message == "" || e.Hint == "" {
			t.Errorf("line %d %s: message or hint missing: %+v", e.Line, e.Reason, e)
		}
		if strings.Contains(e.Message+e.Hint, "test@example.com") || strings.Contains(e.Message+e.Hint, maid1) {
			t.Errorf("line %d: the error quotes a value: %+v", e.Line, e)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	wantUsers := []string{"u1", "u2", "u3", "u4", "u5", "u6", "u8", "u10", "u11", "u12"}
	if v.Users != uint32(len(wantUsers)) {
		t.Fatalf("%d users, want %d", v.Users, len(wantUsers))
	}
	for i, id := range wantUsers {
		if o, ok := userOrd(t, v, id); !ok || o != uint32(i) {
			t.Errorf("user %s: ordinal %d, %v; want %d", id, o, ok, i)
		}
	}
	if rep.Rows != 16 || rep.RejectedRows != 6 || rep.RowsWithErrors != 14 {
		t.Errorf("rows %d, rejected rows %d, rows with errors %d", rep.Rows, rep.RejectedRows, rep.RowsWithErrors)
	}
	if rep.Rejected[ReasonBadCountry] != 3 || rep.Rejected[ReasonDuplicateUser] != 1 {
		t.Errorf("rejected %v", rep.Rejected)
	}
	// The duplicate's data is dropped: u1 keeps its first row only.
	if got := members(t, v, "c3"); len(got) != 0 {
		t.Errorf("c3 = %v: the duplicate row's cohort was kept", got)
	}
	if o, _ := v.Lookup(identity.TagIPAddress, fingerprint(t, identity.TagIPAddress, "1.2.3.4")); o != 6 {
		t.Errorf("1.2.3.4 belongs to %d, want 6 (u8); the duplicate's identifier must be dropped", o)
	}
	if all := v.LookupAll(identity.TagIPAddress, fingerprint(t, identity.TagIPAddress, "1.2.3.4")); len(all) != 1 {
		t.Errorf("1.2.3.4 has users %v", all)
	}
	if got := members(t, v, "c1"); !slices.Equal(got, []uint32{0, 2, 5}) {
		t.Errorf("c1 = %v", got)
	}
	if c := vault.CountryCode(v.Country[1]); c != "" {
		t.Errorf("u2's invalid country was kept as %q", c)
	}
	if c := vault.CountryCode(v.Country[6]); c != "US" {
		t.Errorf("u8's lower-case country = %q", c)
	}
	for _, e := range rep.Errors {
		switch e.Line {
		case 10:
			if !strings.Contains(e.Message, "line 2") {
				t.Errorf("the duplicate error does not name the first line: %q", e.Message)
			}
		case 15:
			if !strings.Contains(e.Hint, "GB") {
				t.Errorf("UK hint = %q", e.Hint)
			}
		case 16:
			if !strings.Contains(e.Hint, "two-letter") {
				t.Errorf("USA hint = %q", e.Hint)
			}
		}
	}
}

func TestDuplicateUsers(t *testing.T) {
	var b strings.Builder
	b.WriteString("user_id\tcountry\tidentifiers\tcohorts\n")
	// 300 users, every third one repeated later with other data.
	for i := range 300 {
		fmt.Fprintf(&b, "user-%d\tUS\tappnexus=%d\tc1\n", i, 1000+i)
	}
	for i := 0; i < 300; i += 3 {
		fmt.Fprintf(&b, "user-%d\tFR\tappnexus=%d\tc2\n", i, 5000+i)
	}
	fmt.Fprintf(&b, "last\tDE\tappnexus=99999\tc2\n")
	for _, workers := range []int{1, 3} {
		opt := testOptions()
		opt.Workers = workers
		v, rep := mustSync(t, b.String(), testTaxonomy(t), opt)
		if v.Users != 301 || rep.Rejected[ReasonDuplicateUser] != 100 || rep.RejectedRows != 100 {
			t.Fatalf("users %d, rejected %v", v.Users, rep.Rejected)
		}
		if o, ok := userOrd(t, v, "last"); !ok || o != 300 {
			t.Errorf("last user: %d %v", o, ok)
		}
		if got := members(t, v, "c2"); !slices.Equal(got, []uint32{300}) {
			t.Errorf("c2 = %v: duplicates' memberships kept", got)
		}
		if v.Rows() != 301 || v.Country[0] != vault.PackCountry("US") {
			t.Errorf("rows %d, country %v", v.Rows(), vault.CountryCode(v.Country[0]))
		}
		if _, ok := v.Lookup(identity.TagAppNexus, fingerprint(t, identity.TagAppNexus, "5000")); ok {
			t.Error("a duplicate row's identifier was kept")
		}
		dl := errorLines(rep, ReasonDuplicateUser)
		if len(dl) == 0 || dl[0] != 302 {
			t.Errorf("first duplicate error lines %v, want 302 first", dl[:min(3, len(dl))])
		}
	}
}

func TestTooManyTypes(t *testing.T) {
	reg, err := identity.NewRegistry("crm_id", "bridge_id")
	if err != nil {
		t.Fatal(err)
	}
	opt := testOptions()
	opt.Registry, opt.MaxTypes = reg, 2
	in := "user_id\tidentifiers\n" +
		"u1\tmaid=" + maid1 + "\n" +
		"u2\tcrm_id=A-1\n" +
		"u3\tbridge_id=B-1\n" +
		strings.Repeat("filler\t\n", 0) +
		"u4\tmaid=" + maid2 + ",bridge_id=B-2,crm_id=A-2\n"
	v, rep := mustSync(t, in, testTaxonomy(t), opt)
	if diff := cmp.Diff([]identity.Tag{"crm_id", identity.TagMAID}, v.Tags); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	if got := errorLines(rep, ReasonTooManyTypes); !slices.Equal(got, []int64{4, 5}) {
		t.Errorf("too_many_types lines %v", got)
	}
	for _, e := range rep.Errors {
		if !strings.Contains(e.Hint, "2") || !strings.Contains(e.Hint, "raise") || !strings.Contains(e.Message, "bridge_id") {
			t.Errorf("error %+v: want the tag, the limit and how to raise it", e)
		}
	}
	if rep.Rejected[ReasonTooManyTypes] != 2 || rep.RowsWithErrors != 0 || v.Users != 4 || rep.UsersWithoutIdentifiers != 1 {
		t.Errorf("report %+v", rep)
	}
	// The limit follows file order even when later blocks are parsed first.
	var b strings.Builder
	b.WriteString("user_id\tidentifiers\n")
	for i := range 200 {
		tag := "maid=" + maid1
		switch {
		case i == 150:
			tag = "bridge_id=X"
		case i == 199:
			tag = "crm_id=Y"
		}
		fmt.Fprintf(&b, "u%d\t%s\n", i, tag)
	}
	opt.Workers = 4
	v, rep = mustSync(t, b.String(), testTaxonomy(t), opt)
	if diff := cmp.Diff([]identity.Tag{identity.TagMAID, "bridge_id"}, rep.Tags); diff != "" {
		t.Errorf("accepted tags (-want +got):\n%s", diff)
	}
	if got := errorLines(rep, ReasonTooManyTypes); !slices.Equal(got, []int64{201}) {
		t.Errorf("too_many_types lines %v", got)
	}
}

func TestCountries(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"US", "US", true}, {"us", "US", true}, {" gb ", "GB", true}, {"", "", true}, {"  ", "", true},
		{"AX", "AX", true}, {"ZW", "ZW", true}, {"XK", "", false}, {"UK", "", false}, {"EU", "", false},
		{"XX", "", false}, {"USA", "", false}, {"U", "", false}, {"1A", "", false}, {"U\xffS", "", false},
		{"é", "", false},
	} {
		c, ok := parseCountry([]byte(tc.in))
		if ok != tc.ok || vault.CountryCode(c) != tc.want {
			t.Errorf("parseCountry(%q) = %q, %v; want %q, %v", tc.in, vault.CountryCode(c), ok, tc.want, tc.ok)
		}
	}
	if !ValidCountry("FR") || ValidCountry("fr") || ValidCountry("UK") {
		t.Error("ValidCountry")
	}
	if n := len(strings.Fields(isoCountries)); n != 249 {
		t.Errorf("%d codes, want the 249 assigned ones", n)
	}
}

// TestCountryListMatchesSystem compares the embedded list with the system's copy of ISO 3166
// (tzdata's iso3166.tab), when there is one.
func TestCountryListMatchesSystem(t *testing.T) {
	data, err := os.ReadFile("/usr/share/zoneinfo/iso3166.tab")
	if err != nil {
		t.Skip("no iso3166.tab on this system")
	}
	var codes []string
	for _, l := range strings.Split(string(data), "\n") {
		if l == "" || l[0] == '#' {
			continue
		}
		codes = append(codes, strings.SplitN(l, "\t", 2)[0])
	}
	slices.Sort(codes)
	if diff := cmp.Diff(codes, strings.Fields(isoCountries)); diff != "" {
		t.Errorf("country list (-system +embedded):\n%s", diff)
	}
}

// randomProfile is a random profile file with its expected version, computed naively.
type randomProfile struct {
	text    string
	users   []string                             // kept user IDs in ordinal order
	ids     map[identity.Tag]map[string][]uint32 // normalised value -> ordinals
	cohorts map[string][]uint32
	country []string
}

func newRandomProfile(t testing.TB, seed uint64, n int) *randomProfile {
	r := rand.New(rand.NewPCG(seed, 1))
	p := &randomProfile{ids: map[identity.Tag]map[string][]uint32{}, cohorts: map[string][]uint32{}}
	var b strings.Builder
	b.WriteString("user_id\tcountry\tidentifiers\tcohorts\n")
	seen := map[string]bool{}
	countries := []string{"US", "GB", "DE", "", "fr", "XX"}
	for i := range n {
		id := fmt.Sprintf("user-%d", r.IntN(n*9/10+1)) // about 10% repeats
		if r.IntN(50) == 0 {
			id = "" // a rejected row
		}
		country := countries[r.IntN(len(countries))]
		type idv struct {
			tag        identity.Tag
			raw, value string
		}
		var ids []idv
		for range r.IntN(5) {
			switch r.IntN(5) {
			case 0:
				v := fmt.Sprintf("%064x", r.Uint64()%5000+1) // a small pool: shared values
				raw := v
				if r.IntN(3) == 0 {
					raw = strings.ToUpper(v)
				}
				ids = append(ids, idv{identity.TagEmailSHA256, raw, v})
			case 1:
				v := fmt.Sprintf("%08x-0000-4000-8000-%012x", r.Uint32(), r.Uint64()%1000)
				ids = append(ids, idv{identity.TagMAID, strings.ToUpper(v), v})
			case 2:
				v := fmt.Sprintf("10.%d.%d.%d", r.IntN(4), r.IntN(256), r.IntN(256))
				ids = append(ids, idv{identity.TagIPAddress, v, v})
			case 3:
				v := fmt.Sprint(r.Uint64()%100000 + 1)
				ids = append(ids, idv{identity.TagAppNexus, "00" + v, v})
			case 4:
				ids = append(ids, idv{identity.TagMAID, "not-a-maid", ""}) // rejected identifier
			}
		}
		var cs []string
		for range r.IntN(4) {
			cs = append(cs, fmt.Sprintf("c%d", r.IntN(6)+1)) // c6 is unknown
		}
		parts := make([]string, len(ids))
		for k, x := range ids {
			parts[k] = string(x.tag) + "=" + x.raw
		}
		fmt.Fprintf(&b, "%s\t%s\t%s\t%s\n", id, country, strings.Join(parts, ","), strings.Join(cs, ","))
		if r.IntN(40) == 0 {
			b.WriteString("\n") // blank lines are not rows
		}
		_ = i
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		o := uint32(len(p.users))
		p.users = append(p.users, id)
		switch c := strings.ToUpper(country); c {
		case "XX":
			p.country = append(p.country, "")
		default:
			p.country = append(p.country, c)
		}
		for _, x := range ids {
			if x.value == "" {
				continue
			}
			if p.ids[x.tag] == nil {
				p.ids[x.tag] = map[string][]uint32{}
			}
			if l := p.ids[x.tag][x.value]; len(l) == 0 || l[len(l)-1] != o {
				p.ids[x.tag][x.value] = append(l, o)
			}
		}
		for _, c := range cs {
			if c == "c6" {
				continue
			}
			if l := p.cohorts[c]; len(l) == 0 || l[len(l)-1] != o && !slices.Contains(l, o) {
				p.cohorts[c] = append(l, o)
			}
		}
	}
	p.text = b.String()
	return p
}

// check compares v with the naive computation.
func (p *randomProfile) check(t *testing.T, v *vault.PublisherVersion) {
	t.Helper()
	if int(v.Users) != len(p.users) {
		t.Fatalf("%d users, want %d", v.Users, len(p.users))
	}
	for o, id := range p.users {
		if got, ok := userOrd(t, v, id); !ok || got != uint32(o) {
			t.Fatalf("user %s: ordinal %d %v, want %d", id, got, ok, o)
		}
		if c := vault.CountryCode(v.Country[o]); c != p.country[o] {
			t.Fatalf("user %s: country %q, want %q", id, c, p.country[o])
		}
	}
	rows := 0
	for tag, vals := range p.ids {
		for val, ords := range vals {
			rows += len(ords)
			got := v.LookupAll(tag, fingerprint(t, tag, val))
			if !slices.Equal(got, ords) {
				t.Fatalf("%s %s: users %v, want %v", tag, val, got, ords)
			}
			if o, ok := v.Lookup(tag, fingerprint(t, tag, val)); !ok || o != ords[0] {
				t.Fatalf("Lookup %s %s = %d %v", tag, val, o, ok)
			}
		}
	}
	if rows != v.Rows() {
		t.Fatalf("%d identity rows, want %d", v.Rows(), rows)
	}
	for i, c := range v.Cohorts {
		want := slices.Clone(p.cohorts[c.ID])
		slices.Sort(want)
		if got := v.Members[i].ToArray(); !slices.Equal(got, want) && len(got)+len(want) > 0 {
			t.Fatalf("cohort %s: %v, want %v", c.ID, got, want)
		}
	}
}

func TestSyncMatchesNaive(t *testing.T) {
	tax := testTaxonomy(t)
	for _, tc := range []struct {
		seed    uint64
		n       int
		workers int
		block   int
	}{
		{1, 1, 1, 2048}, {2, 50, 2, 2048}, {3, 2000, 1, 1 << 20}, {4, 2000, 3, 2048}, {5, 5000, 4, 4096},
	} {
		t.Run(fmt.Sprintf("seed=%d/n=%d/workers=%d", tc.seed, tc.n, tc.workers), func(t *testing.T) {
			p := newRandomProfile(t, tc.seed, tc.n)
			opt := testOptions()
			opt.Workers, opt.blockSize = tc.workers, tc.block
			v, _ := mustSync(t, p.text, tax, opt)
			p.check(t, v)
			// The same file gives the same version whatever the parallelism.
			opt.Workers, opt.blockSize = 1, 1<<22
			v1, _ := mustSync(t, p.text, tax, opt)
			if diff := cmp.Diff(v1, v, versionCmp...); diff != "" {
				t.Errorf("versions differ with the parallelism (-1 worker +%d):\n%s", tc.workers, diff)
			}
		})
	}
}

func TestSyncGzipAndCSV(t *testing.T) {
	tax := testTaxonomy(t)
	p := newRandomProfile(t, 9, 1500)
	opt := testOptions()
	want, wantRep := mustSync(t, p.text, tax, opt)

	// gzip, as two concatenated members.
	var gz bytes.Buffer
	half := len(p.text) / 2
	for _, part := range []string{p.text[:half], p.text[half:]} {
		zw := gzip.NewWriter(&gz)
		zw.Write([]byte(part))
		zw.Close()
	}
	got, rep, err := Sync(context.Background(), bytes.NewReader(gz.Bytes()), tax, opt)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Gzip || rep.Bytes != int64(gz.Len()) || rep.DecompressedBytes != int64(len(p.text)) {
		t.Errorf("gzip report: gzip %v, bytes %d (want %d), decompressed %d (want %d)", rep.Gzip, rep.Bytes, gz.Len(), rep.DecompressedBytes, len(p.text))
	}
	if diff := cmp.Diff(want, got, versionCmp...); diff != "" {
		t.Errorf("gzip version differs:\n%s", diff)
	}

	// CSV with the same header names, quoted lists, columns in another order.
	var b strings.Builder
	for i, line := range strings.Split(strings.TrimSuffix(p.text, "\n"), "\n") {
		if line == "" {
			b.WriteString("\n")
			continue
		}
		f := strings.Split(line, "\t")
		for len(f) < 4 {
			f = append(f, "")
		}
		q := func(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
		if i == 0 {
			fmt.Fprintf(&b, "cohorts,user_id,identifiers,country\n")
			continue
		}
		fmt.Fprintf(&b, "%s,%s,%s,%s\n", q(f[3]), f[0], q(f[2]), f[1])
	}
	got, rep = mustSync(t, b.String(), tax, opt)
	if rep.Format != "csv" {
		t.Errorf("format %q", rep.Format)
	}
	if diff := cmp.Diff(want, got, versionCmp...); diff != "" {
		t.Errorf("CSV version differs:\n%s", diff)
	}
	if diff := cmp.Diff(wantRep.Rejected, rep.Rejected); diff != "" {
		t.Errorf("CSV report differs:\n%s", diff)
	}
	p.check(t, got)
}

func TestSyncCSVQuoting(t *testing.T) {
	in := "user_id,identifiers,cohorts,extra\n" +
		`u1,"maid=` + maid1 + `,ip_address=1.2.3.4","c1,c2",x` + "\n" +
		`u2,"maid=` + maid2 + `,"c1` + "\n" + // unclosed quote
		`"u""3",,c3,` + "\n"
	v, rep := mustSync(t, in, testTaxonomy(t), testOptions())
	if v.Users != 2 || !slices.Equal(errorLines(rep, ReasonBadQuoting), []int64{3}) {
		t.Errorf("users %d, errors %+v", v.Users, rep.Errors)
	}
	if o, ok := userOrd(t, v, `u"3`); !ok || o != 1 {
		t.Errorf(`u"3: %d %v`, o, ok)
	}
	if diff := cmp.Diff([]string{"extra"}, rep.IgnoredColumns); diff != "" {
		t.Errorf("ignored columns: %s", diff)
	}
}

func TestSyncFileErrors(t *testing.T) {
	tax := testTaxonomy(t)
	for _, tc := range []struct{ name, in string }{
		{"empty", ""},
		{"blank", "\n  \n"},
		{"no user_id column", "id\tcountry\nu1\tUS\n"},
		{"data instead of header", "u1\tUS\tmaid=" + maid1 + "\tc1\n"},
		{"header too long", strings.Repeat("x", 5000) + "\n"},
		{"bad gzip", "\x1f\x8bnot gzip at all"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, _, err := syncString(t, tc.in, tax, testOptions())
			if v != nil || cleanroom.ErrorCode(err) != cleanroom.EINVALID {
				t.Errorf("got %v, %v; want EINVALID", v, err)
			}
		})
	}
	// A header alone is an empty version.
	v, rep := mustSync(t, "user_id\tcountry\tidentifiers\tcohorts\n", tax, testOptions())
	if v.Users != 0 || rep.Rows != 0 || len(v.Members) != tax.Len() {
		t.Errorf("header only: %+v", rep)
	}
	// Bad options.
	for _, opt := range []Options{
		{UserKey: testUserKey},
		{FingerprintKey: testFPKey},
		{FingerprintKey: testFPKey, UserKey: make([]byte, 32)},
		{FingerprintKey: testFPKey, UserKey: testUserKey, MaxErrorRate: 2},
		{FingerprintKey: testFPKey, UserKey: testUserKey, MaxTypes: -1},
	} {
		if _, _, err := Sync(context.Background(), strings.NewReader("user_id\n"), tax, opt); err == nil {
			t.Errorf("options %+v accepted", opt)
		}
	}
	if _, _, err := Sync(context.Background(), strings.NewReader("user_id\n"), nil, testOptions()); err == nil {
		t.Error("nil taxonomy accepted")
	}
}

func TestMaxErrorRate(t *testing.T) {
	var b strings.Builder
	b.WriteString("user_id\tidentifiers\n")
	for i := range 100 {
		v := "maid=" + maid1
		if i < 10 {
			v = "maid=bad"
		}
		fmt.Fprintf(&b, "u%d\t%s\n", i, v)
	}
	opt := testOptions()
	opt.MaxErrorRate = 0.05
	v, rep, err := syncString(t, b.String(), testTaxonomy(t), opt)
	if v != nil || cleanroom.ErrorCode(err) != cleanroom.EINVALID || rep == nil || rep.RowsWithErrors != 10 || len(rep.Errors) != 10 {
		t.Fatalf("10%% errors with a 5%% limit: %v, %v, %+v", v, err, rep)
	}
	opt.MaxErrorRate = 0.1
	if _, _, err := syncString(t, b.String(), testTaxonomy(t), opt); err != nil {
		t.Errorf("10%% errors with a 10%% limit: %v", err)
	}
}

func TestLongLines(t *testing.T) {
	// A line longer than a whole block is skipped without reading it into memory whole.
	huge := "u-huge\tUS\tmaid=" + maid1 + strings.Repeat(",maid="+maid1, 200) + "\tc1"
	in := "user_id\tcountry\tidentifiers\tcohorts\nu1\tUS\t\tc1\n" + huge + "\nu2\tUS\t\tc2\n" + huge + "\n" + huge
	v, rep := mustSync(t, in, testTaxonomy(t), testOptions())
	if v.Users != 2 || !slices.Equal(errorLines(rep, ReasonLineTooLong), []int64{3, 5, 6}) || rep.Rows != 5 {
		t.Errorf("users %d, rows %d, errors %+v", v.Users, rep.Rows, rep.Errors)
	}
	if o, _ := userOrd(t, v, "u2"); o != 1 {
		t.Errorf("u2 = %d", o)
	}
}

func TestSyncCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := Sync(ctx, newGenReader(100_000, 1), benchTaxonomy(t), testOptions())
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	// A failing reader fails the sync.
	_, _, err = Sync(context.Background(), failingReader("user_id\nu1\n", errors.New("disk on fire")), testTaxonomy(t), testOptions())
	if err == nil {
		t.Error("read error ignored")
	}
}

func TestProgress(t *testing.T) {
	var phases []string
	var last Progress
	opt := testOptions()
	opt.Progress = func(p Progress) {
		if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
			phases = append(phases, p.Phase)
		}
		last = p
	}
	_, rep := mustSync(t, newRandomProfile(t, 3, 500).text, testTaxonomy(t), opt)
	if diff := cmp.Diff([]string{"parse", "users", "index", "done"}, phases); diff != "" {
		t.Errorf("phases (-want +got):\n%s", diff)
	}
	if last.Rows != rep.Rows || last.Rows < 490 || last.Bytes != rep.Bytes || last.Users < int64(rep.Users) {
		t.Errorf("last progress %+v", last)
	}
}

func TestSyncGenerator(t *testing.T) {
	// The benchmark's generator makes valid files.
	n := 20_000
	v, rep, err := Sync(context.Background(), newGenReader(n, 5), benchTaxonomy(t), Options{FingerprintKey: testFPKey, UserKey: testUserKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Validate(); err != nil {
		t.Fatal(err)
	}
	if v.Users != uint32(n) || rep.RowsWithErrors != 0 || v.Rows() < n*19/10 {
		t.Errorf("users %d, rows %d, report %+v", v.Users, v.Rows(), rep)
	}
}
