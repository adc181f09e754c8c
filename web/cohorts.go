package web

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/cohorts"
	"github.com/cleanroom-oss/cleanroom/httpx"
	"github.com/cleanroom-oss/cleanroom/pubsync"
)

// Rows the query builder starts with: conditions at the top level, and in a new group.
const (
	firstRows = 2
	groupRows = 2
)

// cohortsData is what the cohorts page shows.
type cohortsData struct {
	Publisher bool // a publisher sees the cohorts built for it, read only
	CanEdit   bool
	Cohorts   []*cohortRow
	Busy      bool // a cohort is building or training: the page refreshes its list
	Refresh   int64
	// The new-cohort form: choices and what was typed.
	Connections []connectionChoice
	DataSources []*cleanroom.DataSource
	Segments    []segmentChoice
	// PublisherCohorts suggests the publisher cohorts the workspace may name.
	PublisherCohorts []segmentChoice
	Form             cohortForm
	Estimates        []estimateRow
	Threshold        int64
	// Err is the new-cohort form's error when it concerns one of its parts (cohortFormPart).
	Err *fieldError
}

// cohortFormPart is the part of the new-cohort form a service error's field belongs to, where
// the page shows it: the name, description, kind, publishers, conditions or countries; "" for
// none (the error is shown at the top).
func cohortFormPart(field string) string {
	switch {
	case field == "name" || field == "description" || field == "kind" || field == "country":
		return field
	case field == "connections":
		return "connections"
	case field == "op" || field == "data_source" || strings.HasPrefix(field, "query") || strings.HasPrefix(field, "conditions"):
		return "conditions"
	}
	return ""
}

// ErrorOn returns the form's error when it belongs to part.
func (c *cohortsData) ErrorOn(part string) string {
	if c.Err == nil || cohortFormPart(c.Err.Field) != part {
		return ""
	}
	return c.Err.Text
}

type cohortRow struct {
	*cleanroom.Cohort
	Threshold int64
	// names holds the names of the orgs the page mentions: the workspace, the publishers.
	names map[string]string
	// counts are the targets' counts as released to the caller, by connection.
	counts map[string]cohorts.TargetCounts
}

// Size shows a target's size as released: "about N" when noisy, "below k" when suppressed.
func (r *cohortRow) Size(t cleanroom.CohortTarget) string {
	tc, ok := r.counts[t.ConnectionID]
	if !ok {
		return "—"
	}
	return shownText(tc.Size, tc.K)
}

// Seeds shows a modeled target's seeds as released.
func (r *cohortRow) Seeds(t cleanroom.CohortTarget) string {
	tc, ok := r.counts[t.ConnectionID]
	if !ok || tc.Seeds == nil {
		return "—"
	}
	return shownText(*tc.Seeds, tc.K)
}

// newRow returns a cohort's row with its counts released to the caller.
func (d *Dashboard) newRow(ctx context.Context, c *cleanroom.Caller, co *cleanroom.Cohort, names map[string]string) (*cohortRow, error) {
	counts, err := d.Cohorts.Counts(ctx, c, co)
	if err != nil {
		return nil, err
	}
	row := &cohortRow{Cohort: co, Threshold: d.Cohorts.Threshold(), names: names, counts: map[string]cohorts.TargetCounts{}}
	for _, tc := range counts {
		row.counts[tc.ConnectionID] = tc
	}
	return row, nil
}

// OrgName returns an org's name, or its ID when it could not be found.
func (r *cohortRow) OrgName(id string) string {
	if n, ok := r.names[id]; ok {
		return n
	}
	return id
}

// Busy reports whether the cohort is being built or trained.
func (r *cohortRow) Busy() bool {
	return r.Status == cleanroom.CohortBuilding || r.Status == cleanroom.CohortTraining
}

// shownText writes a released count for people: "about N" (noisy), "N" (exact), "below k"
// (suppressed), "budget spent" or "—".
func shownText(s cohorts.Shown, k int64) string {
	switch s.State {
	case cohorts.StateNoisy:
		return "about " + strconv.FormatInt(*s.Value, 10)
	case cohorts.StateExact:
		return strconv.FormatInt(*s.Value, 10)
	case cohorts.StateSuppressed:
		if k > 0 {
			return fmt.Sprintf("below %d", k)
		}
		return "below threshold"
	case cohorts.StateOverBudget:
		return "budget spent"
	}
	return "—"
}

