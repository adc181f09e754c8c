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
	if !cleanroom.IsID(req.PublisherID) {
		return cleanroom.Errorf(cleanroom.EINVALID, "publisher_id must be the ID of the publisher the mapping is for.").With("field", "publisher_id")
	}
	pub, err := s.Store.FindOrg(r.Context(), req.PublisherID)
	if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
		return cleanroom.Errorf(cleanroom.EINVALID, "There is no organization %s.", req.PublisherID).With("field", "publisher_id")
	} else if err != nil {
		return err
	}
	if pub.Kind != cleanroom.OrgPublisher || !pub.CleanRoomEnabled() {
		return cleanroom.Errorf(cleanroom.EINVALID, "%s is not a publisher with the clean room enabled.", pub.Name).With("field", "publisher_id").
			Hint("A bridge's mapping is kept in a publisher's vault: enable the clean room for the publisher first.")
	}
	b, err := svc.RegisterBridge(r.Context(), req.Name, pub.ID, req.Tags)
	if err != nil {
		return err
	}
	c.audit.OrgID = pub.ID
	c.target("bridge", b.ID)
	c.detail("name", b.Name)
	c.detail("tags", b.Tags)
	return c.created("/v1/admin/bridges/"+b.ID, b)
}

// adminBridge loads the {id} bridge for an operator route.
func (s *Server) adminBridge(r *http.Request, c *call) (*cleanroom.Bridge, error) {
	svc, err := s.pipelineService()
	if err != nil {
		return nil, err
	}
	id, err := pathID(r, "id", "Bridge")
	if err != nil {
		return nil, err
	}
	b, err := svc.Bridge(r.Context(), id)
	if err != nil {
		return nil, err
	}
	c.audit.OrgID = b.PublisherID
	c.target("bridge", b.ID)
	return b, nil
}

func (s *Server) adminGetBridge(w http.ResponseWriter, r *http.Request, c *call) error {
	b, err := s.adminBridge(r, c)
	if err != nil {
		return err
	}
	vs, err := s.Store.ListVersions(r.Context(), b.ID)
	if err != nil {
		return err
	}
	if vs == nil {
		vs = []*cleanroom.Version{}
	}
	return c.reply(http.StatusOK, bridgeResponse{Bridge: b, Versions: vs})
}

func (s *Server) adminBeginBridgeUpload(w http.ResponseWriter, r *http.Request, c *call) error {
	b, err := s.adminBridge(r, c)
	if err != nil {
		return err
	}
	var req beginUploadRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	svc, err := s.uploadsService()
	if err != nil {
		return err
	}
	u, err := svc.Begin(r.Context(), req.spec(b.PublisherID, c.User.ID, cleanroom.UploadBridge, b.ID))
	if err != nil {
		return err
	}
	c.target("upload", u.ID)
	c.detail("bridge_id", b.ID)
	c.detail("size", u.Size)
	return c.created("/v1/uploads/"+u.ID, u)
}
