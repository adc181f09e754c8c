package cleanroom

import (
	"context"
	"time"
)

// LeaseStore holds named leases: at most one holder of a name at a time, until the lease expires
// or its holder releases it. Periodic work that must run once across a deployment of several
// processes (package periodic) takes one lease per task; whichever process holds it runs the task.
type LeaseStore interface {
	// TakeLease gives name to holder until until, if nobody holds it at now (no lease, an expired
	// one, or holder's own, which this renews). It reports whether holder has the lease.
	TakeLease(ctx context.Context, name, holder string, now, until time.Time) (bool, error)
	// ReleaseLease ends holder's lease on name; releasing a lease held by another or by nobody
	// does nothing.
	ReleaseLease(ctx context.Context, name, holder string) error
	// ListLeases returns the leases held until after now, by name.
	ListLeases(ctx context.Context, now time.Time) ([]Lease, error)
}

// Lease is a named lease and its holder.
type Lease struct {
	Name, Holder string
	ExpiresAt    time.Time
}
