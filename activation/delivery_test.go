package activation_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/app"
	"github.com/cleanroom-oss/cleanroom/delivery"
)

// TestDeliveryReport: impressions reported to the edge become a delivery report, per day,
// cohort and line item, to both parties alike (through the release gate: no noise and k = 5
// here, so the numbers are exact), for finished days only, and to nobody else.
func TestDeliveryReport(t *testing.T) {
	ctx := context.Background()
	w := newWorldWith(t, 3000, func(c *app.Config) { c.PrivacyNoise, c.PrivacyThreshold = "none", 5 })
	pubMember := cleanroom.NewCaller(w.pub.ID, cleanroom.RoleMember)
	advMember := cleanroom.NewCaller(w.adv.ID, cleanroom.RoleMember)
	act := w.m.Activation
	co := w.cohort(advMember, "Acme - CRM", w.conn, w.ds)
	_, err := act.PutSettings(ctx, cleanroom.NewCaller(w.pub.ID, cleanroom.RoleAdmin), cleanroom.AdServerSettings{GAMKey: "crc", XandrKey: "crc",
		Origins: []string{"https://www.planet.example"}})
	must(t, err)
	_, err = act.SetDeal(ctx, pubMember, co.ID, w.conn, &cleanroom.Deal{ProposalID: "4242", ProposalName: "Planet - GAM - Acme - Agency",
		LineItems: []cleanroom.LineItem{{ID: "5551234567", Floor: "2.50", Currency: "usd"}}})
	must(t, err)
	_, err = act.SetSwitches(ctx, pubMember, co.ID, w.conn, cleanroom.ActivationSwitches{Programmatic: true})
	must(t, err)
	_, err = act.SetCap(ctx, advMember, co.ID, cleanroom.FrequencyCap{MaxImpressions: 3, Period: cleanroom.CapDay})
	must(t, err)
	w.waitFor("the deal to be published", func() bool {
		m, err := act.Manifest(ctx, w.pub.ID)
		must(t, err)
		return len(m.Caps) == 1 && len(m.Served) == 1 && w.m.Edge.Digest(w.pub.ID) == m.Digest
	})
	// Six users each see the line item 1, 2, 3, 5, 7 and 12 times today: one user per bucket,
	// six times over; the cap of 3 a day holds back the 24 who reach it.
	var evs []string
	now := time.Now()
	for u := range 36 {
		for range []int{1, 2, 3, 5, 7, 12}[u%6] {
			evs = append(evs, fmt.Sprintf(`{"uid":"reader-%d","line_item":"5551234567","t":%d}`, u, now.UnixMilli()))
		}
	}
	resp, b := w.do("POST", "/edge/v1/"+w.pub.ID+"/events", "https://www.planet.example", "text/plain", []byte(`{"events":[`+strings.Join(evs, ",")+`]}`))
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("events: %d %s", resp.StatusCode, b)
	}
	// Seven of the cohort's users ask for targeting (twice each): they are its active users.
	skip := map[string]bool{}
	for range 7 {
		uid := w.member(co.Targets[0].Code, skip)
		skip[uid] = true
		w.codes(uid)
		w.codes(uid)
	}
	must(t, w.m.Edge.StoreDelivery(ctx))
	today := now.UTC().Format(time.DateOnly)

	// Today is not finished: nothing is reported yet.
	rep, err := w.m.Delivery.Connection(ctx, advMember, w.conn, "", "")
	must(t, err)
	if len(rep.Rows) != 0 || rep.Through >= today {
		t.Fatalf("an unfinished day was reported: %+v", rep)
	}
	w.m.Delivery.Now = func() time.Time { return now.Add(72 * time.Hour) }
	n := func(v int64) *int64 { return &v }
	want := delivery.Row{Day: today, CohortID: co.ID, Code: co.Targets[0].Code, LineItem: "5551234567", Users: n(36),
		Frequency: [6]*int64{n(6), n(6), n(6), n(6), n(6), n(6)}, Impressions: n(6 * (1 + 2 + 3 + 4 + 6 + 11))}
	for _, tc := range []struct {
		name   string
		caller *cleanroom.Caller
	}{
		{"advertiser", advMember},
		{"publisher", pubMember}, // the publisher sees the names of the cohorts built for it
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := w.m.Delivery.Connection(ctx, tc.caller, w.conn, "", "")
			must(t, err)
			want := want
			want.CohortName = co.Name
			if len(rep.Rows) != 1 || !jsonEqual(rep.Rows[0], want) {
				t.Fatalf("rows %s, want [%s]", js(rep.Rows), js(want))
			}
			if len(rep.Held) != 1 || rep.Held[0].Users == nil || *rep.Held[0].Users != 24 {
				t.Fatalf("held %s, want 24 users", js(rep.Held))
			}
			if len(rep.Held) != 1 || rep.Held[0].CohortName != want.CohortName {
				t.Fatalf("held %s, want the cohort named %q", js(rep.Held), want.CohortName)
			}
			if len(rep.Active) != 1 || rep.Active[0].Users == nil || *rep.Active[0].Users != 7 || rep.Active[0].CohortID != co.ID || rep.Active[0].CohortName != want.CohortName || rep.ActiveDay != today {
				t.Fatalf("active %s on %s, want 7 users on %s", js(rep.Active), rep.ActiveDay, today)
			}
			one, err := w.m.Delivery.Cohort(ctx, tc.caller, co.ID, w.conn, "", "")
			must(t, err)
			if !jsonEqual(one.Rows, rep.Rows) {
				t.Fatalf("cohort report %s differs from the connection's %s", js(one.Rows), js(rep.Rows))
			}
			csv := rep.CSV()
			if len(csv) != 2 || !slices.Contains(csv[0], "frequency_11+") || csv[1][len(csv[1])-1] != "24" {
				t.Fatalf("csv %q", csv)
			}
		})
	}
	// Anyone else: not found.
	other, err := w.m.Accounts.CreateOrg(ctx, "Rival", cleanroom.OrgAdvertiser)
	must(t, err)
	if _, err := w.m.Delivery.Connection(ctx, cleanroom.NewCaller(other.ID, cleanroom.RoleAdmin), w.conn, "", ""); cleanroom.ErrorCode(err) != cleanroom.ENOTFOUND {
		t.Fatalf("another org: %v, want not found", err)
	}
	// The report carries no user ID.
	b, _ = json.Marshal(rep)
	if strings.Contains(string(b), "reader-") {
		t.Fatalf("a user ID in the report: %s", b)
	}
}

