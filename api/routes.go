package api

import (
	"net/http"

	"github.com/cleanroom-oss/cleanroom"
)

// access says who may call a route.
type access int

const (
	public     access = iota // anyone
	signedIn                 // any valid session or token, acting in an org or not
	inOrg                    // a caller acting in an org, with at least the route's role
	operatorOn               // operator users only
)

func (a access) String() string {
	return [...]string{"public", "signed_in", "in_org", "operator"}[a]
}

// route is one API route.
type route struct {
	Method, Path string
	Access       access
	// Role is the least role an inOrg caller needs; Limited also admits RoleLimited (invited
	// advertisers in a publisher's demand-side workspace), who are outside the role order.
	Role    cleanroom.Role
	Limited bool
	// Audit is the action recorded on success; empty for reads that are not sensitive.
	Audit  string
	handle func(s *Server, w http.ResponseWriter, r *http.Request, c *call) error
}

// allows checks the caller against the route's access rule.
func (rt *route) allows(c *cleanroom.Caller) error {
	switch rt.Access {
	case inOrg:
		if c.Org == nil {
			return cleanroom.Errorf(cleanroom.EFORBIDDEN, "This route acts in an organization, and the credentials act in none.").
				Hint("Use a token issued for an organization, or choose one with PUT /v1/session/org.")
		}
		if !c.Role.AtLeast(rt.Role) && !(rt.Limited && c.Role == cleanroom.RoleLimited) {
			return cleanroom.Errorf(cleanroom.EFORBIDDEN, "This needs the %s role or higher; you are %s.", rt.Role, c.Role).
				With("required_role", rt.Role)
		}
	case operatorOn:
		return c.RequireOperator()
	}
	return nil
}