// orgNames looks up the names of orgs, leaving out those not found.
func (d *Dashboard) orgNames(ctx context.Context, names map[string]string, ids ...string) error {
	for _, id := range ids {
		if _, ok := names[id]; ok || id == "" {
			continue
		}
		o, err := d.store.FindOrg(ctx, id)
		if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
			continue
		} else if err != nil {
			return err
		}
		names[id] = o.Name
	}
	return nil
}

// cohortForm is the new-cohort form's fields. The query builder's rows are top-level conditions
// or conditions of a group (one level, as cleanroom.CohortQuery allows).
type cohortForm struct {
	Name, Description, Kind, Op, Country string
	Connections                          map[string]bool
	Rows                                 []conditionRow
	Groups                               []conditionGroup
}

// conditionRow is one condition: a data source's segment (every row when Segment is empty) or
// a publisher cohort. Group is the key of the group it is in, empty at the top level.
type conditionRow struct {
	Group, DataSource, Segment, PublisherCohort string
}

func (r conditionRow) empty() bool {
	return r.DataSource == "" && r.Segment == "" && r.PublisherCohort == ""
}

type conditionGroup struct {
	Key, Op string
	Number  int
	Rows    []conditionRow
}

// connectionChoice is a connection the form offers: those that allow matched or modeled cohorts,
// disabled with the reason when suspended.
type connectionChoice struct {
	ID, Publisher, Kinds, Suspended string
}

// segmentChoice suggests a segment ID in the query builder.
type segmentChoice struct {
	ID, Label string
}

// estimateRow is an estimate as the form shows it.
type estimateRow struct {
	Publisher, Users, Reason string
	// Active is the users active in the last 30 days among Users.
	Active    activeCell
	Activates bool
	LeftOut   []string
}

func newForm() cohortForm {
	return cohortForm{Kind: string(cleanroom.CohortMatched), Op: cleanroom.OpAll, Connections: map[string]bool{},
		Rows: make([]conditionRow, firstRows)}
}

// cohortsAllowed answers pages that need an org and a role other than limited.
func (d *Dashboard) cohortsAllowed(w http.ResponseWriter, p *page) bool {
	if p.Caller.Org == nil || p.Caller.Role == cleanroom.RoleLimited || d.Cohorts == nil {
		d.errorPage(w, p, http.StatusNotFound, "No cohorts here", "Cohorts are not available here.",
			"Cohorts are built in an advertiser's organization or a publisher's demand-side workspace: switch with the selector at the top right.")
		return false
	}
	return true
}

func (d *Dashboard) cohortsPage(w http.ResponseWriter, r *http.Request, p *page) {
	if !d.cohortsAllowed(w, p) {
		return
	}
	d.showCohorts(w, r, p, newForm(), nil, nil)
}

// canCreate reports whether the caller may create cohorts: a member or admin of a demand-side
// org (an advertiser or a publisher's workspace).
func canCreate(p *page) bool {
	return p.Caller.Org.Kind != cleanroom.OrgPublisher && p.Caller.Role.AtLeast(cleanroom.RoleMember)
}

