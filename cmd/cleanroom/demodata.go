package main

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/app"
	"github.com/cleanroom-oss/cleanroom/cohorts"
	"github.com/cleanroom-oss/cleanroom/ingest"
	"github.com/cleanroom-oss/cleanroom/pipeline"
	"github.com/cleanroom-oss/cleanroom/pubsync"
	"github.com/cleanroom-oss/cleanroom/synth"
	"github.com/cleanroom-oss/cleanroom/uploads"
)

// Demo data sizes: small enough that the demo starts in seconds, large enough for lookalikes and
// for counts well above the privacy threshold.
const (
	demoUsers   = 200_000
	demoCohorts = 200
	demoRows    = 120_000
	// demoInterests is the number of planted interests: few enough that each is tied to many of
	// the publisher's cohorts, so a lookalike finds its readers from their cohorts.
	demoInterests = 8
)

// seedDemoData gives the demo publisher a synthetic audience and the advertiser a processed CRM
// upload, shares a few of the publisher's custom cohorts with the advertiser, and builds a matched
// and a modeled cohort. It runs the jobs itself, before the server starts.
func seedDemoData(ctx context.Context, m *app.Main, d *demo, pubID, pubAdminID, advID, advAdminID, connID string) error {
	u, err := synth.NewUniverse(synth.UniverseConfig{Seed: 7, Users: demoUsers, Cohorts: demoCohorts, Interests: demoInterests})
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := u.WriteTaxonomy(&buf); err != nil {
		return err
	}
	ptax, _, err := pubsync.ParseTaxonomy(&buf)
	if err != nil {
		return fmt.Errorf("demo publisher taxonomy: %w", err)
	}
	if err := pipeline.PutPublisherTaxonomy(ctx, m.Store, pubID, ptax, time.Now()); err != nil {
		return err
	}
	buf.Reset()
	if _, err := u.WriteProfiles(&buf, synth.WriteOptions{Engagement: true}); err != nil {
		return err
	}
	if err := demoUpload(ctx, m, pubID, pubAdminID, cleanroom.UploadPublisher, pubID, "profiles.tsv", buf.Bytes()); err != nil {
		return err
	}

	a, err := synth.NewAdvertiser(u, synth.AdvertiserConfig{Seed: 11, Rows: demoRows, Overlap: 0.6, Mistakes: 0.01, Segments: demoInterests})
	if err != nil {
		return err
	}
	advCaller := &cleanroom.Caller{User: &cleanroom.User{ID: advAdminID}, Org: &cleanroom.Org{ID: advID}, Role: cleanroom.RoleAdmin}
	ds, err := m.Connections.CreateDataSource(ctx, advCaller, "CRM customers", "Loyalty members and online buyers, last 24 months")
	if err != nil {
		return err
	}
	buf.Reset()
	if err := a.WriteTaxonomy(&buf); err != nil {
		return err
	}
	atax, _, err := ingest.ParseTaxonomy(&buf)
	if err != nil {
		return fmt.Errorf("demo advertiser taxonomy: %w", err)
	}
	if err := pipeline.PutDataSourceTaxonomy(ctx, m.Store, ds.ID, atax, time.Now()); err != nil {
		return err
	}
	buf.Reset()
	if _, err := a.WriteData(&buf, synth.WriteOptions{}); err != nil {
		return err
	}
	if err := demoUpload(ctx, m, advID, advAdminID, cleanroom.UploadDataSource, ds.ID, "crm.tsv", buf.Bytes()); err != nil {
		return err
	}

	// Share three custom cohorts with the advertiser.
	var shared []string
	for _, c := range ptax.Cohorts() {
		if !c.Standard && len(shared) < 3 {
			shared = append(shared, c.ID)
		}
	}
	pubCaller := &cleanroom.Caller{User: &cleanroom.User{ID: pubAdminID}, Org: &cleanroom.Org{ID: pubID}, Role: cleanroom.RoleAdmin}
	if _, err := m.Connections.UpdatePermissions(ctx, pubCaller, connID, cleanroom.Permissions{
		StandardCohorts: true, MatchedCohorts: true, ModeledAudiences: true, Insights: true, AdvancedInsights: true,
		CustomCohorts: true, SharedCustomCohorts: shared,
	}); err != nil {
		return err
	}

	seg, other := demoSegments(u, a)
	q := cleanroom.CohortQuery{Op: cleanroom.OpAny, Conditions: []cleanroom.Condition{{DataSource: ds.ID, Segment: seg.ID}}}
	matched, err := m.Cohorts.Create(ctx, advCaller, cohorts.Spec{Name: "Northwind - " + seg.Name + " - Matched",
		Description: "Customers in the " + seg.Name + " segment who read the Daily Courier", Kind: cleanroom.CohortMatched,
		Query: q, ConnectionIDs: []string{connID}})
	if err != nil {
		return err
	}
	sim := 0.8
	lookalike, err := m.Cohorts.Create(ctx, advCaller, cohorts.Spec{Name: "Northwind - " + seg.Name + " - Lookalike 80%",
		Description: "Readers most like the matched " + seg.Name + " customers", Kind: cleanroom.CohortModeled,
		Query: q, ConnectionIDs: []string{connID}, Similarity: &sim})
	if err != nil {
		return err
	}
	// A lookalike of another interest segment, left for the user to pick a point on its curve.
	// (Not of "all customers": the synthetic advertiser's customers are a uniform sample of the
	// readers, so nothing sets them apart and no model could find more of them.)
	oq := cleanroom.CohortQuery{Op: cleanroom.OpAny, Conditions: []cleanroom.Condition{{DataSource: ds.ID, Segment: other.ID}}}
	if _, err := m.Cohorts.Create(ctx, advCaller, cohorts.Spec{Name: "Northwind - " + other.Name + " - Lookalike",
		Description: "Waiting for a point on the curve", Kind: cleanroom.CohortModeled,
		Query: oq, ConnectionIDs: []string{connID}}); err != nil {
		return err
	}
	if _, err = m.Jobs.RunPending(ctx); err != nil {
		return err
	}
	// The matched cohort activated: the publisher's ad-server settings, both switches and a GAM
	// deal; the advertiser's frequency cap. The edge publishes it within --edge-refresh.
	if _, err := m.Activation.PutSettings(ctx, pubCaller, cleanroom.AdServerSettings{GAMNetworkCode: "21700000000", GAMKey: "crc",
		XandrMemberID: "958", XandrKey: "crc", Origins: []string{"http://127.0.0.1:8080"}, UIDCookie: "courier_uid"}); err != nil {
		return err
	}
	if _, err := m.Activation.SetDeal(ctx, pubCaller, matched.ID, connID, &cleanroom.Deal{ProposalID: "1000042",
		ProposalName: "Daily Courier - GAM - Northwind - Agency",
		LineItems:    []cleanroom.LineItem{{ID: demoLineItem, Floor: "2.50", Currency: "USD"}}}); err != nil {
		return err
	}
	if _, err := m.Activation.SetSwitches(ctx, pubCaller, matched.ID, connID, cleanroom.ActivationSwitches{Direct: true, Programmatic: true}); err != nil {
		return err
	}
	if _, err := m.Activation.SetCap(ctx, advCaller, matched.ID, cleanroom.FrequencyCap{MaxImpressions: 3, Period: cleanroom.CapWeek}); err != nil {
		return err
	}
	// The lookalike too, through a deal of its own, uncapped.
	if _, err := m.Activation.SetDeal(ctx, pubCaller, lookalike.ID, connID, &cleanroom.Deal{ProposalID: "1000043",
		ProposalName: "Daily Courier - GAM - Northwind Lookalike - Agency",
		LineItems:    []cleanroom.LineItem{{ID: demoLookalikeLineItem, Floor: "1.80", Currency: "USD"}}}); err != nil {
		return err
	}
	if _, err := m.Activation.SetSwitches(ctx, pubCaller, lookalike.ID, connID, cleanroom.ActivationSwitches{Direct: true, Programmatic: true}); err != nil {
		return err
	}
	uid, err := seedDemoTraffic(ctx, m, pubID, matched.ID, lookalike.ID)
	if err != nil {
		return fmt.Errorf("demo traffic: %w", err)
	}
	d.TargetedUser = uid
	return nil
}

