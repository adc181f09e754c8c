package imports

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/jobs"
	"github.com/cleanroom-oss/cleanroom/uploads"
)

// JobKind is the kind of the import job.
const JobKind = "import.bucket"

// JobArgs are the import job's arguments.
type JobArgs struct {
	SourceID string `json:"source_id"`
}

// Register adds the import job's handler to r.
func (s *Service) Register(r *jobs.Runner) { r.Register(JobKind, s.handle) }

// enqueue queues an import of src, serialised with the other changes to its target (its uploads'
// processing), so an import never runs beside them.
//
// An import already queued for src (not yet started) is returned instead of a second one: it will
// list the bucket when it starts, so another would find nothing new. One that is running may miss
// objects added since its listing, so a new one is queued behind it.
func (s *Service) enqueue(ctx context.Context, src *cleanroom.ImportSource) (*cleanroom.Job, error) {
	args, err := json.Marshal(JobArgs{SourceID: src.ID})
	if err != nil {
		return nil, err
	}
	f := cleanroom.JobFilter{OrgID: src.OrgID, Kind: JobKind, State: cleanroom.JobQueued, Page: cleanroom.Page{Limit: cleanroom.MaxPageLimit}}
	for {
		queued, next, err := s.Store.ListJobs(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, j := range queued {
			var a JobArgs
			if json.Unmarshal(j.Args, &a) == nil && a.SourceID == src.ID {
				return j, nil
			}
		}
		if next == "" {
			break
		}
		f.Page.After = next
	}
	j := &cleanroom.Job{Kind: JobKind, OrgID: src.OrgID, Args: args, MaxAttempts: 3, SerialKey: uploads.SerialKey(src.Target, src.TargetID)}
	if err := s.Jobs.Enqueue(ctx, j); err != nil {
		return nil, err
	}
	return j, nil
}

func (s *Service) handle(ctx context.Context, job *cleanroom.Job, report func(cleanroom.Progress)) error {
	var args JobArgs
	if err := json.Unmarshal(job.Args, &args); err != nil {
		return jobs.Permanent(fmt.Errorf("bad job arguments: %w", err))
	}
	src, err := s.Store.FindImportSourceByID(ctx, args.SourceID)
	if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
		return nil // removed since it was queued
	} else if err != nil {
		return err
	}
	if !src.Enabled {
		return nil
	}
	n, err := s.Import(ctx, src, report)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ce *cleanroom.Error
	msg := ""
	if err != nil {
		if !errors.As(err, &ce) {
			s.Logger.Error("import failed", "job", job.ID, "source", src.ID, "err", err)
			msg = fmt.Sprintf("The import stopped because of an internal error (job %d); it is retried, and the operator can find why in the server log.", job.ID)
		} else {
			msg = cleanroom.ErrorText(err)
		}
	}
	if rerr := s.Store.RecordImportCheck(ctx, src.ID, s.now(), msg); rerr != nil && cleanroom.ErrorCode(rerr) != cleanroom.ENOTFOUND {
		return errors.Join(err, rerr)
	}
	if err != nil {
		if ce != nil {
			return jobs.Permanent(err) // the bucket or the target needs a fix; the next run tries again
		}
		return err
	}
	report(cleanroom.Progress{Done: int64(n), Total: int64(n), Message: fmt.Sprintf("%d new objects imported", n)})
	return nil
}

// client returns an S3 client of src, its connections checked against the policy.
func (s *Service) client(src *cleanroom.ImportSource) (*minio.Client, error) {
	secret, err := s.Keys.Unwrap(src.WrappedSecret, SecretLabel(src.ID))
	if err != nil {
		return nil, fmt.Errorf("imports: secret of %s: %w", src.ID, err)
	}
	u, err := url.Parse(src.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("imports: endpoint of %s: %w", src.ID, err)
	}
	retries := s.MaxRetries
	if retries <= 0 {
		retries = 3
	}
	return minio.New(u.Host, &minio.Options{
		Creds:      credentials.NewStaticV4(src.AccessKeyID, string(secret), ""),
		Secure:     u.Scheme == "https",
		Region:     src.Region,
		Transport:  s.Policy.roundTripper(),
		MaxRetries: retries,
	})
}

