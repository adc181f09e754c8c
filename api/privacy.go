package api

import (
	"net/http"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/disclosure"
)

// errNoPrivacy answers the privacy routes on a server built without the release gate.
var errNoPrivacy = cleanroom.Errorf(cleanroom.EUNAVAILABLE, "This server has no privacy settings.")

func (s *Server) connectionPrivacy(r *http.Request, c *call) (string, error) {
	if s.Privacy == nil {
		return "", errNoPrivacy
	}
	id, err := pathID(r, "id", "Connection")
	if err != nil {
		return "", err
	}
	c.target("connection", id)
	return id, nil
}

func (s *Server) getPrivacy(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := s.connectionPrivacy(r, c)
	if err != nil {
		return err
	}
	v, err := s.Privacy.Settings(r.Context(), s.Connections, c.Caller, id)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, v)
}

func (s *Server) updatePrivacy(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := s.connectionPrivacy(r, c)
	if err != nil {
		return err
	}
	var req disclosure.Change
	if err := decode(r, &req); err != nil {
		return err
	}
	v, err := s.Privacy.UpdateSettings(r.Context(), s.Connections, c.Caller, id, req)
	if err != nil {
		return err
	}
	c.detail("settings", v.Yours)
	c.detail("effective", v.Effective)
	return c.reply(http.StatusOK, v)
}
