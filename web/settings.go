package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/accounts"
)

// settingsData is what the Settings page shows: the org's facts (its ID to copy), its people and
// their roles, its invitations, API tokens and service accounts. Each form keeps its values and
// its error after a failed submission; a new token's secret is shown once, right after it is made.
type settingsData struct {
	Org             *cleanroom.Org
	Admin           bool
	CanMakeTokens   bool
	Members         []*cleanroom.Member
	Invitations     []*cleanroom.Invitation
	Advertisers     map[string]string
	Tokens          []*cleanroom.Token
	ServiceAccounts []*cleanroom.Member
	// Names are the names of the token owners the caller sees (its org's people).
	Names map[string]string

	// NewSecret is a token's secret just made (shown once), NewSecretFor what it acts as.
	NewSecret, NewSecretFor string

	formState
}

// formFields are the fields each Settings form shows beside themselves.
var formFields = map[string]map[string]bool{
	"invite":            {"email": true, "name": true, "password": true, "role": true},
	"invite-advertiser": {"email": true, "advertiser_id": true},
	"token":             {"name": true, "expires_in_days": true},
	"service-account":   {"name": true, "role": true},
}

func (d *Dashboard) settingsRoutes() {
	d.mux.HandleFunc("GET /settings", d.signedIn(d.settingsPage))
	d.mux.HandleFunc("GET /tokens", d.signedIn(func(w http.ResponseWriter, r *http.Request, p *page) {
		http.Redirect(w, r, "/settings#tokens", http.StatusSeeOther)
	}))
	d.mux.HandleFunc("POST /settings/people", d.signedIn(d.invitePerson))
	d.mux.HandleFunc("POST /settings/advertisers", d.signedIn(d.inviteAdvertiser))
	d.mux.HandleFunc("POST /settings/people/{id}/role", d.signedIn(d.changeRole))
	d.mux.HandleFunc("POST /settings/people/{id}/remove", d.signedIn(d.removePerson))
	d.mux.HandleFunc("POST /settings/invitations/{id}/withdraw", d.signedIn(d.withdrawFromSettings))
	d.mux.HandleFunc("POST /settings/tokens", d.signedIn(d.createToken))
	d.mux.HandleFunc("POST /settings/tokens/{id}/revoke", d.signedIn(d.revokeToken))
	d.mux.HandleFunc("POST /settings/service-accounts", d.signedIn(d.createServiceAccount))
	d.mux.HandleFunc("POST /settings/service-accounts/{id}/tokens", d.signedIn(d.createServiceAccountToken))
	d.mux.HandleFunc("POST /settings/service-accounts/{id}/delete", d.signedIn(d.deleteServiceAccount))
}

func (d *Dashboard) settingsPage(w http.ResponseWriter, r *http.Request, p *page) {
	d.showSettings(w, r, p, &settingsData{}, nil)
}

// showSettings renders the Settings page with data's form state; err is the failed form's error.
func (d *Dashboard) showSettings(w http.ResponseWriter, r *http.Request, p *page, data *settingsData, err error) {
	ctx, c := r.Context(), p.Caller
	if c.Org == nil {
		d.errorPage(w, p, http.StatusNotFound, "Settings belong to an organization",
			"You are acting in no organization, so there are no settings to show.",
			"Choose an organization with the selector at the top right.")
		return
	}
	status := http.StatusOK
	if err != nil {
		data.Err = formError(err)
		status = d.showError(p, err)
		p.Error = "" // shown beside the form instead
	}
	data.Org, data.shown = c.Org, formFields
	data.Admin = c.Role.AtLeast(cleanroom.RoleAdmin) && c.User != nil && !c.User.ServiceAccount
	data.CanMakeTokens = c.Role == cleanroom.RoleLimited || c.Role.AtLeast(cleanroom.RoleMember)
	data.Advertisers, data.Names = map[string]string{}, map[string]string{}
	var lerr error
	if c.Role != cleanroom.RoleLimited {
		data.Members, _, lerr = d.Accounts.Members(ctx, c, cleanroom.Page{Limit: cleanroom.MaxPageLimit})
		if lerr == nil {
			data.Invitations, _, lerr = d.Accounts.Invitations(ctx, c, cleanroom.Page{Limit: 100})
		}
		if lerr == nil {
			data.ServiceAccounts, lerr = d.Accounts.ServiceAccounts(ctx, c)
		}
		for _, inv := range data.Invitations {
			if lerr == nil && inv.RepresentsID != "" {
				lerr = d.orgNames(ctx, data.Advertisers, inv.RepresentsID)
			}
		}
	}
	if lerr == nil {
		data.Tokens, _, lerr = d.Accounts.Tokens(ctx, c, cleanroom.Page{Limit: 100})
	}
	if lerr != nil {
		d.showFailure(w, p, lerr)
		return
	}
	for _, m := range data.Members {
		data.Names[m.ID] = m.Name
	}
	if c.User != nil {
		data.Names[c.User.ID] = c.User.Name
	}
	p.Title, p.Data = "Settings", data
	d.render(w, status, "settings.html", p)
}

