package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
)

func hint(r *resp) string {
	e, _ := r.body["error"].(map[string]any)
	d, _ := e["details"].(map[string]any)
	h, _ := d["hint"].(string)
	return h
}

// TestConnectionErrors: every mistake a publisher can make when entering an org ID gets its own
// code, a message naming the problem and a hint naming the fix.
func TestConnectionErrors(t *testing.T) {
	e := newEnv(t)
	other := e.newOrg("Publisher Z", cleanroom.OrgPublisher, true)
	noDPA := e.newOrg("Adv without DPA", cleanroom.OrgAdvertiser, false)
	noSetup, err := e.acc.RecordDPA(t.Context(), e.newOrg("Adv without vault", cleanroom.OrgAdvertiser, false).ID, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	bare := e.newOrg("Publisher without clean room", cleanroom.OrgPublisher, false)
	bareAdmin := e.addMember(bare.ID, "bare@example.com", cleanroom.RoleAdmin)
	bareToken := e.issueToken(bareAdmin.ID, bare.ID)

	create := func(token, partner string) *resp {
		return e.do(req{method: "POST", path: "/v1/connections", token: token,
			body: map[string]any{"partner_id": partner, "permissions": map[string]bool{"matched_cohorts": true}}})
	}
	tok := e.tokens["a-admin"]
	if r := create(tok, e.orgB.ID); r.status != http.StatusCreated || r.body["workflow"] != "operator_driven" {
		t.Fatalf("valid connection: %d %s", r.status, r.raw)
	}
	cases := []struct {
		name, token, partner string
		status               int
		code, msg, hint      string
	}{
		{"malformed", tok, "12-34", 400, "invalid", "malformed", cleanroom.UUIDFormat},
		{"unknown", tok, "00000000-0000-7000-8000-000000000000", 404, "not_found", "No organization has the ID", "Overview page"},
		{"a publisher", tok, other.ID, 400, "invalid", "not an advertiser or a demand-side workspace", e.orgA.DemandSideID},
		{"another publisher's workspace", tok, other.DemandSideID, 400, "invalid", "another publisher", e.orgA.DemandSideID},
		{"no DPA", tok, noDPA.ID, 400, "invalid", "data processing agreement", "provisional access"},
		{"setup unfinished", tok, noSetup.ID, 400, "invalid", "not finished setup", "provisional access"},
		{"clean room off", bareToken, e.orgB.ID, 403, "forbidden", "not enabled", "operator"},
		{"duplicate", tok, e.orgB.ID, 409, "conflict", "already connected", "existing connection"},
		{"from an advertiser", e.tokens["b-admin"], e.orgC.ID, 403, "forbidden", "publisher", "publisher"},
	}
	for _, c := range cases {
		r := create(c.token, c.partner)
		if r.status != c.status || r.errCode() != c.code || !strings.Contains(r.errMessage(), c.msg) || !strings.Contains(hint(r), c.hint) {
			t.Errorf("%s: %d %s\nwant %d %s, message with %q, hint with %q", c.name, r.status, r.raw, c.status, c.code, c.msg, c.hint)
		}
	}
	if r := e.do(req{method: "POST", path: "/v1/connections", token: tok, body: map[string]any{"partner_id": e.orgC.ID,
		"permissions": map[string]any{"shared_custom_cohorts": []string{"sports"}}}}); r.status != 400 || !strings.Contains(r.errMessage(), "custom cohorts permission is off") {
		t.Errorf("shared cohorts without the toggle: %d %s", r.status, r.raw)
	}

	// Provisional access lets the operator connect an advertiser before its DPA, until it expires;
	// then the connection is suspended by itself.
	r := e.do(req{method: "POST", path: "/v1/admin/provisional-access", token: e.tokens["operator"],
		body: map[string]any{"org_id": noDPA.ID, "publisher_id": e.orgA.ID, "expires_at": e.now.Add(48 * time.Hour), "reason": "pilot"}})
	if r.status != http.StatusCreated {
		t.Fatalf("provisional access: %d %s", r.status, r.raw)
	}
	r = create(tok, noDPA.ID)
	if r.status != http.StatusCreated || r.body["status"] != "active" {
		t.Fatalf("connection under provisional access: %d %s", r.status, r.raw)
	}
	id := r.body["id"].(string)
	e.now = e.now.Add(49 * time.Hour)
	r = e.do(req{method: "GET", path: "/v1/connections/" + id, token: tok})
	if r.body["status"] != "suspended" || !strings.Contains(r.body["status_reason"].(string), "data processing agreement") {
		t.Errorf("after provisional access expired: %s", r.raw)
	}
	if n := e.auditCount("provisional_access.grant"); n != 1 {
		t.Errorf("provisional access audit entries: %d", n)
	}
}

// TestConnectionLifecycle: both sides see the connection with their own capabilities; the
// publisher edits permissions and deletes it; the partner sees the audit entries.
func TestConnectionLifecycle(t *testing.T) {
	e := newEnv(t)
	r := e.do(req{method: "POST", path: "/v1/connections", token: e.tokens["a-member"],
		body: map[string]any{"partner_id": " " + strings.ToUpper(e.orgB.ID) + " ", "permissions": map[string]bool{"matched_cohorts": true, "insights": true}}})
	if r.status != http.StatusCreated || r.body["partner_id"] != e.orgB.ID || r.header.Get("Location") != "/v1/connections/"+r.body["id"].(string) {
		t.Fatalf("create with a pasted, upper-case ID: %d %s", r.status, r.raw)
	}
	id := r.body["id"].(string)
	caps := func(token string) string {
		r := e.do(req{method: "GET", path: "/v1/connections/" + id, token: token})
		if r.status != 200 {
			t.Fatalf("get: %d %s", r.status, r.raw)
		}
		var out []string
		for _, c := range r.body["capabilities"].([]any) {
			out = append(out, c.(string))
		}
		return strings.Join(out, ",")
	}
	if got := caps(e.tokens["b-member"]); got != "view_connection,manage_data_sources,create_matched_cohort,view_insights" {
		t.Errorf("advertiser member capabilities: %s", got)
	}
	if got := caps(e.tokens["b-viewer"]); got != "view_connection,view_insights" {
		t.Errorf("advertiser viewer capabilities: %s", got)
	}
	if got := caps(e.tokens["a-viewer"]); got != "view_connection" {
		t.Errorf("publisher viewer capabilities: %s", got)
	}
	// Both sides list it.
	for _, label := range []string{"a-viewer", "b-viewer"} {
		r := e.do(req{method: "GET", path: "/v1/connections", token: e.tokens[label]})
		if items := r.body["items"].([]any); len(items) != 1 {
			t.Errorf("%s lists %d connections", label, len(items))
		}
	}
	if r := e.do(req{method: "GET", path: "/v1/connections", token: e.tokens["c-admin"]}); len(r.body["items"].([]any)) != 0 {
		t.Errorf("an unrelated advertiser lists connections: %s", r.raw)
	}
	// Only the publisher edits.
	perms := map[string]any{"permissions": map[string]any{"modeled_audiences": true, "custom_cohorts": true, "shared_custom_cohorts": []string{"sports", "travel"}}}
	if r := e.do(req{method: "PATCH", path: "/v1/connections/" + id, token: e.tokens["b-admin"], body: perms}); r.status != http.StatusForbidden {
		t.Errorf("advertiser edits permissions: %d", r.status)
	}
	if r := e.do(req{method: "PATCH", path: "/v1/connections/" + id, token: e.tokens["a-admin"], body: perms}); r.status != 200 {
		t.Fatalf("edit: %d %s", r.status, r.raw)
	}
	if got := caps(e.tokens["b-member"]); got != "view_connection,manage_data_sources,create_modeled_cohort,target_custom_cohorts" {
		t.Errorf("after the edit: %s", got)
	}
	// Delete: gone for both sides, and both sides' audit logs say so.
	if r := e.do(req{method: "DELETE", path: "/v1/connections/" + id, token: e.tokens["a-admin"]}); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.raw)
	}
	if r := e.do(req{method: "GET", path: "/v1/connections/" + id, token: e.tokens["b-admin"]}); r.status != http.StatusNotFound {
		t.Errorf("deleted connection: %d", r.status)
	}
	r = e.do(req{method: "GET", path: "/v1/audit?action=connection.delete", token: e.tokens["b-viewer"]})
	if items := r.body["items"].([]any); len(items) != 1 {
		t.Errorf("the advertiser does not see the deletion in its audit log: %s", r.raw)
	}
	for _, a := range []string{"connection.create", "connection.update"} {
		if r := e.do(req{method: "GET", path: "/v1/audit?action=" + a, token: e.tokens["b-viewer"]}); len(r.body["items"].([]any)) != 1 {
			t.Errorf("advertiser audit lacks %s", a)
		}
	}
}

