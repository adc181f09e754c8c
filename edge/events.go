package edge

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/cleanroom-oss/cleanroom"
)

// Limits of an impression batch (what one sendBeacon carries; browsers cap a beacon at 64 KiB).
const (
	MaxBatchBytes   = 64 << 10
	MaxBatchEvents  = 500
	MaxUserIDLength = 256
	MaxIDLength     = 64
	// MaxClockSkew is how far in the future an impression's time may be.
	MaxClockSkew = 5 * time.Minute
)

// Event is one impression a page reports: the user ID (as for a targeting request), the GAM line
// item ID or the Xandr deal ID that served it (exactly one), and when (Unix milliseconds, as
// JavaScript's Date.now()).
type Event struct {
	UserID     string `json:"uid"`
	LineItemID string `json:"line_item,omitempty"`
	DealID     string `json:"deal,omitempty"`
	Time       int64  `json:"t"`
}

// Batch is a validated batch of impressions, as DecodeBatch returns it.
type Batch struct {
	Events []Event `json:"events"`
}

// DecodeBatch decodes and validates a batch sent as JSON ({"events": [{"uid": "...",
// "line_item": "5551234567", "t": 1764633600000}, ...]}) at time now. Every problem is an
// EINVALID error naming the event's index and the field, never the user ID.
func DecodeBatch(body []byte, now time.Time) (*Batch, error) {
	if len(body) > MaxBatchBytes {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "The event batch is too large.").
			With("max_bytes", MaxBatchBytes).Hint("Send at most %d bytes per batch; split larger ones.", MaxBatchBytes)
	}
	var b Batch
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "The event batch is not valid JSON of the expected shape.").
			Hint(`Send {"events": [{"uid": "...", "line_item": "...", "t": <Unix ms>}]}.`)
	}
	if dec.More() {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "The event batch has data after its JSON object.").
			Hint("Send one JSON object per batch.")
	}
	if len(b.Events) == 0 {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "The event batch has no events.").
			Hint("Send at least one event, or nothing at all.")
	}
	if len(b.Events) > MaxBatchEvents {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "The event batch has too many events.").
			With("max_events", MaxBatchEvents).Hint("Send at most %d events per batch.", MaxBatchEvents)
	}
	latest := now.Add(MaxClockSkew).UnixMilli()
	for i := range b.Events {
		if err := b.Events[i].check(latest); err != nil {
			return nil, err.With("event", i)
		}
	}
	return &b, nil
}

func (ev *Event) check(latest int64) *cleanroom.Error {
	switch {
	case ev.UserID == "":
		return cleanroom.Errorf(cleanroom.EINVALID, "An event has no user ID.").With("field", "uid").
			Hint("Send the user ID the page sends for targeting.")
	case len(ev.UserID) > MaxUserIDLength:
		return cleanroom.Errorf(cleanroom.EINVALID, "An event's user ID is too long.").With("field", "uid").
			With("max_length", MaxUserIDLength).Hint("Use a user ID of at most %d bytes.", MaxUserIDLength)
	case (ev.LineItemID == "") == (ev.DealID == ""):
		return cleanroom.Errorf(cleanroom.EINVALID, "An event needs exactly one of a line item ID and a deal ID.").
			With("field", "line_item").Hint("Send GAM's lineItemId as line_item, or a Xandr deal ID as deal.")
	case ev.Time <= 0:
		return cleanroom.Errorf(cleanroom.EINVALID, "An event has no time.").With("field", "t").
			Hint("Send the impression's time as Unix milliseconds (Date.now()).")
	case ev.Time > latest:
		return cleanroom.Errorf(cleanroom.EINVALID, "An event's time is in the future.").With("field", "t").
			Hint("Send the impression's time as Unix milliseconds (Date.now()), not seconds or microseconds.")
	}
	if ev.LineItemID != "" {
		return checkID("line_item", ev.LineItemID, true)
	}
	return checkID("deal", ev.DealID, false)
}

// checkID checks a line item ID (digits only) or a deal ID (letters, digits, '-', '_', '.').
func checkID(field, id string, digits bool) *cleanroom.Error {
	ok := len(id) > 0 && len(id) <= MaxIDLength
	for i := 0; ok && i < len(id); i++ {
		c := id[i]
		ok = c >= '0' && c <= '9' || !digits && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_' || c == '.')
	}
	if ok {
		return nil
	}
	if digits {
		return cleanroom.Errorf(cleanroom.EINVALID, "An event's line item ID is not a number.").With("field", field).
			Hint("Send GAM's lineItemId as digits, at most %d.", MaxIDLength)
	}
	return cleanroom.Errorf(cleanroom.EINVALID, "An event's deal ID is not valid.").With("field", field).
		Hint("Send the deal ID as letters, digits, '-', '_' or '.', at most %d.", MaxIDLength)
}
