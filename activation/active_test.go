package activation_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/accounts"
	"github.com/cleanroom-oss/cleanroom/app"
	"github.com/cleanroom-oss/cleanroom/cohorts"
	"github.com/cleanroom-oss/cleanroom/edge"
	"github.com/cleanroom-oss/cleanroom/synth"
)

// servedTo returns every synthetic user the edge serves code to.
func (w *world) servedTo(code int64) []string {
	e := w.m.Edge.Engine(w.pub.ID)
	var buf [8]uint32
	var out []string
	for i := range w.users {
		for _, c := range e.DecideUser(synth.UserID(i), time.Now(), buf[:0]) {
			if int64(c) == code {
				out = append(out, synth.UserID(i))
			}
		}
	}
	return out
}

// TestActiveUsersBesideSizes: before any traffic, a cohort's size and an estimate say "no
// traffic yet"; once some of its users asked the edge for targeting and the edge stored its
// active users, both parties see the count beside the size (through the gate: no noise and k = 5
// here, so exact), the estimate states it too, and a count that would leave fewer than k users
// not active is withheld, saying why.
func TestActiveUsersBesideSizes(t *testing.T) {
	ctx := context.Background()
	w := newWorldWith(t, 3000, func(c *app.Config) { c.PrivacyNoise, c.PrivacyThreshold = "none", 5 })
	pubMember := cleanroom.NewCaller(w.pub.ID, cleanroom.RoleMember)
	advMember := cleanroom.NewCaller(w.adv.ID, cleanroom.RoleMember)
	co := w.cohort(advMember, "Acme - CRM", w.conn, w.ds)
	spec := cohorts.Spec{Name: "Estimate", Kind: cleanroom.CohortMatched, ConnectionIDs: []string{w.conn},
		Query: cleanroom.CohortQuery{Op: cleanroom.OpAny, Conditions: []cleanroom.Condition{{DataSource: w.ds}}}}
	active := func(c *cleanroom.Caller) (*cohorts.Active, *cohorts.Active, int64) {
		t.Helper()
		cur, err := w.m.Cohorts.Get(ctx, c, co.ID)
		must(t, err)
		tcs, err := w.m.Cohorts.Counts(ctx, c, cur)
		must(t, err)
		if len(tcs) != 1 || tcs[0].Size.Value == nil {
			t.Fatalf("counts %s", js(tcs))
		}
		var est *cohorts.Active
		if c.OrgID() == w.adv.ID {
			e, err := w.m.Cohorts.Estimate(ctx, c, spec)
			must(t, err)
			est = e.Estimates[0].Active
		}
		return tcs[0].Active, est, *tcs[0].Size.Value
	}
	a, est, _ := active(advMember)
	if a == nil || a.State != cohorts.StateNoTraffic || est == nil || est.State != cohorts.StateNoTraffic {
		t.Fatalf("before traffic: size's %s, estimate's %s; want no_traffic", js(a), js(est))
	}

	_, err := w.m.Activation.PutSettings(ctx, cleanroom.NewCaller(w.pub.ID, cleanroom.RoleAdmin), cleanroom.AdServerSettings{GAMKey: "crc", XandrKey: "crc"})
	must(t, err)
	_, err = w.m.Activation.SetSwitches(ctx, pubMember, co.ID, w.conn, cleanroom.ActivationSwitches{Direct: true})
	must(t, err)
	w.waitFor("the cohort to be served", func() bool {
		m, err := w.m.Activation.Manifest(ctx, w.pub.ID)
		must(t, err)
		return len(m.Served) == 1 && w.m.Edge.Digest(w.pub.ID) == m.Digest
	})
	members := w.servedTo(co.Targets[0].Code)
	// Seven members ask twice each, and users outside the cohort too: only the members count.
	for _, uid := range members[:7] {
		w.codes(uid)
		w.codes(uid)
	}
	for i := range 20 {
		w.codes("not-a-member-" + itoa(int64(i)))
	}
	must(t, w.m.Edge.StoreActive(ctx, w.pub.ID))
	today := time.Now().UTC().Format(time.DateOnly)
	for _, c := range []*cleanroom.Caller{advMember, pubMember} {
		a, est, size := active(c)
		if a == nil || a.Value == nil || *a.Value != 7 || a.State != cohorts.StateExact || a.Day != today {
			t.Fatalf("org %s: active %s, want 7 on %s", c.OrgID(), js(a), today)
		}
		if size != int64(len(members)) {
			t.Fatalf("size %d, served %d", size, len(members))
		}
		if c == advMember && (est == nil || est.Value == nil || *est.Value != 7) {
			t.Fatalf("estimate's active %s, want 7", js(est))
		}
	}

	// The API states them beside the size.
	mem, _, err := w.m.Accounts.AddMember(ctx, w.adv.ID, accounts.NewUser{Email: "viewer@acme.example", Name: "Viewer", Password: "a long enough password", Role: cleanroom.RoleViewer})
	must(t, err)
	tok, _, err := w.m.Accounts.IssueToken(ctx, mem.ID, w.adv.ID, "test", 0)
	must(t, err)
	req, err := http.NewRequest("GET", w.m.URL()+"/v1/cohorts/"+co.ID, nil)
	must(t, err)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	var view struct {
		Targets []struct {
			Size        int64          `json:"size"`
			ActiveUsers cohorts.Active `json:"active_users"`
		} `json:"targets"`
	}
	must(t, json.NewDecoder(resp.Body).Decode(&view))
	resp.Body.Close()
	if len(view.Targets) != 1 || view.Targets[0].ActiveUsers.Value == nil || *view.Targets[0].ActiveUsers.Value != 7 || view.Targets[0].ActiveUsers.Day != today {
		t.Fatalf("GET /v1/cohorts/{id}: %d %+v, want 7 active users on %s", resp.StatusCode, view, today)
	}

	// All but three members active: the size less the count would be 3, below k = 5.
	for _, uid := range members[7 : len(members)-3] {
		w.codes(uid)
	}
	must(t, w.m.Edge.StoreActive(ctx, w.pub.ID))
	a, est, _ = active(advMember)
	for _, x := range []*cohorts.Active{a, est} {
		if x == nil || x.Value != nil || x.State != cohorts.StateNearlyAll || !strings.Contains(x.Reason, "Nearly all") {
			t.Fatalf("all but 3 active: %s, want withheld", js(x))
		}
	}
}

