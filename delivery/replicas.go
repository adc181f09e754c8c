package delivery

import (
	"context"
	"fmt"
	"slices"

	"github.com/cleanroom-oss/cleanroom/activation"
	"github.com/cleanroom-oss/cleanroom/edge"
	"github.com/cleanroom-oss/cleanroom/versions"
)

// deliveryDays returns a publisher's delivery from day from to day to: per day, the merge of
// every edge replica's sealed records (each user's impressions summed across replicas, so reach
// and the frequency buckets are exact), or, for a day no replica stored records of, the day file
// an edge of an earlier release wrote.
func (s *Service) deliveryDays(ctx context.Context, m *activation.Manifest, rf *activation.ReplicaFiles, from, to string) ([]activation.DeliveryDay, error) {
	legacy, err := activation.ReadDeliveryDays(ctx, s.Blobs, m.PublisherID, from, to)
	if err != nil {
		return nil, err
	}
	var days []activation.DeliveryDay
	for _, d := range legacy {
		if len(rf.Delivery[d.Day]) == 0 {
			days = append(days, d)
		}
	}
	for day, files := range rf.Delivery {
		d, err := activation.MergeReplicaDay(ctx, s.Versions, m, day, files)
		if err != nil {
			return nil, err
		}
		days = append(days, *d)
	}
	slices.SortFunc(days, func(a, b activation.DeliveryDay) int { return compare(a.Day, b.Day) })
	return days, nil
}

// activeUsers returns a publisher's users active in the 30 days up to the latest day replicas
// stored: the union of the replicas that stored that day (a user seen by two counts once), or
// the file an edge of an earlier release wrote. Nil when there is none.
func (s *Service) activeUsers(ctx context.Context, publisherID string, rf *activation.ReplicaFiles) (*activation.ActiveUsers, error) {
	if len(rf.Active) == 0 {
		return activation.ReadActiveUsers(ctx, s.Blobs, publisherID)
	}
	day := ""
	for _, f := range rf.Active {
		day = max(day, f.Day)
	}
	a := &activation.ActiveUsers{PublisherID: publisherID, Day: day, Codes: map[uint32]int64{}}
	var users [][]uint64
	perCode := map[uint32][][]uint64{}
	for _, f := range rf.Active {
		if f.Day != day {
			continue // a replica that stopped: its users are days old
		}
		a.Dropped += f.Dropped
		vf, err := s.Versions.OpenOwnedFile(ctx, versions.EdgeOwner(publisherID), versions.File{Key: f.Key, WrappedKey: f.WrappedKey}, edge.KindActiveSets)
		if err != nil {
			return nil, err
		}
		u, pc, err := edge.ActiveFromFile(vf)
		if err != nil {
			return nil, fmt.Errorf("delivery: active users of edge %s: %w", f.EdgeID, err)
		}
		users = append(users, u)
		for c, hs := range pc {
			perCode[c] = append(perCode[c], hs)
		}
	}
	a.Users = edge.CountUnion(users...)
	for c, sets := range perCode {
		a.Codes[c] = edge.CountUnion(sets...)
	}
	return a, nil
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
