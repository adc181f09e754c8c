package edge

import (
	"context"
	"slices"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cleanroom-oss/cleanroom/keyring"
	"github.com/cleanroom-oss/cleanroom/memblob"
	"github.com/cleanroom-oss/cleanroom/vault"
)

func TestSnapshotLookup(t *testing.T) {
	h := testHasher(t)
	for _, tc := range []struct {
		name                    string
		users, cohorts, perUser int
	}{
		{"empty", 0, 0, 0},
		{"one user", 1, 1, 1},
		{"three users", 3, 2, 1},
		{"small", 100, 5, 2},
		{"many", 20000, 50, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := synthInput(h, tc.users, tc.cohorts, tc.perUser, 7)
			s, err := Build(in)
			if err != nil {
				t.Fatal(err)
			}
			check := func(t *testing.T, s *Snapshot) {
				for o := range tc.users {
					got := s.Lookup(h.Hash(userID(o)), nil)
					if want := expected(in, uint32(o)); !slices.Equal(got, want) {
						t.Fatalf("user %d: got %v, want %v", o, got, want)
					}
				}
				if got := s.Lookup(h.Hash("nobody"), nil); len(got) != 0 {
					t.Fatalf("unknown user got %v", got)
				}
			}
			check(t, s)
			// Through the sealed vault container and back.
			blobs, key := memblob.New(), keyring.NewDataKey()
			if _, err := s.Write(context.Background(), blobs, "snap", key); err != nil {
				t.Fatal(err)
			}
			s2, err := OpenSnapshot(context.Background(), blobs, "snap", key)
			if err != nil {
				t.Fatal(err)
			}
			if s2.Users() != s.Users() || s2.Memberships() != s.Memberships() {
				t.Fatalf("reloaded %d users %d memberships, built %d %d", s2.Users(), s2.Memberships(), s.Users(), s.Memberships())
			}
			check(t, s2)
		})
	}
}

func TestSnapshotFromVersionLeavesOutErasedAndUnserved(t *testing.T) {
	h := testHasher(t)
	// Ordinals 0..3; ordinal 2 erased (no user key), ordinal 3 in no cohort.
	keys := []uint64{h.Hash("a"), h.Hash("b"), h.Hash("d")}
	type kv struct {
		k uint64
		o uint32
	}
	kvs := []kv{{keys[0], 0}, {keys[1], 1}, {keys[2], 3}}
	slices.SortFunc(kvs, func(a, b kv) int {
		if a.k < b.k {
			return -1
		}
		return 1
	})
	v := &vault.PublisherVersion{Users: 4}
	for _, p := range kvs {
		v.UserKeys, v.UserOrds = append(v.UserKeys, p.k), append(v.UserOrds, p.o)
	}
	s, err := Build(InputFromVersion(v, []ServedCohort{
		{Code: 100001, Members: roaring.BitmapOf(0, 2)},
		{Code: 100002, Members: roaring.BitmapOf(0, 1, 2)},
	}))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		uid  string
		want []uint32
	}{
		{"a", []uint32{100001, 100002}},
		{"b", []uint32{100002}},
		{"c", nil}, // erased: its ordinal is in the bitmaps, but it has no key
		{"d", nil},
	} {
		if got := s.Lookup(h.Hash(tc.uid), nil); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.uid, got, tc.want)
		}
	}
	if s.Users() != 2 || s.Memberships() != 3 {
		t.Errorf("%d users, %d memberships; want 2, 3", s.Users(), s.Memberships())
	}
}

func TestBuildRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   Input
	}{
		{"unsorted keys", Input{Users: 2, UserKeys: []uint64{5, 3}, UserOrds: []uint32{0, 1}}},
		{"key count", Input{Users: 2, UserKeys: []uint64{5}, UserOrds: []uint32{0, 1}}},
		{"ordinal beyond", Input{Users: 1, UserKeys: []uint64{5}, UserOrds: []uint32{1}}},
		{"zero code", Input{Users: 1, UserKeys: []uint64{5}, UserOrds: []uint32{0}, Cohorts: []ServedCohort{{Code: 0, Members: roaring.BitmapOf(0)}}}},
		{"repeated code", Input{Users: 1, UserKeys: []uint64{5}, UserOrds: []uint32{0}, Cohorts: []ServedCohort{{Code: 1, Members: roaring.BitmapOf(0)}, {Code: 1, Members: roaring.BitmapOf(0)}}}},
		{"member beyond", Input{Users: 1, UserKeys: []uint64{5}, UserOrds: []uint32{0}, Cohorts: []ServedCohort{{Code: 1, Members: roaring.BitmapOf(1)}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Build(tc.in); err == nil {
				t.Fatal("built")
			}
		})
	}
}

func TestFromFileRejectsInconsistentSections(t *testing.T) {
	ctx := context.Background()
	blobs, key := memblob.New(), keyring.NewDataKey()
	for _, tc := range []struct {
		name string
		secs []vault.Section
	}{
		{"members not covered", secs([]entry{{Key: 1, N: 4}}, []uint16{0, 0, 0, 0, 0}, []uint32{7})},
		{"members short", secs([]entry{{Key: 1, N: 5}}, []uint16{0, 0, 0, 0}, []uint32{7})},
		{"no cohort", secs([]entry{{Key: 1, N: 0}}, nil, []uint32{7})},
		{"inline beyond", secs([]entry{{Key: 1, N: 2, In: [3]uint16{0, 1}}}, nil, []uint32{7})},
		{"member beyond", secs([]entry{{Key: 1, N: 4}}, []uint16{0, 0, 0, 1}, []uint32{7})},
		{"unsorted", secs([]entry{{Key: 2, N: 1}, {Key: 1, N: 1}}, nil, []uint32{7})},
		{"offset gap", secs([]entry{{Key: 1, N: 4}, {Key: 2, N: 4, In: [3]uint16{5}}}, make([]uint16, 9), []uint32{7})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := vault.Write(ctx, blobs, "bad", key, KindSnapshot, nil, tc.secs); err != nil {
				t.Fatal(err)
			}
			if _, err := OpenSnapshot(ctx, blobs, "bad", key); err == nil {
				t.Fatal("opened")
			}
		})
	}
}

func secs(e []entry, m []uint16, c []uint32) []vault.Section {
	return []vault.Section{{Name: secEntries, Data: vault.Raw(e)}, {Name: secMembers, Data: vault.Raw(m)}, {Name: secCodes, Data: vault.Raw(c)}}
}
