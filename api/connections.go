package api

import (
	"net/http"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/connections"
)

// connectionView is a connection as a caller sees it: with both parties' names, whether the
// partner may use it now, and what the caller may do through it.
type connectionView struct {
	*cleanroom.Connection
	PublisherName string                 `json:"publisher_name"`
	PartnerName   string                 `json:"partner_name"`
	Status        string                 `json:"status"`
	StatusReason  string                 `json:"status_reason,omitempty"`
	Capabilities  []cleanroom.Capability `json:"capabilities"`
}

func viewConnection(d *connections.Described) *connectionView {
	v := &connectionView{Connection: d.Connection, PublisherName: d.PublisherName, PartnerName: d.PartnerName,
		Status: "active", Capabilities: d.Capabilities}
	if !d.Active {
		v.Status, v.StatusReason = "suspended", d.Reason
	}
	return v
}

// describe returns conn as the caller sees it, in the API's shape.
func (s *Server) describe(r *http.Request, c *call, conn *cleanroom.Connection) (*connectionView, error) {
	d, err := s.Connections.Describe(r.Context(), c.Caller, conn)
	if err != nil {
		return nil, err
	}
	return viewConnection(d), nil
}

func (s *Server) listConnections(w http.ResponseWriter, r *http.Request, c *call) error {
	page, err := pageOf(r)
	if err != nil {
		return err
	}
	ds, next, err := s.Connections.List(r.Context(), c.Caller, page)
	if err != nil {
		return err
	}
	out := list[*connectionView]{Items: []*connectionView{}, Next: next}
	for _, d := range ds {
		out.Items = append(out.Items, viewConnection(d))
	}
	return c.reply(http.StatusOK, out)
}

type createConnectionRequest struct {
	// PartnerID is the advertiser's org ID (operator-driven) or the publisher's own demand-side
	// workspace ID (publisher-driven), as typed by the user.
	PartnerID   string                `json:"partner_id"`
	Permissions cleanroom.Permissions `json:"permissions"`
}

func (s *Server) createConnection(w http.ResponseWriter, r *http.Request, c *call) error {
	var req createConnectionRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	conn, partner, err := s.Connections.CreateConnection(r.Context(), c.Org.ID, req.PartnerID, req.Permissions)
	if err != nil {
		return err
	}
	c.audit.PartnerOrgID = partner.ID
	c.target("connection", conn.ID)
	c.detail("workflow", conn.Workflow)
	c.detail("permissions", conn.Permissions)
	v, err := s.describe(r, c, conn)
	if err != nil {
		return err
	}
	return c.created("/v1/connections/"+conn.ID, v)
}

// connection loads the {id} connection for a capability; connections the caller's org is not a
// party to are not found.
func (s *Server) connection(r *http.Request, c *call, capability cleanroom.Capability) (*cleanroom.Connection, error) {
	id, err := pathID(r, "id", "Connection")
	if err != nil {
		return nil, err
	}
	conn, err := s.Connections.Connection(r.Context(), c.Caller, id, capability)
	if err != nil {
		return nil, err
	}
	c.target("connection", conn.ID)
	c.audit.OrgID, c.audit.PartnerOrgID = conn.PublisherID, conn.PartnerID
	return conn, nil
}

func (s *Server) getConnection(w http.ResponseWriter, r *http.Request, c *call) error {
	conn, err := s.connection(r, c, cleanroom.CapViewConnection)
	if err != nil {
		return err
	}
	v, err := s.describe(r, c, conn)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, v)
}