func (d *Dashboard) showCohorts(w http.ResponseWriter, r *http.Request, p *page, form cohortForm, est *cohorts.Estimates, formErr error) {
	ctx := r.Context()
	c := p.Caller
	data := &cohortsData{Publisher: c.Org.Kind == cleanroom.OrgPublisher, CanEdit: canCreate(p), Form: form,
		Threshold: d.Cohorts.Threshold()}
	cs, _, err := d.Cohorts.List(ctx, p.Caller, data.Publisher, cleanroom.Page{Limit: cleanroom.MaxPageLimit})
	if err != nil {
		d.fail(w, err)
		return
	}
	names := map[string]string{}
	for _, co := range cs {
		row, err := d.newRow(ctx, p.Caller, co, names)
		if err != nil {
			d.fail(w, err)
			return
		}
		err = d.orgNames(ctx, names, co.OrgID)
		for _, t := range co.Targets {
			if err == nil {
				err = d.orgNames(ctx, names, t.PublisherID)
			}
		}
		if err != nil {
			d.fail(w, err)
			return
		}
		data.Cohorts = append(data.Cohorts, row)
		data.Busy = data.Busy || row.Busy()
	}
	data.Refresh = d.refresh(data.Busy)
	if data.CanEdit {
		if err := d.formChoices(r, p, data); err != nil {
			d.fail(w, err)
			return
		}
	}
	if est != nil {
		pubs := map[string]string{}
		for _, c := range data.Connections {
			pubs[c.ID] = c.Publisher
		}
		for _, e := range est.Estimates {
			row := estimateRow{Publisher: pubs[e.ConnectionID], Activates: e.Activates, Reason: e.Reason, LeftOut: e.LeftOut}
			switch {
			case e.Users != nil && e.Noisy:
				row.Users = "about " + strconv.FormatInt(*e.Users, 10)
			case e.Users != nil:
				row.Users = strconv.FormatInt(*e.Users, 10)
			case e.BelowThreshold:
				row.Users = fmt.Sprintf("below %d", e.Threshold)
			default:
				row.Users = "—"
			}
			row.Active = activeText(e.Active, e.Threshold)
			if row.Publisher == "" {
				row.Publisher = e.ConnectionID
			}
			data.Estimates = append(data.Estimates, row)
		}
	}
	p.Title, p.Data = "Cohorts", data
	status := http.StatusOK
	if formErr != nil {
		status = d.showError(p, formErr)
		if fe := formError(formErr); data.CanEdit && cohortFormPart(fe.Field) != "" {
			data.Err, p.Error = fe, ""
		}
	}
	d.render(w, status, "cohorts.html", p)
}

// formChoices fills the new-cohort form's choices: the connections that allow cohorts, the data
// sources the workspace owns or is granted, and their segments.
func (d *Dashboard) formChoices(r *http.Request, p *page, data *cohortsData) error {
	ctx := r.Context()
	conns, err := d.connections(r, p.Caller)
	if err != nil {
		return err
	}
	for _, conn := range conns {
		perms := conn.Permissions
		var kinds []string
		if perms.MatchedCohorts {
			kinds = append(kinds, string(cleanroom.CohortMatched))
		}
		if perms.ModeledAudiences {
			kinds = append(kinds, string(cleanroom.CohortModeled))
		}
		if len(kinds) == 0 {
			continue
		}
		choice := connectionChoice{ID: conn.ID, Publisher: conn.OtherName, Kinds: strings.Join(kinds, ", ")}
		if !conn.Active {
			choice.Suspended = conn.Reason
			if choice.Suspended == "" {
				choice.Suspended = "Suspended."
			}
		}
		data.Connections = append(data.Connections, choice)
		// The publisher cohorts the workspace may name through this connection.
		pcs, err := d.Cohorts.PublisherCohorts(ctx, p.Caller, conn.ID)
		if err != nil {
			return err
		}
		for _, pc := range pcs {
			label := pc.Name + " · " + conn.OtherName
			if pc.Standard {
				label += " (standard)"
			}
			data.PublisherCohorts = append(data.PublisherCohorts, segmentChoice{ID: pc.ID, Label: label})
		}
	}
	if data.DataSources, err = d.Connections.QueryableDataSources(ctx, p.Caller); err != nil {
		return err
	}
	for _, ds := range data.DataSources {
		tax, _, err := d.Pipeline.DataSourceSegments(ctx, p.Caller, ds.ID)
		if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
			continue
		} else if err != nil {
			return err
		}
		for _, s := range tax.Segments() {
			data.Segments = append(data.Segments, segmentChoice{ID: s.ID, Label: s.Name + " · " + ds.Name})
		}
	}
	return nil
}

