package edge

import (
	"context"
	"slices"
	"testing"

	"github.com/cleanroom-oss/cleanroom/keyring"
	"github.com/cleanroom-oss/cleanroom/memblob"
	"github.com/cleanroom-oss/cleanroom/vault"
)

func TestActiveSetRoundTripAndRestore(t *testing.T) {
	const today = int32(20000)
	l := NewLastSeen(64)
	l.Touch(9, today-2)
	l.Touch(3, today-40) // not active
	l.Touch(5, today)
	l.Touch(9, today) // the latest day is kept
	l.Touch(7, today+1)
	s := l.Set(today)
	if !slices.Equal(s.Hashes, []uint64{5, 9}) || !slices.Equal(s.Days, []int32{today, today}) {
		t.Fatalf("set %v %v", s.Hashes, s.Days)
	}
	blobs, key := memblob.New(), keyring.NewDataKey()
	if _, err := s.Write(context.Background(), blobs, "a", key); err != nil {
		t.Fatal(err)
	}
	f, err := vault.Open(context.Background(), blobs, "a", key, KindActiveSet, 0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ActiveSetFromFile(f)
	if err != nil {
		t.Fatal(err)
	}
	if got.Day != today || !slices.Equal(got.Hashes, s.Hashes) || !slices.Equal(got.Days, s.Days) {
		t.Fatalf("read %+v, wrote %+v", got, s)
	}
	// A new table (a restarted edge) counts the same users.
	r := NewLastSeen(64)
	r.Restore(got)
	if n, _ := ActiveCounts(r, nil, today); n != 2 {
		t.Fatalf("restored table counts %d users, want 2", n)
	}
}

func TestActiveSetFromFileRejectsUnsorted(t *testing.T) {
	blobs, key := memblob.New(), keyring.NewDataKey()
	for name, s := range map[string]*ActiveSet{
		"unsorted":   {Hashes: []uint64{2, 1}, Days: []int32{1, 1}},
		"days-short": {Hashes: []uint64{1, 2}, Days: []int32{1}},
	} {
		if _, err := s.Write(context.Background(), blobs, name, key); err != nil {
			t.Fatal(err)
		}
		f, err := vault.Open(context.Background(), blobs, name, key, KindActiveSet, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ActiveSetFromFile(f); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
}

func TestMergeActiveSets(t *testing.T) {
	const day = int32(100)
	for _, tc := range []struct {
		name  string
		sets  []*ActiveSet
		users []uint64
		days  []int32
	}{
		{"none", nil, nil, nil},
		{"one", []*ActiveSet{{Day: day, Hashes: []uint64{1, 4}, Days: []int32{day, day - 3}}}, []uint64{1, 4}, []int32{day, day - 3}},
		{"a user seen by two replicas counts once, at its latest day", []*ActiveSet{
			{Day: day, Hashes: []uint64{1, 4}, Days: []int32{day - 5, day}},
			{Day: day - 1, Hashes: []uint64{1, 2}, Days: []int32{day - 1, day - 1}},
			nil,
		}, []uint64{1, 2, 4}, []int32{day - 1, day - 1, day}},
		{"a replica's old user falls out of the newest window", []*ActiveSet{
			{Day: day, Hashes: []uint64{3}, Days: []int32{day}},
			{Day: day - 10, Hashes: []uint64{1}, Days: []int32{day - 30}},
		}, []uint64{3}, []int32{day}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := Merge(tc.sets...)
			if tc.users == nil {
				if m != nil {
					t.Fatalf("merged %+v", m)
				}
				return
			}
			if !slices.Equal(m.Hashes, tc.users) || !slices.Equal(m.Days, tc.days) || m.Day != day {
				t.Fatalf("merged %+v; want %v %v", m, tc.users, tc.days)
			}
		})
	}
}
