package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/cleanroom-oss/cleanroom"
)

// The job queue. A job is runnable when it is queued and its run_at has come, or when it is running
// and its lease has expired (its worker died). ClaimJob takes the runnable job with the smallest
// (run_at, id) inside a write transaction: on PostgreSQL its row is locked with FOR UPDATE SKIP
// LOCKED, so concurrent claimers pass over each other's rows; on SQLite the write transaction
// itself serialises claimers. The holder of a lease is identified by lease_owner; every later
// change by the worker checks lease_owner and state = 'running', so a worker whose job was taken
// over (or cancelled) learns it with ECONFLICT.
//
// Attempts: ClaimJob counts one; ReleaseJob gives it back (attempt - 1), as a job handed back at
// shutdown did not really run.
//
// Serialised jobs: a job with a serial_key is only a candidate while no other job of its key is
// older and unfinished, or running with a live lease. On SQLite the claim's write transaction
// makes that check and the claim one step. On PostgreSQL a claimer could still decide on a
// snapshot that misses another's claim in flight (two jobs of a key committed out of ID order and
// claimed at once), so it also takes a transaction-scoped advisory lock on the key without waiting
// (Dialect.SerialLock; a key locked by another claimer is passed over this time) and checks again
// with a fresh snapshot: claims of one key are decided one after the other.

const jobColumns = `id, kind, org_id, args, state, attempt, max_attempts, run_at, lease_owner, lease_until,
	progress_done, progress_total, message, last_error, created_at, started_at, finished_at, serial_key`

// maxErrorLen bounds the stored last_error, in bytes.
const maxErrorLen = 4096

func scanJob(s scanner) (*cleanroom.Job, error) {
	var (
		j                                  cleanroom.Job
		args                               string
		runAt, until, crt, started, finish int64
	)
	err := s.Scan(&j.ID, &j.Kind, &j.OrgID, &args, &j.State, &j.Attempt, &j.MaxAttempts, &runAt, &j.LeaseOwner, &until,
		&j.ProgressDone, &j.ProgressTotal, &j.Message, &j.LastError, &crt, &started, &finish, &j.SerialKey)
	if err != nil {
		return nil, err
	}
	if args != "" {
		j.Args = json.RawMessage(args)
	}
	j.RunAt, j.LeaseUntil, j.CreatedAt = fromMicros(runAt), fromMicros(until), fromMicros(crt)
	j.StartedAt, j.FinishedAt = fromMicros(started), fromMicros(finish)
	return &j, nil
}

func errJobNotFound() error { return cleanroom.Errorf(cleanroom.ENOTFOUND, "Job not found.") }

func errLeaseLost() error {
	return cleanroom.Errorf(cleanroom.ECONFLICT, "The job is no longer held by this worker: its lease expired and another worker took it over, or it was cancelled.")
}

