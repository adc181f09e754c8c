package disclosure

import (
	"context"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/privacy"
)

// Conns finds a connection the caller may see (connections.Service).
type Conns interface {
	Connection(ctx context.Context, c *cleanroom.Caller, id string, capability cleanroom.Capability) (*cleanroom.Connection, error)
}

// PartySettings are one party's own settings, as the API shows them ("" or 0: not set).
type PartySettings struct {
	PartyID string `json:"party_id"`
	K       int64  `json:"k,omitempty"`
	Epsilon string `json:"epsilon,omitempty"`
	Budget  string `json:"budget,omitempty"`
	Period  string `json:"period,omitempty"`
}

// Effective are the settings in force.
type Effective struct {
	K         int64  `json:"k"`
	Epsilon   string `json:"epsilon"`
	Budget    string `json:"budget"`
	Period    string `json:"period"`
	Mechanism string `json:"mechanism"`
	// InputMinimum is the fewest identifier rows a data source needs to be an input.
	InputMinimum int64 `json:"input_minimum"`
}

// BudgetView is the caller's party's budget in the current period.
type BudgetView struct {
	Spent      string `json:"epsilon_spent"`
	Left       string `json:"epsilon_left"`
	Limit      string `json:"epsilon_limit"`
	PerRelease string `json:"epsilon_per_question"`
	// QuestionsLeft is how many new questions the budget left pays for.
	QuestionsLeft int64  `json:"questions_left"`
	Returns       string `json:"returns_at"`
}

// SettingsView is a connection's privacy settings as one of its parties sees them.
type SettingsView struct {
	ConnectionID string `json:"connection_id"`
	// Floor is the deployment's: no party goes below it.
	Floor     Effective     `json:"deployment"`
	Yours     PartySettings `json:"yours"`
	Partner   PartySettings `json:"partner"`
	Effective Effective     `json:"effective"`
	Budget    BudgetView    `json:"budget"`
}

func effective(p Params) Effective {
	return Effective{K: p.K, Epsilon: p.Epsilon.String(), Budget: p.Budget.String(), Period: string(p.Period),
		Mechanism: string(p.Mechanism), InputMinimum: p.InputMinimum}
}

func partyView(id string, st *cleanroom.PrivacySetting) PartySettings {
	v := PartySettings{PartyID: id}
	if st == nil {
		return v
	}
	v.K, v.Period = st.K, st.Period
	if st.Epsilon > 0 {
		v.Epsilon = privacy.Epsilon(st.Epsilon).String()
	}
	if st.Budget > 0 {
		v.Budget = privacy.Epsilon(st.Budget).String()
	}
	return v
}

// Settings returns the privacy settings of a connection for a party's people (any role but the
// invited advertisers' limited one): the deployment's floor, each party's own settings, those in
// force, and the caller's party's budget left in the period.
func (s *Service) Settings(ctx context.Context, conns Conns, c *cleanroom.Caller, connectionID string) (*SettingsView, error) {
	conn, err := conns.Connection(ctx, c, connectionID, cleanroom.CapViewConnection)
	if err != nil {
		return nil, err
	}
	if c.Role == cleanroom.RoleLimited {
		return nil, cleanroom.Errorf(cleanroom.EFORBIDDEN, "Invited advertisers do not see the connection's privacy settings.")
	}
	return s.view(ctx, c, conn)
}

func (s *Service) view(ctx context.Context, c *cleanroom.Caller, conn *cleanroom.Connection) (*SettingsView, error) {
	party, err := Party(c, conn)
	if err != nil {
		return nil, err
	}
	other := conn.PublisherID
	if party == conn.PublisherID {
		other = conn.PartnerID
	}
	sets, err := s.Store.ListPrivacySettings(ctx, conn.ID)
	if err != nil {
		return nil, err
	}
	var mine, theirs *cleanroom.PrivacySetting
	for i := range sets {
		switch sets[i].PartyID {
		case party:
			mine = &sets[i]
		case other:
			theirs = &sets[i]
		}
	}
	p, err := s.Params(ctx, conn)
	if err != nil {
		return nil, err
	}
	d := s.Deployment.normal()
	floor := Effective{K: d.K, Epsilon: d.MaxEpsilon.String(), Budget: d.Budget.String(), Period: string(d.Period),
		Mechanism: string(d.Mechanism), InputMinimum: d.InputMinimum}
	if floor.InputMinimum == 0 {
		floor.InputMinimum = d.K
	}
	st, err := s.budget(conn, party, p).Status(ctx)
	if err != nil {
		return nil, err
	}
	return &SettingsView{ConnectionID: conn.ID, Floor: floor, Yours: partyView(party, mine), Partner: partyView(other, theirs),
		Effective: effective(p), Budget: BudgetView{Spent: st.Spent.String(), Left: st.Left.String(), Limit: p.Budget.String(),
			PerRelease: p.Epsilon.String(), QuestionsLeft: int64(st.Left / p.Epsilon), Returns: st.Returns.Format("2006-01-02T15:04:05Z07:00")}}, nil
}

