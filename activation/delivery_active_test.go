package activation_test

import (
	"context"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/app"
)

// TestDeliveryActiveListsEveryCohort: a delivery report states the active users of every cohort
// of the caller served through the connection, whether or not any of its users was active, so
// that which cohorts are listed does not tell, exactly and outside the gate, that at least one
// of a cohort's users asked for targeting (the count itself is withheld below k).
func TestDeliveryActiveListsEveryCohort(t *testing.T) {
	ctx := context.Background()
	w := newWorldWith(t, 1500, func(c *app.Config) { c.PrivacyNoise, c.PrivacyThreshold = "none", 5 })
	advMember := cleanroom.NewCaller(w.adv.ID, cleanroom.RoleMember)
	pubAdmin := cleanroom.NewCaller(w.pub.ID, cleanroom.RoleAdmin)
	co := w.cohort(advMember, "Acme - CRM", w.conn, w.ds)
	_, err := w.m.Activation.PutSettings(ctx, pubAdmin, cleanroom.AdServerSettings{GAMKey: "crc", XandrKey: "crx"})
	must(t, err)
	_, err = w.m.Activation.SetSwitches(ctx, pubAdmin, co.ID, w.conn, cleanroom.ActivationSwitches{Direct: true})
	must(t, err)
	code := co.Targets[0].Code
	w.waitFor("the code to be served", func() bool { return w.servedUsers(code) > 0 })
	// Only someone outside the cohort asks for targeting: the edge has active users, none of
	// them the cohort's.
	if got := w.codes("stranger-1"); has(got, code) {
		t.Fatalf("a stranger got the cohort's code: %v", got)
	}
	must(t, w.m.Edge.StoreDelivery(ctx))
	w.m.Delivery.Now = func() time.Time { return time.Now().Add(72 * time.Hour) }
	rep, err := w.m.Delivery.Connection(ctx, advMember, w.conn, "", "")
	must(t, err)
	if len(rep.Active) != 1 || rep.Active[0].CohortID != co.ID || rep.Active[0].Users != nil || rep.ActiveDay == "" {
		t.Fatalf("active %s on %q; want the cohort listed with its count withheld", js(rep.Active), rep.ActiveDay)
	}
}