// readForm reads the new-cohort form into a form (to show again) and a spec. The query builder's
// fields come in document order, one of each per row: row (the group's key, empty at the top
// level), ds, seg and pc; and per group: group (its key) and gop.
func readForm(r *http.Request) (cohortForm, cohorts.Spec, error) {
	f := cohortForm{Name: strings.TrimSpace(r.PostFormValue("name")), Description: strings.TrimSpace(r.PostFormValue("description")),
		Kind: r.PostFormValue("kind"), Op: r.PostFormValue("op"), Country: strings.TrimSpace(strings.Join(r.PostForm["country"], ",")),
		Connections: map[string]bool{}}
	sp := cohorts.Spec{Name: f.Name, Description: f.Description, Kind: cleanroom.CohortKind(f.Kind), Query: cleanroom.CohortQuery{Op: f.Op}}
	for _, id := range r.PostForm["connection"] {
		f.Connections[id] = true
		sp.ConnectionIDs = append(sp.ConnectionIDs, id)
	}
	keys, ops := r.PostForm["group"], r.PostForm["gop"]
	rows, dss, segs, pcs := r.PostForm["row"], r.PostForm["ds"], r.PostForm["seg"], r.PostForm["pc"]
	if len(keys) != len(ops) || len(rows) != len(dss) || len(rows) != len(segs) || len(rows) != len(pcs) {
		return f, sp, cleanroom.Errorf(cleanroom.EINVALID, "The query's conditions arrived incomplete.").Hint("Reload the page and fill the form again.")
	}
	groups := map[string]*conditionGroup{}
	for i, key := range keys {
		if key == "" || groups[key] != nil {
			return f, sp, cleanroom.Errorf(cleanroom.EINVALID, "The query's groups arrived mixed up.").Hint("Reload the page and fill the form again.")
		}
		f.Groups = append(f.Groups, conditionGroup{Key: key, Op: ops[i], Number: i + 1})
		groups[key] = &f.Groups[len(f.Groups)-1]
	}
	for i, key := range rows {
		row := conditionRow{Group: key, DataSource: dss[i], Segment: strings.TrimSpace(segs[i]), PublisherCohort: strings.TrimSpace(pcs[i])}
		if g := groups[key]; g != nil {
			g.Rows = append(g.Rows, row)
		} else {
			row.Group = ""
			f.Rows = append(f.Rows, row)
		}
	}
	sp.Query.Conditions = conditions(f.Rows)
	for _, g := range f.Groups {
		if cs := conditions(g.Rows); len(cs) > 0 {
			sp.Query.Conditions = append(sp.Query.Conditions, cleanroom.Condition{Op: g.Op, Conditions: cs})
		}
	}
	for _, cc := range strings.FieldsFunc(f.Country, func(r rune) bool { return r == ',' || r == ' ' || r == ';' }) {
		sp.Country = append(sp.Country, strings.ToUpper(cc))
	}
	return f, sp, nil
}

// conditions returns the conditions of the rows that are not empty. A row naming both a data
// source and a publisher cohort is kept as it is: the query's validation explains the problem.
func conditions(rows []conditionRow) []cleanroom.Condition {
	var out []cleanroom.Condition
	for _, row := range rows {
		if !row.empty() {
			out = append(out, cleanroom.Condition{DataSource: row.DataSource, Segment: row.Segment, PublisherCohort: row.PublisherCohort})
		}
	}
	return out
}

// grow answers the query builder's "add" buttons when the browser runs no script: the form again
// with one more condition row (action add-row or add-row:KEY) or a new group (add-group).
func (f *cohortForm) grow(action string) {
	switch {
	case action == "add-group":
		n := len(f.Groups) + 1
		key := "g" + strconv.Itoa(n)
		for slices.ContainsFunc(f.Groups, func(g conditionGroup) bool { return g.Key == key }) {
			n++
			key = "g" + strconv.Itoa(n)
		}
		g := conditionGroup{Key: key, Op: cleanroom.OpAny, Number: len(f.Groups) + 1, Rows: make([]conditionRow, groupRows)}
		for i := range g.Rows {
			g.Rows[i].Group = key
		}
		f.Groups = append(f.Groups, g)
	case strings.HasPrefix(action, "add-row:"):
		key := strings.TrimPrefix(action, "add-row:")
		for i := range f.Groups {
			if f.Groups[i].Key == key {
				f.Groups[i].Rows = append(f.Groups[i].Rows, conditionRow{Group: key})
			}
		}
	default:
		f.Rows = append(f.Rows, conditionRow{})
	}
}

// showError puts an error on the page and returns the page's status; internal errors are
// logged (the page says only that something went wrong).
func (d *Dashboard) showError(p *page, err error) int {
	p.Error = cleanroom.ErrorText(err)
	if cleanroom.ErrorCode(err) == cleanroom.EINTERNAL {
		d.log.Error("dashboard", "page", p.Title, "err", err)
	}
	return httpx.StatusOf(cleanroom.ErrorCode(err))
}

