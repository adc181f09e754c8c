package app

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/localblob"
	"github.com/cleanroom-oss/cleanroom/s3blob"
)

// OpenBlobs opens the blob store the configuration names (Config.Blobs): the data directory's
// blobs/ when empty, or an S3-compatible bucket for s3://bucket/prefix, with the endpoint, region
// and credentials from the AWS environment (see s3blob.FromURL). The bucket must exist and be
// readable: a wrong URL, endpoint, credential or bucket fails here, at start.
func OpenBlobs(ctx context.Context, c Config) (cleanroom.BlobStore, error) {
	switch {
	case c.Blobs == "":
		return localblob.Open(c.BlobDir())
	case strings.HasPrefix(c.Blobs, "s3://"):
		sc, err := s3blob.FromURL(c.Blobs, os.Getenv)
		if err != nil {
			return nil, fmt.Errorf("--blobs: %w", err)
		}
		s, err := s3blob.Open(ctx, sc)
		if err != nil {
			return nil, fmt.Errorf("--blobs: %w", err)
		}
		return s, nil
	}
	return nil, fmt.Errorf("--blobs %q: want s3://bucket or s3://bucket/prefix (or nothing, for the data directory's blobs/)", c.Blobs)
}
