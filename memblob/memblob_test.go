package memblob_test

import (
	"testing"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/blobtest"
	"github.com/cleanroom-oss/cleanroom/memblob"
)

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) cleanroom.BlobStore { return memblob.New() })
}
