package disclosure_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/disclosure"
	"github.com/cleanroom-oss/cleanroom/privacy"
	"github.com/cleanroom-oss/cleanroom/sqlite"
)

// world is a gate over a fresh SQLite store with publisher P, advertiser A and a connection.
type world struct {
	gate      *disclosure.Service
	conn      *cleanroom.Connection
	pub, adv  *cleanroom.Caller
	now       time.Time
	connsFind fixedConns
}

type fixedConns struct{ conn *cleanroom.Connection }

func (f fixedConns) Connection(_ context.Context, c *cleanroom.Caller, id string, _ cleanroom.Capability) (*cleanroom.Connection, error) {
	if id != f.conn.ID || (c.OrgID() != f.conn.PublisherID && c.OrgID() != f.conn.PartnerID) {
		return nil, cleanroom.Errorf(cleanroom.ENOTFOUND, "Connection not found.")
	}
	return f.conn, nil
}

const (
	pubID  = "01900000-0000-7000-8000-000000000001"
	advID  = "01900000-0000-7000-8000-000000000002"
	connID = "01900000-0000-7000-8000-0000000000c1"
)

func newWorld(t testing.TB, d disclosure.Deployment) *world {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, o := range []*cleanroom.Org{{ID: pubID, Name: "P", Kind: cleanroom.OrgPublisher}, {ID: advID, Name: "A", Kind: cleanroom.OrgAdvertiser}} {
		if err := db.CreateOrg(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	conn := &cleanroom.Connection{ID: connID, PublisherID: pubID, PartnerID: advID, Workflow: cleanroom.WorkflowOperatorDriven}
	if err := db.CreateConnection(ctx, conn); err != nil {
		t.Fatal(err)
	}
	w := &world{conn: conn, now: time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC), connsFind: fixedConns{conn},
		pub: cleanroom.NewCaller(pubID, cleanroom.RoleAdmin), adv: cleanroom.NewCaller(advID, cleanroom.RoleAdmin)}
	w.gate = disclosure.New(db, []byte("test key"), d)
	w.gate.Now = func() time.Time { return w.now }
	return w
}

func q(kind string, versions ...string) disclosure.Question {
	return disclosure.Question{Kind: kind, Query: []byte(`{"op":"any"}`), Versions: versions}
}

// TestStricterPartyWins: the settings in force are the floor raised (k, period) or lowered (ε,
// budget) by either party; a party cannot go below the floor.
func TestStricterPartyWins(t *testing.T) {
	for _, c := range []struct {
		name     string
		pub, adv disclosure.Change
		want     disclosure.Effective
	}{
		{"defaults", disclosure.Change{}, disclosure.Change{},
			disclosure.Effective{K: 100, Epsilon: "0.5", Budget: "10", Period: "week", Mechanism: "laplace", InputMinimum: 100}},
		{"publisher stricter k", disclosure.Change{K: 150}, disclosure.Change{K: 120},
			disclosure.Effective{K: 150, Epsilon: "0.5", Budget: "10", Period: "week", Mechanism: "laplace", InputMinimum: 150}},
		{"advertiser stricter k", disclosure.Change{K: 101}, disclosure.Change{K: 300},
			disclosure.Effective{K: 300, Epsilon: "0.5", Budget: "10", Period: "week", Mechanism: "laplace", InputMinimum: 300}},
		{"smallest epsilon and budget, longest period", disclosure.Change{Epsilon: "0.25", Budget: "8", Period: "week"},
			disclosure.Change{Epsilon: "0.3", Budget: "2", Period: "month"},
			disclosure.Effective{K: 100, Epsilon: "0.25", Budget: "2", Period: "month", Mechanism: "laplace", InputMinimum: 100}},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t, disclosure.Deployment{})
			ctx := context.Background()
			if _, err := w.gate.UpdateSettings(ctx, w.connsFind, w.pub, connID, c.pub); err != nil {
				t.Fatal(err)
			}
			v, err := w.gate.UpdateSettings(ctx, w.connsFind, w.adv, connID, c.adv)
			if err != nil {
				t.Fatal(err)
			}
			if v.Effective != c.want {
				t.Errorf("effective %+v, want %+v", v.Effective, c.want)
			}
			// Both parties see the same settings in force.
			pv, err := w.gate.Settings(ctx, w.connsFind, w.pub, connID)
			if err != nil || pv.Effective != c.want || pv.Yours.PartyID != pubID || pv.Partner.PartyID != advID {
				t.Errorf("publisher's view %+v %v", pv, err)
			}
		})
	}
}