// Import takes in src's new objects, in key order: each becomes an upload of the target, queued
// for processing. It returns how many it queued. An error the bucket or the target causes is a
// *cleanroom.Error saying what to fix; nothing of the object it stopped at is queued.
func (s *Service) Import(ctx context.Context, src *cleanroom.ImportSource, report func(cleanroom.Progress)) (int, error) {
	if err := s.checkTarget(ctx, src); err != nil {
		return 0, err
	}
	cl, err := s.client(src)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the listing
	n := 0
	for obj := range cl.ListObjects(ctx, src.Bucket, minio.ListObjectsOptions{Prefix: src.Prefix, Recursive: true}) {
		if obj.Err != nil {
			return n, bucketError(src, obj.Err)
		}
		if strings.HasSuffix(obj.Key, "/") {
			continue // a folder marker
		}
		if len(obj.Key) > maxKeyBytes {
			return n, cleanroom.Errorf(cleanroom.EUNAVAILABLE, "The server at %s listed a key of %d bytes; S3 keys are at most %d.", src.Endpoint, len(obj.Key), maxKeyBytes).
				Hint("Check the endpoint is the bucket's S3 endpoint.")
		}
		report(cleanroom.Progress{Done: int64(n), Message: "checking " + obj.Key})
		queued, err := s.object(ctx, src, cl, obj, report)
		if err != nil {
			return n, err
		}
		if queued {
			n++
		}
	}
	return n, ctx.Err()
}

// checkTarget returns the target's error when it cannot take files now (a taxonomy missing),
// before anything is read.
func (s *Service) checkTarget(ctx context.Context, src *cleanroom.ImportSource) error {
	ownerID := src.TargetID
	if _, err := s.Store.FindTaxonomy(ctx, ownerID); cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
		if src.Target == cleanroom.UploadPublisher {
			return cleanroom.Errorf(cleanroom.ECONFLICT, "There is no cohort taxonomy yet, so profile files cannot be processed.").
				Hint("Upload it first with PUT /v1/publisher/taxonomy (cohort_id,name,iab_id,standard), then run the import again.")
		}
		return cleanroom.Errorf(cleanroom.ECONFLICT, "The data source has no taxonomy yet, so its files cannot be processed.").
			Hint("Upload the segment taxonomy CSV (segment_id,segment_name) on the data source's page or with PUT /v1/data-sources/%s/taxonomy, then run the import again.", src.TargetID)
	} else if err != nil {
		return err
	}
	return nil
}

// uploadName is the upload's file name for an object key: the key itself, or its last segment
// when the key is too long, with control characters replaced.
func uploadName(key string) string {
	name := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return '_'
		}
		return r
	}, key)
	if utf8.RuneCountInString(name) > 200 {
		name = path.Base(name)
	}
	if r := []rune(name); len(r) > 200 {
		name = string(r[len(r)-200:])
	}
	return name
}

// object takes in one listed object unless it was taken in before, and reports whether it
// queued an upload. An upload a stopped run left open (the object's record is there, its bytes
// not all stored) is resumed from where it stopped.
func (s *Service) object(ctx context.Context, src *cleanroom.ImportSource, cl *minio.Client, obj minio.ObjectInfo, report func(cleanroom.Progress)) (bool, error) {
	rec, err := s.Store.FindImportedObject(ctx, src.ID, src.Bucket, obj.Key, obj.ETag, obj.Size)
	switch {
	case err == nil:
		if rec.UploadID == "" {
			return false, nil // skipped before, with its reason
		}
		u, err := s.Store.FindUpload(ctx, rec.UploadID)
		if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
			return false, nil
		} else if err != nil {
			return false, err
		}
		if u.State != cleanroom.UploadOpen {
			return false, nil // taken in
		}
		return s.transfer(ctx, src, cl, obj, u, report)
	case cleanroom.ErrorCode(err) != cleanroom.ENOTFOUND:
		return false, err
	}
	record := &cleanroom.ImportedObject{SourceID: src.ID, Bucket: src.Bucket, Key: obj.Key, ETag: obj.ETag, Size: obj.Size, CreatedAt: s.now()}
	skip := func(reason string) (bool, error) {
		record.Error = reason
		if err := s.Store.AddImportedObject(ctx, record); err != nil && cleanroom.ErrorCode(err) != cleanroom.ECONFLICT {
			return false, err
		}
		return false, nil
	}
	if obj.Size == 0 {
		return skip("The object is empty.")
	}
	u, err := s.Pipeline.BeginImport(ctx, uploads.Spec{OrgID: src.OrgID, UserID: src.UpdatedBy, Target: src.Target, TargetID: src.TargetID,
		Name: uploadName(obj.Key), Size: obj.Size, MaxErrorRate: src.MaxErrorRate})
	if cleanroom.ErrorCode(err) == cleanroom.EINVALID {
		return skip(cleanroom.ErrorText(err)) // too large for this deployment
	} else if err != nil {
		return false, err
	}
	record.UploadID = u.ID
	if err := s.Store.AddImportedObject(ctx, record); cleanroom.ErrorCode(err) == cleanroom.ECONFLICT {
		// Another run took the object meanwhile: give this upload up.
		_, err := s.Pipeline.Uploads.Abort(ctx, u)
		return false, err
	} else if err != nil {
		s.Pipeline.Uploads.Abort(context.WithoutCancel(ctx), u)
		return false, err
	}
	return s.transfer(ctx, src, cl, obj, u, report)
}