// demoUpload uploads data in one part and processes it.
func demoUpload(ctx context.Context, m *app.Main, orgID, userID string, target cleanroom.UploadTarget, targetID, name string, data []byte) error {
	up, err := m.Uploads.Begin(ctx, uploads.Spec{OrgID: orgID, UserID: userID, Target: target, TargetID: targetID, Name: name, Size: int64(len(data))})
	if err != nil {
		return err
	}
	if up, err = m.Uploads.WritePart(ctx, up, 0, bytes.NewReader(data), ""); err != nil {
		return err
	}
	if _, err = m.Uploads.Complete(ctx, up); err != nil {
		return err
	}
	_, err = m.Jobs.RunPending(ctx)
	return err
}

// demoSegments picks the two segments the demo's lookalikes are built on: those whose planted
// interest the publisher's cohorts reveal best. A lookalike learns from the readers' cohorts, so
// it finds more people like the seeds only as far as those cohorts set the interest's holders
// apart: the share of holders in at least one cohort tied to the interest, less the share of
// other readers in one (Youden's J of "in a tied cohort"). In the demo's first universe (24
// interests, 120 cohorts) the segment it used had an interest tied to cohorts that held few of
// its holders, and "all customers" is a uniform sample of the readers: both models scored a
// holdout AUC near 0.5 and a lift near 1. This measure of the planted truth predicts the AUC a
// segment's lookalike reaches (0.03 gives 0.54; 0.76 gives 0.84).
func demoSegments(u *synth.Universe, a *synth.Advertiser) (first, second synth.Segment) {
	interests := u.Interests()
	signal := make([]float64, len(interests))
	for t, in := range interests {
		holdersMissed, othersMissed := 1.0, 1.0
		for _, c := range u.Cohorts() {
			if c.Interest != t {
				continue
			}
			hi := c.Size * c.Lift / (1 + in.Share*(c.Lift-1)) // a holder's membership rate
			holdersMissed *= 1 - hi
			othersMissed *= 1 - hi/c.Lift
		}
		signal[t] = othersMissed - holdersMissed
	}
	var picks []synth.Segment
	for _, s := range a.Segments() {
		if s.Interest >= 0 {
			picks = append(picks, s)
		}
	}
	slices.SortFunc(picks, func(x, y synth.Segment) int { return cmp.Compare(signal[y.Interest], signal[x.Interest]) })
	return picks[0], picks[1]
}
