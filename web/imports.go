package web

import (
	"context"
	"net/http"
	"strconv"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/imports"
)

// importData is what a bucket import's page shows: the import source (never its secret), its last
// check and error, the form to set it up, run it now or remove it (for those who may), and the
// objects it took in with their uploads.
type importData struct {
	// Base is the page's path (/data-sources/<id>/import or /audience/import); Back and BackName
	// the page it belongs to.
	Base, Back, BackName string
	Source               *cleanroom.ImportSource
	Objects              []*cleanroom.ImportedObject
	CanWrite             bool
	// Refresh is set while an import or an imported upload is under way.
	Refresh int64
	// Queued says a run was just queued.
	Queued bool
	formState
}

// importStatus is the small card of the data source and audience pages: where the files come
// from and the last error, with a link to the import's page. Nil when the caller may not see it.
type importStatus struct {
	Link   string
	Source *cleanroom.ImportSource
}

var importFields = map[string]map[string]bool{
	"import": {"endpoint": true, "bucket": true, "prefix": true, "region": true, "access_key_id": true, "secret_access_key": true,
		"schedule": true, "max_error_rate": true},
}

func (d *Dashboard) importRoutes() {
	for _, base := range []string{"/data-sources/{id}/import", "/audience/import"} {
		d.mux.HandleFunc("GET "+base, d.signedIn(d.importPage))
		d.mux.HandleFunc("POST "+base, d.signedIn(d.saveImport))
		d.mux.HandleFunc("POST "+base+"/run", d.signedIn(d.runImport))
		d.mux.HandleFunc("POST "+base+"/delete", d.signedIn(d.deleteImport))
	}
}

// importTarget is the request's import target: the {id} data source, or the caller's audience.
func importTarget(r *http.Request) (imports.Target, string) {
	if id := r.PathValue("id"); id != "" {
		return imports.DataSource(id), "/data-sources/" + id + "/import"
	}
	return imports.Publisher(), "/audience/import"
}

// importStatusOf returns the card's state for a target, nil when the deployment has no imports
// or the caller does not see the target's import.
func (d *Dashboard) importStatusOf(ctx context.Context, c *cleanroom.Caller, t imports.Target) *importStatus {
	if d.Imports == nil {
		return nil
	}
	link := "/audience/import"
	if t.Kind == cleanroom.UploadDataSource {
		link = "/data-sources/" + t.ID + "/import"
	}
	src, err := d.Imports.Source(ctx, c, t)
	switch cleanroom.ErrorCode(err) {
	case "":
		return &importStatus{Link: link, Source: src}
	case cleanroom.ENOTFOUND:
		return &importStatus{Link: link}
	}
	return nil
}

func (d *Dashboard) importPage(w http.ResponseWriter, r *http.Request, p *page) {
	d.showImport(w, r, p, &importData{Queued: r.URL.Query().Get("queued") == "1"}, nil)
}

func (d *Dashboard) showImport(w http.ResponseWriter, r *http.Request, p *page, data *importData, formErr error) {
	ctx, c := r.Context(), p.Caller
	if d.Imports == nil {
		d.notFound(w, r)
		return
	}
	t, base := importTarget(r)
	data.Base, data.shown = base, importFields
	if t.Kind == cleanroom.UploadDataSource {
		ds, _, _, err := d.Connections.DataSource(ctx, c, t.ID)
		if err != nil {
			d.showFailure(w, p, err)
			return
		}
		data.Back, data.BackName = "/data-sources/"+ds.ID, ds.Name
		_, merr := d.Connections.ManagedDataSource(ctx, c, ds.ID)
		data.CanWrite = merr == nil
	} else {
		data.Back, data.BackName = "/audience", "Audience"
		data.CanWrite = c.InOrg(cleanroom.RoleMember) == nil
	}
	src, err := d.Imports.Source(ctx, c, t)
	switch {
	case cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND:
		// None set up yet: the target itself was found above (for the audience, Source refuses
		// anyone outside a publisher with EFORBIDDEN).
	case err != nil:
		d.showFailure(w, p, err)
		return
	default:
		data.Source = src
		if data.Objects, _, err = d.Imports.Objects(ctx, c, t, cleanroom.Page{Limit: 100}); err != nil {
			d.showFailure(w, p, err)
			return
		}
	}
	busy := data.Queued
	for _, o := range data.Objects {
		busy = busy || (o.Upload != nil && (o.Upload.State == cleanroom.UploadOpen || o.Upload.State == cleanroom.UploadComplete || o.Upload.State == cleanroom.UploadProcessing))
	}
	data.Refresh = d.refresh(busy)
	status := http.StatusOK
	if formErr != nil {
		data.Err = formError(formErr)
		status = d.showError(p, formErr)
		p.Error = ""
	}
	p.Title, p.Data = "Import from a bucket · "+data.BackName, data
	d.render(w, status, "imports.html", p)
}

