package web

import (
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/accounts"
	"github.com/cleanroom-oss/cleanroom/activation"
	"github.com/cleanroom-oss/cleanroom/uploads"
)

// maxBridgeForm is the largest bridge mapping file the page takes; larger ones go through the
// API's resumable uploads.
const maxBridgeForm = 1 << 30

// operatorData is what the operator's page shows: every organization with its onboarding steps,
// provisional access, identity bridges with their uploads, and the deployment's health.
type operatorData struct {
	Orgs        []*cleanroom.Org
	Publishers  []*cleanroom.Org // with the clean room enabled
	Names       map[string]string
	Provisional []*cleanroom.ProvisionalAccess
	Bridges     []bridgeRow
	Health      *accounts.Health
	JobStates   []cleanroom.JobState
	JobKinds    []jobCountRow
	Now         time.Time
	// Snapshots are the publishers' edge snapshots; This the process serving the page.
	Snapshots []activation.SnapshotState
	This      Process

	formState
}

type bridgeRow struct {
	*cleanroom.Bridge
	Versions int
	Uploads  []*cleanroom.Upload
}

type jobCountRow struct {
	Kind   string
	Counts []int
}

func (d *Dashboard) operatorRoutes() {
	d.mux.HandleFunc("GET /operator", d.signedIn(d.operatorPage))
	d.mux.HandleFunc("POST /operator/orgs", d.signedIn(d.operatorCreateOrg))
	d.mux.HandleFunc("POST /operator/orgs/{id}/clean-room", d.signedIn(d.operatorEnableCleanRoom))
	d.mux.HandleFunc("POST /operator/orgs/{id}/dpa", d.signedIn(d.operatorRecordDPA))
	d.mux.HandleFunc("POST /operator/people", d.signedIn(d.operatorAddPerson))
	d.mux.HandleFunc("POST /operator/provisional-access", d.signedIn(d.operatorGrantProvisional))
	d.mux.HandleFunc("POST /operator/bridges", d.signedIn(d.operatorRegisterBridge))
	d.mux.HandleFunc("POST /operator/bridges/{id}/uploads", limitBody(maxBridgeForm+1<<20, d.signedIn(d.operatorBridgeUpload)))
}

func (d *Dashboard) operatorPage(w http.ResponseWriter, r *http.Request, p *page) {
	d.showOperator(w, r, p, &operatorData{}, nil)
}

func (d *Dashboard) showOperator(w http.ResponseWriter, r *http.Request, p *page, data *operatorData, formErr error) {
	ctx, c := r.Context(), p.Caller
	if !c.Operator() {
		d.notFound(w, r)
		return
	}
	data.Names, data.Now, data.JobStates = map[string]string{}, d.now(), cleanroom.JobStates
	var err error
	for page := (cleanroom.Page{Limit: cleanroom.MaxPageLimit}); err == nil; {
		var os []*cleanroom.Org
		var next string
		if os, next, err = d.Accounts.Orgs(ctx, c, page); err != nil {
			break
		}
		data.Orgs = append(data.Orgs, os...)
		if next == "" {
			break
		}
		page.After = next
	}
	for _, o := range data.Orgs {
		data.Names[o.ID] = o.Name
		if o.Kind == cleanroom.OrgPublisher && o.CleanRoomEnabled() {
			data.Publishers = append(data.Publishers, o)
		}
	}
	if err == nil {
		data.Provisional, err = d.Connections.ProvisionalAccess(ctx, c, "")
	}
	for _, pub := range data.Publishers {
		if err != nil {
			break
		}
		var bs []*cleanroom.Bridge
		if bs, err = d.Pipeline.PublisherBridgesOf(ctx, c, pub.ID); err != nil {
			break
		}
		for _, b := range bs {
			row := bridgeRow{Bridge: b}
			var vs []*cleanroom.Version
			if vs, err = d.Pipeline.BridgeVersions(ctx, c, b); err != nil {
				break
			}
			row.Versions = len(vs)
			if row.Uploads, _, err = d.Pipeline.BridgeUploads(ctx, c, b.ID, cleanroom.Page{Limit: 5}); err != nil {
				break
			}
			data.Bridges = append(data.Bridges, row)
		}
	}
	if err == nil {
		data.Health, err = d.Accounts.DeploymentHealth(ctx, c)
	}
	var counts map[string]map[cleanroom.JobState]int
	if err == nil {
		counts, err = d.Jobs.Counts(ctx, c)
	}
	if err == nil && d.Activation != nil {
		data.Snapshots, err = d.Activation.Snapshots(ctx, c)
	}
	data.This = d.Process
	if err != nil {
		d.showFailure(w, p, err)
		return
	}
	for kind, byState := range counts {
		row := jobCountRow{Kind: kind}
		for _, st := range cleanroom.JobStates {
			row.Counts = append(row.Counts, byState[st])
		}
		data.JobKinds = append(data.JobKinds, row)
	}
	sort.Slice(data.JobKinds, func(i, j int) bool { return data.JobKinds[i].Kind < data.JobKinds[j].Kind })
	status := http.StatusOK
	if formErr != nil {
		data.Err = formError(formErr)
		status = d.showError(p, formErr)
		p.Error = ""
	}
	p.Title, p.Data = "Operator", data
	d.render(w, status, "operator.html", p)
}

