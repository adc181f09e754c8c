package edge

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
)

func TestDecodeBatch(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	ms := itoa(int(now.UnixMilli()))
	big := `{"events":[` + strings.Repeat(`{"uid":"u","line_item":"1","t":`+ms+`},`, MaxBatchEvents) + `{"uid":"u","line_item":"1","t":` + ms + `}]}`
	for _, tc := range []struct {
		name, body string
		events     int
		field      string // the detail "field" of the error, "" for none
	}{
		{"line item", `{"events":[{"uid":"alice","line_item":"5551234567","t":` + ms + `}]}`, 1, ""},
		{"deal", `{"events":[{"uid":"alice","deal":"deal-7.x_1","t":` + ms + `},{"uid":"b","line_item":"1","t":1}]}`, 2, ""},
		{"not json", `events`, 0, ""},
		{"unknown field", `{"events":[{"uid":"a","line_item":"1","t":` + ms + `,"ip":"1.2.3.4"}]}`, 0, ""},
		{"trailing data", `{"events":[{"uid":"a","line_item":"1","t":` + ms + `}]} {}`, 0, ""},
		{"no events", `{"events":[]}`, 0, ""},
		{"too many events", big, 0, ""},
		{"too large", `{"events":[{"uid":"` + strings.Repeat("a", MaxBatchBytes) + `"}]}`, 0, ""},
		{"no uid", `{"events":[{"line_item":"1","t":` + ms + `}]}`, 0, "uid"},
		{"long uid", `{"events":[{"uid":"` + strings.Repeat("a", MaxUserIDLength+1) + `","line_item":"1","t":` + ms + `}]}`, 0, "uid"},
		{"neither id", `{"events":[{"uid":"a","t":` + ms + `}]}`, 0, "line_item"},
		{"both ids", `{"events":[{"uid":"a","line_item":"1","deal":"d","t":` + ms + `}]}`, 0, "line_item"},
		{"line item not digits", `{"events":[{"uid":"a","line_item":"12a","t":` + ms + `}]}`, 0, "line_item"},
		{"deal with a space", `{"events":[{"uid":"a","deal":"d 1","t":` + ms + `}]}`, 0, "deal"},
		{"no time", `{"events":[{"uid":"a","line_item":"1"}]}`, 0, "t"},
		{"microseconds", `{"events":[{"uid":"a","line_item":"1","t":` + ms + `000}]}`, 0, "t"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := DecodeBatch([]byte(tc.body), now)
			if tc.events > 0 {
				if err != nil || len(b.Events) != tc.events {
					t.Fatalf("got %v, %v", b, err)
				}
				return
			}
			var ce *cleanroom.Error
			if !errors.As(err, &ce) || ce.Code != cleanroom.EINVALID || ce.Details["hint"] == nil {
				t.Fatalf("got %v, want an invalid error with a hint", err)
			}
			if tc.field != "" && (ce.Details["field"] != tc.field || ce.Details["event"] == nil) {
				t.Fatalf("details %v, want field %q and the event index", ce.Details, tc.field)
			}
			if strings.Contains(err.Error(), "alice") {
				t.Fatal("the error names the user ID")
			}
		})
	}
}
