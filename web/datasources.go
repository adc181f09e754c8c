package web

import (
	"encoding/json"
	"net/http"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/connections"
)

// dataSourcesData is what the data sources page shows: each data source with its latest
// uploads, their processing progress and what their reports counted.
type dataSourcesData struct {
	Sources []dataSourceRow
	// Busy is set while an upload is being received or processed; Refresh is then the period
	// the page refreshes itself at.
	Busy    bool
	Refresh int64
	// New is the create form; CanCreate says whether the caller may create one.
	New       *newDataSourceForm
	CanCreate bool
}

type dataSourceRow struct {
	*cleanroom.DataSource
	Access  connections.Access
	Uploads []uploadRow
}

type uploadRow struct {
	*cleanroom.Upload
	// Done and Total are the processing job's progress; Message what it is doing.
	Done, Total int64
	Message     string
	// Read, Accepted and Rejected are the report's row counts.
	Read, Accepted, Rejected int64
	HasReport                bool
}

// uploadsShown is how many of a data source's latest uploads the page lists.
const uploadsShown = 3

// newDataSourceForm is the create form's values and error after a failed attempt.
type newDataSourceForm struct {
	Name, Description string
	Err               *fieldError
}

func (d *Dashboard) dataSourcesPage(w http.ResponseWriter, r *http.Request, p *page) {
	d.showDataSources(w, r, p, &newDataSourceForm{}, nil)
}

func (d *Dashboard) showDataSources(w http.ResponseWriter, r *http.Request, p *page, form *newDataSourceForm, formErr error) {
	c := p.Caller
	if c.Org == nil || c.Org.Kind == cleanroom.OrgPublisher {
		d.errorPage(w, p, http.StatusNotFound, "No data sources here",
			"Data sources live in advertisers' organizations and publishers' demand-side workspaces.",
			"Switch to your demand-side workspace with the selector at the top right.")
		return
	}
	ctx := r.Context()
	dss, access, _, err := d.Connections.DataSources(ctx, c, cleanroom.Page{Limit: 100})
	if err != nil {
		d.fail(w, err)
		return
	}
	data := &dataSourcesData{}
	for i, ds := range dss {
		row := dataSourceRow{DataSource: ds, Access: access[i]}
		if access[i] == connections.AccessListed {
			// An invited advertiser's data not granted to the workspace: its existence only.
			data.Sources = append(data.Sources, row)
			continue
		}
		ups, _, err := d.Pipeline.DataSourceUploads(ctx, c, ds.ID, cleanroom.Page{Limit: uploadsShown})
		if err != nil {
			d.fail(w, err)
			return
		}
		for _, u := range ups {
			ur := uploadRow{Upload: u}
			switch u.State {
			case cleanroom.UploadOpen, cleanroom.UploadComplete, cleanroom.UploadProcessing:
				data.Busy = true
				ur.Done, ur.Total = u.Received, u.Size
				if p := u.Progress; p != nil && p.Total > 0 {
					ur.Done, ur.Total, ur.Message = p.Done, p.Total, p.Message
				}
			}
			var rep cleanroom.UploadReport
			if len(u.Report) > 0 && json.Unmarshal(u.Report, &rep) == nil {
				ur.Read, ur.Accepted, ur.Rejected, ur.HasReport = rep.RowsRead, rep.RowsAccepted, rep.RowsRejected, true
			}
			row.Uploads = append(row.Uploads, ur)
		}
		data.Sources = append(data.Sources, row)
	}
	data.Refresh = d.refresh(data.Busy)
	data.New = form
	data.CanCreate = c.Role == cleanroom.RoleLimited || c.Role.AtLeast(cleanroom.RoleMember)
	status := http.StatusOK
	if formErr != nil {
		status = d.showError(p, formErr)
		if data.CanCreate {
			p.Error = "" // shown in the form
		}
	}
	p.Title, p.Data = "Data sources", data
	d.render(w, status, "datasources.html", p)
}
