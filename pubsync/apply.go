package pubsync

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/identity"
	"github.com/cleanroom-oss/cleanroom/rows"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// Batch is a set of streaming updates to a publisher version, as the identify and membership
// APIs collect them. Apply takes the identify events first, in order, then the membership
// updates, in order.
type Batch struct {
	Identify    []IdentifyEvent    `json:"identify,omitempty"`
	Memberships []MembershipUpdate `json:"memberships,omitempty"`
}

// IdentifyEvent attaches identifiers (and optionally a country) to a user. A user ID the version
// does not know, including one that was erased, becomes a new user with the next ordinal.
type IdentifyEvent struct {
	UserID string `json:"user_id"`
	// Country, if not empty, replaces the user's country (an ISO 3166-1 alpha-2 code).
	Country string `json:"country,omitempty"`
	// Identifiers are added to the user's; identifiers the user already has are ignored.
	Identifiers []Identifier `json:"identifiers,omitempty"`
}

// Identifier is one identifier as sent by the publisher: a tag (or one of its aliases) and a
// value, normalised and fingerprinted by Apply.
type Identifier struct {
	Tag   string `json:"tag"`
	Value string `json:"value"`
}

// MembershipOp is what a MembershipUpdate does.
type MembershipOp string

// The membership operations.
const (
	OpAdd    MembershipOp = "add"
	OpRemove MembershipOp = "remove"
)

// MembershipUpdate adds a user to a cohort or removes it. Adding a user ID the version does not
// know creates the user; removing one is an unknown_user error. When a batch updates the same
// membership twice, the later update wins.
type MembershipUpdate struct {
	UserID   string       `json:"user_id"`
	CohortID string       `json:"cohort_id"`
	Op       MembershipOp `json:"op"`
}

// checkKeys refuses a version made with other keys.
func checkKeys(base *vault.PublisherVersion, cfg *config) error {
	if base.FingerprintKeyCheck != 0 && base.FingerprintKeyCheck != fingerprintKeyCheck(cfg.fp) {
		return cleanroom.Errorf(cleanroom.EINVALID, "The version was built with another fingerprint key.")
	}
	if base.UserKeyCheck != 0 && base.UserKeyCheck != cfg.users.Check() {
		return cleanroom.Errorf(cleanroom.EINVALID, "The version was built with another user key.")
	}
	return nil
}

