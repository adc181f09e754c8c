package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/cohorts"
	"github.com/cleanroom-oss/cleanroom/connections"
	"github.com/cleanroom-oss/cleanroom/match"
)

// conditionRows is how many condition rows the new-cohort form offers.
const conditionRows = 4

// cohortsData is what the cohorts page shows.
type cohortsData struct {
	Publisher bool // a publisher sees the cohorts built for it, read only
	CanEdit   bool
	Cohorts   []*cohortRow
	Busy      bool // a cohort is building or training: the page refreshes itself
	// The new-cohort form: choices and what was typed.
	Connections []connectionRow
	DataSources []*cleanroom.DataSource
	Form        cohortForm
	Estimates   *cohorts.Estimates
	Threshold   int64
}

type cohortRow struct {
	*cleanroom.Cohort
	Threshold int64
}

// Size shows a target's size, withholding it below the privacy threshold.
func (r *cohortRow) Size(t cleanroom.CohortTarget) string {
	return shownSize(t.Size, t.BuiltAt.IsZero(), r.Threshold)
}

func shownSize(n int64, unbuilt bool, threshold int64) string {
	switch {
	case unbuilt:
		return "—"
	case n < threshold:
		return fmt.Sprintf("< %d", threshold)
	}
	return strconv.FormatInt(n, 10)
}

// cohortForm is the new-cohort form's fields.
type cohortForm struct {
	Name, Description, Kind, Op, Country string
	Connections                          map[string]bool
	Rows                                 []conditionRow
}

type conditionRow struct {
	DataSource, Segment, PublisherCohort string
}

func (d *Dashboard) caller(p *page) connections.Caller {
	c := p.Caller
	return connections.Caller{OrgID: c.OrgID(), Role: c.Role, RepresentsID: c.RepresentsID, UserID: c.User.ID}
}

// cohortsAllowed answers pages that need an org and a role other than limited.
func (d *Dashboard) cohortsAllowed(w http.ResponseWriter, p *page) bool {
	if p.Caller.Org == nil || p.Caller.Role == cleanroom.RoleLimited || d.api.Cohorts == nil {
		http.Error(w, "Cohorts are not available here.", http.StatusNotFound)
		return false
	}
	return true
}

func (d *Dashboard) cohortsPage(w http.ResponseWriter, r *http.Request, p *page) {
	if !d.cohortsAllowed(w, p) {
		return
	}
	form := cohortForm{Kind: "matched", Op: match.OpAll, Connections: map[string]bool{}, Rows: make([]conditionRow, conditionRows)}
	d.showCohorts(w, r, p, form, nil, "")
}

func (d *Dashboard) showCohorts(w http.ResponseWriter, r *http.Request, p *page, form cohortForm, est *cohorts.Estimates, errMsg string) {
	ctx := r.Context()
	c := p.Caller
	data := &cohortsData{Publisher: c.Org.Kind == cleanroom.OrgPublisher, Form: form, Estimates: est, Threshold: d.api.Cohorts.Threshold()}
	data.CanEdit = !data.Publisher && c.Role.AtLeast(cleanroom.RoleMember)
	cs, _, err := d.api.Cohorts.List(ctx, d.caller(p), data.Publisher, cleanroom.Page{Limit: cleanroom.MaxPageLimit})
	if err != nil {
		d.fail(w, err)
		return
	}
	for _, co := range cs {
		data.Cohorts = append(data.Cohorts, &cohortRow{co, data.Threshold})
		data.Busy = data.Busy || co.Status == cleanroom.CohortBuilding || co.Status == cleanroom.CohortTraining
	}
	if data.CanEdit {
		if data.Connections, err = d.connections(r, c.Org); err == nil {
			data.DataSources, _, err = d.store.ListDataSources(ctx, cleanroom.DataSourceFilter{OrgID: c.Org.ID, Page: cleanroom.Page{Limit: 100}})
		}
		if err != nil {
			d.fail(w, err)
			return
		}
		// Data sources granted to the workspace are usable too.
		gs, err := d.store.ListGrants(ctx, "", c.Org.ID)
		if err != nil {
			d.fail(w, err)
			return
		}
		for _, g := range gs {
			if g.Active(cleanroom.UTC(d.api.Now())) {
				if ds, err := d.store.FindDataSource(ctx, g.DataSourceID); err == nil && !slices.ContainsFunc(data.DataSources, func(x *cleanroom.DataSource) bool { return x.ID == ds.ID }) {
					data.DataSources = append(data.DataSources, ds)
				}
			}
		}
	}
	p.Title, p.Data, p.Error = "Cohorts", data, errMsg
	status := http.StatusOK
	if errMsg != "" {
		status = http.StatusBadRequest
	}
	d.render(w, status, "cohorts.html", p)
}