func (d *Dashboard) createCohort(w http.ResponseWriter, r *http.Request, p *page) {
	if !d.cohortsAllowed(w, p) {
		return
	}
	if !canCreate(p) {
		d.errorPage(w, p, http.StatusForbidden, "Not allowed", "Only members and admins of a demand-side workspace create cohorts.",
			"Ask an admin of your organization for the member role.")
		return
	}
	form, sp, err := readForm(r)
	action := r.PostFormValue("action")
	switch {
	case err != nil:
		d.showCohorts(w, r, p, form, nil, err)
		return
	case strings.HasPrefix(action, "add-"):
		form.grow(action)
		d.showCohorts(w, r, p, form, nil, nil)
		return
	case action == "estimate":
		est, err := d.Cohorts.Estimate(r.Context(), p.Caller, sp)
		if err != nil {
			d.showCohorts(w, r, p, form, nil, err)
			return
		}
		d.audit(r, (&cleanroom.AuditEntry{Action: "cohort.estimate",
			Details: map[string]any{"via": "dashboard", "connections": sp.ConnectionIDs}}).By(p.Caller))
		d.showCohorts(w, r, p, form, est, nil)
		return
	}
	co, err := d.Cohorts.Create(r.Context(), p.Caller, sp)
	if err != nil {
		d.showCohorts(w, r, p, form, nil, err)
		return
	}
	d.audit(r, (&cleanroom.AuditEntry{Action: "cohort.create", TargetType: "cohort",
		TargetID: co.ID, Details: map[string]any{"via": "dashboard", "kind": co.Kind, "connections": sp.ConnectionIDs}}).By(p.Caller))
	http.Redirect(w, r, "/cohorts/"+co.ID, http.StatusSeeOther)
}

// cohortData is what the cohort page shows.
type cohortData struct {
	*cohortRow
	Own         bool // the caller's workspace owns the cohort (a publisher sees one built for it)
	CanEdit     bool
	Refresh     int64
	Models      []*modelChart
	Diagnostics []cohorts.Diagnostics
	Query       string
}

// modelChart is a modeled target's curve, drawn as an SVG.
type modelChart struct {
	ConnectionID, PublisherID string
	Code                      int64
	Record                    cohorts.ModelRecord
	// Seeds and AUC as released to the caller.
	Seeds, AUC string
	Points     []chartPoint
	// Drawn is Points from the lowest similarity up, so that where points coincide (scores tie)
	// the highest similarity is on top.
	Drawn []chartPoint
	Line  string
	// MaxReach labels the end of the reach axis.
	MaxReach  string
	Features  []featureBar
	Chosen    float64
	HasChoice bool
	// Hidden counts the features not named to the caller.
	Hidden int
}

type chartPoint struct {
	X, Y                    float64
	Similarity              float64
	Reach                   string
	Recall, Precision, Lift string
	Chosen                  bool
	// Below is set when the reach is withheld (under the privacy threshold): the point is drawn
	// at the threshold, since its reach is not shown.
	Below bool
}

type featureBar struct {
	Label  string
	Weight float64
	Width  float64
}

// The chart's plot spans x in [chartLeft, chartRight] and y in [chartTop, chartBottom] of a
// 600 x 300 box; a point is a circle of dotRadius, chosenRadius when chosen.
const (
	chartLeft, chartRight   = 40.0, 580.0
	chartTop, chartBottom   = 20.0, 280.0
	dotRadius, chosenRadius = 5, 7
)

// The model's strongest features are listed as bars up to featureBarWidth pixels long.
const (
	featuresShown   = 12
	featureBarWidth = 200.0
)

