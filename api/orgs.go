package api

import (
	"net/http"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/accounts"
)

func (s *Server) getOrg(w http.ResponseWriter, r *http.Request, c *call) error {
	return c.reply(http.StatusOK, c.Org)
}

func (s *Server) updateOrg(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		Name *string `json:"name"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	o, err := s.Accounts.RenameOrg(r.Context(), c.Caller, req.Name)
	if err != nil {
		return err
	}
	c.target("org", o.ID)
	return c.reply(http.StatusOK, o)
}

func (s *Server) adminListOrgs(w http.ResponseWriter, r *http.Request, c *call) error {
	page, err := pageOf(r)
	if err != nil {
		return err
	}
	orgs, next, err := s.Accounts.Orgs(r.Context(), c.Caller, page)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, list[*cleanroom.Org]{Items: orgs, Next: next})
}

func (s *Server) adminCreateOrg(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		Name string            `json:"name"`
		Kind cleanroom.OrgKind `json:"kind"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	o, err := s.Accounts.CreateOrg(r.Context(), req.Name, req.Kind)
	if err != nil {
		return err
	}
	c.audit.OrgID = o.ID
	c.target("org", o.ID)
	c.detail("kind", o.Kind)
	return c.created("/v1/admin/orgs/"+o.ID, o)
}

// adminOrg loads the {id} org for an operator route.
func (s *Server) adminOrg(r *http.Request, c *call) (*cleanroom.Org, error) {
	id, err := pathID(r, "id", "Organization")
	if err != nil {
		return nil, err
	}
	o, err := s.Accounts.Org(r.Context(), c.Caller, id)
	if err != nil {
		return nil, err
	}
	c.audit.OrgID = o.ID
	c.target("org", o.ID)
	return o, nil
}

func (s *Server) adminGetOrg(w http.ResponseWriter, r *http.Request, c *call) error {
	o, err := s.adminOrg(r, c)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, o)
}

func (s *Server) adminEnableCleanRoom(w http.ResponseWriter, r *http.Request, c *call) error {
	o, err := s.adminOrg(r, c)
	if err != nil {
		return err
	}
	if o, err = s.Accounts.EnableCleanRoom(r.Context(), o.ID); err != nil {
		return err
	}
	if o.DemandSideID != "" {
		c.detail("demand_side_id", o.DemandSideID)
	}
	return c.reply(http.StatusOK, o)
}

func (s *Server) adminRecordDPA(w http.ResponseWriter, r *http.Request, c *call) error {
	o, err := s.adminOrg(r, c)
	if err != nil {
		return err
	}
	var req struct {
		SignedAt time.Time `json:"signed_at"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if o, err = s.Accounts.RecordDPA(r.Context(), o.ID, req.SignedAt); err != nil {
		return err
	}
	c.detail("signed_at", o.DPASignedAt)
	return c.reply(http.StatusOK, o)
}

type addUserRequest struct {
	Email    string         `json:"email"`
	Name     string         `json:"name"`
	Password string         `json:"password"`
	Role     cleanroom.Role `json:"role"`
}

// adminAddUser adds a user to the {id} org at once (operators), attaching an existing account.
func (s *Server) adminAddUser(w http.ResponseWriter, r *http.Request, c *call) error {
	o, err := s.adminOrg(r, c)
	if err != nil {
		return err
	}
	var req addUserRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	// The org reads this entry: it says nothing of whether the account existed.
	m, _, err := s.Accounts.AddMember(r.Context(), o.ID, accounts.NewUser{Email: req.Email, Name: req.Name, Password: req.Password, Role: req.Role, AttachExisting: true})
	if err != nil {
		return err
	}
	c.target("user", m.ID)
	c.detail("role", m.Role)
	return c.created("/v1/admin/orgs/"+o.ID+"/users/"+m.ID, m)
}

func (s *Server) adminGetMember(w http.ResponseWriter, r *http.Request, c *call) error {
	o, err := s.adminOrg(r, c)
	if err != nil {
		return err
	}
	uid, err := pathID(r, "user_id", "Member")
	if err != nil {
		return err
	}
	m, err := s.Accounts.OrgMember(r.Context(), c.Caller, o.ID, uid)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, m)
}
