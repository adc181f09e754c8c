package storetest

import (
	"testing"

	"github.com/cleanroom-oss/cleanroom"
)

// activationCases test the ActivationStore: settings, switches and deals, caps.
var activationCases = []testCase{
	{"ad-server settings", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 2, cleanroom.OrgPublisher)
		_, err := s.FindAdServerSettings(t.Context(), orgID(2))
		wantCode(t, err, cleanroom.ENOTFOUND)
		st := &cleanroom.AdServerSettings{PublisherID: orgID(2), GAMNetworkCode: "1234", GAMKey: "crc", XandrMemberID: "958",
			XandrKey: "crx", Origins: []string{"https://www.example.com"}, UIDCookie: "uid", TimeZone: "Europe/Paris", UpdatedAt: at(0), UpdatedBy: userID(1)}
		ok(t, s.PutAdServerSettings(t.Context(), st))
		got, err := s.FindAdServerSettings(t.Context(), orgID(2))
		ok(t, err)
		same(t, "settings", st, got)
		st.GAMKey, st.Origins, st.UpdatedAt = "aud", []string{}, at(1)
		ok(t, s.PutAdServerSettings(t.Context(), st))
		got, err = s.FindAdServerSettings(t.Context(), orgID(2))
		ok(t, err)
		same(t, "replaced settings", st, got)
	}},
	{"activations by cohort and publisher, removed with the cohort", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		createCohort(t, s, newCohort(1, 1, [2]int{1, 2}, [2]int{2, 3}))
		createCohort(t, s, newCohort(2, 1, [2]int{1, 2}))
		d := &cleanroom.Deal{ProposalID: "77", ProposalName: "P", LineItems: []cleanroom.LineItem{{ID: "5551234567", Floor: "2.50", Currency: "USD"}}}
		a1 := &cleanroom.CohortActivation{CohortID: cohortID(1), ConnectionID: connID(1), PublisherID: orgID(2),
			ActivationSwitches: cleanroom.ActivationSwitches{Direct: true}, Deal: d, UpdatedAt: at(0)}
		a2 := &cleanroom.CohortActivation{CohortID: cohortID(1), ConnectionID: connID(2), PublisherID: orgID(3), UpdatedAt: at(0)}
		a3 := &cleanroom.CohortActivation{CohortID: cohortID(2), ConnectionID: connID(1), PublisherID: orgID(2),
			ActivationSwitches: cleanroom.ActivationSwitches{Programmatic: true}, UpdatedAt: at(0)}
		for _, a := range []*cleanroom.CohortActivation{a1, a2, a3} {
			ok(t, s.PutCohortActivation(t.Context(), a))
		}
		got, err := s.ListCohortActivations(t.Context(), cohortID(1), "")
		ok(t, err)
		same(t, "by cohort", []*cleanroom.CohortActivation{a1, a2}, got)
		got, err = s.ListCohortActivations(t.Context(), "", orgID(2))
		ok(t, err)
		same(t, "by publisher", []*cleanroom.CohortActivation{a1, a3}, got)
		a1.Direct, a1.Deal, a1.UpdatedAt = false, nil, at(1)
		ok(t, s.PutCohortActivation(t.Context(), a1))
		got, err = s.ListCohortActivations(t.Context(), cohortID(1), "")
		ok(t, err)
		same(t, "replaced", []*cleanroom.CohortActivation{a1, a2}, got)
		ok(t, s.DeleteCohort(t.Context(), cohortID(1)))
		got, err = s.ListCohortActivations(t.Context(), "", orgID(2))
		ok(t, err)
		same(t, "after the cohort's deletion", []*cleanroom.CohortActivation{a3}, got)
	}},
	{"frequency caps", func(t *testing.T, s cleanroom.Store) {
		createOrg(t, s, 1, cleanroom.OrgAdvertiser)
		createCohort(t, s, newCohort(1, 1, [2]int{1, 2}))
		_, err := s.FindFrequencyCap(t.Context(), cohortID(1))
		wantCode(t, err, cleanroom.ENOTFOUND)
		f := &cleanroom.FrequencyCap{CohortID: cohortID(1), MaxImpressions: 3, Period: cleanroom.CapWeek, UpdatedAt: at(0)}
		ok(t, s.PutFrequencyCap(t.Context(), f))
		got, err := s.FindFrequencyCap(t.Context(), cohortID(1))
		ok(t, err)
		same(t, "cap", f, got)
		f.MaxImpressions, f.Period = 1, cleanroom.CapMonth
		ok(t, s.PutFrequencyCap(t.Context(), f))
		got, err = s.FindFrequencyCap(t.Context(), cohortID(1))
		ok(t, err)
		same(t, "replaced cap", f, got)
		ok(t, s.DeleteFrequencyCap(t.Context(), cohortID(1)))
		ok(t, s.DeleteFrequencyCap(t.Context(), cohortID(1)))
		_, err = s.FindFrequencyCap(t.Context(), cohortID(1))
		wantCode(t, err, cleanroom.ENOTFOUND)
		if err := s.PutFrequencyCap(t.Context(), &cleanroom.FrequencyCap{CohortID: cohortID(9), MaxImpressions: 1, Period: cleanroom.CapDay}); err == nil {
			t.Errorf("a cap on a missing cohort was stored")
		}
	}},
}