// TestSettingsBelowTheFloor: a party asking for less protection than the deployment's floor
// is refused, naming the field; only admins change settings.
func TestSettingsBelowTheFloor(t *testing.T) {
	w := newWorld(t, disclosure.Deployment{K: 100, MaxEpsilon: privacy.EpsilonUnit, Budget: 5 * privacy.EpsilonUnit, Period: privacy.Week})
	ctx := context.Background()
	for _, c := range []struct {
		ch    disclosure.Change
		field string
	}{
		{disclosure.Change{K: 99}, "k"},
		{disclosure.Change{K: -1}, "k"},
		{disclosure.Change{Epsilon: "1.5"}, "epsilon"},
		{disclosure.Change{Epsilon: "abc"}, "epsilon"},
		{disclosure.Change{Budget: "6"}, "budget"},
		{disclosure.Change{Period: "day"}, "period"},
		{disclosure.Change{Period: "year"}, "period"},
		{disclosure.Change{Budget: "0.4"}, "budget"}, // less than one question at ε 1
		{disclosure.Change{Budget: "0.4", Epsilon: "0.5"}, "budget"},
	} {
		_, err := w.gate.UpdateSettings(ctx, w.connsFind, w.adv, connID, c.ch)
		if cleanroom.ErrorCode(err) != cleanroom.EINVALID || cleanroom.ErrorDetails(err)["field"] != c.field {
			t.Errorf("%+v: %v, want invalid %s", c.ch, err, c.field)
		}
	}
	if _, err := w.gate.UpdateSettings(ctx, w.connsFind, cleanroom.NewCaller(advID, cleanroom.RoleMember), connID, disclosure.Change{K: 200}); cleanroom.ErrorCode(err) != cleanroom.EFORBIDDEN {
		t.Errorf("a member changes the settings: %v", err)
	}
	if _, err := w.gate.Settings(ctx, w.connsFind, cleanroom.NewCaller("01900000-0000-7000-8000-000000000009", cleanroom.RoleAdmin), connID); cleanroom.ErrorCode(err) != cleanroom.ENOTFOUND {
		t.Errorf("another org reads the settings: %v", err)
	}
}