// readForm reads the new-cohort form into a form and a spec.
func readForm(r *http.Request) (cohortForm, cohorts.Spec) {
	f := cohortForm{Name: strings.TrimSpace(r.PostFormValue("name")), Description: strings.TrimSpace(r.PostFormValue("description")),
		Kind: r.PostFormValue("kind"), Op: r.PostFormValue("op"), Country: strings.TrimSpace(r.PostFormValue("country")),
		Connections: map[string]bool{}}
	sp := cohorts.Spec{Name: f.Name, Description: f.Description, Kind: cleanroom.CohortKind(f.Kind), Query: match.Query{Op: f.Op}}
	for _, id := range r.PostForm["connection"] {
		f.Connections[id] = true
		sp.ConnectionIDs = append(sp.ConnectionIDs, id)
	}
	for i := range conditionRows {
		row := conditionRow{DataSource: r.PostFormValue(fmt.Sprintf("ds%d", i)), Segment: strings.TrimSpace(r.PostFormValue(fmt.Sprintf("seg%d", i))),
			PublisherCohort: strings.TrimSpace(r.PostFormValue(fmt.Sprintf("pc%d", i)))}
		f.Rows = append(f.Rows, row)
		switch {
		case row.DataSource != "" && row.PublisherCohort != "":
			// Both on one row: a group needing both.
			sp.Query.Conditions = append(sp.Query.Conditions, match.Condition{Op: match.OpAll, Conditions: []match.Condition{
				{DataSource: row.DataSource, Segment: row.Segment}, {PublisherCohort: row.PublisherCohort}}})
		case row.DataSource != "":
			sp.Query.Conditions = append(sp.Query.Conditions, match.Condition{DataSource: row.DataSource, Segment: row.Segment})
		case row.PublisherCohort != "":
			sp.Query.Conditions = append(sp.Query.Conditions, match.Condition{PublisherCohort: row.PublisherCohort})
		}
	}
	for _, cc := range strings.FieldsFunc(f.Country, func(r rune) bool { return r == ',' || r == ' ' }) {
		sp.Country = append(sp.Country, strings.ToUpper(cc))
	}
	return f, sp
}

// errText is an error's message with its hint.
func errText(err error) string {
	var e *cleanroom.Error
	if !errors.As(err, &e) {
		return cleanroom.ErrorMessage(err)
	}
	if h, ok := e.Details["hint"].(string); ok {
		return e.Message + " " + h
	}
	return e.Message
}

