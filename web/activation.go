package web

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/activation"
	"github.com/cleanroom-oss/cleanroom/httpx"
)

// The activation page: a publisher's ad-server settings, switches, deals and line-item export;
// an advertiser's view of where each cohort is served, its deals and its frequency cap. Every
// rule is the activation service's; the handlers translate forms.

// activationRow is one cohort at one publisher on the page.
type activationRow struct {
	Cohort *cleanroom.Cohort
	Org    string // who built it (publisher view) or the publisher (advertiser view)
	activation.TargetActivation
	LineItems string // the deal's rows as the form shows them
	// XandrDeals is the deal's Xandr deal IDs as the form shows them, one per line.
	XandrDeals string
	// ProposalHint is the conventional proposal name, suggested in the deal form.
	ProposalHint string
}

type activationData struct {
	Publisher bool
	CanAdmin  bool
	CanEdit   bool
	Settings  *cleanroom.AdServerSettings
	Origins   string
	Rows      []activationRow
	// Caps by cohort ID (advertiser view).
	Caps     map[string]*cleanroom.FrequencyCap
	CapNotes map[string]string
	Cohorts  []*cleanroom.Cohort
	// Periods are the cap periods the form offers, the cap's own selected.
	Periods []cleanroom.CapPeriod
	// formState is the form that failed: "settings", "switches:COHORT/CONNECTION",
	// "deal:COHORT/CONNECTION" or "cap:COHORT", shown again as typed with its error beside the
	// field it concerns (a deal's line item row is named in the error's text).
	formState
}

// activationFields are the fields of each activation form that show their errors beside
// themselves; another error of the form is shown at the form's top.
var activationFields = map[string]map[string]bool{
	"settings": {"gam_network_code": true, "gam_key": true, "xandr_member_id": true, "xandr_key": true, "origins": true,
		"uid_cookie": true, "uid_storage_key": true, "time_zone": true},
	"switches": {},
	"deal":     {"proposal_id": true, "proposal_name": true, "line_items": true, "xandr_deals": true},
	"cap":      {"max_impressions": true, "period": true},
}

// activationForm returns the state of the activation form submitted by r, named as
// activationData's formState says.
func activationForm(r *http.Request) formState {
	id, conn := r.PathValue("id"), r.PathValue("connection")
	switch {
	case id == "": // POST /activation/settings
		return submitted(r, "settings", "gam_network_code", "gam_key", "xandr_member_id", "xandr_key", "origins", "uid_cookie",
			"uid_storage_key", "time_zone")
	case conn == "":
		return submitted(r, "cap:"+id, "max_impressions", "period")
	case r.PostFormValue("action") == "deal":
		return submitted(r, "deal:"+id+"/"+conn, "proposal_id", "proposal_name", "line_items", "xandr_deals")
	}
	return submitted(r, "switches:"+id+"/"+conn, "direct", "programmatic")
}

// Submitted reports whether form is the form that failed (its values are shown as typed).
func (a *activationData) Submitted(form string) bool { return a.Err != nil && a.Form == form }

// activationProblem is a field's error as the page shows it: the ID the field's
// aria-describedby names, and the text.
type activationProblem struct{ ID, Text string }

// Problem returns the error of form's field (field "": the form's error shown at its top), nil
// when it has none.
func (a *activationData) Problem(form, field string) *activationProblem {
	text := a.ErrorOn(form, field)
	if text == "" {
		return nil
	}
	if field == "" {
		field = "form"
	}
	return &activationProblem{ID: strings.NewReplacer(":", "-", "/", "-").Replace(form) + "-" + field + "-error", Text: text}
}

func (d *Dashboard) activationAllowed(w http.ResponseWriter, p *page) bool {
	if p.Caller.Org == nil || p.Caller.Role == cleanroom.RoleLimited || d.Activation == nil || d.Cohorts == nil {
		d.errorPage(w, p, http.StatusNotFound, "Page not found", "Activation is not available here.", "Use the navigation above, or switch organization with the selector at the top right.")
		return false
	}
	return true
}

func (d *Dashboard) activationPage(w http.ResponseWriter, r *http.Request, p *page) {
	if !d.activationAllowed(w, p) {
		return
	}
	flash := ""
	if r.URL.Query().Get("saved") != "" {
		flash = "Saved. The edge serves the change at its next snapshot, within seconds."
	}
	d.showActivation(w, r, p, nil, flash)
}

// refuseActivation shows the page again with the submitted form as typed and err beside the field it
// concerns.
func (d *Dashboard) refuseActivation(w http.ResponseWriter, r *http.Request, p *page, err error) {
	d.showActivationForm(w, r, p, activationForm(r), err)
}

// showActivation renders the page with the error of a change that failed, or a flash.
func (d *Dashboard) showActivation(w http.ResponseWriter, r *http.Request, p *page, changeErr error, flash string) {
	p.Flash = flash
	d.showActivationForm(w, r, p, formState{}, changeErr)
}

