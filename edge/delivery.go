package edge

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Delivery aggregates reported impressions per day (in the publisher's time zone), cohort code
// and line item or deal: impressions, exact unique reach and the frequency distribution (from the
// users' impression counts of the day), and the users a cap held back (a user whose counter
// reached its cap that day). Summaries hold counts only, never a user hash.
//
// Memory is bounded: at most MaxUsers (user, day, cohort, item) entries are kept (about 40 bytes
// each); past that, impressions are still counted but new users are not, and the row is marked
// Partial (its reach and distribution are then lower bounds). Days are kept until Forget, which
// the server calls once it has stored their summaries.
//
// Durability is the counters': every change is appended to a CRC-checked journal, one write per
// batch, fsynced every SyncInterval; OpenDelivery replays it (ignoring a torn tail) and rewrites
// it compactly.
type Delivery struct {
	mu    sync.Mutex
	rows  map[deliveryKey]*deliveryRow
	users int
	max   int

	jf      *os.File
	jpath   string
	jbuf    []byte
	jdirty  bool
	jerr    error
	stop    chan struct{}
	stopped chan struct{}
}

// DeliveryOptions configures Delivery.
type DeliveryOptions struct {
	// MaxUsers bounds the (user, day, cohort, item) entries kept; 0 means 4M.
	MaxUsers int
	// Journal is the path of the journal file; "" keeps the aggregates in memory only.
	Journal string
	// SyncInterval is how often the journal is fsynced when it changed; 0 means 100 ms.
	SyncInterval time.Duration
}

// DeliveryLateDays is how many days back an impression may be reported and still count (a
// beacon sent just after midnight).
const DeliveryLateDays = 1

// FrequencyBuckets names the frequency distribution's buckets: users with 1, 2, 3, 4-5, 6-10 and
// 11 or more impressions of a row's line item or deal that day.
var FrequencyBuckets = [6]string{"1", "2", "3", "4-5", "6-10", "11+"}

// DeliveryLayers is the number of layers a row holds: Layers[j] is the number of users with more
// than j impressions that day (j = 0..10), so reach is Layers[0], the impressions clipped at 10
// per user are the sum of Layers[0..9], and each bucket is a difference of two layers. Each user
// adds at most one to each layer, which is what lets them be released as counts.
const DeliveryLayers = 11

type deliveryKey struct {
	day  int32
	code uint32
	item string // "li:<id>" or "deal:<id>"; "" for the cohort's held-back users
}

type deliveryRow struct {
	users       map[uint64]uint32 // impressions per user hash (per held user, 1)
	impressions int64
	partial     bool
}

// DeliveryRow is one day's delivery of a cohort through one line item or deal.
type DeliveryRow struct {
	// Day is the day in the publisher's time zone (YYYY-MM-DD).
	Day      string `json:"day"`
	Code     uint32 `json:"code"`
	LineItem string `json:"line_item,omitempty"`
	Deal     string `json:"deal,omitempty"`
	// Impressions counts every reported impression (exact, internal: reports release Layers).
	Impressions int64 `json:"impressions"`
	// Users is the exact unique reach.
	Users int64 `json:"users"`
	// Frequency counts users per bucket of FrequencyBuckets.
	Frequency [6]int64 `json:"frequency"`
	// Layers[j] counts users with more than j impressions (see DeliveryLayers).
	Layers [DeliveryLayers]int64 `json:"layers"`
	// Partial marks a row some users were not kept for (MaxUsers reached).
	Partial bool `json:"partial,omitempty"`
}

// HeldRow counts the users a cohort's cap held back on a day.
type HeldRow struct {
	Day   string `json:"day"`
	Code  uint32 `json:"code"`
	Users int64  `json:"users"`
}

// DeliverySummary is what Delivery holds, without any user hash.
type DeliverySummary struct {
	Rows []DeliveryRow `json:"rows"`
	Held []HeldRow     `json:"held"`
}

const (
	deliveryMagic = "CREDGED1"
	recImpression = 1 // impressions of a user (delta), counted in the row's total
	recUser       = 2 // a user's impressions (delta), not counted in the total (compaction)
	recTotal      = 3 // impressions not tied to a kept user (compaction; user 0)
	recHeld       = 4 // a user held back by a cap
	recPartial    = 5 // the row is partial (compaction)
)

// DefaultMaxDeliveryUsers is the default bound on kept delivery entries.
const DefaultMaxDeliveryUsers = 4 << 20

// OpenDelivery returns a delivery aggregate with the given options, replaying the journal.
func OpenDelivery(opt DeliveryOptions) (*Delivery, error) {
	if opt.MaxUsers <= 0 {
		opt.MaxUsers = DefaultMaxDeliveryUsers
	}
	if opt.SyncInterval <= 0 {
		opt.SyncInterval = 100 * time.Millisecond
	}
	d := &Delivery{rows: make(map[deliveryKey]*deliveryRow), max: opt.MaxUsers}
	if opt.Journal == "" {
		return d, nil
	}
	d.jpath = opt.Journal
	if err := d.replay(); err != nil {
		return nil, err
	}
	if err := d.compact(); err != nil {
		return nil, err
	}
	d.stop, d.stopped = make(chan struct{}), make(chan struct{})
	go d.syncLoop(opt.SyncInterval)
	return d, nil
}

// DayOf returns the day number (days since 1970-01-01) of t in loc.
func DayOf(t time.Time, loc *time.Location) int32 {
	return int32(WindowOf(Day, t, loc) & (1<<30 - 1))
}

// DayString formats a day number as YYYY-MM-DD.
func DayString(day int32) string {
	return time.Unix(int64(day)*86400, 0).UTC().Format(time.DateOnly)
}

func (d *Delivery) row(k deliveryKey) *deliveryRow {
	r := d.rows[k]
	if r == nil {
		r = &deliveryRow{users: make(map[uint64]uint32)}
		d.rows[k] = r
	}
	return r
}

// apply changes the aggregate by one record; the caller holds mu.
func (d *Delivery) apply(kind byte, user uint64, k deliveryKey, delta uint32) {
	r := d.row(k)
	switch kind {
	case recImpression, recUser, recHeld:
		if kind == recImpression {
			r.impressions += int64(delta)
		}
		n, ok := r.users[user]
		if !ok && d.users >= d.max {
			r.partial = true
			return
		}
		if !ok {
			d.users++
		}
		if kind == recHeld {
			r.users[user] = 1
			return
		}
		r.users[user] = n + delta
	case recTotal:
		r.impressions += int64(delta)
	case recPartial:
		r.partial = true
	}
}

// add counts one impression of item (of cohort code) by user on day, journalled.
func (d *Delivery) add(kind byte, user uint64, code uint32, item string, day int32) {
	k := deliveryKey{day, code, item}
	d.mu.Lock()
	d.apply(kind, user, k, 1)
	if d.jpath != "" {
		d.jbuf = appendDeliveryRecord(d.jbuf, kind, user, k, 1)
	}
	d.mu.Unlock()
}

func appendDeliveryRecord(b []byte, kind byte, user uint64, k deliveryKey, delta uint32) []byte {
	n := 1 + 1 + 4 + 8 + 4 + 4 + len(k.item) + 4 // length, kind, delta, user, code, day, item, crc
	start := len(b)
	b = append(b, make([]byte, n)...)
	rec := b[start:]
	rec[0] = byte(n)
	rec[1] = kind
	binary.LittleEndian.PutUint32(rec[2:], delta)
	binary.LittleEndian.PutUint64(rec[6:], user)
	binary.LittleEndian.PutUint32(rec[14:], k.code)
	binary.LittleEndian.PutUint32(rec[18:], uint32(k.day))
	copy(rec[22:], k.item)
	binary.LittleEndian.PutUint32(rec[n-4:], crc32.Checksum(rec[:n-4], castagnoli))
	return b
}

func (d *Delivery) replay() error {
	f, err := os.Open(d.jpath)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("edge: open delivery journal: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	head := make([]byte, len(deliveryMagic))
	if _, err := io.ReadFull(r, head); err != nil || string(head) != deliveryMagic {
		return nil
	}
	rec := make([]byte, 256)
	for {
		n, err := r.ReadByte()
		if err != nil || n < 26 {
			return nil
		}
		rec[0] = n
		if _, err := io.ReadFull(r, rec[1:n]); err != nil {
			return nil
		}
		if crc32.Checksum(rec[:n-4], castagnoli) != binary.LittleEndian.Uint32(rec[n-4:]) {
			return nil
		}
		k := deliveryKey{code: binary.LittleEndian.Uint32(rec[14:]), day: int32(binary.LittleEndian.Uint32(rec[18:])),
			item: string(rec[22 : n-4])}
		d.apply(rec[1], binary.LittleEndian.Uint64(rec[6:]), k, binary.LittleEndian.Uint32(rec[2:]))
	}
}

// compact rewrites the journal as the aggregate's state (a temporary file, fsynced and renamed).
func (d *Delivery) compact() error {
	tmp := d.jpath + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("edge: compact delivery journal: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString(deliveryMagic)
	var rec []byte
	for k, r := range d.rows {
		for u, n := range r.users {
			kind := byte(recUser)
			if k.item == "" {
				kind = recHeld
			}
			rec = appendDeliveryRecord(rec[:0], kind, u, k, n)
			w.Write(rec)
		}
		for rest := r.impressions; rest > 0; {
			delta := uint32(min(rest, 1<<31))
			rec = appendDeliveryRecord(rec[:0], recTotal, 0, k, delta)
			w.Write(rec)
			rest -= int64(delta)
		}
		if r.partial {
			rec = appendDeliveryRecord(rec[:0], recPartial, 0, k, 0)
			w.Write(rec)
		}
	}
	err = w.Flush()
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, d.jpath)
	}
	if err == nil {
		err = syncDir(filepath.Dir(d.jpath))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("edge: compact delivery journal: %w", err)
	}
	nf, err := os.OpenFile(d.jpath, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("edge: reopen delivery journal: %w", err)
	}
	if d.jf != nil {
		d.jf.Close()
	}
	d.jf, d.jbuf, d.jdirty, d.jerr = nf, d.jbuf[:0], false, nil
	return nil
}

// flush writes the buffered records (one write per batch).
func (d *Delivery) flush() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.flushLocked()
}

