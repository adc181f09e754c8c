package web

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/imports"
	"github.com/cleanroom-oss/cleanroom/pipeline"
	"github.com/cleanroom-oss/cleanroom/pubsync"
	"github.com/cleanroom-oss/cleanroom/uploads"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// maxProfileForm is the largest profile file the page takes; larger ones go through the API's
// resumable uploads (or cleanroom upload).
const maxProfileForm = 1 << 30

// audienceData is what a publisher's Audience page shows: its cohort taxonomy, the versions of
// its audience, its latest syncs with their reports, and its erasure requests.
type audienceData struct {
	Cohorts  []vault.CohortInfo
	Versions []*cleanroom.Version
	Uploads  []audienceUpload
	Erasures []*cleanroom.Job
	CanWrite bool
	Refresh  int64
	// Import is the bucket import's card (nil: not shown).
	Import *importStatus

	Form         string
	Err          *fieldError
	TaxonomyRows []pubsync.RowError
	ErasureIDs   string
}

type audienceUpload struct {
	*cleanroom.Upload
	Report *cleanroom.UploadReport
}

// ErrorOn returns form's error.
func (a *audienceData) ErrorOn(form string) string {
	if a.Form != form || a.Err == nil {
		return ""
	}
	return a.Err.Text
}

func (d *Dashboard) audienceRoutes() {
	d.mux.HandleFunc("GET /audience", d.signedIn(d.audiencePage))
	d.mux.HandleFunc("POST /audience/taxonomy", limitBody(maxTaxonomyForm+64<<10, d.signedIn(d.audienceTaxonomy)))
	d.mux.HandleFunc("POST /audience/uploads", limitBody(maxProfileForm+1<<20, d.signedIn(d.audienceUpload)))
	d.mux.HandleFunc("POST /audience/erasures", d.signedIn(d.audienceErasures))
}

func (d *Dashboard) audiencePage(w http.ResponseWriter, r *http.Request, p *page) {
	d.showAudience(w, r, p, &audienceData{}, nil)
}

func (d *Dashboard) showAudience(w http.ResponseWriter, r *http.Request, p *page, data *audienceData, formErr error) {
	ctx, c := r.Context(), p.Caller
	if c.Org == nil || c.Org.Kind != cleanroom.OrgPublisher {
		d.errorPage(w, p, http.StatusNotFound, "No audience here", "A publisher's audience is kept in its supply-side organization.",
			"Switch to the publisher's organization with the selector at the top right.")
		return
	}
	tax, err := d.Pipeline.PublisherTaxonomyOf(ctx, c)
	switch {
	case cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND:
		err = nil
	case err == nil:
		data.Cohorts = tax.Cohorts()
	}
	if err == nil {
		data.Versions, err = d.Pipeline.PublisherVersions(ctx, c)
	}
	var ups []*cleanroom.Upload
	if err == nil {
		ups, _, err = d.Pipeline.PublisherUploads(ctx, c, cleanroom.Page{Limit: 10})
	}
	if err == nil {
		data.Erasures, _, err = d.Jobs.List(ctx, c, cleanroom.JobFilter{Kind: "publisher.erasures", Page: cleanroom.Page{Limit: 10}})
	}
	if err != nil {
		d.showFailure(w, p, err)
		return
	}
	busy := false
	for _, u := range ups {
		au := audienceUpload{Upload: u}
		var rep cleanroom.UploadReport
		if len(u.Report) > 0 && json.Unmarshal(u.Report, &rep) == nil {
			au.Report = &rep
		}
		busy = busy || u.State == cleanroom.UploadComplete || u.State == cleanroom.UploadProcessing
		data.Uploads = append(data.Uploads, au)
	}
	for _, j := range data.Erasures {
		busy = busy || j.State == cleanroom.JobQueued || j.State == cleanroom.JobRunning
	}
	data.Refresh = d.refresh(busy)
	data.CanWrite = c.Role.AtLeast(cleanroom.RoleMember) && c.Org.CleanRoomEnabled()
	data.Import = d.importStatusOf(ctx, c, imports.Publisher())
	status := http.StatusOK
	if formErr != nil {
		data.Err = formError(formErr)
		status = d.showError(p, formErr)
		if data.CanWrite {
			p.Error = ""
		}
	}
	p.Title, p.Data = "Audience", data
	d.render(w, status, "audience.html", p)
}

