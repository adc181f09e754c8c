package activation

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/edge"
)

// DeliveryPrefix returns where a publisher's delivery days live in the blob store: one JSON file
// per day (DeliveryKey), written by the edge, read by the delivery reports. They hold counts per
// cohort and line item or deal, never a user ID or hash.
func DeliveryPrefix(publisherID string) string { return ManifestPrefix + publisherID + "/delivery/" }

// DeliveryKey is the blob key of a publisher's delivery on day (YYYY-MM-DD).
func DeliveryKey(publisherID, day string) string { return DeliveryPrefix(publisherID) + day + ".json" }

// DeliveryDay is one day of a publisher's delivery as the edge stores it: the rows of
// edge.Delivery's summary with the cohort and connection each code was served for.
type DeliveryDay struct {
	PublisherID string         `json:"publisher_id"`
	Day         string         `json:"day"`
	UpdatedAt   time.Time      `json:"updated_at"`
	Rows        []DeliveryRow  `json:"rows"`
	Held        []DeliveryHeld `json:"held"`
}

// DeliveryRow is an edge.DeliveryRow with its cohort and connection ("" when the code was not in
// the manifest any more when the day was stored).
type DeliveryRow struct {
	edge.DeliveryRow
	CohortID     string `json:"cohort_id"`
	ConnectionID string `json:"connection_id"`
}

// DeliveryHeld is an edge.HeldRow with its cohort and connection.
type DeliveryHeld struct {
	edge.HeldRow
	CohortID     string `json:"cohort_id"`
	ConnectionID string `json:"connection_id"`
}

// DeliveryDays splits an edge summary into days, naming each code's cohort and connection from
// the manifest's served codes.
func DeliveryDays(m *Manifest, s edge.DeliverySummary, now time.Time) []DeliveryDay {
	served := make(map[uint32]ServedCode, len(m.Served))
	for _, c := range m.Served {
		served[c.Code] = c
	}
	var days []DeliveryDay
	day := func(d string) *DeliveryDay {
		for i := range days {
			if days[i].Day == d {
				return &days[i]
			}
		}
		days = append(days, DeliveryDay{PublisherID: m.PublisherID, Day: d, UpdatedAt: now, Rows: []DeliveryRow{}, Held: []DeliveryHeld{}})
		return &days[len(days)-1]
	}
	for _, r := range s.Rows {
		c := served[r.Code]
		d := day(r.Day)
		d.Rows = append(d.Rows, DeliveryRow{DeliveryRow: r, CohortID: c.CohortID, ConnectionID: c.ConnectionID})
	}
	for _, h := range s.Held {
		c := served[h.Code]
		d := day(h.Day)
		d.Held = append(d.Held, DeliveryHeld{HeldRow: h, CohortID: c.CohortID, ConnectionID: c.ConnectionID})
	}
	return days
}

// WriteDeliveryDay stores a day of delivery, replacing what was stored for it.
func WriteDeliveryDay(ctx context.Context, blobs cleanroom.BlobStore, d *DeliveryDay) error {
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	_, err = blobs.Put(ctx, DeliveryKey(d.PublisherID, d.Day), bytes.NewReader(b))
	return err
}

// ReadDeliveryDays reads a publisher's stored delivery days from day from to day to (YYYY-MM-DD,
// inclusive), ascending.
func ReadDeliveryDays(ctx context.Context, blobs cleanroom.BlobStore, publisherID, from, to string) ([]DeliveryDay, error) {
	keys, err := blobs.List(ctx, DeliveryPrefix(publisherID))
	if err != nil {
		return nil, err
	}
	var days []DeliveryDay
	for _, k := range keys {
		day, ok := strings.CutSuffix(strings.TrimPrefix(k, DeliveryPrefix(publisherID)), ".json")
		if !ok || day < from || day > to {
			continue
		}
		r, err := blobs.Open(ctx, k)
		if err != nil {
			if isNotFound(err) {
				continue
			}
			return nil, err
		}
		b, err := io.ReadAll(io.LimitReader(r, 64<<20))
		r.Close()
		if err != nil {
			return nil, err
		}
		var d DeliveryDay
		if err := json.Unmarshal(b, &d); err != nil {
			return nil, fmt.Errorf("activation: delivery of %s on %s: %w", publisherID, day, err)
		}
		days = append(days, d)
	}
	return days, nil
}

// ActiveKey is the blob key of a publisher's active users (ActiveUsers).
func ActiveKey(publisherID string) string { return ManifestPrefix + publisherID + "/active.json" }

// ActiveUsers is how many of a publisher's users asked the edge for targeting in the 30 days up to
// Day (edge.ActiveDays; written once a day by the edge), in all and per served code. Counts only.
type ActiveUsers struct {
	PublisherID string           `json:"publisher_id"`
	Day         string           `json:"day"`
	Users       int64            `json:"users"`
	Codes       map[uint32]int64 `json:"codes"`
	// Dropped counts users the edge's bounded table could not keep (the counts are then lower
	// bounds).
	Dropped int64 `json:"dropped,omitempty"`
	// SetKey and WrappedKey locate the sealed set of those users' hashes (edge.ActiveSet, owner
	// versions.EdgeOwner, under active/), which the cohort service counts cohorts and estimates against.
	SetKey     string `json:"set_key,omitempty"`
	WrappedKey []byte `json:"wrapped_key,omitempty"`
}

// WriteActiveUsers stores a publisher's active users.
func WriteActiveUsers(ctx context.Context, blobs cleanroom.BlobStore, a *ActiveUsers) error {
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	_, err = blobs.Put(ctx, ActiveKey(a.PublisherID), bytes.NewReader(b))
	return err
}

// ReadActiveUsers reads a publisher's active users (nil when the edge has written none).
func ReadActiveUsers(ctx context.Context, blobs cleanroom.BlobStore, publisherID string) (*ActiveUsers, error) {
	r, err := blobs.Open(ctx, ActiveKey(publisherID))
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var a ActiveUsers
	if err := json.NewDecoder(io.LimitReader(r, 64<<20)).Decode(&a); err != nil {
		return nil, fmt.Errorf("activation: active users of %s: %w", publisherID, err)
	}
	return &a, nil
}
