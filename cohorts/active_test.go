package cohorts

import (
	"slices"
	"testing"

	"github.com/cleanroom-oss/cleanroom/disclosure"
	"github.com/cleanroom-oss/cleanroom/edge"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// TestActiveOn: the active set's hashes become the ordinals of the version's users that have
// them; hashes the version lacks (users erased, or never synced) count for nothing.
func TestActiveOn(t *testing.T) {
	pub := &vault.PublisherVersion{UserKeys: []uint64{10, 20, 30, 40}, UserOrds: []uint32{3, 0, 2, 1}}
	for _, tc := range []struct {
		name   string
		hashes []uint64
		want   []uint32
	}{
		{"none", nil, nil},
		{"all", []uint64{10, 20, 30, 40}, []uint32{0, 1, 2, 3}},
		{"some, with unknown hashes around them", []uint64{5, 20, 25, 40, 50}, []uint32{0, 1}},
		{"only unknown", []uint64{1, 11, 99}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := activeOn(&edge.ActiveSet{Hashes: tc.hashes}, pub).ToArray()
			if !slices.Equal(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
				t.Fatalf("ordinals %v, want %v", got, tc.want)
			}
		})
	}
}

// TestActiveQuestion: an active count is its own question (not the size's), shared, of
// sensitivity 1, and another set is another question; the size's question is left unchanged.
func TestActiveQuestion(t *testing.T) {
	size := disclosure.Question{Kind: "cohort_size", Query: []byte("q"), Versions: []string{"inputs"}, Shared: true}
	a := activeQuestion(size, "active:1")
	b := activeQuestion(size, "active:2")
	if a.Kind != "cohort_size/active" || !a.Shared || a.Sensitivity != 1 || !slices.Equal(a.Versions, []string{"inputs", "active:1"}) {
		t.Fatalf("question %+v", a)
	}
	if slices.Equal(a.Versions, b.Versions) {
		t.Fatal("two sets give one question")
	}
	if !slices.Equal(size.Versions, []string{"inputs"}) {
		t.Fatalf("the size's question changed: %v", size.Versions)
	}
}
