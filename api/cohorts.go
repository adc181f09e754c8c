package api

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/cohorts"
)

// cohortView is a cohort as the API shows it, its counts as the cohort service released them to
// the caller's party (noisy, null below the threshold or when the budget is spent).
type cohortView struct {
	ID           string                 `json:"id"`
	OrgID        string                 `json:"org_id"`
	Name         string                 `json:"name"`
	Description  string                 `json:"description,omitempty"`
	Kind         cleanroom.CohortKind   `json:"kind"`
	Query        json.RawMessage        `json:"query"`
	Country      []string               `json:"country"`
	Status       cleanroom.CohortStatus `json:"status"`
	StatusReason string                 `json:"status_reason,omitempty"`
	Progress     float64                `json:"progress"`
	Similarity   *float64               `json:"similarity,omitempty"`
	IncludeSeeds bool                   `json:"include_seeds"`
	Targets      []targetView           `json:"targets"`
	// Threshold is the deployment's floor of the privacy threshold; each target carries the
	// one in force on its connection.
	Threshold int64     `json:"threshold"`
	BuiltAt   time.Time `json:"built_at,omitzero"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

type targetView struct {
	ConnectionID string `json:"connection_id"`
	PublisherID  string `json:"publisher_id"`
	Code         int64  `json:"code"`
	Size         *int64 `json:"size"`
	// SizeState says how to read Size: noisy (about that many), exact, suppressed (below the
	// threshold), over_budget (SizeReason says when the budget returns) or unavailable.
	SizeState  string `json:"size_state"`
	SizeReason string `json:"size_reason,omitempty"`
	// Threshold is the k in force on the connection.
	Threshold int64 `json:"threshold,omitempty"`
	// ActiveUsers is how many of the size's users asked the publisher's edge for targeting in
	// the 30 days up to its day, released beside the size (state no_traffic before any traffic).
	ActiveUsers *cohorts.Active `json:"active_users,omitempty"`
	Seeds       *int64          `json:"seeds,omitempty"`
	Active      bool            `json:"active"`
	Reason      string          `json:"reason,omitempty"`
	Model       *modelView      `json:"model,omitempty"`
	BuiltAt     time.Time       `json:"built_at,omitzero"`
}

// modelView is a modeled cohort's curve and what drove the model.
type modelView struct {
	Curve    []pointView   `json:"curve"`
	Features []featureView `json:"features"`
	// HiddenFeatures counts the publisher cohorts the model uses that are not shared with the
	// caller, so not named.
	HiddenFeatures int      `json:"hidden_features"`
	Seeds          *int64   `json:"seeds"`
	HoldoutSeeds   *int64   `json:"holdout_seeds"`
	AUC            *float64 `json:"auc"`
}

// pointView is a point of the curve: reach noisy and null below the threshold (reach_state says
// which), and recall, precision and lift null wherever the reach is.
type pointView struct {
	Similarity float64  `json:"similarity"`
	Reach      *int64   `json:"reach"`
	ReachState string   `json:"reach_state"`
	Recall     *float64 `json:"recall"`
	Precision  *float64 `json:"precision"`
	Lift       *float64 `json:"lift"`
}

type featureView struct {
	Kind   string  `json:"kind"`
	ID     string  `json:"id"`
	Name   string  `json:"name,omitempty"`
	Weight float64 `json:"weight"`
}

// errNoCohorts answers cohort routes on a server built without the cohort service.
var errNoCohorts = cleanroom.Errorf(cleanroom.EUNAVAILABLE, "This server does not build cohorts.")

// maxFeaturesShown bounds the model features listed with a cohort (the strongest first).
const maxFeaturesShown = 20

func (s *Server) viewCohort(r *http.Request, c *call, co *cleanroom.Cohort) (*cohortView, error) {
	counts, err := s.Cohorts.Counts(r.Context(), c.Caller, co)
	if err != nil {
		return nil, err
	}
	orgID := c.Org.ID
	v := &cohortView{ID: co.ID, OrgID: co.OrgID, Name: co.Name, Description: co.Description, Kind: co.Kind, Query: co.Query,
		Country: co.Country, Status: co.Status, StatusReason: co.StatusReason, Progress: co.Progress, Similarity: co.Similarity,
		IncludeSeeds: co.IncludeSeeds, Targets: []targetView{}, Threshold: s.Cohorts.Threshold(), BuiltAt: co.BuiltAt, CreatedBy: co.CreatedBy,
		CreatedAt: co.CreatedAt, UpdatedAt: co.UpdatedAt}
	if v.Country == nil {
		v.Country = []string{}
	}
	for i, t := range co.Targets {
		tc := counts[i]
		tv := targetView{ConnectionID: t.ConnectionID, PublisherID: t.PublisherID, Code: t.Code, Active: t.Active,
			Reason: t.Reason, BuiltAt: t.BuiltAt, Size: tc.Size.Value, SizeState: tc.Size.State, SizeReason: tc.Size.Reason, Threshold: tc.K, ActiveUsers: tc.Active}
		if co.Kind == cleanroom.CohortModeled {
			if tc.Seeds != nil {
				tv.Seeds = tc.Seeds.Value
			}
			var rec cohorts.ModelRecord
			if len(t.Model) > 0 && json.Unmarshal(t.Model, &rec) == nil && rec.Model != nil {
				mv := &modelView{Curve: []pointView{}, Features: []featureView{}, AUC: tc.AUC,
					HiddenFeatures: rec.Hidden(co.OrgID != orgID)}
				if tc.Seeds != nil {
					mv.Seeds = tc.Seeds.Value
				}
				if tc.HoldoutSeeds != nil {
					mv.HoldoutSeeds = tc.HoldoutSeeds.Value
				}
				for _, p := range tc.Curve {
					mv.Curve = append(mv.Curve, pointView{Similarity: p.Similarity, Reach: p.Reach.Value, ReachState: p.Reach.State,
						Recall: p.Recall, Precision: p.Precision, Lift: p.Lift})
				}
				for i, f := range rec.Visible(co.OrgID != orgID) {
					if i == maxFeaturesShown {
						break
					}
					mv.Features = append(mv.Features, featureView{Kind: f.Kind, ID: f.ID, Name: f.Name, Weight: f.Weight})
				}
				tv.Model = mv
			}
		}
		v.Targets = append(v.Targets, tv)
	}
	return v, nil
}

// cohortRequest is the body of a create or estimate.
type cohortRequest struct {
	Name         string                `json:"name"`
	Description  string                `json:"description,omitempty"`
	Kind         cleanroom.CohortKind  `json:"kind"`
	Query        cleanroom.CohortQuery `json:"query"`
	Country      []string              `json:"country,omitempty"`
	Connections  []string              `json:"connections"`
	Similarity   *float64              `json:"similarity,omitempty"`
	IncludeSeeds bool                  `json:"include_seeds,omitempty"`
}

func (q *cohortRequest) spec() cohorts.Spec {
	return cohorts.Spec{Name: q.Name, Description: q.Description, Kind: q.Kind, Query: q.Query, Country: q.Country,
		ConnectionIDs: q.Connections, Similarity: q.Similarity, IncludeSeeds: q.IncludeSeeds}
}

func (s *Server) listCohorts(w http.ResponseWriter, r *http.Request, c *call) error {
	if s.Cohorts == nil {
		return errNoCohorts
	}
	page, err := pageOf(r)
	if err != nil {
		return err
	}
	cs, next, err := s.Cohorts.List(r.Context(), c.Caller, c.Org.Kind == cleanroom.OrgPublisher, page)
	if err != nil {
		return err
	}
	out := list[*cohortView]{Items: []*cohortView{}, Next: next}
	for _, co := range cs {
		v, err := s.viewCohort(r, c, co)
		if err != nil {
			return err
		}
		out.Items = append(out.Items, v)
	}
	return c.reply(http.StatusOK, out)
}

func (s *Server) createCohort(w http.ResponseWriter, r *http.Request, c *call) error {
	if s.Cohorts == nil {
		return errNoCohorts
	}
	var req cohortRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	co, err := s.Cohorts.Create(r.Context(), c.Caller, req.spec())
	if err != nil {
		return err
	}
	c.target("cohort", co.ID)
	c.detail("kind", co.Kind)
	c.detail("connections", req.Connections)
	v, err := s.viewCohort(r, c, co)
	if err != nil {
		return err
	}
	return c.created("/v1/cohorts/"+co.ID, v)
}

func (s *Server) estimateCohort(w http.ResponseWriter, r *http.Request, c *call) error {
	if s.Cohorts == nil {
		return errNoCohorts
	}
	var req cohortRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Name == "" {
		req.Name = "Estimate"
	}
	est, err := s.Cohorts.Estimate(r.Context(), c.Caller, req.spec())
	if err != nil {
		return err
	}
	c.detail("connections", req.Connections)
	return c.reply(http.StatusOK, est)
}

func (s *Server) cohort(r *http.Request, c *call) (string, error) {
	id, err := pathID(r, "id", "Cohort")
	if err != nil {
		return "", err
	}
	c.target("cohort", id)
	return id, nil
}

func (s *Server) getCohort(w http.ResponseWriter, r *http.Request, c *call) error {
	if s.Cohorts == nil {
		return errNoCohorts
	}
	id, err := s.cohort(r, c)
	if err != nil {
		return err
	}
	co, err := s.Cohorts.Get(r.Context(), c.Caller, id)
	if err != nil {
		return err
	}
	v, err := s.viewCohort(r, c, co)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, v)
}

func (s *Server) updateCohort(w http.ResponseWriter, r *http.Request, c *call) error {
	if s.Cohorts == nil {
		return errNoCohorts
	}
	id, err := s.cohort(r, c)
	if err != nil {
		return err
	}
	var req struct {
		Name         *string                `json:"name"`
		Description  *string                `json:"description"`
		Query        *cleanroom.CohortQuery `json:"query"`
		Country      *[]string              `json:"country"`
		Connections  *[]string              `json:"connections"`
		Similarity   *float64               `json:"similarity"`
		IncludeSeeds *bool                  `json:"include_seeds"`
		Paused       *bool                  `json:"paused"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	co, err := s.Cohorts.Update(r.Context(), c.Caller, id, cohorts.Change{Name: req.Name, Description: req.Description,
		Query: req.Query, Country: req.Country, ConnectionIDs: req.Connections, Similarity: req.Similarity,
		IncludeSeeds: req.IncludeSeeds, Paused: req.Paused})
	if err != nil {
		return err
	}
	if req.Similarity != nil {
		c.detail("similarity", *req.Similarity)
	}
	if req.Paused != nil {
		c.detail("paused", *req.Paused)
	}
	v, err := s.viewCohort(r, c, co)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, v)
}

