// Package imports takes files from a party's own S3-compatible bucket: an advertiser's data
// source, or a publisher's audience sync, names an endpoint, a bucket and a prefix with the
// credentials to read them (the secret kept wrapped under the master key, never shown again), and
// each new object under the prefix becomes an upload of the same pipeline as a file sent by hand,
// with the same processing, limits and report. An import runs on demand or on a schedule as a job
// serialised with the target's uploads; an object (its key, ETag and size) is taken in once,
// whatever the runs, restarts or racing workers, and a bucket that cannot be read leaves a clear
// error with its fix on the import source.
//
// The rules: a data source's import is set up and run by those who manage the data source (its
// advertiser's members, or the invited advertiser it belongs to) and seen by its own org's people;
// a publisher's by its members and admins (seen by its viewers). Anyone else finds nothing. The
// server connects only to endpoints the operator's policy allows (see Policy).
package imports

import (
	"context"
	"log/slog"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/connections"
	"github.com/cleanroom-oss/cleanroom/keyring"
	"github.com/cleanroom-oss/cleanroom/pipeline"
)

// Store is what the service needs of the metadata store.
type Store interface {
	cleanroom.ImportStore
	cleanroom.IngestStore
	cleanroom.OrgStore
	ListJobs(ctx context.Context, f cleanroom.JobFilter) ([]*cleanroom.Job, string, error)
}

// Enqueuer queues background jobs (jobs.Runner).
type Enqueuer interface {
	Enqueue(ctx context.Context, j *cleanroom.Job) error
}

// Service keeps import sources and runs their imports.
type Service struct {
	Store    Store
	Conns    *connections.Service
	Pipeline *pipeline.Service
	Keys     *keyring.Master
	Jobs     Enqueuer
	Logger   *slog.Logger
	Now      func() time.Time
	// Policy is which endpoints the server connects to.
	Policy Policy
	// MaxRetries bounds the S3 client's retries of one request (0: 3).
	MaxRetries int
}

// New returns a service.
func New(store Store, conns *connections.Service, p *pipeline.Service, keys *keyring.Master, jobs Enqueuer, logger *slog.Logger) *Service {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Service{Store: store, Conns: conns, Pipeline: p, Keys: keys, Jobs: jobs, Logger: logger, Now: time.Now}
}

func (s *Service) now() time.Time { return cleanroom.UTC(s.Now()) }

// SecretLabel binds a wrapped secret to its import source (the master key's rotation re-wraps
// it under the same label).
func SecretLabel(sourceID string) string { return "import-secret:" + sourceID }

// Target is what an import feeds, as the caller names it.
type Target struct {
	Kind cleanroom.UploadTarget
	// ID is the data source's ID (unused for the caller's publisher audience).
	ID string
}

// DataSource names a data source's import.
func DataSource(id string) Target { return Target{Kind: cleanroom.UploadDataSource, ID: id} }

// Publisher names the caller's publisher audience's import.
func Publisher() Target { return Target{Kind: cleanroom.UploadPublisher} }

// resolve checks the caller's right to a target's import (write: to change or run it) and
// returns the org and the target ID the import source is kept under.
func (s *Service) resolve(ctx context.Context, c *cleanroom.Caller, t Target, write bool) (orgID, targetID string, err error) {
	switch t.Kind {
	case cleanroom.UploadDataSource:
		if write {
			ds, err := s.Conns.ManagedDataSource(ctx, c, t.ID)
			if err != nil {
				return "", "", err
			}
			return ds.OrgID, ds.ID, nil
		}
		ds, access, _, err := s.Conns.DataSource(ctx, c, t.ID)
		if err != nil {
			return "", "", err
		}
		if access != connections.AccessOwn {
			return "", "", cleanroom.Errorf(cleanroom.EFORBIDDEN, "Where %q takes its files from is its advertiser's to see and set.", ds.Name)
		}
		return ds.OrgID, ds.ID, nil
	case cleanroom.UploadPublisher:
		if c.Org == nil || c.Org.Kind != cleanroom.OrgPublisher {
			return "", "", cleanroom.Errorf(cleanroom.EFORBIDDEN, "Audience sync is done in a publisher's supply-side workspace.").
				Hint("Switch to the publisher's organization.")
		}
		if !c.Org.CleanRoomEnabled() {
			return "", "", cleanroom.Errorf(cleanroom.EFORBIDDEN, "The clean room is not enabled for %s.", c.Org.Name).
				Hint("Ask the operator to enable it; that creates the vault your audience is kept in.")
		}
		min := cleanroom.RoleViewer
		if write {
			min = cleanroom.RoleMember
		}
		if err := c.InOrg(min); err != nil {
			return "", "", err
		}
		return c.OrgID(), c.OrgID(), nil
	}
	return "", "", cleanroom.Errorf(cleanroom.EINVALID, "Imports feed data sources and publisher audiences only.")
}

