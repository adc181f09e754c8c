package edgeredis_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom/edge"
	"github.com/cleanroom-oss/cleanroom/edgeredis"
	"github.com/cleanroom-oss/cleanroom/redistest"
)

// BenchmarkDecide: a decision for a user in two capped cohorts and one uncapped, with the
// counters in this process (journal off) and in Redis (the local view): the same in-process work.
//
//	go test -run XXX -bench Decide ./edgeredis
func BenchmarkDecide(b *testing.B) {
	clk := newClock(time.Date(2030, 1, 2, 12, 0, 0, 0, time.UTC))
	snap := snapshot(b, hasher(b), 1000)
	for _, kind := range []string{"file", "redis"} {
		b.Run(kind, func(b *testing.B) {
			var e *edge.Engine
			if kind == "redis" {
				e = newReplica(b, redistest.Start(b, redistest.Options{}).URL(0), snap, clk, edgeredis.Options{Interval: time.Hour}).e
			} else {
				e = edge.NewEngine(hasher(b), nil)
				if err := e.Swap(snap, edge.Config{Location: time.UTC, Caps: caps}); err != nil {
					b.Fatal(err)
				}
			}
			hs := make([]uint64, 1000)
			for i := range hs {
				hs[i] = e.Hash(uid(i))
			}
			now := clk.now()
			buf := make([]uint32, 0, 8)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				buf = e.Decide(hs[i%len(hs)], now, buf[:0])
				i++
			}
		})
	}
}

// BenchmarkRecord: a batch of 100 impressions of capped line items counted in Redis (one round
// trip on loopback), per impression.
//
//	go test -run XXX -bench Record ./edgeredis
func BenchmarkRecord(b *testing.B) {
	clk := newClock(time.Date(2030, 1, 2, 12, 0, 0, 0, time.UTC))
	snap := snapshot(b, hasher(b), 1000)
	r := newReplica(b, redistest.Start(b, redistest.Options{}).URL(0), snap, clk, edgeredis.Options{Interval: time.Hour})
	now := clk.now()
	var batches []*edge.Batch
	for j := range 100 {
		bt := &edge.Batch{}
		for i := range 100 {
			bt.Events = append(bt.Events, edge.Event{UserID: uid((j*100 + i) % 1000), LineItemID: fmt.Sprint(1001 + i%2), Time: now.UnixMilli()})
		}
		batches = append(batches, bt)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := r.e.Record(batches[i%len(batches)], now); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/impression")
}
