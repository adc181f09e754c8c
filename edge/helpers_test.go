package edge

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cleanroom-oss/cleanroom/pubsync"
)

func testHasher(t testing.TB) *pubsync.UserHasher {
	t.Helper()
	key := make([]byte, pubsync.UserKeySize)
	for i := range key {
		key[i] = byte(i + 1)
	}
	h, err := pubsync.NewUserHasher(key)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// synthInput makes an input of users users (user IDs "u<ordinal>" hashed with h) and cohorts
// cohorts, each user in perUser random cohorts, deterministic for seed. It returns the input and
// the expected codes per user ID's ordinal.
func synthInput(h *pubsync.UserHasher, users, cohorts, perUser int, seed uint64) Input {
	r := rand.New(rand.NewPCG(seed, 1))
	in := Input{Users: uint32(users)}
	type pair struct {
		k uint64
		o uint32
	}
	pairs := make([]pair, users)
	for o := range users {
		pairs[o] = pair{h.Hash(userID(o)), uint32(o)}
	}
	slices.SortFunc(pairs, func(a, b pair) int {
		if a.k < b.k {
			return -1
		}
		return 1
	})
	in.UserKeys = make([]uint64, users)
	in.UserOrds = make([]uint32, users)
	for i, p := range pairs {
		in.UserKeys[i], in.UserOrds[i] = p.k, p.o
	}
	members := make([][]uint32, cohorts)
	for o := range users {
		for range perUser {
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
	return in
}

func userID(o int) string { return "user-" + itoa(o) }

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// expected returns the codes of ordinal o in in, ascending by cohort order.
func expected(in Input, o uint32) []uint32 {
	var out []uint32
	for _, c := range in.Cohorts {
		if c.Members.Contains(o) {
			out = append(out, c.Code)
		}
	}
	return out
}

// clock is an injected clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func mustLoc(t testing.TB, name string) *time.Location {
	t.Helper()
	l, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}
