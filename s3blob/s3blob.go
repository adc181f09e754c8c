// Package s3blob implements cleanroom.BlobStore on S3-compatible object storage (AWS S3, MinIO,
// and the like) with minio-go. A file is one object, under an optional key prefix in the bucket.
//
// Writes stream: a file larger than one part is sent as a multipart upload of PartSize parts, so
// memory stays at two parts per write (the first, read to tell a small file from a large one, and
// the one being sent) whatever the file's size; a file within one part is a single PUT. Either way the object appears whole when the upload completes (S3 replaces an object
// atomically), so a reader sees the old file or the new one, never part of one; a failed or
// cancelled write aborts its upload and leaves the old object. Reads stream too, and OpenRange
// reads part of an object (a ranged GET), which is how a version is read chunk by chunk.
//
// Errors name the operation and the key, never the credentials.
package s3blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/cleanroom-oss/cleanroom"
)

// PartSize is the size of one part of a multipart upload (S3 allows at most 10,000 parts, so files
// up to 160 GiB).
const PartSize = 16 << 20

// Config says where the bucket is and how to sign in.
type Config struct {
	// Endpoint is the server's URL, http:// or https://, with no path; empty means AWS S3.
	Endpoint string
	// Region is the bucket's region; empty asks the server.
	Region string
	// AccessKey, SecretKey and SessionToken are static credentials; with no AccessKey, the AWS
	// chain is used (the AWS_* environment, ~/.aws/credentials, an instance or task role).
	AccessKey, SecretKey, SessionToken string
	// Bucket is the bucket's name; Prefix the key prefix inside it ("" for none; no slash at
	// either end).
	Bucket, Prefix string
}

// FromURL reads an s3://bucket/prefix URL, the endpoint, region and credentials from the usual AWS
// environment variables (through getenv): AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL (a server other
// than AWS, e.g. http://127.0.0.1:9000 for a local MinIO), AWS_REGION or AWS_DEFAULT_REGION,
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN.
func FromURL(raw string, getenv func(string) string) (Config, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "s3" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return Config{}, fmt.Errorf("blob store %q: want s3://bucket or s3://bucket/prefix", redact(raw))
	}
	c := Config{
		Bucket:       u.Host,
		Prefix:       strings.Trim(u.Path, "/"),
		Endpoint:     first(getenv("AWS_ENDPOINT_URL_S3"), getenv("AWS_ENDPOINT_URL")),
		Region:       first(getenv("AWS_REGION"), getenv("AWS_DEFAULT_REGION")),
		AccessKey:    getenv("AWS_ACCESS_KEY_ID"),
		SecretKey:    getenv("AWS_SECRET_ACCESS_KEY"),
		SessionToken: getenv("AWS_SESSION_TOKEN"),
	}
	return c, c.check()
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// redact drops the user part of a URL that has one, so that an error never repeats a password.
func redact(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		u.User = url.User("REDACTED")
		return u.String()
	} else if err != nil {
		// Not a URL: whatever stands between the scheme and the last @ may be a password.
		rest, scheme := raw, ""
		if i := strings.Index(raw, "://"); i >= 0 {
			scheme, rest = raw[:i+3], raw[i+3:]
		}
		if i := strings.LastIndex(rest, "@"); i >= 0 {
			return scheme + "REDACTED" + rest[i:]
		}
	}
	return raw
}

// String describes the configuration without its secret key and session token, so that
// printing or logging it does not leak them.
func (c Config) String() string {
	hidden := func(v string) string {
		if v == "" {
			return ""
		}
		return "REDACTED"
	}
	return fmt.Sprintf("s3blob.Config{Endpoint:%q Region:%q AccessKey:%q SecretKey:%q SessionToken:%q Bucket:%q Prefix:%q}",
		c.Endpoint, c.Region, c.AccessKey, hidden(c.SecretKey), hidden(c.SessionToken), c.Bucket, c.Prefix)
}

// GoString is String, for %#v.
func (c Config) GoString() string { return c.String() }