func (s *Server) deleteCohort(w http.ResponseWriter, r *http.Request, c *call) error {
	if s.Cohorts == nil {
		return errNoCohorts
	}
	id, err := s.cohort(r, c)
	if err != nil {
		return err
	}
	if _, err := s.Cohorts.Delete(r.Context(), c.Caller, id); err != nil {
		return err
	}
	return c.reply(http.StatusNoContent, nil)
}

func (s *Server) cohortDiagnostics(w http.ResponseWriter, r *http.Request, c *call) error {
	if s.Cohorts == nil {
		return errNoCohorts
	}
	id, err := s.cohort(r, c)
	if err != nil {
		return err
	}
	ds, err := s.Cohorts.CohortDiagnostics(r.Context(), c.Caller, id)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, list[json.RawMessage]{Items: ds})
}

func (s *Server) dataSourceDiagnostics(w http.ResponseWriter, r *http.Request, c *call) error {
	if s.Cohorts == nil {
		return errNoCohorts
	}
	id, err := pathID(r, "id", "Data source")
	if err != nil {
		return err
	}
	c.target("data_source", id)
	conn := r.URL.Query().Get("connection_id")
	if !cleanroom.IsID(conn) {
		return cleanroom.Errorf(cleanroom.EINVALID, "Name the connection to diagnose against with ?connection_id=.").With("field", "connection_id")
	}
	c.detail("connection_id", conn)
	d, err := s.Cohorts.DataSourceDiagnostics(r.Context(), c.Caller, id, conn)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, d)
}

// nudgeCohorts asks for an early check of the cohorts after a change they may depend on.
func (s *Server) nudgeCohorts() { s.Cohorts.Nudge() }

func (s *Server) listPublisherCohorts(w http.ResponseWriter, r *http.Request, c *call) error {
	if s.Cohorts == nil {
		return errNoCohorts
	}
	id, err := pathID(r, "id", "Connection")
	if err != nil {
		return err
	}
	pcs, err := s.Cohorts.PublisherCohorts(r.Context(), c.Caller, id)
	if err != nil {
		return err
	}
	res, err := pageList(r, pcs, func(p cohorts.PublisherCohort) string { return p.ID })
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, res)
}
