package web

import (
	"net/http"

	"github.com/cleanroom-oss/cleanroom"
)

// overviewData is what the overview page shows: the org's settings, people, tokens, jobs and
// latest audit entries; for an operator acting in no org, every org.
type overviewData struct {
	Org     *cleanroom.Org
	Members []*cleanroom.Member
	Tokens  []*cleanroom.Token
	Jobs    []*cleanroom.Job
	Audit   []*cleanroom.AuditEntry
	AllOrgs []*cleanroom.Org
}

func (d *Dashboard) overview(w http.ResponseWriter, r *http.Request, p *page) {
	ctx := r.Context()
	c := p.Caller
	data := &overviewData{Org: c.Org}
	first := cleanroom.Page{Limit: 20}
	var err error
	if c.Org == nil {
		if c.User.Operator {
			data.AllOrgs, _, err = d.store.ListOrgs(ctx, cleanroom.Page{Limit: 100})
		}
	} else {
		data.Members, _, err = d.store.ListMembers(ctx, c.Org.ID, first)
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
	d.render(w, http.StatusOK, "overview.html", p)
}

type auditData struct {
	Entries []*cleanroom.AuditEntry
	Next    string
}

func (d *Dashboard) auditPage(w http.ResponseWriter, r *http.Request, p *page) {
	c := p.Caller
	if c.Org == nil && !c.User.Operator {
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
