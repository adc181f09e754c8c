package edge

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cleanroom-oss/cleanroom/benchenv"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// buildReference is the previous Build, kept to check the new one against and to measure it
// beside the new one: two passes over the member bitmaps (count per ordinal, then fill), then
// two in key order with random reads of the per-ordinal lists.
func buildReference(in Input) (*Snapshot, error) {
	if len(in.UserKeys) != len(in.UserOrds) {
		return nil, fmt.Errorf("edge: %d user keys but %d ordinals", len(in.UserKeys), len(in.UserOrds))
	}
	if len(in.Cohorts) > MaxCohorts {
		return nil, fmt.Errorf("edge: %d cohorts, at most %d are served", len(in.Cohorts), MaxCohorts)
	}
	codes := make([]uint32, len(in.Cohorts))
	seen := make(map[uint32]bool, len(in.Cohorts))
	for i, c := range in.Cohorts {
		if c.Code == 0 || seen[c.Code] {
			return nil, fmt.Errorf("edge: cohort %d has a zero or repeated code %d", i, c.Code)
		}
		seen[c.Code] = true
		codes[i] = c.Code
		if c.Members != nil && !c.Members.IsEmpty() && c.Members.Maximum() >= in.Users {
			return nil, fmt.Errorf("edge: cohort %d has ordinal %d, beyond the %d users", c.Code, c.Members.Maximum(), in.Users)
		}
	}
	for i := range in.UserOrds {
		if i > 0 && in.UserKeys[i] <= in.UserKeys[i-1] {
			return nil, fmt.Errorf("edge: user keys are not sorted and unique at %d", i)
		}
		if in.UserOrds[i] >= in.Users {
			return nil, fmt.Errorf("edge: user ordinal %d beyond the %d users", in.UserOrds[i], in.Users)
		}
	}
	// The cohorts of each ordinal, in ordinal order: ordOff[o]..ordOff[o+1] in ordList.
	ordOff := vault.MakeLarge[uint32](int(in.Users) + 1)
	refForBlocks(in, func(lo, hi uint32, ci int, o uint32) { ordOff[o+1]++ })
	for o := 1; o < len(ordOff); o++ {
		if ordOff[o] > math.MaxUint32-ordOff[o-1] {
			return nil, fmt.Errorf("edge: too many memberships for one snapshot")
		}
		ordOff[o] += ordOff[o-1]
	}
	total := ordOff[in.Users]
	ordList := vault.MakeLarge[uint16](int(total))
	fill := vault.MakeLarge[uint32](int(in.Users))
	copy(fill, ordOff[:in.Users])
	refForBlocks(in, func(lo, hi uint32, ci int, o uint32) { ordList[fill[o]] = uint16(ci); fill[o]++ })
	fill = nil
	// Then in key order: the served users' entries and their other cohorts. Erased ordinals
	// (absent from UserOrds) are left out.
	s := &Snapshot{codes: codes}
	n, extra := 0, 0
	for _, o := range in.UserOrds {
		if k := int(ordOff[o+1] - ordOff[o]); k > 0 {
			n++
			if k > inlineCohorts {
				extra += k
			}
		}
	}
	s.members = vault.MakeLarge[uint16](extra)[:0]
	s.entries = vault.MakeLarge[entry](n)[:0]
	for i, o := range in.UserOrds {
		l := ordList[ordOff[o]:ordOff[o+1]]
		if len(l) == 0 {
			continue
		}
		e := entry{Key: in.UserKeys[i], N: uint16(len(l))}
		if len(l) <= inlineCohorts {
			copy(e.In[:], l)
		} else {
			e.In[0], e.In[1] = uint16(len(s.members)), uint16(len(s.members)>>16)
			s.members = append(s.members, l...)
		}
		s.entries = append(s.entries, e)
		s.pairs += len(l)
	}
	s.index()
	return s, nil
}

// refBlockBits is the previous build's block size.
const refBlockBits = 18