// TestActiveUsersAttack: the publisher chooses who is active (anyone with a user ID can ask the
// edge for its codes): half of a cohort's users, which it knows, plus a target, or not, then
// reads the cohort's active users to learn whether the target asked (the same difference as
// whether a user it made active is a member). Each day's set is a new question with fresh noise: at the
// defaults (ε 0.5, k 100) it is right at most e^0.5/(1+e^0.5) = 62.2% of the time, plus sampling
// error; without noise, every time.
func TestActiveUsersAttack(t *testing.T) {
	bound := math.Exp(0.5) / (1 + math.Exp(0.5))
	for _, noise := range []string{"laplace", "none"} {
		t.Run(noise, func(t *testing.T) {
			ctx := context.Background()
			w := newWorldWith(t, 3000, func(c *app.Config) { c.PrivacyBudget, c.PrivacyNoise = "1000000", noise })
			co := w.cohort(cleanroom.NewCaller(w.adv.ID, cleanroom.RoleMember), "Acme - CRM", w.conn, w.ds)
			v, err := w.m.Store.CurrentVersion(ctx, w.pub.ID)
			must(t, err)
			pv, err := w.m.Versions.OpenPublisher(ctx, v)
			must(t, err)
			members, err := w.m.Cohorts.Members(ctx, &co.Targets[0])
			must(t, err)
			var hashes []uint64 // the members' user hashes, as the edge records them
			for i, o := range pv.UserOrds {
				if members.Contains(o) {
					hashes = append(hashes, pv.UserKeys[i])
				}
			}
			// Half the cohort known: the count and the size less the count both well above k.
			if len(hashes) < 260 {
				t.Fatalf("a cohort of %d members: too small for the attack's margins", len(hashes))
			}
			half := len(hashes) / 2
			known, target := hashes[:half], hashes[half]
			day := edge.DayOf(time.Now(), time.UTC)
			var set *edge.ActiveSet
			var setID string
			w.m.Cohorts.ActiveSets = func(context.Context, string) (*edge.ActiveSet, string, error) { return set, setID, nil }
			trials := 320
			if noise == "none" {
				trials = 16
			}
			rng := rand.New(rand.NewPCG(7, 11))
			pub := cleanroom.NewCaller(w.pub.ID, cleanroom.RoleViewer)
			right := 0
			for i := range trials {
				in := rng.IntN(2) == 1
				hs := slices.Clone(known)
				if in {
					hs = append(hs, target)
				}
				slices.Sort(hs)
				set, setID = &edge.ActiveSet{Day: day, Hashes: hs, Days: make([]int32, len(hs))}, fmt.Sprintf("attack-%d", i)
				tcs, err := w.m.Cohorts.Counts(ctx, pub, co)
				must(t, err)
				a := tcs[0].Active
				if a == nil || a.Value == nil {
					t.Fatalf("active users %s", js(a))
				}
				if (*a.Value >= int64(half)+1) == in {
					right++
				}
			}
			acc := float64(right) / float64(trials)
			limit := bound + 3.5*math.Sqrt(bound*(1-bound)/float64(trials))
			t.Logf("right %.1f%% of %d times (bound %.1f%%, with sampling error %.1f%%)", 100*acc, trials, 100*bound, 100*limit)
			switch {
			case noise == "none" && right != trials:
				t.Errorf("without noise: right %d of %d, want every time (the attack works on exact counts)", right, trials)
			case noise != "none" && acc > limit:
				t.Errorf("right %.1f%% of the time, above the bound %.1f%%", 100*acc, 100*limit)
			}
		})
	}
}
