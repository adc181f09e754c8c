package api

import (
	"net/http"
	"strconv"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/cohorts"
)

// insightsOf reads an insights request (the cohort, ?connection_id= and ?advanced=) and asks the
// cohort service, which applies every rule.
func (s *Server) insightsOf(r *http.Request, c *call) (*cohorts.Insights, error) {
	if s.Cohorts == nil {
		return nil, errNoCohorts
	}
	id, err := s.cohort(r, c)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	conn := q.Get("connection_id")
	if !cleanroom.IsID(conn) {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "Name the connection (the publisher) with ?connection_id=.").With("field", "connection_id")
	}
	advanced := false
	if a := q.Get("advanced"); a != "" {
		if advanced, err = strconv.ParseBool(a); err != nil {
			return nil, cleanroom.Errorf(cleanroom.EINVALID, "advanced must be true or false.").With("field", "advanced")
		}
	}
	c.detail("connection_id", conn)
	if advanced {
		c.detail("advanced", true)
	}
	return s.Cohorts.Insights(r.Context(), c.Caller, id, conn, advanced)
}

func (s *Server) cohortInsights(w http.ResponseWriter, r *http.Request, c *call) error {
	in, err := s.insightsOf(r, c)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, in)
}

func (s *Server) cohortInsightsCSV(w http.ResponseWriter, r *http.Request, c *call) error {
	in, err := s.insightsOf(r, c)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="cohort-`+in.CohortID+`-insights.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	c.status = 0 // written here
	return in.WriteCSV(w)
}

func (s *Server) servedUsers(w http.ResponseWriter, r *http.Request, c *call) error {
	if s.Cohorts == nil {
		return errNoCohorts
	}
	id, err := pathID(r, "id", "Connection")
	if err != nil {
		return err
	}
	out, err := s.Cohorts.ServedUsers(r.Context(), c.Caller, id)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, out)
}