func (s *Server) updateConnection(w http.ResponseWriter, r *http.Request, c *call) error {
	conn, err := s.connection(r, c, cleanroom.CapManageConnection)
	if err != nil {
		return err
	}
	var req struct {
		Permissions *cleanroom.Permissions `json:"permissions"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Permissions == nil {
		return cleanroom.Errorf(cleanroom.EINVALID, "permissions is missing.").With("field", "permissions").
			Hint("Send the whole permissions object; toggles left out are turned off.")
	}
	before := conn.Permissions
	if conn, err = s.Connections.UpdatePermissions(r.Context(), c.Caller, conn.ID, *req.Permissions); err != nil {
		return err
	}
	c.detail("before", before)
	c.detail("after", conn.Permissions)
	v, err := s.describe(r, c, conn)
	if err != nil {
		return err
	}
	s.nudgeCohorts()
	return c.reply(http.StatusOK, v)
}

func (s *Server) deleteConnection(w http.ResponseWriter, r *http.Request, c *call) error {
	conn, err := s.connection(r, c, cleanroom.CapManageConnection)
	if err != nil {
		return err
	}
	if _, err := s.Connections.DeleteConnection(r.Context(), c.Caller, conn.ID); err != nil {
		return err
	}
	c.detail("workflow", conn.Workflow)
	c.detail("stopped", "every cohort activation, targeting entry and deal through this connection")
	s.nudgeCohorts()
	return c.reply(http.StatusNoContent, nil)
}

type optOuts struct {
	CohortIDs []string `json:"cohort_ids"`
}

func (s *Server) getOptOuts(w http.ResponseWriter, r *http.Request, c *call) error {
	ids, err := s.Connections.StandardOptOuts(r.Context(), c.Caller)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, optOuts{CohortIDs: ids})
}

func (s *Server) setOptOuts(w http.ResponseWriter, r *http.Request, c *call) error {
	var req optOuts
	if err := decode(r, &req); err != nil {
		return err
	}
	ids, err := s.Connections.SetStandardOptOuts(r.Context(), c.Caller, req.CohortIDs)
	if err != nil {
		return err
	}
	c.target("org", c.Org.ID)
	c.detail("cohort_ids", ids)
	return c.reply(http.StatusOK, optOuts{CohortIDs: ids})
}

func (s *Server) listInvitations(w http.ResponseWriter, r *http.Request, c *call) error {
	page, err := pageOf(r)
	if err != nil {
		return err
	}
	invs, next, err := s.Accounts.Invitations(r.Context(), c.Caller, page)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, list[*cleanroom.Invitation]{Items: invs, Next: next})
}

func (s *Server) createInvitation(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		Email        string `json:"email"`
		AdvertiserID string `json:"advertiser_id"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	inv, err := s.Connections.Invite(r.Context(), c.Caller, req.Email, req.AdvertiserID)
	if err != nil {
		return err
	}
	c.audit.PartnerOrgID = inv.RepresentsID
	c.target("invitation", inv.ID)
	return c.created("/v1/invitations/"+inv.ID, inv)
}

func (s *Server) getInvitation(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id", "Invitation")
	if err != nil {
		return err
	}
	inv, err := s.Accounts.Invitation(r.Context(), c.Caller, id)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, inv)
}

func (s *Server) withdrawInvitation(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id", "Invitation")
	if err != nil {
		return err
	}
	inv, err := s.Accounts.WithdrawInvitation(r.Context(), c.Caller, id)
	if err != nil {
		return err
	}
	c.audit.PartnerOrgID = inv.RepresentsID
	c.target("invitation", inv.ID)
	return c.reply(http.StatusNoContent, nil)
}

func (s *Server) adminListProvisional(w http.ResponseWriter, r *http.Request, c *call) error {
	ps, err := s.Connections.ProvisionalAccess(r.Context(), c.Caller, r.URL.Query().Get("org_id"))
	if err != nil {
		return err
	}
	res, err := pageList(r, ps, func(p *cleanroom.ProvisionalAccess) string { return p.ID })
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, res)
}

func (s *Server) adminGrantProvisional(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		OrgID       string    `json:"org_id"`
		PublisherID string    `json:"publisher_id"`
		ExpiresAt   time.Time `json:"expires_at"`
		Reason      string    `json:"reason,omitempty"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	p, err := s.Connections.GrantProvisionalAccess(r.Context(), c.User.ID, req.OrgID, req.PublisherID, req.ExpiresAt, req.Reason)
	if err != nil {
		return err
	}
	c.audit.OrgID, c.audit.PartnerOrgID = p.PublisherID, p.OrgID
	c.target("provisional_access", p.ID)
	c.detail("expires_at", p.ExpiresAt)
	return c.created("/v1/admin/provisional-access?org_id="+p.OrgID, p)
}
