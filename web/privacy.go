package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/disclosure"
)

// privacyData is the privacy settings page of one connection.
type privacyData struct {
	*disclosure.SettingsView
	PartnerName string
	CanEdit     bool
	// Form holds what was typed when a change failed, Err its error when it concerns a field.
	Form disclosure.Change
	Err  *fieldError
}

// privacyFields are the fields of the settings form, which show their errors beside themselves.
var privacyFields = map[string]bool{"k": true, "epsilon": true, "budget": true, "period": true}

// ErrorOn returns the failed change's error when it concerns field.
func (d *privacyData) ErrorOn(field string) string { return d.Err.On(field) }

// privacyPage shows a connection's privacy settings: the deployment's floor, each party's own,
// those in force, and the caller's party's budget left.
func (d *Dashboard) privacyPage(w http.ResponseWriter, r *http.Request, p *page) {
	d.showPrivacy(w, r, p, nil, nil)
}

func (d *Dashboard) showPrivacy(w http.ResponseWriter, r *http.Request, p *page, form *disclosure.Change, changeErr error) {
	if d.Privacy == nil || p.Caller.Org == nil {
		d.notFound(w, r)
		return
	}
	ctx := r.Context()
	v, err := d.Privacy.Settings(ctx, d.Connections, p.Caller, r.PathValue("id"))
	switch cleanroom.ErrorCode(err) {
	case "":
	case cleanroom.ENOTFOUND, cleanroom.EFORBIDDEN:
		d.notFound(w, r)
		return
	default:
		d.fail(w, err)
		return
	}
	data := &privacyData{SettingsView: v, PartnerName: v.Partner.PartyID, CanEdit: p.Caller.Role == cleanroom.RoleAdmin}
	names := map[string]string{}
	if err := d.orgNames(ctx, names, v.Partner.PartyID); err != nil {
		d.fail(w, err)
		return
	}
	if n, ok := names[v.Partner.PartyID]; ok {
		data.PartnerName = n
	}
	if form != nil {
		data.Form = *form
	} else {
		data.Form = disclosure.Change{K: v.Yours.K, Epsilon: v.Yours.Epsilon, Budget: v.Yours.Budget, Period: v.Yours.Period}
	}
	p.Title, p.Data = "Privacy settings", data
	status := http.StatusOK
	if changeErr != nil {
		status = d.showError(p, changeErr)
		if fe := formError(changeErr); privacyFields[fe.Field] {
			data.Err, p.Error = fe, ""
		}
	}
	d.render(w, status, "privacy.html", p)
}

// changePrivacy saves the caller's party's settings (admins; the service decides).
func (d *Dashboard) changePrivacy(w http.ResponseWriter, r *http.Request, p *page) {
	if d.Privacy == nil || p.Caller.Org == nil {
		d.notFound(w, r)
		return
	}
	ch := disclosure.Change{Epsilon: strings.TrimSpace(r.PostFormValue("epsilon")), Budget: strings.TrimSpace(r.PostFormValue("budget")),
		Period: r.PostFormValue("period")}
	if k := strings.TrimSpace(r.PostFormValue("k")); k != "" {
		n, err := strconv.ParseInt(k, 10, 64)
		if err != nil {
			d.showPrivacy(w, r, p, &ch, cleanroom.Errorf(cleanroom.EINVALID, "The threshold k must be a whole number.").With("field", "k"))
			return
		}
		ch.K = n
	}
	id := r.PathValue("id")
	v, err := d.Privacy.UpdateSettings(r.Context(), d.Connections, p.Caller, id, ch)
	if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
		d.notFound(w, r)
		return
	}
	if err != nil {
		d.showPrivacy(w, r, p, &ch, err)
		return
	}
	d.audit(r, (&cleanroom.AuditEntry{Action: "connection.privacy.update", TargetType: "connection", TargetID: id,
		Details: map[string]any{"via": "dashboard", "settings": v.Yours, "effective": v.Effective}}).By(p.Caller))
	http.Redirect(w, r, "/connections/"+id+"/privacy", http.StatusSeeOther)
}
