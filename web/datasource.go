package web

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/connections"
	"github.com/cleanroom-oss/cleanroom/imports"
	"github.com/cleanroom-oss/cleanroom/ingest"
)

// maxTaxonomyForm is the largest taxonomy file the dashboard takes (the API's limit).
const maxTaxonomyForm = 32 << 20

// dataSourceData is what a data source's page shows: its facts, segments, latest uploads,
// grants and, for those who manage it, the forms to rename it, upload its taxonomy, grant it and
// delete it (the confirmation lists what is shredded).
type dataSourceData struct {
	DS       *cleanroom.DataSource
	Access   connections.Access
	Manage   bool
	Segments []ingest.Segment
	Uploads  []*cleanroom.Upload
	// Report is the latest finished upload's report (Reported names that upload).
	Report   *cleanroom.UploadReport
	Reported *cleanroom.Upload
	Versions int
	// Refresh is set while an upload is processing (the uploads part refreshes itself).
	Refresh int64
	// PartBytes is the size of the parts the page sends (0: the script's default).
	PartBytes int64
	Grants    []*cleanroom.Grant
	// Grantees are the workspaces the data may be granted to, by name; Names every org's name
	// shown.
	Grantees []orgChoice
	Names    map[string]string
	Now      time.Time
	// Shredded lists what deleting shreds, as the confirmation says it.
	Shredded string
	// Import is the bucket import's card (nil: not shown).
	Import *importStatus

	formState
	// TaxonomyRows are the first bad rows of a refused taxonomy file.
	TaxonomyRows []ingest.RowError
}

var dataSourceFields = map[string]map[string]bool{
	"new":    {"name": true, "description": true},
	"rename": {"name": true, "description": true},
	"grant":  {"grantee_id": true, "expires_at": true},
}

func (d *Dashboard) dataSourceRoutes() {
	d.mux.HandleFunc("POST /data-sources", d.signedIn(d.createDataSource))
	d.mux.HandleFunc("GET /data-sources/{id}", d.signedIn(d.dataSourcePage))
	d.mux.HandleFunc("POST /data-sources/{id}", d.signedIn(d.renameDataSource))
	d.mux.HandleFunc("POST /data-sources/{id}/taxonomy", limitBody(maxTaxonomyForm+64<<10, d.signedIn(d.uploadTaxonomy)))
	d.mux.HandleFunc("POST /data-sources/{id}/grants", d.signedIn(d.createGrant))
	d.mux.HandleFunc("POST /grants/{id}/revoke", d.signedIn(d.revokeGrant))
	d.mux.HandleFunc("POST /data-sources/{id}/delete", d.signedIn(d.deleteDataSource))
}

// limitBody refuses a request body larger than n bytes.
func limitBody(n int64, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, n)
		h(w, r)
	}
}

func (d *Dashboard) createDataSource(w http.ResponseWriter, r *http.Request, p *page) {
	name, desc := strings.TrimSpace(r.PostFormValue("name")), strings.TrimSpace(r.PostFormValue("description"))
	ds, err := d.Connections.CreateDataSource(r.Context(), p.Caller, name, desc)
	if err != nil {
		d.showDataSources(w, r, p, &newDataSourceForm{Name: name, Description: desc, Err: formError(err)}, err)
		return
	}
	e := &cleanroom.AuditEntry{OrgID: ds.OrgID, Action: "data_source.create", TargetType: "data_source", TargetID: ds.ID,
		Details: map[string]any{"via": "dashboard"}}
	if ds.AdvertiserID != "" && ds.AdvertiserID != ds.OrgID {
		e.PartnerOrgID = ds.AdvertiserID
	}
	d.audit(r, e.By(p.Caller))
	http.Redirect(w, r, "/data-sources/"+ds.ID, http.StatusSeeOther)
}

func (d *Dashboard) dataSourcePage(w http.ResponseWriter, r *http.Request, p *page) {
	d.showDataSource(w, r, p, &dataSourceData{}, nil)
}

