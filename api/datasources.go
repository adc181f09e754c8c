package api

import (
	"net/http"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/connections"
)

// dataSourceView is a data source as the caller sees it: how it may use it now.
type dataSourceView struct {
	*cleanroom.DataSource
	// Access is "own" for the caller's own data, "granted" for data granted to the caller's org,
	// "listed" for an invited advertiser's data not granted to the workspace (existence only).
	Access connections.Access `json:"access"`
	// Usable says for what the caller's org may use the data now (grants included).
	Usable map[cleanroom.Use]bool `json:"usable"`
}

func (s *Server) viewDataSource(r *http.Request, c *call, ds *cleanroom.DataSource, access connections.Access) (*dataSourceView, error) {
	uses, err := s.Connections.Uses(r.Context(), c.Caller, ds, access)
	if err != nil {
		return nil, err
	}
	return &dataSourceView{DataSource: ds, Access: access, Usable: uses}, nil
}

func (s *Server) listDataSources(w http.ResponseWriter, r *http.Request, c *call) error {
	page, err := pageOf(r)
	if err != nil {
		return err
	}
	dss, access, next, err := s.Connections.DataSources(r.Context(), c.Caller, page)
	if err != nil {
		return err
	}
	out := list[*dataSourceView]{Items: []*dataSourceView{}, Next: next}
	for i, ds := range dss {
		v, err := s.viewDataSource(r, c, ds, access[i])
		if err != nil {
			return err
		}
		out.Items = append(out.Items, v)
	}
	return c.reply(http.StatusOK, out)
}

func (s *Server) createDataSource(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		Name        string `json:"name"`
		Description string `json:"description,omitempty"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	ds, err := s.Connections.CreateDataSource(r.Context(), c.Caller, req.Name, req.Description)
	if err != nil {
		return err
	}
	c.target("data_source", ds.ID)
	if ds.AdvertiserID != "" && ds.AdvertiserID != ds.OrgID {
		c.audit.PartnerOrgID = ds.AdvertiserID
	}
	v, err := s.viewDataSource(r, c, ds, connections.AccessOwn)
	if err != nil {
		return err
	}
	return c.created("/v1/data-sources/"+ds.ID, v)
}

func (s *Server) getDataSource(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id", "Data source")
	if err != nil {
		return err
	}
	ds, access, _, err := s.Connections.DataSource(r.Context(), c.Caller, id)
	if err != nil {
		return err
	}
	v, err := s.viewDataSource(r, c, ds, access)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, v)
}

func (s *Server) updateDataSource(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id", "Data source")
	if err != nil {
		return err
	}
	var req struct {
		Name        *string `json:"name"`
		Description *string `json:"description"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	ds, err := s.Connections.UpdateDataSource(r.Context(), c.Caller, id, req.Name, req.Description)
	if err != nil {
		return err
	}
	c.target("data_source", ds.ID)
	v, err := s.viewDataSource(r, c, ds, connections.AccessOwn)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, v)
}

// grantView is a grant with whether it is in force now.
type grantView struct {
	*cleanroom.Grant
	Active         bool   `json:"active"`
	DataSourceName string `json:"data_source_name,omitempty"`
}

func (s *Server) viewGrant(g *cleanroom.Grant, name string) *grantView {
	return &grantView{Grant: g, Active: g.Active(s.now()), DataSourceName: name}
}

func (s *Server) listGrants(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id", "Data source")
	if err != nil {
		return err
	}
	gs, ds, err := s.Connections.Grants(r.Context(), c.Caller, id)
	if err != nil {
		return err
	}
	views := []*grantView{}
	for _, g := range gs {
		views = append(views, s.viewGrant(g, ds.Name))
	}
	res, err := pageList(r, views, func(v *grantView) string { return v.ID })
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, res)
}

type createGrantRequest struct {
	GranteeID     string    `json:"grantee_id"`
	ExpiresAt     time.Time `json:"expires_at,omitzero"`
	AllowMatched  bool      `json:"allow_matched"`
	AllowModeled  bool      `json:"allow_modeled"`
	AllowInsights bool      `json:"allow_insights"`
}

func (s *Server) createGrant(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id", "Data source")
	if err != nil {
		return err
	}
	var req createGrantRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	g, err := s.Connections.CreateGrant(r.Context(), c.Caller, id, connections.GrantRequest{
		GranteeID: req.GranteeID, ExpiresAt: req.ExpiresAt,
		AllowMatched: req.AllowMatched, AllowModeled: req.AllowModeled, AllowInsights: req.AllowInsights})
	if err != nil {
		return err
	}
	c.audit.PartnerOrgID = g.GranteeID
	c.target("grant", g.ID)
	c.detail("data_source_id", g.DataSourceID)
	c.detail("uses", map[string]bool{"matched": g.AllowMatched, "modeled": g.AllowModeled, "insights": g.AllowInsights})
	if !g.ExpiresAt.IsZero() {
		c.detail("expires_at", g.ExpiresAt)
	}
	s.nudgeCohorts()
	return c.created("/v1/grants/"+g.ID, s.viewGrant(g, ""))
}

// listReceivedGrants lists the grants made to the caller's org (a demand-side workspace).
func (s *Server) listReceivedGrants(w http.ResponseWriter, r *http.Request, c *call) error {
	gs, dss, err := s.Connections.ReceivedGrants(r.Context(), c.Caller)
	if err != nil {
		return err
	}
	views := make([]*grantView, len(gs))
	for i, g := range gs {
		views[i] = s.viewGrant(g, dss[i].Name)
	}
	out, err := pageList(r, views, func(v *grantView) string { return v.ID })
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, out)
}

func (s *Server) getGrant(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id", "Grant")
	if err != nil {
		return err
	}
	g, ds, err := s.Connections.Grant(r.Context(), c.Caller, id)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, s.viewGrant(g, ds.Name))
}

func (s *Server) revokeGrant(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id", "Grant")
	if err != nil {
		return err
	}
	g, err := s.Connections.RevokeGrant(r.Context(), c.Caller, id)
	if err != nil {
		return err
	}
	c.audit.PartnerOrgID = g.GranteeID
	c.target("grant", g.ID)
	c.detail("data_source_id", g.DataSourceID)
	s.nudgeCohorts()
	return c.reply(http.StatusNoContent, nil)
}
