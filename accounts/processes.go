package accounts

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/cleanroom-oss/cleanroom"
)

// Process is a process of the deployment as its health shows it: seen through the work it holds
// in the metadata store, the periodic tasks whose leases it holds and the jobs it is running.
// Only worker processes hold such work; API and edge processes leave no record there.
type Process struct {
	// ID is the host and process ID ("host:pid").
	ID string
	// Tasks are the periodic tasks it runs (package periodic), until their leases' expiry.
	Tasks []string
	// Until is when the last of its leases expires unless renewed.
	Until time.Time
	// Jobs counts the jobs it is running.
	Jobs int
}

// processes fills h.Processes from the live periodic leases and the running jobs.
func (s *Service) processes(ctx context.Context, h *Health) error {
	byID := map[string]*Process{}
	get := func(holder string) *Process {
		id := processID(holder)
		p := byID[id]
		if p == nil {
			p = &Process{ID: id}
			byID[id] = p
		}
		return p
	}
	leases, err := s.Store.ListLeases(ctx, h.CheckedAt)
	if err != nil {
		return err
	}
	for _, l := range leases {
		p := get(l.Holder)
		p.Tasks = append(p.Tasks, l.Name)
		if l.ExpiresAt.After(p.Until) {
			p.Until = l.ExpiresAt
		}
	}
	for page := (cleanroom.Page{Limit: cleanroom.MaxPageLimit}); ; {
		js, next, err := s.Store.ListJobs(ctx, cleanroom.JobFilter{State: cleanroom.JobRunning, Page: page})
		if err != nil {
			return err
		}
		for _, j := range js {
			if j.LeaseOwner != "" && j.LeaseUntil.After(h.CheckedAt) {
				p := get(j.LeaseOwner)
				p.Jobs++
				if j.LeaseUntil.After(p.Until) {
					p.Until = j.LeaseUntil
				}
			}
		}
		if next == "" {
			break
		}
		page.After = next
	}
	for _, p := range byID {
		slices.Sort(p.Tasks)
		h.Processes = append(h.Processes, *p)
	}
	slices.SortFunc(h.Processes, func(a, b Process) int { return strings.Compare(a.ID, b.ID) })
	return nil
}

// processID is a lease holder's process: "host:pid" of the holders "host:pid:random" the job
// runner and the periodic scheduler name themselves with (one process has one of each).
func processID(holder string) string {
	if i := strings.LastIndexByte(holder, ':'); i > 0 && strings.Count(holder, ":") >= 2 {
		return holder[:i]
	}
	return holder
}