// showActivationForm renders the page with form (the one that failed with changeErr) as typed.
func (d *Dashboard) showActivationForm(w http.ResponseWriter, r *http.Request, p *page, form formState, changeErr error) {
	ctx := r.Context()
	c := p.Caller
	data := &activationData{formState: form, Publisher: c.Org.Kind == cleanroom.OrgPublisher, CanAdmin: c.Role.AtLeast(cleanroom.RoleAdmin),
		CanEdit: c.Role.AtLeast(cleanroom.RoleMember), Caps: map[string]*cleanroom.FrequencyCap{}, CapNotes: map[string]string{},
		Periods: []cleanroom.CapPeriod{cleanroom.CapDay, cleanroom.CapWeek, cleanroom.CapMonth}}
	names := map[string]string{}
	cs, err := d.allCohorts(r, c, data.Publisher)
	if err != nil {
		d.fail(w, err)
		return
	}
	data.Cohorts = cs
	if data.Publisher {
		if data.Settings, err = d.Activation.Settings(ctx, c); err != nil {
			d.fail(w, err)
			return
		}
		data.Origins = strings.Join(data.Settings.Origins, "\n")
	}
	for _, co := range cs {
		a, err := d.Activation.Activation(ctx, c, co.ID)
		if err != nil {
			d.fail(w, err)
			return
		}
		data.Caps[co.ID], data.CapNotes[co.ID] = a.Cap, a.CapNote
		for _, t := range a.Targets {
			org := t.PublisherID
			if data.Publisher {
				org = co.OrgID
			}
			if err := d.orgNames(ctx, names, org); err != nil {
				d.fail(w, err)
				return
			}
			row := activationRow{Cohort: co, Org: names[org], TargetActivation: t}
			if data.Publisher {
				row.ProposalHint = activation.ProposalName(c.Org.Name, "GAM", names[org], "")
			}
			if t.Deal != nil {
				var b strings.Builder
				for _, li := range t.Deal.LineItems {
					b.WriteString(li.ID + "," + li.Floor + "," + li.Currency + "\n")
				}
				row.LineItems = b.String()
				row.XandrDeals = strings.Join(t.Deal.XandrDeals, "\n")
			}
			data.Rows = append(data.Rows, row)
		}
	}
	p.Title, p.Data = "Activation", data
	status := http.StatusOK
	if changeErr != nil {
		p.Error = cleanroom.ErrorText(changeErr)
		status = httpx.StatusOf(cleanroom.ErrorCode(changeErr))
		// The error is shown in its form when the page shows that form.
		if kind, _, _ := strings.Cut(form.Form, ":"); form.Form != "" && data.shows(form.Form) {
			data.Err = formError(changeErr)
			data.shown = map[string]map[string]bool{form.Form: activationFields[kind]}
			p.Error = ""
		}
	}
	d.render(w, status, "activation.html", p)
}

// shows reports whether the page shows the form named form.
func (a *activationData) shows(form string) bool {
	kind, target, _ := strings.Cut(form, ":")
	switch kind {
	case "settings":
		return a.Publisher && a.Settings != nil
	case "cap":
		return !a.Publisher && slices.ContainsFunc(a.Cohorts, func(co *cleanroom.Cohort) bool { return co.ID == target })
	}
	return a.Publisher && slices.ContainsFunc(a.Rows, func(row activationRow) bool { return row.Cohort.ID+"/"+row.ConnectionID == target })
}

// allCohorts lists the caller's cohorts (its own, or those built for the publisher).
func (d *Dashboard) allCohorts(r *http.Request, c *cleanroom.Caller, publisher bool) ([]*cleanroom.Cohort, error) {
	var all []*cleanroom.Cohort
	pg := cleanroom.Page{Limit: cleanroom.MaxPageLimit}
	for {
		cs, next, err := d.Cohorts.List(r.Context(), c, publisher, pg)
		if err != nil {
			return nil, err
		}
		all = append(all, cs...)
		if next == "" {
			return all, nil
		}
		pg.After = next
	}
}

func (d *Dashboard) saveAdServerSettings(w http.ResponseWriter, r *http.Request, p *page) {
	if !d.activationAllowed(w, p) {
		return
	}
	f := r.PostFormValue
	var origins []string
	for _, o := range strings.Fields(strings.ReplaceAll(f("origins"), ",", " ")) {
		origins = append(origins, o)
	}
	st, err := d.Activation.PutSettings(r.Context(), p.Caller, cleanroom.AdServerSettings{GAMNetworkCode: strings.TrimSpace(f("gam_network_code")),
		GAMKey: strings.TrimSpace(f("gam_key")), XandrMemberID: strings.TrimSpace(f("xandr_member_id")), XandrKey: strings.TrimSpace(f("xandr_key")),
		Origins: origins, UIDCookie: strings.TrimSpace(f("uid_cookie")), UIDStorageKey: strings.TrimSpace(f("uid_storage_key")),
		TimeZone: strings.TrimSpace(f("time_zone"))})
	if err != nil {
		d.refuseActivation(w, r, p, err)
		return
	}
	d.audit(r, (&cleanroom.AuditEntry{Action: "ad_server_settings.update", TargetType: "org", TargetID: st.PublisherID,
		Details: map[string]any{"via": "dashboard"}}).By(p.Caller))
	http.Redirect(w, r, "/activation?saved=settings", http.StatusSeeOther)
}