// form returns a settings form's state: its name and the values of its fields.
func form(r *http.Request, name string, fields ...string) *settingsData {
	return &settingsData{formState: submitted(r, name, fields...)}
}

func (d *Dashboard) invitePerson(w http.ResponseWriter, r *http.Request, p *page) {
	data := form(r, "invite", "email", "name", "role")
	inv, err := d.Accounts.InviteMember(r.Context(), p.Caller, accounts.NewUser{Email: data.Values["email"], Name: data.Values["name"],
		Password: r.PostFormValue("password"), Role: cleanroom.Role(data.Values["role"])})
	if err != nil {
		d.showSettings(w, r, p, data, err)
		return
	}
	d.audit(r, (&cleanroom.AuditEntry{OrgID: inv.OrgID, Action: "user.add", TargetType: "invitation", TargetID: inv.ID,
		Details: map[string]any{"via": "dashboard", "role": inv.Role}}).By(p.Caller))
	http.Redirect(w, r, "/settings#invitations", http.StatusSeeOther)
}

func (d *Dashboard) inviteAdvertiser(w http.ResponseWriter, r *http.Request, p *page) {
	data := form(r, "invite-advertiser", "email", "advertiser_id")
	inv, err := d.Connections.Invite(r.Context(), p.Caller, data.Values["email"], data.Values["advertiser_id"])
	if err != nil {
		d.showSettings(w, r, p, data, err)
		return
	}
	d.audit(r, (&cleanroom.AuditEntry{OrgID: inv.OrgID, PartnerOrgID: inv.RepresentsID, Action: "invitation.create", TargetType: "invitation",
		TargetID: inv.ID, Details: map[string]any{"via": "dashboard"}}).By(p.Caller))
	http.Redirect(w, r, "/settings#invitations", http.StatusSeeOther)
}

func (d *Dashboard) changeRole(w http.ResponseWriter, r *http.Request, p *page) {
	data := form(r, "role:"+r.PathValue("id"), "role")
	from := ""
	if m, err := d.Accounts.Member(r.Context(), p.Caller, r.PathValue("id")); err == nil {
		from = string(m.Role)
	}
	m, err := d.Accounts.ChangeRole(r.Context(), p.Caller, idOf(r), cleanroom.Role(data.Values["role"]))
	if err != nil {
		d.showSettings(w, r, p, data, err)
		return
	}
	d.audit(r, (&cleanroom.AuditEntry{OrgID: p.Caller.OrgID(), Action: "user.role.change", TargetType: "user", TargetID: m.ID,
		Details: map[string]any{"via": "dashboard", "from": from, "to": m.Role}}).By(p.Caller))
	http.Redirect(w, r, "/settings#people", http.StatusSeeOther)
}

func (d *Dashboard) removePerson(w http.ResponseWriter, r *http.Request, p *page) {
	m, err := d.Accounts.RemovePerson(r.Context(), p.Caller, idOf(r))
	if err != nil {
		d.showSettings(w, r, p, &settingsData{formState: formState{Form: "people"}}, err)
		return
	}
	d.audit(r, (&cleanroom.AuditEntry{OrgID: p.Caller.OrgID(), Action: "user.remove", TargetType: "user", TargetID: m.ID,
		Details: map[string]any{"via": "dashboard"}}).By(p.Caller))
	http.Redirect(w, r, "/settings#people", http.StatusSeeOther)
}

func (d *Dashboard) withdrawFromSettings(w http.ResponseWriter, r *http.Request, p *page) {
	inv, err := d.Accounts.WithdrawInvitation(r.Context(), p.Caller, idOf(r))
	if err != nil {
		d.showSettings(w, r, p, &settingsData{formState: formState{Form: "invitations"}}, err)
		return
	}
	d.audit(r, (&cleanroom.AuditEntry{OrgID: inv.OrgID, PartnerOrgID: inv.RepresentsID, Action: "invitation.withdraw",
		TargetType: "invitation", TargetID: inv.ID, Details: map[string]any{"via": "dashboard"}}).By(p.Caller))
	http.Redirect(w, r, "/settings#invitations", http.StatusSeeOther)
}

