package cleanroom_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cleanroom-oss/cleanroom"
)

// TestCapabilityMatrix asserts every cell of workflow x side/role x permission toggle x
// capability. The expectation is built from two tables that restate the product rules
// independently of the code: what each kind of caller may do when every toggle is on, and which
// toggle gates each capability.
func TestCapabilityMatrix(t *testing.T) {
	const pub, partner, outsider = "pub", "partner", "other"
	type caller struct {
		name string
		org  string
		role cleanroom.Role
	}
	callers := []caller{
		{"supply admin", pub, cleanroom.RoleAdmin},
		{"supply member", pub, cleanroom.RoleMember},
		{"supply viewer", pub, cleanroom.RoleViewer},
		{"partner admin", partner, cleanroom.RoleAdmin},
		{"partner member", partner, cleanroom.RoleMember},
		{"partner viewer", partner, cleanroom.RoleViewer},
		{"partner limited", partner, cleanroom.RoleLimited},
		{"outsider admin", outsider, cleanroom.RoleAdmin},
	}
	C := func(cs ...cleanroom.Capability) map[cleanroom.Capability]bool {
		m := map[cleanroom.Capability]bool{}
		for _, c := range cs {
			m[c] = true
		}
		return m
	}
	demand := []cleanroom.Capability{
		cleanroom.CapViewConnection, cleanroom.CapManageDataSources, cleanroom.CapCreateMatchedCohort, cleanroom.CapCreateModeledCohort,
		cleanroom.CapViewInsights, cleanroom.CapViewAdvancedInsights, cleanroom.CapUseStandardCohorts, cleanroom.CapTargetCustomCohorts,
	}
	// allowedAllOn[workflow][caller] is what the caller may do with every toggle on.
	allowedAllOn := map[cleanroom.Workflow]map[string]map[cleanroom.Capability]bool{}
	for _, wf := range []cleanroom.Workflow{cleanroom.WorkflowOperatorDriven, cleanroom.WorkflowPublisherDriven} {
		allowedAllOn[wf] = map[string]map[cleanroom.Capability]bool{
			"supply admin":    C(cleanroom.CapViewConnection, cleanroom.CapManageConnection),
			"supply member":   C(cleanroom.CapViewConnection, cleanroom.CapManageConnection),
			"supply viewer":   C(cleanroom.CapViewConnection),
			"partner admin":   C(demand...),
			"partner member":  C(demand...),
			"partner viewer":  C(cleanroom.CapViewConnection, cleanroom.CapViewInsights, cleanroom.CapViewAdvancedInsights),
			"partner limited": C(cleanroom.CapViewConnection),
			"outsider admin":  C(),
		}
	}
	// Invited advertisers exist only in the publisher-driven workflow: they upload data there.
	allowedAllOn[cleanroom.WorkflowPublisherDriven]["partner limited"] = C(cleanroom.CapViewConnection, cleanroom.CapManageDataSources)

	// gate says which toggle each capability needs; ungated capabilities are absent.
	gate := map[cleanroom.Capability]string{
		cleanroom.CapCreateMatchedCohort:  "matched",
		cleanroom.CapCreateModeledCohort:  "modeled",
		cleanroom.CapViewInsights:         "insights",
		cleanroom.CapViewAdvancedInsights: "advanced",
		cleanroom.CapUseStandardCohorts:   "standard",
		cleanroom.CapTargetCustomCohorts:  "custom",
	}
	toggles := []string{"none", "standard", "matched", "modeled", "insights", "advanced", "custom", "all"}
	perms := func(on string) cleanroom.Permissions {
		all := on == "all"
		return cleanroom.Permissions{
			StandardCohorts: all || on == "standard", MatchedCohorts: all || on == "matched", ModeledAudiences: all || on == "modeled",
			Insights: all || on == "insights", AdvancedInsights: all || on == "advanced", CustomCohorts: all || on == "custom",
		}
	}
	cells, allowed := 0, 0
	for wf, byCaller := range allowedAllOn {
		for _, cl := range callers {
			for _, tg := range toggles {
				conn := &cleanroom.Connection{ID: "c", PublisherID: pub, PartnerID: partner, Workflow: wf, Permissions: perms(tg)}
				for _, capability := range cleanroom.Capabilities {
					want := byCaller[cl.name][capability]
					if g, gated := gate[capability]; gated && want {
						want = tg == "all" || tg == g
					}
					err := conn.Check(cleanroom.NewCaller(cl.org, cl.role), capability)
					cells++
					name := fmt.Sprintf("%s / %s / toggle %s / %s", wf, cl.name, tg, capability)
					switch {
					case want && err != nil:
						t.Errorf("%s: refused (%v), want allowed", name, err)
					case !want && err == nil:
						t.Errorf("%s: allowed, want refused", name)
					case !want && cl.org == outsider && cleanroom.ErrorCode(err) != cleanroom.ENOTFOUND:
						t.Errorf("%s: %v, want not found (no existence leak)", name, err)
					case !want && cl.org != outsider && cleanroom.ErrorCode(err) != cleanroom.EFORBIDDEN:
						t.Errorf("%s: %v, want forbidden", name, err)
					}
					if want {
						allowed++
					}
				}
			}
		}
	}
	if cells != 2*len(callers)*len(toggles)*len(cleanroom.Capabilities) || allowed == 0 || allowed == cells {
		t.Fatalf("matrix covered %d cells, %d allowed", cells, allowed)
	}
}

// A refusal for a missing toggle names the toggle and how to get it.
func TestCapabilityMessages(t *testing.T) {
	conn := &cleanroom.Connection{PublisherID: "p", PartnerID: "a", Workflow: cleanroom.WorkflowOperatorDriven}
	err := conn.Check(cleanroom.NewCaller("a", cleanroom.RoleMember), cleanroom.CapCreateModeledCohort)
	if e, ok := err.(*cleanroom.Error); !ok || e.Details["hint"] == nil || !strings.Contains(e.Message, "modeled audiences") {
		t.Errorf("missing toggle: %v", err)
	}
	conn.Permissions = cleanroom.Permissions{CustomCohorts: true, SharedCustomCohorts: []string{"sports"}}
	a := cleanroom.NewCaller("a", cleanroom.RoleAdmin)
	if err := conn.CheckCustomCohort(a, "sports"); err != nil {
		t.Errorf("shared cohort refused: %v", err)
	}
	if err := conn.CheckCustomCohort(a, "travel"); cleanroom.ErrorCode(err) != cleanroom.EFORBIDDEN {
		t.Errorf("unshared cohort: %v", err)
	}
}
