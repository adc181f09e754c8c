package activation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/edge"
	"github.com/cleanroom-oss/cleanroom/versions"
)

// Several edge replicas serve a publisher from the same blob store; each stores its own share of
// the traffic, sealed, because reach (distinct users) and the frequency buckets can only be
// combined from the users' counts, which must never be readable by a tenant:
//
//	edge/<publisher>/replicas/<edge id>/delivery/<day>.json  pointer to the day's delivery records
//	edge/<publisher>/replicas/<edge id>/active.json          pointer to the active users' sets
//
// A pointer names a sealed file under the publisher's edge owner (versions.EdgeOwner) and its
// wrapped data key; package delivery opens them and merges the replicas.

// ReplicaPrefix is where a publisher's replicas keep their pointers.
func ReplicaPrefix(publisherID string) string { return ManifestPrefix + publisherID + "/replicas/" }

// ReplicaDeliveryKey is the pointer to a replica's delivery records of day (YYYY-MM-DD).
func ReplicaDeliveryKey(publisherID, edgeID, day string) string {
	return ReplicaPrefix(publisherID) + edgeID + "/delivery/" + day + ".json"
}

// ReplicaActiveKey is the pointer to a replica's active users.
func ReplicaActiveKey(publisherID, edgeID string) string {
	return ReplicaPrefix(publisherID) + edgeID + "/active.json"
}

// ReplicaFile points to a sealed file a replica stored: its delivery records of Day, or its
// active users as of Day.
type ReplicaFile struct {
	EdgeID     string    `json:"edge_id"`
	Day        string    `json:"day"`
	UpdatedAt  time.Time `json:"updated_at"`
	Key        string    `json:"key"`
	WrappedKey []byte    `json:"wrapped_key"`
	// Dropped counts users the replica's bounded last-seen table could not keep.
	Dropped int64 `json:"dropped,omitempty"`
}

// WriteReplicaFile stores a pointer at key.
func WriteReplicaFile(ctx context.Context, blobs cleanroom.BlobStore, key string, f *ReplicaFile) error {
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	_, err = blobs.Put(ctx, key, bytes.NewReader(b))
	return err
}

// ReadReplicaFile reads the pointer at key (nil when there is none).
func ReadReplicaFile(ctx context.Context, blobs cleanroom.BlobStore, key string) (*ReplicaFile, error) {
	r, err := blobs.Open(ctx, key)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var f ReplicaFile
	if err := json.NewDecoder(io.LimitReader(r, 1<<20)).Decode(&f); err != nil {
		return nil, fmt.Errorf("activation: replica file %s: %w", key, err)
	}
	return &f, nil
}

// ReplicaFiles are the pointers of every replica of a publisher.
type ReplicaFiles struct {
	// Delivery holds, per day, each replica's records.
	Delivery map[string][]ReplicaFile
	// Active holds each replica's active users.
	Active []ReplicaFile
}

// ReadReplicaFiles reads the pointers of every replica of a publisher, for the delivery days from
// from to to (YYYY-MM-DD, inclusive).
func ReadReplicaFiles(ctx context.Context, blobs cleanroom.BlobStore, publisherID, from, to string) (*ReplicaFiles, error) {
	keys, err := blobs.List(ctx, ReplicaPrefix(publisherID))
	if err != nil {
		return nil, err
	}
	out := &ReplicaFiles{Delivery: map[string][]ReplicaFile{}}
	for _, k := range keys {
		rest := strings.TrimPrefix(k, ReplicaPrefix(publisherID))
		_, name, ok := strings.Cut(rest, "/")
		if !ok {
			continue
		}
		day, isDay := strings.CutPrefix(name, "delivery/")
		if isDay {
			if day, ok = strings.CutSuffix(day, ".json"); !ok || day < from || day > to {
				continue
			}
		} else if name != "active.json" {
			continue
		}
		f, err := ReadReplicaFile(ctx, blobs, k)
		if err != nil {
			return nil, err
		}
		if f == nil {
			continue
		}
		if isDay {
			out.Delivery[day] = append(out.Delivery[day], *f)
		} else {
			out.Active = append(out.Active, *f)
		}
	}
	return out, nil
}

// MergeReplicaDay merges the replicas' delivery records of day (their files in files) into one
// day of counts: each user's impressions summed across replicas, so reach, the frequency buckets
// and the held-back users are exact. Cohorts are named from m's served codes.
func MergeReplicaDay(ctx context.Context, vs *versions.Store, m *Manifest, day string, files []ReplicaFile) (*DeliveryDay, error) {
	merged, _ := edge.OpenDelivery(edge.DeliveryOptions{MaxUsers: 1 << 40}) // in memory: cannot fail
	var updated time.Time
	for _, f := range files {
		vf, err := vs.OpenOwnedFile(ctx, versions.EdgeOwner(m.PublisherID), versions.File{Key: f.Key, WrappedKey: f.WrappedKey}, edge.KindDeliveryRecords)
		if err != nil {
			return nil, err
		}
		recs, err := edge.RecordsFromFile(vf)
		if err == nil {
			err = merged.MergeRecords(recs)
		}
		if err != nil {
			return nil, fmt.Errorf("activation: delivery records of edge %s on %s: %w", f.EdgeID, day, err)
		}
		if f.UpdatedAt.After(updated) {
			updated = f.UpdatedAt
		}
	}
	for _, d := range DeliveryDays(m, merged.Summary(), updated) {
		if d.Day == day {
			return &d, nil
		}
	}
	return &DeliveryDay{PublisherID: m.PublisherID, Day: day, UpdatedAt: updated, Rows: []DeliveryRow{}, Held: []DeliveryHeld{}}, nil
}

// FinalizeReplicaDays turns the replicas' records of every day before before (YYYY-MM-DD) into
// the day's file of counts (DeliveryKey) and then deletes the records and their pointers, so no
// user hash is kept once a day can no longer change. Any replica may run it: the result is the
// same, and a file another replica deleted meanwhile is left for the next run.
func FinalizeReplicaDays(ctx context.Context, vs *versions.Store, m *Manifest, before string) error {
	rf, err := ReadReplicaFiles(ctx, vs.Blobs, m.PublisherID, "", before)
	if err != nil {
		return err
	}
	var errs []error
	for day, files := range rf.Delivery {
		if day >= before {
			continue
		}
		d, err := MergeReplicaDay(ctx, vs, m, day, files)
		if err == nil {
			err = WriteDeliveryDay(ctx, vs.Blobs, d)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, f := range files {
			errs = append(errs, vs.Blobs.Delete(ctx, ReplicaDeliveryKey(m.PublisherID, f.EdgeID, day)),
				vs.DeleteFile(ctx, versions.File{Key: f.Key}))
		}
	}
	return errors.Join(errs...)
}
