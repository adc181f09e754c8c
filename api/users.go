package api

import (
	"net/http"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/accounts"
)

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, c *call) error {
	page, err := pageOf(r)
	if err != nil {
		return err
	}
	ms, next, err := s.Accounts.Members(r.Context(), c.Caller, page)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, list[*cleanroom.Member]{Items: ms, Next: next})
}

// addUser invites a person into the caller's org: the answer is the same whatever the address
// (see accounts.Service.InviteMember).
func (s *Server) addUser(w http.ResponseWriter, r *http.Request, c *call) error {
	var req addUserRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	inv, err := s.Accounts.InviteMember(r.Context(), c.Caller,
		accounts.NewUser{Email: req.Email, Name: req.Name, Password: req.Password, Role: req.Role})
	if err != nil {
		return err
	}
	c.target("invitation", inv.ID)
	c.detail("role", inv.Role)
	return c.created("/v1/invitations/"+inv.ID, inv)
}

// member loads the {id} user as a member of the caller's org; users of other orgs are not found.
func (s *Server) member(r *http.Request, c *call) (*cleanroom.Member, error) {
	id, err := pathID(r, "id", "User")
	if err != nil {
		return nil, err
	}
	m, err := s.Accounts.Member(r.Context(), c.Caller, id)
	if err == nil {
		c.target("user", m.ID)
	}
	return m, err
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request, c *call) error {
	m, err := s.member(r, c)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, m)
}

func (s *Server) updateUser(w http.ResponseWriter, r *http.Request, c *call) error {
	m, err := s.member(r, c)
	if err != nil {
		return err
	}
	var req struct {
		Role cleanroom.Role `json:"role"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	from := m.Role
	if m, err = s.Accounts.SetRole(r.Context(), c.Org.ID, m.ID, req.Role); err != nil {
		return err
	}
	c.detail("from", from)
	c.detail("to", m.Role)
	return c.reply(http.StatusOK, m)
}

func (s *Server) removeUser(w http.ResponseWriter, r *http.Request, c *call) error {
	m, err := s.member(r, c)
	if err != nil {
		return err
	}
	if err := s.Accounts.RemoveMember(r.Context(), c.Org.ID, m.ID); err != nil {
		return err
	}
	return c.reply(http.StatusNoContent, nil)
}
