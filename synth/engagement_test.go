package synth_test

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cleanroom-oss/cleanroom/synth"
)

// TestProfilesEngagement checks the engagement columns against Engagement, the planted link of
// categories to interests, and that without them the file is unchanged.
func TestProfilesEngagement(t *testing.T) {
	u, err := synth.NewUniverse(synth.UniverseConfig{Seed: 2, Users: 3000, Cohorts: 20})
	if err != nil {
		t.Fatal(err)
	}
	var plain, engaged bytes.Buffer
	if _, err := u.WriteProfiles(&plain, synth.WriteOptions{Workers: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := u.WriteProfiles(&engaged, synth.WriteOptions{Workers: 3, Engagement: true}); err != nil {
		t.Fatal(err)
	}
	pl, en := strings.Split(plain.String(), "\n"), strings.Split(engaged.String(), "\n")
	if en[0] != synth.ProfileHeaderEngagement || len(pl) != len(en) {
		t.Fatalf("header %q, %d and %d lines", en[0], len(pl), len(en))
	}
	withInterest, read := 0, 0
	for i := range u.Users() {
		e := u.Engagement(i)
		views := ""
		if e.PageViews >= 0 {
			views = strconv.Itoa(e.PageViews)
		}
		if want := pl[i+1] + "\t" + views + "\t" + strings.Join(e.Categories, ","); en[i+1] != want {
			t.Fatalf("line %d: %q, want %q", i+1, en[i+1], want)
		}
		usr := u.User(i)
		for _, in := range usr.Interests {
			withInterest++
			if slices.Contains(e.Categories, "IAB"+strconv.Itoa(in%26+1)) {
				read++
			}
		}
	}
	if r := float64(read) / float64(withInterest); r < 0.75 || r > 0.9 {
		t.Errorf("a user reads its interests' categories with rate %.2f, want about 0.8", r)
	}
}