// lifetime reads a form's "expires_in_days" (empty: never expires).
func lifetime(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, cleanroom.Errorf(cleanroom.EINVALID, "Days until it expires is a whole number of days.").With("field", "expires_in_days").
			Hint("Enter 0 or leave it empty for a token that never expires.")
	}
	return time.Duration(n) * 24 * time.Hour, nil
}

func (d *Dashboard) createToken(w http.ResponseWriter, r *http.Request, p *page) {
	data := form(r, "token", "name", "expires_in_days")
	ttl, err := lifetime(data.Values["expires_in_days"])
	var secret string
	var t *cleanroom.Token
	if err == nil {
		secret, t, err = d.Accounts.CreateToken(r.Context(), p.Caller, data.Values["name"], ttl)
	}
	if err != nil {
		d.showSettings(w, r, p, data, err)
		return
	}
	d.audit(r, (&cleanroom.AuditEntry{OrgID: t.OrgID, Action: "token.create", TargetType: "token", TargetID: t.ID,
		Details: map[string]any{"via": "dashboard"}}).By(p.Caller))
	d.showSettings(w, r, p, &settingsData{NewSecret: secret, NewSecretFor: "you (" + t.Name + ")"}, nil)
}

func (d *Dashboard) revokeToken(w http.ResponseWriter, r *http.Request, p *page) {
	t, err := d.Accounts.RevokeToken(r.Context(), p.Caller, idOf(r))
	if err != nil {
		d.showSettings(w, r, p, &settingsData{formState: formState{Form: "tokens"}}, err)
		return
	}
	d.audit(r, (&cleanroom.AuditEntry{OrgID: t.OrgID, Action: "token.revoke", TargetType: "token", TargetID: t.ID,
		Details: map[string]any{"via": "dashboard"}}).By(p.Caller))
	http.Redirect(w, r, "/settings#tokens", http.StatusSeeOther)
}

func (d *Dashboard) createServiceAccount(w http.ResponseWriter, r *http.Request, p *page) {
	data := form(r, "service-account", "name", "role")
	m, err := d.Accounts.CreateServiceAccount(r.Context(), p.Caller, data.Values["name"], cleanroom.Role(data.Values["role"]))
	if err != nil {
		d.showSettings(w, r, p, data, err)
		return
	}
	d.audit(r, (&cleanroom.AuditEntry{OrgID: p.Caller.OrgID(), Action: "service_account.create", TargetType: "user", TargetID: m.ID,
		Details: map[string]any{"via": "dashboard", "role": m.Role}}).By(p.Caller))
	http.Redirect(w, r, "/settings#service-accounts", http.StatusSeeOther)
}

func (d *Dashboard) createServiceAccountToken(w http.ResponseWriter, r *http.Request, p *page) {
	data := form(r, "service-account-token:"+r.PathValue("id"), "name")
	secret, t, m, err := d.Accounts.CreateServiceAccountToken(r.Context(), p.Caller, idOf(r), data.Values["name"], 0)
	if err != nil {
		d.showSettings(w, r, p, data, err)
		return
	}
	d.audit(r, (&cleanroom.AuditEntry{OrgID: t.OrgID, Action: "token.create", TargetType: "token", TargetID: t.ID,
		Details: map[string]any{"via": "dashboard", "service_account": m.ID}}).By(p.Caller))
	d.showSettings(w, r, p, &settingsData{NewSecret: secret, NewSecretFor: "the service account " + m.Name + " (" + t.Name + ")"}, nil)
}

func (d *Dashboard) deleteServiceAccount(w http.ResponseWriter, r *http.Request, p *page) {
	m, err := d.Accounts.DeleteServiceAccount(r.Context(), p.Caller, idOf(r))
	if err != nil {
		d.showSettings(w, r, p, &settingsData{formState: formState{Form: "service-accounts"}}, err)
		return
	}
	d.audit(r, (&cleanroom.AuditEntry{OrgID: p.Caller.OrgID(), Action: "service_account.delete", TargetType: "user", TargetID: m.ID,
		Details: map[string]any{"via": "dashboard"}}).By(p.Caller))
	http.Redirect(w, r, "/settings#service-accounts", http.StatusSeeOther)
}

// idOf returns the request's {id}, or a string no service finds (an ID in the wrong form answers
// the same "not found" as another org's).
func idOf(r *http.Request) string {
	id := r.PathValue("id")
	if !cleanroom.IsID(id) {
		return "00000000-0000-0000-0000-000000000000"
	}
	return id
}
