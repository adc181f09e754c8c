package pubsync

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/identity"
	"github.com/cleanroom-oss/cleanroom/keyring"
	"github.com/cleanroom-oss/cleanroom/localblob"
	"github.com/cleanroom-oss/cleanroom/sealed"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// deepCopy returns an independent copy of v, to check that a function leaves its input alone.
func deepCopy(v *vault.PublisherVersion) *vault.PublisherVersion {
	c := *v
	c.UserKeys, c.UserOrds = slices.Clone(v.UserKeys), slices.Clone(v.UserOrds)
	c.Tags, c.TagStart = slices.Clone(v.Tags), slices.Clone(v.TagStart)
	c.FPs, c.Ords, c.Country = slices.Clone(v.FPs), slices.Clone(v.Ords), slices.Clone(v.Country)
	c.Cohorts = slices.Clone(v.Cohorts)
	c.Members = slices.Clone(v.Members)
	for i, m := range c.Members {
		c.Members[i] = m.Clone()
	}
	c.Deleted = v.Deleted.Clone()
	return &c
}

const applyBase = "user_id\tcountry\tidentifiers\tcohorts\n" +
	"alice\tUS\temail_sha256=" + hash1 + "\tc1\n" +
	"bob\tGB\tmaid=" + maid1 + "\tc1,c2\n" +
	"carol\t\tip_address=203.0.113.7\tc2\n"

