package pipeline

import (
	"context"
	"encoding/json"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/pubsync"
	"github.com/cleanroom-oss/cleanroom/uploads"
)

// MaxBatchEvents bounds one event batch, and the users of one erasure request.
const MaxBatchEvents = 100_000

// ErasureRequest lists the users to erase.
type ErasureRequest struct {
	UserIDs []string `json:"user_ids"`
}

// SubmitEvents stores a batch of identify and membership events for the publisher (encrypted, as
// an upload) and queues the job that applies it to the audience after the publisher's earlier
// changes. The job's upload gets the report.
func (s *Service) SubmitEvents(ctx context.Context, publisherID, userID string, batch pubsync.Batch) (*cleanroom.Job, error) {
	if n := len(batch.Identify) + len(batch.Memberships); n == 0 || n > MaxBatchEvents {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "A batch holds 1 to %d events; this one has %d.", MaxBatchEvents, n).
			Hint("Send identify and membership events in batches (minutes of traffic each), not one call per event.")
	}
	return s.submit(ctx, publisherID, userID, "events.json", batch, JobEvents)
}

// SubmitErasures stores an erasure request for the publisher (encrypted, as an upload) and queues
// the job that removes the users from the audience and from every stored version, after the
// publisher's earlier changes.
func (s *Service) SubmitErasures(ctx context.Context, publisherID, userID string, req ErasureRequest) (*cleanroom.Job, error) {
	if len(req.UserIDs) == 0 || len(req.UserIDs) > MaxBatchEvents {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "user_ids must list 1 to %d users.", MaxBatchEvents).With("field", "user_ids")
	}
	return s.submit(ctx, publisherID, userID, "erasures.json", req, JobErasures)
}

func (s *Service) submit(ctx context.Context, publisherID, userID, name string, v any, kind string) (*cleanroom.Job, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	_, j, err := s.Uploads.Submit(ctx, uploads.Spec{OrgID: publisherID, UserID: userID, Target: cleanroom.UploadPublisher,
		TargetID: publisherID, Name: name, MaxErrorRate: 1}, body, kind)
	return j, err
}
