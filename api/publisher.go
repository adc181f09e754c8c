package api

import (
	"bytes"
	"net/http"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/pubsync"
	"github.com/cleanroom-oss/cleanroom/uploads"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// maxEventsPerBatch bounds one identify/membership batch.
const maxEventsPerBatch = 100_000

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
	if err := uploads.PutPublisherTaxonomy(r.Context(), s.Store, c.Org.ID, tax, s.now()); err != nil {
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
	tax, err := uploads.LoadPublisherTaxonomy(r.Context(), s.Store, c.Org.ID)
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
	u, err := svc.Begin(r.Context(), c.Org.ID, c.User.ID, cleanroom.UploadPublisher, c.Org.ID, req.Name, req.Size, req.SHA256, req.MaxErrorRate)
	if err != nil {
		return err
	}
	c.target("upload", u.ID)
	c.detail("size", u.Size)
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

type eventsResponse struct {
	Version *cleanroom.Version `json:"version"`
	Report  *pubsync.Report    `json:"report"`
}

// postPublisherEvents applies a batch of identify and cohort-membership events: the next version
// of the audience, with a report of what was applied and what was refused.
func (s *Server) postPublisherEvents(w http.ResponseWriter, r *http.Request, c *call) error {
	svc, err := s.uploadsService()
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
	if n := len(batch.Identify) + len(batch.Memberships); n == 0 || n > maxEventsPerBatch {
		return cleanroom.Errorf(cleanroom.EINVALID, "A batch holds 1 to %d events; this one has %d.", maxEventsPerBatch, n).
			Hint("Send identify and membership events in batches (minutes of traffic each), not one call per event.")
	}
	ver, rep, err := svc.ApplyEvents(r.Context(), c.Org.ID, c.Org.ID, batch)
	if err != nil {
		return err
	}
	c.detail("identify", len(batch.Identify))
	c.detail("memberships", len(batch.Memberships))
	c.detail("version_id", ver.ID)
	return c.reply(http.StatusOK, eventsResponse{Version: ver, Report: rep})
}

// postErasures removes users from the audience and from every stored version.
func (s *Server) postErasures(w http.ResponseWriter, r *http.Request, c *call) error {
	svc, err := s.uploadsService()
	if err != nil {
		return err
	}
	if err := s.publisherOrg(c); err != nil {
		return err
	}
	var req struct {
		UserIDs []string `json:"user_ids"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if len(req.UserIDs) == 0 || len(req.UserIDs) > maxEventsPerBatch {
		return cleanroom.Errorf(cleanroom.EINVALID, "user_ids must list 1 to %d users.", maxEventsPerBatch).With("field", "user_ids")
	}
	ver, n, err := svc.Erase(r.Context(), c.Org.ID, c.Org.ID, req.UserIDs)
	if err != nil {
		return err
	}
	c.detail("requested", len(req.UserIDs))
	c.detail("erased", n)
	return c.reply(http.StatusOK, map[string]any{"erased": n, "version": ver})
}
