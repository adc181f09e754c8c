package web

import (
	"net/http"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/accounts"
	"github.com/cleanroom-oss/cleanroom/connections"
)

// overviewData is what the overview page shows: the invitations waiting for the user; the org's
// settings, people, invitations, tokens, jobs and latest audit entries; for an operator acting in
// no org, every org.
type overviewData struct {
	Org *cleanroom.Org
	// Received are the invitations the user may accept or decline.
	Received []*accounts.Received
	// Limited is set for an invited advertiser, who sees only its own data sources.
	Limited     bool
	Connections []connectionRow
	DataSources []*cleanroom.DataSource
	Members     []*cleanroom.Member
	// Invitations are the org's, with the names of the advertisers invited ones act for; Admin
	// says whether the user may withdraw them.
	Invitations []*cleanroom.Invitation
	Advertisers map[string]string
	Admin       bool
	Tokens      []*cleanroom.Token
	Jobs        []*cleanroom.Job
	Audit       []*accounts.AuditLine
	AllOrgs     []*cleanroom.Org
	// ParentName is the name of the publisher a demand-side workspace belongs to.
	ParentName string
}

func (d *Dashboard) overview(w http.ResponseWriter, r *http.Request, p *page) {
	d.showOverview(w, r, p, http.StatusOK)
}

// showOverview renders the overview with status (an error's, after a failed action).
func (d *Dashboard) showOverview(w http.ResponseWriter, r *http.Request, p *page, status int) {
	ctx := r.Context()
	c := p.Caller
	data := &overviewData{Org: c.Org, Advertisers: map[string]string{}}
	first := cleanroom.Page{Limit: 20}
	var err error
	data.Received, err = d.Accounts.ReceivedInvitations(ctx, c)
	if err == nil && c.Org != nil && c.Org.ParentID != "" {
		names := map[string]string{}
		err = d.orgNames(ctx, names, c.Org.ParentID)
		data.ParentName = names[c.Org.ParentID]
	}
	switch {
	case err != nil:
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
		if err == nil {
			data.Admin = c.Role.AtLeast(cleanroom.RoleAdmin)
			data.Invitations, _, err = d.Accounts.Invitations(ctx, c, cleanroom.Page{Limit: 50})
		}
		for _, inv := range data.Invitations {
			if inv.RepresentsID == "" || data.Advertisers[inv.RepresentsID] != "" || err != nil {
				continue
			}
			var adv *cleanroom.Org
			if adv, err = d.store.FindOrg(ctx, inv.RepresentsID); err == nil {
				data.Advertisers[adv.ID] = adv.Name
			}
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
			var es []*cleanroom.AuditEntry
			if es, _, err = d.Accounts.Audit(ctx, c, "", "", cleanroom.Page{Limit: 10}); err == nil {
				data.Audit, err = d.Accounts.DescribeAudit(ctx, c, es)
			}
		}
	}
	if err != nil {
		d.fail(w, err)
		return
	}
	p.Title, p.Data = "Overview", data
	d.render(w, status, "overview.html", p)
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