// operatorForm returns a form's state: its name and its fields' values.
func operatorForm(r *http.Request, name string, fields ...string) *operatorData {
	return &operatorData{formState: submitted(r, name, fields...)}
}

func (d *Dashboard) operatorCreateOrg(w http.ResponseWriter, r *http.Request, p *page) {
	data := operatorForm(r, "org", "name", "kind")
	o, err := d.Accounts.OperatorCreateOrg(r.Context(), p.Caller, data.Values["name"], cleanroom.OrgKind(data.Values["kind"]))
	if err != nil {
		d.showOperator(w, r, p, data, err)
		return
	}
	d.audit(r, (&cleanroom.AuditEntry{OrgID: o.ID, Action: "org.create", TargetType: "org", TargetID: o.ID,
		Details: map[string]any{"via": "dashboard", "kind": o.Kind}}).By(p.Caller))
	http.Redirect(w, r, "/operator#org-"+o.ID, http.StatusSeeOther)
}

func (d *Dashboard) operatorEnableCleanRoom(w http.ResponseWriter, r *http.Request, p *page) {
	o, err := d.Accounts.OperatorEnableCleanRoom(r.Context(), p.Caller, idOf(r))
	if err != nil {
		d.showOperator(w, r, p, &operatorData{formState: formState{Form: "orgs"}}, err)
		return
	}
	details := map[string]any{"via": "dashboard"}
	if o.DemandSideID != "" {
		details["demand_side_id"] = o.DemandSideID
	}
	d.audit(r, (&cleanroom.AuditEntry{OrgID: o.ID, Action: "org.clean_room.enable", TargetType: "org", TargetID: o.ID, Details: details}).By(p.Caller))
	http.Redirect(w, r, "/operator#org-"+o.ID, http.StatusSeeOther)
}

func (d *Dashboard) operatorRecordDPA(w http.ResponseWriter, r *http.Request, p *page) {
	var signed time.Time
	var err error
	if v := strings.TrimSpace(r.PostFormValue("signed_at")); v != "" {
		if signed, err = time.Parse("2006-01-02", v); err != nil {
			err = cleanroom.Errorf(cleanroom.EINVALID, "%q is not a date.", v).Hint("Pick the day the agreement was signed.")
		}
	}
	var o *cleanroom.Org
	if err == nil {
		o, err = d.Accounts.OperatorRecordDPA(r.Context(), p.Caller, idOf(r), signed)
	}
	if err != nil {
		d.showOperator(w, r, p, &operatorData{formState: formState{Form: "orgs"}}, err)
		return
	}
	d.audit(r, (&cleanroom.AuditEntry{OrgID: o.ID, Action: "org.dpa.record", TargetType: "org", TargetID: o.ID,
		Details: map[string]any{"via": "dashboard", "signed_at": o.DPASignedAt}}).By(p.Caller))
	http.Redirect(w, r, "/operator#org-"+o.ID, http.StatusSeeOther)
}

