package pubsync

import (
	"context"
	"io"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/localblob"
)

type discardBlobs struct{ cleanroom.BlobStore }

func (discardBlobs) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	return io.Copy(io.Discard, r)
}

func TestTmpWritePhases(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("TMPW_USERS"))
	if n == 0 {
		t.Skip()
	}
	v, _, err := Sync(context.Background(), newGenReader(n, 1), benchTaxonomy(t), Options{FingerprintKey: testFPKey, UserKey: testUserKey})
	if err != nil {
		t.Fatal(err)
	}
	s := time.Now()
	v.Validate()
	t.Logf("validate %v", time.Since(s))
	s = time.Now()
	w, err := v.Write(context.Background(), discardBlobs{}, "x", testFPKey)
	t.Logf("write to discard %v (%d B) %v", time.Since(s), w, err)
	blobs, _ := localblob.Open(t.TempDir())
	for i := range 2 {
		s = time.Now()
		w, err = v.Write(context.Background(), blobs, "x"+strconv.Itoa(i), testFPKey)
		t.Logf("write to disk %v (%d B) %v", time.Since(s), w, err)
	}
}
