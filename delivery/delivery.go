// Package delivery is the delivery report service: what the cohorts served at a publisher
// delivered, per day (in the publisher's time zone), cohort and line item or deal, from the
// edge's delivery days (activation.DeliveryDay, written by the edge to the blob store).
//
// Both parties of a connection read it: the advertiser for its cohorts, the publisher for what
// each deal delivered through the connection. The numbers tie the publisher's users to the
// advertiser's cohorts, so every one of them is released through disclosure, in one release per
// report: per row the unique reach and the six frequency buckets (each user is in one bucket),
// per day and cohort the users a cap held back. Impressions are derived from the released buckets
// (a lower bound: each bucket counted at its smallest frequency), so they cost nothing more.
// Only finished days are reported (before yesterday in the publisher's time zone: the edge still
// accepts late impressions for yesterday), so a report's question stays the same once asked.
package delivery

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/activation"
	"github.com/cleanroom-oss/cleanroom/connections"
	"github.com/cleanroom-oss/cleanroom/disclosure"
	"github.com/cleanroom-oss/cleanroom/edge"
	"github.com/cleanroom-oss/cleanroom/privacy"
	"github.com/cleanroom-oss/cleanroom/versions"
)

// MaxDays is the longest period a report covers.
const MaxDays = 92

// Service builds delivery reports.
type Service struct {
	// active caches the active-user set read last per publisher (ActiveSet).
	active activeCache

	Store cleanroom.Store
	Conns *connections.Service
	Blobs cleanroom.BlobStore
	// Versions opens the edge replicas' sealed files (delivery records, active users).
	Versions *versions.Store
	Gate     *disclosure.Service
	Now      func() time.Time
}

// Row is one day's delivery of a cohort through a line item or deal, as released. A nil count is
// withheld (below the threshold, or to keep a withheld one from being recovered).
type Row struct {
	Day        string `json:"day"`
	CohortID   string `json:"cohort_id"`
	CohortName string `json:"cohort_name,omitempty"`
	Code       int64  `json:"code"`
	LineItem   string `json:"line_item,omitempty"`
	Deal       string `json:"deal,omitempty"`
	// Users is the unique reach.
	Users *int64 `json:"users"`
	// Frequency counts users by impressions that day: edge.FrequencyBuckets.
	Frequency [6]*int64 `json:"frequency"`
	// Impressions is at least this many: each bucket at its smallest frequency (nil when a bucket
	// is withheld).
	Impressions *int64 `json:"impressions_at_least"`
}

// Held is the number of users a cohort's cap held back on a day, as released.
type Held struct {
	Day        string `json:"day"`
	CohortID   string `json:"cohort_id"`
	CohortName string `json:"cohort_name,omitempty"`
	Code       int64  `json:"code"`
	Users      *int64 `json:"users"`
}

// Active is how many of the users a cohort is served to asked the edge for targeting in the 30
// days up to the report's ActiveDay, as released.
type Active struct {
	CohortID   string `json:"cohort_id"`
	CohortName string `json:"cohort_name,omitempty"`
	Code       int64  `json:"code"`
	Users      *int64 `json:"users"`
}

// Report is a connection's delivery over a period.
type Report struct {
	ConnectionID string `json:"connection_id"`
	PublisherID  string `json:"publisher_id"`
	From         string `json:"from"`
	To           string `json:"to"`
	// Through is the last finished day (later days are not reported yet).
	Through string `json:"through"`
	Rows    []Row  `json:"rows"`
	Held    []Held `json:"held"`
	// Active is, per cohort served through the connection, its users active in the 30 days up to
	// ActiveDay (empty until the edge has seen traffic).
	ActiveDay string   `json:"active_day,omitempty"`
	Active    []Active `json:"active"`
	// Buckets names the frequency buckets.
	Buckets   [6]string `json:"frequency_buckets"`
	Threshold int64     `json:"threshold"`
	Epsilon   string    `json:"epsilon"`
	Noisy     bool      `json:"noisy"`
}

