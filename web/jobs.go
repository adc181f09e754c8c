package web

import (
	"net/http"
	"strconv"

	"github.com/cleanroom-oss/cleanroom"
)

// jobsData is what the Jobs page shows: the org's jobs (every org's for an operator acting in
// none), newest first, filtered by state and kind; while any is queued or running the page
// refreshes that table in place.
type jobsData struct {
	Jobs        []*cleanroom.Job
	Orgs        map[string]string
	AllOrgs     bool
	State, Kind string
	States      []cleanroom.JobState
	Next        string
	CanCancel   bool
	Busy        bool
	Refresh     int64
	FilterError string
}

func (d *Dashboard) jobsRoutes() {
	d.mux.HandleFunc("GET /jobs", d.signedIn(d.jobsPage))
	d.mux.HandleFunc("POST /jobs/{id}/cancel", d.signedIn(d.cancelJob))
}

func (d *Dashboard) jobsPage(w http.ResponseWriter, r *http.Request, p *page) {
	d.showJobs(w, r, p, nil)
}

func (d *Dashboard) showJobs(w http.ResponseWriter, r *http.Request, p *page, actionErr error) {
	ctx, c, q := r.Context(), p.Caller, r.URL.Query()
	data := &jobsData{State: q.Get("state"), Kind: q.Get("kind"), States: cleanroom.JobStates, Orgs: map[string]string{}}
	f := cleanroom.JobFilter{Kind: data.Kind, State: cleanroom.JobState(data.State), Page: cleanroom.Page{After: q.Get("after"), Limit: 50}}
	data.AllOrgs = c.Org == nil && c.Operator()
	list := d.Jobs.List
	if data.AllOrgs {
		list = d.Jobs.ListAll
	}
	var err error
	data.Jobs, data.Next, err = list(ctx, c, f)
	if cleanroom.ErrorCode(err) == cleanroom.EINVALID {
		data.FilterError = cleanroom.ErrorText(err)
		f.State, data.State = "", ""
		data.Jobs, data.Next, err = list(ctx, c, f)
	}
	if err != nil {
		d.showFailure(w, p, err)
		return
	}
	for _, j := range data.Jobs {
		data.Busy = data.Busy || j.State == cleanroom.JobQueued || j.State == cleanroom.JobRunning
		if data.AllOrgs && j.OrgID != "" {
			if err := d.orgNames(ctx, data.Orgs, j.OrgID); err != nil {
				d.showFailure(w, p, err)
				return
			}
		}
	}
	data.CanCancel = c.Org != nil && c.Role.AtLeast(cleanroom.RoleMember)
	data.Refresh = d.refresh(data.Busy)
	status := http.StatusOK
	if actionErr != nil {
		status = d.showError(p, actionErr)
	}
	p.Title, p.Data = "Jobs", data
	d.render(w, status, "jobs.html", p)
}

func (d *Dashboard) cancelJob(w http.ResponseWriter, r *http.Request, p *page) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		id = -1
	}
	j, err := d.Jobs.Cancel(r.Context(), p.Caller, id)
	if err != nil {
		d.showJobs(w, r, p, err)
		return
	}
	d.audit(r, (&cleanroom.AuditEntry{OrgID: j.OrgID, Action: "job.cancel", TargetType: "job", TargetID: strconv.FormatInt(j.ID, 10),
		Details: map[string]any{"via": "dashboard"}}).By(p.Caller))
	http.Redirect(w, r, "/jobs", http.StatusSeeOther)
}
