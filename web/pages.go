package web

import (
	"net/http"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/connections"
)

// overviewData is what the overview page shows: the org's settings, people, tokens, jobs and
// latest audit entries; for an operator acting in no org, every org.
type overviewData struct {
	Org *cleanroom.Org
	// Limited is set for an invited advertiser, who sees only its own data sources.
	Limited     bool
	Connections []connectionRow
	DataSources []*cleanroom.DataSource
	Members     []*cleanroom.Member
	Tokens      []*cleanroom.Token
	Jobs        []*cleanroom.Job
	Audit       []*cleanroom.AuditEntry
	AllOrgs     []*cleanroom.Org
}

func (d *Dashboard) overview(w http.ResponseWriter, r *http.Request, p *page) {
	ctx := r.Context()
	c := p.Caller
	data := &overviewData{Org: c.Org}
	first := cleanroom.Page{Limit: 20}
	var err error
	switch {
	case c.Org == nil:
		if c.Operator() {
			data.AllOrgs, _, err = d.Accounts.Orgs(ctx, c, cleanroom.Page{Limit: 100})
		}
	case c.Role == cleanroom.RoleLimited:
		data.Limited = true
		data.DataSources, _, _, err = d.Connections.DataSources(ctx, c, first)
		if err == nil {
			data.Tokens, _, err = d.Accounts.Tokens(ctx, c, first)
		}
	default:
		data.Members, _, err = d.Accounts.Members(ctx, c, first)
		if err == nil {
			data.Connections, err = d.connections(r, c)
		}
		if err == nil && c.Org.Kind != cleanroom.OrgPublisher {
			data.DataSources, _, _, err = d.Connections.DataSources(ctx, c, first)
		}
		if err == nil {
			data.Tokens, _, err = d.Accounts.Tokens(ctx, c, first)
		}
		if err == nil {
			data.Jobs, _, err = d.Jobs.List(ctx, c, cleanroom.JobFilter{Page: cleanroom.Page{Limit: 10}})
		}
		if err == nil {
			data.Audit, _, err = d.Accounts.Audit(ctx, c, "", "", cleanroom.Page{Limit: 10})
		}
	}
	if err != nil {
		d.fail(w, err)
		return
	}
	p.Title, p.Data = "Overview", data
	d.render(w, http.StatusOK, "overview.html", p)
}

// connectionRow is a connection as the dashboard lists it.
type connectionRow struct {
	*connections.Described
	OtherName string
	Toggles   []string
}

// connections lists the caller's org's connections with the other party's name and the toggles on.
func (d *Dashboard) connections(r *http.Request, c *cleanroom.Caller) ([]connectionRow, error) {
	ds, _, err := d.Connections.List(r.Context(), c, cleanroom.Page{Limit: 50})
	if err != nil {
		return nil, err
	}
	rows := make([]connectionRow, 0, len(ds))
	for _, conn := range ds {
		p := conn.Permissions
		row := connectionRow{Described: conn, OtherName: conn.Other(c)}
		for _, t := range []struct {
			on   bool
			name string
		}{{p.StandardCohorts, "standard cohorts"}, {p.MatchedCohorts, "matched"}, {p.ModeledAudiences, "modeled"},
			{p.Insights, "insights"}, {p.AdvancedInsights, "advanced insights"}, {p.CustomCohorts, "custom cohorts"}} {
			if t.on {
				row.Toggles = append(row.Toggles, t.name)
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}

type auditData struct {
	Entries []*cleanroom.AuditEntry
	Next    string
}

func (d *Dashboard) auditPage(w http.ResponseWriter, r *http.Request, p *page) {
	es, next, err := d.Accounts.Audit(r.Context(), p.Caller, "", "", cleanroom.Page{After: r.URL.Query().Get("after"), Limit: 100})
	if cleanroom.ErrorCode(err) == cleanroom.EFORBIDDEN {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	if err != nil {
		d.fail(w, err)
		return
	}
	p.Title, p.Data = "Audit log", &auditData{Entries: es, Next: next}
	d.render(w, http.StatusOK, "audit.html", p)
}
