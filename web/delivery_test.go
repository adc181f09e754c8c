package web_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/activation"
	"github.com/cleanroom-oss/cleanroom/cohorts"
	"github.com/cleanroom-oss/cleanroom/edge"
)

// TestDeliveryPage: a stored delivery day and the active users show on both parties' delivery
// pages, every table naming the cohort (the publisher sees the names of the cohorts built for it),
// with the reach chart and the CSV link, and not to another org.
func TestDeliveryPage(t *testing.T) {
	w := newCohortWorld(t)
	ctx := context.Background()
	co, err := w.api.Cohorts.Create(ctx, cleanroom.NewCaller(w.adv.ID, cleanroom.RoleAdmin), cohorts.Spec{Name: "Acme - CRM",
		Kind: cleanroom.CohortMatched, ConnectionIDs: []string{w.conn},
		Query: cleanroom.CohortQuery{Op: cleanroom.OpAny, Conditions: []cleanroom.Condition{{DataSource: w.dataSource}}}})
	if err != nil {
		t.Fatal(err)
	}
	w.drain()
	code := uint32(co.Targets[0].Code)
	day := time.Now().UTC().AddDate(0, 0, -3).Format(time.DateOnly)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(activation.WriteDeliveryDay(ctx, w.m.Blobs, &activation.DeliveryDay{PublisherID: w.pub.ID, Day: day,
		Rows: []activation.DeliveryRow{{DeliveryRow: edge.DeliveryRow{Day: day, Code: code, LineItem: "5551234567", Impressions: 4000, Users: 786,
			Frequency: [6]int64{200, 150, 120, 110, 105, 101}}}},
		Held: []activation.DeliveryHeld{{HeldRow: edge.HeldRow{Day: day, Code: code, Users: 120}}}}))
	must(activation.WriteActiveUsers(ctx, w.m.Blobs, &activation.ActiveUsers{PublisherID: w.pub.ID, Day: day, Users: 900, Codes: map[uint32]int64{code: 701}}))
	// A row of another publisher's code never shows.
	must(activation.WriteDeliveryDay(ctx, w.m.Blobs, &activation.DeliveryDay{PublisherID: w.pub.ID + "x", Day: day,
		Rows: []activation.DeliveryRow{{DeliveryRow: edge.DeliveryRow{Day: day, Code: code, LineItem: "other-publishers-line", Users: 999}}}}))
	ops, crm, other := w.signIn("ops@planet.example"), w.signIn("crm@acme.example"), w.signIn("crm@other.example")
	for _, tc := range []struct {
		name   string
		c      *webClient
		labels []string
	}{
		{"advertiser", crm, []string{"Acme - CRM"}},
		{"publisher", ops, []string{"Acme - CRM"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, html := tc.c.get("/delivery")
			table := between(html, `<table id="delivery">`, `</table>`)
			if status != 200 || !strings.Contains(table, "<td>5551234567</td><td>786</td><td>3041</td>") || !strings.Contains(table, "<td>200</td><td>150</td><td>120</td>") ||
				!strings.Contains(html, `id="reach-chart"`) || !strings.Contains(html, "/v1/connections/"+w.conn+"/delivery?format=csv") ||
				!strings.Contains(between(html, `<table id="held">`, `</table>`), "<td>120</td>") || strings.Contains(html, "other-publishers-line") {
				t.Fatalf("%d\n%s", status, html)
			}
			for _, l := range tc.labels {
				if !strings.Contains(table, l) {
					t.Errorf("no %q in\n%s", l, table)
				}
			}
			for _, id := range []string{"held", "active"} {
				rows := between(html, `<table id="`+id+`">`, `</table>`)
				if !strings.Contains(rows, ">Acme - CRM<") {
					t.Errorf("the %s table does not name the cohort:\n%s", id, rows)
				}
			}
			if rows := between(html, `<table id="active">`, `</table>`); !strings.Contains(rows, "<td>701</td>") {
				t.Errorf("the active users are not shown:\n%s", rows)
			}
		})
	}
	if _, html := other.get("/delivery"); strings.Contains(html, "5551234567") {
		t.Fatalf("another advertiser sees the delivery:\n%s", html)
	}
}

// TestXandrDealForm: the publisher enters Xandr deal IDs in the deal form, without a GAM proposal.
func TestXandrDealForm(t *testing.T) {
	w := newCohortWorld(t)
	ctx := context.Background()
	co, err := w.api.Cohorts.Create(ctx, cleanroom.NewCaller(w.adv.ID, cleanroom.RoleAdmin), cohorts.Spec{Name: "Acme - CRM",
		Kind: cleanroom.CohortMatched, ConnectionIDs: []string{w.conn},
		Query: cleanroom.CohortQuery{Op: cleanroom.OpAny, Conditions: []cleanroom.Condition{{DataSource: w.dataSource}}}})
	if err != nil {
		t.Fatal(err)
	}
	w.drain()
	ops := w.signIn("ops@planet.example")
	path := "/activation/" + co.ID + "/" + w.conn
	status, _, html := ops.post(path, url.Values{"action": {"deal"}, "xandr_deals": {"acme-q4.1\n998877"}})
	if status != 200 || !strings.Contains(html, "2 Xandr deals") || !strings.Contains(html, "acme-q4.1\n998877</textarea>") {
		t.Fatalf("xandr deals: %d\n%s", status, html)
	}
	status, _, html = ops.post(path, url.Values{"action": {"deal"}, "xandr_deals": {"bad!id"}})
	if status != 400 || !strings.Contains(html, "Xandr deal 1: the ID is not valid") {
		t.Fatalf("bad xandr deal: %d", status)
	}
}
