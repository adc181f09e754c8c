package api

import (
	"bytes"
	"io"
	"net/http"
	"strconv"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/httpx"
	"github.com/cleanroom-oss/cleanroom/ingest"
	"github.com/cleanroom-oss/cleanroom/pipeline"
	"github.com/cleanroom-oss/cleanroom/uploads"
)

// rawBodyRoutes take a non-JSON body larger than MaxBodyBytes: upload parts (up to the part
// limit) and taxonomy files.
var rawBodyRoutes = map[string]bool{
	"PUT /v1/uploads/{id}/content":       true,
	"PUT /v1/data-sources/{id}/taxonomy": true,
	"PUT /v1/publisher/taxonomy":         true,
}

// maxTaxonomyBytes bounds a taxonomy file (100k segments of generous length).
const maxTaxonomyBytes = 32 << 20

func (s *Server) uploadsService() (*uploads.Service, error) {
	if s.Uploads == nil {
		return nil, cleanroom.Errorf(cleanroom.EUNAVAILABLE, "This server does not accept uploads.")
	}
	return s.Uploads, nil
}

func (s *Server) pipelineService() (*pipeline.Service, error) {
	if s.Pipeline == nil {
		return nil, cleanroom.Errorf(cleanroom.EUNAVAILABLE, "This server does not process data.")
	}
	return s.Pipeline, nil
}

type beginUploadRequest struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256,omitempty"`
	// MaxErrorRate is the share of bad rows above which the file is refused (0: 5%).
	MaxErrorRate float64 `json:"max_error_rate,omitempty"`
	// ConfirmDrop lets a publisher profile file drop more than half of the audience.
	ConfirmDrop bool `json:"confirm_drop,omitempty"`
}

// spec is the upload the request begins.
func (req beginUploadRequest) spec(orgID, userID string, target cleanroom.UploadTarget, targetID string) uploads.Spec {
	return uploads.Spec{OrgID: orgID, UserID: userID, Target: target, TargetID: targetID, Name: req.Name, Size: req.Size,
		SHA256: req.SHA256, MaxErrorRate: req.MaxErrorRate, ConfirmDrop: req.ConfirmDrop}
}

func (s *Server) beginDataSourceUpload(w http.ResponseWriter, r *http.Request, c *call) error {
	svc, err := s.uploadsService()
	if err != nil {
		return err
	}
	ds, err := s.managedDataSource(r, c)
	if err != nil {
		return err
	}
	if _, err := s.Store.FindTaxonomy(r.Context(), ds.ID); cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
		return cleanroom.Errorf(cleanroom.ECONFLICT, "Data source %q has no taxonomy yet.", ds.Name).
			Hint("Upload the segment taxonomy CSV (segment_id,segment_name) with PUT /v1/data-sources/%s/taxonomy first.", ds.ID)
	} else if err != nil {
		return err
	}
	var req beginUploadRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	u, err := svc.Begin(r.Context(), req.spec(c.Org.ID, c.User.ID, cleanroom.UploadDataSource, ds.ID))
	if err != nil {
		return err
	}
	c.target("upload", u.ID)
	c.detail("data_source_id", ds.ID)
	c.detail("size", u.Size)
	return c.created("/v1/uploads/"+u.ID, u)
}

// upload loads the {id} upload if the caller may see it (and, for writes, change it).
func (s *Server) upload(r *http.Request, c *call, write bool) (*cleanroom.Upload, error) {
	id, err := pathID(r, "id", "Upload")
	if err != nil {
		return nil, err
	}
	u, err := s.Store.FindUpload(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if u.OrgID != c.Org.ID {
		return nil, notFound("Upload")
	}
	if u.Target == cleanroom.UploadBridge && !c.User.Operator {
		return nil, notFound("Upload") // an identity bridge's mapping is the operator's to handle
	}
	if u.Target == cleanroom.UploadDataSource {
		if write {
			_, err = s.Connections.ManagedDataSource(r.Context(), c.Caller, u.TargetID)
		} else {
			_, _, err = s.Connections.ReadableDataSource(r.Context(), c.Caller, u.TargetID)
		}
		if err != nil {
			if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
				return nil, notFound("Upload")
			}
			return nil, err
		}
	}
	c.target("upload", u.ID)
	return u, nil
}

func (s *Server) getUpload(w http.ResponseWriter, r *http.Request, c *call) error {
	u, err := s.upload(r, c, false)
	if err != nil {
		return err
	}
	if u.JobID != 0 && (u.State == cleanroom.UploadComplete || u.State == cleanroom.UploadProcessing) {
		if j, err := s.Store.FindJob(r.Context(), u.JobID); err == nil {
			u.Progress = &cleanroom.Progress{Done: j.ProgressDone, Total: j.ProgressTotal, Message: j.Message}
		}
	}
	return c.reply(http.StatusOK, u)
}

// putUploadContent stores one part; the Upload-Offset header says where it starts.
func (s *Server) putUploadContent(w http.ResponseWriter, r *http.Request, c *call) error {
	svc, err := s.uploadsService()
	if err != nil {
		return err
	}
	u, err := s.upload(r, c, true)
	if err != nil {
		return err
	}
	offset, err := strconv.ParseInt(r.Header.Get("Upload-Offset"), 10, 64)
	if err != nil || offset < 0 {
		return cleanroom.Errorf(cleanroom.EINVALID, "The Upload-Offset header must give the byte offset where this part starts.").
			With("offset", u.Received).Hint("Send Upload-Offset: %d.", u.Received)
	}
	if u, err = svc.WritePart(r.Context(), u, offset, r.Body, r.Header.Get("Upload-Part-SHA256")); err != nil {
		return err
	}
	w.Header().Set("Upload-Offset", strconv.FormatInt(u.Received, 10))
	c.detail("offset", offset)
	c.detail("received", u.Received)
	return c.reply(http.StatusOK, u)
}