// Apply returns a new version: base with the batch's identify events and membership updates
// applied, and a report of what was done. base is not modified.
//
// Apply copies on write. The user index, the identity index and the country array are rebuilt
// (a merge of base with the batch's sorted additions: time and memory linear in the size of
// base, about 2.5 GB and one to two seconds for 50 million users with 100 million identifiers);
// cohort bitmaps the batch does not touch, and the tombstones, are shared with base. Apply is
// therefore meant for batches of many events (minutes of API traffic), not one call per event.
//
// Invalid events are skipped and reported as row errors whose Line is the event's position (see
// RowError); Apply fails only for bad options, a base built with other keys, or a version that
// would exceed MaxUsers. Options.MaxErrorRate does not apply.
func Apply(base *vault.PublisherVersion, batch Batch, opt Options) (*vault.PublisherVersion, *Report, error) {
	start := time.Now()
	if base == nil {
		return nil, nil, errNoVersion
	}
	cfg, err := opt.prepare()
	if err != nil {
		return nil, nil, err
	}
	if err := checkKeys(base, cfg); err != nil {
		return nil, nil, err
	}
	rep := &Report{Identifiers: map[identity.Tag]int64{}}
	var errs errorList
	a := &applier{base: base, cfg: cfg, newUser: map[uint64]uint32{}, country: map[uint32]uint16{}}
	// Identifier types: those of base count toward the limit.
	tagOK := map[identity.Tag]bool{}
	for _, t := range base.Tags {
		tagOK[t] = true
	}
	ntags := len(base.Tags)
	newRecs := map[identity.Tag][]rec{}
	line := int64(0)
	for _, ev := range batch.Identify {
		line++
		rep.Rows++
		bad := false
		fail := func(reason, msg, hint string) {
			bad = true
			errs.add(RowError{Line: line, Reason: reason, Message: msg, Hint: hint})
		}
		o, ok, e := a.user(line, ev.UserID, true)
		if !ok {
			errs.add(e)
			rep.RowsWithErrors++
			rep.RejectedRows++
			continue
		}
		if ev.Country != "" {
			if c, ok := parseCountry([]byte(ev.Country)); ok {
				a.country[o] = c
			} else {
				e := badCountryError(line, []byte(ev.Country))
				fail(e.Reason, strings.Replace(e.Message, "the user is kept with an unknown country", "the country is not changed", 1), e.Hint)
			}
		}
		for _, id := range ev.Identifiers {
			tag, err := identity.ParseTag(cfg.reg, id.Tag)
			if err != nil {
				ve, _ := err.(*identity.ValueError)
				if ve == nil {
					ve = &identity.ValueError{Reason: identity.ReasonUnknownTag, Message: "unknown identifier type"}
				}
				fail(string(ve.Reason), ve.Message+"; the identifier is dropped", ve.Hint)
				continue
			}
			norm, err := cfg.reg.Normalize(tag, id.Value)
			if err != nil {
				if ve, ok := err.(*identity.ValueError); ok {
					fail(string(ve.Reason), ve.Error()+"; the identifier is dropped", ve.Hint)
				} else {
					fail(ReasonBadIdentifier, string(tag)+": the identifier is not valid; it is dropped", "")
				}
				continue
			}
			if !tagOK[tag] {
				if ntags >= cfg.MaxTypes {
					errs.add(RowError{Line: line, Reason: ReasonTooManyTypes,
						Message: fmt.Sprintf("%s identifiers are dropped: the publisher already uses %d identifier types, the limit", tag, cfg.MaxTypes),
						Hint:    fmt.Sprintf("Leave this identifier type out, or ask the operator to raise the limit of %d identifier types per publisher.", cfg.MaxTypes)})
					continue
				}
				tagOK[tag] = true
				ntags++
			}
			newRecs[tag] = append(newRecs[tag], rec{fp: cfg.fp.Fingerprint(tag, norm), ord: o})
		}
		if bad {
			rep.RowsWithErrors++
		}
	}
	// Memberships: the last update of each (cohort, user) wins.
	type key struct {
		c int
		o uint32
	}
	final := map[key]bool{}
	cohortIdx := make(map[string]int, len(base.Cohorts))
	for i, c := range base.Cohorts {
		cohortIdx[c.ID] = i
	}
	for _, m := range batch.Memberships {
		line++
		rep.Rows++
		fail := func(reason, msg, hint string) {
			errs.add(RowError{Line: line, Reason: reason, Message: msg, Hint: hint})
			rep.RowsWithErrors++
			rep.RejectedRows++
		}
		if m.Op != OpAdd && m.Op != OpRemove {
			fail(ReasonBadOp, "the membership operation must be add or remove", "Send op add or remove.")
			continue
		}
		c, ok := cohortIdx[m.CohortID]
		if !ok {
			fail(ReasonUnknownCohort, "the cohort ID is not in the taxonomy", "Add the cohort to the taxonomy first, or correct the cohort ID.")
			continue
		}
		o, ok, e := a.user(line, m.UserID, m.Op == OpAdd)
		if !ok {
			errs.add(e)
			rep.RowsWithErrors++
			rep.RejectedRows++
			continue
		}
		final[key{c, o}] = m.Op == OpAdd
	}
	if uint64(base.Users)+uint64(len(a.newUser)) > MaxUsers {
		return nil, nil, cleanroom.Errorf(cleanroom.EINVALID, "The version would have more than %d users.", uint64(MaxUsers))
	}

	v := &vault.PublisherVersion{
		Users:               base.Users + uint32(len(a.newUser)),
		Cohorts:             slices.Clone(base.Cohorts),
		Deleted:             base.Deleted,
		FingerprintKeyCheck: fingerprintKeyCheck(cfg.fp),
		UserKeyCheck:        cfg.users.Check(),
		// Events do not change engagement attributes (bulk sync only); new users have none.
		Attributes:       base.Attributes,
		AttributeMembers: base.AttributeMembers,
	}
	if v.Deleted == nil {
		v.Deleted = roaring.New()
	}
	// User index: base's with the new users' inserted.
	added := make([]uint64, 0, len(a.newUser))
	for h := range a.newUser {
		added = append(added, h)
	}
	slices.Sort(added)
	n := len(base.UserKeys) + len(added)
	v.UserKeys, v.UserOrds = vault.MakeLarge[uint64](n), vault.MakeLarge[uint32](n)
	var runs []run
	i := 0
	for k, h := range added {
		j, _ := slices.BinarySearch(base.UserKeys, h) // h is not in base
		runs = append(runs, run{i, j, i + k})
		v.UserKeys[j+k], v.UserOrds[j+k] = h, a.newUser[h]
		i = j
	}
	runs = append(runs, run{i, len(base.UserKeys), i + len(added)})
	copyRuns(v.UserKeys, base.UserKeys, runs)
	copyRuns(v.UserOrds, base.UserOrds, runs)
	// Countries.
	v.Country = vault.MakeLarge[uint16](int(v.Users))
	copyRuns(v.Country, base.Country, []run{{0, len(base.Country), 0}})
	for o, c := range a.country {
		v.Country[o] = c
	}
	// Identity index: per tag, base's rows with the new ones inserted.
	tags := slices.Clone(base.Tags)
	for t := range newRecs {
		if !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	slices.Sort(tags)
	v.Tags = tags
	v.TagStart = make([]uint64, len(tags)+1)
	type insert struct {
		at int
		r  rec
	}
	var inserts []insert
	runs = runs[:0]
	out := 0
	for ti, t := range tags {
		s, e, _ := base.TagRange(t)
		add := newRecs[t]
		slices.SortFunc(add, recCompare)
		k := s
		for m, r := range add {
			if m > 0 && r == add[m-1] {
				continue // repeated in the batch
			}
			j := k + searchInts(e-k, func(x int) bool {
				c := base.FPs[k+x].Compare(r.fp)
				return c > 0 || c == 0 && base.Ords[k+x] >= r.ord
			})
			if j < e && base.FPs[j] == r.fp && base.Ords[j] == r.ord {
				continue // already in base
			}
			runs = append(runs, run{k, j, out})
			out += j - k
			inserts = append(inserts, insert{out, r})
			out++
			k = j
			rep.Identifiers[t]++
		}
		runs = append(runs, run{k, e, out})
		out += e - k
		v.TagStart[ti+1] = uint64(out)
	}
	v.FPs, v.Ords = vault.MakeLarge[identity.Fingerprint](out), vault.MakeLarge[uint32](out)
	copyRuns(v.FPs, base.FPs, runs)
	copyRuns(v.Ords, base.Ords, runs)
	for _, in := range inserts {
		v.FPs[in.at], v.Ords[in.at] = in.r.fp, in.r.ord
	}
	// Cohorts: copy the bitmaps that change.
	v.Members = slices.Clone(base.Members)
	changed := map[int]bool{}
	for k, add := range final {
		if !changed[k.c] {
			changed[k.c] = true
			v.Members[k.c] = v.Members[k.c].Clone()
		}
		if add {
			v.Members[k.c].Add(k.o)
		} else {
			v.Members[k.c].Remove(k.o)
		}
	}
	a.finishReport(rep, v, &errs, start)
	return v, rep, nil
}

// applier resolves user IDs for Apply.
type applier struct {
	base    *vault.PublisherVersion
	cfg     *config
	newUser map[uint64]uint32 // new users by user-ID hash
	country map[uint32]uint16 // country updates
}

// user returns the ordinal of a user ID, creating a new user if create is set and the ID is
// unknown.
func (a *applier) user(line int64, id string, create bool) (uint32, bool, RowError) {
	uid := rows.TrimSpace([]byte(id))
	switch control, bad := textProblems(uid); {
	case len(uid) == 0:
		return 0, false, RowError{Line: line, Reason: ReasonMissingUserID, Message: "the event has no user ID", Hint: "Send the publisher's ID of the user."}
	case len(uid) > MaxUserIDBytes:
		return 0, false, RowError{Line: line, Reason: ReasonBadUserID, Message: fmt.Sprintf("the user ID is %d bytes long; the limit is %d", len(uid), MaxUserIDBytes), Hint: ""}
	case bad:
		return 0, false, RowError{Line: line, Reason: ReasonBadUTF8, Message: "the user ID is not valid UTF-8 text", Hint: ""}
	case control:
		return 0, false, RowError{Line: line, Reason: ReasonBadUserID, Message: "the user ID contains a control character", Hint: ""}
	}
	h := a.cfg.users.hashBytes(uid)
	if o, ok := a.base.FindUser(h); ok {
		return o, true, RowError{}
	}
	if o, ok := a.newUser[h]; ok {
		return o, true, RowError{}
	}
	if !create {
		return 0, false, RowError{Line: line, Reason: ReasonUnknownUser, Message: "the user ID is not in the version, so there is nothing to remove", Hint: "Check the user ID."}
	}
	o := a.base.Users + uint32(len(a.newUser))
	a.newUser[h] = o
	return o, true, RowError{}
}

// finishReport fills in the parts of an Apply or Erase report computed from the new version.
func (a *applier) finishReport(rep *Report, v *vault.PublisherVersion, errs *errorList, start time.Time) {
	rep.Users = int64(len(a.newUser))
	rep.Errors = errs.first
	if rep.Errors == nil {
		rep.Errors = []RowError{}
	}
	rep.Rejected = errs.rejected
	if rep.Rejected == nil {
		rep.Rejected = map[string]int64{}
	}
	fillVersionReport(rep, v)
	rep.Duration = time.Since(start)
}

// fillVersionReport sets the report's tags, cohort sizes and countries from v.
func fillVersionReport(rep *Report, v *vault.PublisherVersion) {
	rep.Tags = slices.Clone(v.Tags)
	rep.Cohorts = make(map[string]int64, len(v.Cohorts))
	for i, c := range v.Cohorts {
		rep.Cohorts[c.ID] = int64(v.Members[i].GetCardinality())
	}
	var counts [1 << 16]int64
	for _, c := range v.Country {
		counts[c]++
	}
	rep.Countries = map[string]int64{}
	for c, n := range counts {
		if n == 0 {
			continue
		}
		rep.Countries[vault.CountryCode(uint16(c))] += n
	}
	if v.Deleted != nil {
		// Erased ordinals have no country: they are not users of unknown country.
		if rep.Countries[""] -= int64(v.Deleted.GetCardinality()); rep.Countries[""] == 0 {
			delete(rep.Countries, "")
		}
	}
}

// Erase returns a new version without the given users: their ordinals are removed from every
// cohort bitmap, their rows from the identity index (so their fingerprints are no longer in the
// file once it is written, unless another user shares the identifier) and their user-ID hashes
// from the user index, their country is cleared, and their ordinals are added to Deleted as
// tombstones. Ordinals are never reused, so bitmaps derived from earlier versions (matched
// cohorts, edge snapshots) can subtract Deleted. User IDs the version does not have (unknown or
// already erased) are ignored. erased is the number of users erased; when it is 0, Erase
// returns base itself.
//
// Only opt.UserKey is used. Erase copies the arrays it filters (time and memory linear in the
// size of base) and shares the cohort bitmaps that hold none of the users.
func Erase(base *vault.PublisherVersion, userIDs []string, opt Options) (v *vault.PublisherVersion, erased int, err error) {
	if base == nil {
		return nil, 0, errNoVersion
	}
	uh, err := NewUserHasher(opt.UserKey)
	if err != nil {
		return nil, 0, err
	}
	if base.UserKeyCheck != 0 && base.UserKeyCheck != uh.Check() {
		return nil, 0, cleanroom.Errorf(cleanroom.EINVALID, "The version was built with another user key.")
	}
	gone := roaring.New()
	for _, id := range userIDs {
		if o, ok := base.FindUser(uh.hashBytes(rows.TrimSpace([]byte(id)))); ok {
			gone.Add(o)
		}
	}
	if gone.IsEmpty() {
		return base, 0, nil
	}
	erased = int(gone.GetCardinality())
	isGone := make([]uint64, (uint64(base.Users)+63)/64)
	for o := range roaring.Values(gone) {
		isGone[o>>6] |= 1 << (o & 63)
	}
	has := func(o uint32) bool { return isGone[o>>6]&(1<<(o&63)) != 0 }
	v = &vault.PublisherVersion{
		Users:               base.Users,
		Tags:                slices.Clone(base.Tags),
		Cohorts:             slices.Clone(base.Cohorts),
		FingerprintKeyCheck: base.FingerprintKeyCheck,
		UserKeyCheck:        base.UserKeyCheck,
	}
	runs, n := keepRuns(len(base.UserOrds), func(i int) bool { return has(base.UserOrds[i]) })
	v.UserKeys, v.UserOrds = vault.MakeLarge[uint64](n), vault.MakeLarge[uint32](n)
	copyRuns(v.UserKeys, base.UserKeys, runs)
	copyRuns(v.UserOrds, base.UserOrds, runs)
	v.Country = vault.MakeLarge[uint16](len(base.Country))
	copyRuns(v.Country, base.Country, []run{{0, len(base.Country), 0}})
	for o := range roaring.Values(gone) {
		v.Country[o] = 0
	}
	runs, n = keepRuns(len(base.Ords), func(i int) bool { return has(base.Ords[i]) })
	v.FPs, v.Ords = vault.MakeLarge[identity.Fingerprint](n), vault.MakeLarge[uint32](n)
	copyRuns(v.FPs, base.FPs, runs)
	copyRuns(v.Ords, base.Ords, runs)
	// Each tag loses the rows dropped from its range.
	v.TagStart = make([]uint64, len(base.Tags)+1)
	for t := range base.Tags {
		end := int(base.TagStart[t+1])
		// The kept rows before end: find the run holding end-1 or the last run before it.
		r := searchInts(len(runs), func(i int) bool { return runs[i].from >= end }) - 1
		if r >= 0 {
			v.TagStart[t+1] = uint64(runs[r].at + min(runs[r].to, end) - runs[r].from)
		}
	}
	v.Members = make([]*roaring.Bitmap, len(base.Members))
	for i, m := range base.Members {
		if m.Intersects(gone) {
			m = roaring.AndNot(m, gone)
		}
		v.Members[i] = m
	}
	v.Attributes = base.Attributes
	for _, ms := range base.AttributeMembers {
		out := make([]*roaring.Bitmap, len(ms))
		for i, m := range ms {
			if m.Intersects(gone) {
				m = roaring.AndNot(m, gone)
			}
			out[i] = m
		}
		v.AttributeMembers = append(v.AttributeMembers, out)
	}
	if base.Deleted != nil {
		v.Deleted = roaring.Or(base.Deleted, gone)
	} else {
		v.Deleted = gone
	}
	return v, erased, nil
}

// errNoVersion is returned by helpers given a nil version.
var errNoVersion = errors.New("pubsync: no base version")