// transfer streams the object's bytes from where u stands into u's parts, one part at a time
// (never the whole object in memory), then queues u's processing.
func (s *Service) transfer(ctx context.Context, src *cleanroom.ImportSource, cl *minio.Client, obj minio.ObjectInfo, u *cleanroom.Upload, report func(cleanroom.Progress)) (bool, error) {
	if u.Received < u.Size {
		opts := minio.GetObjectOptions{}
		if err := opts.SetMatchETag(obj.ETag); err != nil {
			return false, err
		}
		if u.Received > 0 {
			if err := opts.SetRange(u.Received, 0); err != nil {
				return false, err
			}
		}
		body, err := cl.GetObject(ctx, src.Bucket, obj.Key, opts)
		if err != nil {
			return false, bucketError(src, err)
		}
		defer body.Close()
		for u.Received < u.Size {
			part := min(s.Pipeline.Uploads.MaxPartBytes, u.Size-u.Received)
			next, err := s.Pipeline.Uploads.WritePart(ctx, u, u.Received, io.LimitReader(body, part), "")
			switch {
			case err == nil:
				u = next
			case ctx.Err() != nil:
				return false, ctx.Err()
			case cleanroom.ErrorCode(err) == cleanroom.ECONFLICT:
				return false, nil // another run is writing this upload
			case changed(err):
				// The object changed or went away while it was read: its new contents have a new
				// ETag and are imported as a new object. This upload is given up.
				if _, aerr := s.Pipeline.Uploads.Abort(context.WithoutCancel(ctx), u); aerr != nil {
					return false, aerr
				}
				return false, nil
			default:
				var re minio.ErrorResponse
				if errors.As(err, &re) || isNetwork(err) || unbounded(err) {
					return false, bucketError(src, err)
				}
				return false, err
			}
			report(cleanroom.Progress{Done: u.Received, Total: u.Size, Message: "importing " + obj.Key})
		}
	}
	// A run that lost its job's lease may still be here beside the one that took over: only the
	// run that finds the upload still open queues it (a second queueing in the window between
	// would only add a job that finds the upload processed and does nothing).
	if cur, err := s.Store.FindUpload(ctx, u.ID); err != nil {
		return false, err
	} else if cur.State != cleanroom.UploadOpen {
		return false, nil
	}
	if _, err := s.Pipeline.QueueUpload(ctx, u); err != nil {
		if cleanroom.ErrorCode(err) == cleanroom.ECONFLICT {
			return false, nil // another run completed it
		}
		return false, err
	}
	return true, nil
}

// changed reports whether err says the object being read is no longer the one listed: another
// ETag (the If-Match precondition), deleted, or shorter than listed.
func changed(err error) bool {
	var re minio.ErrorResponse
	if errors.As(err, &re) {
		switch re.Code {
		case "PreconditionFailed", "NoSuchKey", "InvalidRange":
			return true
		}
	}
	return cleanroom.ErrorCode(err) == cleanroom.EINVALID // the part came up empty or short
}

func isNetwork(err error) bool {
	var ne net.Error
	var ue *url.Error
	return errors.As(err, &ne) || errors.As(err, &ue)
}

