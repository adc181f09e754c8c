package edge

import (
	"context"
	"fmt"
	"slices"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// KindActiveSet is the vault file kind of a publisher's active users (ActiveSet).
const KindActiveSet = "edge-active-users"

// ActiveSet is the set of a publisher's users (by keyed user-ID hash, as in the publisher
// version's user index and the snapshot) who asked the edge for targeting in the ActiveDays days
// up to Day, each with its last day. The edge stores it sealed once a day, so that the cohort
// service can count any cohort's, or any estimate's, active users by matching the hashes against
// the audience version (vault.PublisherVersion.FindUser), and so that a restarted edge fills its
// LastSeen table again (Restore). It holds hashes and days only: no user ID.
type ActiveSet struct {
	// Day is the day (DayOf) the set was taken.
	Day int32
	// Hashes are sorted ascending and unique; Days[i] is the last day of Hashes[i].
	Hashes []uint64
	Days   []int32
}

type activeSetMeta struct {
	Day   int32 `json:"day"`
	Users int   `json:"users"`
}

const (
	secActiveHashes = "hashes"
	secActiveDays   = "days"
)

// Set returns the users seen in the ActiveDays days up to day with their last days, sorted by
// hash.
func (l *LastSeen) Set(day int32) *ActiveSet {
	type hd struct {
		h uint64
		d int32
	}
	var all []hd
	for i := range l.keys {
		k := l.keys[i].Load()
		if k == 0 {
			continue
		}
		if d := int32(l.days[i].Load()); d > day-ActiveDays && d <= day {
			all = append(all, hd{k, d})
		}
	}
	slices.SortFunc(all, func(a, b hd) int {
		switch {
		case a.h < b.h:
			return -1
		case a.h > b.h:
			return 1
		}
		return int(b.d - a.d) // the latest day first, kept by the compaction below
	})
	s := &ActiveSet{Day: day, Hashes: make([]uint64, 0, len(all)), Days: make([]int32, 0, len(all))}
	for i, x := range all {
		if i > 0 && all[i-1].h == x.h {
			continue
		}
		s.Hashes = append(s.Hashes, x.h)
		s.Days = append(s.Days, x.d)
	}
	return s
}

// Restore records the set's users with their last days (a restarted edge's table then counts
// the users of before the restart). Users no longer active by the table's day are skipped.
func (l *LastSeen) Restore(s *ActiveSet) {
	if s == nil {
		return
	}
	for i, h := range s.Hashes {
		l.Touch(h, s.Days[i])
	}
}

// Users returns the set's number of users.
func (s *ActiveSet) Users() int { return len(s.Hashes) }

// Write encrypts the set under dataKey and stores it at key as a vault file of kind
// KindActiveSet; it has the form of versions.Writer.
func (s *ActiveSet) Write(ctx context.Context, blobs cleanroom.BlobStore, key string, dataKey []byte) (int64, error) {
	return vault.Write(ctx, blobs, key, dataKey, KindActiveSet, activeSetMeta{Day: s.Day, Users: len(s.Hashes)}, []vault.Section{
		{Name: secActiveHashes, Data: vault.Raw(s.Hashes)},
		{Name: secActiveDays, Data: vault.Raw(s.Days)},
	})
}

// ActiveSetFromFile loads a set from a decrypted vault file (versions.Store.OpenFile with
// KindActiveSet), checking that its hashes are sorted and unique and each has a day. The slices
// share the file's memory.
func ActiveSetFromFile(f *vault.File) (*ActiveSet, error) {
	if f.Kind != KindActiveSet {
		return nil, fmt.Errorf("edge: file is a %q, not an active set", f.Kind)
	}
	var meta activeSetMeta
	if err := f.DecodeMeta(&meta); err != nil {
		return nil, fmt.Errorf("edge: active set meta: %w", err)
	}
	s := &ActiveSet{Day: meta.Day}
	var err error
	if s.Hashes, err = vault.View[uint64](f, secActiveHashes); err != nil {
		return nil, err
	}
	if s.Days, err = vault.View[int32](f, secActiveDays); err != nil {
		return nil, err
	}
	if len(s.Days) != len(s.Hashes) {
		return nil, fmt.Errorf("edge: active set has %d hashes and %d days", len(s.Hashes), len(s.Days))
	}
	for i := 1; i < len(s.Hashes); i++ {
		if s.Hashes[i] <= s.Hashes[i-1] {
			return nil, fmt.Errorf("edge: active set hashes not sorted at %d", i)
		}
	}
	return s, nil
}

// Merge returns the union of sets taken by several edges (replicas) of one publisher, each user
// with its latest day, as of the latest set's day. Nil sets are skipped; nil when all are.
func Merge(sets ...*ActiveSet) *ActiveSet {
	var out *ActiveSet
	for _, s := range sets {
		if s == nil {
			continue
		}
		if out == nil {
			out = &ActiveSet{Day: s.Day, Hashes: slices.Clone(s.Hashes), Days: slices.Clone(s.Days)}
			continue
		}
		out.Day = max(out.Day, s.Day)
		m := &ActiveSet{Day: out.Day, Hashes: make([]uint64, 0, len(out.Hashes)+len(s.Hashes)), Days: make([]int32, 0, len(out.Hashes)+len(s.Hashes))}
		i, j := 0, 0
		for i < len(out.Hashes) || j < len(s.Hashes) {
			switch {
			case j == len(s.Hashes) || i < len(out.Hashes) && out.Hashes[i] < s.Hashes[j]:
				m.Hashes, m.Days = append(m.Hashes, out.Hashes[i]), append(m.Days, out.Days[i])
				i++
			case i == len(out.Hashes) || s.Hashes[j] < out.Hashes[i]:
				m.Hashes, m.Days = append(m.Hashes, s.Hashes[j]), append(m.Days, s.Days[j])
				j++
			default:
				m.Hashes, m.Days = append(m.Hashes, s.Hashes[j]), append(m.Days, max(out.Days[i], s.Days[j]))
				i++
				j++
			}
		}
		out = m
	}
	if out == nil {
		return nil
	}
	// Users whose last day fell out of the window by the latest day are not active any more.
	k := 0
	for i := range out.Hashes {
		if out.Days[i] > out.Day-ActiveDays && out.Days[i] <= out.Day {
			out.Hashes[k], out.Days[k] = out.Hashes[i], out.Days[i]
			k++
		}
	}
	out.Hashes, out.Days = out.Hashes[:k], out.Days[:k]
	return out
}

// ActiveSetOfReplica returns the users of a replica's active-users file (ActiveWriter, kind
// KindActiveSets) taken on day, with their last days (day itself for a file written without
// them), sorted and unique.
func ActiveSetOfReplica(f *vault.File, day int32) (*ActiveSet, error) {
	users, _, err := ActiveFromFile(f)
	if err != nil {
		return nil, err
	}
	var days []int32
	if f.Has(secActiveDays) {
		if days, err = vault.View[int32](f, secActiveDays); err != nil {
			return nil, err
		}
		if len(days) != len(users) {
			return nil, fmt.Errorf("edge: active users file has %d users and %d days", len(users), len(days))
		}
	}
	s := &ActiveSet{Day: day, Hashes: make([]uint64, 0, len(users)), Days: make([]int32, 0, len(users))}
	for i, h := range users {
		if i > 0 && h < users[i-1] {
			return nil, fmt.Errorf("edge: active users not sorted at %d", i)
		}
		d := day
		if days != nil {
			d = days[i]
		}
		if n := len(s.Hashes); n > 0 && s.Hashes[n-1] == h {
			s.Days[n-1] = max(s.Days[n-1], d)
			continue
		}
		s.Hashes, s.Days = append(s.Hashes, h), append(s.Days, d)
	}
	return s, nil
}