// EnqueueJob inserts j as queued and sets its ID. It writes back what it stored: State queued,
// Attempt 0, CreatedAt now, RunAt now when zero, no lease, no start or finish time. A MaxAttempts
// below 1 is stored as 1.
func (db *DB) EnqueueJob(ctx context.Context, j *cleanroom.Job, now time.Time) error {
	now = cleanroom.UTC(now)
	j.State, j.Attempt, j.CreatedAt = cleanroom.JobQueued, 0, now
	j.LeaseOwner, j.LeaseUntil, j.StartedAt, j.FinishedAt = "", time.Time{}, time.Time{}, time.Time{}
	if j.RunAt.IsZero() {
		j.RunAt = now
	}
	j.RunAt = cleanroom.UTC(j.RunAt)
	if j.MaxAttempts < 1 {
		j.MaxAttempts = 1
	}
	j.LastError = truncateUTF8(j.LastError, maxErrorLen)
	err := db.write.QueryRowContext(ctx, db.q(`INSERT INTO jobs (kind, org_id, args, state, attempt, max_attempts, run_at,
		progress_done, progress_total, message, last_error, created_at, serial_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		j.Kind, j.OrgID, string(j.Args), string(j.State), j.Attempt, j.MaxAttempts, micros(j.RunAt),
		j.ProgressDone, j.ProgressTotal, j.Message, j.LastError, micros(j.CreatedAt), j.SerialKey).Scan(&j.ID)
	if err != nil {
		return fmt.Errorf("sqlstore: enqueue job: %w", err)
	}
	return nil
}

// ClaimJob leases the runnable job with the smallest (RunAt, ID) among kinds to owner until
// now+lease and counts an attempt. Running jobs whose lease expired after their last attempt are
// marked failed on the way. An empty kinds claims nothing.
func (db *DB) ClaimJob(ctx context.Context, owner string, kinds []string, now time.Time, lease time.Duration) (*cleanroom.Job, error) {
	if len(kinds) == 0 {
		return nil, nil
	}
	now = cleanroom.UTC(now)
	until := cleanroom.UTC(now.Add(lease))
	args := make([]any, 0, len(kinds)+2)
	for _, k := range kinds {
		args = append(args, k)
	}
	args = append(args, micros(now), micros(now))
	lock := ""
	if db.dialect.RowLocks {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	// A serialised job waits while another job of its key is older and unfinished, or running
	// with a live lease: unblocked says it does not, in the pick; blocked checks one job again.
	const (
		unblocked = `(j.serial_key = '' OR NOT EXISTS (SELECT 1 FROM jobs o WHERE o.serial_key = j.serial_key AND o.id <> j.id
			AND ((o.id < j.id AND o.state IN ('queued', 'running')) OR (o.state = 'running' AND o.lease_until >= ?))))`
		blocked = `SELECT COUNT(*) > 0 FROM jobs o WHERE o.serial_key = ? AND o.id <> ?
			AND ((o.id < ? AND o.state IN ('queued', 'running')) OR (o.state = 'running' AND o.lease_until >= ?))`
	)

	var claimed *cleanroom.Job
	err := db.inTx(ctx, "claim job", func(tx *sql.Tx) error {
		var passed []any // serialised jobs passed over in this claim
		for {
			q := `SELECT ` + jobColumns + ` FROM jobs j WHERE kind IN (` + placeholders(len(kinds)) + `)
				AND ((state = 'queued' AND run_at <= ?) OR (state = 'running' AND lease_until < ?)) AND ` + unblocked
			qargs := append(append([]any{}, args...), micros(now))
			if len(passed) > 0 {
				q += ` AND id NOT IN (` + placeholders(len(passed)) + `)`
				qargs = append(qargs, passed...)
			}
			j, err := scanJob(tx.QueryRowContext(ctx, db.q(q+` ORDER BY run_at, id LIMIT 1`+lock), qargs...))
			if errors.Is(err, sql.ErrNoRows) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("sqlstore: claim job: %w", err)
			}
			if j.SerialKey != "" && db.dialect.SerialLock != "" {
				var got bool
				if err := tx.QueryRowContext(ctx, db.q(db.dialect.SerialLock), j.SerialKey).Scan(&got); err != nil {
					return fmt.Errorf("sqlstore: claim job: lock serial key: %w", err)
				}
				var again bool
				if got {
					err := tx.QueryRowContext(ctx, db.q(blocked), j.SerialKey, j.ID, j.ID, micros(now)).Scan(&again)
					if err != nil {
						return fmt.Errorf("sqlstore: claim job: %w", err)
					}
				}
				if !got || again {
					passed = append(passed, j.ID)
					continue
				}
			}
			if j.State == cleanroom.JobRunning && j.Attempt >= j.MaxAttempts {
				msg := fmt.Sprintf("worker lost its lease after %d attempts", j.Attempt)
				_, err := tx.ExecContext(ctx, db.q(`UPDATE jobs SET state = 'failed', last_error = ?, finished_at = ?,
					lease_owner = '', lease_until = 0, serial_key = '' WHERE id = ?`), msg, micros(now), j.ID)
				if err != nil {
					return fmt.Errorf("sqlstore: claim job: fail job %d: %w", j.ID, err)
				}
				continue
			}
			if j.StartedAt.IsZero() {
				j.StartedAt = now
			}
			j.State, j.Attempt, j.LeaseOwner, j.LeaseUntil = cleanroom.JobRunning, j.Attempt+1, owner, until
			_, err = tx.ExecContext(ctx, db.q(`UPDATE jobs SET state = 'running', attempt = ?, lease_owner = ?, lease_until = ?,
				started_at = ? WHERE id = ?`), j.Attempt, owner, micros(until), micros(j.StartedAt), j.ID)
			if err != nil {
				return fmt.Errorf("sqlstore: claim job %d: %w", j.ID, err)
			}
			claimed = j
			return nil
		}
	})
	if err != nil {
		return nil, err
	}
	return claimed, nil
}

// leased is the condition that owner holds the job's lease.
const leased = ` WHERE id = ? AND lease_owner = ? AND state = 'running'`

// ReportJobProgress records progress and extends the lease to until.
func (db *DB) ReportJobProgress(ctx context.Context, id int64, owner string, p cleanroom.Progress, until time.Time) error {
	ok, err := execOne(ctx, db.write, db.q(`UPDATE jobs SET progress_done = ?, progress_total = ?, message = ?, lease_until = ?`+leased),
		p.Done, p.Total, p.Message, micros(cleanroom.UTC(until)), id, owner)
	switch {
	case err != nil:
		return fmt.Errorf("sqlstore: report job progress: %w", err)
	case !ok:
		return errLeaseLost()
	}
	return nil
}

// FinishJob ends a running job held by owner: succeeded when runErr is nil (LastError is kept, so a
// job that succeeded on a retry still shows why the earlier attempt failed); otherwise queued
// again at retryAt when retryAt is non-zero, else failed. LastError is runErr.Error(), cut to 4 KiB.
func (db *DB) FinishJob(ctx context.Context, id int64, owner string, runErr error, retryAt time.Time, now time.Time) error {
	var (
		state      = cleanroom.JobSucceeded
		runAt      any // nil keeps run_at
		lastError  any // nil keeps last_error
		finishedAt = micros(cleanroom.UTC(now))
	)
	if runErr != nil {
		lastError = truncateUTF8(runErr.Error(), maxErrorLen)
		state = cleanroom.JobFailed
		if !retryAt.IsZero() {
			state, runAt, finishedAt = cleanroom.JobQueued, micros(cleanroom.UTC(retryAt)), 0
		}
	}
	// A finished job no longer needs its serial key (which names what it worked on): it is cleared.
	clearKey := ""
	if state != cleanroom.JobQueued {
		clearKey = ", serial_key = ''"
	}
	ok, err := execOne(ctx, db.write, db.q(`UPDATE jobs SET state = ?, run_at = COALESCE(?, run_at), last_error = COALESCE(?, last_error),
		finished_at = ?, lease_owner = '', lease_until = 0`+clearKey+leased),
		string(state), runAt, lastError, finishedAt, id, owner)
	switch {
	case err != nil:
		return fmt.Errorf("sqlstore: finish job: %w", err)
	case !ok:
		return errLeaseLost()
	}
	return nil
}

// ReleaseJob hands a running job back to the queue, runnable at once, and gives back the attempt
// that claiming it counted.
func (db *DB) ReleaseJob(ctx context.Context, id int64, owner string) error {
	ok, err := execOne(ctx, db.write, db.q(`UPDATE jobs SET state = 'queued', attempt = attempt - 1,
		lease_owner = '', lease_until = 0`+leased), id, owner)
	switch {
	case err != nil:
		return fmt.Errorf("sqlstore: release job: %w", err)
	case !ok:
		return errLeaseLost()
	}
	return nil
}

// CancelJob cancels a queued or running job; a worker running it learns so from ECONFLICT on its
// next progress report.
func (db *DB) CancelJob(ctx context.Context, id int64, now time.Time) error {
	return db.inTx(ctx, "cancel job", func(tx *sql.Tx) error {
		ok, err := execOne(ctx, tx, db.q(`UPDATE jobs SET state = 'cancelled', finished_at = ?, lease_owner = '', lease_until = 0,
			serial_key = '' WHERE id = ? AND state IN ('queued', 'running')`), micros(cleanroom.UTC(now)), id)
		if err != nil {
			return fmt.Errorf("sqlstore: cancel job: %w", err)
		}
		if ok {
			return nil
		}
		var n int
		if err := tx.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM jobs WHERE id = ?`), id).Scan(&n); err != nil {
			return fmt.Errorf("sqlstore: cancel job: %w", err)
		}
		if n == 0 {
			return errJobNotFound()
		}
		return cleanroom.Errorf(cleanroom.ECONFLICT, "The job has already ended.")
	})
}

