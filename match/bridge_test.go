package match_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cleanroom-oss/cleanroom/identity"
	"github.com/cleanroom-oss/cleanroom/match"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// randomBridge draws n pairs from the from pool to the to pool, with repeats on both sides, in
// random order and with duplicate pairs, for Sort to put right.
func randomBridge(r *rand.Rand, from, to identity.Tag, fromPool, toPool []identity.Fingerprint, n int) *match.Bridge {
	b := &match.Bridge{From: from, To: to}
	for range n {
		f := fromPool[r.IntN(len(fromPool))]
		k := 1 + r.IntN(3) // one identifier to several
		for range k {
			b.FromFPs = append(b.FromFPs, f)
			b.ToFPs = append(b.ToFPs, toPool[r.IntN(len(toPool))])
		}
	}
	b.Sort()
	return b
}

func TestSegmentsBridge(t *testing.T) {
	email, maid, phone, ip := identity.TagEmailSHA256, identity.TagMAID, identity.TagPhoneSHA256, identity.TagIPAddress
	for seed := range uint64(30) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 11))
			pools := map[identity.Tag][]identity.Fingerprint{}
			for _, tag := range tagPool {
				pools[tag] = universe(r, 1+r.IntN(200))
			}
			// The advertiser holds emails and phones, the publisher MAIDs and IPs (and
			// sometimes emails, when the email bridge must not be used).
			advTags := []identity.Tag{email, phone}
			pubTags := []identity.Tag{ip, maid}
			if seed%3 == 0 {
				pubTags = []identity.Tag{email, ip, maid}
			}
			adv := randomAdvertiser(r, pools, advTags, 300, 4)
			pub := randomPublisher(r, pools, pubTags, 800, uint32(1+r.IntN(150)))
			bridges := []*match.Bridge{
				randomBridge(r, email, maid, pools[email], pools[maid], 150),
				randomBridge(r, email, ip, pools[email], pools[ip], 100),
				randomBridge(r, phone, maid, pools[phone], pools[maid], 150),
				randomBridge(r, phone, identity.TagAppNexus, pools[phone], pools[identity.TagAppNexus], 50), // publisher lacks the target
			}
			if err := pub.Validate(); err != nil {
				t.Fatal(err)
			}
			for _, b := range bridges {
				if err := b.Validate(); err != nil {
					t.Fatal(err)
				}
			}
			check(t, adv, pub, bridges)

			res, err := match.Segments(adv, pub, match.Options{Bridges: bridges})
			if err != nil {
				t.Fatal(err)
			}
			var bridged int
			for _, s := range res.Tags {
				if s.Bridged {
					bridged++
				}
			}
			if want := map[bool]int{true: 1, false: 3}[seed%3 == 0]; bridged != want {
				t.Errorf("%d bridged entries, want %d: %+v", bridged, want, res.Tags)
			}
		})
	}
}

func TestBridgeSortAndValidate(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	u := universe(r, 4)
	b := &match.Bridge{From: identity.TagEmailSHA256, To: identity.TagMAID,
		FromFPs: []identity.Fingerprint{u[1], u[0], u[1], u[1]},
		ToFPs:   []identity.Fingerprint{u[3], u[2], u[2], u[3]}}
	if err := b.Validate(); err == nil {
		t.Error("unsorted bridge validates")
	}
	b.Sort()
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(b.FromFPs) != 3 || len(b.ToFPs) != 3 {
		t.Errorf("Sort kept %d pairs, want 3 (one repeated pair removed)", len(b.FromFPs))
	}
	for i := 1; i < len(b.FromFPs); i++ {
		if c := b.FromFPs[i-1].Compare(b.FromFPs[i]); c > 0 || c == 0 && b.ToFPs[i-1].Compare(b.ToFPs[i]) >= 0 {
			t.Errorf("pairs %d, %d out of order", i-1, i)
		}
	}
	for _, bad := range []*match.Bridge{
		{From: identity.TagMAID, To: identity.TagMAID},
		{From: identity.TagEmailSHA256},
		{From: identity.TagEmailSHA256, To: identity.TagMAID, FromFPs: u[:2], ToFPs: u[:1]},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v validates", bad)
		}
	}
	// A malformed bridge that applies fails the match.
	adv := randomAdvertiser(r, map[identity.Tag][]identity.Fingerprint{}, []identity.Tag{identity.TagEmailSHA256}, 10, 1)
	pub := randomPublisher(r, map[identity.Tag][]identity.Fingerprint{}, []identity.Tag{identity.TagMAID}, 10, 5)
	bad := &match.Bridge{From: identity.TagEmailSHA256, To: identity.TagMAID, FromFPs: []identity.Fingerprint{u[1], u[0]}, ToFPs: u[:2]}
	if _, err := match.Segments(adv, pub, match.Options{Bridges: []*match.Bridge{bad}}); err == nil {
		t.Error("a match with an unsorted bridge succeeded")
	}
	if !slices.Equal(adv.Tags, []identity.Tag{identity.TagEmailSHA256}) {
		t.Fatal("setup")
	}
}

// The bridges of a stored bridge version match like bridges built by hand.
func TestBridgesOf(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	email, maid, ip := identity.TagEmailSHA256, identity.TagMAID, identity.TagIPAddress
	pools := map[identity.Tag][]identity.Fingerprint{email: universe(r, 100), maid: universe(r, 100), ip: universe(r, 100)}
	adv := randomAdvertiser(r, pools, []identity.Tag{email}, 200, 3)
	pub := randomPublisher(r, pools, []identity.Tag{ip, maid}, 500, 80)
	links := map[vault.BridgePair][]vault.BridgeLink{}
	var manual []*match.Bridge
	for _, to := range []identity.Tag{maid, ip} {
		b := randomBridge(r, email, to, pools[email], pools[to], 80)
		manual = append(manual, b)
		p := vault.BridgePair{From: email, To: to}
		for i := range b.FromFPs {
			links[p] = append(links[p], vault.BridgeLink{From: b.FromFPs[i], To: b.ToFPs[i]})
		}
	}
	v := vault.NewBridgeVersion(links)
	fromVersion := match.BridgesOf(v)
	if len(fromVersion) != 2 {
		t.Fatalf("%d bridges, want 2", len(fromVersion))
	}
	check(t, adv, pub, fromVersion)
	want, err := match.Segments(adv, pub, match.Options{Bridges: manual})
	if err != nil {
		t.Fatal(err)
	}
	got, err := match.Segments(adv, pub, match.Options{Bridges: fromVersion})
	if err != nil {
		t.Fatal(err)
	}
	if !got.Any.Equals(want.Any) || got.Any.IsEmpty() {
		t.Fatalf("any: %d users via the version, %d by hand", got.Any.GetCardinality(), want.Any.GetCardinality())
	}
}