// Change is a party's new settings; "" or 0 clears a field (the deployment's value applies).
type Change struct {
	K       int64  `json:"k"`
	Epsilon string `json:"epsilon"`
	Budget  string `json:"budget"`
	Period  string `json:"period"`
}

// UpdateSettings replaces the caller's party's settings for a connection. Only the party's
// admins change them. A setting less strict than the deployment's floor is refused (EINVALID,
// naming the floor): a party can only ask for more protection.
func (s *Service) UpdateSettings(ctx context.Context, conns Conns, c *cleanroom.Caller, connectionID string, ch Change) (*SettingsView, error) {
	conn, err := conns.Connection(ctx, c, connectionID, cleanroom.CapViewConnection)
	if err != nil {
		return nil, err
	}
	party, err := Party(c, conn)
	if err != nil {
		return nil, err
	}
	if c.Role == cleanroom.RoleLimited || !c.Role.AtLeast(cleanroom.RoleAdmin) {
		return nil, cleanroom.Errorf(cleanroom.EFORBIDDEN, "Changing the privacy settings needs the admin role; you are %s.", c.Role).
			With("required_role", cleanroom.RoleAdmin)
	}
	d := s.Deployment.normal()
	st := &cleanroom.PrivacySetting{ConnectionID: conn.ID, PartyID: party, K: ch.K, UpdatedBy: c.UserID(), UpdatedAt: s.now()}
	if ch.K < 0 || ch.K > 0 && ch.K < d.K {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "The threshold k may not be below the deployment's floor of %d.", d.K).
			With("field", "k").Hint("Set k to %d or more, or 0 to use the floor.", d.K)
	}
	if ch.K > 1_000_000_000 {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "The threshold k is too large.").With("field", "k")
	}
	if ch.Epsilon != "" {
		e, err := privacy.ParseEpsilon(ch.Epsilon)
		if err != nil {
			return nil, err
		}
		if e > d.MaxEpsilon {
			return nil, cleanroom.Errorf(cleanroom.EINVALID, "Epsilon per question may not be above the deployment's %s.", d.MaxEpsilon).
				With("field", "epsilon").Hint("A smaller epsilon adds more noise; use %s or less.", d.MaxEpsilon)
		}
		st.Epsilon = int64(e)
	}
	if ch.Budget != "" {
		b, err := privacy.ParseEpsilon(ch.Budget)
		if err != nil {
			return nil, cleanroom.Errorf(cleanroom.EINVALID, "The budget %q is not a positive number with at most six decimals.", ch.Budget).With("field", "budget")
		}
		if b > d.Budget {
			return nil, cleanroom.Errorf(cleanroom.EINVALID, "The budget may not be above the deployment's %s per %s.", d.Budget, d.Period).
				With("field", "budget")
		}
		st.Budget = int64(b)
	}
	if ch.Period != "" {
		per, err := privacy.ParsePeriod(ch.Period)
		if err != nil {
			return nil, err
		}
		if periodRank[per] < periodRank[d.Period] {
			return nil, cleanroom.Errorf(cleanroom.EINVALID, "The budget period may not be shorter than the deployment's (%s).", d.Period).
				With("field", "period")
		}
		st.Period = string(per)
	}
	if err := s.answerable(ctx, conn, st); err != nil {
		return nil, err
	}
	if err := s.Store.PutPrivacySetting(ctx, st); err != nil {
		return nil, err
	}
	return s.view(ctx, c, conn)
}

// answerable refuses a change after which no question could be answered: a budget in force
// smaller than the ε of one question.
func (s *Service) answerable(ctx context.Context, conn *cleanroom.Connection, st *cleanroom.PrivacySetting) error {
	sets, err := s.Store.ListPrivacySettings(ctx, conn.ID)
	if err != nil {
		return err
	}
	d := s.Deployment.normal()
	eps, budget := []privacy.Epsilon{privacy.Epsilon(st.Epsilon)}, d.Budget
	if st.Budget > 0 {
		budget = min(budget, privacy.Epsilon(st.Budget))
	}
	for _, o := range sets {
		if o.PartyID == st.PartyID {
			continue
		}
		eps = append(eps, privacy.Epsilon(o.Epsilon))
		if o.Budget > 0 {
			budget = min(budget, privacy.Epsilon(o.Budget))
		}
	}
	if e := privacy.StricterEpsilon(d.MaxEpsilon, eps...); budget < e {
		return cleanroom.Errorf(cleanroom.EINVALID, "A budget of %s could not pay for one question at epsilon %s.", budget, e).
			With("field", "budget").Hint("Set a budget of at least %s, or a smaller epsilon per question.", e)
	}
	return nil
}
