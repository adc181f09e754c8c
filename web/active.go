package web

import (
	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/cohorts"
)

// activeCell is a count of active users (in the last 30 days) as a page shows it: the number or
// what stands in for it, and a note saying why it is withheld or which days it covers.
type activeCell struct {
	Text, Note string
}

// activeText writes a released count of active users for people.
func activeText(a *cohorts.Active, k int64) activeCell {
	switch {
	case a == nil:
		return activeCell{Text: "—"}
	case a.State == cohorts.StateNoTraffic:
		return activeCell{Text: "no traffic yet", Note: a.Reason}
	case a.State == cohorts.StateNearlyAll:
		return activeCell{Text: "nearly all", Note: a.Reason}
	}
	c := activeCell{Text: shownText(a.Shown, k), Note: a.Reason}
	if c.Note == "" && a.Day != "" {
		c.Note = "30 days to " + a.Day
	}
	return c
}

// ActiveUsers shows a target's users active in the last 30 days, as released.
func (r *cohortRow) ActiveUsers(t cleanroom.CohortTarget) activeCell {
	tc, ok := r.counts[t.ConnectionID]
	if !ok {
		return activeCell{Text: "—"}
	}
	return activeText(tc.Active, tc.K)
}