// TestReleaseDeterminismAndBudget: the same question on the same versions gives the same number
// and costs nothing again; new versions give fresh noise and cost ε; a question over budget is
// refused with when the budget returns; the next period returns the whole budget; each party has
// its own budget.
func TestReleaseDeterminismAndBudget(t *testing.T) {
	w := newWorld(t, disclosure.Deployment{Budget: 2 * privacy.EpsilonUnit}) // 4 questions at ε 0.5
	ctx := context.Background()
	first, err := w.gate.Release(ctx, w.adv, w.conn, q("estimate", "v1"), 1000)
	if err != nil {
		t.Fatal(err)
	}
	if !first.Budget.Charged || first.Budget.Spent != privacy.DefaultEpsilon {
		t.Errorf("first question: %+v", first.Budget)
	}
	again, err := w.gate.Release(ctx, w.adv, w.conn, q("estimate", "v1"), 1000)
	if err != nil || again.Counts[0] != first.Counts[0] || again.Budget.Charged || again.Budget.Spent != privacy.DefaultEpsilon {
		t.Errorf("repeat: %+v %+v %v", again.Counts, again.Budget, err)
	}
	// Different noise on new data: over 3 new versions at least two values differ.
	seen := map[int64]bool{first.Counts[0].Value: true}
	for _, v := range []string{"v2", "v3", "v4"} {
		a, err := w.gate.Release(ctx, w.adv, w.conn, q("estimate", v), 1000)
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		seen[a.Counts[0].Value] = true
	}
	if len(seen) < 2 {
		t.Errorf("four versions, one noise: %v", seen)
	}
	_, err = w.gate.Release(ctx, w.adv, w.conn, q("estimate", "v5"), 1000)
	if cleanroom.ErrorCode(err) != cleanroom.EFORBIDDEN || cleanroom.ErrorDetails(err)["budget_returns_at"] != "2026-12-07T00:00:00Z" ||
		!strings.Contains(cleanroom.ErrorMessage(err), "returns at 2026-12-07 00:00 UTC") {
		t.Errorf("over budget: %v %v", err, cleanroom.ErrorDetails(err))
	}
	// Repeats stay free when the budget is spent.
	if a, err := w.gate.Release(ctx, w.adv, w.conn, q("estimate", "v1"), 1000); err != nil || a.Counts[0] != first.Counts[0] {
		t.Errorf("repeat when spent: %v", err)
	}
	// The publisher's budget is its own.
	if _, err := w.gate.Release(ctx, w.pub, w.conn, q("cohort_size", "v5"), 1000); err != nil {
		t.Errorf("publisher: %v", err)
	}
	// Monday: the budget is back, and the old question costs once more, with the same noise.
	w.now = time.Date(2026, 12, 7, 0, 0, 1, 0, time.UTC)
	a, err := w.gate.Release(ctx, w.adv, w.conn, q("estimate", "v1"), 1000)
	if err != nil || !a.Budget.Charged || a.Counts[0] != first.Counts[0] {
		t.Errorf("next week: %+v %v", a, err)
	}
	// A caller of neither party.
	if _, err := w.gate.Release(ctx, cleanroom.NewCaller("01900000-0000-7000-8000-000000000009", cleanroom.RoleAdmin), w.conn, q("estimate", "v1"), 1); cleanroom.ErrorCode(err) != cleanroom.ENOTFOUND {
		t.Errorf("stranger: %v", err)
	}
}

// TestThresholdEdges: with the noise off, k-1 is withheld and k and k+1 shown, with the stricter
// party's k; with noise, the threshold applies to the noisy count.
func TestThresholdEdges(t *testing.T) {
	for _, c := range []struct {
		name       string
		pubK, advK int64
		count      int64
		shown      bool
	}{
		{"floor k-1", 0, 0, 99, false},
		{"floor k", 0, 0, 100, true},
		{"floor k+1", 0, 0, 101, true},
		{"publisher's k-1", 150, 120, 149, false},
		{"publisher's k", 150, 120, 150, true},
		{"advertiser's k-1", 120, 200, 199, false},
		{"advertiser's k+1", 120, 200, 201, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t, disclosure.Deployment{Mechanism: privacy.NoNoise})
			ctx := context.Background()
			if _, err := w.gate.UpdateSettings(ctx, w.connsFind, w.pub, connID, disclosure.Change{K: c.pubK}); err != nil {
				t.Fatal(err)
			}
			if _, err := w.gate.UpdateSettings(ctx, w.connsFind, w.adv, connID, disclosure.Change{K: c.advK}); err != nil {
				t.Fatal(err)
			}
			for _, caller := range []*cleanroom.Caller{w.pub, w.adv} {
				a, err := w.gate.Release(ctx, caller, w.conn, q("estimate", "v1"), c.count)
				if err != nil {
					t.Fatal(err)
				}
				if got := !a.Counts[0].Suppressed; got != c.shown || c.shown && a.Counts[0].Value != c.count {
					t.Errorf("%s: %+v, want shown %v", caller.OrgID(), a.Counts[0], c.shown)
				}
			}
		})
	}
}

