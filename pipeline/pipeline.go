// Package pipeline turns what tenants send into versions: advertiser data files, publisher
// profile files and bridge mappings (uploads), and publisher event batches and erasure requests
// (kept as uploads too, so they are stored encrypted until processed). One pipeline runs them all
// as jobs: open the upload, run the engine, write the version through the version store (package
// versions) on the owner's current version, retry on a newer one if another change won, record the
// engine's report on the upload, and clean up; a failure leaves the previous version in use and a
// user-safe message and report on the upload. Jobs of one owner are serialised (the queue's serial
// key), so a publisher's uploads, events and erasures apply one after another in the order they
// arrived, whichever process runs them.
//
// The package also keeps what processing needs (taxonomies, bridge registrations) and unlinks
// data sources.
package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/connections"
	"github.com/cleanroom-oss/cleanroom/jobs"
	"github.com/cleanroom-oss/cleanroom/keyring"
	"github.com/cleanroom-oss/cleanroom/rows"
	"github.com/cleanroom-oss/cleanroom/uploads"
	"github.com/cleanroom-oss/cleanroom/versions"
)

// Key purposes, derived from the master key. Changing one would make every stored version
// unmatchable.
const (
	// FingerprintPurpose names the key identifiers are fingerprinted under.
	FingerprintPurpose = "identity-fingerprint/v1"
	// UserKeyPurpose names the key publisher user IDs are hashed under in the user index (raw
	// user IDs are never stored).
	UserKeyPurpose = "publisher-user-id/v1"
)

// Job kinds besides the uploads' (uploads.JobKind).
const (
	JobEvents   = "publisher.events"
	JobErasures = "publisher.erasures"
)

// keepVersions is how many versions of an owner are kept: the current one and the one before it
// (for comparison and rollback).
const keepVersions = 2

// commitTries bounds how often a version is built again on a newer base before the job gives up
// (and is retried later).
const commitTries = 5

// Store is what the pipeline needs of the metadata store.
type Store interface {
	cleanroom.IngestStore
	cleanroom.DataSourceStore
	cleanroom.JobStore
	cleanroom.OrgStore
}

// Service runs the pipeline.
type Service struct {
	Store    Store
	Uploads  *uploads.Service
	Versions *versions.Store
	Keys     *keyring.Master
	// Conns decides who reaches which data source (set before serving callers).
	Conns  *connections.Service
	Logger *slog.Logger
	Now    func() time.Time
	// MaxIdentifierTypes is how many identifier types a publisher may sync (0: pubsync's default).
	MaxIdentifierTypes int
	// FileLimits bound each uploaded file's decompressed size and lines (zero fields: the rows
	// package's defaults).
	FileLimits rows.Limits
	// IngestMemory is the memory budget of processing one advertiser file (0: ingest's
	// default); TempDir is where files beyond it are spilled (empty: the system's).
	IngestMemory int64
	TempDir      string
}

// New returns a pipeline over the upload protocol and the version store.
func New(store Store, up *uploads.Service, vs *versions.Store, keys *keyring.Master, logger *slog.Logger) *Service {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Service{Store: store, Uploads: up, Versions: vs, Keys: keys, Logger: logger, Now: time.Now}
}

func (s *Service) now() time.Time { return cleanroom.UTC(s.Now()) }

// Register adds the pipeline's job handlers to r.
func (s *Service) Register(r *jobs.Runner) {
	r.Register(uploads.JobKind(cleanroom.UploadDataSource), s.handler(dataSourceFile{s}))
	r.Register(uploads.JobKind(cleanroom.UploadPublisher), s.handler(profileFile{s}))
	r.Register(uploads.JobKind(cleanroom.UploadBridge), s.handler(bridgeFile{s}))
	r.Register(JobEvents, s.handler(eventBatch{s}))
	r.Register(JobErasures, s.handler(erasure{s}))
}

// engine is one kind of input. The pipeline calls owner, then read once with the upload's
// plaintext, then build with what read made of it and the owner's current version (nil for none)
// until the version it describes is committed on that base; build runs again on a newer base
// after a conflict.
type engine interface {
	// owner checks that the upload may still be processed and returns whose version it makes.
	owner(ctx context.Context, u *cleanroom.Upload) (versions.Owner, error)
	// read consumes the input and returns what build needs. Its error (and report) fails the
	// upload.
	read(ctx context.Context, u *cleanroom.Upload, in io.Reader, progress func(cleanroom.Progress)) (state, report any, err error)
	// build returns the version to commit on base, or nil when there is nothing to change. Its
	// error fails the upload when it is EINVALID; others are retried.
	build(ctx context.Context, u *cleanroom.Upload, state any, base *cleanroom.Version) (*draft, error)
	// done runs after the upload is recorded as processed (ver is nil when nothing changed).
	done(ctx context.Context, u *cleanroom.Upload, o versions.Owner, ver *cleanroom.Version) error
	// failed runs after the upload is recorded as failed.
	failed(ctx context.Context, u *cleanroom.Upload, o versions.Owner) error
}

// draft is a version to commit: its file's writer and record, and the report to record.
type draft struct {
	write  versions.Writer
	rec    versions.Record
	report any
}