func (d *Dashboard) showDataSource(w http.ResponseWriter, r *http.Request, p *page, data *dataSourceData, formErr error) {
	ctx, c := r.Context(), p.Caller
	ds, access, _, err := d.Connections.DataSource(ctx, c, idOf(r))
	if err != nil {
		d.showFailure(w, p, err)
		return
	}
	data.DS, data.Access, data.Now, data.Names, data.shown = ds, access, d.now(), map[string]string{}, dataSourceFields
	_, merr := d.Connections.ManagedDataSource(ctx, c, ds.ID)
	data.Manage = merr == nil
	if access != connections.AccessListed {
		tax, _, err := d.Pipeline.DataSourceSegments(ctx, c, ds.ID)
		switch {
		case cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND:
		case err != nil:
			d.showFailure(w, p, err)
			return
		default:
			data.Segments = tax.Segments()
		}
		if data.Uploads, _, err = d.Pipeline.DataSourceUploads(ctx, c, ds.ID, cleanroom.Page{Limit: cleanroom.MaxPageLimit}); err != nil {
			d.showFailure(w, p, err)
			return
		}
		busy := false
		for _, u := range data.Uploads {
			busy = busy || u.State == cleanroom.UploadComplete || u.State == cleanroom.UploadProcessing
		}
		data.Refresh, data.PartBytes = d.refresh(busy), d.UploadPartBytes
		for _, u := range data.Uploads {
			var rep cleanroom.UploadReport
			if len(u.Report) > 0 && json.Unmarshal(u.Report, &rep) == nil {
				data.Report, data.Reported = &rep, u
				break
			}
		}
		vs, err := d.Pipeline.DataSourceVersions(ctx, c, ds.ID)
		if err != nil {
			d.showFailure(w, p, err)
			return
		}
		data.Versions = len(vs)
		data.Import = d.importStatusOf(ctx, c, imports.DataSource(ds.ID))
	}
	gs, _, err := d.Connections.Grants(ctx, c, ds.ID)
	if err != nil {
		d.showFailure(w, p, err)
		return
	}
	data.Grants = gs
	for _, g := range gs {
		if err := d.orgNames(ctx, data.Names, g.GranteeID); err != nil {
			d.showFailure(w, p, err)
			return
		}
	}
	if data.Manage {
		ws, err := d.Connections.Grantees(ctx, c, ds.ID)
		if err != nil {
			d.showFailure(w, p, err)
			return
		}
		for _, o := range ws {
			data.Grantees = append(data.Grantees, orgChoice{ID: o.ID, Name: o.Name, Kind: o.Kind})
		}
	}
	data.Shredded = shredList(data)
	status := http.StatusOK
	if formErr != nil {
		data.Err = formError(formErr)
		status = d.showError(p, formErr)
		p.Error = ""
	}
	p.Title, p.Data = ds.Name, data
	d.render(w, status, "datasource.html", p)
}

// shredList says what deleting the data source shreds.
func shredList(data *dataSourceData) string {
	active := 0
	for _, g := range data.Grants {
		if g.Active(data.Now) {
			active++
		}
	}
	return strings.Join([]string{
		plural(data.Versions, "version") + " of the matched data, with their keys",
		plural(len(data.Uploads), "upload") + " (their files, names, checksums and reports)",
		"the taxonomy (" + plural(len(data.Segments), "segment") + ")",
		plural(len(data.Grants), "grant") + " (" + plural(active, "in force") + ")",
	}, "; ")
}

func plural(n int, what string) string {
	s := strconv.Itoa(n) + " " + what
	if n != 1 && !strings.HasPrefix(what, "in ") {
		s += "s"
	}
	return s
}

func (d *Dashboard) renameDataSource(w http.ResponseWriter, r *http.Request, p *page) {
	name, desc := strings.TrimSpace(r.PostFormValue("name")), strings.TrimSpace(r.PostFormValue("description"))
	ds, err := d.Connections.UpdateDataSource(r.Context(), p.Caller, idOf(r), &name, &desc)
	if err != nil {
		d.showDataSource(w, r, p, &dataSourceData{formState: formState{Form: "rename", Values: map[string]string{"name": name, "description": desc}}}, err)
		return
	}
	d.audit(r, (&cleanroom.AuditEntry{OrgID: ds.OrgID, Action: "data_source.update", TargetType: "data_source", TargetID: ds.ID,
		Details: map[string]any{"via": "dashboard", "name": ds.Name}}).By(p.Caller))
	http.Redirect(w, r, "/data-sources/"+ds.ID, http.StatusSeeOther)
}

func (d *Dashboard) uploadTaxonomy(w http.ResponseWriter, r *http.Request, p *page) {
	data := &dataSourceData{formState: formState{Form: "taxonomy"}}
	f, _, err := r.FormFile("taxonomy")
	if err != nil {
		d.showDataSource(w, r, p, data, cleanroom.Errorf(cleanroom.EINVALID, "Choose the taxonomy file to upload.").With("field", "taxonomy").
			Hint("A CSV file with the columns segment_id and name, one segment a line (at most 32 MiB)."))
		return
	}
	defer f.Close()
	body, err := io.ReadAll(f)
	if err != nil {
		d.showDataSource(w, r, p, data, cleanroom.Errorf(cleanroom.EINVALID, "The taxonomy file could not be read; it may be larger than 32 MiB."))
		return
	}
	tax, rowErrs, err := ingest.ParseTaxonomy(bytes.NewReader(body))
	if err != nil {
		if len(rowErrs) > 0 {
			data.TaxonomyRows = rowErrs[:min(len(rowErrs), 20)]
			err = cleanroom.Errorf(cleanroom.EINVALID, "The taxonomy has %d bad row(s); nothing was changed.", len(rowErrs)).
				Hint("Line %d: %s", rowErrs[0].Line, rowErrs[0].Hint)
		}
		d.showDataSource(w, r, p, data, err)
		return
	}
	ds, err := d.Pipeline.SetDataSourceTaxonomy(r.Context(), p.Caller, idOf(r), tax)
	if err != nil {
		d.showDataSource(w, r, p, data, err)
		return
	}
	d.audit(r, (&cleanroom.AuditEntry{OrgID: ds.OrgID, Action: "data_source.taxonomy.set", TargetType: "data_source", TargetID: ds.ID,
		Details: map[string]any{"via": "dashboard", "segments": tax.Len()}}).By(p.Caller))
	http.Redirect(w, r, "/data-sources/"+ds.ID+"#segments", http.StatusSeeOther)
}

