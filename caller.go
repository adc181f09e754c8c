package cleanroom

// Caller is who acts through a service, and in which org. Authentication builds it from a
// session or an API token; the services check every rule (role, side of a connection, tenancy)
// against it, so the HTTP layers only translate requests.
type Caller struct {
	// User is the person acting, or the org's service account when User.ServiceAccount is set;
	// nil for the system's own work (a cohort build acting for its workspace).
	User *User
	// Org is the org the caller acts in; nil for an operator acting in none. For the system's own
	// work only its ID is set.
	Org *Org
	// Role is the caller's role in Org (operators acting in an org they do not belong to are
	// admins there).
	Role Role
	// RepresentsID is, for RoleLimited, the advertiser the caller acts for.
	RepresentsID string
	// Token is the API token used, if any; Session the dashboard session, if any.
	Token   *Token
	Session *Session
}

// NewCaller returns a caller acting in orgID with role, for the system's own work and tests.
func NewCaller(orgID string, role Role) *Caller {
	return &Caller{Org: &Org{ID: orgID}, Role: role}
}

// MemberCaller returns m acting in org, for the demo, the CLI and tests.
func MemberCaller(m *Member, org *Org) *Caller {
	return &Caller{User: &m.User, Org: org, Role: m.Role, RepresentsID: m.RepresentsID}
}

// OrgID returns the ID of the org the caller acts in, or "".
func (c *Caller) OrgID() string {
	if c == nil || c.Org == nil {
		return ""
	}
	return c.Org.ID
}

// UserID returns the ID of the acting user (person or service account), or "" for the system.
func (c *Caller) UserID() string {
	if c == nil || c.User == nil {
		return ""
	}
	return c.User.ID
}

// Operator reports whether the caller is an operator of the deployment.
func (c *Caller) Operator() bool { return c != nil && c.User != nil && c.User.Operator }

// RequireOperator returns EFORBIDDEN unless the caller is an operator of the deployment.
func (c *Caller) RequireOperator() error {
	if !c.Operator() {
		return Errorf(EFORBIDDEN, "Only operators may do this.")
	}
	return nil
}

// InOrg returns EFORBIDDEN unless the caller acts in an org with at least role min (RoleLimited
// admits only itself).
func (c *Caller) InOrg(min Role) error {
	if c.OrgID() == "" {
		return Errorf(EFORBIDDEN, "This acts in an organization, and the credentials act in none.").
			Hint("Use a token issued for an organization, or choose one with PUT /v1/session/org.")
	}
	if !c.Role.AtLeast(min) {
		return Errorf(EFORBIDDEN, "This needs the %s role or higher; you are %s.", min, c.Role).With("required_role", min)
	}
	return nil
}