func TestApply(t *testing.T) {
	tax := testTaxonomy(t)
	opt := testOptions()
	base, _ := mustSync(t, applyBase, tax, opt)
	before := deepCopy(base)
	batch := Batch{
		Identify: []IdentifyEvent{
			{UserID: "bob", Country: "de", Identifiers: []Identifier{{"email_sha256", hash2}, {"maid", maid1}}}, // 1: maid1 already there
			{UserID: "dave", Identifiers: []Identifier{{"IDFA", maid2}, {"ip_address", "203.0.113.7"}}},         // 2: new user 3, shares carol's IP
			{UserID: "erin", Country: "XX"},                                                // 3: new user 4, bad country
			{UserID: "", Identifiers: []Identifier{{"maid", maid2}}},                       // 4: no user ID
			{UserID: "alice", Identifiers: []Identifier{{"maid", "nope"}, {"bogus", "x"}}}, // 5: two bad identifiers
			{UserID: "dave", Identifiers: []Identifier{{"maid", maid2}}},                   // 6: repeat within the batch
		},
		Memberships: []MembershipUpdate{
			{UserID: "alice", CohortID: "c3", Op: OpAdd},    // 7
			{UserID: "bob", CohortID: "c1", Op: OpRemove},   // 8
			{UserID: "frank", CohortID: "c4", Op: OpAdd},    // 9: new user 5
			{UserID: "gina", CohortID: "c4", Op: OpRemove},  // 10: unknown user
			{UserID: "alice", CohortID: "c9", Op: OpAdd},    // 11: unknown cohort
			{UserID: "alice", CohortID: "c1", Op: "toggle"}, // 12: bad op
			{UserID: "carol", CohortID: "c5", Op: OpAdd},    // 13
			{UserID: "carol", CohortID: "c5", Op: OpRemove}, // 14: the later update wins
		},
	}
	v, rep, err := Apply(base, batch, opt)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Validate(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, base, versionCmp...); diff != "" {
		t.Fatalf("Apply modified its base:\n%s", diff)
	}
	if v.Users != 6 || rep.Users != 3 || rep.Rows != 14 {
		t.Errorf("users %d, report %+v", v.Users, rep)
	}
	for id, want := range map[string]uint32{"alice": 0, "bob": 1, "carol": 2, "dave": 3, "erin": 4, "frank": 5} {
		if o, ok := userOrd(t, v, id); !ok || o != want {
			t.Errorf("%s: %d %v, want %d", id, o, ok, want)
		}
	}
	type le struct {
		Line   int64
		Reason string
	}
	var got []le
	for _, e := range rep.Errors {
		got = append(got, le{e.Line, e.Reason})
	}
	want := []le{{3, ReasonBadCountry}, {4, ReasonMissingUserID}, {5, string(identity.ReasonBadUUID)}, {5, ReasonUnknownTag},
		{10, ReasonUnknownUser}, {11, ReasonUnknownCohort}, {12, ReasonBadOp}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	check := []struct {
		tag   identity.Tag
		value string
		ords  []uint32
	}{
		{identity.TagEmailSHA256, hash1, []uint32{0}}, {identity.TagEmailSHA256, hash2, []uint32{1}},
		{identity.TagMAID, maid1, []uint32{1}}, {identity.TagMAID, maid2, []uint32{3}},
		{identity.TagIPAddress, "203.0.113.7", []uint32{2, 3}},
	}
	for _, c := range check {
		if got := v.LookupAll(c.tag, fingerprint(t, c.tag, c.value)); !slices.Equal(got, c.ords) {
			t.Errorf("%s %s: %v, want %v", c.tag, c.value, got, c.ords)
		}
	}
	if v.Rows() != 6 || rep.Identifiers[identity.TagEmailSHA256] != 1 || rep.Identifiers[identity.TagMAID] != 1 || rep.Identifiers[identity.TagIPAddress] != 1 {
		t.Errorf("rows %d, added %v", v.Rows(), rep.Identifiers)
	}
	for id, want := range map[string][]uint32{"c1": {0}, "c2": {1, 2}, "c3": {0}, "c4": {5}, "c5": nil} {
		if got := members(t, v, id); !slices.Equal(got, want) && len(got)+len(want) > 0 {
			t.Errorf("cohort %s: %v, want %v", id, got, want)
		}
	}
	if v.Members[1] != base.Members[1] { // c2
		t.Error("an untouched bitmap was copied instead of shared")
	}
	if c := vault.CountryCode(v.Country[1]); c != "DE" {
		t.Errorf("bob's country %q", c)
	}
	if diff := cmp.Diff(map[string]int64{"US": 1, "DE": 1, "": 4}, rep.Countries); diff != "" {
		t.Errorf("countries (-want +got):\n%s", diff)
	}

	// Too many types: the base's types count toward the limit.
	opt2 := opt
	opt2.MaxTypes = 3
	_, rep, err = Apply(base, Batch{Identify: []IdentifyEvent{{UserID: "alice", Identifiers: []Identifier{{"appnexus", "12345"}}}}}, opt2)
	if err != nil || !slices.Equal(errorLines(rep, ReasonTooManyTypes), []int64{1}) {
		t.Errorf("too many types: %v, %+v", err, rep)
	}
	// Other keys are refused.
	opt3 := opt
	opt3.UserKey = bytes.Repeat([]byte{1}, 32)
	if _, _, err := Apply(base, batch, opt3); cleanroom.ErrorCode(err) != cleanroom.EINVALID {
		t.Errorf("another user key: %v", err)
	}
	opt3 = opt
	opt3.FingerprintKey = bytes.Repeat([]byte{1}, 32)
	if _, _, err := Apply(base, batch, opt3); cleanroom.ErrorCode(err) != cleanroom.EINVALID {
		t.Errorf("another fingerprint key: %v", err)
	}
}

// writeAndRead writes v and returns the stored bytes and the decrypted plaintext of the file.
func writeAndRead(t *testing.T, v *vault.PublisherVersion) (stored, plain []byte, back *vault.PublisherVersion) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	blobs, err := localblob.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	key := keyring.NewDataKey()
	if _, err := v.Write(ctx, blobs, "pub/v1", key); err != nil {
		t.Fatal(err)
	}
	stored, err = os.ReadFile(filepath.Join(dir, "pub", "v1"))
	if err != nil {
		t.Fatal(err)
	}
	plain, err = sealed.DecryptAll(bytes.NewReader(stored), int64(len(stored)), key, 1)
	if err != nil {
		t.Fatal(err)
	}
	back, err = vault.OpenPublisher(ctx, blobs, "pub/v1", key, 2)
	if err != nil {
		t.Fatal(err)
	}
	return stored, plain, back
}