func (s *Server) completeUpload(w http.ResponseWriter, r *http.Request, c *call) error {
	svc, err := s.uploadsService()
	if err != nil {
		return err
	}
	u, err := s.upload(r, c, true)
	if err != nil {
		return err
	}
	if u, err = svc.Complete(r.Context(), u); err != nil {
		return err
	}
	if u.Target == cleanroom.UploadDataSource {
		st := cleanroom.DataSourceProcessing
		if _, err := s.Store.UpdateDataSource(r.Context(), u.TargetID, cleanroom.DataSourceUpdate{Status: &st}, s.now()); err != nil {
			return err
		}
	}
	c.detail("job_id", u.JobID)
	return c.reply(http.StatusAccepted, u)
}

func (s *Server) abortUpload(w http.ResponseWriter, r *http.Request, c *call) error {
	svc, err := s.uploadsService()
	if err != nil {
		return err
	}
	u, err := s.upload(r, c, true)
	if err != nil {
		return err
	}
	if _, err := svc.Abort(r.Context(), u); err != nil {
		return err
	}
	return c.reply(http.StatusNoContent, nil)
}

func (s *Server) listDataSourceUploads(w http.ResponseWriter, r *http.Request, c *call) error {
	ds, err := s.readableDataSource(r, c)
	if err != nil {
		return err
	}
	page, err := pageOf(r)
	if err != nil {
		return err
	}
	us, next, err := s.Store.ListUploads(r.Context(), cleanroom.UploadDataSource, ds.ID, page)
	if err != nil {
		return err
	}
	if us == nil {
		us = []*cleanroom.Upload{}
	}
	return c.reply(http.StatusOK, list[*cleanroom.Upload]{Items: us, Next: next})
}

func (s *Server) listDataSourceVersions(w http.ResponseWriter, r *http.Request, c *call) error {
	ds, err := s.readableDataSource(r, c)
	if err != nil {
		return err
	}
	vs, err := s.Store.ListVersions(r.Context(), ds.ID)
	if err != nil {
		return err
	}
	res, err := pageList(r, vs, func(v *cleanroom.Version) string { return v.ID })
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, res)
}

type taxonomyResponse struct {
	Segments []ingest.Segment `json:"segments"`
}

// badTaxonomy is the error for a taxonomy file with bad rows: it lists them all, and hints at
// the first one's fix (line and hint given).
func badTaxonomy[R any](what string, rows []R, line int64, hint string) error {
	e := cleanroom.Errorf(cleanroom.EINVALID, "The %s has %d bad row(s); nothing was changed.", what, len(rows)).With("rows", rows)
	if hint != "" {
		e = e.Hint("Line %d: %s", line, hint)
	}
	return e
}

// putTaxonomy stores a data source's segment taxonomy from a CSV body; any bad row rejects it
// whole, with every row error listed.
func (s *Server) putTaxonomy(w http.ResponseWriter, r *http.Request, c *call) error {
	ds, err := s.managedDataSource(r, c)
	if err != nil {
		return err
	}
	body, err := readTaxonomyBody(r)
	if err != nil {
		return err
	}
	tax, rowErrs, err := ingest.ParseTaxonomy(bytes.NewReader(body))
	if err != nil {
		if len(rowErrs) > 0 {
			return badTaxonomy("taxonomy", rowErrs, rowErrs[0].Line, rowErrs[0].Hint)
		}
		return err
	}
	if err := pipeline.PutDataSourceTaxonomy(r.Context(), s.Store, ds.ID, tax, s.now()); err != nil {
		return err
	}
	out := taxonomyResponse{Segments: tax.Segments()}
	c.target("data_source", ds.ID)
	c.detail("segments", len(out.Segments))
	return c.reply(http.StatusOK, out)
}

func (s *Server) getTaxonomy(w http.ResponseWriter, r *http.Request, c *call) error {
	ds, err := s.readableDataSource(r, c)
	if err != nil {
		return err
	}
	tax, err := pipeline.DataSourceTaxonomy(r.Context(), s.Store, ds.ID)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, taxonomyResponse{Segments: tax.Segments()})
}

// unlinkDataSource deletes a data source with every version's file and key, its uploads, its
// taxonomy and its grants: crypto-shredding leaves nothing of the data behind.
func (s *Server) unlinkDataSource(w http.ResponseWriter, r *http.Request, c *call) error {
	svc, err := s.pipelineService()
	if err != nil {
		return err
	}
	ds, err := s.managedDataSource(r, c)
	if err != nil {
		return err
	}
	n, err := svc.Unlink(r.Context(), ds)
	if err != nil {
		return err
	}
	c.target("data_source", ds.ID)
	c.detail("name", ds.Name)
	c.detail("versions_shredded", n)
	if ds.AdvertiserID != "" && ds.AdvertiserID != ds.OrgID {
		c.audit.PartnerOrgID = ds.AdvertiserID
	}
	s.nudgeCohorts()
	return c.reply(http.StatusNoContent, nil)
}

// readTaxonomyBody reads a taxonomy CSV request body, refusing one over maxTaxonomyBytes.
func readTaxonomyBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxTaxonomyBytes+1))
	if err != nil {
		return nil, bodyError(err)
	}
	if len(body) > maxTaxonomyBytes {
		return nil, &httpx.StatusError{Status: http.StatusRequestEntityTooLarge, Err: cleanroom.Errorf(cleanroom.EINVALID, "The taxonomy file is larger than %d bytes.", maxTaxonomyBytes)}
	}
	return body, nil
}