// TestReleaseTableComplements: a table with one withheld cell withholds another, so the total
// minus the shown cells does not give it.
func TestReleaseTableComplements(t *testing.T) {
	w := newWorld(t, disclosure.Deployment{Mechanism: privacy.NoNoise})
	a, err := w.gate.ReleaseTable(context.Background(), w.adv, w.conn, q("insights/table", "v1"), []int64{500, 40, 300})
	if err != nil {
		t.Fatal(err)
	}
	hidden := 0
	for _, c := range a.Counts {
		if c.Suppressed {
			hidden++
		}
	}
	if a.Total.Suppressed || hidden != 2 || !a.Counts[1].Suppressed || !a.Counts[2].Suppressed {
		t.Errorf("cells %+v total %+v: want the 40 and the smallest shown (300) withheld", a.Counts, a.Total)
	}
}

// TestSensitivitySplitsEpsilon: a release of n counts that one person may all change spends the
// question's ε once, each count with ε/n of noise; a histogram (sensitivity 1) gives each count
// the whole ε.
func TestSensitivitySplitsEpsilon(t *testing.T) {
	w := newWorld(t, disclosure.Deployment{})
	ctx := context.Background()
	spread := func(sens int) float64 {
		cq := q("split", "v1")
		cq.Sensitivity = sens
		counts := make([]int64, 400)
		for i := range counts {
			counts[i] = 10000
		}
		a, err := w.gate.Release(ctx, w.adv, w.conn, cq, counts...)
		if err != nil {
			t.Fatal(err)
		}
		var sum float64
		for _, n := range a.Noisy {
			d := float64(n - 10000)
			sum += d * d
		}
		return sum / float64(len(counts))
	}
	hist, all := spread(1), spread(0)
	// Laplace of scale 2 has variance about 8; of scale 800 (ε/400), about 1.28 million.
	if hist > 20 || all < 100000 {
		t.Errorf("variance with sensitivity 1: %.0f; with 400: %.0f", hist, all)
	}
}

// TestSharedReleaseAndAtLeast: a shared question shows both parties the same number, and
// AtLeast decides with that number's noise: "at least min" is what the released count says.
func TestSharedReleaseAndAtLeast(t *testing.T) {
	w := newWorld(t, disclosure.Deployment{Budget: 1000 * privacy.EpsilonUnit})
	ctx := context.Background()
	agree := 0
	for i := range 200 {
		sq := q("cohort_size", "v"+string(rune('a'+i%26)), string(rune('A'+i/26)))
		sq.Shared = true
		exact := int64(95 + i%10)
		a, err := w.gate.Release(ctx, w.adv, w.conn, sq, exact)
		if err != nil {
			t.Fatal(err)
		}
		b, err := w.gate.Release(ctx, w.pub, w.conn, sq, exact)
		if err != nil {
			t.Fatal(err)
		}
		if a.Counts[0] != b.Counts[0] {
			t.Fatalf("a shared question shows the parties %+v and %+v", a.Counts[0], b.Counts[0])
		}
		big, err := w.gate.AtLeast(ctx, w.conn, sq, exact, 100)
		if err != nil {
			t.Fatal(err)
		}
		if big == (!a.Counts[0].Suppressed && a.Counts[0].Value >= 100) {
			agree++
		}
	}
	if agree != 200 {
		t.Errorf("AtLeast agreed with the release %d of 200 times", agree)
	}
	// Not shared: the parties get independent noise.
	differ := 0
	for i := range 20 {
		nq := q("estimate", "w"+string(rune('a'+i)))
		a, _ := w.gate.Release(ctx, w.adv, w.conn, nq, 1000)
		b, _ := w.gate.Release(ctx, w.pub, w.conn, nq, 1000)
		if a.Counts[0] != b.Counts[0] {
			differ++
		}
	}
	if differ == 0 {
		t.Error("two parties asking the same unshared question got the same noise 20 times")
	}
}
