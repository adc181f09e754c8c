package web

import (
	"net/http"
	"slices"
	"strings"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// permissionToggle is one of a connection's six permissions as a form shows it.
type permissionToggle struct {
	Field, Label, Help string
}

// permissionToggles are the six permissions, in the order the forms show them.
var permissionToggles = []permissionToggle{
	{"standard_cohorts", "Standard cohorts", "the partner uses your standard (IAB-mapped) cohorts in its queries, except those you opted out of"},
	{"matched_cohorts", "Matched cohorts", "the partner builds cohorts of the users known to both of you"},
	{"modeled_audiences", "Modeled audiences", "the partner builds lookalike cohorts from its matched users"},
	{"insights", "Insights", "size, match rate, index and overlap"},
	{"advanced_insights", "Advanced insights", "content and engagement breakdowns"},
	{"custom_cohorts", "Custom cohorts", "the custom cohorts you choose below are shared for targeting and queries"},
}

// permissionsOf reads the six toggles and the shared custom cohorts of a form.
func permissionsOf(r *http.Request) cleanroom.Permissions {
	on := func(f string) bool { return r.PostFormValue(f) == "on" }
	p := cleanroom.Permissions{StandardCohorts: on("standard_cohorts"), MatchedCohorts: on("matched_cohorts"),
		ModeledAudiences: on("modeled_audiences"), Insights: on("insights"), AdvancedInsights: on("advanced_insights"),
		CustomCohorts: on("custom_cohorts"), SharedCustomCohorts: []string{}}
	for _, id := range r.PostForm["shared_custom_cohorts"] {
		if id = strings.TrimSpace(id); id != "" {
			p.SharedCustomCohorts = append(p.SharedCustomCohorts, id)
		}
	}
	return p
}

// permissionOn says whether the toggle named field is on in p.
func permissionOn(p cleanroom.Permissions, field string) bool {
	switch field {
	case "standard_cohorts":
		return p.StandardCohorts
	case "matched_cohorts":
		return p.MatchedCohorts
	case "modeled_audiences":
		return p.ModeledAudiences
	case "insights":
		return p.Insights
	case "advanced_insights":
		return p.AdvancedInsights
	case "custom_cohorts":
		return p.CustomCohorts
	}
	return false
}

// connectionsData is what the Connections page shows: the org's connections with their status and
// permissions; for a publisher's staff, the forms to add one, change its permissions or delete it,
// and the standard-cohort opt-outs.
type connectionsData struct {
	Publisher bool
	Manage    bool
	Rows      []connectionRow
	Toggles   []permissionToggle
	// Standard and Custom are the publisher's cohorts by kind (from its taxonomy); OptedOut the
	// standard ones it opted out of.
	Standard, Custom []vault.CohortInfo
	OptedOut         map[string]bool

	// New is the add form's values after a failed attempt; Form the form that failed, Err its error.
	NewPartner string
	New        cleanroom.Permissions
	Form       string
	Err        *fieldError
	// Edited is the edited connection's permissions as submitted, when that form failed.
	Edited cleanroom.Permissions
}

// On says whether toggle field is on in the permissions of the connection id (as submitted, for
// the form that failed), or of the add form when id is "".
func (c *connectionsData) On(id, field string) bool {
	if id == "" {
		return permissionOn(c.New, field)
	}
	if c.Form == "edit:"+id {
		return permissionOn(c.Edited, field)
	}
	for _, r := range c.Rows {
		if r.ID == id {
			return permissionOn(r.Permissions, field)
		}
	}
	return false
}

// Shared says whether the custom cohort is shared through the connection id.
func (c *connectionsData) Shared(id, cohort string) bool {
	if c.Form == "edit:"+id {
		return slices.Contains(c.Edited.SharedCustomCohorts, cohort)
	}
	for _, r := range c.Rows {
		if r.ID == id {
			return slices.Contains(r.Permissions.SharedCustomCohorts, cohort)
		}
	}
	return false
}

// ErrorOn returns the error of form's field ("" for the form's error not tied to a shown field).
func (c *connectionsData) ErrorOn(form, field string) string {
	if c.Form != form || c.Err == nil {
		return ""
	}
	if field == "" {
		if c.Err.Field == "partner_id" && form == "new" {
			return ""
		}
		return c.Err.Text
	}
	return c.Err.On(field)
}

func (d *Dashboard) connectionsRoutes() {
	d.mux.HandleFunc("GET /connections", d.signedIn(d.connectionsPage))
	d.mux.HandleFunc("POST /connections", d.signedIn(d.createConnection))
	d.mux.HandleFunc("POST /connections/{id}/permissions", d.signedIn(d.updateConnection))
	d.mux.HandleFunc("POST /connections/{id}/delete", d.signedIn(d.deleteConnection))
	d.mux.HandleFunc("POST /connections/opt-outs", d.signedIn(d.setOptOuts))
}

func (d *Dashboard) connectionsPage(w http.ResponseWriter, r *http.Request, p *page) {
	d.showConnections(w, r, p, &connectionsData{New: cleanroom.Permissions{MatchedCohorts: true, Insights: true}}, nil)
}

func (d *Dashboard) showConnections(w http.ResponseWriter, r *http.Request, p *page, data *connectionsData, formErr error) {
	ctx, c := r.Context(), p.Caller
	if c.Org == nil || c.Role == cleanroom.RoleLimited {
		d.errorPage(w, p, http.StatusNotFound, "No connections here",
			"Connections are listed in a publisher's or an advertiser's organization.",
			"Choose the organization with the selector at the top right.")
		return
	}
	rows, err := d.connections(r, c)
	if err != nil {
		d.showFailure(w, p, err)
		return
	}
	data.Rows, data.Toggles = rows, permissionToggles
	data.Publisher = c.Org.Kind == cleanroom.OrgPublisher
	data.Manage = data.Publisher && c.Role.AtLeast(cleanroom.RoleMember)
	data.OptedOut = map[string]bool{}
	if data.Publisher {
		tax, err := d.Pipeline.PublisherTaxonomyOf(ctx, c)
		switch {
		case cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND:
		case err != nil:
			d.showFailure(w, p, err)
			return
		default:
			for _, co := range tax.Cohorts() {
				if co.Standard {
					data.Standard = append(data.Standard, co)
				} else {
					data.Custom = append(data.Custom, co)
				}
			}
		}
		ids, err := d.Connections.StandardOptOuts(ctx, c)
		if err != nil {
			d.showFailure(w, p, err)
			return
		}
		for _, id := range ids {
			data.OptedOut[id] = true
		}
	}
	status := http.StatusOK
	if formErr != nil {
		data.Err = formError(formErr)
		status = d.showError(p, formErr)
		p.Error = ""
	}
	p.Title, p.Data = "Connections", data
	d.render(w, status, "connections.html", p)
}

func (d *Dashboard) createConnection(w http.ResponseWriter, r *http.Request, p *page) {
	data := &connectionsData{Form: "new", NewPartner: strings.TrimSpace(r.PostFormValue("partner_id")), New: permissionsOf(r)}
	conn, partner, err := d.Connections.Connect(r.Context(), p.Caller, data.NewPartner, data.New)
	if err != nil {
		d.showConnections(w, r, p, data, err)
		return
	}
	d.audit(r, (&cleanroom.AuditEntry{OrgID: conn.PublisherID, PartnerOrgID: partner.ID, Action: "connection.create", TargetType: "connection",
		TargetID: conn.ID, Details: map[string]any{"via": "dashboard", "workflow": conn.Workflow, "permissions": conn.Permissions}}).By(p.Caller))
	http.Redirect(w, r, "/connections#connection-"+conn.ID, http.StatusSeeOther)
}

func (d *Dashboard) updateConnection(w http.ResponseWriter, r *http.Request, p *page) {
	id := idOf(r)
	perms := permissionsOf(r)
	before, err := d.Connections.Connection(r.Context(), p.Caller, id, cleanroom.CapManageConnection)
	var conn *cleanroom.Connection
	if err == nil {
		conn, err = d.Connections.UpdatePermissions(r.Context(), p.Caller, id, perms)
	}
	if err != nil {
		d.showConnections(w, r, p, &connectionsData{Form: "edit:" + r.PathValue("id"), Edited: perms}, err)
		return
	}
	d.audit(r, (&cleanroom.AuditEntry{OrgID: conn.PublisherID, PartnerOrgID: conn.PartnerID, Action: "connection.update", TargetType: "connection",
		TargetID: conn.ID, Details: map[string]any{"via": "dashboard", "before": before.Permissions, "after": conn.Permissions}}).By(p.Caller))
	http.Redirect(w, r, "/connections#connection-"+conn.ID, http.StatusSeeOther)
}

func (d *Dashboard) deleteConnection(w http.ResponseWriter, r *http.Request, p *page) {
	conn, err := d.Connections.DeleteConnection(r.Context(), p.Caller, idOf(r))
	if err != nil {
		d.showConnections(w, r, p, &connectionsData{Form: "edit:" + r.PathValue("id")}, err)
		return
	}
	d.audit(r, (&cleanroom.AuditEntry{OrgID: conn.PublisherID, PartnerOrgID: conn.PartnerID, Action: "connection.delete", TargetType: "connection",
		TargetID: conn.ID, Details: map[string]any{"via": "dashboard", "workflow": conn.Workflow,
			"stopped": "every cohort activation, targeting entry and deal through this connection"}}).By(p.Caller))
	http.Redirect(w, r, "/connections", http.StatusSeeOther)
}

func (d *Dashboard) setOptOuts(w http.ResponseWriter, r *http.Request, p *page) {
	r.ParseForm()
	ids, err := d.Connections.SetStandardOptOuts(r.Context(), p.Caller, r.PostForm["opt_out"])
	if err != nil {
		d.showConnections(w, r, p, &connectionsData{Form: "opt-outs"}, err)
		return
	}
	d.audit(r, (&cleanroom.AuditEntry{OrgID: p.Caller.OrgID(), Action: "standard_opt_outs.set", TargetType: "org", TargetID: p.Caller.OrgID(),
		Details: map[string]any{"via": "dashboard", "cohort_ids": ids}}).By(p.Caller))
	http.Redirect(w, r, "/connections#opt-outs", http.StatusSeeOther)
}