// auditImport records a dashboard change of an import, as the API does (never the credentials).
func (d *Dashboard) auditImport(r *http.Request, p *page, action string, src *cleanroom.ImportSource, details map[string]any) {
	e := &cleanroom.AuditEntry{OrgID: src.OrgID, Action: action, TargetType: "data_source", TargetID: src.TargetID, Details: details}
	if src.Target == cleanroom.UploadPublisher {
		e.TargetType = "org"
		e.Action = "publisher." + action
	} else {
		e.Action = "data_source." + action
	}
	details["via"], details["import_source_id"] = "dashboard", src.ID
	d.audit(r, e.By(p.Caller))
}

func (d *Dashboard) saveImport(w http.ResponseWriter, r *http.Request, p *page) {
	if d.Imports == nil {
		d.notFound(w, r)
		return
	}
	t, base := importTarget(r)
	form := submitted(r, "import", "endpoint", "bucket", "prefix", "region", "access_key_id", "schedule", "max_error_rate")
	form.Values["enabled"] = r.PostFormValue("enabled")
	data := &importData{formState: form}
	st := imports.Settings{Endpoint: form.Values["endpoint"], Bucket: form.Values["bucket"], Prefix: form.Values["prefix"],
		Region: form.Values["region"], AccessKeyID: form.Values["access_key_id"], Schedule: cleanroom.ImportSchedule(form.Values["schedule"])}
	if secret := r.PostFormValue("secret_access_key"); secret != "" {
		st.SecretAccessKey = &secret // never echoed back into the form
	}
	enabled := form.Values["enabled"] == "on"
	st.Enabled = &enabled
	if v := form.Values["max_error_rate"]; v != "" {
		rate, err := strconv.ParseFloat(v, 64)
		if err != nil {
			d.showImport(w, r, p, data, cleanroom.Errorf(cleanroom.EINVALID, "%q is not a share such as 0.05.", v).With("field", "max_error_rate"))
			return
		}
		st.MaxErrorRate = rate
	}
	src, err := d.Imports.Put(r.Context(), p.Caller, t, st)
	if err != nil {
		d.showImport(w, r, p, data, err)
		return
	}
	d.auditImport(r, p, "import_source.set", src, map[string]any{"endpoint": src.Endpoint, "bucket": src.Bucket, "prefix": src.Prefix,
		"schedule": src.Schedule, "enabled": src.Enabled, "secret_changed": st.SecretAccessKey != nil})
	http.Redirect(w, r, base, http.StatusSeeOther)
}

func (d *Dashboard) runImport(w http.ResponseWriter, r *http.Request, p *page) {
	if d.Imports == nil {
		d.notFound(w, r)
		return
	}
	t, base := importTarget(r)
	j, src, err := d.Imports.Run(r.Context(), p.Caller, t)
	if err != nil {
		d.showImport(w, r, p, &importData{formState: formState{Form: "run"}}, err)
		return
	}
	d.auditImport(r, p, "import.run", src, map[string]any{"job_id": j.ID})
	http.Redirect(w, r, base+"?queued=1", http.StatusSeeOther)
}

func (d *Dashboard) deleteImport(w http.ResponseWriter, r *http.Request, p *page) {
	if d.Imports == nil {
		d.notFound(w, r)
		return
	}
	t, base := importTarget(r)
	src, err := d.Imports.Delete(r.Context(), p.Caller, t)
	if err != nil {
		d.showImport(w, r, p, &importData{formState: formState{Form: "delete"}}, err)
		return
	}
	d.auditImport(r, p, "import_source.delete", src, map[string]any{})
	http.Redirect(w, r, base, http.StatusSeeOther)
}