func TestErase(t *testing.T) {
	tax := testTaxonomy(t)
	opt := testOptions()
	in := applyBase +
		"dave\tFR\temail_sha256=" + hash2 + ",ip_address=203.0.113.7,maid=" + maid2 + "\tc1,c3,c5\n" +
		"erin\tDE\tappnexus=424242\tc3\n"
	base, _ := mustSync(t, in, tax, opt)
	// Round trip through the file first: Erase must work on a version that views a file.
	_, _, base = writeAndRead(t, base)
	before := deepCopy(base)
	v, erased, err := Erase(base, []string{"dave", "bob", "nobody", "dave"}, opt)
	if err != nil || erased != 2 {
		t.Fatalf("Erase = %d, %v", erased, err)
	}
	if err := v.Validate(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, base, versionCmp...); diff != "" {
		t.Fatalf("Erase modified its base:\n%s", diff)
	}
	if v.Users != 5 || v.Live() != 3 || !slices.Equal(v.Deleted.ToArray(), []uint32{1, 3}) {
		t.Errorf("users %d, live %d, deleted %v", v.Users, v.Live(), v.Deleted.ToArray())
	}
	for _, id := range []string{"bob", "dave"} {
		if _, ok := userOrd(t, v, id); ok {
			t.Errorf("%s still in the user index", id)
		}
	}
	if o, ok := userOrd(t, v, "erin"); !ok || o != 4 {
		t.Errorf("erin: %d %v", o, ok)
	}
	for i, m := range v.Members {
		if m.Contains(1) || m.Contains(3) {
			t.Errorf("cohort %s still holds an erased user: %v", v.Cohorts[i].ID, m.ToArray())
		}
	}
	if got := members(t, v, "c3"); !slices.Equal(got, []uint32{4}) {
		t.Errorf("c3 = %v", got)
	}
	if v.Country[3] != 0 || v.Country[1] != 0 || vault.CountryCode(v.Country[4]) != "DE" {
		t.Errorf("countries %v", v.Country)
	}
	// The shared IP stays, for carol only.
	if got := v.LookupAll(identity.TagIPAddress, fingerprint(t, identity.TagIPAddress, "203.0.113.7")); !slices.Equal(got, []uint32{2}) {
		t.Errorf("shared IP: %v", got)
	}
	// The erased users' own fingerprints are gone from the written file, encrypted or not.
	gone := []identity.Fingerprint{
		fingerprint(t, identity.TagMAID, maid1), fingerprint(t, identity.TagEmailSHA256, hash2),
		fingerprint(t, identity.TagMAID, maid2),
	}
	kept := fingerprint(t, identity.TagAppNexus, "424242")
	stored, plain, back := writeAndRead(t, v)
	for _, fp := range gone {
		if bytes.Contains(plain, fp[:]) || bytes.Contains(stored, fp[:]) {
			t.Errorf("an erased user's fingerprint is still in the file")
		}
		if _, ok := back.Lookup(identity.TagMAID, fp); ok {
			t.Error("erased fingerprint found")
		}
	}
	if !bytes.Contains(plain, kept[:]) {
		t.Error("the scan cannot see fingerprints at all: a kept one is missing from the plaintext")
	}
	if diff := cmp.Diff(v, back, versionCmp...); diff != "" {
		t.Errorf("round trip (-erased +read back):\n%s", diff)
	}
	// Erasing again is a no-op; an erased user who comes back is a new user.
	if v2, n, err := Erase(back, []string{"dave"}, opt); err != nil || n != 0 || v2 != back {
		t.Errorf("second erase: %d %v", n, err)
	}
	backCopy := deepCopy(back)
	v3, rep, err := Apply(back, Batch{
		Identify:    []IdentifyEvent{{UserID: "dave", Identifiers: []Identifier{{"maid", maid2}}}},
		Memberships: []MembershipUpdate{{UserID: "erin", CohortID: "c3", Op: OpRemove}, {UserID: "carol", CohortID: "c1", Op: OpAdd}},
	}, opt)
	if err != nil || rep.Users != 1 {
		t.Fatalf("re-identify: %v %+v", err, rep)
	}
	if diff := cmp.Diff(backCopy, back, versionCmp...); diff != "" {
		t.Fatalf("Apply modified a version read from a file:\n%s", diff)
	}
	if got := members(t, v3, "c1"); !slices.Equal(got, []uint32{0, 2}) {
		t.Errorf("c1 after Apply = %v", got)
	}
	if o, ok := userOrd(t, v3, "dave"); !ok || o != 5 {
		t.Errorf("dave came back as %d %v, want the new ordinal 5", o, ok)
	}
	if err := v3.Validate(); err != nil || !v3.Deleted.Contains(3) {
		t.Errorf("tombstone lost: %v", err)
	}
	if _, _, err := Erase(base, []string{"x"}, Options{UserKey: bytes.Repeat([]byte{3}, 32)}); err == nil {
		t.Error("another user key accepted")
	}
}