// refForBlocks is the previous forBlocks: f(lo, hi, cohort, ordinal) for every member of every
// cohort, block of ordinals by block, cohorts in order within a block, member by member.
func refForBlocks(in Input, f func(lo, hi uint32, ci int, o uint32)) {
	blocks := int((uint64(in.Users) + 1<<refBlockBits - 1) >> refBlockBits)
	workers := min(runtime.GOMAXPROCS(0), blocks)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			first, last := blocks*w/workers, blocks*(w+1)/workers
			its := make([]roaring.IntPeekable, len(in.Cohorts))
			for ci, c := range in.Cohorts {
				if c.Members != nil {
					its[ci] = c.Members.Iterator()
					its[ci].AdvanceIfNeeded(uint32(first) << refBlockBits)
				}
			}
			for b := first; b < last; b++ {
				lo := uint32(b) << refBlockBits
				hi := uint32(min(uint64(b+1)<<refBlockBits, uint64(in.Users)))
				for ci, it := range its {
					if it == nil {
						continue
					}
					for it.HasNext() && it.PeekNext() < hi {
						f(lo, hi, ci, it.Next())
					}
				}
			}
		}()
	}
	wg.Wait()
}

// TestBuildMatchesReference checks that Build makes the same arrays as the previous build, on
// inputs with erased ordinals, users in no cohort, in 1 to 3 cohorts and in many (overflow).
func TestBuildMatchesReference(t *testing.T) {
	for _, tc := range []struct {
		name                    string
		users, cohorts, per     int
		erasedEvery, heavyEvery int
	}{
		{"empty", 0, 0, 0, 0, 0},
		{"no cohorts", 1000, 0, 0, 0, 0},
		{"small", 100, 5, 2, 7, 0},
		{"inline", 300_000, 1000, 3, 11, 0},
		{"few in many cohorts (spilled)", 300_000, 200, 2, 13, 400},
		{"many in many cohorts (second pass)", 300_000, 200, 4, 13, 5},
		{"several ranges, spilled", 1 << 18, 64, 2, 0, 400},
		{"several ranges, second pass", 1 << 18, 64, 2, 0, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := refInput(tc.users, tc.cohorts, tc.per, tc.erasedEvery, tc.heavyEvery)
			want, err := buildReference(in)
			if err != nil {
				t.Fatal(err)
			}
			second := false
			buildPhase = func(p int) { second = second || p == 6 }
			got, err := Build(in)
			buildPhase = nil
			if err != nil {
				t.Fatal(err)
			}
			if wantSecond := strings.Contains(tc.name, "second pass"); second != wantSecond {
				t.Errorf("second pass over the bitmaps: %v, want %v", second, wantSecond)
			}
			if !slices.Equal(got.entries, want.entries) || !slices.Equal(got.members, want.members) ||
				!slices.Equal(got.codes, want.codes) || got.pairs != want.pairs || !slices.Equal(got.bucket, want.bucket) {
				t.Fatalf("build differs: %d entries %d members %d pairs, want %d %d %d",
					len(got.entries), len(got.members), got.pairs, len(want.entries), len(want.members), want.pairs)
			}
		})
	}
}

// refInput is benchInput with every erasedEvery-th ordinal erased and every heavyEvery-th user
// in 4 to 40 cohorts.
func refInput(users, cohorts, per, erasedEvery, heavyEvery int) Input {
	r := rand.New(rand.NewPCG(5, 6))
	in := Input{Users: uint32(users)}
	for o := range users {
		if erasedEvery > 0 && o%erasedEvery == 0 {
			continue
		}
		in.UserKeys = append(in.UserKeys, r.Uint64())
		in.UserOrds = append(in.UserOrds, uint32(o))
	}
	slices.Sort(in.UserKeys)
	in.UserKeys = slices.Compact(in.UserKeys)
	in.UserOrds = in.UserOrds[:len(in.UserKeys)]
	r.Shuffle(len(in.UserOrds), func(i, j int) { in.UserOrds[i], in.UserOrds[j] = in.UserOrds[j], in.UserOrds[i] })
	members := make([][]uint32, cohorts)
	for o := 0; cohorts > 0 && o < users; o++ {
		k := per
		if heavyEvery > 0 && o%heavyEvery == 0 {
			k = 4 + r.IntN(37)
		}
		for range k {
			c := r.IntN(cohorts)
			members[c] = append(members[c], uint32(o))
		}
	}
	for c := range cohorts {
		bm := roaring.New()
		bm.AddMany(members[c])
		bm.RunOptimize()
		in.Cohorts = append(in.Cohorts, ServedCohort{Code: uint32(100001 + c), Members: bm})
	}
	if cohorts > 2 {
		in.Cohorts[1].Members = nil
	}
	return in
}

// BenchmarkBuildReference is BenchmarkBuild with the previous build, for before/after figures in
// one run.
func BenchmarkBuildReference(b *testing.B) {
	f := getFixture(b)
	cpu0 := benchenv.CPUTime()
	for b.Loop() {
		if _, err := buildReference(f.in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric((benchenv.CPUTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
}