// notConfigured is the answer for a target without an import source.
func notConfigured() error {
	return cleanroom.Errorf(cleanroom.ENOTFOUND, "No bucket import is set up here.").
		Hint("Set one up with PUT and the bucket's endpoint, name, prefix and credentials.")
}

// Source returns a target's import source (without its secret). Returns ENOTFOUND when there is
// none, as for a target the caller does not reach.
func (s *Service) Source(ctx context.Context, c *cleanroom.Caller, t Target) (*cleanroom.ImportSource, error) {
	_, targetID, err := s.resolve(ctx, c, t, false)
	if err != nil {
		return nil, err
	}
	src, err := s.Store.FindImportSource(ctx, t.Kind, targetID)
	if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
		return nil, notConfigured()
	}
	return src, err
}

// Settings are what a caller sets of an import source.
type Settings struct {
	Endpoint, Bucket, Prefix, Region, AccessKeyID string
	// SecretAccessKey is the new secret; nil keeps the current one (allowed only while the
	// endpoint and access key ID stay the same).
	SecretAccessKey *string
	// Schedule is off (the default), hourly or daily.
	Schedule cleanroom.ImportSchedule
	// Enabled, nil for true, lets scheduled and on-demand runs happen.
	Enabled *bool
	// MaxErrorRate is the share of bad rows above which an imported file is refused (0: 5%).
	MaxErrorRate float64
}

var (
	bucketName     = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	regionName     = regexp.MustCompile(`^[a-z0-9-]{0,40}$`)
	credentialText = regexp.MustCompile(`^[\x21-\x7e]+$`)
)

// validate checks the settings and returns them normalised.
func (s *Service) validate(st Settings) (Settings, error) {
	field := func(name, format string, args ...any) *cleanroom.Error {
		return cleanroom.Errorf(cleanroom.EINVALID, format, args...).With("field", name)
	}
	endpoint, err := s.Policy.Endpoint(st.Endpoint)
	if err != nil {
		return st, err
	}
	st.Endpoint = endpoint
	st.Bucket = strings.TrimSpace(st.Bucket)
	if !bucketName.MatchString(st.Bucket) || strings.Contains(st.Bucket, "..") {
		return st, field("bucket", "The bucket name %q is not a valid S3 bucket name.", st.Bucket).
			Hint("Give the bucket's name alone (3 to 63 lowercase letters, digits, dots and hyphens), without s3:// or a path; the path goes in prefix.")
	}
	st.Prefix = strings.TrimLeft(st.Prefix, "/")
	if len(st.Prefix) > 1024 || !utf8.ValidString(st.Prefix) || strings.ContainsFunc(st.Prefix, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return st, field("prefix", "The prefix must be at most 1024 bytes of UTF-8 text without control characters.")
	}
	st.Region = strings.TrimSpace(st.Region)
	if !regionName.MatchString(st.Region) {
		return st, field("region", "The region %q is not a region name such as eu-west-1.", st.Region)
	}
	st.AccessKeyID = strings.TrimSpace(st.AccessKeyID)
	if len(st.AccessKeyID) > 128 || !credentialText.MatchString(st.AccessKeyID) {
		return st, field("access_key_id", "The access key ID must be 1 to 128 printable characters without spaces.")
	}
	if st.SecretAccessKey != nil && (len(*st.SecretAccessKey) > 256 || !credentialText.MatchString(*st.SecretAccessKey)) {
		return st, field("secret_access_key", "The secret access key must be 1 to 256 printable characters without spaces.")
	}
	if st.Schedule == "" {
		st.Schedule = cleanroom.ImportOff
	}
	if !st.Schedule.Valid() {
		return st, field("schedule", "The schedule must be off, hourly or daily.")
	}
	if st.MaxErrorRate < 0 || st.MaxErrorRate > 1 {
		return st, field("max_error_rate", "max_error_rate must lie between 0 and 1 (0 means the default, 0.05).")
	}
	return st, nil
}