// handler is the one pipeline, for every engine.
func (s *Service) handler(e engine) jobs.Handler {
	return func(ctx context.Context, job *cleanroom.Job, report func(cleanroom.Progress)) error {
		var args uploads.JobArgs
		if err := json.Unmarshal(job.Args, &args); err != nil {
			return jobs.Permanent(fmt.Errorf("bad job arguments: %w", err))
		}
		u, err := s.Store.FindUpload(ctx, args.UploadID)
		if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
			return permanent(cleanroom.Errorf(cleanroom.EINVALID, "The upload was deleted before it was processed."))
		} else if err != nil {
			return err
		}
		switch u.State {
		case cleanroom.UploadProcessed, cleanroom.UploadFailed, cleanroom.UploadAborted:
			return nil // a retry after the outcome was recorded
		}
		err = s.process(ctx, e, u, report)
		var f *failure
		switch {
		case err == nil || ctx.Err() != nil:
			return err
		case errors.As(err, &f):
			return err
		case job.Attempt >= job.MaxAttempts:
			// The last attempt: the upload fails with a user-safe message; the cause is logged.
			s.Logger.Error("processing failed", "job", job.ID, "upload", u.ID, "err", err)
			o, _ := e.owner(ctx, u)
			return s.fail(ctx, e, u, o, nil, cleanroom.Errorf(cleanroom.EINTERNAL,
				"The file could not be processed because of an internal error; the operator can find why in the server log.").Wrap(err))
		}
		return err
	}
}

// failure is a recorded, permanent failure.
type failure struct{ err error }

func (f *failure) Error() string { return f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

func (s *Service) process(ctx context.Context, e engine, u *cleanroom.Upload, report func(cleanroom.Progress)) error {
	o, err := e.owner(ctx, u)
	if err != nil {
		return s.fail(ctx, e, u, o, nil, err)
	}
	processing := cleanroom.UploadProcessing
	if _, err := s.Store.UpdateUpload(ctx, u.ID, cleanroom.UploadUpdate{State: &processing}, s.now()); err != nil {
		return err
	}
	in, err := s.Uploads.Open(ctx, u)
	if err != nil {
		return err
	}
	defer in.Close()
	report(cleanroom.Progress{Done: 0, Total: u.Size, Message: "reading"})
	state, rep, err := e.read(ctx, u, in, report)
	if c, ok := state.(io.Closer); ok {
		defer c.Close() // an ingest's temporary files
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return s.fail(ctx, e, u, o, rep, err)
	}
	in.Close()
	report(cleanroom.Progress{Done: u.Size, Total: u.Size, Message: "storing the version"})
	var ver *cleanroom.Version
	for try := 1; ; try++ {
		cur, base, err := s.Versions.Base(ctx, o)
		if err != nil {
			return err
		}
		d, err := e.build(ctx, u, state, cur)
		if err != nil {
			if cleanroom.ErrorCode(err) == cleanroom.EINVALID {
				return s.fail(ctx, e, u, o, rep, err)
			}
			return err
		}
		if d == nil {
			break // nothing to change
		}
		rep = d.report
		ver, err = s.Versions.Create(ctx, o, base, d.write, d.rec)
		if cleanroom.ErrorCode(err) == cleanroom.ECONFLICT && try < commitTries {
			continue // another change won: build again on it
		}
		if err != nil {
			return err
		}
		break
	}
	// The version is in place: record the outcome, then clean up.
	repJSON, err := json.Marshal(uploadReport(rep))
	if err != nil {
		return err
	}
	done := cleanroom.UploadProcessed
	upd := cleanroom.UploadUpdate{State: &done, Report: repJSON}
	if ver != nil {
		upd.VersionID = &ver.ID
	}
	if _, err := s.Store.UpdateUpload(ctx, u.ID, upd, s.now()); err != nil {
		return err
	}
	if err := s.Uploads.DeleteParts(ctx, u.ID); err != nil {
		return err
	}
	return e.done(ctx, u, o, ver)
}

// fail records a processing failure: the user-safe message and the report on the upload, whose
// parts are deleted. It returns a permanent error.
func (s *Service) fail(ctx context.Context, e engine, u *cleanroom.Upload, o versions.Owner, rep any, cause error) error {
	failed := cleanroom.UploadFailed
	msg := cleanroom.ErrorText(cause)
	upd := cleanroom.UploadUpdate{State: &failed, Error: &msg}
	if r := uploadReport(rep); r != nil {
		upd.Report, _ = json.Marshal(r)
	}
	if _, err := s.Store.UpdateUpload(ctx, u.ID, upd, s.now()); err != nil && cleanroom.ErrorCode(err) != cleanroom.ENOTFOUND {
		return err
	}
	if err := s.Uploads.DeleteParts(ctx, u.ID); err != nil {
		return err
	}
	if o.ID != "" {
		if err := e.failed(ctx, u, o); err != nil {
			return err
		}
	}
	return &failure{permanent(cause)}
}

// permanent marks an error retrying cannot fix (the jobs package treats EINVALID that way).
func permanent(err error) error {
	if cleanroom.ErrorCode(err) == cleanroom.EINVALID {
		return err
	}
	return jobs.Permanent(err)
}

// keys returns the fingerprint and user-ID keys of this deployment.
func (s *Service) keys() (fingerprint, user []byte) {
	return s.Keys.Derive(FingerprintPurpose), s.Keys.Derive(UserKeyPurpose)
}
