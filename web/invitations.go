package web

import (
	"net/http"

	"github.com/cleanroom-oss/cleanroom"
)

// answerInvitation accepts or declines an invitation addressed to the signed-in user (the
// overview lists them). Accepting also switches the session to the organization joined.
func (d *Dashboard) answerInvitation(w http.ResponseWriter, r *http.Request, p *page) {
	ctx, u, id := r.Context(), p.Caller.User, r.PathValue("id")
	if !cleanroom.IsID(id) {
		d.showOverview(w, r, p, d.showError(p, cleanroom.Errorf(cleanroom.ENOTFOUND, "Invitation not found.")))
		return
	}
	action := "invitation.decline"
	var orgID string
	if r.PathValue("answer") == "accept" {
		action = "invitation.accept"
		x, _, err := d.api.Accounts.AcceptInvitation(ctx, u, id)
		if err != nil {
			d.showOverview(w, r, p, d.showError(p, err))
			return
		}
		d.audit(r, &cleanroom.AuditEntry{ActorUserID: u.ID, OrgID: x.OrgID, PartnerOrgID: x.RepresentsID, Action: action,
			TargetType: "invitation", TargetID: x.ID, Details: map[string]any{"via": "dashboard"}})
		orgID = x.OrgID
	} else {
		x, err := d.api.Accounts.DeclineInvitation(ctx, u, id)
		if err != nil {
			d.showOverview(w, r, p, d.showError(p, err))
			return
		}
		d.audit(r, &cleanroom.AuditEntry{ActorUserID: u.ID, OrgID: x.OrgID, PartnerOrgID: x.RepresentsID, Action: action,
			TargetType: "invitation", TargetID: x.ID, Details: map[string]any{"via": "dashboard"}})
	}
	if orgID != "" {
		s := p.Caller.Session
		s.OrgID = orgID
		if err := d.store.UpdateSession(ctx, s); err != nil {
			d.fail(w, err)
			return
		}
		d.audit(r, &cleanroom.AuditEntry{ActorUserID: u.ID, OrgID: orgID, Action: "session.switch_org", TargetType: "org", TargetID: orgID,
			Details: map[string]any{"via": "dashboard"}})
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// withdrawInvitation withdraws one of the organization's invitations (admins).
func (d *Dashboard) withdrawInvitation(w http.ResponseWriter, r *http.Request, p *page) {
	c := p.Caller
	if c.Org == nil || !c.Role.AtLeast(cleanroom.RoleAdmin) {
		http.Error(w, "Only the organization's admins withdraw invitations.", http.StatusForbidden)
		return
	}
	id := r.PathValue("id")
	if !cleanroom.IsID(id) {
		d.showOverview(w, r, p, d.showError(p, cleanroom.Errorf(cleanroom.ENOTFOUND, "Invitation not found.")))
		return
	}
	inv, err := d.api.Accounts.WithdrawInvitation(r.Context(), c.Org.ID, id)
	if err != nil {
		d.showOverview(w, r, p, d.showError(p, err))
		return
	}
	d.audit(r, &cleanroom.AuditEntry{ActorUserID: c.User.ID, OrgID: c.Org.ID, PartnerOrgID: inv.RepresentsID, Action: "invitation.withdraw",
		TargetType: "invitation", TargetID: inv.ID, Details: map[string]any{"via": "dashboard"}})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
