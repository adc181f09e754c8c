package edge

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// Several edge replicas each aggregate the impressions they receive; reach (distinct users) and
// the frequency buckets of a day can only be combined from the users' counts, not from the
// summaries. DayRecords exports one day of a replica's aggregate as records (the journal's
// format: per row and user hash the impressions, the held-back users, the row totals), which the
// replica stores sealed; MergeRecords adds records into another Delivery, summing each user's
// impressions across replicas, so that the merged Summary is exact.

// DayRecords returns day's aggregate as records (user hashes included: store them sealed).
func (d *Delivery) DayRecords(day int32) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	b := []byte(deliveryMagic)
	for k, r := range d.rows {
		if k.day != day {
			continue
		}
		for u, n := range r.users {
			kind := byte(recUser)
			if k.item == "" {
				kind = recHeld
			}
			b = appendDeliveryRecord(b, kind, u, k, n)
		}
		for rest := r.impressions; rest > 0; {
			delta := uint32(min(rest, 1<<31))
			b = appendDeliveryRecord(b, recTotal, 0, k, delta)
			rest -= int64(delta)
		}
		if r.partial {
			b = appendDeliveryRecord(b, recPartial, 0, k, 0)
		}
	}
	return b
}

// errRecords is the error of records that are not whole.
var errRecords = errors.New("edge: delivery records are damaged")

// MergeRecords adds records (DayRecords of any replica) to the aggregate: each user's impressions
// are summed, a user held back by any replica is held back once. Nothing is journalled.
func (d *Delivery) MergeRecords(b []byte) error {
	if len(b) < len(deliveryMagic) || string(b[:len(deliveryMagic)]) != deliveryMagic {
		return errRecords
	}
	b = b[len(deliveryMagic):]
	d.mu.Lock()
	defer d.mu.Unlock()
	for len(b) > 0 {
		n := int(b[0])
		if n < 26 || n > len(b) {
			return errRecords
		}
		rec := b[:n]
		if crc32.Checksum(rec[:n-4], castagnoli) != binary.LittleEndian.Uint32(rec[n-4:]) {
			return errRecords
		}
		k := deliveryKey{code: binary.LittleEndian.Uint32(rec[14:]), day: int32(binary.LittleEndian.Uint32(rec[18:])),
			item: string(rec[22 : n-4])}
		d.apply(rec[1], binary.LittleEndian.Uint64(rec[6:]), k, binary.LittleEndian.Uint32(rec[2:]))
		b = b[n:]
	}
	return nil
}

// ActiveSets returns, as of day, the hashes of the users seen in the last ActiveDays days
// (sorted) and, per cohort code of snap, those of them snap serves the code to (sorted): what a
// replica stores (sealed) so that the active users of several replicas can be counted as a union
// (CountUnion).
func ActiveSets(l *LastSeen, snap *Snapshot, day int32) (users []uint64, perCode map[uint32][]uint64) {
	perCode = map[uint32][]uint64{}
	l.Active(day, func(h uint64) {
		users = append(users, h)
		if snap == nil {
			return
		}
		if u := snap.find(h); u != nil {
			for _, c := range snap.cohorts(u) {
				perCode[snap.codes[c]] = append(perCode[snap.codes[c]], h)
			}
		}
	})
	slices.Sort(users)
	for _, hs := range perCode {
		slices.Sort(hs)
	}
	return users, perCode
}

// CountUnion returns the number of distinct hashes in the union of sorted sets.
func CountUnion(sets ...[]uint64) int64 {
	switch len(sets) {
	case 0:
		return 0
	case 1:
		return int64(len(slices.Compact(slices.Clone(sets[0]))))
	}
	var all []uint64
	for _, s := range sets {
		all = append(all, s...)
	}
	slices.Sort(all)
	return int64(len(slices.Compact(all)))
}

// Kinds of the sealed files a replica stores (package vault).
const (
	KindDeliveryRecords = "edge-delivery"
	KindActiveSets      = "edge-active"
)

// RecordsWriter returns a versions.Writer of records (DayRecords) as a sealed file.
func RecordsWriter(records []byte) func(ctx context.Context, blobs cleanroom.BlobStore, key string, dataKey []byte) (int64, error) {
	return func(ctx context.Context, blobs cleanroom.BlobStore, key string, dataKey []byte) (int64, error) {
		return vault.Write(ctx, blobs, key, dataKey, KindDeliveryRecords, nil, []vault.Section{{Name: "records", Data: records}})
	}
}

// RecordsFromFile returns the records of a decrypted file RecordsWriter wrote.
func RecordsFromFile(f *vault.File) ([]byte, error) {
	if f.Kind != KindDeliveryRecords {
		return nil, fmt.Errorf("edge: file is a %q, not delivery records", f.Kind)
	}
	return vault.View[byte](f, "records")
}

// ActiveWriter returns a versions.Writer of active sets (ActiveSets) as a sealed file, with each
// user's last day when days is not nil (days[i] of users[i]: LastSeen.Set; a restarted edge reads
// them back, ActiveSetOfReplica).
func ActiveWriter(users []uint64, days []int32, perCode map[uint32][]uint64) func(ctx context.Context, blobs cleanroom.BlobStore, key string, dataKey []byte) (int64, error) {
	codes := make([]uint32, 0, len(perCode))
	for c := range perCode {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	ends := make([]uint64, len(codes))
	var members []uint64
	for i, c := range codes {
		members = append(members, perCode[c]...)
		ends[i] = uint64(len(members))
	}
	return func(ctx context.Context, blobs cleanroom.BlobStore, key string, dataKey []byte) (int64, error) {
		secs := []vault.Section{
			{Name: "users", Data: vault.Raw(users)}, {Name: "codes", Data: vault.Raw(codes)},
			{Name: "ends", Data: vault.Raw(ends)}, {Name: "members", Data: vault.Raw(members)}}
		if days != nil {
			secs = append(secs, vault.Section{Name: secActiveDays, Data: vault.Raw(days)})
		}
		return vault.Write(ctx, blobs, key, dataKey, KindActiveSets, nil, secs)
	}
}

// ActiveFromFile returns the active sets of a decrypted file ActiveWriter wrote (sharing its
// memory).
func ActiveFromFile(f *vault.File) (users []uint64, perCode map[uint32][]uint64, err error) {
	if f.Kind != KindActiveSets {
		return nil, nil, fmt.Errorf("edge: file is a %q, not active users", f.Kind)
	}
	var codes []uint32
	var ends, members []uint64
	if users, err = vault.View[uint64](f, "users"); err == nil {
		if codes, err = vault.View[uint32](f, "codes"); err == nil {
			if ends, err = vault.View[uint64](f, "ends"); err == nil {
				members, err = vault.View[uint64](f, "members")
			}
		}
	}
	if err != nil {
		return nil, nil, err
	}
	if len(ends) != len(codes) {
		return nil, nil, fmt.Errorf("edge: active users file is damaged")
	}
	perCode = make(map[uint32][]uint64, len(codes))
	var start uint64
	for i, c := range codes {
		if ends[i] < start || ends[i] > uint64(len(members)) {
			return nil, nil, fmt.Errorf("edge: active users file is damaged")
		}
		perCode[c] = members[start:ends[i]]
		start = ends[i]
	}
	return users, perCode, nil
}