// Put creates or replaces a target's import source. The secret is required when the source is
// new and whenever the endpoint or the access key ID changes, so a stored secret is never sent to
// signing requests for another endpoint than the one it was given for.
func (s *Service) Put(ctx context.Context, c *cleanroom.Caller, t Target, st Settings) (*cleanroom.ImportSource, error) {
	orgID, targetID, err := s.resolve(ctx, c, t, true)
	if err != nil {
		return nil, err
	}
	if st, err = s.validate(st); err != nil {
		return nil, err
	}
	cur, err := s.Store.FindImportSource(ctx, t.Kind, targetID)
	if err != nil && cleanroom.ErrorCode(err) != cleanroom.ENOTFOUND {
		return nil, err
	}
	now := s.now()
	src := cur
	if src == nil {
		src = &cleanroom.ImportSource{ID: uuid.Must(uuid.NewV7()).String(), OrgID: orgID, Target: t.Kind, TargetID: targetID, CreatedAt: now}
	}
	if st.SecretAccessKey == nil && (cur == nil || !cur.SecretSet || cur.Endpoint != st.Endpoint || cur.AccessKeyID != st.AccessKeyID) {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "Give the secret access key.").With("field", "secret_access_key").
			Hint("The secret is needed for a new import and whenever the endpoint or the access key ID changes; it is stored encrypted and never shown again.")
	}
	if st.SecretAccessKey != nil {
		if src.WrappedSecret, err = s.Keys.Wrap([]byte(*st.SecretAccessKey), SecretLabel(src.ID)); err != nil {
			return nil, err
		}
	}
	enabled := st.Enabled == nil || *st.Enabled
	switch {
	case !enabled || st.Schedule == cleanroom.ImportOff:
		src.NextRunAt = time.Time{}
	case cur == nil || cur.Schedule != st.Schedule || !cur.Enabled || cur.NextRunAt.IsZero():
		src.NextRunAt = now // the first scheduled run comes at the next check
	}
	src.Endpoint, src.Bucket, src.Prefix, src.Region, src.AccessKeyID = st.Endpoint, st.Bucket, st.Prefix, st.Region, st.AccessKeyID
	src.Schedule, src.Enabled, src.MaxErrorRate = st.Schedule, enabled, st.MaxErrorRate
	src.UpdatedBy, src.UpdatedAt = c.UserID(), now
	if cur == nil {
		err = s.Store.CreateImportSource(ctx, src)
	} else {
		err = s.Store.UpdateImportSource(ctx, src)
	}
	if err != nil {
		return nil, err
	}
	return src, nil
}

// Delete removes a target's import source with its credentials and the record of the objects it
// imported (their uploads stay). Returns ENOTFOUND when there is none.
func (s *Service) Delete(ctx context.Context, c *cleanroom.Caller, t Target) (*cleanroom.ImportSource, error) {
	_, targetID, err := s.resolve(ctx, c, t, true)
	if err != nil {
		return nil, err
	}
	src, err := s.Store.FindImportSource(ctx, t.Kind, targetID)
	if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
		return nil, notConfigured()
	} else if err != nil {
		return nil, err
	}
	return src, s.Store.DeleteImportSource(ctx, src.ID)
}

// Run queues an import of a target's new objects now and returns its job.
func (s *Service) Run(ctx context.Context, c *cleanroom.Caller, t Target) (*cleanroom.Job, *cleanroom.ImportSource, error) {
	_, targetID, err := s.resolve(ctx, c, t, true)
	if err != nil {
		return nil, nil, err
	}
	src, err := s.Store.FindImportSource(ctx, t.Kind, targetID)
	if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
		return nil, nil, notConfigured()
	} else if err != nil {
		return nil, nil, err
	}
	if !src.Enabled {
		return nil, nil, cleanroom.Errorf(cleanroom.ECONFLICT, "The import is disabled.").Hint("Enable it (enabled: true), then run it.")
	}
	j, err := s.enqueue(ctx, src)
	return j, src, err
}

// Objects lists the objects a target's import took in, newest first, each with its upload.
func (s *Service) Objects(ctx context.Context, c *cleanroom.Caller, t Target, p cleanroom.Page) ([]*cleanroom.ImportedObject, string, error) {
	src, err := s.Source(ctx, c, t)
	if err != nil {
		return nil, "", err
	}
	objs, next, err := s.Store.ListImportedObjects(ctx, src.ID, p)
	if err != nil {
		return nil, "", err
	}
	for _, o := range objs {
		if o.UploadID == "" {
			continue
		}
		if u, err := s.Store.FindUpload(ctx, o.UploadID); err == nil {
			o.Upload = u
		} else if cleanroom.ErrorCode(err) != cleanroom.ENOTFOUND {
			return nil, "", err
		}
	}
	return objs, next, nil
}