// parseLineItems reads the deal form's rows: "line item ID, floor, currency" per line.
func parseLineItems(s string) []cleanroom.LineItem {
	var out []cleanroom.LineItem
	for _, line := range strings.Split(s, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Split(line, ",")
		for len(f) < 3 {
			f = append(f, "")
		}
		out = append(out, cleanroom.LineItem{ID: strings.TrimSpace(f[0]), Floor: strings.TrimSpace(f[1]), Currency: strings.TrimSpace(f[2])})
	}
	return out
}

// saveCohortActivation sets a cohort's switches (and deal) at a connection: the publisher's form.
func (d *Dashboard) saveCohortActivation(w http.ResponseWriter, r *http.Request, p *page) {
	if !d.activationAllowed(w, p) {
		return
	}
	ctx, id, conn := r.Context(), r.PathValue("id"), r.PathValue("connection")
	f := r.PostFormValue
	var err error
	details := map[string]any{"via": "dashboard", "connection_id": conn}
	action := "cohort.activation.update"
	if f("action") == "deal" {
		var deal *cleanroom.Deal
		if f("remove") == "" {
			deal = &cleanroom.Deal{ProposalID: f("proposal_id"), ProposalName: f("proposal_name"), LineItems: parseLineItems(f("line_items")),
				XandrDeals: strings.FieldsFunc(f("xandr_deals"), func(r rune) bool { return r == '\n' || r == '\r' || r == ',' || r == ' ' })}
		}
		_, err = d.Activation.SetDeal(ctx, p.Caller, id, conn, deal)
		details["deal"] = deal != nil
	} else {
		sw := cleanroom.ActivationSwitches{Direct: f("direct") == "on", Programmatic: f("programmatic") == "on"}
		_, err = d.Activation.SetSwitches(ctx, p.Caller, id, conn, sw)
		details["direct"], details["programmatic"] = sw.Direct, sw.Programmatic
	}
	if err != nil {
		d.refuseActivation(w, r, p, err)
		return
	}
	d.audit(r, (&cleanroom.AuditEntry{Action: action, TargetType: "cohort", TargetID: id, Details: details}).By(p.Caller))
	http.Redirect(w, r, "/activation?saved="+id, http.StatusSeeOther)
}

// saveFrequencyCap sets or removes a cohort's cap: the advertiser's form.
func (d *Dashboard) saveFrequencyCap(w http.ResponseWriter, r *http.Request, p *page) {
	if !d.activationAllowed(w, p) {
		return
	}
	ctx, id := r.Context(), r.PathValue("id")
	var err error
	action := "cohort.frequency_cap.update"
	if r.PostFormValue("remove") != "" {
		action = "cohort.frequency_cap.delete"
		err = d.Activation.DeleteCap(ctx, p.Caller, id)
	} else {
		n, perr := strconv.Atoi(strings.TrimSpace(r.PostFormValue("max_impressions")))
		if perr != nil {
			n = 0
		}
		_, err = d.Activation.SetCap(ctx, p.Caller, id, cleanroom.FrequencyCap{MaxImpressions: n, Period: cleanroom.CapPeriod(r.PostFormValue("period"))})
	}
	if err != nil {
		d.refuseActivation(w, r, p, err)
		return
	}
	d.audit(r, (&cleanroom.AuditEntry{Action: action, TargetType: "cohort", TargetID: id, Details: map[string]any{"via": "dashboard"}}).By(p.Caller))
	http.Redirect(w, r, "/activation?saved="+id, http.StatusSeeOther)
}

// exportCSV downloads the publisher's line-item export as CSV, or as JSON under export.json
// (the API's shape: {"items": [...]}).
func (d *Dashboard) exportCSV(w http.ResponseWriter, r *http.Request, p *page) {
	if !d.activationAllowed(w, p) {
		return
	}
	rows, err := d.Activation.Export(r.Context(), p.Caller)
	if err != nil {
		d.showFailure(w, p, err)
		return
	}
	d.audit(r, (&cleanroom.AuditEntry{Action: "activation.export", TargetType: "org", TargetID: p.Caller.OrgID(),
		Details: map[string]any{"via": "dashboard", "cohorts": len(rows)}}).By(p.Caller))
	if strings.HasSuffix(r.URL.Path, ".json") {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Disposition", `attachment; filename="cohort-codes.json"`)
		if rows == nil {
			rows = []activation.ExportRow{}
		}
		json.NewEncoder(w).Encode(map[string]any{"items": rows})
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="cohort-codes.csv"`)
	activation.WriteCSV(w, rows)
}