func (c Config) check() error {
	if len(c.Bucket) < 3 || len(c.Bucket) > 63 || strings.Trim(c.Bucket, "abcdefghijklmnopqrstuvwxyz0123456789.-") != "" {
		return fmt.Errorf("blob store: bucket name %q: want 3 to 63 lowercase letters, digits, dots and hyphens", c.Bucket)
	}
	if c.Prefix != "" {
		if err := cleanroom.CheckBlobKey(c.Prefix); err != nil {
			return fmt.Errorf("blob store: prefix %q: want segments of lowercase letters, digits, dots, hyphens and underscores", c.Prefix)
		}
	}
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" {
			return fmt.Errorf("blob store: endpoint %q (AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL): want http://host:port or https://host, without a path or credentials", redact(c.Endpoint))
		}
	}
	if (c.AccessKey == "") != (c.SecretKey == "") {
		return errors.New("blob store: set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither (to use the AWS credentials file or an instance role)")
	}
	return nil
}

// Store is a blob store in a bucket.
type Store struct {
	client *minio.Client
	core   minio.Core
	bucket string
	prefix string // "" or ending in "/"
	where  string // bucket and prefix, for errors
}

var (
	_ cleanroom.BlobStore       = (*Store)(nil)
	_ cleanroom.BlobRangeReader = (*Store)(nil)
)

// Open connects to the bucket and checks that it exists and can be read, so that a wrong
// endpoint, credentials or bucket fail at start with an error saying which.
func Open(ctx context.Context, c Config) (*Store, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	host, secure := "s3.amazonaws.com", true
	if c.Endpoint != "" {
		u, _ := url.Parse(c.Endpoint)
		host, secure = u.Host, u.Scheme == "https"
	}
	var creds *credentials.Credentials
	if c.AccessKey != "" {
		creds = credentials.NewStaticV4(c.AccessKey, c.SecretKey, c.SessionToken)
	} else {
		creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.EnvAWS{}, &credentials.FileAWSCredentials{}, &credentials.IAM{Client: &http.Client{Transport: http.DefaultTransport}},
		})
	}
	transport, err := minio.DefaultTransport(secure)
	if err != nil {
		return nil, fmt.Errorf("blob store: %w", err)
	}
	// Parallel ranged reads of one version go to the same host.
	transport.MaxIdleConnsPerHost = 64
	client, err := minio.New(host, &minio.Options{Creds: creds, Secure: secure, Region: c.Region, Transport: transport, MaxRetries: 3})
	if err != nil {
		return nil, fmt.Errorf("blob store: %w", err)
	}
	s := &Store{client: client, core: minio.Core{Client: client}, bucket: c.Bucket, where: "s3://" + c.Bucket}
	if c.Prefix != "" {
		s.prefix = c.Prefix + "/"
		s.where += "/" + c.Prefix
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// Listing one key checks the endpoint, the credentials, the bucket and the right to read it.
	for o := range client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix, MaxKeys: 1}) {
		if o.Err != nil {
			err = o.Err
			break
		}
	}
	if err != nil {
		hint := "check the endpoint (AWS_ENDPOINT_URL_S3), the credentials and the bucket"
		switch minio.ToErrorResponse(err).Code {
		case "NoSuchBucket":
			hint = "create the bucket first"
		case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch":
			hint = "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, and that they may list and read the bucket"
		}
		return nil, fmt.Errorf("blob store %s at %s: %w (%s)", s.where, host, err, hint)
	}
	return s, nil
}

// object checks key and returns its object name.
func (s *Store) object(key string) (string, error) {
	if err := cleanroom.CheckBlobKey(key); err != nil {
		return "", err
	}
	return s.prefix + key, nil
}

// wrap describes a failed operation on key; a missing object wraps cleanroom.ErrBlobNotFound.
func (s *Store) wrap(op, key string, err error) error {
	if code := minio.ToErrorResponse(err).Code; code == "NoSuchKey" {
		return fmt.Errorf("s3blob: %s %s: %w", op, key, cleanroom.ErrBlobNotFound)
	}
	return fmt.Errorf("s3blob: %s %s in %s: %w", op, key, s.where, err)
}

