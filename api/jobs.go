package api

import (
	"net/http"
	"strconv"

	"github.com/cleanroom-oss/cleanroom"
)

func (s *Server) jobFilter(r *http.Request, orgID string) (cleanroom.JobFilter, error) {
	page, err := pageOf(r)
	if err != nil {
		return cleanroom.JobFilter{}, err
	}
	q := r.URL.Query()
	f := cleanroom.JobFilter{OrgID: orgID, Kind: q.Get("kind"), State: cleanroom.JobState(q.Get("state")), Page: page}
	if f.State != "" {
		valid := false
		for _, st := range cleanroom.JobStates {
			valid = valid || st == f.State
		}
		if !valid {
			return f, cleanroom.Errorf(cleanroom.EINVALID, "state %q is not one of queued, running, succeeded, failed, cancelled.", f.State).With("field", "state")
		}
	}
	return f, nil
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request, c *call) error {
	return s.replyJobs(r, c, c.Org.ID)
}

func (s *Server) adminListJobs(w http.ResponseWriter, r *http.Request, c *call) error {
	return s.replyJobs(r, c, r.URL.Query().Get("org_id"))
}

func (s *Server) replyJobs(r *http.Request, c *call, orgID string) error {
	f, err := s.jobFilter(r, orgID)
	if err != nil {
		return err
	}
	js, next, err := s.Store.ListJobs(r.Context(), f)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, list[*cleanroom.Job]{Items: js, Next: next})
}

// job loads the {id} job of the caller's org; other orgs' jobs are not found.
func (s *Server) job(r *http.Request, c *call) (*cleanroom.Job, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return nil, notFound("Job")
	}
	j, err := s.Store.FindJob(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if j.OrgID != c.Org.ID {
		return nil, notFound("Job")
	}
	c.target("job", strconv.FormatInt(j.ID, 10))
	return j, nil
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request, c *call) error {
	j, err := s.job(r, c)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, j)
}

func (s *Server) cancelJob(w http.ResponseWriter, r *http.Request, c *call) error {
	j, err := s.job(r, c)
	if err != nil {
		return err
	}
	if err := s.Store.CancelJob(r.Context(), j.ID, s.now()); err != nil {
		return err
	}
	if j, err = s.Store.FindJob(r.Context(), j.ID); err != nil {
		return err
	}
	return c.reply(http.StatusOK, j)
}
