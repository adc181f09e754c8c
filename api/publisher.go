package api

import (
	"bytes"
	"net/http"
	"strconv"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/pipeline"
	"github.com/cleanroom-oss/cleanroom/pubsync"
)

// publisherCohort is one custom cohort of a publisher's taxonomy, as the API shows it.
type publisherCohort struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	IABID    int    `json:"iab_id,omitempty"`
	Standard bool   `json:"standard,omitempty"`
}

type publisherTaxonomy struct {
	Cohorts []publisherCohort `json:"cohorts"`
}

func viewPublisherTaxonomy(tax *pubsync.Taxonomy) publisherTaxonomy {
	out := publisherTaxonomy{Cohorts: []publisherCohort{}}
	for _, c := range tax.Cohorts() {
		out.Cohorts = append(out.Cohorts, publisherCohort{ID: c.ID, Name: c.Name, IABID: c.IABID, Standard: c.Standard})
	}
	return out
}

// putPublisherTaxonomy stores the publisher's custom cohorts (CSV cohort_id,name,iab_id,standard);
// any bad row rejects the file whole.
func (s *Server) putPublisherTaxonomy(w http.ResponseWriter, r *http.Request, c *call) error {
	svc, err := s.pipelineService()
	if err != nil {
		return err
	}
	body, err := readTaxonomyBody(r)
	if err != nil {
		return err
	}
	tax, rowErrs, err := pubsync.ParseTaxonomy(bytes.NewReader(body))
	if err != nil {
		if len(rowErrs) > 0 {
			return badTaxonomy("cohort taxonomy", rowErrs, rowErrs[0].Line, rowErrs[0].Hint)
		}
		return err
	}
	if err := svc.SetPublisherTaxonomy(r.Context(), c.Caller, tax); err != nil {
		return err
	}
	out := viewPublisherTaxonomy(tax)
	c.target("org", c.Org.ID)
	c.detail("cohorts", len(out.Cohorts))
	return c.reply(http.StatusOK, out)
}

func (s *Server) getPublisherTaxonomy(w http.ResponseWriter, r *http.Request, c *call) error {
	svc, err := s.pipelineService()
	if err != nil {
		return err
	}
	tax, err := svc.PublisherTaxonomyOf(r.Context(), c.Caller)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, viewPublisherTaxonomy(tax))
}

func (s *Server) beginPublisherUpload(w http.ResponseWriter, r *http.Request, c *call) error {
	svc, err := s.pipelineService()
	if err != nil {
		return err
	}
	var req beginUploadRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	u, err := svc.BeginPublisherUpload(r.Context(), c.Caller, req.spec())
	if err != nil {
		return err
	}
	c.target("upload", u.ID)
	c.detail("size", u.Size)
	if u.ConfirmDrop {
		c.detail("confirm_drop", true)
	}
	return c.created("/v1/uploads/"+u.ID, u)
}

func (s *Server) listPublisherVersions(w http.ResponseWriter, r *http.Request, c *call) error {
	svc, err := s.pipelineService()
	if err != nil {
		return err
	}
	vs, err := svc.PublisherVersions(r.Context(), c.Caller)
	if err != nil {
		return err
	}
	res, err := pageList(r, vs, func(v *cleanroom.Version) string { return v.ID })
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, res)
}

// postPublisherEvents stores a batch of identify and cohort-membership events and answers with
// the job that applies it (after the publisher's earlier changes); the job's upload gets the
// report of what was applied and what was refused.
func (s *Server) postPublisherEvents(w http.ResponseWriter, r *http.Request, c *call) error {
	svc, err := s.pipelineService()
	if err != nil {
		return err
	}
	var batch pubsync.Batch
	if err := decode(r, &batch); err != nil {
		return err
	}
	j, err := svc.SendEvents(r.Context(), c.Caller, batch)
	if err != nil {
		return err
	}
	c.target("org", c.Org.ID)
	c.detail("identify", len(batch.Identify))
	c.detail("memberships", len(batch.Memberships))
	return s.jobAccepted(c, j)
}

// postErasures stores an erasure request and answers with the job that removes the users from
// the audience and from every stored version.
func (s *Server) postErasures(w http.ResponseWriter, r *http.Request, c *call) error {
	svc, err := s.pipelineService()
	if err != nil {
		return err
	}
	var req pipeline.ErasureRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	j, err := svc.RequestErasures(r.Context(), c.Caller, req)
	if err != nil {
		return err
	}
	c.target("org", c.Org.ID)
	c.detail("requested", len(req.UserIDs))
	return s.jobAccepted(c, j)
}

// jobAccepted answers 202 with a queued job and its location.
func (s *Server) jobAccepted(c *call, j *cleanroom.Job) error {
	id := strconv.FormatInt(j.ID, 10)
	c.detail("job_id", j.ID)
	c.location = "/v1/jobs/" + id
	return c.reply(http.StatusAccepted, j)
}