func (d *Dashboard) createCohort(w http.ResponseWriter, r *http.Request, p *page) {
	if !d.cohortsAllowed(w, p) {
		return
	}
	form, sp := readForm(r)
	if r.PostFormValue("action") == "estimate" {
		est, err := d.api.Cohorts.Estimate(r.Context(), d.caller(p), sp)
		if err != nil {
			d.showCohorts(w, r, p, form, nil, errText(err))
			return
		}
		d.audit(r, &cleanroom.AuditEntry{ActorUserID: p.Caller.User.ID, OrgID: p.Caller.OrgID(), Action: "cohort.estimate",
			Details: map[string]any{"via": "dashboard", "connections": sp.ConnectionIDs}})
		d.showCohorts(w, r, p, form, est, "")
		return
	}
	co, err := d.api.Cohorts.Create(r.Context(), d.caller(p), sp)
	if err != nil {
		d.showCohorts(w, r, p, form, nil, errText(err))
		return
	}
	d.audit(r, &cleanroom.AuditEntry{ActorUserID: p.Caller.User.ID, OrgID: p.Caller.OrgID(), Action: "cohort.create", TargetType: "cohort",
		TargetID: co.ID, Details: map[string]any{"via": "dashboard", "kind": co.Kind}})
	http.Redirect(w, r, "/cohorts/"+co.ID, http.StatusSeeOther)
}

// cohortData is what the cohort page shows.
type cohortData struct {
	*cohortRow
	CanEdit     bool
	Busy        bool
	Models      []*modelChart
	Diagnostics []cohorts.Diagnostics
	Query       string
}

// modelChart is a modeled target's curve, drawn as an SVG.
type modelChart struct {
	ConnectionID string
	Code         int64
	Record       cohorts.ModelRecord
	Points       []chartPoint
	// Drawn is Points from the lowest similarity up, so that where points coincide (scores tie)
	// the highest similarity is on top.
	Drawn     []chartPoint
	Line      string
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
	Recall, Precision, Lift float64
	Chosen                  bool
}

type featureBar struct {
	Label  string
	Weight float64
	Width  float64
}

