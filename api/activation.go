package api

import (
	"encoding/json"
	"net/http"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/activation"
)

// errNoActivation answers activation routes on a server built without the activation service.
var errNoActivation = cleanroom.Errorf(cleanroom.EUNAVAILABLE, "This server does not activate cohorts.")

func (s *Server) getAdServerSettings(w http.ResponseWriter, r *http.Request, c *call) error {
	if s.Activation == nil {
		return errNoActivation
	}
	st, err := s.Activation.Settings(r.Context(), c.Caller)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, st)
}

func (s *Server) putAdServerSettings(w http.ResponseWriter, r *http.Request, c *call) error {
	if s.Activation == nil {
		return errNoActivation
	}
	var req struct {
		GAMNetworkCode string   `json:"gam_network_code"`
		GAMKey         string   `json:"gam_key"`
		XandrMemberID  string   `json:"xandr_member_id"`
		XandrKey       string   `json:"xandr_key"`
		Origins        []string `json:"origins"`
		UIDCookie      string   `json:"uid_cookie"`
		UIDStorageKey  string   `json:"uid_storage_key"`
		TimeZone       string   `json:"time_zone"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	st, err := s.Activation.PutSettings(r.Context(), c.Caller, cleanroom.AdServerSettings{GAMNetworkCode: req.GAMNetworkCode,
		GAMKey: req.GAMKey, XandrMemberID: req.XandrMemberID, XandrKey: req.XandrKey, Origins: req.Origins,
		UIDCookie: req.UIDCookie, UIDStorageKey: req.UIDStorageKey, TimeZone: req.TimeZone})
	if err != nil {
		return err
	}
	c.target("org", st.PublisherID)
	return c.reply(http.StatusOK, st)
}

// exportActivation answers the line-item export as JSON, or as CSV with ?format=csv.
func (s *Server) exportActivation(w http.ResponseWriter, r *http.Request, c *call) error {
	if s.Activation == nil {
		return errNoActivation
	}
	format := r.URL.Query().Get("format")
	if format != "" && format != "json" && format != "csv" {
		return cleanroom.Errorf(cleanroom.EINVALID, "The format must be json or csv.").With("field", "format")
	}
	rows, err := s.Activation.Export(r.Context(), c.Caller)
	if err != nil {
		return err
	}
	c.detail("cohorts", len(rows))
	if format != "csv" {
		return c.reply(http.StatusOK, map[string]any{"items": rows})
	}
	c.status = 0 // written here
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="cohort-codes.csv"`)
	return activation.WriteCSV(w, rows)
}

func (s *Server) getCohortActivation(w http.ResponseWriter, r *http.Request, c *call) error {
	if s.Activation == nil {
		return errNoActivation
	}
	id, err := s.cohort(r, c)
	if err != nil {
		return err
	}
	a, err := s.Activation.Activation(r.Context(), c.Caller, id)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, a)
}

// putCohortActivation sets the publisher's switches and, when sent, the deal (null removes it).
func (s *Server) putCohortActivation(w http.ResponseWriter, r *http.Request, c *call) error {
	if s.Activation == nil {
		return errNoActivation
	}
	id, err := s.cohort(r, c)
	if err != nil {
		return err
	}
	conn, err := pathID(r, "connection_id", "Connection")
	if err != nil {
		return err
	}
	var req struct {
		Direct       bool            `json:"direct"`
		Programmatic bool            `json:"programmatic"`
		Deal         json.RawMessage `json:"deal"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	c.detail("connection_id", conn)
	c.detail("direct", req.Direct)
	c.detail("programmatic", req.Programmatic)
	if len(req.Deal) > 0 {
		var d *cleanroom.Deal
		if string(req.Deal) != "null" {
			d = &cleanroom.Deal{}
			if err := json.Unmarshal(req.Deal, d); err != nil {
				return cleanroom.Errorf(cleanroom.EINVALID, "The deal is not of the expected shape.").With("field", "deal").
					Hint(`Send {"proposal_id": "...", "proposal_name": "...", "line_items": [{"id": "1234567890", "floor": "2.50", "currency": "USD"}]}, or null to remove it.`)
			}
		}
		if _, err := s.Activation.SetDeal(r.Context(), c.Caller, id, conn, d); err != nil {
			return err
		}
		c.detail("deal", d != nil)
	}
	if _, err := s.Activation.SetSwitches(r.Context(), c.Caller, id, conn, cleanroom.ActivationSwitches{Direct: req.Direct, Programmatic: req.Programmatic}); err != nil {
		return err
	}
	a, err := s.Activation.Activation(r.Context(), c.Caller, id)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, a)
}

func (s *Server) putFrequencyCap(w http.ResponseWriter, r *http.Request, c *call) error {
	if s.Activation == nil {
		return errNoActivation
	}
	id, err := s.cohort(r, c)
	if err != nil {
		return err
	}
	var req struct {
		MaxImpressions int                 `json:"max_impressions"`
		Period         cleanroom.CapPeriod `json:"period"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	f, err := s.Activation.SetCap(r.Context(), c.Caller, id, cleanroom.FrequencyCap{MaxImpressions: req.MaxImpressions, Period: req.Period})
	if err != nil {
		return err
	}
	c.detail("max_impressions", f.MaxImpressions)
	c.detail("period", f.Period)
	return c.reply(http.StatusOK, f)
}

func (s *Server) deleteFrequencyCap(w http.ResponseWriter, r *http.Request, c *call) error {
	if s.Activation == nil {
		return errNoActivation
	}
	id, err := s.cohort(r, c)
	if err != nil {
		return err
	}
	if err := s.Activation.DeleteCap(r.Context(), c.Caller, id); err != nil {
		return err
	}
	return c.reply(http.StatusNoContent, nil)
}