// bucketError turns what reading the bucket returned into a user-safe error with its fix. It
// names the endpoint, bucket and the server's error code, never the credentials.
func bucketError(src *cleanroom.ImportSource, err error) error {
	where := fmt.Sprintf("%s/%s", src.Endpoint, src.Bucket)
	var refused *refusedAddress
	if errors.As(err, &refused) {
		return refused.userError(src.Endpoint)
	}
	switch {
	case errors.Is(err, errResponseTooLarge):
		return cleanroom.Errorf(cleanroom.EUNAVAILABLE, "The server at %s sent a listing or error larger than %d MiB, more than an S3 server sends.", src.Endpoint, limits.maxMeta>>20).Wrap(err).
			Hint("Check the endpoint is the bucket's S3 endpoint.")
	case errors.Is(err, errResponseStalled), errors.Is(err, errResponseTooSlow):
		return cleanroom.Errorf(cleanroom.EUNAVAILABLE, "The server at %s stopped sending or sent too slowly (under %d KiB/s).", src.Endpoint, limits.minRate>>10).Wrap(err).
			Hint("Check that the bucket's server is reachable from the clean room's servers; the next run resumes where this one stopped.")
	}
	var re minio.ErrorResponse
	if errors.As(err, &re) && re.Code != "" {
		e := func(format string, args ...any) *cleanroom.Error {
			return cleanroom.Errorf(cleanroom.EUNAVAILABLE, format, args...).With("s3_code", re.Code).Wrap(err)
		}
		switch re.Code {
		case "InvalidAccessKeyId":
			return e("The bucket's server does not know the access key ID %q.", src.AccessKeyID).
				Hint("Check the access key ID and the endpoint, then save the import's settings with the right key and secret.")
		case "SignatureDoesNotMatch", "InvalidSignature":
			return e("The bucket's server refused the secret access key given for %q.", src.AccessKeyID).
				Hint("Save the import's settings again with the key's current secret access key.")
		case "AccessDenied", "AllAccessDisabled", "AccountProblem", "ExpiredToken", "InvalidToken":
			return e("The credentials may not read %s (%s).", where+"/"+src.Prefix, re.Code).
				Hint("Give the access key permission to list the bucket (s3:ListBucket) and read its objects (s3:GetObject) under the prefix.")
		case "NoSuchBucket":
			return e("There is no bucket %q at %s.", src.Bucket, src.Endpoint).
				Hint("Check the bucket's name and the endpoint URL.")
		case "AuthorizationHeaderMalformed", "PermanentRedirect", "IllegalLocationConstraintException", "InvalidRegion":
			return e("The bucket %q is in another region than %q (%s).", src.Bucket, src.Region, re.Code).
				Hint("Set the bucket's region (such as eu-west-1), or the endpoint of that region.")
		}
		return e("Reading %s failed: the server answered %s.", where, re.Code).
			Hint("Check the endpoint, bucket, prefix and credentials.")
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return cleanroom.Errorf(cleanroom.EUNAVAILABLE, "The endpoint's host name %q does not resolve.", dnsErr.Name).Wrap(err).
			Hint("Check the endpoint URL.")
	}
	var certErr *x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalidErr x509.CertificateInvalidError
	if errors.As(err, &certErr) || errors.As(err, &hostErr) || errors.As(err, &invalidErr) {
		return cleanroom.Errorf(cleanroom.EUNAVAILABLE, "The TLS certificate of %s is not valid for it.", src.Endpoint).Wrap(err).
			Hint("Check the endpoint URL; the server must present a certificate from a public authority for that host name.")
	}
	if isNetwork(err) {
		var ne net.Error
		reason := "it did not answer"
		if errors.As(err, &ne) && ne.Timeout() {
			reason = "it did not answer in time"
		} else if strings.Contains(err.Error(), "connection refused") {
			reason = "the connection was refused"
		}
		return cleanroom.Errorf(cleanroom.EUNAVAILABLE, "Could not connect to %s: %s.", src.Endpoint, reason).Wrap(err).
			Hint("Check the endpoint URL and that the bucket's server is reachable from the clean room's servers; the next run tries again.")
	}
	return err
}

// EnqueueDue queues an import of every scheduled source whose next run has come, and moves its
// next run on by its schedule's interval. It is safe to call from several processes at once:
// each due run is claimed by one call only (ImportStore.ClaimDueImports). It returns how many it
// queued.
func (s *Service) EnqueueDue(ctx context.Context) (int, error) {
	const batch = 100
	n := 0
	for {
		due, err := s.Store.ClaimDueImports(ctx, s.now(), batch)
		if err != nil {
			return n, err
		}
		for _, src := range due {
			if _, err := s.enqueue(ctx, src); err != nil {
				return n, err
			}
			n++
		}
		if len(due) < batch {
			return n, nil
		}
	}
}
