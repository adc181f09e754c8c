package api

import (
	"context"
	"net/http"
	"strconv"

	"github.com/cleanroom-oss/cleanroom"
)

// jobFilter reads the job list's query parameters.
func jobFilter(r *http.Request) (cleanroom.JobFilter, error) {
	page, err := pageOf(r)
	if err != nil {
		return cleanroom.JobFilter{}, err
	}
	q := r.URL.Query()
	return cleanroom.JobFilter{OrgID: q.Get("org_id"), Kind: q.Get("kind"), State: cleanroom.JobState(q.Get("state")), Page: page}, nil
}

// listJobs lists the caller's org's jobs.
func (s *Server) listJobs(w http.ResponseWriter, r *http.Request, c *call) error {
	return s.replyJobs(r, c, s.Jobs.List)
}

// adminListJobs lists every org's jobs (or ?org_id='s), for operators.
func (s *Server) adminListJobs(w http.ResponseWriter, r *http.Request, c *call) error {
	return s.replyJobs(r, c, s.Jobs.ListAll)
}

func (s *Server) replyJobs(r *http.Request, c *call, find func(context.Context, *cleanroom.Caller, cleanroom.JobFilter) ([]*cleanroom.Job, string, error)) error {
	f, err := jobFilter(r)
	if err != nil {
		return err
	}
	js, next, err := find(r.Context(), c.Caller, f)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, list[*cleanroom.Job]{Items: js, Next: next})
}

// jobID reads the {id} job ID; a malformed one is not found.
func jobID(r *http.Request, c *call) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, notFound("Job")
	}
	c.target("job", strconv.FormatInt(id, 10))
	return id, nil
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := jobID(r, c)
	if err != nil {
		return err
	}
	j, err := s.Jobs.Get(r.Context(), c.Caller, id)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, j)
}

func (s *Server) cancelJob(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := jobID(r, c)
	if err != nil {
		return err
	}
	j, err := s.Jobs.Cancel(r.Context(), c.Caller, id)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, j)
}