// bucketFloor is the smallest frequency of each bucket.
var bucketFloor = [6]int64{1, 2, 3, 4, 6, 11}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// ParsePeriod checks a report's period (YYYY-MM-DD, inclusive; empty from: 30 days before to,
// empty to: today).
func ParsePeriod(from, to string, now time.Time) (string, string, error) {
	if to == "" {
		to = now.UTC().Format(time.DateOnly)
	}
	t, err := time.Parse(time.DateOnly, to)
	if err != nil {
		return "", "", cleanroom.Errorf(cleanroom.EINVALID, "The end of the period is not a date.").With("field", "to").Hint("Use YYYY-MM-DD.")
	}
	if from == "" {
		from = t.AddDate(0, 0, -29).Format(time.DateOnly)
	}
	f, err := time.Parse(time.DateOnly, from)
	if err != nil {
		return "", "", cleanroom.Errorf(cleanroom.EINVALID, "The start of the period is not a date.").With("field", "from").Hint("Use YYYY-MM-DD.")
	}
	if f.After(t) || t.Sub(f) >= MaxDays*24*time.Hour {
		return "", "", cleanroom.Errorf(cleanroom.EINVALID, "The period must start before it ends and cover at most %d days.", MaxDays).
			With("field", "from").Hint("Ask for a shorter period.")
	}
	return from, to, nil
}

// Connection returns the delivery through a connection from day from to day to: to the
// publisher, of every cohort served through it; to the advertiser, of its own cohorts. Anyone
// else gets ENOTFOUND.
func (s *Service) Connection(ctx context.Context, c *cleanroom.Caller, connectionID, from, to string) (*Report, error) {
	return s.report(ctx, c, connectionID, "", from, to)
}

// Cohort returns one cohort's delivery through a connection (as Connection, one cohort).
func (s *Service) Cohort(ctx context.Context, c *cleanroom.Caller, cohortID, connectionID, from, to string) (*Report, error) {
	if cohortID == "" {
		return nil, cleanroom.Errorf(cleanroom.ENOTFOUND, "Cohort not found.")
	}
	return s.report(ctx, c, connectionID, cohortID, from, to)
}

type cohortRef struct {
	id, name string
}