func TestWriteOpenRoundTrip(t *testing.T) {
	tax := testTaxonomy(t)
	p := newRandomProfile(t, 21, 3000)
	v, _ := mustSync(t, p.text, tax, testOptions())
	// Erase every seventh user, then check the version against the naive model without them.
	var ids []string
	gone := map[uint32]bool{}
	for o, id := range p.users {
		if o%7 == 3 {
			ids = append(ids, id)
			gone[uint32(o)] = true
		}
	}
	v, n, err := Erase(v, ids, testOptions())
	if err != nil || n != len(ids) {
		t.Fatal(n, err)
	}
	if err := v.Validate(); err != nil {
		t.Fatal(err)
	}
	rows := 0
	for tag, vals := range p.ids {
		for val, ords := range vals {
			var want []uint32
			for _, o := range ords {
				if !gone[o] {
					want = append(want, o)
				}
			}
			rows += len(want)
			if got := v.LookupAll(tag, fingerprint(t, tag, val)); !slices.Equal(got, want) {
				t.Fatalf("%s %s: %v, want %v", tag, val, got, want)
			}
		}
	}
	if rows != v.Rows() {
		t.Fatalf("%d rows, want %d", v.Rows(), rows)
	}
	for o, id := range p.users {
		got, ok := userOrd(t, v, id)
		if gone[uint32(o)] == ok || ok && got != uint32(o) {
			t.Fatalf("user %s: %d %v", id, got, ok)
		}
	}
	_, _, back := writeAndRead(t, v)
	if diff := cmp.Diff(v, back, versionCmp...); diff != "" {
		t.Errorf("round trip (-written +read):\n%s", diff)
	}
}

// TestStoredFileHoldsNoRawValues scans the stored bytes, and the decrypted plaintext, for every
// user ID and identifier of the input, in the forms they were given and normalised, and for the
// binary digests behind the hex ones.
func TestStoredFileHoldsNoRawValues(t *testing.T) {
	var b strings.Builder
	b.WriteString("user_id\tcountry\tidentifiers\tcohorts\n")
	var needles [][]byte
	for i := range 300 {
		uid := fmt.Sprintf("publisher-user-%06d-zq", i)
		email := fmt.Sprintf("%064x", uint64(i)*0x9e3779b97f4a7c15+7)
		maid := fmt.Sprintf("%08x-1234-4abc-8def-%012x", i+1, i*7919)
		ip := fmt.Sprintf("198.51.%d.%d", i/200, i%200+1)
		xandr := fmt.Sprint(7_000_000_000_000 + i*131)
		fmt.Fprintf(&b, "%s\tUS\temail_sha256=%s,maid=%s,ip_address=%s,appnexus=%s\tc1\n", uid, strings.ToUpper(email), maid, ip, xandr)
		digest, _ := hex.DecodeString(email)
		for _, n := range []string{uid, email, strings.ToUpper(email), maid, maid[:23], ip, xandr} {
			needles = append(needles, []byte(n))
		}
		needles = append(needles, digest, digest[:16])
	}
	v, _ := mustSync(t, b.String(), testTaxonomy(t), testOptions())
	stored, plain, _ := writeAndRead(t, v)
	for _, n := range needles {
		if bytes.Contains(stored, n) || bytes.Contains(plain, n) {
			t.Fatalf("the stored file contains the raw value %q", n)
		}
	}
	if v.Rows() != 1200 {
		t.Fatalf("%d rows", v.Rows())
	}
}

