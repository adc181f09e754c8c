package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
)

var leaseCases = []testCase{
	{"one holder until expiry, renewal, release", func(t *testing.T, s cleanroom.Store) {
		ctx := t.Context()
		steps := []struct {
			what, holder string
			now          time.Duration
			release      bool
			want         bool
		}{
			{"a takes a free lease", "a", 0, false, true},
			{"b cannot take a's lease", "b", time.Second, false, false},
			{"a renews its own", "a", 5 * time.Second, false, true},
			{"b still cannot before the renewed expiry", "b", 12 * time.Second, false, false},
			{"b takes it once expired", "b", 15 * time.Second, false, true},
			{"a cannot take b's", "a", 16 * time.Second, false, false},
			{"a's release of b's lease does nothing", "a", 16 * time.Second, true, false},
			{"b releases", "b", 17 * time.Second, true, false},
			{"a takes a released lease", "a", 17 * time.Second, false, true},
		}
		for _, st := range steps {
			if st.release {
				ok(t, s.ReleaseLease(ctx, "task", st.holder))
				continue
			}
			got, err := s.TakeLease(ctx, "task", st.holder, at(st.now), at(st.now+10*time.Second))
			ok(t, err)
			if got != st.want {
				t.Fatalf("%s: took = %v, want %v", st.what, got, st.want)
			}
		}
		// After a's release of b's lease was refused, b held it until it released it: a's take
		// at 16 s failed above; names are independent.
		got, err := s.TakeLease(ctx, "other", "b", at(17*time.Second), at(20*time.Second))
		ok(t, err)
		if !got {
			t.Fatal("a second name is not held by the first's holder")
		}
		held, err := s.ListLeases(ctx, at(18*time.Second))
		ok(t, err)
		same(t, "leases held at 18 s", []cleanroom.Lease{{Name: "other", Holder: "b", ExpiresAt: at(20 * time.Second)}, {Name: "task", Holder: "a", ExpiresAt: at(27 * time.Second)}}, held)
		held, err = s.ListLeases(ctx, at(27*time.Second))
		ok(t, err)
		if len(held) != 0 {
			t.Fatalf("leases held at 27 s: %+v", held)
		}
	}},
	{"of many takers of an expired lease one wins", func(t *testing.T, s cleanroom.Store) {
		ctx := t.Context()
		var mu sync.Mutex
		var wg sync.WaitGroup
		won := 0
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := s.TakeLease(ctx, "race", string(rune('a'+i)), at(0), at(time.Minute))
				if err != nil {
					t.Error(err)
				}
				if got {
					mu.Lock()
					won++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if won != 1 {
			t.Fatalf("%d takers won, want 1", won)
		}
	}},
}

var keyCases = []testCase{
	{"wrapped keys listed by page and replaced by compare-and-swap", func(t *testing.T, s cleanroom.Store) {
		ctx := t.Context()
		for n := 1; n <= 2; n++ {
			pub := createOrg(t, s, n, cleanroom.OrgPublisher)
			vault, ds, dsVault := demandSide(n)
			_, err := s.EnableCleanRoom(ctx, pub.ID, vault, ds, dsVault, t0)
			ok(t, err)
		}
		var all []cleanroom.WrappedKey
		after := ""
		for {
			page, err := s.ListWrappedKeys(ctx, cleanroom.KeyVault, after, 3)
			ok(t, err)
			if len(page) == 0 {
				break
			}
			all = append(all, page...)
			after = page[len(page)-1].Ref
		}
		if len(all) != 4 || all[0].Ref != orgID(1) || string(all[0].Wrapped) != "publisher key" {
			t.Fatalf("vault keys %+v, want 4 from org 1's", all)
		}
		replaced, err := s.ReplaceWrappedKey(ctx, all[0], []byte("rewrapped"))
		ok(t, err)
		again, err := s.ReplaceWrappedKey(ctx, all[0], []byte("stale"))
		ok(t, err)
		if !replaced || again {
			t.Fatalf("replace: %v, with a stale key: %v; want true, false", replaced, again)
		}
		v, err := s.FindVault(ctx, orgID(1))
		ok(t, err)
		if string(v.WrappedKey) != "rewrapped" {
			t.Fatalf("vault key %q", v.WrappedKey)
		}
		for _, kind := range s.WrappedKeyKinds() {
			_, err := s.ListWrappedKeys(ctx, kind, "", 10)
			ok(t, err)
		}
	}},
}