func (d *Delivery) flushLocked() error {
	if d.jerr != nil || d.jf == nil || len(d.jbuf) == 0 {
		return d.jerr
	}
	_, err := d.jf.Write(d.jbuf)
	d.jbuf, d.jdirty = d.jbuf[:0], true
	if err != nil {
		d.jerr = fmt.Errorf("edge: write delivery journal: %w", err)
	}
	return d.jerr
}

// Sync writes and fsyncs the journal.
func (d *Delivery) Sync() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.syncLocked()
}

func (d *Delivery) syncLocked() error {
	if err := d.flushLocked(); err != nil {
		return err
	}
	if d.jdirty && d.jf != nil {
		if err := d.jf.Sync(); err != nil {
			d.jerr = fmt.Errorf("edge: sync delivery journal: %w", err)
			return d.jerr
		}
		d.jdirty = false
	}
	return nil
}

func (d *Delivery) syncLoop(every time.Duration) {
	defer close(d.stopped)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
			d.Sync()
		}
	}
}

// Summary returns the aggregate's rows (sorted by day, code and item), without user hashes.
func (d *Delivery) Summary() DeliverySummary {
	d.mu.Lock()
	defer d.mu.Unlock()
	var s DeliverySummary
	for k, r := range d.rows {
		if k.item == "" {
			if len(r.users) > 0 {
				s.Held = append(s.Held, HeldRow{Day: DayString(k.day), Code: k.code, Users: int64(len(r.users))})
			}
			continue
		}
		row := DeliveryRow{Day: DayString(k.day), Code: k.code, Impressions: r.impressions, Users: int64(len(r.users)), Partial: r.partial}
		if id, ok := strings.CutPrefix(k.item, "li:"); ok {
			row.LineItem = id
		} else {
			row.Deal = strings.TrimPrefix(k.item, "deal:")
		}
		for _, n := range r.users {
			for j := 0; j < DeliveryLayers && uint32(j) < n; j++ {
				row.Layers[j]++
			}
			row.Frequency[bucketOf(n)]++
		}
		s.Rows = append(s.Rows, row)
	}
	slices.SortFunc(s.Rows, func(a, b DeliveryRow) int {
		return cmpAll(strings.Compare(a.Day, b.Day), int(a.Code)-int(b.Code), strings.Compare(a.LineItem+"/"+a.Deal, b.LineItem+"/"+b.Deal))
	})
	slices.SortFunc(s.Held, func(a, b HeldRow) int {
		return cmpAll(strings.Compare(a.Day, b.Day), int(a.Code)-int(b.Code))
	})
	return s
}