func TestSipHashVectors(t *testing.T) {
	// The reference vectors: key 00..0f, messages 00..n-1.
	want := []uint64{
		0x726fdb47dd0e0e31, 0x74f839c593dc67fd, 0x0d6c8009d9a94f5a, 0x85676696d7fb7e2d,
		0xcf2794e0277187b7, 0x18765564cd99a68d, 0xcbc9466e58fee3ce, 0xab0200f58b01d137,
		0x93f5f5799a932462, 0x9e0082df0ba9e4b0, 0x7a5dbbc594ddb9f3, 0xf4b32f46226bada7,
		0x751e8fbc860ee5fb, 0x14ea5627c0843d90, 0xf723ca908e7af2ee, 0xa129ca6149be45e5,
		0x3f2acc7f57c29bdb,
	}
	msg := make([]byte, len(want))
	for i := range msg {
		msg[i] = byte(i)
	}
	for n, w := range want {
		if got := sipHash24(0x0706050403020100, 0x0f0e0d0c0b0a0908, msg[:n]); got != w {
			t.Errorf("n=%d: %#x, want %#x", n, got, w)
		}
	}
	h1, _ := NewUserHasher(testUserKey)
	h2, _ := NewUserHasher(bytes.Repeat([]byte{10}, 32))
	if h1.Hash("u1") == h2.Hash("u1") || h1.Check() == h2.Check() || h1.Hash("u1") == h1.Hash("u2") {
		t.Error("the user hash does not depend on the key or the ID")
	}
	if _, err := NewUserHasher(make([]byte, 16)); err == nil {
		t.Error("short key accepted")
	}
}

// TestApplyMatchesNaive applies random identify events and membership updates to a random
// version and checks the result against the naive model.
func TestApplyMatchesNaive(t *testing.T) {
	tax := testTaxonomy(t)
	p := newRandomProfile(t, 33, 2000)
	base, _ := mustSync(t, p.text, tax, testOptions())
	r := rand.New(rand.NewPCG(4, 4))
	var batch Batch
	ordOf := map[string]uint32{}
	for o, id := range p.users {
		ordOf[id] = uint32(o)
	}
	next := uint32(len(p.users))
	cohorts := map[string]map[uint32]bool{}
	for c, l := range p.cohorts {
		cohorts[c] = map[uint32]bool{}
		for _, o := range l {
			cohorts[c][o] = true
		}
	}
	for range 500 {
		id := p.users[r.IntN(len(p.users))]
		if r.IntN(3) == 0 {
			id = fmt.Sprintf("newcomer-%d", r.IntN(100))
		}
		o, ok := ordOf[id]
		if !ok {
			o = next
			next++
			ordOf[id] = o
		}
		if r.IntN(2) == 0 {
			v := fmt.Sprintf("%064x", r.Uint64()%6000+1)
			batch.Identify = append(batch.Identify, IdentifyEvent{UserID: id, Identifiers: []Identifier{{"email_sha256", v}}})
			m := p.ids[identity.TagEmailSHA256]
			if !slices.Contains(m[v], o) {
				m[v] = append(m[v], o)
				slices.Sort(m[v])
			}
		} else {
			c := fmt.Sprintf("c%d", r.IntN(5)+1)
			op := OpAdd
			if r.IntN(2) == 0 {
				op = OpRemove
			}
			batch.Identify = append(batch.Identify, IdentifyEvent{UserID: id}) // make sure the user exists
			batch.Memberships = append(batch.Memberships, MembershipUpdate{UserID: id, CohortID: c, Op: op})
			if cohorts[c] == nil {
				cohorts[c] = map[uint32]bool{}
			}
			cohorts[c][o] = op == OpAdd
		}
	}
	v, rep, err := Apply(base, batch, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(rep.Errors) != 0 || v.Users != next {
		t.Fatalf("users %d want %d, errors %+v", v.Users, next, rep.Errors)
	}
	for id, o := range ordOf {
		if got, ok := userOrd(t, v, id); !ok || got != o {
			t.Fatalf("user %s: %d %v, want %d", id, got, ok, o)
		}
	}
	rows := 0
	for tag, vals := range p.ids {
		for val, ords := range vals {
			rows += len(ords)
			if got := v.LookupAll(tag, fingerprint(t, tag, val)); !slices.Equal(got, ords) {
				t.Fatalf("%s %s: %v, want %v", tag, val, got, ords)
			}
		}
	}
	if rows != v.Rows() {
		t.Fatalf("%d rows, want %d", v.Rows(), rows)
	}
	for c, set := range cohorts {
		var want []uint32
		for o, in := range set {
			if in {
				want = append(want, o)
			}
		}
		slices.Sort(want)
		if got := members(t, v, c); !slices.Equal(got, want) && len(got)+len(want) > 0 {
			t.Fatalf("cohort %s: %v, want %v", c, got, want)
		}
	}
}
