package api

import (
	"bytes"
	"net/http"
	"strconv"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/pipeline"
	"github.com/cleanroom-oss/cleanroom/pubsync"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// publisherOrg checks that the caller acts in a publisher with its clean room enabled.
func (s *Server) publisherOrg(c *call) error {
	if c.Org.Kind != cleanroom.OrgPublisher {
		return cleanroom.Errorf(cleanroom.EFORBIDDEN, "Audience sync is done in a publisher's supply-side workspace.").
			Hint("Switch to the publisher's organization.")
	}
	if !c.Org.CleanRoomEnabled() {
		return cleanroom.Errorf(cleanroom.EFORBIDDEN, "The clean room is not enabled for %s.", c.Org.Name).
			Hint("Ask the operator to enable it; that creates the vault your audience is kept in.")
	}
	c.target("org", c.Org.ID)
	return nil
}

type publisherTaxonomy struct {
	Cohorts []vault.CohortInfo `json:"cohorts"`
}

// putPublisherTaxonomy stores the publisher's custom cohorts (CSV cohort_id,name,iab_id,standard);
// any bad row rejects the file whole.
func (s *Server) putPublisherTaxonomy(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.publisherOrg(c); err != nil {
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
	if err := pipeline.PutPublisherTaxonomy(r.Context(), s.Store, c.Org.ID, tax, s.now()); err != nil {
		return err
	}
	out := publisherTaxonomy{Cohorts: tax.Cohorts()}
	c.detail("cohorts", len(out.Cohorts))
	return c.reply(http.StatusOK, out)
}

func (s *Server) getPublisherTaxonomy(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.publisherOrg(c); err != nil {
		return err
	}
	tax, err := pipeline.LoadPublisherTaxonomy(r.Context(), s.Store, c.Org.ID)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, publisherTaxonomy{Cohorts: tax.Cohorts()})
}

func (s *Server) beginPublisherUpload(w http.ResponseWriter, r *http.Request, c *call) error {
	svc, err := s.uploadsService()
	if err != nil {
		return err
	}
	if err := s.publisherOrg(c); err != nil {
		return err
	}
	if _, err := s.Store.FindTaxonomy(r.Context(), c.Org.ID); cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
		return cleanroom.Errorf(cleanroom.ECONFLICT, "There is no cohort taxonomy yet.").
			Hint("Upload it first with PUT /v1/publisher/taxonomy (cohort_id,name,iab_id,standard).")
	} else if err != nil {
		return err
	}
	var req beginUploadRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	u, err := svc.Begin(r.Context(), req.spec(c.Org.ID, c.User.ID, cleanroom.UploadPublisher, c.Org.ID))
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
	if err := s.publisherOrg(c); err != nil {
		return err
	}
	vs, err := s.Store.ListVersions(r.Context(), c.Org.ID)
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
	if err := s.publisherOrg(c); err != nil {
		return err
	}
	var batch pubsync.Batch
	if err := decode(r, &batch); err != nil {
		return err
	}
	j, err := svc.SubmitEvents(r.Context(), c.Org.ID, c.User.ID, batch)
	if err != nil {
		return err
	}
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
	if err := s.publisherOrg(c); err != nil {
		return err
	}
	var req pipeline.ErasureRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	j, err := svc.SubmitErasures(r.Context(), c.Org.ID, c.User.ID, req)
	if err != nil {
		return err
	}
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
