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
	// Access is "own" for the caller's own data, "granted" for data granted to the caller's org.
	Access string `json:"access"`
	// Usable says for what the caller's org may use the data now (grants included).
	Usable map[cleanroom.Use]bool `json:"usable"`
}

func (s *Server) viewDataSource(r *http.Request, c *call, ds *cleanroom.DataSource, grant *cleanroom.Grant) *dataSourceView {
	v := &dataSourceView{DataSource: ds, Access: "own", Usable: map[cleanroom.Use]bool{}}
	if grant != nil {
		v.Access = "granted"
	}
	for _, use := range []cleanroom.Use{cleanroom.UseMatched, cleanroom.UseModeled, cleanroom.UseInsights} {
		_, err := s.Connections.Usable(r.Context(), c.Caller, ds.ID, use)
		v.Usable[use] = err == nil && c.Role != cleanroom.RoleLimited
	}
	return v
}

func (s *Server) listDataSources(w http.ResponseWriter, r *http.Request, c *call) error {
	page, err := pageOf(r)
	if err != nil {
		return err
	}
	f := cleanroom.DataSourceFilter{OrgID: c.Org.ID, Page: page}
	if c.Role == cleanroom.RoleLimited {
		f.AdvertiserID = c.RepresentsID
	}
	dss, next, err := s.Store.ListDataSources(r.Context(), f)
	if err != nil {
		return err
	}
	out := list[*dataSourceView]{Items: []*dataSourceView{}, Next: next}
	for _, ds := range dss {
		out.Items = append(out.Items, s.viewDataSource(r, c, ds, nil))
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
	return c.created("/v1/data-sources/"+ds.ID, s.viewDataSource(r, c, ds, nil))
}

// dataSource loads the {id} data source visible to the caller.
func (s *Server) dataSource(r *http.Request, c *call) (*cleanroom.DataSource, *cleanroom.Grant, error) {
	id, err := pathID(r, "id", "Data source")
	if err != nil {
		return nil, nil, err
	}
	ds, g, err := s.Connections.DataSource(r.Context(), c.Caller, id)
	if err != nil {
		return nil, nil, err
	}
	c.target("data_source", ds.ID)
	return ds, g, nil
}

// managedDataSource loads the {id} data source if the caller may change it (its advertiser side).
func (s *Server) managedDataSource(r *http.Request, c *call) (*cleanroom.DataSource, error) {
	id, err := pathID(r, "id", "Data source")
	if err != nil {
		return nil, err
	}
	return s.Connections.ManagedDataSource(r.Context(), c.Caller, id)
}

func (s *Server) getDataSource(w http.ResponseWriter, r *http.Request, c *call) error {
	ds, g, err := s.dataSource(r, c)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, s.viewDataSource(r, c, ds, g))
}

func (s *Server) updateDataSource(w http.ResponseWriter, r *http.Request, c *call) error {
	ds, err := s.managedDataSource(r, c)
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
	next := *ds
	if req.Name != nil {
		next.Name = *req.Name
	}
	if req.Description != nil {
		next.Description = *req.Description
	}
	if err := next.Validate(); err != nil {
		return err
	}
	if ds, err = s.Store.UpdateDataSource(r.Context(), ds.ID, cleanroom.DataSourceUpdate{Name: req.Name, Description: req.Description}, s.now()); err != nil {
		return err
	}
	c.target("data_source", ds.ID)
	return c.reply(http.StatusOK, s.viewDataSource(r, c, ds, nil))
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
	ds, g, err := s.dataSource(r, c)
	if err != nil {
		return err
	}
	granteeID := ""
	if g != nil {
		granteeID = c.Org.ID // a grantee sees only its own grants of the data
	}
	gs, err := s.Store.ListGrants(r.Context(), ds.ID, granteeID)
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
	gs, err := s.Store.ListGrants(r.Context(), "", c.Org.ID)
	if err != nil {
		return err
	}
	res, err := pageList(r, gs, func(g *cleanroom.Grant) string { return g.ID })
	if err != nil {
		return err
	}
	out := list[*grantView]{Items: []*grantView{}, Next: res.Next}
	for _, g := range res.Items {
		ds, err := s.Store.FindDataSource(r.Context(), g.DataSourceID)
		if err != nil {
			return err
		}
		out.Items = append(out.Items, s.viewGrant(g, ds.Name))
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
