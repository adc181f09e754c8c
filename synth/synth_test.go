package synth_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"io"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/cleanroom-oss/cleanroom/identity"
	"github.com/cleanroom-oss/cleanroom/synth"
)

func mustUniverse(t testing.TB, cfg synth.UniverseConfig) *synth.Universe {
	t.Helper()
	u, err := synth.NewUniverse(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func mustAdvertiser(t testing.TB, u *synth.Universe, cfg synth.AdvertiserConfig) *synth.Advertiser {
	t.Helper()
	a, err := synth.NewAdvertiser(u, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// files renders every file of a publisher and an advertiser with the given options.
func files(t *testing.T, pubSeed, advSeed uint64, opts synth.WriteOptions) map[string][]byte {
	t.Helper()
	u := mustUniverse(t, synth.UniverseConfig{Seed: pubSeed, Users: 20_000})
	a := mustAdvertiser(t, u, synth.AdvertiserConfig{Seed: advSeed, Rows: 20_000, Overlap: 0.4, Mistakes: 0.05})
	out := map[string][]byte{}
	var b bytes.Buffer
	if _, err := u.WriteProfiles(&b, opts); err != nil {
		t.Fatal(err)
	}
	out["profiles"] = slices.Clone(b.Bytes())
	b.Reset()
	if err := u.WriteTaxonomy(&b); err != nil {
		t.Fatal(err)
	}
	out["publisher taxonomy"] = slices.Clone(b.Bytes())
	b.Reset()
	stats, err := a.WriteData(&b, opts)
	if err != nil {
		t.Fatal(err)
	}
	out["data"] = slices.Clone(b.Bytes())
	b.Reset()
	if err := a.WriteTruth(&b, &stats); err != nil {
		t.Fatal(err)
	}
	out["truth"] = slices.Clone(b.Bytes())
	b.Reset()
	if _, err := a.WritePII(&b, opts); err != nil {
		t.Fatal(err)
	}
	out["pii"] = slices.Clone(b.Bytes())
	b.Reset()
	if err := a.WriteTaxonomy(&b); err != nil {
		t.Fatal(err)
	}
	out["advertiser taxonomy"] = slices.Clone(b.Bytes())
	return out
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDeterminism(t *testing.T) {
	base := files(t, 1, 2, synth.WriteOptions{Workers: 1})
	for name, opts := range map[string]synth.WriteOptions{
		"same options": {Workers: 1},
		"more workers": {Workers: 5},
	} {
		again := files(t, 1, 2, opts)
		for f, b := range base {
			if !bytes.Equal(b, again[f]) {
				t.Errorf("%s: %s differs", name, f)
			}
		}
	}
	zipped := files(t, 1, 2, synth.WriteOptions{Gzip: true, Workers: 3})
	zipped2 := files(t, 1, 2, synth.WriteOptions{Gzip: true, Workers: 2})
	for _, f := range []string{"profiles", "data", "pii"} {
		if !bytes.Equal(gunzip(t, zipped[f]), base[f]) {
			t.Errorf("gzip: %s decompresses to other content", f)
		}
		if !bytes.Equal(zipped[f], zipped2[f]) {
			t.Errorf("gzip: %s is not byte-identical across worker counts", f)
		}
	}
	otherPub := files(t, 3, 2, synth.WriteOptions{})
	otherAdv := files(t, 1, 4, synth.WriteOptions{})
	for _, f := range []string{"profiles", "publisher taxonomy", "data", "truth"} {
		if bytes.Equal(base[f], otherPub[f]) {
			t.Errorf("another publisher seed gives the same %s", f)
		}
	}
	for _, f := range []string{"data", "pii", "truth"} {
		if bytes.Equal(base[f], otherAdv[f]) {
			t.Errorf("another advertiser seed gives the same %s", f)
		}
	}
	if !bytes.Equal(base["profiles"], otherAdv["profiles"]) {
		t.Error("the advertiser seed changed the publisher's profiles")
	}
}

// parseProfile splits a profile line into its fields.
func parseProfile(t *testing.T, line string) (id, country string, ids []synth.Identifier, cohorts []string) {
	t.Helper()
	f := strings.Split(line, "\t")
	if len(f) != 4 {
		t.Fatalf("profile line has %d fields: %q", len(f), line)
	}
	if f[2] != "" {
		for _, kv := range strings.Split(f[2], ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				t.Fatalf("identifier %q has no =", kv)
			}
			ids = append(ids, synth.Identifier{Tag: identity.Tag(k), Value: v})
		}
	}
	if f[3] != "" {
		cohorts = strings.Split(f[3], ",")
	}
	return f[0], f[1], ids, cohorts
}

// TestProfilesMatchUsers checks the profile file against User and the publisher's hashes against
// package identity.
func TestProfilesMatchUsers(t *testing.T) {
	u := mustUniverse(t, synth.UniverseConfig{Seed: 7, Users: 20_000})
	var b bytes.Buffer
	n, err := u.WriteProfiles(&b, synth.WriteOptions{})
	if err != nil || n != 20_000 {
		t.Fatalf("WriteProfiles: %d, %v", n, err)
	}
	sc := bufio.NewScanner(&b)
	sc.Scan()
	if sc.Text() != synth.ProfileHeader {
		t.Fatalf("header %q", sc.Text())
	}
	cohorts := u.Cohorts()
	var usr synth.User
	seen := map[string]int{} // identifier value -> user
	for i := 0; sc.Scan(); i++ {
		id, country, ids, cohortIDs := parseProfile(t, sc.Text())
		u.UserInto(i, &usr)
		if id != usr.ID || id != synth.UserID(i) || country != usr.Country {
			t.Fatalf("line %d: %s %s, user %+v", i, id, country, usr)
		}
		if len(ids) != len(usr.Identifiers) {
			t.Fatalf("line %d: %d identifiers, user has %d", i, len(ids), len(usr.Identifiers))
		}
		for k, x := range usr.Identifiers {
			if ids[k].Tag != x.Tag || ids[k].Value != x.Value {
				t.Fatalf("line %d: identifier %v, user has %v", i, ids[k], x)
			}
			if j, dup := seen[x.Value]; dup {
				t.Fatalf("users %d and %d share %s %s", j, i, x.Tag, x.Raw)
			}
			seen[x.Value] = i
			if v, err := identity.Normalize(x.Tag, x.Value); err != nil || v != x.Value {
				t.Fatalf("user %d: %s value %q is not canonical: %q %v", i, x.Tag, x.Value, v, err)
			}
			var want string
			switch x.Tag {
			case identity.TagEmailSHA256:
				want, err = identity.HashEmail(x.Raw, false)
				if !strings.HasPrefix(x.Raw, "u") || !strings.Contains(x.Raw, "@") {
					t.Fatalf("raw email %q", x.Raw)
				}
			case identity.TagPhoneSHA256:
				want, err = identity.HashPhone(x.Raw, "")
			default:
				want = x.Raw
			}
			if err != nil || want != x.Value {
				t.Fatalf("user %d: %s of %q is %q, identity gives %q (%v)", i, x.Tag, x.Raw, x.Value, want, err)
			}
		}
		if len(cohortIDs) != len(usr.Cohorts) {
			t.Fatalf("line %d: %d cohorts, user has %d", i, len(cohortIDs), len(usr.Cohorts))
		}
		for k, c := range usr.Cohorts {
			if cohortIDs[k] != cohorts[c].ID {
				t.Fatalf("line %d: cohort %s, user has %s", i, cohortIDs[k], cohorts[c].ID)
			}
		}
		if !slices.IsSorted(usr.Cohorts) || !slices.IsSorted(usr.Interests) || len(usr.Interests) < 1 || len(usr.Interests) > 3 {
			t.Fatalf("user %d: cohorts %v interests %v", i, usr.Cohorts, usr.Interests)
		}
	}
}

// within fails unless got is within tol of want.
func within(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s = %.4f, want %.4f ± %.4f", what, got, want, tol)
	} else {
		t.Logf("%s = %.4f (want %.4f)", what, got, want)
	}
}

func TestCoverageAndCountries(t *testing.T) {
	const n = 40_000
	for _, cov := range []*synth.Coverage{nil, {EmailSHA256: 0.9, SecondEmail: 0.5, PhoneSHA256: 0, MAID: 1, IPAddress: 0.1, AppNexus: 0.5}} {
		u := mustUniverse(t, synth.UniverseConfig{Seed: 11, Users: n, Coverage: cov})
		want := synth.DefaultCoverage()
		if cov != nil {
			want = *cov
		}
		counts := map[identity.Tag]int{}
		second, countries := 0, map[string]int{}
		var usr synth.User
		for i := range n {
			u.UserInto(i, &usr)
			seen := map[identity.Tag]bool{}
			for _, x := range usr.Identifiers {
				if seen[x.Tag] {
					second++
				}
				seen[x.Tag] = true
			}
			for tag := range seen {
				counts[tag]++
			}
			countries[usr.Country]++
		}
		share := func(tag identity.Tag) float64 { return float64(counts[tag]) / n }
		within(t, "email", share(identity.TagEmailSHA256), want.EmailSHA256, 0.01)
		within(t, "second email", float64(second)/float64(counts[identity.TagEmailSHA256]), want.SecondEmail, 0.015)
		within(t, "phone", share(identity.TagPhoneSHA256), want.PhoneSHA256, 0.01)
		within(t, "maid", share(identity.TagMAID), want.MAID, 0.01)
		within(t, "ip", share(identity.TagIPAddress), want.IPAddress, 0.01)
		within(t, "appnexus", share(identity.TagAppNexus), want.AppNexus, 0.01)
		if cov == nil {
			for _, c := range synth.DefaultCountries() {
				within(t, c.Code, float64(countries[c.Code])/n, c.Weight/100, 0.01)
			}
		}
	}
}

func TestInterestsAndCohorts(t *testing.T) {
	const n = 40_000
	u := mustUniverse(t, synth.UniverseConfig{Seed: 5, Users: n})
	interests, cohorts := u.Interests(), u.Cohorts()
	if len(interests) != synth.DefaultInterests || len(cohorts) != synth.DefaultCohorts {
		t.Fatalf("%d interests, %d cohorts", len(interests), len(cohorts))
	}
	interestUsers := make([]int, len(interests))
	members := make([]int, len(cohorts))
	withInterest := make([]int, len(cohorts)) // members who have the cohort's interest
	var usr synth.User
	for i := range n {
		u.UserInto(i, &usr)
		for _, j := range usr.Interests {
			interestUsers[j]++
		}
		for _, c := range usr.Cohorts {
			members[c]++
			if slices.Contains(usr.Interests, cohorts[c].Interest) {
				withInterest[c]++
			}
		}
	}
	for j, in := range interests {
		within(t, "share of "+in.Name, float64(interestUsers[j])/n, in.Share, 0.01)
	}
	if interests[0].Share < 3*interests[len(interests)-1].Share {
		t.Errorf("interest popularity is flat: %v", interests)
	}

	// Heavy tail: a few cohorts of 20-40%, a median well under 1%, the smallest near 0.05%.
	sizes := make([]float64, len(cohorts))
	noise, standard := 0, 0
	for c, co := range cohorts {
		sizes[c] = float64(members[c]) / n
		if co.Size > 0.05 {
			within(t, "size of "+co.ID, sizes[c], co.Size, 0.02)
		}
		if co.Interest < 0 {
			noise++
		}
		if co.Standard {
			standard++
			if co.IABID <= 0 {
				t.Errorf("standard cohort %s has no IAB ID", co.ID)
			}
		}
	}
	slices.Sort(sizes)
	large := 0
	for _, s := range sizes {
		if s >= 0.2 {
			large++
		}
	}
	median := sizes[len(sizes)/2]
	t.Logf("cohort sizes: largest %.3f, median %.5f, smallest %.5f, %d of 20%% or more", sizes[len(sizes)-1], median, sizes[0], large)
	if large < 2 || large > 6 || sizes[len(sizes)-1] > 0.45 || median > 0.005 || sizes[len(sizes)-1]/median < 100 {
		t.Errorf("cohort sizes are not heavy-tailed: largest %.3f, median %.5f, %d large", sizes[len(sizes)-1], median, large)
	}
	within(t, "noise cohorts", float64(noise)/float64(len(cohorts)), 0.10, 0.04)
	within(t, "standard cohorts", float64(standard)/float64(len(cohorts)), 0.10, 0.04)

	// Informative: in tied cohorts large enough to measure, members have the cohort's interest
	// far more often than users at large.
	lifts := 0.0
	measured := 0
	for c, co := range cohorts {
		if co.Interest < 0 || members[c] < 200 {
			continue
		}
		lift := float64(withInterest[c]) / float64(members[c]) / interests[co.Interest].Share
		lifts += lift
		measured++
	}
	t.Logf("mean interest lift of %d measurable tied cohorts: %.2f", measured, lifts/float64(measured))
	if measured < 20 || lifts/float64(measured) < 2 {
		t.Errorf("cohorts are not informative: mean lift %.2f over %d cohorts", lifts/float64(measured), measured)
	}
}

func TestOverlap(t *testing.T) {
	u := mustUniverse(t, synth.UniverseConfig{Seed: 1, Users: 50_000})
	for _, overlap := range []float64{0, 0.3, 0.75, 1} {
		a := mustAdvertiser(t, u, synth.AdvertiserConfig{Seed: 9, Rows: 20_000, Overlap: overlap})
		in := 0
		users := map[int]bool{}
		for j := range a.Persons() {
			p := a.Person(j)
			if p.UserIndex != a.PersonUser(j) {
				t.Fatalf("person %d: UserIndex %d, PersonUser %d", j, p.UserIndex, a.PersonUser(j))
			}
			if p.UserIndex >= 0 {
				in++
				if users[p.UserIndex] {
					t.Fatalf("overlap %v: user %d drawn twice", overlap, p.UserIndex)
				}
				users[p.UserIndex] = true
			}
		}
		within(t, "overlap", float64(in)/float64(a.Persons()), overlap, 0.015)
	}
	if _, err := synth.NewAdvertiser(u, synth.AdvertiserConfig{Rows: 1_000_000, Overlap: 0.5}); err == nil {
		t.Error("an overlap needing more users than the universe has was accepted")
	}
}

// ingest parses a data file line as package ingest does: it returns the tag, the canonical value
// and the known segment IDs, or the reason the line is rejected. Unknown segment IDs are dropped
// and an empty segment list is allowed.
func ingest(line string, segments []synth.Segment) (identity.Tag, string, []string, string) {
	f := strings.Split(line, "\t")
	if len(f) < 2 || len(f) > 3 {
		return "", "", nil, "columns"
	}
	tag, err := identity.ParseTag(nil, f[1])
	if err != nil {
		return "", "", nil, string(identity.ReasonOf(err))
	}
	v, err := identity.Normalize(tag, f[0])
	if err != nil {
		return "", "", nil, string(identity.ReasonOf(err))
	}
	var known []string
	if len(f) == 3 && f[2] != "" {
		for _, s := range strings.Split(f[2], ",") {
			if slices.ContainsFunc(segments, func(x synth.Segment) bool { return x.ID == s }) {
				known = append(known, s)
			}
		}
	}
	return tag, v, known, ""
}

// segmentIDs returns the IDs of the segments with the given indexes.
func segmentIDs(segments []synth.Segment, idx []int) []string {
	var ids []string
	for _, i := range idx {
		ids = append(ids, segments[i].ID)
	}
	return ids
}

func TestMistakes(t *testing.T) {
	u := mustUniverse(t, synth.UniverseConfig{Seed: 1, Users: 20_000})
	for _, rate := range []float64{0, 0.02, 0.3} {
		a := mustAdvertiser(t, u, synth.AdvertiserConfig{Seed: 3, Rows: 20_000, Overlap: 0.5, Mistakes: rate,
			Tags: []identity.Tag{identity.TagEmailSHA256, identity.TagPhoneSHA256, identity.TagMAID, identity.TagIPAddress, identity.TagAppNexus}})
		segments := a.Segments()
		rows, mistaken := 0, 0
		kinds := map[synth.Mistake]int{}
		for j := range a.Persons() {
			p := a.Person(j)
			if len(p.Rows) != len(p.Identifiers) || len(p.Segments) == 0 {
				t.Fatalf("person %d: %d rows, %d identifiers, segments %v", j, len(p.Rows), len(p.Identifiers), p.Segments)
			}
			for k, r := range p.Rows {
				rows++
				tag, value, segs, reason := ingest(r.Line, segments)
				if r.Mistake != synth.NoMistake {
					mistaken++
					kinds[r.Mistake]++
				}
				if !r.Mistake.Accepted() {
					if reason == "" {
						t.Fatalf("%s row %q was accepted", r.Mistake, r.Line)
					}
					continue
				}
				if reason != "" {
					t.Fatalf("%s row %q was rejected: %s", r.Mistake, r.Line, reason)
				}
				id := p.Identifiers[k]
				if r.Mistake != synth.MistakeUpperHex && r.Mistake != synth.MistakeBase64 || id.Tag == identity.TagEmailSHA256 || id.Tag == identity.TagPhoneSHA256 {
					if tag != id.Tag || value != id.Value {
						t.Fatalf("%s row %q gives %s %s, want %s %s", r.Mistake, r.Line, tag, value, id.Tag, id.Value)
					}
				}
				want := segmentIDs(segments, p.Segments)
				if !r.Mistake.KeepsSegments() {
					want = nil
				}
				if !slices.Equal(segs, want) {
					t.Fatalf("%s row %q has segments %v, want %v", r.Mistake, r.Line, segs, want)
				}
			}
		}
		within(t, "mistake rate", float64(mistaken)/float64(rows), rate, 0.01)
		if rate >= 0.3 {
			for _, m := range synth.AllMistakes() {
				if kinds[m] < mistaken/len(synth.AllMistakes())/2 {
					t.Errorf("mistake %s: %d rows of %d mistaken", m, kinds[m], mistaken)
				}
			}
		}
	}
}

// TestAdvertiserFile checks the data file against Person, its statistics against a recount, and
// matchability against the publisher's own records.
func TestAdvertiserFile(t *testing.T) {
	u := mustUniverse(t, synth.UniverseConfig{Seed: 2, Users: 20_000})
	const rows = 15_001
	a := mustAdvertiser(t, u, synth.AdvertiserConfig{Seed: 8, Rows: rows, Overlap: 0.5, Mistakes: 0.05})
	var b bytes.Buffer
	stats, err := a.WriteData(&b, synth.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	written := 0
	var persons, inUniverse, matchable, accepted int64
	segPersons := make([]int64, len(a.Segments()))
	segMatchable := make([]int64, len(a.Segments()))
	for j := range a.Persons() {
		p := a.Person(j)
		persons++
		if p.UserIndex >= 0 {
			inUniverse++
		}
		// Recompute matchability from the publisher's record.
		publisher := map[string]bool{}
		if p.UserIndex >= 0 {
			for _, x := range u.User(p.UserIndex).Identifiers {
				publisher[string(x.Tag)+" "+x.Value] = true
			}
		}
		match, matchSegs := false, false
		for _, r := range p.Rows {
			if written == rows {
				break // the last person's rows may not all fit
			}
			written++
			want.WriteString(r.Line + "\n")
			if tag, v, segs, reason := ingest(r.Line, a.Segments()); reason == "" {
				accepted++
				if publisher[string(tag)+" "+v] {
					match = true
					matchSegs = matchSegs || len(segs) > 0
				}
			}
		}
		if j < a.Persons()-1 && (match != p.Matchable || matchSegs != p.MatchableInSegments) {
			t.Fatalf("person %d: Matchable %v %v, recomputed %v %v", j, p.Matchable, p.MatchableInSegments, match, matchSegs)
		}
		if match {
			matchable++
		}
		for _, s := range p.Segments {
			segPersons[s]++
			if matchSegs {
				segMatchable[s]++
			}
		}
	}
	if b.String() != want.String() {
		t.Fatal("the data file differs from the persons' rows")
	}
	if stats.Rows != rows || stats.Persons != persons || stats.PersonsInUniverse != inUniverse ||
		stats.MatchablePersons != matchable || stats.AcceptedRows != accepted {
		t.Errorf("stats %+v; recounted persons %d, in universe %d, matchable %d, accepted %d", stats, persons, inUniverse, matchable, accepted)
	}
	for s, seg := range stats.Segments {
		if seg.Persons != segPersons[s] || seg.MatchablePersons != segMatchable[s] {
			t.Errorf("segment %s: %d persons, %d matchable; recounted %d, %d", seg.ID, seg.Persons, seg.MatchablePersons, segPersons[s], segMatchable[s])
		}
	}
	if last := stats.Segments[len(stats.Segments)-1]; last.ID != synth.AllCustomersID || last.Persons != persons {
		t.Errorf("all customers segment %+v, want every one of %d persons", last, persons)
	}
	if matchable == 0 || matchable >= inUniverse {
		t.Errorf("matchable %d of %d persons in the universe", matchable, inUniverse)
	}
}

func TestSegmentsFollowInterests(t *testing.T) {
	u := mustUniverse(t, synth.UniverseConfig{Seed: 4, Users: 40_000})
	a := mustAdvertiser(t, u, synth.AdvertiserConfig{Seed: 6, Rows: 40_000, Overlap: 0.6})
	segments, interests := a.Segments(), u.Interests()
	if len(segments) != synth.DefaultSegments+1 {
		t.Fatalf("%d segments", len(segments))
	}
	type count struct{ members, membersWith, with, withIn, without, withoutIn int }
	counts := make([]count, len(segments))
	for j := range a.Persons() {
		p := a.Person(j)
		for s, seg := range segments {
			if seg.Interest < 0 {
				continue
			}
			has := slices.Contains(p.Interests, seg.Interest)
			in := slices.Contains(p.Segments, s)
			c := &counts[s]
			if in {
				c.members++
				if has {
					c.membersWith++
				}
			}
			if has {
				c.with++
				if in {
					c.withIn++
				}
			} else {
				c.without++
				if in {
					c.withoutIn++
				}
			}
		}
	}
	distinct := map[int]bool{}
	for s, seg := range segments[:len(segments)-1] {
		distinct[seg.Interest] = true
		c := counts[s]
		rateWith := float64(c.withIn) / float64(c.with)
		rateWithout := float64(c.withoutIn) / float64(c.without)
		lift := float64(c.membersWith) / float64(c.members) / interests[seg.Interest].Share
		t.Logf("%s (%s): P(seg|interest) %.3f, P(seg|no interest) %.4f, interest lift among members %.1f",
			seg.ID, interests[seg.Interest].Name, rateWith, rateWithout, lift)
		if rateWith/rateWithout < 3 || lift < 2 {
			t.Errorf("segment %s barely follows its interest: %.3f vs %.4f, lift %.1f", seg.ID, rateWith, rateWithout, lift)
		}
	}
	if len(distinct) != synth.DefaultSegments {
		t.Errorf("segments share interests: %v", distinct)
	}
}

func TestPII(t *testing.T) {
	u := mustUniverse(t, synth.UniverseConfig{Seed: 1, Users: 5000})
	a := mustAdvertiser(t, u, synth.AdvertiserConfig{Seed: 1, Rows: 5000, Overlap: 0.5, Mistakes: 0.1,
		Tags: []identity.Tag{identity.TagEmailSHA256, identity.TagPhoneSHA256, identity.TagMAID, identity.TagIPAddress}})
	var b bytes.Buffer
	n, err := a.WritePII(&b, synth.WriteOptions{})
	if err != nil || n != int64(a.Persons()) {
		t.Fatalf("WritePII: %d, %v; %d persons", n, err, a.Persons())
	}
	if !strings.HasPrefix(b.String(), synth.PIIHeader+"\n") {
		t.Fatalf("header: %q", b.String()[:40])
	}
	invalid, messy := 0, 0
	for j := range a.Persons() {
		row, p := a.PII(j), a.Person(j)
		invalid += len(row.Invalid)
		if row.Email != strings.ToLower(strings.TrimSpace(row.Email)) {
			messy++
		}
		for _, x := range p.Identifiers {
			var field, col string
			var got string
			var err error
			switch x.Tag {
			case identity.TagEmailSHA256:
				field, col = row.Email, "email"
				got, err = identity.HashEmail(field, false)
			case identity.TagPhoneSHA256:
				field, col = row.Phone, "phone"
				got, err = identity.HashPhone(field, "44")
			case identity.TagMAID:
				field, col = row.MAID, "maid"
				got, err = identity.Normalize(x.Tag, field)
			case identity.TagIPAddress:
				field, col = row.IP, "ip"
				got, err = identity.Normalize(x.Tag, field)
			}
			if slices.Contains(row.Invalid, col) {
				if err == nil {
					t.Errorf("person %d: invalid %s %q was accepted", j, col, field)
				}
				continue
			}
			if err != nil || got != x.Value {
				t.Errorf("person %d: %s %q gives %q (%v), want %q", j, col, field, got, err, x.Value)
			}
		}
	}
	if messy == 0 || invalid == 0 {
		t.Errorf("%d messy emails, %d invalid values: want some of each", messy, invalid)
	}
}

func TestConfigErrors(t *testing.T) {
	for name, cfg := range map[string]synth.UniverseConfig{
		"negative users":  {Users: -1},
		"many interests":  {Interests: 65},
		"bad coverage":    {Coverage: &synth.Coverage{EmailSHA256: 1.5}},
		"bad country":     {Countries: []synth.CountryWeight{{"usa", 1}}},
		"zero weight":     {Countries: []synth.CountryWeight{{"US", 0}}},
		"country twice":   {Countries: []synth.CountryWeight{{"US", 1}, {"US", 2}}},
		"negative cohort": {Cohorts: -3},
	} {
		if _, err := synth.NewUniverse(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	u := mustUniverse(t, synth.UniverseConfig{Users: 100})
	for name, cfg := range map[string]synth.AdvertiserConfig{
		"negative rows":  {Rows: -1},
		"overlap":        {Overlap: 1.5},
		"mistakes":       {Mistakes: -0.1},
		"unknown tag":    {Tags: []identity.Tag{"email"}},
		"tag twice":      {Tags: []identity.Tag{identity.TagMAID, identity.TagMAID}},
		"no tags":        {Tags: []identity.Tag{}},
		"coverage":       {Coverage: map[identity.Tag]float64{identity.TagEmailSHA256: 2}},
		"missing cover":  {Tags: []identity.Tag{identity.TagMAID}, Coverage: map[identity.Tag]float64{}},
		"too many users": {Rows: 1000, Overlap: 1},
	} {
		if _, err := synth.NewAdvertiser(u, cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestSmallAndCustomUniverses(t *testing.T) {
	u := mustUniverse(t, synth.UniverseConfig{Seed: 1, Users: 300, Interests: 1, Cohorts: 1,
		Countries: []synth.CountryWeight{{"JP", 1}, {"ZA", 1}}})
	var usr synth.User
	for i := range u.Users() {
		u.UserInto(i, &usr)
		for _, x := range usr.Identifiers {
			if x.Tag == identity.TagPhoneSHA256 {
				if _, err := identity.NormalizePhone(x.Raw, ""); err != nil {
					t.Fatalf("phone %q: %v", x.Raw, err)
				}
			}
		}
	}
	a := mustAdvertiser(t, u, synth.AdvertiserConfig{Rows: 10, Overlap: 1, Segments: 3})
	if got := len(a.Segments()); got != 4 {
		t.Errorf("%d segments", got)
	}
	empty := mustAdvertiser(t, u, synth.AdvertiserConfig{})
	var b bytes.Buffer
	if st, err := empty.WriteData(&b, synth.WriteOptions{}); err != nil || st.Rows != 0 || b.Len() != 0 {
		t.Errorf("empty file: %+v %v %q", st, err, b.String())
	}
	b.Reset()
	if n, err := empty.WritePII(&b, synth.WriteOptions{Gzip: true}); err != nil || n != 0 || string(gunzip(t, b.Bytes())) != synth.PIIHeader+"\n" {
		t.Errorf("empty PII file: %d %v", n, err)
	}
	b.Reset()
	none := mustUniverse(t, synth.UniverseConfig{})
	if n, err := none.WriteProfiles(&b, synth.WriteOptions{}); err != nil || n != 0 || b.String() != synth.ProfileHeader+"\n" {
		t.Errorf("empty profiles: %d %v %q", n, err, b.String())
	}
}

func BenchmarkUniverseUsers(b *testing.B) {
	u := mustUniverse(b, synth.UniverseConfig{Seed: 1, Users: 1 << 30})
	b.Run("UserInto", func(b *testing.B) {
		var usr synth.User
		i := 0
		for b.Loop() {
			u.UserInto(i, &usr)
			i++
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "users/s")
	})
	b.Run("WriteProfiles", func(b *testing.B) {
		u := mustUniverse(b, synth.UniverseConfig{Seed: 1, Users: b.N})
		b.ResetTimer()
		if _, err := u.WriteProfiles(io.Discard, synth.WriteOptions{}); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "users/s")
	})
}

func BenchmarkAdvertiserRows(b *testing.B) {
	u := mustUniverse(b, synth.UniverseConfig{Seed: 1, Users: 10_000_000})
	for _, gz := range []bool{false, true} {
		name := "plain"
		if gz {
			name = "gzip"
		}
		b.Run(name, func(b *testing.B) {
			a := mustAdvertiser(b, u, synth.AdvertiserConfig{Seed: 1, Rows: b.N, Overlap: 0.3, Mistakes: 0.01})
			b.ResetTimer()
			if _, err := a.WriteData(io.Discard, synth.WriteOptions{Gzip: gz}); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

func TestTraitsAgreeWithUser(t *testing.T) {
	u, err := synth.NewUniverse(synth.UniverseConfig{Seed: 3, Users: 2000, Cohorts: 50})
	if err != nil {
		t.Fatal(err)
	}
	var tr synth.User
	for i := range 2000 {
		full := u.User(i)
		u.Traits(i, &tr)
		if tr.Country != full.Country || !slices.Equal(tr.Interests, full.Interests) || !slices.Equal(tr.Cohorts, full.Cohorts) {
			t.Fatalf("user %d: traits %+v, full %+v", i, tr, full)
		}
	}
}