// TestStandardOptOuts: a publisher's opt-outs replace as a set and apply to all its connections.
func TestStandardOptOuts(t *testing.T) {
	e := newEnv(t)
	put := func(token string, ids ...string) *resp {
		return e.do(req{method: "PUT", path: "/v1/standard-cohort-opt-outs", token: token, body: map[string]any{"cohort_ids": ids}})
	}
	if r := put(e.tokens["a-member"], "iab-600", "iab-12", "iab-600"); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	put(e.tokens["a-member"], "iab-12", "iab-7")
	r := e.do(req{method: "GET", path: "/v1/standard-cohort-opt-outs", token: e.tokens["a-viewer"]})
	if got := r.body["cohort_ids"].([]any); len(got) != 2 || got[0] != "iab-12" || got[1] != "iab-7" {
		t.Errorf("opt-outs = %v", got)
	}
	if r := put(e.tokens["b-admin"], "x"); r.status != http.StatusForbidden {
		t.Errorf("an advertiser sets opt-outs: %d", r.status)
	}
	if r := put(e.tokens["a-admin"], "bad id"); r.status != 400 {
		t.Errorf("bad cohort ID: %d", r.status)
	}
}

// TestPublisherDrivenWorkflow walks the one-to-one workflow: the publisher connects its own
// demand-side workspace; an invited advertiser uploads into it, sees only its own data, cannot
// build cohorts, and grants its data with an expiry; the publisher can use the data only while
// the grant is in force.
func TestPublisherDrivenWorkflow(t *testing.T) {
	e := newEnv(t)
	r := e.do(req{method: "POST", path: "/v1/connections", token: e.tokens["a-admin"],
		body: map[string]any{"partner_id": e.orgW.ID, "permissions": map[string]bool{"matched_cohorts": true, "modeled_audiences": true, "insights": true}}})
	if r.status != http.StatusCreated || r.body["workflow"] != "publisher_driven" {
		t.Fatalf("connect own workspace: %d %s", r.status, r.raw)
	}
	conn := r.body["id"].(string)
	lim, staff := e.tokens["w-limited"], e.tokens["w-admin"]
	r = e.do(req{method: "GET", path: "/v1/connections/" + conn, token: lim})
	if caps := r.body["capabilities"].([]any); len(caps) != 2 || caps[1] != "manage_data_sources" {
		t.Errorf("limited capabilities: %v", caps)
	}
	// The publisher's own staff upload something too; the invited advertiser must not see it.
	e.do(req{method: "POST", path: "/v1/data-sources", token: staff, body: map[string]string{"name": "Publisher's own list"}})
	r = e.do(req{method: "POST", path: "/v1/data-sources", token: lim, body: map[string]string{"name": "Lapsed customers"}})
	if r.status != http.StatusCreated || r.body["advertiser_id"] != e.orgB.ID {
		t.Fatalf("limited creates a data source: %d %s", r.status, r.raw)
	}
	ds := r.body["id"].(string)
	if r := e.do(req{method: "GET", path: "/v1/data-sources", token: lim}); len(r.body["items"].([]any)) != 1 {
		t.Errorf("the invited advertiser sees other data: %s", r.raw)
	}
	for _, p := range []string{"/v1/users", "/v1/invitations", "/v1/grants", "/v1/jobs", "/v1/audit"} {
		if r := e.do(req{method: "GET", path: p, token: lim}); r.status != http.StatusForbidden {
			t.Errorf("limited GET %s: %d", p, r.status)
		}
	}
	// The publisher sees the upload but may not use it before the grant, nor grant it itself.
	usable := func() map[string]any {
		r := e.do(req{method: "GET", path: "/v1/data-sources/" + ds, token: staff})
		if r.status != 200 {
			t.Fatalf("staff get: %d %s", r.status, r.raw)
		}
		return r.body["usable"].(map[string]any)
	}
	if u := usable(); u["matched"] != false {
		t.Errorf("usable before the grant: %v", u)
	}
	grant := map[string]any{"grantee_id": e.orgW.ID, "allow_matched": true, "expires_at": e.now.Add(24 * time.Hour)}
	if r := e.do(req{method: "POST", path: "/v1/data-sources/" + ds + "/grants", token: staff, body: grant}); r.status != http.StatusForbidden {
		t.Errorf("the publisher grants the advertiser's data to itself: %d %s", r.status, r.raw)
	}
	r = e.do(req{method: "POST", path: "/v1/data-sources/" + ds + "/grants", token: lim, body: map[string]any{"grantee_id": e.orgA.ID, "allow_matched": true}})
	if r.status != 400 || !strings.Contains(hint(r), "demand-side organization ID") {
		t.Errorf("grant to the supply-side ID: %d %s", r.status, r.raw)
	}
	r = e.do(req{method: "POST", path: "/v1/data-sources/" + ds + "/grants", token: lim, body: grant})
	if r.status != http.StatusCreated {
		t.Fatalf("grant: %d %s", r.status, r.raw)
	}
	if r := e.do(req{method: "POST", path: "/v1/data-sources/" + ds + "/grants", token: lim, body: grant}); r.status != http.StatusConflict {
		t.Errorf("second active grant: %d", r.status)
	}
	if u := usable(); u["matched"] != true || u["modeled"] != false {
		t.Errorf("usable with a matched-only grant: %v", u)
	}
	// Expiry needs no one to act.
	e.now = e.now.Add(25 * time.Hour)
	if u := usable(); u["matched"] != false {
		t.Errorf("usable after the grant expired: %v", u)
	}
	if r := e.do(req{method: "GET", path: "/v1/grants", token: staff}); r.body["items"].([]any)[0].(map[string]any)["active"] != false {
		t.Errorf("expired grant listed active: %s", r.raw)
	}
	// A new grant after expiry is allowed; revoking stops it at once.
	r = e.do(req{method: "POST", path: "/v1/data-sources/" + ds + "/grants", token: lim, body: map[string]any{"grantee_id": e.orgW.ID, "allow_matched": true}})
	if r.status != http.StatusCreated {
		t.Fatalf("grant after expiry: %d %s", r.status, r.raw)
	}
	gid := r.body["id"].(string)
	if r := e.do(req{method: "DELETE", path: "/v1/grants/" + gid, token: staff}); r.status != http.StatusForbidden {
		t.Errorf("the grantee revokes: %d", r.status)
	}
	if r := e.do(req{method: "DELETE", path: "/v1/grants/" + gid, token: lim}); r.status != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", r.status, r.raw)
	}
	if u := usable(); u["matched"] != false {
		t.Errorf("usable after revocation: %v", u)
	}
	// Revoking the invitation ends the advertiser's access to the workspace.
	if r := e.do(req{method: "DELETE", path: "/v1/invitations/" + e.limitedInvitation, token: staff}); r.status != http.StatusNoContent {
		t.Fatalf("revoke invitation: %d %s", r.status, r.raw)
	}
	if r := e.do(req{method: "GET", path: "/v1/data-sources", token: lim}); r.status != http.StatusUnauthorized {
		t.Errorf("after the invitation was revoked: %d", r.status)
	}
}