func (d *Dashboard) audienceTaxonomy(w http.ResponseWriter, r *http.Request, p *page) {
	data := &audienceData{Form: "taxonomy"}
	f, _, err := r.FormFile("taxonomy")
	if err != nil {
		d.showAudience(w, r, p, data, cleanroom.Errorf(cleanroom.EINVALID, "Choose the cohort taxonomy file to upload.").
			Hint("A CSV file with the columns cohort_id, name, iab_id and standard."))
		return
	}
	defer f.Close()
	body, err := io.ReadAll(f)
	if err != nil {
		d.showAudience(w, r, p, data, cleanroom.Errorf(cleanroom.EINVALID, "The taxonomy file could not be read; it may be larger than 32 MiB."))
		return
	}
	tax, rowErrs, err := pubsync.ParseTaxonomy(bytes.NewReader(body))
	if err != nil {
		if len(rowErrs) > 0 {
			data.TaxonomyRows = rowErrs[:min(len(rowErrs), 20)]
			err = cleanroom.Errorf(cleanroom.EINVALID, "The cohort taxonomy has %d bad row(s); nothing was changed.", len(rowErrs)).
				Hint("Line %d: %s", rowErrs[0].Line, rowErrs[0].Hint)
		}
		d.showAudience(w, r, p, data, err)
		return
	}
	if err := d.Pipeline.SetPublisherTaxonomy(r.Context(), p.Caller, tax); err != nil {
		d.showAudience(w, r, p, data, err)
		return
	}
	d.audit(r, (&cleanroom.AuditEntry{OrgID: p.Caller.OrgID(), Action: "publisher.taxonomy.set", TargetType: "org", TargetID: p.Caller.OrgID(),
		Details: map[string]any{"via": "dashboard", "cohorts": tax.Len()}}).By(p.Caller))
	http.Redirect(w, r, "/audience#taxonomy", http.StatusSeeOther)
}

// audienceUpload sends a profile file (hashed identifiers already, see docs/FORMATS.md) through
// the upload service in parts and queues its sync.
func (d *Dashboard) audienceUpload(w http.ResponseWriter, r *http.Request, p *page) {
	ctx, c := r.Context(), p.Caller
	data := &audienceData{Form: "profiles"}
	f, hdr, err := r.FormFile("profiles")
	if err != nil {
		d.showAudience(w, r, p, data, cleanroom.Errorf(cleanroom.EINVALID, "Choose the profile file to upload.").
			Hint("Files over 1 GiB go through cleanroom upload or the API's resumable uploads."))
		return
	}
	defer f.Close()
	up, err := d.Pipeline.BeginPublisherUpload(ctx, c, uploads.Spec{Name: hdr.Filename, Size: hdr.Size, ConfirmDrop: r.PostFormValue("confirm_drop") == "on"})
	for off := int64(0); err == nil && off < hdr.Size; {
		n := min(d.Pipeline.Uploads.MaxPartBytes, hdr.Size-off)
		if up, err = d.Pipeline.WritePart(ctx, c, up.ID, off, io.LimitReader(f, n), ""); err == nil {
			off = up.Received
		}
	}
	if err == nil {
		up, err = d.Pipeline.Complete(ctx, c, up.ID)
	}
	if err != nil {
		d.showAudience(w, r, p, data, err)
		return
	}
	d.audit(r, (&cleanroom.AuditEntry{OrgID: c.OrgID(), Action: "upload.complete", TargetType: "upload", TargetID: up.ID,
		Details: map[string]any{"via": "dashboard", "target": "publisher"}}).By(c))
	http.Redirect(w, r, "/audience#syncs", http.StatusSeeOther)
}

func (d *Dashboard) audienceErasures(w http.ResponseWriter, r *http.Request, p *page) {
	text := r.PostFormValue("user_ids")
	data := &audienceData{Form: "erasures", ErasureIDs: text}
	var ids []string
	for _, id := range strings.FieldsFunc(text, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' }) {
		if id = strings.TrimSpace(id); id != "" {
			ids = append(ids, id)
		}
	}
	j, err := d.Pipeline.RequestErasures(r.Context(), p.Caller, pipeline.ErasureRequest{UserIDs: ids})
	if err != nil {
		d.showAudience(w, r, p, data, err)
		return
	}
	d.audit(r, (&cleanroom.AuditEntry{OrgID: p.Caller.OrgID(), Action: "publisher.users.erase", TargetType: "org", TargetID: p.Caller.OrgID(),
		Details: map[string]any{"via": "dashboard", "requested": len(ids), "job_id": strconv.FormatInt(j.ID, 10)}}).By(p.Caller))
	http.Redirect(w, r, "/audience#erasures", http.StatusSeeOther)
}
