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

// spec is the upload the request begins; the service fills in who and to what.
func (req beginUploadRequest) spec() uploads.Spec {
	return uploads.Spec{Name: req.Name, Size: req.Size, SHA256: req.SHA256, MaxErrorRate: req.MaxErrorRate, ConfirmDrop: req.ConfirmDrop}
}

func (s *Server) beginDataSourceUpload(w http.ResponseWriter, r *http.Request, c *call) error {
	svc, err := s.pipelineService()
	if err != nil {
		return err
	}
	id, err := pathID(r, "id", "Data source")
	if err != nil {
		return err
	}
	var req beginUploadRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	u, err := svc.BeginDataSourceUpload(r.Context(), c.Caller, id, req.spec())
	if err != nil {
		return err
	}
	c.target("upload", u.ID)
	c.detail("data_source_id", u.TargetID)
	c.detail("size", u.Size)
	return c.created("/v1/uploads/"+u.ID, u)
}

// uploadID reads the {id} upload ID and names it as the audit target.
func uploadID(r *http.Request, c *call) (string, error) {
	id, err := pathID(r, "id", "Upload")
	if err == nil {
		c.target("upload", id)
	}
	return id, err
}

func (s *Server) getUpload(w http.ResponseWriter, r *http.Request, c *call) error {
	svc, err := s.pipelineService()
	if err != nil {
		return err
	}
	id, err := uploadID(r, c)
	if err != nil {
		return err
	}
	u, err := svc.Upload(r.Context(), c.Caller, id, false)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, u)
}

// putUploadContent stores one part; the Upload-Offset header says where it starts.
func (s *Server) putUploadContent(w http.ResponseWriter, r *http.Request, c *call) error {
	svc, err := s.pipelineService()
	if err != nil {
		return err
	}
	id, err := uploadID(r, c)
	if err != nil {
		return err
	}
	offset, err := strconv.ParseInt(r.Header.Get("Upload-Offset"), 10, 64)
	if err != nil || offset < 0 {
		e := cleanroom.Errorf(cleanroom.EINVALID, "The Upload-Offset header must give the byte offset where this part starts.")
		if u, err := svc.Upload(r.Context(), c.Caller, id, true); err == nil {
			e = e.With("offset", u.Received).Hint("Send Upload-Offset: %d.", u.Received)
		}
		return e
	}
	u, err := svc.WritePart(r.Context(), c.Caller, id, offset, r.Body, r.Header.Get("Upload-Part-SHA256"))
	if err != nil {
		return err
	}
	w.Header().Set("Upload-Offset", strconv.FormatInt(u.Received, 10))
	c.detail("offset", offset)
	c.detail("received", u.Received)
	return c.reply(http.StatusOK, u)
}

func (s *Server) completeUpload(w http.ResponseWriter, r *http.Request, c *call) error {
	svc, err := s.pipelineService()
	if err != nil {
		return err
	}
	id, err := uploadID(r, c)
	if err != nil {
		return err
	}
	u, err := svc.Complete(r.Context(), c.Caller, id)
	if err != nil {
		return err
	}
	c.detail("job_id", u.JobID)
	return c.reply(http.StatusAccepted, u)
}

func (s *Server) abortUpload(w http.ResponseWriter, r *http.Request, c *call) error {
	svc, err := s.pipelineService()
	if err != nil {
		return err
	}
	id, err := uploadID(r, c)
	if err != nil {
		return err
	}
	if _, err := svc.Abort(r.Context(), c.Caller, id); err != nil {
		return err
	}
	return c.reply(http.StatusNoContent, nil)
}

func (s *Server) listDataSourceUploads(w http.ResponseWriter, r *http.Request, c *call) error {
	svc, err := s.pipelineService()
	if err != nil {
		return err
	}
	id, err := pathID(r, "id", "Data source")
	if err != nil {
		return err
	}
	page, err := pageOf(r)
	if err != nil {
		return err
	}
	us, next, err := svc.DataSourceUploads(r.Context(), c.Caller, id, page)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, list[*cleanroom.Upload]{Items: us, Next: next})
}

func (s *Server) listDataSourceVersions(w http.ResponseWriter, r *http.Request, c *call) error {
	svc, err := s.pipelineService()
	if err != nil {
		return err
	}
	id, err := pathID(r, "id", "Data source")
	if err != nil {
		return err
	}
	vs, err := svc.DataSourceVersions(r.Context(), c.Caller, id)
	if err != nil {
		return err
	}
	res, err := pageList(r, vs, func(v *cleanroom.Version) string { return v.ID })
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, res)
}

// segment is one segment of a data source's taxonomy, as the API shows it.
type segment struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type taxonomyResponse struct {
	Segments []segment `json:"segments"`
}

func viewTaxonomy(tax *ingest.Taxonomy) taxonomyResponse {
	out := taxonomyResponse{Segments: []segment{}}
	for _, sg := range tax.Segments() {
		out.Segments = append(out.Segments, segment{ID: sg.ID, Name: sg.Name})
	}
	return out
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
	svc, err := s.pipelineService()
	if err != nil {
		return err
	}
	id, err := pathID(r, "id", "Data source")
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
	ds, err := svc.SetDataSourceTaxonomy(r.Context(), c.Caller, id, tax)
	if err != nil {
		return err
	}
	out := viewTaxonomy(tax)
	c.target("data_source", ds.ID)
	c.detail("segments", len(out.Segments))
	return c.reply(http.StatusOK, out)
}

func (s *Server) getTaxonomy(w http.ResponseWriter, r *http.Request, c *call) error {
	svc, err := s.pipelineService()
	if err != nil {
		return err
	}
	id, err := pathID(r, "id", "Data source")
	if err != nil {
		return err
	}
	tax, _, err := svc.DataSourceSegments(r.Context(), c.Caller, id)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, viewTaxonomy(tax))
}

// unlinkDataSource deletes a data source with every version's file and key, its uploads, its
// taxonomy and its grants: crypto-shredding leaves nothing of the data behind.
func (s *Server) unlinkDataSource(w http.ResponseWriter, r *http.Request, c *call) error {
	svc, err := s.pipelineService()
	if err != nil {
		return err
	}
	id, err := pathID(r, "id", "Data source")
	if err != nil {
		return err
	}
	ds, n, err := svc.UnlinkDataSource(r.Context(), c.Caller, id)
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