func (d *Dashboard) operatorAddPerson(w http.ResponseWriter, r *http.Request, p *page) {
	data := operatorForm(r, "person", "org_id", "email", "name", "role")
	m, _, err := d.Accounts.OperatorAddMember(r.Context(), p.Caller, data.Values["org_id"], accounts.NewUser{Email: data.Values["email"],
		Name: data.Values["name"], Password: r.PostFormValue("password"), Role: cleanroom.Role(data.Values["role"])})
	if err != nil {
		d.showOperator(w, r, p, data, err)
		return
	}
	d.audit(r, (&cleanroom.AuditEntry{OrgID: data.Values["org_id"], Action: "user.add", TargetType: "user", TargetID: m.ID,
		Details: map[string]any{"via": "dashboard", "role": m.Role}}).By(p.Caller))
	http.Redirect(w, r, "/operator#org-"+data.Values["org_id"], http.StatusSeeOther)
}

func (d *Dashboard) operatorGrantProvisional(w http.ResponseWriter, r *http.Request, p *page) {
	data := operatorForm(r, "provisional", "org_id", "publisher_id", "expires_at", "reason")
	var expires time.Time
	var err error
	if expires, err = time.Parse("2006-01-02", data.Values["expires_at"]); err != nil {
		err = cleanroom.Errorf(cleanroom.EINVALID, "Choose the last day of the provisional access.").With("field", "expires_at")
	}
	var pa *cleanroom.ProvisionalAccess
	if err == nil {
		pa, err = d.Connections.GrantProvisional(r.Context(), p.Caller, data.Values["org_id"], data.Values["publisher_id"], expires.AddDate(0, 0, 1), data.Values["reason"])
	}
	if err != nil {
		d.showOperator(w, r, p, data, err)
		return
	}
	d.audit(r, (&cleanroom.AuditEntry{OrgID: pa.PublisherID, PartnerOrgID: pa.OrgID, Action: "provisional_access.grant", TargetType: "provisional_access",
		TargetID: pa.ID, Details: map[string]any{"via": "dashboard", "expires_at": pa.ExpiresAt}}).By(p.Caller))
	http.Redirect(w, r, "/operator#provisional", http.StatusSeeOther)
}

func (d *Dashboard) operatorRegisterBridge(w http.ResponseWriter, r *http.Request, p *page) {
	data := operatorForm(r, "bridge", "name", "publisher_id", "tags")
	var tags []string
	for _, t := range strings.FieldsFunc(data.Values["tags"], func(r rune) bool { return r == ',' || r == ' ' }) {
		tags = append(tags, t)
	}
	b, err := d.Pipeline.RegisterPublisherBridge(r.Context(), p.Caller, data.Values["name"], data.Values["publisher_id"], tags)
	if err != nil {
		d.showOperator(w, r, p, data, err)
		return
	}
	d.audit(r, (&cleanroom.AuditEntry{OrgID: b.PublisherID, Action: "bridge.register", TargetType: "bridge", TargetID: b.ID,
		Details: map[string]any{"via": "dashboard", "name": b.Name}}).By(p.Caller))
	http.Redirect(w, r, "/operator#bridges", http.StatusSeeOther)
}

// operatorBridgeUpload sends a bridge mapping file (hashed identifiers already) through the
// upload service in parts, and queues its processing.
func (d *Dashboard) operatorBridgeUpload(w http.ResponseWriter, r *http.Request, p *page) {
	ctx, c := r.Context(), p.Caller
	data := &operatorData{formState: formState{Form: "bridge-upload:" + r.PathValue("id")}}
	f, hdr, err := r.FormFile("mapping")
	if err != nil {
		d.showOperator(w, r, p, data, cleanroom.Errorf(cleanroom.EINVALID, "Choose the mapping file to upload.").
			Hint("Files over 1 GiB go through the API: POST /v1/admin/bridges/{id}/uploads."))
		return
	}
	defer f.Close()
	up, b, err := d.Pipeline.BeginBridgeUpload(ctx, c, idOf(r), uploads.Spec{Name: hdr.Filename, Size: hdr.Size})
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
		d.showOperator(w, r, p, data, err)
		return
	}
	d.audit(r, (&cleanroom.AuditEntry{OrgID: b.PublisherID, Action: "upload.complete", TargetType: "upload", TargetID: up.ID,
		Details: map[string]any{"via": "dashboard", "bridge_id": b.ID}}).By(c))
	http.Redirect(w, r, "/operator#bridges", http.StatusSeeOther)
}