// TestGrantAcrossOrgs: an advertiser grants its own data source to a publisher's workspace; the
// workspace sees it only while the grant is in force; other orgs never see it.
func TestGrantAcrossOrgs(t *testing.T) {
	e := newEnv(t)
	r := e.do(req{method: "POST", path: "/v1/data-sources", token: e.tokens["b-member"], body: map[string]string{"name": "Loyalty members"}})
	if r.status != http.StatusCreated {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	ds := r.body["id"].(string)
	get := func(label string) *resp {
		return e.do(req{method: "GET", path: "/v1/data-sources/" + ds, token: e.tokens[label]})
	}
	if r := get("w-admin"); r.status != http.StatusNotFound {
		t.Errorf("visible before the grant: %d", r.status)
	}
	r = e.do(req{method: "POST", path: "/v1/data-sources/" + ds + "/grants", token: e.tokens["b-member"],
		body: map[string]any{"grantee_id": e.orgW.ID, "allow_modeled": true, "allow_insights": true, "expires_at": e.now.Add(time.Hour)}})
	if r.status != http.StatusCreated {
		t.Fatalf("grant: %d %s", r.status, r.raw)
	}
	r = get("w-viewer")
	if r.status != 200 || r.body["access"] != "granted" || r.body["usable"].(map[string]any)["modeled"] != true || r.body["usable"].(map[string]any)["matched"] != false {
		t.Errorf("granted view: %d %s", r.status, r.raw)
	}
	if r := get("c-admin"); r.status != http.StatusNotFound {
		t.Errorf("another advertiser sees it: %d", r.status)
	}
	if r := e.do(req{method: "POST", path: "/v1/data-sources/" + ds + "/grants", token: e.tokens["b-viewer"], body: map[string]any{"grantee_id": e.orgW.ID, "allow_matched": true}}); r.status != http.StatusForbidden {
		t.Errorf("viewer grants: %d", r.status)
	}
	r = e.do(req{method: "POST", path: "/v1/data-sources/" + ds + "/grants", token: e.tokens["b-member"], body: map[string]any{"grantee_id": e.orgW.ID}})
	if r.status != 400 || !strings.Contains(r.errMessage(), "allows no use") {
		t.Errorf("grant of nothing: %d %s", r.status, r.raw)
	}
	e.now = e.now.Add(2 * time.Hour)
	if r := get("w-admin"); r.status != http.StatusNotFound {
		t.Errorf("visible after expiry: %d", r.status)
	}
	r = e.do(req{method: "GET", path: "/v1/audit?action=grant.create", token: e.tokens["w-viewer"]})
	if len(r.body["items"].([]any)) != 1 {
		t.Errorf("the workspace does not see the grant in its audit log: %s", r.raw)
	}
}

// TestInvitationErrors: inviting needs a workspace and a ready advertiser; a member of the
// workspace is a conflict. Whether the address belongs to the advertiser is none of the
// inviter's business: see TestInvitationRevealsNothing.
func TestInvitationErrors(t *testing.T) {
	e := newEnv(t)
	noDPA := e.newOrg("No DPA", cleanroom.OrgAdvertiser, false)
	e.addMember(noDPA.ID, "nodpa@example.com", cleanroom.RoleAdmin)
	invite := func(token, email, adv string) *resp {
		return e.do(req{method: "POST", path: "/v1/invitations", token: token, body: map[string]string{"email": email, "advertiser_id": adv}})
	}
	cases := []struct {
		name   string
		r      *resp
		status int
		msg    string
	}{
		{"supply side", invite(e.tokens["a-admin"], "b-admin@example.com", e.orgB.ID), 403, "demand-side workspace"},
		{"not an advertiser", invite(e.tokens["w-admin"], "a-admin@example.com", e.orgA.ID), 400, "not an advertiser"},
		{"no DPA", invite(e.tokens["w-admin"], "nodpa@example.com", noDPA.ID), 400, "data processing agreement"},
		{"bad email", invite(e.tokens["w-admin"], "not an address", e.orgB.ID), 400, "malformed"},
		{"already in", invite(e.tokens["w-admin"], "b-member@example.com", e.orgB.ID), 409, "already a member"},
		{"the publisher's admin", invite(e.tokens["w-admin"], "a-admin@example.com", e.orgB.ID), 409, "already a member"},
	}
	for _, c := range cases {
		if c.r.status != c.status || !strings.Contains(c.r.errMessage(), c.msg) {
			t.Errorf("%s: %d %s, want %d with %q", c.name, c.r.status, c.r.raw, c.status, c.msg)
		}
	}
	r := invite(e.tokens["w-admin"], "b-admin@example.com", e.orgB.ID)
	if r.status != http.StatusCreated || r.body["role"] != "limited" || r.body["represents_id"] != e.orgB.ID || r.body["state"] != "pending" {
		t.Errorf("invite: %d %s", r.status, r.raw)
	}
	if r := invite(e.tokens["w-admin"], "B-Admin@example.com ", e.orgB.ID); r.status != http.StatusConflict || !strings.Contains(r.errMessage(), "pending invitation") {
		t.Errorf("second invitation of the same address: %d %s", r.status, r.raw)
	}
	// The invited advertiser keeps the limited role.
	if r := e.do(req{method: "PATCH", path: "/v1/users/" + e.users["w-limited"].ID, token: e.tokens["w-admin"], body: map[string]string{"role": "admin"}}); r.status != 400 {
		t.Errorf("promoting an invited advertiser: %d", r.status)
	}
}
