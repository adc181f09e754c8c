package jobs

import (
	"context"
	"time"

	"github.com/cleanroom-oss/cleanroom"
)

// Queue is what people see of the job queue: an org's jobs to its people, every org's to
// operators. It applies those rules once, for the API and the dashboard.
type Queue struct {
	Store cleanroom.JobStore
	Now   func() time.Time
}

// List returns the jobs of the caller's org, newest first (the filter's OrgID is ignored).
// Invited advertisers see none of the workspace's jobs.
func (q *Queue) List(ctx context.Context, c *cleanroom.Caller, f cleanroom.JobFilter) ([]*cleanroom.Job, string, error) {
	if err := c.InOrg(cleanroom.RoleViewer); err != nil {
		return nil, "", err
	}
	f.OrgID = c.OrgID()
	return q.list(ctx, f)
}

// ListAll returns every org's jobs, or the filter's OrgID's when set, for operators.
func (q *Queue) ListAll(ctx context.Context, c *cleanroom.Caller, f cleanroom.JobFilter) ([]*cleanroom.Job, string, error) {
	if err := c.RequireOperator(); err != nil {
		return nil, "", err
	}
	return q.list(ctx, f)
}

func (q *Queue) list(ctx context.Context, f cleanroom.JobFilter) ([]*cleanroom.Job, string, error) {
	if f.State != "" {
		valid := false
		for _, st := range cleanroom.JobStates {
			valid = valid || st == f.State
		}
		if !valid {
			return nil, "", cleanroom.Errorf(cleanroom.EINVALID, "state %q is not one of queued, running, succeeded, failed, cancelled.", f.State).With("field", "state")
		}
	}
	js, next, err := q.Store.ListJobs(ctx, f)
	for _, j := range js {
		complete(j)
	}
	return js, next, err
}

// complete shows a succeeded job as complete: its last progress report may have been sent before
// the last units were done (or the work turned out smaller than announced), and a finished job at
// 97% reads as one that stopped short.
func complete(j *cleanroom.Job) {
	if j.State == cleanroom.JobSucceeded && j.ProgressTotal > 0 {
		j.ProgressDone = j.ProgressTotal
	}
}

// Get returns a job of the caller's org; another org's job is not found.
func (q *Queue) Get(ctx context.Context, c *cleanroom.Caller, id int64) (*cleanroom.Job, error) {
	if err := c.InOrg(cleanroom.RoleViewer); err != nil {
		return nil, err
	}
	j, err := q.Store.FindJob(ctx, id)
	if err != nil {
		return nil, err
	}
	if j.OrgID != c.OrgID() {
		return nil, cleanroom.Errorf(cleanroom.ENOTFOUND, "Job not found.")
	}
	complete(j)
	return j, nil
}

// Cancel cancels a queued or running job of the caller's org (members and admins) and returns it.
func (q *Queue) Cancel(ctx context.Context, c *cleanroom.Caller, id int64) (*cleanroom.Job, error) {
	j, err := q.Get(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if err := c.InOrg(cleanroom.RoleMember); err != nil {
		return nil, err
	}
	if err := q.Store.CancelJob(ctx, j.ID, cleanroom.UTC(q.Now())); err != nil {
		return nil, err
	}
	return q.Store.FindJob(ctx, j.ID)
}

// Counts returns how many jobs are in each state, by kind, over every org. Operators only.
func (q *Queue) Counts(ctx context.Context, c *cleanroom.Caller) (map[string]map[cleanroom.JobState]int, error) {
	if err := c.RequireOperator(); err != nil {
		return nil, err
	}
	return q.Store.CountJobs(ctx)
}