// chart lays a curve out in a 600 x 300 box: x = reach, y = the share of held-out seeds
// reached (a gains chart: the diagonal is a random pick, the higher the curve the better the
// model); each point is a similarity the user can pick.
func chart(rec cohorts.ModelRecord, threshold int64, chosen *float64, publisher bool) *modelChart {
	m := &modelChart{Record: rec, Hidden: rec.Hidden(publisher)}
	if chosen != nil {
		m.Chosen, m.HasChoice = *chosen, true
	}
	maxReach := 1
	for _, p := range rec.Curve {
		maxReach = max(maxReach, p.Reach)
	}
	var line []string
	for _, p := range rec.Curve {
		cp := chartPoint{X: 40 + 540*float64(p.Reach)/float64(maxReach), Y: 280 - 260*p.Recall, Similarity: p.Similarity,
			Reach: shownSize(int64(p.Reach), false, threshold), Recall: p.Recall, Precision: p.Precision, Lift: p.Lift,
			Chosen: chosen != nil && *chosen == p.Similarity}
		m.Points = append(m.Points, cp)
		line = append(line, fmt.Sprintf("%.1f,%.1f", cp.X, cp.Y))
	}
	m.Line = strings.Join(line, " ")
	m.Drawn = slices.Clone(m.Points)
	slices.Reverse(m.Drawn)
	if feats := rec.Visible(publisher); len(feats) > 0 {
		top := 0.0
		for i, f := range feats {
			if i == 12 {
				break
			}
			top = max(top, abs(f.Weight))
		}
		for i, f := range feats {
			if i == 12 || top == 0 {
				break
			}
			label := f.Name
			if label == "" {
				label = f.ID
			}
			if f.Kind == "country" {
				label = "Country " + f.ID
			}
			m.Features = append(m.Features, featureBar{Label: label, Weight: f.Weight, Width: 200 * abs(f.Weight) / top})
		}
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
	co, err := d.api.Cohorts.Get(r.Context(), d.caller(p), r.PathValue("id"))
	if err != nil {
		http.Error(w, "Cohort not found.", http.StatusNotFound)
		return
	}
	thr := d.api.Cohorts.Threshold()
	data := &cohortData{cohortRow: &cohortRow{co, thr}, Busy: co.Status == cleanroom.CohortBuilding || co.Status == cleanroom.CohortTraining}
	data.CanEdit = co.OrgID == p.Caller.OrgID() && p.Caller.Role.AtLeast(cleanroom.RoleMember)
	var q match.Query
	if json.Unmarshal(co.Query, &q) == nil {
		data.Query = describeQuery(q)
	}
	for _, t := range co.Targets {
		var rec cohorts.ModelRecord
		if len(t.Model) > 0 && json.Unmarshal(t.Model, &rec) == nil && rec.Model != nil {
			m := chart(rec, thr, co.Similarity, co.OrgID != p.Caller.OrgID())
			m.ConnectionID, m.Code = t.ConnectionID, t.Code
			data.Models = append(data.Models, m)
		}
	}
	if co.OrgID == p.Caller.OrgID() {
		raws, err := d.api.Cohorts.CohortDiagnostics(r.Context(), d.caller(p), co.ID)
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
	d.render(w, http.StatusOK, "cohort.html", p)
}

// describeQuery writes a query for people: (a AND b) OR c.
func describeQuery(q match.Query) string {
	var group func(op string, cs []match.Condition) string
	group = func(op string, cs []match.Condition) string {
		parts := make([]string, len(cs))
		for i, c := range cs {
			switch {
			case c.IsGroup():
				parts[i] = "(" + group(c.Op, c.Conditions) + ")"
			case c.PublisherCohort != "":
				parts[i] = "publisher cohort " + c.PublisherCohort
			case c.Segment != "":
				parts[i] = "segment " + c.Segment + " of " + shortID(c.DataSource)
			default:
				parts[i] = "all of " + shortID(c.DataSource)
			}
		}
		word := " AND "
		if op == match.OpAny {
			word = " OR "
		}
		return strings.Join(parts, word)
	}
	return group(q.Op, q.Conditions)
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
	id := r.PathValue("id")
	c := d.caller(p)
	var err error
	action := r.PostFormValue("action")
	switch action {
	case "delete":
		if _, err = d.api.Cohorts.Delete(r.Context(), c, id); err == nil {
			d.audit(r, &cleanroom.AuditEntry{ActorUserID: p.Caller.User.ID, OrgID: p.Caller.OrgID(), Action: "cohort.delete", TargetType: "cohort", TargetID: id,
				Details: map[string]any{"via": "dashboard"}})
			http.Redirect(w, r, "/cohorts", http.StatusSeeOther)
			return
		}
	case "pause", "resume":
		paused := action == "pause"
		_, err = d.api.Cohorts.Update(r.Context(), c, id, cohorts.Change{Paused: &paused})
	case "select":
		var sim float64
		sim, err = strconv.ParseFloat(r.PostFormValue("similarity"), 64)
		if err != nil {
			err = cleanroom.Errorf(cleanroom.EINVALID, "Choose a point of the curve.")
			break
		}
		seeds := r.PostFormValue("include_seeds") == "on"
		_, err = d.api.Cohorts.Update(r.Context(), c, id, cohorts.Change{Similarity: &sim, IncludeSeeds: &seeds})
	default:
		err = cleanroom.Errorf(cleanroom.EINVALID, "Unknown action.")
	}
	if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
		http.Error(w, "Cohort not found.", http.StatusNotFound)
		return
	}
	if err != nil {
		status := http.StatusBadRequest
		if cleanroom.ErrorCode(err) == cleanroom.EFORBIDDEN {
			status = http.StatusForbidden
		}
		http.Error(w, errText(err), status)
		return
	}
	d.audit(r, &cleanroom.AuditEntry{ActorUserID: p.Caller.User.ID, OrgID: p.Caller.OrgID(), Action: "cohort.update", TargetType: "cohort", TargetID: id,
		Details: map[string]any{"via": "dashboard", "action": action}})
	http.Redirect(w, r, "/cohorts/"+id, http.StatusSeeOther)
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
}
