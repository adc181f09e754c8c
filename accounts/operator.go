package accounts

import (
	"context"
	"time"

	"github.com/cleanroom-oss/cleanroom"
)

// The operator's onboarding steps, for a caller: each checks that the caller is an operator of
// the deployment, then does what CreateOrg, EnableCleanRoom, RecordDPA and AddMember do (which
// the admin CLI and the demo call with direct access to the deployment).

// OperatorCreateOrg creates an organization. Operators only.
func (s *Service) OperatorCreateOrg(ctx context.Context, c *cleanroom.Caller, name string, kind cleanroom.OrgKind) (*cleanroom.Org, error) {
	if err := c.RequireOperator(); err != nil {
		return nil, err
	}
	return s.CreateOrg(ctx, name, kind)
}

// OperatorEnableCleanRoom enables the clean room of an organization (its vault and, for a
// publisher, its demand-side workspace). Operators only; an unknown org is not found.
func (s *Service) OperatorEnableCleanRoom(ctx context.Context, c *cleanroom.Caller, orgID string) (*cleanroom.Org, error) {
	o, err := s.Org(ctx, c, orgID)
	if err != nil {
		return nil, err
	}
	return s.EnableCleanRoom(ctx, o.ID)
}

// OperatorRecordDPA records the organization's data processing agreement, signed at signedAt
// (now when zero). Operators only.
func (s *Service) OperatorRecordDPA(ctx context.Context, c *cleanroom.Caller, orgID string, signedAt time.Time) (*cleanroom.Org, error) {
	o, err := s.Org(ctx, c, orgID)
	if err != nil {
		return nil, err
	}
	return s.RecordDPA(ctx, o.ID, signedAt)
}

// OperatorAddMember adds a person to an organization at once, as its first admin for example
// (an existing account joins too: operators may attach one). Operators only.
func (s *Service) OperatorAddMember(ctx context.Context, c *cleanroom.Caller, orgID string, nu NewUser) (*cleanroom.Member, bool, error) {
	o, err := s.Org(ctx, c, orgID)
	if err != nil {
		return nil, false, err
	}
	nu.AttachExisting = true
	return s.AddMember(ctx, o.ID, nu)
}

// Health is what the operator's health page shows of the deployment.
type Health struct {
	// Database is "ready" or why it is not.
	Database string
	Ready    bool
	// Orgs counts the organizations by kind.
	Orgs map[cleanroom.OrgKind]int
	// CheckedAt is when it was measured.
	CheckedAt time.Time
	// Processes are the worker processes seen through the work they hold (processes.go).
	Processes []Process
}

// DeploymentHealth reports the metadata database's readiness and the organizations. Operators
// only.
func (s *Service) DeploymentHealth(ctx context.Context, c *cleanroom.Caller) (*Health, error) {
	if err := c.RequireOperator(); err != nil {
		return nil, err
	}
	h := &Health{Database: "ready", Ready: true, Orgs: map[cleanroom.OrgKind]int{}, CheckedAt: s.now()}
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := s.Store.Ready(rctx); err != nil {
		h.Database, h.Ready = cleanroom.ErrorMessage(err), false
		return h, nil
	}
	for page := (cleanroom.Page{Limit: cleanroom.MaxPageLimit}); ; {
		os, next, err := s.Store.ListOrgs(ctx, page)
		if err != nil {
			return nil, err
		}
		for _, o := range os {
			h.Orgs[o.Kind]++
		}
		if next == "" {
			return h, s.processes(ctx, h)
		}
		page.After = next
	}
}
