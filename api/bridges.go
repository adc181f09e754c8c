package api

import (
	"net/http"

	"github.com/cleanroom-oss/cleanroom"
)

// Identity bridges: an operator registers a bridge provider for a publisher; the provider's
// mapping (tag+value to tag+value) is that publisher's vault data, so its uploads and versions
// belong to the publisher's org. The operator begins an upload here, then sends the parts and
// completes it with the ordinary upload routes, using a token that acts in the publisher's org
// (operators may act in any org as admin).

type bridgeResponse struct {
	*cleanroom.Bridge
	Versions []*cleanroom.Version `json:"versions"`
}

func (s *Server) adminRegisterBridge(w http.ResponseWriter, r *http.Request, c *call) error {
	svc, err := s.pipelineService()
	if err != nil {
		return err
	}
	var req struct {
		Name        string   `json:"name"`
		PublisherID string   `json:"publisher_id"`
		Tags        []string `json:"tags"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	b, err := svc.RegisterPublisherBridge(r.Context(), c.Caller, req.Name, req.PublisherID, req.Tags)
	if err != nil {
		return err
	}
	c.audit.OrgID = b.PublisherID
	c.target("bridge", b.ID)
	c.detail("name", b.Name)
	c.detail("tags", b.Tags)
	return c.created("/v1/admin/bridges/"+b.ID, b)
}

func (s *Server) adminGetBridge(w http.ResponseWriter, r *http.Request, c *call) error {
	svc, err := s.pipelineService()
	if err != nil {
		return err
	}
	id, err := pathID(r, "id", "Bridge")
	if err != nil {
		return err
	}
	b, err := svc.OperatorBridge(r.Context(), c.Caller, id)
	if err != nil {
		return err
	}
	c.audit.OrgID = b.PublisherID
	vs, err := svc.BridgeVersions(r.Context(), c.Caller, b)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, bridgeResponse{Bridge: b, Versions: nonNilVersions(vs)})
}

func (s *Server) adminBeginBridgeUpload(w http.ResponseWriter, r *http.Request, c *call) error {
	svc, err := s.pipelineService()
	if err != nil {
		return err
	}
	id, err := pathID(r, "id", "Bridge")
	if err != nil {
		return err
	}
	var req beginUploadRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	u, b, err := svc.BeginBridgeUpload(r.Context(), c.Caller, id, req.spec())
	if err != nil {
		return err
	}
	c.audit.OrgID = b.PublisherID
	c.target("upload", u.ID)
	c.detail("bridge_id", b.ID)
	c.detail("size", u.Size)
	return c.created("/v1/uploads/"+u.ID, u)
}

// nonNilVersions answers an empty list as [], not null.
func nonNilVersions(vs []*cleanroom.Version) []*cleanroom.Version {
	if vs == nil {
		return []*cleanroom.Version{}
	}
	return vs
}