// chart lays a curve out in a 600 x 300 box: x = reach, y = the share of held-out seeds
// reached (a gains chart: the diagonal is a random pick, the higher the curve the better the
// model); each point is a similarity the user can pick. The values are those released to the
// caller (tc: noisy, withheld below the threshold); a withheld reach is drawn at the threshold,
// with its recall at 0, since both are withheld.
func chart(rec cohorts.ModelRecord, tc cohorts.TargetCounts, chosen *float64, publisher bool) *modelChart {
	m := &modelChart{Record: rec, Hidden: rec.Hidden(publisher), Seeds: "—", AUC: "—"}
	if tc.Seeds != nil {
		m.Seeds = shownText(*tc.Seeds, tc.K)
	}
	if tc.AUC != nil {
		m.AUC = fmt.Sprintf("%.2f", *tc.AUC)
	}
	if chosen != nil {
		m.Chosen, m.HasChoice = *chosen, true
	}
	threshold := max(tc.K, 1)
	scale := threshold
	for _, p := range tc.Curve {
		if p.Reach.Value != nil {
			scale = max(scale, *p.Reach.Value)
		}
	}
	m.MaxReach = strconv.FormatInt(scale, 10)
	if len(tc.Curve) > 0 && tc.Curve[0].Reach.State == cohorts.StateNoisy {
		m.MaxReach = "about " + m.MaxReach
	}
	ratio := func(x *float64, f string, scale float64) string {
		if x == nil {
			return "withheld"
		}
		return fmt.Sprintf(f, scale**x)
	}
	var line []string
	for _, p := range tc.Curve {
		reach, recall := threshold, 0.0
		if p.Reach.Value != nil {
			reach = *p.Reach.Value
		}
		if p.Recall != nil {
			recall = *p.Recall
		}
		cp := chartPoint{X: chartLeft + (chartRight-chartLeft)*float64(reach)/float64(scale), Y: chartBottom - (chartBottom-chartTop)*recall,
			Similarity: p.Similarity, Reach: shownText(p.Reach, tc.K), Recall: ratio(p.Recall, "%.0f%%", 100),
			Precision: ratio(p.Precision, "%.0f%%", 100), Lift: ratio(p.Lift, "%.2f", 1),
			Chosen: chosen != nil && *chosen == p.Similarity, Below: p.Reach.Value == nil}
		m.Points = append(m.Points, cp)
		line = append(line, fmt.Sprintf("%.1f,%.1f", cp.X, cp.Y))
	}
	m.Line = strings.Join(line, " ")
	m.Drawn = slices.Clone(m.Points)
	slices.Reverse(m.Drawn)
	feats := rec.Visible(publisher)
	feats = feats[:min(len(feats), featuresShown)]
	top := 0.0
	for _, f := range feats {
		top = max(top, abs(f.Weight))
	}
	for _, f := range feats {
		if top == 0 {
			break
		}
		label := f.Name
		if label == "" {
			label = f.ID
		}
		if f.Kind == "country" {
			label = "Country " + f.ID
		}
		m.Features = append(m.Features, featureBar{Label: label, Weight: f.Weight, Width: featureBarWidth * abs(f.Weight) / top})
	}
	return m
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func (d *Dashboard) cohortPage(w http.ResponseWriter, r *http.Request, p *page) {
	if !d.cohortsAllowed(w, p) {
		return
	}
	d.showCohort(w, r, p, nil)
}

// showCohort renders the cohort page, with the error of a change that failed.
func (d *Dashboard) showCohort(w http.ResponseWriter, r *http.Request, p *page, changeErr error) {
	ctx := r.Context()
	co, err := d.Cohorts.Get(ctx, p.Caller, r.PathValue("id"))
	if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
		d.errorPage(w, p, http.StatusNotFound, "Cohort not found", "There is no such cohort in this organization.",
			"Open it from the Cohorts page of the organization it belongs to.")
		return
	} else if err != nil {
		d.fail(w, err)
		return
	}
	row, err := d.newRow(ctx, p.Caller, co, map[string]string{})
	if err != nil {
		d.fail(w, err)
		return
	}
	data := &cohortData{cohortRow: row, Own: co.OrgID == p.Caller.OrgID()}
	data.CanEdit = data.Own && p.Caller.Role.AtLeast(cleanroom.RoleMember)
	data.Refresh = d.refresh(data.Busy())
	err = d.orgNames(ctx, data.names, co.OrgID)
	for _, t := range co.Targets {
		if err == nil {
			err = d.orgNames(ctx, data.names, t.PublisherID)
		}
	}
	if err != nil {
		d.fail(w, err)
		return
	}
	var q cleanroom.CohortQuery
	if data.Own && json.Unmarshal(co.Query, &q) == nil {
		data.Query = describeQuery(q, d.queryNamer(ctx, p.Caller, co))
	}
	for _, t := range co.Targets {
		var rec cohorts.ModelRecord
		if len(t.Model) > 0 && json.Unmarshal(t.Model, &rec) == nil && rec.Model != nil {
			m := chart(rec, row.counts[t.ConnectionID], co.Similarity, !data.Own)
			m.ConnectionID, m.PublisherID, m.Code = t.ConnectionID, t.PublisherID, t.Code
			data.Models = append(data.Models, m)
		}
	}
	if data.Own {
		raws, err := d.Cohorts.CohortDiagnostics(ctx, p.Caller, co.ID)
		if err == nil {
			for _, raw := range raws {
				var dg cohorts.Diagnostics
				if json.Unmarshal(raw, &dg) == nil {
					data.Diagnostics = append(data.Diagnostics, dg)
				}
			}
		}
	}
	p.Title, p.Data = co.Name, data
	status := http.StatusOK
	if changeErr != nil {
		status = d.showError(p, changeErr)
	}
	d.render(w, status, "cohort.html", p)
}

