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
	// Role is the least role an inOrg caller needs.
	Role cleanroom.Role
	// Audit is the action recorded on success; empty for reads that are not sensitive.
	Audit  string
	handle func(s *Server, w http.ResponseWriter, r *http.Request, c *call) error
}

// allows checks the caller against the route's access rule.
func (rt *route) allows(c *Caller) error {
	switch rt.Access {
	case inOrg:
		if c.Org == nil {
			return cleanroom.Errorf(cleanroom.EFORBIDDEN, "This route acts in an organization, and the credentials act in none.").
				Hint("Use a token issued for an organization, or choose one with PUT /v1/session/org.")
		}
		if !c.Role.AtLeast(rt.Role) {
			return cleanroom.Errorf(cleanroom.EFORBIDDEN, "This needs the %s role or higher; you are %s.", rt.Role, c.Role).
				With("required_role", rt.Role)
		}
	case operatorOn:
		if !c.User.Operator {
			return cleanroom.Errorf(cleanroom.EFORBIDDEN, "Only operators may do this.")
		}
	}
	return nil
}

// routes is the route table: every /v1 route, declared once. The OpenAPI document
// (openapi.json) must describe exactly these; a test checks it.
func (s *Server) routes() []*route {
	viewer, member, admin := cleanroom.RoleViewer, cleanroom.RoleMember, cleanroom.RoleAdmin
	return []*route{
		{"GET", "/v1/openapi.json", public, "", "", (*Server).openAPI},

		{"POST", "/v1/session", public, "", "session.create", (*Server).login},
		{"DELETE", "/v1/session", signedIn, "", "session.delete", (*Server).logout},
		{"PUT", "/v1/session/org", signedIn, "", "session.switch_org", (*Server).switchOrg},
		{"GET", "/v1/me", signedIn, "", "", (*Server).me},
		{"PUT", "/v1/me/password", signedIn, "", "user.password.change", (*Server).changePassword},

		{"GET", "/v1/org", inOrg, viewer, "", (*Server).getOrg},
		{"PATCH", "/v1/org", inOrg, admin, "org.update", (*Server).updateOrg},

		{"GET", "/v1/users", inOrg, viewer, "", (*Server).listUsers},
		{"POST", "/v1/users", inOrg, admin, "user.add", (*Server).addUser},
		{"GET", "/v1/users/{id}", inOrg, viewer, "", (*Server).getUser},
		{"PATCH", "/v1/users/{id}", inOrg, admin, "user.role.change", (*Server).updateUser},
		{"DELETE", "/v1/users/{id}", inOrg, admin, "user.remove", (*Server).removeUser},

		{"GET", "/v1/tokens", inOrg, viewer, "token.list", (*Server).listTokens},
		{"POST", "/v1/tokens", inOrg, member, "token.create", (*Server).createToken},
		{"DELETE", "/v1/tokens/{id}", inOrg, member, "token.revoke", (*Server).revokeToken},

		{"GET", "/v1/audit", signedIn, "", "audit.read", (*Server).listAudit},

		{"GET", "/v1/jobs", inOrg, viewer, "", (*Server).listJobs},
		{"GET", "/v1/jobs/{id}", inOrg, viewer, "", (*Server).getJob},
		{"POST", "/v1/jobs/{id}/cancel", inOrg, member, "job.cancel", (*Server).cancelJob},

		{"GET", "/v1/admin/orgs", operatorOn, "", "", (*Server).adminListOrgs},
		{"POST", "/v1/admin/orgs", operatorOn, "", "org.create", (*Server).adminCreateOrg},
		{"GET", "/v1/admin/orgs/{id}", operatorOn, "", "", (*Server).adminGetOrg},
		{"POST", "/v1/admin/orgs/{id}/clean-room", operatorOn, "", "org.clean_room.enable", (*Server).adminEnableCleanRoom},
		{"PUT", "/v1/admin/orgs/{id}/dpa", operatorOn, "", "org.dpa.record", (*Server).adminRecordDPA},
		{"POST", "/v1/admin/orgs/{id}/users", operatorOn, "", "user.add", (*Server).adminAddUser},
		{"GET", "/v1/admin/jobs", operatorOn, "", "", (*Server).adminListJobs},
	}
}

// RouteInfo describes a route for tests and documentation.
type RouteInfo struct {
	Method, Path string
	// Access is public, signed_in, in_org or operator.
	Access string
	// Role is the least role for in_org routes.
	Role cleanroom.Role
	// Audit is the audit action recorded on success, if any.
	Audit string
}

// Routes lists the API routes.
func (s *Server) Routes() []RouteInfo {
	var out []RouteInfo
	for _, rt := range s.routes() {
		out = append(out, RouteInfo{rt.Method, rt.Path, rt.Access.String(), rt.Role, rt.Audit})
	}
	return out
}