func (s *Service) report(ctx context.Context, c *cleanroom.Caller, connectionID, cohortID, from, to string) (*Report, error) {
	if c.Role == cleanroom.RoleLimited {
		// An invited advertiser uploads and grants its own data; the workspace's delivery is not its.
		return nil, cleanroom.Errorf(cleanroom.EFORBIDDEN, "Delivery reports are for the workspace's members.").
			Hint("Ask the workspace's admin for a member or viewer role.")
	}
	conn, err := s.Conns.Connection(ctx, c, connectionID, cleanroom.CapViewConnection)
	if err != nil {
		return nil, err
	}
	if _, err := disclosure.Party(c, conn); err != nil {
		return nil, err
	}
	now := s.now()
	if from, to, err = ParsePeriod(from, to, now); err != nil {
		return nil, err
	}
	// The cohorts the caller may see on this connection, by code.
	byCode := map[int64]cohortRef{}
	p := cleanroom.Page{Limit: cleanroom.MaxPageLimit}
	for {
		cs, next, err := s.Store.ListCohorts(ctx, cleanroom.CohortFilter{PublisherID: conn.PublisherID, Page: p})
		if err != nil {
			return nil, err
		}
		for _, co := range cs {
			t := co.Target(conn.ID)
			if t == nil || cohortID != "" && co.ID != cohortID {
				continue
			}
			// The cohort's owner, and the publisher it is served at (which sees the names of the
			// cohorts built for it on its activation page too).
			if c.OrgID() == co.OrgID || c.OrgID() == conn.PublisherID {
				byCode[t.Code] = cohortRef{co.ID, co.Name}
			}
		}
		if next == "" {
			break
		}
		p.After = next
	}
	if cohortID != "" && len(byCode) == 0 {
		return nil, cleanroom.Errorf(cleanroom.ENOTFOUND, "Cohort not found.").Hint("Check the cohort is built for this connection.")
	}
	m, err := activation.ReadManifest(ctx, s.Blobs, conn.PublisherID)
	if err != nil {
		return nil, err
	}
	loc := time.UTC
	if m.TimeZone != "" {
		if l, err := time.LoadLocation(m.TimeZone); err == nil {
			loc = l
		}
	}
	through := edge.DayString(edge.DayOf(now, loc) - edge.DeliveryLateDays - 1)
	rep := &Report{ConnectionID: conn.ID, PublisherID: conn.PublisherID, From: from, To: to, Through: through,
		Rows: []Row{}, Held: []Held{}, Active: []Active{}, Buckets: edge.FrequencyBuckets}
	rf, err := activation.ReadReplicaFiles(ctx, s.Blobs, conn.PublisherID, from, min(to, through))
	if err != nil {
		return nil, err
	}
	days, err := s.deliveryDays(ctx, m, rf, from, min(to, through))
	if err != nil {
		return nil, err
	}
	var rows []activation.DeliveryRow
	var held []activation.DeliveryHeld
	for _, d := range days {
		for _, r := range d.Rows {
			if _, ok := byCode[int64(r.Code)]; ok {
				rows = append(rows, r)
			}
		}
		for _, h := range d.Held {
			if _, ok := byCode[int64(h.Code)]; ok {
				held = append(held, h)
			}
		}
	}
	// The release: per row its reach and six buckets (one person changes the reach and one
	// bucket of each row it is in), per held row one count. The question holds everything the
	// counts depend on: the connection, the period, the cohort and a digest of the rows read.
	exact := make([]int64, 0, 7*len(rows)+len(held))
	for _, r := range rows {
		exact = append(exact, r.Users)
		exact = append(exact, r.Frequency[:]...)
	}
	for _, h := range held {
		exact = append(exact, h.Users)
	}
	// The active users of each of the caller's cohorts served at the publisher (a person is in
	// each cohort's count at most once). Every cohort is listed, with its count (0 when none of
	// its users was active): which ones are listed must not depend on the data, or it would say
	// exactly, outside the gate, that a cohort had an active user.
	active, err := s.activeUsers(ctx, conn.PublisherID, rf)
	if err != nil {
		return nil, err
	}
	var activeCodes []int64
	if active != nil {
		for code := range byCode {
			activeCodes = append(activeCodes, code)
		}
		slices.Sort(activeCodes)
		for _, code := range activeCodes {
			exact = append(exact, active.Codes[uint32(code)])
		}
		if len(activeCodes) > 0 {
			rep.ActiveDay = active.Day
		}
	}
	params, err := s.Gate.Params(ctx, conn)
	if err != nil {
		return nil, err
	}
	rep.Threshold, rep.Epsilon, rep.Noisy = params.K, params.Epsilon.String(), params.Noisy()
	if len(exact) == 0 {
		return rep, nil
	}
	q := disclosure.Question{
		Kind:        "delivery",
		Query:       []byte(strings.Join([]string{"delivery/v1", conn.ID, cohortID, from, min(to, through), rep.ActiveDay}, "\n")),
		Versions:    []string{digest(rows, held, activeCodes, active)},
		Sensitivity: 2*len(rows) + len(held) + len(activeCodes),
	}
	a, err := s.Gate.Release(ctx, c, conn, q, exact...)
	if err != nil {
		return nil, err
	}
	i := 0
	for _, r := range rows {
		ref := byCode[int64(r.Code)]
		out := Row{Day: r.Day, CohortID: ref.id, CohortName: ref.name, Code: int64(r.Code), LineItem: r.LineItem, Deal: r.Deal}
		out.Users = shown(a.Counts[i])
		buckets := a.Counts[i+1 : i+7]
		complement(buckets)
		if out.Users == nil { // the buckets would add up to the withheld reach
			for j := range buckets {
				buckets[j].Suppressed = true
			}
		}
		var imp int64
		whole := true
		for j := range 6 {
			out.Frequency[j] = shown(buckets[j])
			if buckets[j].Suppressed {
				whole = false
			} else {
				imp += bucketFloor[j] * buckets[j].Value
			}
		}
		if whole {
			out.Impressions = &imp
		}
		rep.Rows = append(rep.Rows, out)
		i += 7
	}
	for _, h := range held {
		ref := byCode[int64(h.Code)]
		rep.Held = append(rep.Held, Held{Day: h.Day, CohortID: ref.id, CohortName: ref.name, Code: int64(h.Code), Users: shown(a.Counts[i])})
		i++
	}
	for _, code := range activeCodes {
		rep.Active = append(rep.Active, Active{CohortID: byCode[code].id, CohortName: byCode[code].name, Code: code, Users: shown(a.Counts[i])})
		i++
	}
	return rep, nil
}