// routes is the route table: every /v1 route, declared once. The OpenAPI document
// (openapi.json) must describe exactly these; a test checks it.
func (s *Server) routes() []*route {
	viewer, member, admin := cleanroom.RoleViewer, cleanroom.RoleMember, cleanroom.RoleAdmin
	const lim = true // also open to invited advertisers (RoleLimited)
	return []*route{
		{"GET", "/v1/openapi.json", public, "", false, "", (*Server).openAPI},

		{"POST", "/v1/session", public, "", false, "session.create", (*Server).login},
		{"DELETE", "/v1/session", signedIn, "", false, "session.delete", (*Server).logout},
		{"PUT", "/v1/session/org", signedIn, "", false, "session.switch_org", (*Server).switchOrg},
		{"GET", "/v1/me", signedIn, "", false, "", (*Server).me},
		{"PUT", "/v1/me/password", signedIn, "", false, "user.password.change", (*Server).changePassword},
		{"GET", "/v1/me/invitations", signedIn, "", false, "", (*Server).listMyInvitations},
		{"POST", "/v1/me/invitations/{id}/accept", signedIn, "", false, "invitation.accept", (*Server).acceptInvitation},
		{"POST", "/v1/me/invitations/{id}/decline", signedIn, "", false, "invitation.decline", (*Server).declineInvitation},

		{"GET", "/v1/org", inOrg, viewer, lim, "", (*Server).getOrg},
		{"PATCH", "/v1/org", inOrg, admin, false, "org.update", (*Server).updateOrg},

		{"GET", "/v1/users", inOrg, viewer, false, "", (*Server).listUsers},
		{"POST", "/v1/users", inOrg, admin, false, "user.add", (*Server).addUser},
		{"GET", "/v1/users/{id}", inOrg, viewer, false, "", (*Server).getUser},
		{"PATCH", "/v1/users/{id}", inOrg, admin, false, "user.role.change", (*Server).updateUser},
		{"DELETE", "/v1/users/{id}", inOrg, admin, false, "user.remove", (*Server).removeUser},

		{"GET", "/v1/tokens", inOrg, viewer, lim, "token.list", (*Server).listTokens},
		{"POST", "/v1/tokens", inOrg, member, lim, "token.create", (*Server).createToken},
		{"GET", "/v1/tokens/{id}", inOrg, viewer, lim, "", (*Server).getToken},
		{"DELETE", "/v1/tokens/{id}", inOrg, member, lim, "token.revoke", (*Server).revokeToken},
		{"GET", "/v1/service-accounts", inOrg, viewer, false, "", (*Server).listServiceAccounts},
		{"POST", "/v1/service-accounts", inOrg, admin, false, "service_account.create", (*Server).createServiceAccount},
		{"GET", "/v1/service-accounts/{id}", inOrg, viewer, false, "", (*Server).getServiceAccount},
		{"DELETE", "/v1/service-accounts/{id}", inOrg, admin, false, "service_account.delete", (*Server).deleteServiceAccount},
		{"POST", "/v1/service-accounts/{id}/tokens", inOrg, admin, false, "token.create", (*Server).createServiceAccountToken},

		{"GET", "/v1/audit", signedIn, "", false, "audit.read", (*Server).listAudit},

		{"GET", "/v1/jobs", inOrg, viewer, false, "", (*Server).listJobs},
		{"GET", "/v1/jobs/{id}", inOrg, viewer, false, "", (*Server).getJob},
		{"POST", "/v1/jobs/{id}/cancel", inOrg, member, false, "job.cancel", (*Server).cancelJob},

		{"GET", "/v1/connections", inOrg, viewer, lim, "", (*Server).listConnections},
		{"POST", "/v1/connections", inOrg, member, false, "connection.create", (*Server).createConnection},
		{"GET", "/v1/connections/{id}", inOrg, viewer, lim, "", (*Server).getConnection},
		{"PATCH", "/v1/connections/{id}", inOrg, member, false, "connection.update", (*Server).updateConnection},
		{"DELETE", "/v1/connections/{id}", inOrg, member, false, "connection.delete", (*Server).deleteConnection},
		{"GET", "/v1/connections/{id}/publisher-cohorts", inOrg, viewer, false, "", (*Server).listPublisherCohorts},
		{"GET", "/v1/connections/{id}/served-users", inOrg, viewer, false, "", (*Server).servedUsers},
		{"GET", "/v1/connections/{id}/delivery", inOrg, viewer, false, "", (*Server).connectionDelivery},
		{"GET", "/v1/connections/{id}/privacy", inOrg, viewer, false, "", (*Server).getPrivacy},
		{"PUT", "/v1/connections/{id}/privacy", inOrg, admin, false, "connection.privacy.update", (*Server).updatePrivacy},
		{"GET", "/v1/standard-cohort-opt-outs", inOrg, viewer, false, "", (*Server).getOptOuts},
		{"PUT", "/v1/standard-cohort-opt-outs", inOrg, member, false, "standard_opt_outs.set", (*Server).setOptOuts},

		{"GET", "/v1/publisher/taxonomy", inOrg, viewer, false, "", (*Server).getPublisherTaxonomy},
		{"PUT", "/v1/publisher/taxonomy", inOrg, member, false, "publisher.taxonomy.set", (*Server).putPublisherTaxonomy},
		{"POST", "/v1/publisher/uploads", inOrg, member, false, "upload.begin", (*Server).beginPublisherUpload},
		{"GET", "/v1/publisher/versions", inOrg, viewer, false, "", (*Server).listPublisherVersions},
		{"POST", "/v1/publisher/events", inOrg, member, false, "publisher.events.apply", (*Server).postPublisherEvents},
		{"POST", "/v1/publisher/erasures", inOrg, member, false, "publisher.users.erase", (*Server).postErasures},
		{"GET", "/v1/publisher/import-source", inOrg, viewer, false, "", (*Server).getImportSource},
		{"PUT", "/v1/publisher/import-source", inOrg, member, false, "publisher.import_source.set", (*Server).putImportSource},
		{"DELETE", "/v1/publisher/import-source", inOrg, member, false, "publisher.import_source.delete", (*Server).deleteImportSource},
		{"POST", "/v1/publisher/import", inOrg, member, false, "publisher.import.run", (*Server).runImport},
		{"GET", "/v1/publisher/imported-objects", inOrg, viewer, false, "", (*Server).listImportedObjects},

		{"GET", "/v1/invitations", inOrg, viewer, false, "", (*Server).listInvitations},
		{"POST", "/v1/invitations", inOrg, admin, false, "invitation.create", (*Server).createInvitation},
		{"GET", "/v1/invitations/{id}", inOrg, viewer, false, "", (*Server).getInvitation},
		{"DELETE", "/v1/invitations/{id}", inOrg, admin, false, "invitation.withdraw", (*Server).withdrawInvitation},

		{"GET", "/v1/data-sources", inOrg, viewer, lim, "", (*Server).listDataSources},
		{"POST", "/v1/data-sources", inOrg, member, lim, "data_source.create", (*Server).createDataSource},
		{"GET", "/v1/data-sources/{id}", inOrg, viewer, lim, "", (*Server).getDataSource},
		{"PATCH", "/v1/data-sources/{id}", inOrg, member, lim, "data_source.update", (*Server).updateDataSource},
		{"DELETE", "/v1/data-sources/{id}", inOrg, member, lim, "data_source.unlink", (*Server).unlinkDataSource},
		{"GET", "/v1/data-sources/{id}/taxonomy", inOrg, viewer, lim, "", (*Server).getTaxonomy},
		{"PUT", "/v1/data-sources/{id}/taxonomy", inOrg, member, lim, "data_source.taxonomy.set", (*Server).putTaxonomy},
		{"GET", "/v1/data-sources/{id}/uploads", inOrg, viewer, lim, "", (*Server).listDataSourceUploads},
		{"POST", "/v1/data-sources/{id}/uploads", inOrg, member, lim, "upload.begin", (*Server).beginDataSourceUpload},
		{"GET", "/v1/data-sources/{id}/versions", inOrg, viewer, lim, "", (*Server).listDataSourceVersions},
		{"GET", "/v1/uploads/{id}", inOrg, viewer, lim, "", (*Server).getUpload},
		{"PUT", "/v1/uploads/{id}/content", inOrg, member, lim, "upload.part", (*Server).putUploadContent},
		{"POST", "/v1/uploads/{id}/complete", inOrg, member, lim, "upload.complete", (*Server).completeUpload},
		{"DELETE", "/v1/uploads/{id}", inOrg, member, lim, "upload.abort", (*Server).abortUpload},
		{"GET", "/v1/data-sources/{id}/import-source", inOrg, viewer, lim, "", (*Server).getImportSource},
		{"PUT", "/v1/data-sources/{id}/import-source", inOrg, member, lim, "data_source.import_source.set", (*Server).putImportSource},
		{"DELETE", "/v1/data-sources/{id}/import-source", inOrg, member, lim, "data_source.import_source.delete", (*Server).deleteImportSource},
		{"POST", "/v1/data-sources/{id}/import", inOrg, member, lim, "data_source.import.run", (*Server).runImport},
		{"GET", "/v1/data-sources/{id}/imported-objects", inOrg, viewer, lim, "", (*Server).listImportedObjects},
		{"GET", "/v1/data-sources/{id}/grants", inOrg, viewer, lim, "", (*Server).listGrants},
		{"POST", "/v1/data-sources/{id}/grants", inOrg, member, lim, "grant.create", (*Server).createGrant},
		{"GET", "/v1/grants", inOrg, viewer, false, "", (*Server).listReceivedGrants},
		{"GET", "/v1/grants/{id}", inOrg, viewer, lim, "", (*Server).getGrant},
		{"DELETE", "/v1/grants/{id}", inOrg, member, lim, "grant.revoke", (*Server).revokeGrant},

		{"GET", "/v1/cohorts", inOrg, viewer, false, "", (*Server).listCohorts},
		{"POST", "/v1/cohorts", inOrg, member, false, "cohort.create", (*Server).createCohort},
		{"POST", "/v1/cohorts:estimate", inOrg, member, false, "cohort.estimate", (*Server).estimateCohort},
		{"GET", "/v1/cohorts/{id}", inOrg, viewer, false, "", (*Server).getCohort},
		{"PATCH", "/v1/cohorts/{id}", inOrg, member, false, "cohort.update", (*Server).updateCohort},
		{"DELETE", "/v1/cohorts/{id}", inOrg, member, false, "cohort.delete", (*Server).deleteCohort},
		{"GET", "/v1/cohorts/{id}/diagnostics", inOrg, viewer, false, "cohort.diagnostics.read", (*Server).cohortDiagnostics},
		{"GET", "/v1/ad-server-settings", inOrg, viewer, false, "", (*Server).getAdServerSettings},
		{"PUT", "/v1/ad-server-settings", inOrg, admin, false, "ad_server_settings.update", (*Server).putAdServerSettings},
		{"GET", "/v1/activation-export", inOrg, viewer, false, "activation.export", (*Server).exportActivation},
		{"GET", "/v1/cohorts/{id}/activation", inOrg, viewer, false, "", (*Server).getCohortActivation},
		{"PUT", "/v1/cohorts/{id}/activation/{connection_id}", inOrg, member, false, "cohort.activation.update", (*Server).putCohortActivation},
		{"PUT", "/v1/cohorts/{id}/frequency-cap", inOrg, member, false, "cohort.frequency_cap.update", (*Server).putFrequencyCap},
		{"DELETE", "/v1/cohorts/{id}/frequency-cap", inOrg, member, false, "cohort.frequency_cap.delete", (*Server).deleteFrequencyCap},
		{"GET", "/v1/cohorts/{id}/insights", inOrg, viewer, false, "cohort.insights.read", (*Server).cohortInsights},
		{"GET", "/v1/cohorts/{id}/insights.csv", inOrg, viewer, false, "cohort.insights.export", (*Server).cohortInsightsCSV},
		{"GET", "/v1/data-sources/{id}/diagnostics", inOrg, member, false, "data_source.diagnose", (*Server).dataSourceDiagnostics},

		{"GET", "/v1/admin/orgs", operatorOn, "", false, "", (*Server).adminListOrgs},
		{"POST", "/v1/admin/orgs", operatorOn, "", false, "org.create", (*Server).adminCreateOrg},
		{"GET", "/v1/admin/orgs/{id}", operatorOn, "", false, "", (*Server).adminGetOrg},
		{"POST", "/v1/admin/orgs/{id}/clean-room", operatorOn, "", false, "org.clean_room.enable", (*Server).adminEnableCleanRoom},
		{"PUT", "/v1/admin/orgs/{id}/dpa", operatorOn, "", false, "org.dpa.record", (*Server).adminRecordDPA},
		{"POST", "/v1/admin/orgs/{id}/users", operatorOn, "", false, "user.add", (*Server).adminAddUser},
		{"GET", "/v1/admin/orgs/{id}/users/{user_id}", operatorOn, "", false, "", (*Server).adminGetMember},
		{"GET", "/v1/admin/jobs", operatorOn, "", false, "", (*Server).adminListJobs},
		{"GET", "/v1/admin/provisional-access", operatorOn, "", false, "", (*Server).adminListProvisional},
		{"POST", "/v1/admin/provisional-access", operatorOn, "", false, "provisional_access.grant", (*Server).adminGrantProvisional},
		{"POST", "/v1/admin/bridges", operatorOn, "", false, "bridge.register", (*Server).adminRegisterBridge},
		{"GET", "/v1/admin/bridges/{id}", operatorOn, "", false, "", (*Server).adminGetBridge},
		{"POST", "/v1/admin/bridges/{id}/uploads", operatorOn, "", false, "upload.begin", (*Server).adminBeginBridgeUpload},
	}
}

// RouteInfo describes a route for tests and documentation.
type RouteInfo struct {
	Method, Path string
	// Access is public, signed_in, in_org or operator.
	Access string
	// Role is the least role for in_org routes; Limited says invited advertisers may call it too.
	Role    cleanroom.Role
	Limited bool
	// Audit is the audit action recorded on success, if any.
	Audit string
}

// Routes lists the API routes.
func (s *Server) Routes() []RouteInfo {
	var out []RouteInfo
	for _, rt := range s.routes() {
		out = append(out, RouteInfo{rt.Method, rt.Path, rt.Access.String(), rt.Role, rt.Limited, rt.Audit})
	}
	return out
}