// queryNames names what a query mentions, for people: data sources, their segments and
// publisher cohorts; each returns "" when it does not know the ID.
type queryNames struct {
	dataSource      func(id string) string
	segment         func(dataSource, segment string) string
	publisherCohort func(id string) string
}

// describeQuery writes a query for people: (a AND b) OR c, naming what it mentions by name (an
// ID only when no name is known).
func describeQuery(q cleanroom.CohortQuery, n queryNames) string {
	ds := func(id string) string {
		if name := n.dataSource(id); name != "" {
			return name
		}
		return shortID(id)
	}
	var group func(op string, cs []cleanroom.Condition) string
	group = func(op string, cs []cleanroom.Condition) string {
		parts := make([]string, len(cs))
		for i, c := range cs {
			switch {
			case c.IsGroup():
				parts[i] = "(" + group(c.Op, c.Conditions) + ")"
			case c.PublisherCohort != "":
				if name := n.publisherCohort(c.PublisherCohort); name != "" {
					parts[i] = "publisher cohort " + name
				} else {
					parts[i] = "publisher cohort " + c.PublisherCohort
				}
			case c.Segment != "":
				if name := n.segment(c.DataSource, c.Segment); name != "" {
					parts[i] = "segment " + name + " of " + ds(c.DataSource)
				} else {
					parts[i] = "segment " + c.Segment + " of " + ds(c.DataSource)
				}
			default:
				parts[i] = "every row of " + ds(c.DataSource)
			}
		}
		word := " AND "
		if op == cleanroom.OpAny {
			word = " OR "
		}
		return strings.Join(parts, word)
	}
	return group(q.Op, q.Conditions)
}

// queryNamer looks up the names a cohort's query mentions, through the services, as the caller
// may read them; it remembers what it looked up.
func (d *Dashboard) queryNamer(ctx context.Context, c *cleanroom.Caller, co *cleanroom.Cohort) queryNames {
	dsNames, segNames := map[string]string{}, map[string]map[string]string{}
	var pcNames map[string]string
	return queryNames{
		dataSource: func(id string) string {
			if n, ok := dsNames[id]; ok {
				return n
			}
			if ds, _, _, err := d.Connections.DataSource(ctx, c, id); err == nil {
				dsNames[id] = ds.Name
			} else {
				dsNames[id] = ""
			}
			return dsNames[id]
		},
		segment: func(dsID, seg string) string {
			if segNames[dsID] == nil {
				segNames[dsID] = map[string]string{}
				if tax, _, err := d.Pipeline.DataSourceSegments(ctx, c, dsID); err == nil {
					for _, s := range tax.Segments() {
						segNames[dsID][s.ID] = s.Name
					}
				}
			}
			return segNames[dsID][seg]
		},
		publisherCohort: func(id string) string {
			if pcNames == nil {
				pcNames = map[string]string{}
				for _, t := range co.Targets {
					pcs, err := d.Cohorts.PublisherCohorts(ctx, c, t.ConnectionID)
					if err != nil {
						continue
					}
					for _, pc := range pcs {
						pcNames[pc.ID] = pc.Name
					}
				}
			}
			return pcNames[id]
		},
	}
}

func shortID(id string) string {
	if len(id) > 8 {
		return "data source " + id[len(id)-8:]
	}
	return "data source " + id
}