func cmpAll(cs ...int) int {
	for _, c := range cs {
		if c != 0 {
			return c
		}
	}
	return 0
}

// bucketOf returns the FrequencyBuckets index of a user's n ≥ 1 impressions.
func bucketOf(n uint32) int {
	switch {
	case n <= 3:
		return int(n) - 1
	case n <= 5:
		return 3
	case n <= 10:
		return 4
	}
	return 5
}

// Days returns the days held, ascending.
func (d *Delivery) Days() []int32 {
	d.mu.Lock()
	defer d.mu.Unlock()
	var days []int32
	for k := range d.rows {
		if !slices.Contains(days, k.day) {
			days = append(days, k.day)
		}
	}
	slices.Sort(days)
	return days
}

// Forget drops the days before day (their summaries stored elsewhere) and rewrites the journal.
func (d *Delivery) Forget(day int32) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	dropped := false
	for k, r := range d.rows {
		if k.day < day {
			d.users -= len(r.users)
			delete(d.rows, k)
			dropped = true
		}
	}
	if !dropped || d.jpath == "" {
		return nil
	}
	if err := d.flushLocked(); err != nil {
		return err
	}
	return d.compact()
}

// Len returns the number of (user, day, cohort, item) entries kept.
func (d *Delivery) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.users
}

// Close writes and fsyncs the journal and closes it.
func (d *Delivery) Close() error {
	if d.jpath == "" {
		return nil
	}
	if d.stop != nil {
		close(d.stop)
		<-d.stopped
		d.stop = nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	err := d.syncLocked()
	if d.jf != nil {
		if cerr := d.jf.Close(); err == nil {
			err = cerr
		}
		d.jf = nil
	}
	return err
}
