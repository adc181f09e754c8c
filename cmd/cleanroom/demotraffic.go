package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/cleanroom-oss/cleanroom/app"
	"github.com/cleanroom-oss/cleanroom/synth"
)

// The demo's traffic: a week of the publisher's readers through the real edge, so that the
// Delivery page, the active users beside the cohorts' sizes and the frequency cap show data as
// soon as the demo serves.
const (
	// demoTrafficDays is how many days of traffic the demo replays: seven finished days (the
	// delivery report shows days before yesterday) and today.
	demoTrafficDays = 8
	// demoVisitPercent is the share of the readers who visit on a day (about two in five visit
	// at least once in the week: active users well apart from the cohorts' sizes).
	demoVisitPercent = 6
	// demoLineItem and demoLookalikeLineItem are the GAM line items of the deals of the matched
	// cohort (capped at 3 a week) and of the lookalike (seedDemoData).
	demoLineItem          = "5551234567"
	demoLookalikeLineItem = "5551234568"
)

// seedDemoTraffic publishes the publisher's edge snapshot, then replays demoTrafficDays days of
// readers through an edge whose clock it sets to each day in turn (the same handler, journals and
// blob store as the edge `serve` runs): each visiting reader asks for its codes on one or two
// pages and, for each page where a served cohort's code came back, reports an impression of that
// cohort's line item (the matched cohort's cap of 3 a week then holds heavy readers back). The
// edge stores each day's delivery and its active users as it goes, and its journals are closed
// before the server opens them. It returns a reader the edge serves the matched cohort's code to
// now.
func seedDemoTraffic(ctx context.Context, m *app.Main, pubID, matchedID, lookalikeID string) (uid string, err error) {
	if _, err := m.Activation.Publish(ctx, pubID); err != nil {
		return "", err
	}
	type served struct {
		code     uint32
		quoted   []byte
		lineItem string
	}
	var cohorts []served
	for _, c := range []struct{ id, lineItem string }{{matchedID, demoLineItem}, {lookalikeID, demoLookalikeLineItem}} {
		co, err := m.Store.FindCohort(ctx, c.id)
		if err != nil {
			return "", err
		}
		code := co.Targets[0].Code
		cohorts = append(cohorts, served{uint32(code), []byte(`"` + strconv.FormatInt(code, 10) + `"`), c.lineItem})
	}
	var clock atomic.Int64
	now := time.Now().UTC()
	clock.Store(now.UnixNano())
	srv, err := m.NewEdge()
	if err != nil {
		return "", err
	}
	srv.SetClock(func() time.Time { return time.Unix(0, clock.Load()).UTC() })
	defer func() { err = errors.Join(err, srv.Close()) }()
	if err := srv.LoadPublisher(ctx, pubID); err != nil {
		return "", err
	}
	began, requests, impressions := time.Now(), 0, 0
	// One request and one writer, reused (the handler reads them only while it runs).
	get := httptest.NewRequest("GET", "/edge/v1/"+pubID+"/targeting", nil)
	post := httptest.NewRequest("POST", "/edge/v1/"+pubID+"/events", nil)
	post.Header.Set("Content-Type", "text/plain")
	w := &demoWriter{h: http.Header{}}
	var batch bytes.Buffer
	today := now.Truncate(24 * time.Hour)
	for back := demoTrafficDays - 1; back >= 0; back-- {
		start := today.AddDate(0, 0, -back)
		end := start.Add(24*time.Hour - time.Second)
		if back == 0 {
			end = now
		}
		// The edge's clock stays at the day's end; each reader's pages are at its own time.
		clock.Store(end.UnixNano())
		span := end.Sub(start) + 1
		for i := range demoUsers {
			h := demoMix(uint64(i), uint64(back))
			if h%100 >= demoVisitPercent {
				continue
			}
			reader := synth.UserID(i)
			at := start.Add(time.Duration(h>>16) % span).UnixMilli()
			batch.Reset()
			batch.WriteString(`{"events":[`)
			shown := 0
			for range 1 + int(h>>8&1) {
				requests++
				get.URL.RawQuery = "uid=" + reader
				w.reset()
				srv.ServeHTTP(w, get)
				if w.status != http.StatusOK {
					return "", fmt.Errorf("targeting: %d %s", w.status, w.body.Bytes())
				}
				for _, c := range cohorts {
					if !bytes.Contains(w.body.Bytes(), c.quoted) {
						continue
					}
					if shown > 0 {
						batch.WriteByte(',')
					}
					fmt.Fprintf(&batch, `{"uid":%q,"line_item":%q,"t":%d}`, reader, c.lineItem, at)
					shown++
				}
			}
			if shown == 0 {
				continue
			}
			impressions += shown
			batch.WriteString(`]}`)
			post.Body, post.ContentLength = readCloser{bytes.NewReader(batch.Bytes())}, int64(batch.Len())
			post.RemoteAddr = fmt.Sprintf("10.%d.%d.%d:40000", i>>16&255, i>>8&255, i&255) // each reader its own client
			w.reset()
			srv.ServeHTTP(w, post)
			if w.status != http.StatusNoContent {
				return "", fmt.Errorf("events: %d %s", w.status, w.body.Bytes())
			}
		}
		if err := srv.StoreDelivery(ctx); err != nil {
			return "", err
		}
	}
	m.Logger.Info("demo traffic replayed through the edge", "days", demoTrafficDays, "targeting_requests", requests,
		"impressions", impressions, "took", time.Since(began).Round(time.Millisecond))
	// A reader the matched cohort's code is served to now (not held back by the cap).
	e := srv.Engine(pubID)
	var buf [8]uint32
	for i := range demoUsers {
		if slices.Contains(e.DecideUser(synth.UserID(i), now, buf[:0]), cohorts[0].code) {
			return synth.UserID(i), nil
		}
	}
	return "", nil
}

// demoWriter is a reusable http.ResponseWriter.
type demoWriter struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func (w *demoWriter) reset() {
	clear(w.h)
	w.status = 0
	w.body.Reset()
}

func (w *demoWriter) Header() http.Header { return w.h }

func (w *demoWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *demoWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(b)
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// demoMix is a deterministic hash of a reader and a day (SplitMix64's finaliser).
func demoMix(a, b uint64) uint64 {
	x := a*0x9e3779b97f4a7c15 ^ (b+1)*0xbf58476d1ce4e5b9
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}