// FindJob returns a job by ID.
func (db *DB) FindJob(ctx context.Context, id int64) (*cleanroom.Job, error) {
	j, err := scanJob(db.read.QueryRowContext(ctx, db.q(`SELECT `+jobColumns+` FROM jobs WHERE id = ?`), id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, errJobNotFound()
	case err != nil:
		return nil, fmt.Errorf("sqlstore: find job: %w", err)
	}
	return j, nil
}

// ListJobs returns jobs newest first, filtered by the non-empty fields of f.
func (db *DB) ListJobs(ctx context.Context, f cleanroom.JobFilter) ([]*cleanroom.Job, string, error) {
	before, err := decodeIntCursor(f.Page.After)
	if err != nil {
		return nil, "", err
	}
	var w where
	if f.OrgID != "" {
		w.add(`org_id = ?`, f.OrgID)
	}
	if f.Kind != "" {
		w.add(`kind = ?`, f.Kind)
	}
	if f.State != "" {
		w.add(`state = ?`, string(f.State))
	}
	if before > 0 {
		w.add(`id < ?`, before)
	}
	size := f.Page.Size()
	rows, err := db.read.QueryContext(ctx, db.q(`SELECT `+jobColumns+` FROM jobs`+w.String()+` ORDER BY id DESC LIMIT ?`),
		append(w.args, size+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("sqlstore: list jobs: %w", err)
	}
	js, err := collect(rows, scanJob)
	if err != nil {
		return nil, "", fmt.Errorf("sqlstore: list jobs: %w", err)
	}
	js, next := page(js, size, func(j *cleanroom.Job) string { return encodeIntCursor(j.ID) })
	return js, next, nil
}

// CountJobs returns the number of jobs in each state by kind; states without jobs are absent.
func (db *DB) CountJobs(ctx context.Context) (map[string]map[cleanroom.JobState]int, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT kind, state, COUNT(*) FROM jobs GROUP BY kind, state`)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: count jobs: %w", err)
	}
	defer rows.Close()
	counts := map[string]map[cleanroom.JobState]int{}
	for rows.Next() {
		var (
			kind  string
			state cleanroom.JobState
			n     int
		)
		if err := rows.Scan(&kind, &state, &n); err != nil {
			return nil, fmt.Errorf("sqlstore: count jobs: %w", err)
		}
		if counts[kind] == nil {
			counts[kind] = map[cleanroom.JobState]int{}
		}
		counts[kind][state] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: count jobs: %w", err)
	}
	return counts, nil
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 {
		if r, size := utf8.DecodeLastRuneInString(s); r != utf8.RuneError || size != 1 {
			break
		}
		s = s[:len(s)-1]
	}
	return s
}