// Put implements cleanroom.BlobStore. The first part is read before anything is sent: a file that
// fits in it is one PUT, a larger one a multipart upload that streams the rest part by part.
func (s *Store) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	obj, err := s.object(key)
	if err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, s.wrap("put", key, err)
	}
	bp := heads.Get().(*[]byte)
	defer heads.Put(bp)
	head := *bp
	n, err := io.ReadFull(r, head)
	opts := minio.PutObjectOptions{ContentType: "application/octet-stream", PartSize: PartSize}
	switch err {
	case io.EOF, io.ErrUnexpectedEOF: // the whole file is in head
		_, err = s.client.PutObject(ctx, s.bucket, obj, bytes.NewReader(head[:n]), int64(n), opts)
		if err != nil {
			return 0, s.wrap("put", key, err)
		}
		return int64(n), nil
	case nil:
	default:
		return 0, s.wrap("put", key, err)
	}
	cr := &countingReader{r: io.MultiReader(bytes.NewReader(head), r)}
	if _, err := s.client.PutObject(ctx, s.bucket, obj, cr, -1, opts); err != nil {
		return 0, s.wrap("put", key, err)
	}
	return cr.n, nil
}

// heads are the buffers of the first part of the files being written.
var heads = sync.Pool{New: func() any { b := make([]byte, PartSize); return &b }}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Open implements cleanroom.BlobStore: the object streams as it is read.
func (s *Store) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	obj, err := s.object(key)
	if err != nil {
		return nil, err
	}
	body, _, _, err := s.core.GetObject(ctx, s.bucket, obj, minio.GetObjectOptions{})
	if err != nil {
		return nil, s.wrap("open", key, err)
	}
	return body, nil
}

// OpenRange implements cleanroom.BlobRangeReader with a ranged GET.
func (s *Store) OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	obj, err := s.object(key)
	if err != nil {
		return nil, err
	}
	if off < 0 || n < 0 {
		return nil, fmt.Errorf("s3blob: open %s: bad range %d+%d", key, off, n)
	}
	if n == 0 {
		// No bytes to read; the key must still exist.
		if _, err := s.Stat(ctx, key); err != nil {
			return nil, err
		}
		return io.NopCloser(bytes.NewReader(nil)), nil
	}
	var opts minio.GetObjectOptions
	if err := opts.SetRange(off, off+n-1); err != nil {
		return nil, fmt.Errorf("s3blob: open %s: %w", key, err)
	}
	body, _, _, err := s.core.GetObject(ctx, s.bucket, obj, opts)
	if err != nil {
		if minio.ToErrorResponse(err).Code == "InvalidRange" {
			// The range starts at or past the end (or the object is empty): nothing to read.
			return io.NopCloser(bytes.NewReader(nil)), nil
		}
		return nil, s.wrap("open", key, err)
	}
	return body, nil
}

// Stat implements cleanroom.BlobStore.
func (s *Store) Stat(ctx context.Context, key string) (int64, error) {
	obj, err := s.object(key)
	if err != nil {
		return 0, err
	}
	info, err := s.client.StatObject(ctx, s.bucket, obj, minio.StatObjectOptions{})
	if err != nil {
		return 0, s.wrap("stat", key, err)
	}
	return info.Size, nil
}

// Delete implements cleanroom.BlobStore. In a versioned bucket the object's older versions
// remain (until the bucket's lifecycle rules remove them); they are encrypted under data keys
// that are shredded with the version, so they cannot be read.
func (s *Store) Delete(ctx context.Context, key string) error {
	obj, err := s.object(key)
	if err != nil {
		return err
	}
	if err := s.client.RemoveObject(ctx, s.bucket, obj, minio.RemoveObjectOptions{}); err != nil && minio.ToErrorResponse(err).Code != "NoSuchKey" {
		return s.wrap("delete", key, err)
	}
	return nil
}

// List implements cleanroom.BlobStore. Objects under the prefix whose names are not blob keys
// (written by something else) are left out.
func (s *Store) List(ctx context.Context, prefix string) ([]string, error) {
	keys := []string{}
	for o := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix + prefix, Recursive: true}) {
		if o.Err != nil {
			return nil, fmt.Errorf("s3blob: list %q in %s: %w", prefix, s.where, o.Err)
		}
		k := strings.TrimPrefix(o.Key, s.prefix)
		if cleanroom.CheckBlobKey(k) == nil && path.Clean(k) == k {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys, nil
}
