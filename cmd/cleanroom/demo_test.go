package main

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/app"
)

// TestDemoSeed runs the demo's seeding on a fresh data directory: the publisher's audience and
// the advertiser's upload are processed, and the cohorts are built (the matched one and the
// lookalike with a chosen similarity active, the other lookalike waiting for a choice).
func TestDemoSeed(t *testing.T) {
	m := app.NewMain()
	m.Config.DataDir = filepath.Join(t.TempDir(), "demo")
	m.Config.LogLevel = "warn"
	ctx := context.Background()
	if err := m.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	d, err := seedDemo(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	cs, _, err := m.Store.ListCohorts(ctx, cleanroom.CohortFilter{OrgID: d.AdvertiserID})
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 3 {
		t.Fatalf("%d cohorts, want 3", len(cs))
	}
	states := map[cleanroom.CohortStatus]int{}
	for _, c := range cs {
		states[c.Status]++
		t.Logf("%s: %s %q, size %d, code %d", c.Name, c.Status, c.StatusReason, c.Targets[0].Size, c.Targets[0].Code)
		if c.Status == cleanroom.CohortActive && (!c.Targets[0].Active || c.Targets[0].Size < 1000) {
			t.Errorf("%s is active but not served or small: %+v", c.Name, c.Targets[0])
		}
	}
	if states[cleanroom.CohortActive] != 2 || states[cleanroom.CohortAwaitingSelection] != 1 {
		t.Errorf("cohort states %v, want 2 active and 1 awaiting selection", states)
	}
}
