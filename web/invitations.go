package web

import (
	"net/http"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/accounts"
)

// answerInvitation accepts or declines an invitation addressed to the signed-in user (the
// overview lists them). Accepting also switches the session to the organization joined.
func (d *Dashboard) answerInvitation(w http.ResponseWriter, r *http.Request, p *page) {
	ctx, c, id := r.Context(), p.Caller, r.PathValue("id")
	if !cleanroom.IsID(id) {
		d.showOverview(w, r, p, d.showError(p, cleanroom.Errorf(cleanroom.ENOTFOUND, "Invitation not found.")))
		return
	}
	accept := r.PathValue("answer") == "accept"
	var x *accounts.Received
	var err error
	action := "invitation.decline"
	if accept {
		action = "invitation.accept"
		x, _, err = d.Accounts.AcceptInvitation(ctx, c, id)
	} else {
		x, err = d.Accounts.DeclineInvitation(ctx, c, id)
	}
	if err != nil {
		d.showOverview(w, r, p, d.showError(p, err))
		return
	}
	d.audit(r, (&cleanroom.AuditEntry{OrgID: x.OrgID, PartnerOrgID: x.RepresentsID, Action: action,
		TargetType: "invitation", TargetID: x.ID, Details: map[string]any{"via": "dashboard"}}).By(c))
	if accept {
		if _, err := d.Accounts.SwitchOrg(ctx, c, x.OrgID); err != nil {
			d.fail(w, err)
			return
		}
		d.audit(r, (&cleanroom.AuditEntry{OrgID: x.OrgID, Action: "session.switch_org", TargetType: "org", TargetID: x.OrgID,
			Details: map[string]any{"via": "dashboard"}}).By(c))
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// withdrawInvitation withdraws one of the organization's invitations (admins; the service
// checks).
func (d *Dashboard) withdrawInvitation(w http.ResponseWriter, r *http.Request, p *page) {
	id := r.PathValue("id")
	if !cleanroom.IsID(id) {
		d.showOverview(w, r, p, d.showError(p, cleanroom.Errorf(cleanroom.ENOTFOUND, "Invitation not found.")))
		return
	}
	inv, err := d.Accounts.WithdrawInvitation(r.Context(), p.Caller, id)
	if err != nil {
		d.showOverview(w, r, p, d.showError(p, err))
		return
	}
	d.audit(r, (&cleanroom.AuditEntry{OrgID: inv.OrgID, PartnerOrgID: inv.RepresentsID, Action: "invitation.withdraw",
		TargetType: "invitation", TargetID: inv.ID, Details: map[string]any{"via": "dashboard"}}).By(p.Caller))
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
