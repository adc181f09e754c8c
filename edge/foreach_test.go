package edge

import (
	"slices"
	"testing"
)

// TestForEachUser: the hashes a snapshot serves a code to are exactly its members' (users in
// more than 3 cohorts included), in hash order; an unknown code has none.
func TestForEachUser(t *testing.T) {
	h := testHasher(t)
	in := synthInput(h, 3000, 5, 4, 9)
	s, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range in.Cohorts {
		var want []uint64
		for i, o := range in.UserOrds {
			if c.Members.Contains(o) {
				want = append(want, in.UserKeys[i])
			}
		}
		var got []uint64
		s.ForEachUser(c.Code, func(k uint64) { got = append(got, k) })
		if !slices.Equal(got, want) {
			t.Errorf("code %d: %d users, want %d", c.Code, len(got), len(want))
		}
	}
	n := 0
	s.ForEachUser(1, func(uint64) { n++ })
	if n != 0 {
		t.Errorf("unknown code: %d users", n)
	}
}
