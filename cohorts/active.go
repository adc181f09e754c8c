package cohorts

import (
	"context"
	"fmt"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/disclosure"
	"github.com/cleanroom-oss/cleanroom/edge"
	"github.com/cleanroom-oss/cleanroom/privacy"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// Active users: of a cohort's (or an estimate's) users at a publisher, how many asked the
// publisher's edge for targeting in the 30 days up to the day the edge last stored its active
// users (edge.ActiveSet). The set holds keyed user-ID hashes; they are matched against the
// audience version the members' ordinals are of, and the count is released through the gate
// beside the size (releaseActive).

// States of an active-user count besides those of Shown.
const (
	// StateNoTraffic: the publisher's edge has not seen any traffic yet.
	StateNoTraffic = "no_traffic"
	// StateNearlyAll: withheld because fewer than k of the users were not active (the count and
	// the size together would single them out).
	StateNearlyAll = "nearly_all"
)

// ActiveSource gives a publisher's active-user set as the edge stored it last and an ID naming
// it (delivery.Service.ActiveSet); nil and "" before any traffic.
type ActiveSource func(ctx context.Context, publisherID string) (*edge.ActiveSet, string, error)

// Active is a count of active users as the caller may see it, with the day it runs to.
type Active struct {
	Shown
	// Day is the last day of the 30-day window (YYYY-MM-DD, the publisher's time zone).
	Day string `json:"day,omitempty"`
}

func noTraffic() *Active {
	return &Active{Shown: Shown{State: StateNoTraffic, Reason: "No traffic yet: the publisher's edge has not been asked for these users' codes."}}
}

// activeQuestion is the question of the active users among the users counted by q (a size or
// seeds question): one per question and active set, shared by both parties as the size is.
func activeQuestion(q disclosure.Question, setID string) disclosure.Question {
	q.Kind += "/active"
	q.Versions = append(append([]string{}, q.Versions...), setID)
	q.Shared, q.Sensitivity = true, 1
	return q
}

// activeOrdinals returns the ordinals, in audience version v, of the set's users (cached per set
// and version: both are immutable).
func (s *Service) activeOrdinals(ctx context.Context, setID string, set *edge.ActiveSet, v *cleanroom.Version) (*roaring.Bitmap, error) {
	x, err := s.cache.get(setID+"@"+v.ID, func() (any, error) {
		pub, err := s.publisherVersion(ctx, v)
		if err != nil {
			return nil, err
		}
		return activeOn(set, pub), nil
	})
	if err != nil {
		return nil, err
	}
	return x.(*roaring.Bitmap), nil
}

// activeOn matches the set's hashes with the version's user index (both sorted: one merge).
func activeOn(set *edge.ActiveSet, pub *vault.PublisherVersion) *roaring.Bitmap {
	b := roaring.New()
	keys, i := pub.UserKeys, 0
	for _, h := range set.Hashes {
		for i < len(keys) && keys[i] < h {
			i++
		}
		if i == len(keys) {
			break
		}
		if keys[i] == h {
			b.Add(pub.UserOrds[i])
		}
	}
	return b
}

// releaseActive releases n, the active users among the users whose count was released as size
// under q, to the caller's party. Besides the threshold on n, the difference with the size (the
// users not active) must be shown at or above k too: otherwise the two released numbers together
// would say that fewer than k of the cohort's users (perhaps one) did not visit, so n is then
// withheld, saying why. A size withheld withholds n. See docs/PRIVACY.md.
func (s *Service) releaseActive(ctx context.Context, c *cleanroom.Caller, conn *cleanroom.Connection, q disclosure.Question,
	setID string, set *edge.ActiveSet, n int64, size privacy.Released) (*Active, error) {
	out := &Active{Day: edge.DayString(set.Day)}
	a, err := s.Disclosure.Release(ctx, c, conn, activeQuestion(q, setID), n)
	if cleanroom.ErrorCode(err) == cleanroom.EFORBIDDEN && cleanroom.ErrorDetails(err)["budget_returns_at"] != nil {
		out.Shown = withheld(StateOverBudget, cleanroom.ErrorMessage(err))
		return out, nil
	} else if err != nil {
		return nil, err
	}
	r, k := a.Counts[0], a.Params.K
	switch {
	case r.Suppressed:
		out.Shown = Shown{State: StateSuppressed, Reason: fmt.Sprintf("Fewer than %d of these users were active.", k)}
	case size.Suppressed:
		out.Shown = Shown{State: StateSuppressed, Reason: "Withheld with the size."}
	case size.Value-r.Value < k:
		out.Shown = Shown{State: StateNearlyAll, Reason: fmt.Sprintf(
			"Nearly all of these users were active: the count is shown once at least %d were not, so that it and the size do not single anyone out.", k)}
	default:
		out.Shown = shownOf(r, a.Params.Noisy())
	}
	return out, nil
}

// targetActive returns the active users of a built target, released beside its size (released
// as size under sizeQuestion). Nil when the service states no active users.
func (s *Service) targetActive(ctx context.Context, c *cleanroom.Caller, conn *cleanroom.Connection, co *cleanroom.Cohort,
	t *cleanroom.CohortTarget, size privacy.Released) (*Active, error) {
	if s.ActiveSets == nil || t.BlobKey == "" {
		return nil, nil
	}
	set, setID, err := s.ActiveSets(ctx, t.PublisherID)
	if err != nil {
		return nil, err
	}
	if set == nil || set.Users() == 0 {
		return noTraffic(), nil
	}
	members, pubVersion, err := s.membersOn(ctx, t)
	if err != nil {
		return nil, err
	}
	v, err := s.versionOf(ctx, t.PublisherID, pubVersion)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return &Active{Shown: withheld(StateUnavailable, "The audience version the cohort was built on is gone; counted after its next build.")}, nil
	}
	act, err := s.activeOrdinals(ctx, setID, set, v)
	if err != nil {
		return nil, err
	}
	return s.releaseActive(ctx, c, conn, sizeQuestion(co, co.Inputs), setID, set, int64(members.AndCardinality(act)), size)
}

// estimateActive returns the active users among an estimate's users (members, on audience
// version v), released beside their count (released as size under q).
func (s *Service) estimateActive(ctx context.Context, c *cleanroom.Caller, conn *cleanroom.Connection, q disclosure.Question,
	v *cleanroom.Version, members *roaring.Bitmap, size privacy.Released) (*Active, error) {
	if s.ActiveSets == nil {
		return nil, nil
	}
	set, setID, err := s.ActiveSets(ctx, conn.PublisherID)
	if err != nil {
		return nil, err
	}
	if set == nil || set.Users() == 0 {
		return noTraffic(), nil
	}
	act, err := s.activeOrdinals(ctx, setID, set, v)
	if err != nil {
		return nil, err
	}
	return s.releaseActive(ctx, c, conn, q, setID, set, int64(members.AndCardinality(act)), size)
}

// versionOf returns a publisher's audience version by ID (the current one when id is ""), nil
// when it is gone.
func (s *Service) versionOf(ctx context.Context, publisherID, id string) (*cleanroom.Version, error) {
	if id == "" {
		v, err := s.Store.CurrentVersion(ctx, publisherID)
		if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
			return nil, nil
		}
		return v, err
	}
	vs, err := s.Store.ListVersions(ctx, publisherID)
	if err != nil {
		return nil, err
	}
	for _, v := range vs {
		if v.ID == id {
			return v, nil
		}
	}
	return nil, nil
}