func js(v any) string { b, _ := json.Marshal(v); return string(b) }

func jsonEqual(a, b any) bool { return js(a) == js(b) }

// TestXandrDealCounts: a publisher enters Xandr deal IDs only (no GAM proposal); impressions
// reported with them count against the cohort's cap, which then withholds its code, and a deal ID
// another cohort uses is refused.
func TestXandrDealCounts(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, 3000)
	pubMember := cleanroom.NewCaller(w.pub.ID, cleanroom.RoleMember)
	advMember := cleanroom.NewCaller(w.adv.ID, cleanroom.RoleMember)
	act := w.m.Activation
	co := w.cohort(advMember, "Acme - CRM", w.conn, w.ds)
	code := co.Targets[0].Code
	_, err := act.PutSettings(ctx, cleanroom.NewCaller(w.pub.ID, cleanroom.RoleAdmin), cleanroom.AdServerSettings{GAMKey: "crc", XandrKey: "crx",
		Origins: []string{"https://www.planet.example"}})
	must(t, err)
	// Before any deal ID, a cap is refused.
	if _, err := act.SetCap(ctx, advMember, co.ID, cleanroom.FrequencyCap{MaxImpressions: 2, Period: cleanroom.CapDay}); cleanroom.ErrorCode(err) != cleanroom.EINVALID {
		t.Fatalf("cap without deal IDs: %v", err)
	}
	_, err = act.SetDeal(ctx, pubMember, co.ID, w.conn, &cleanroom.Deal{XandrDeals: []string{"acme-q4.1"}})
	must(t, err)
	_, err = act.SetSwitches(ctx, pubMember, co.ID, w.conn, cleanroom.ActivationSwitches{Programmatic: true})
	must(t, err)
	_, err = act.SetCap(ctx, advMember, co.ID, cleanroom.FrequencyCap{MaxImpressions: 2, Period: cleanroom.CapDay})
	must(t, err)
	w.waitFor("the deal to be published", func() bool {
		m, err := act.Manifest(ctx, w.pub.ID)
		must(t, err)
		return m.Deals["acme-q4.1"] == uint32(code) && len(m.Caps) == 1 && w.m.Edge.Digest(w.pub.ID) == m.Digest
	})
	uid := w.member(code, nil)
	for i := range 3 {
		if got, want := has(w.codes(uid), code), i < 2; got != want {
			t.Fatalf("after %d deal impressions: served %v, want %v", i, got, want)
		}
		body := fmt.Sprintf(`{"events":[{"uid":%q,"deal":"acme-q4.1","t":%d}]}`, uid, time.Now().UnixMilli())
		if resp, b := w.do("POST", "/edge/v1/"+w.pub.ID+"/events", "https://www.planet.example", "text/plain", []byte(body)); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("events: %d %s", resp.StatusCode, b)
		}
	}
	// The deal ID is the cohort's: another cohort cannot list it.
	co2 := w.cohort(advMember, "Acme - CRM 2", w.conn, w.ds)
	if _, err := act.SetDeal(ctx, pubMember, co2.ID, w.conn, &cleanroom.Deal{XandrDeals: []string{"acme-q4.1"}}); cleanroom.ErrorCode(err) != cleanroom.ECONFLICT {
		t.Fatalf("a deal ID of another cohort: %v, want a conflict", err)
	}
}
