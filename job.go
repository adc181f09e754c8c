package cleanroom

import (
	"context"
	"encoding/json"
	"time"
)

// JobState is where a background job is in its life.
type JobState string

// Job states. queued -> running -> succeeded | failed; a failed attempt with retries left goes
// back to queued with a later RunAt; cancelled jobs never run again.
const (
	JobQueued    JobState = "queued"
	JobRunning   JobState = "running"
	JobSucceeded JobState = "succeeded"
	JobFailed    JobState = "failed"
	JobCancelled JobState = "cancelled"
)

// JobStates lists every state, for metrics and validation.
var JobStates = []JobState{JobQueued, JobRunning, JobSucceeded, JobFailed, JobCancelled}

// Job is a unit of background work stored in the metadata database, so it survives restarts and
// any worker sharing the database can run it. A worker leases the job; if the worker dies, the
// lease expires and another worker takes the job over (counting an attempt).
type Job struct {
	ID    int64           `json:"id"`
	Kind  string          `json:"kind"`
	OrgID string          `json:"org_id,omitempty"`
	Args  json.RawMessage `json:"args,omitempty"`
	// SerialKey, when set, serialises the job with every other job of the same key: they run
	// one at a time, in the order they were enqueued (e.g. "publisher:<id>" for the changes to
	// one publisher's audience). It is cleared when the job ends.
	SerialKey string   `json:"-"`
	State     JobState `json:"state"`
	// Attempt counts the runs started so far; MaxAttempts bounds it.
	Attempt     int       `json:"attempt"`
	MaxAttempts int       `json:"max_attempts"`
	RunAt       time.Time `json:"run_at"`
	LeaseOwner  string    `json:"-"`
	LeaseUntil  time.Time `json:"-"`
	// ProgressDone of ProgressTotal units (rows, bytes) are done; Message says what is happening.
	ProgressDone  int64     `json:"progress_done"`
	ProgressTotal int64     `json:"progress_total"`
	Message       string    `json:"message,omitempty"`
	LastError     string    `json:"last_error,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	StartedAt     time.Time `json:"started_at,omitzero"`
	FinishedAt    time.Time `json:"finished_at,omitzero"`
}

// Progress is a job's progress report.
type Progress struct {
	Done    int64  `json:"done"`
	Total   int64  `json:"total"`
	Message string `json:"message,omitempty"`
}

// JobFilter selects jobs. An empty OrgID selects every org's (operators only).
type JobFilter struct {
	OrgID string
	Kind  string
	State JobState
	Page  Page
}

// JobStore is a durable job queue.
type JobStore interface {
	// EnqueueJob inserts j as queued (RunAt zero means now) and sets its ID.
	EnqueueJob(ctx context.Context, j *Job, now time.Time) error
	// ClaimJob leases the oldest runnable job of one of kinds to owner until now+lease: a queued
	// job whose RunAt has come, or a running job whose lease expired (its worker died). It counts
	// an attempt. A job whose lease expired after its last attempt is marked failed instead.
	// A job with a SerialKey is runnable only while no other job of that key is running with a
	// live lease and no older job of that key is still queued or running (due or not): jobs of
	// one key never run at the same time, even in different processes, and run in ID order.
	// Returns (nil, nil) when there is nothing to run.
	ClaimJob(ctx context.Context, owner string, kinds []string, now time.Time, lease time.Duration) (*Job, error)
	// ReportJobProgress records progress and extends the lease to until.
	// Returns ECONFLICT if owner no longer holds the lease (the job must stop).
	ReportJobProgress(ctx context.Context, id int64, owner string, p Progress, until time.Time) error
	// FinishJob ends a running job held by owner. With runErr nil it succeeds; otherwise it fails,
	// and when retryAt is non-zero it is queued again to run at retryAt.
	// Returns ECONFLICT if owner no longer holds the lease.
	FinishJob(ctx context.Context, id int64, owner string, runErr error, retryAt time.Time, now time.Time) error
	// ReleaseJob hands a running job back to the queue without counting the attempt (shutdown).
	ReleaseJob(ctx context.Context, id int64, owner string) error
	// CancelJob cancels a queued or running job. Returns ENOTFOUND or ECONFLICT if it already ended.
	CancelJob(ctx context.Context, id int64, now time.Time) error
	// FindJob returns a job by ID. Returns ENOTFOUND if there is none.
	FindJob(ctx context.Context, id int64) (*Job, error)
	// ListJobs returns jobs, newest first.
	ListJobs(ctx context.Context, f JobFilter) ([]*Job, string, error)
	// CountJobs returns the number of jobs in each state by kind.
	CountJobs(ctx context.Context) (map[string]map[JobState]int, error)
}