func shown(r privacy.Released) *int64 {
	if r.Suppressed {
		return nil
	}
	v := r.Value
	return &v
}

// complement withholds a second bucket when exactly one of a row's buckets is withheld (the
// smallest shown one), so the reach less the shown buckets does not give it away.
func complement(b []privacy.Released) {
	lone, smallest := -1, -1
	for j := range b {
		if b[j].Suppressed {
			if lone >= 0 {
				return
			}
			lone = j
		} else if smallest < 0 || b[j].Value < b[smallest].Value {
			smallest = j
		}
	}
	if lone >= 0 && smallest >= 0 {
		b[smallest].Suppressed = true
	}
}

// digest identifies the exact rows a report read.
func digest(rows []activation.DeliveryRow, held []activation.DeliveryHeld, activeCodes []int64, active *activation.ActiveUsers) string {
	h := sha256.New()
	json.NewEncoder(h).Encode(rows)
	json.NewEncoder(h).Encode(held)
	if active != nil {
		for _, c := range activeCodes {
			fmt.Fprintf(h, "%d %d\n", c, active.Codes[uint32(c)])
		}
	}
	return "delivery:" + hex.EncodeToString(h.Sum(nil)[:16])
}

// CSV returns a report as CSV rows (a header, then one line per row; held-back users in a
// column of the row's day and cohort, on its first line item or deal).
func (r *Report) CSV() [][]string {
	out := [][]string{{"day", "cohort_id", "cohort_name", "code", "line_item", "deal", "users", "impressions_at_least"}}
	for _, b := range r.Buckets {
		out[0] = append(out[0], "frequency_"+b)
	}
	out[0] = append(out[0], "held_back_users")
	type dc struct {
		day  string
		code int64
	}
	held := map[dc]*int64{}
	for _, h := range r.Held {
		held[dc{h.Day, h.Code}] = h.Users
	}
	seen := map[dc]bool{}
	for _, row := range r.Rows {
		line := []string{row.Day, row.CohortID, row.CohortName, strconv.FormatInt(row.Code, 10), row.LineItem, row.Deal, num(row.Users), num(row.Impressions)}
		for _, f := range row.Frequency {
			line = append(line, num(f))
		}
		k := dc{row.Day, row.Code}
		if h, ok := held[k]; ok && !seen[k] {
			line = append(line, num(h))
		} else {
			line = append(line, "")
		}
		seen[k] = true
		out = append(out, line)
	}
	return out
}

func num(v *int64) string {
	if v == nil {
		return "withheld"
	}
	return strconv.FormatInt(*v, 10)
}

// Days returns the report's days that have rows, ascending.
func (r *Report) Days() []string {
	var days []string
	for _, row := range r.Rows {
		if !slices.Contains(days, row.Day) {
			days = append(days, row.Day)
		}
	}
	return days
}
