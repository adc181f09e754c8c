package pubsync

import (
	"bytes"
	"context"
	"testing"

	"github.com/cleanroom-oss/cleanroom/synth"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// TestSyncSynthUniverse syncs the files of package synth (the generator behind cleanroom gen)
// and checks every user against the universe's ground truth: ordinal = index, country,
// identifiers and cohorts.
func TestSyncSynthUniverse(t *testing.T) {
	u, err := synth.NewUniverse(synth.UniverseConfig{Seed: 3, Users: 5000, Cohorts: 40})
	if err != nil {
		t.Fatal(err)
	}
	var taxText, profiles bytes.Buffer
	if err := u.WriteTaxonomy(&taxText); err != nil {
		t.Fatal(err)
	}
	if _, err := u.WriteProfiles(&profiles, synth.WriteOptions{Gzip: true}); err != nil {
		t.Fatal(err)
	}
	tax, errs, err := ParseTaxonomy(&taxText)
	if err != nil {
		t.Fatal(err, errs)
	}
	opt := testOptions()
	opt.MaxErrorRate = 0
	v, rep, err := Sync(context.Background(), &profiles, tax, opt)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Validate(); err != nil {
		t.Fatal(err)
	}
	if v.Users != 5000 || rep.RowsWithErrors != 0 || !rep.Gzip {
		t.Fatalf("users %d, report %+v", v.Users, rep)
	}
	rows := 0
	for i := range u.Users() {
		usr := u.User(i)
		if o, ok := userOrd(t, v, usr.ID); !ok || o != uint32(i) {
			t.Fatalf("user %s: ordinal %d %v", usr.ID, o, ok)
		}
		if c := vault.CountryCode(v.Country[i]); c != usr.Country {
			t.Fatalf("user %d: country %q, want %q", i, c, usr.Country)
		}
		for _, id := range usr.Identifiers {
			found := false
			for _, o := range v.LookupAll(id.Tag, fingerprint(t, id.Tag, id.Value)) {
				found = found || o == uint32(i)
			}
			if !found {
				t.Fatalf("user %d: %s identifier not found", i, id.Tag)
			}
			rows++
		}
		for _, c := range usr.Cohorts {
			if !v.Members[c].Contains(uint32(i)) {
				t.Fatalf("user %d not in cohort %d", i, c)
			}
		}
	}
	members := 0
	for i := range v.Members {
		members += int(v.Members[i].GetCardinality())
	}
	want := 0
	for i := range u.Users() {
		want += len(u.User(i).Cohorts)
	}
	if members != want || v.Rows() > rows {
		t.Errorf("memberships %d, want %d; rows %d, identifiers %d", members, want, v.Rows(), rows)
	}
}
