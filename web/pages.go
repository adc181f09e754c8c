package web

import (
	"net/http"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/accounts"
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
	Audit       []*cleanroom.AuditEntry
	AllOrgs     []*cleanroom.Org
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
	data.Received, err = d.api.Accounts.ReceivedInvitations(ctx, c.User)
	switch {
	case err != nil:
	case c.Org == nil:
		if c.User.Operator {
			data.AllOrgs, _, err = d.store.ListOrgs(ctx, cleanroom.Page{Limit: 100})
		}
	case c.Role == cleanroom.RoleLimited:
		data.Limited = true
		data.DataSources, _, err = d.store.ListDataSources(ctx, cleanroom.DataSourceFilter{OrgID: c.Org.ID, AdvertiserID: c.RepresentsID, Page: first})
		if err == nil {
			data.Tokens, _, err = d.store.ListTokens(ctx, c.Org.ID, c.User.ID, first)
		}
	default:
		data.Members, _, err = d.store.ListMembers(ctx, c.Org.ID, first)
		if err == nil {
			data.Connections, err = d.connections(r, c.Org)
		}
		if err == nil {
			data.Admin = c.Role.AtLeast(cleanroom.RoleAdmin)
			data.Invitations, _, err = d.api.Accounts.Invitations(ctx, c.Org.ID, cleanroom.Page{Limit: 50})
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
			data.DataSources, _, err = d.store.ListDataSources(ctx, cleanroom.DataSourceFilter{OrgID: c.Org.ID, Page: first})
		}
		if err == nil {
			owner := c.User.ID
			if c.Role.AtLeast(cleanroom.RoleAdmin) {
				owner = ""
			}
			data.Tokens, _, err = d.store.ListTokens(ctx, c.Org.ID, owner, first)
		}
		if err == nil {
			data.Jobs, _, err = d.store.ListJobs(ctx, cleanroom.JobFilter{OrgID: c.Org.ID, Page: cleanroom.Page{Limit: 10}})
		}
		if err == nil {
			data.Audit, _, err = d.store.ListAudit(ctx, cleanroom.AuditFilter{OrgID: c.Org.ID, Page: cleanroom.Page{Limit: 10}})
		}
	}
	if err != nil {
		d.fail(w, err)
		return
	}
	p.Title, p.Data = "Overview", data
	d.render(w, status, "overview.html", p)
}

// connectionRow is a connection as the overview lists it.
type connectionRow struct {
	*cleanroom.Connection
	OtherName string
	Toggles   []string
}

// connections lists the org's connections with the other party's name and the toggles on.
func (d *Dashboard) connections(r *http.Request, org *cleanroom.Org) ([]connectionRow, error) {
	f := cleanroom.ConnectionFilter{Page: cleanroom.Page{Limit: 50}}
	if org.Kind == cleanroom.OrgPublisher {
		f.PublisherID = org.ID
	} else {
		f.PartnerID = org.ID
	}
	conns, _, err := d.store.ListConnections(r.Context(), f)
	if err != nil {
		return nil, err
	}
	rows := make([]connectionRow, 0, len(conns))
	for _, conn := range conns {
		other := conn.PartnerID
		if org.Kind != cleanroom.OrgPublisher {
			other = conn.PublisherID
		}
		o, err := d.store.FindOrg(r.Context(), other)
		if err != nil {
			return nil, err
		}
		p := conn.Permissions
		row := connectionRow{Connection: conn, OtherName: o.Name}
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
	c := p.Caller
	if (c.Org == nil && !c.User.Operator) || c.Role == cleanroom.RoleLimited {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	es, next, err := d.store.ListAudit(r.Context(), cleanroom.AuditFilter{OrgID: c.OrgID(),
		Page: cleanroom.Page{After: r.URL.Query().Get("after"), Limit: 100}})
	if err != nil {
		d.fail(w, err)
		return
	}
	p.Title, p.Data = "Audit log", &auditData{Entries: es, Next: next}
	d.render(w, http.StatusOK, "audit.html", p)
}