// changeCohort handles the cohort page's forms: choose a similarity, pause or resume, delete.
func (d *Dashboard) changeCohort(w http.ResponseWriter, r *http.Request, p *page) {
	if !d.cohortsAllowed(w, p) {
		return
	}
	if !p.Caller.Role.AtLeast(cleanroom.RoleMember) {
		// The service checks the org, the role is the API's and the dashboard's to check.
		d.showCohort(w, r, p, cleanroom.Errorf(cleanroom.EFORBIDDEN, "Viewers do not change cohorts."))
		return
	}
	id := r.PathValue("id")
	c := p.Caller
	var err error
	action := r.PostFormValue("action")
	switch action {
	case "delete":
		if _, err = d.Cohorts.Delete(r.Context(), c, id); err == nil {
			d.audit(r, (&cleanroom.AuditEntry{Action: "cohort.delete", TargetType: "cohort", TargetID: id,
				Details: map[string]any{"via": "dashboard"}}).By(p.Caller))
			http.Redirect(w, r, "/cohorts", http.StatusSeeOther)
			return
		}
	case "pause", "resume":
		paused := action == "pause"
		_, err = d.Cohorts.Update(r.Context(), c, id, cohorts.Change{Paused: &paused})
	case "select":
		var sim float64
		sim, err = strconv.ParseFloat(r.PostFormValue("similarity"), 64)
		if err != nil {
			err = cleanroom.Errorf(cleanroom.EINVALID, "Choose a point of the curve.").Hint("Click a point, or pick a row of the table.")
			break
		}
		seeds := r.PostFormValue("include_seeds") == "on"
		_, err = d.Cohorts.Update(r.Context(), c, id, cohorts.Change{Similarity: &sim, IncludeSeeds: &seeds})
	default:
		err = cleanroom.Errorf(cleanroom.EINVALID, "Unknown action.")
	}
	if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
		d.errorPage(w, p, http.StatusNotFound, "Cohort not found", "There is no such cohort in this organization.",
			"Open it from the Cohorts page of the organization it belongs to.")
		return
	}
	if err != nil {
		d.showCohort(w, r, p, err)
		return
	}
	d.audit(r, (&cleanroom.AuditEntry{Action: "cohort.update", TargetType: "cohort", TargetID: id,
		Details: map[string]any{"via": "dashboard", "action": action}}).By(p.Caller))
	http.Redirect(w, r, "/cohorts/"+id, http.StatusSeeOther)
}

// conditionTableView and conditionGroupView are what the query builder's templates get: rows
// or a group, and the choices of the pickers (data sources, segments, publisher cohorts).
type conditionTableView struct {
	Rows    []conditionRow
	Choices *cohortsData
}

type conditionGroupView struct {
	conditionGroup
	Choices *cohortsData
}

// cohortFuncs are the template helpers of the cohort pages.
var cohortFuncs = template.FuncMap{
	"pct":   func(x float64) string { return fmt.Sprintf("%.0f%%", 100*x) },
	"fixed": func(x float64) string { return fmt.Sprintf("%.2f", x) },
	"count": func(n *int64, thr int64) string {
		if n == nil {
			return fmt.Sprintf("< %d", thr)
		}
		return strconv.FormatInt(*n, 10)
	},
	"rate": func(x *float64) string {
		if x == nil {
			return "—"
		}
		return fmt.Sprintf("%.1f%%", 100**x)
	},
	"conditionTable": func(rows []conditionRow, choices *cohortsData) conditionTableView {
		return conditionTableView{rows, choices}
	},
	"conditionGroupView": func(g conditionGroup, choices *cohortsData) conditionGroupView {
		return conditionGroupView{g, choices}
	},
	// countries are the ISO 3166-1 alpha-2 codes the country picker offers.
	"countries": pubsync.Countries,
	// chosen says whether code is one of the comma-separated codes of list.
	"chosen": func(list, code string) bool { return slices.Contains(strings.Split(list, ","), code) },
	// newGroup is the group "Add group" copies in the page; the script gives it a key.
	"newGroup": func() conditionGroup {
		return conditionGroup{Op: cleanroom.OpAny, Rows: make([]conditionRow, groupRows)}
	},
	"radius": func(chosen bool) int {
		if chosen {
			return chosenRadius
		}
		return dotRadius
	},
}
