package api

import (
	"net/http"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/imports"
)

// Imports from a bucket: the import source of a data source or of the caller's publisher
// audience, running it now, and the objects it took in. The rules are the imports service's.

// importTarget reads the route's target: the {id} data source, or the caller's publisher
// audience on /v1/publisher routes.
func (s *Server) importTarget(r *http.Request, c *call) (imports.Target, error) {
	if s.Imports == nil {
		return imports.Target{}, cleanroom.Errorf(cleanroom.EUNAVAILABLE, "This server does not import from buckets.")
	}
	if r.PathValue("id") == "" {
		if c.Org != nil {
			c.target("org", c.Org.ID)
		}
		return imports.Publisher(), nil
	}
	id, err := pathID(r, "id", "Data source")
	if err != nil {
		return imports.Target{}, err
	}
	c.target("data_source", id)
	return imports.DataSource(id), nil
}

func (s *Server) getImportSource(w http.ResponseWriter, r *http.Request, c *call) error {
	t, err := s.importTarget(r, c)
	if err != nil {
		return err
	}
	src, err := s.Imports.Source(r.Context(), c.Caller, t)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, src)
}

type importSourceRequest struct {
	Endpoint    string `json:"endpoint"`
	Bucket      string `json:"bucket"`
	Prefix      string `json:"prefix"`
	Region      string `json:"region"`
	AccessKeyID string `json:"access_key_id"`
	// SecretAccessKey, when absent, keeps the stored secret.
	SecretAccessKey *string                  `json:"secret_access_key"`
	Schedule        cleanroom.ImportSchedule `json:"schedule"`
	Enabled         *bool                    `json:"enabled"`
	MaxErrorRate    float64                  `json:"max_error_rate"`
}

func (s *Server) putImportSource(w http.ResponseWriter, r *http.Request, c *call) error {
	t, err := s.importTarget(r, c)
	if err != nil {
		return err
	}
	var req importSourceRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	src, err := s.Imports.Put(r.Context(), c.Caller, t, imports.Settings{Endpoint: req.Endpoint, Bucket: req.Bucket, Prefix: req.Prefix,
		Region: req.Region, AccessKeyID: req.AccessKeyID, SecretAccessKey: req.SecretAccessKey, Schedule: req.Schedule,
		Enabled: req.Enabled, MaxErrorRate: req.MaxErrorRate})
	if err != nil {
		return err
	}
	// The audit entry says where from and whether the secret changed; never the credentials.
	c.detail("import_source_id", src.ID)
	c.detail("endpoint", src.Endpoint)
	c.detail("bucket", src.Bucket)
	c.detail("prefix", src.Prefix)
	c.detail("schedule", src.Schedule)
	c.detail("enabled", src.Enabled)
	c.detail("secret_changed", req.SecretAccessKey != nil)
	return c.reply(http.StatusOK, src)
}

func (s *Server) deleteImportSource(w http.ResponseWriter, r *http.Request, c *call) error {
	t, err := s.importTarget(r, c)
	if err != nil {
		return err
	}
	src, err := s.Imports.Delete(r.Context(), c.Caller, t)
	if err != nil {
		return err
	}
	c.detail("import_source_id", src.ID)
	return c.reply(http.StatusNoContent, nil)
}

func (s *Server) runImport(w http.ResponseWriter, r *http.Request, c *call) error {
	t, err := s.importTarget(r, c)
	if err != nil {
		return err
	}
	j, src, err := s.Imports.Run(r.Context(), c.Caller, t)
	if err != nil {
		return err
	}
	c.detail("import_source_id", src.ID)
	return s.jobAccepted(c, j)
}

func (s *Server) listImportedObjects(w http.ResponseWriter, r *http.Request, c *call) error {
	t, err := s.importTarget(r, c)
	if err != nil {
		return err
	}
	page, err := pageOf(r)
	if err != nil {
		return err
	}
	objs, next, err := s.Imports.Objects(r.Context(), c.Caller, t, page)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, list[*cleanroom.ImportedObject]{Items: objs, Next: next})
}
