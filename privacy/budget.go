package privacy

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/cleanroom-oss/cleanroom"
)

// Period is how often a budget returns: at midnight UTC (Day), Monday midnight UTC (Week) or the
// first of the month at midnight UTC (Month).
type Period string

const (
	Day   Period = "day"
	Week  Period = "week"
	Month Period = "month"
)

// ParsePeriod parses "day", "week" or "month"; "" is DefaultPeriod. It returns EINVALID for
// anything else.
func ParsePeriod(s string) (Period, error) {
	switch p := Period(strings.ToLower(strings.TrimSpace(s))); p {
	case "":
		return DefaultPeriod, nil
	case Day, Week, Month:
		return p, nil
	}
	return "", cleanroom.Errorf(cleanroom.EINVALID, "Unknown budget period %q.", s).
		With("field", "period").Hint("Use day, week or month.")
}

// Window returns the period [start, end) that holds t, in UTC. An unknown period is DefaultPeriod.
func (p Period) Window(t time.Time) (start, end time.Time) {
	t = t.UTC()
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	switch p {
	case Day:
		return day, day.AddDate(0, 0, 1)
	case Month:
		start = time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 1, 0)
	default: // Week, from Monday
		start = day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7))
		return start, start.AddDate(0, 0, 7)
	}
}

// Account is whose budget it is: one party (org ID) on one connection.
type Account struct {
	Connection string
	Party      string
}

// Window names one period of one account's budget: the unit a Ledger keeps.
type Window struct {
	Account
	Period Period
	Start  time.Time // UTC
}

// ErrOverBudget is what a Ledger returns when a charge would pass the limit. Budget turns it into
// the user's error; it is not shown as is.
var ErrOverBudget = errors.New("privacy: over budget")

// Ledger keeps what has been spent per window and which questions were charged in it. The
// in-memory MemLedger serves tests and single-process use; the SQL one lives with the store.
type Ledger interface {
	// Charge records question q at cost in window w, atomically with its checks: if q is already
	// recorded in w it records nothing and returns (spent, false, nil); if spent+cost would pass
	// limit it records nothing and returns (spent, false, ErrOverBudget); otherwise it returns
	// (spent+cost, true, nil). Other errors are the storage's.
	Charge(ctx context.Context, w Window, q [32]byte, cost, limit Epsilon) (spent Epsilon, charged bool, err error)
	// Spent returns the total charged in w (0 for a window never charged).
	Spent(ctx context.Context, w Window) (Epsilon, error)
}

// Budget is the privacy budget of one party on one connection: Limit ε per Period, charged cost
// per new question (identified by its seed), free for a question already charged in the period.
type Budget struct {
	Account
	Period Period
	Limit  Epsilon
	Ledger Ledger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Status is a budget's state in the current period.
type Status struct {
	Spent, Left Epsilon
	// Returns is when the period ends and the whole budget is available again.
	Returns time.Time
	// Charged reports whether the last Spend charged (false: a repeated question, free).
	Charged bool
}

func (b *Budget) window() (Window, time.Time) {
	now := time.Now
	if b.Now != nil {
		now = b.Now
	}
	start, end := b.Period.Window(now())
	return Window{Account: b.Account, Period: b.Period, Start: start}, end
}

// Spend charges cost for question q (its seed from Seed) unless q was already charged in this
// period. It returns EINVALID when cost is not positive or exceeds the whole Limit (the question
// could never be answered), and EFORBIDDEN when the budget left in the period is too small; that
// error's message says when the budget returns, and its details carry budget_returns_at (RFC
// 3339), epsilon_left and epsilon_needed. Storage errors are returned as they are.
func (b *Budget) Spend(ctx context.Context, q [32]byte, cost Epsilon) (Status, error) {
	w, end := b.window()
	if cost <= 0 || cost > b.Limit {
		return Status{}, cleanroom.Errorf(cleanroom.EINVALID,
			"A release costs ε %s but the privacy budget is %s per %s.", cost, b.Limit, b.period()).
			Hint("Lower epsilon per release or raise the budget in the connection's privacy settings.")
	}
	spent, charged, err := b.Ledger.Charge(ctx, w, q, cost, b.Limit)
	st := Status{Spent: spent, Left: max(b.Limit-spent, 0), Returns: end, Charged: charged}
	if errors.Is(err, ErrOverBudget) {
		return st, cleanroom.Errorf(cleanroom.EFORBIDDEN,
			"The privacy budget of this connection for this %s is spent (ε %s of %s used); it returns at %s.",
			b.period(), spent, b.Limit, end.Format("2006-01-02 15:04 UTC")).
			With("budget_returns_at", end.Format(time.RFC3339)).
			With("epsilon_left", st.Left.String()).
			With("epsilon_needed", cost.String()).
			Hint("Questions already asked of the same data cost nothing and can be asked again now.")
	}
	if err != nil {
		return Status{}, err
	}
	return st, nil
}

// Status returns the budget's state in the current period; storage errors as they are.
func (b *Budget) Status(ctx context.Context) (Status, error) {
	w, end := b.window()
	spent, err := b.Ledger.Spent(ctx, w)
	if err != nil {
		return Status{}, err
	}
	return Status{Spent: spent, Left: max(b.Limit-spent, 0), Returns: end}, nil
}

func (b *Budget) period() Period {
	switch b.Period {
	case Day, Week, Month:
		return b.Period
	}
	return DefaultPeriod
}

// MemLedger is a Ledger in memory. It forgets an account's earlier windows once a later one is
// charged. The zero value is ready to use.
type MemLedger struct {
	mu      sync.Mutex
	windows map[Window]*memWindow
}

type memWindow struct {
	spent     Epsilon
	questions map[[32]byte]bool
}

// Charge implements Ledger.
func (l *MemLedger) Charge(_ context.Context, w Window, q [32]byte, cost, limit Epsilon) (Epsilon, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.windows == nil {
		l.windows = map[Window]*memWindow{}
	}
	mw := l.windows[w]
	if mw == nil {
		for k := range l.windows {
			if k.Account == w.Account && k.Start.Before(w.Start) {
				delete(l.windows, k)
			}
		}
		mw = &memWindow{questions: map[[32]byte]bool{}}
		l.windows[w] = mw
	}
	if mw.questions[q] {
		return mw.spent, false, nil
	}
	if mw.spent+cost > limit {
		return mw.spent, false, ErrOverBudget
	}
	mw.spent += cost
	mw.questions[q] = true
	return mw.spent, true, nil
}

// Spent implements Ledger.
func (l *MemLedger) Spent(_ context.Context, w Window) (Epsilon, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if mw := l.windows[w]; mw != nil {
		return mw.spent, nil
	}
	return 0, nil
}