func (d *Dashboard) createGrant(w http.ResponseWriter, r *http.Request, p *page) {
	data := &dataSourceData{formState: submitted(r, "grant", "grantee_id", "expires_at", "allow_matched", "allow_modeled", "allow_insights")}
	req := connections.GrantRequest{GranteeID: data.Values["grantee_id"], AllowMatched: data.Values["allow_matched"] == "on",
		AllowModeled: data.Values["allow_modeled"] == "on", AllowInsights: data.Values["allow_insights"] == "on"}
	var err error
	if v := data.Values["expires_at"]; v != "" {
		var day time.Time
		if day, err = time.Parse("2006-01-02", v); err != nil {
			err = cleanroom.Errorf(cleanroom.EINVALID, "%q is not a date.", v).With("field", "expires_at").Hint("Pick the last day the grant is in force.")
		}
		req.ExpiresAt = day.AddDate(0, 0, 1) // in force through the day chosen (UTC)
	}
	var g *cleanroom.Grant
	if err == nil {
		g, err = d.Connections.CreateGrant(r.Context(), p.Caller, idOf(r), req)
	}
	if err != nil {
		d.showDataSource(w, r, p, data, err)
		return
	}
	details := map[string]any{"via": "dashboard", "data_source_id": g.DataSourceID,
		"uses": map[string]bool{"matched": g.AllowMatched, "modeled": g.AllowModeled, "insights": g.AllowInsights}}
	if !g.ExpiresAt.IsZero() {
		details["expires_at"] = g.ExpiresAt
	}
	d.audit(r, (&cleanroom.AuditEntry{OrgID: p.Caller.OrgID(), PartnerOrgID: g.GranteeID, Action: "grant.create", TargetType: "grant", TargetID: g.ID,
		Details: details}).By(p.Caller))
	d.nudgeCohorts()
	http.Redirect(w, r, "/data-sources/"+g.DataSourceID+"#grants", http.StatusSeeOther)
}

func (d *Dashboard) revokeGrant(w http.ResponseWriter, r *http.Request, p *page) {
	g, err := d.Connections.RevokeGrant(r.Context(), p.Caller, idOf(r))
	if err != nil {
		d.showFailure(w, p, err)
		return
	}
	d.audit(r, (&cleanroom.AuditEntry{OrgID: p.Caller.OrgID(), PartnerOrgID: g.GranteeID, Action: "grant.revoke", TargetType: "grant", TargetID: g.ID,
		Details: map[string]any{"via": "dashboard"}}).By(p.Caller))
	d.nudgeCohorts()
	http.Redirect(w, r, "/data-sources/"+g.DataSourceID+"#grants", http.StatusSeeOther)
}

func (d *Dashboard) deleteDataSource(w http.ResponseWriter, r *http.Request, p *page) {
	ds, n, err := d.Pipeline.UnlinkDataSource(r.Context(), p.Caller, idOf(r))
	if err != nil {
		d.showDataSource(w, r, p, &dataSourceData{formState: formState{Form: "delete"}}, err)
		return
	}
	e := &cleanroom.AuditEntry{OrgID: ds.OrgID, Action: "data_source.unlink", TargetType: "data_source", TargetID: ds.ID,
		Details: map[string]any{"via": "dashboard", "name": ds.Name, "versions_shredded": n}}
	if ds.AdvertiserID != "" && ds.AdvertiserID != ds.OrgID {
		e.PartnerOrgID = ds.AdvertiserID
	}
	d.audit(r, e.By(p.Caller))
	d.nudgeCohorts()
	http.Redirect(w, r, "/data-sources", http.StatusSeeOther)
}

// nudgeCohorts has the cohort refresher look at once for cohorts whose inputs changed.
func (d *Dashboard) nudgeCohorts() {
	if d.Cohorts != nil {
		d.Cohorts.Nudge()
	}
}
