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
	"sync"
	"sync/atomic"
	"time"
)

// Period is the window of a frequency cap.
type Period uint8

// Cap periods: calendar day, ISO week (Monday to Sunday) and calendar month, in the publisher's
// time zone.
const (
	Day   Period = 1
	Week  Period = 2
	Month Period = 3
)

// ParsePeriod parses "day", "week" or "month".
func ParsePeriod(s string) (Period, bool) {
	switch s {
	case "day":
		return Day, true
	case "week":
		return Week, true
	case "month":
		return Month, true
	}
	return 0, false
}

// String returns "day", "week" or "month".
func (p Period) String() string {
	switch p {
	case Day:
		return "day"
	case Week:
		return "week"
	case Month:
		return "month"
	}
	return fmt.Sprintf("period(%d)", uint8(p))
}

// Window identifies one window of a period: the period in the top two bits, then the day number
// (days since 1970-01-01 in the time zone), the week number (weeks since Monday 1969-12-29) or the
// month number (year×12 + month − 1). 0 is no window.
type Window uint32

// WindowOf returns the window of period p that contains t in time zone loc.
func WindowOf(p Period, t time.Time, loc *time.Location) Window {
	y, m, d := t.In(loc).Date()
	var v int64
	switch p {
	case Day, Week:
		v = time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
		if p == Week {
			v = (v + 3) / 7 // 1970-01-01 was a Thursday
		}
	case Month:
		v = int64(y)*12 + int64(m) - 1
	default:
		return 0
	}
	return Window(uint32(p)<<30 | uint32(v)&(1<<30-1))
}

// Period returns the window's period.
func (w Window) Period() Period { return Period(w >> 30) }

// windows holds the current window of each period, computed once per call.
type windows [4]Window

func currentWindows(t time.Time, loc *time.Location) windows {
	return windows{0, WindowOf(Day, t, loc), WindowOf(Week, t, loc), WindowOf(Month, t, loc)}
}

func (c *windows) expired(w Window) bool { return c[w.Period()&3] != w }

// counterKey is one user's counter for one cohort.
type counterKey struct {
	user uint64
	code uint32
}

type counterVal struct {
	window Window
	count  uint32
}

const shards = 256

type shard struct {
	mu sync.Mutex
	m  map[counterKey]counterVal
	// swept is the current windows at the last sweep of a full shard: nothing more has expired
	// until they change.
	swept windows
	_     [24]byte // keep shards' locks on separate cache lines
}

// Counters counts impressions per (user hash, cohort code) in the current window of the cohort's
// cap, exactly under concurrent use (each counter is changed under its shard's lock).
//
// Memory is bounded: at most MaxCounters counters are kept (about 64 bytes each with the map's
// overhead, so the default 4M take about 256 MiB). A counter of a past window is expired: it is
// removed by Expire, and when a shard is full its expired counters are swept before a new one is
// added. When a shard is still full, the impression is not counted (Stats.Dropped): a cap then
// lets a user see more than its limit rather than the edge growing without bound.
//
// With a journal, every change is appended to it (one write per batch, so a killed process loses
// nothing the OS received) and synced every SyncInterval (so a machine crash loses at most that
// much); Open replays it, ignoring a torn or corrupt tail, drops expired windows and rewrites
// it compactly. Compact rewrites it while running.
type Counters struct {
	shards   [shards]shard
	perShard int
	dropped  atomic.Int64

	jmu     sync.Mutex // guards the journal fields below
	jf      *os.File
	jpath   string
	jbuf    []byte
	jbytes  int64
	jdirty  bool
	jerr    error
	stop    chan struct{}
	stopped chan struct{}
}

// CounterOptions configures Counters.
type CounterOptions struct {
	// MaxCounters bounds the number of counters kept; 0 means 4M.
	MaxCounters int
	// Journal is the path of the journal file; "" keeps counters in memory only.
	Journal string
	// SyncInterval is how often the journal is fsynced when it changed; 0 means 100 ms.
	SyncInterval time.Duration
}

// DefaultMaxCounters is the default bound on counters.
const DefaultMaxCounters = 4 << 20

const (
	journalMagic  = "CREDGEJ1"
	journalRecord = 24 // user 8, code 4, window 4, delta 4, crc32c 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// OpenCounters returns counters with the given options, replaying the journal if there is one as
// of now in time zone loc (counters of windows that ended are dropped).
func OpenCounters(opt CounterOptions, now time.Time, loc *time.Location) (*Counters, error) {
	if opt.MaxCounters <= 0 {
		opt.MaxCounters = DefaultMaxCounters
	}
	if opt.SyncInterval <= 0 {
		opt.SyncInterval = 100 * time.Millisecond
	}
	c := &Counters{perShard: max(1, opt.MaxCounters/shards)}
	for i := range c.shards {
		c.shards[i].m = make(map[counterKey]counterVal)
	}
	if opt.Journal == "" {
		return c, nil
	}
	c.jpath = opt.Journal
	if err := c.replay(now, loc); err != nil {
		return nil, err
	}
	if err := c.Compact(); err != nil {
		return nil, err
	}
	c.stop, c.stopped = make(chan struct{}), make(chan struct{})
	go c.syncLoop(opt.SyncInterval)
	return c, nil
}

// replay reads the journal and applies every intact record; it stops at the first short or
// corrupt record (a write torn by a crash), which Compact then cuts off.
func (c *Counters) replay(now time.Time, loc *time.Location) error {
	f, err := os.Open(c.jpath)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("edge: open journal: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	head := make([]byte, len(journalMagic))
	if _, err := io.ReadFull(r, head); err != nil || string(head) != journalMagic {
		return nil // empty or torn at birth: nothing was acknowledged
	}
	cur := currentWindows(now, loc)
	var rec [journalRecord]byte
	for {
		if _, err := io.ReadFull(r, rec[:]); err != nil {
			return nil
		}
		if crc32.Checksum(rec[:20], castagnoli) != binary.LittleEndian.Uint32(rec[20:]) {
			return nil
		}
		k := counterKey{user: binary.LittleEndian.Uint64(rec[0:]), code: binary.LittleEndian.Uint32(rec[8:])}
		w := Window(binary.LittleEndian.Uint32(rec[12:]))
		if cur.expired(w) {
			continue
		}
		sh := c.shard(k)
		v := sh.m[k]
		if v.window != w {
			v = counterVal{window: w}
		}
		v.count += binary.LittleEndian.Uint32(rec[16:])
		sh.m[k] = v
	}
}

func appendRecord(b []byte, k counterKey, w Window, delta uint32) []byte {
	b = append(b, make([]byte, journalRecord)...) // in place: a local array would escape to crc32
	rec := b[len(b)-journalRecord:]
	binary.LittleEndian.PutUint64(rec[0:], k.user)
	binary.LittleEndian.PutUint32(rec[8:], k.code)
	binary.LittleEndian.PutUint32(rec[12:], uint32(w))
	binary.LittleEndian.PutUint32(rec[16:], delta)
	binary.LittleEndian.PutUint32(rec[20:], crc32.Checksum(rec[:20], castagnoli))
	return b
}

func (c *Counters) shard(k counterKey) *shard {
	h := k.user ^ uint64(k.code)*0x9e3779b97f4a7c15
	return &c.shards[(h>>32^h)%shards]
}

// Count returns the count of user's impressions of cohort code in window w (0 when its counter
// is of another window).
func (c *Counters) Count(user uint64, code uint32, w Window) uint32 {
	k := counterKey{user, code}
	sh := c.shard(k)
	sh.mu.Lock()
	v := sh.m[k]
	sh.mu.Unlock()
	if v.window != w {
		return 0
	}
	return v.count
}

// add counts one impression of code by user in window w (the current window of its period, cur
// holding the current window of every period, for sweeping). The journal record goes to the
// buffer; flush writes it. It returns the new count, 0 when the counter could not be kept (bound
// reached).
func (c *Counters) add(user uint64, code uint32, w Window, cur *windows) uint32 {
	k := counterKey{user, code}
	sh := c.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	v, ok := sh.m[k]
	if !ok && len(sh.m) >= c.perShard && sh.swept != *cur {
		sh.swept = *cur
		for k2, v2 := range sh.m {
			if cur.expired(v2.window) {
				delete(sh.m, k2)
			}
		}
	}
	if !ok && len(sh.m) >= c.perShard {
		c.dropped.Add(1)
		return 0
	}
	if v.window != w {
		v = counterVal{window: w}
	}
	v.count++
	sh.m[k] = v
	if c.jpath != "" {
		c.jmu.Lock()
		c.jbuf = appendRecord(c.jbuf, k, w, 1)
		c.jmu.Unlock()
	}
	return v.count
}

// flush writes the buffered journal records to the file (one write), so that they survive the
// process being killed; the sync loop makes them durable.
func (c *Counters) flush() error {
	if c.jpath == "" {
		return nil
	}
	c.jmu.Lock()
	defer c.jmu.Unlock()
	return c.flushLocked()
}

func (c *Counters) flushLocked() error {
	if c.jerr != nil {
		return c.jerr
	}
	if len(c.jbuf) == 0 || c.jf == nil {
		return nil
	}
	n, err := c.jf.Write(c.jbuf)
	c.jbytes += int64(n)
	c.jbuf = c.jbuf[:0]
	c.jdirty = true
	if err != nil {
		c.jerr = fmt.Errorf("edge: write journal: %w", err)
	}
	return c.jerr
}

// Sync writes and fsyncs the journal.
func (c *Counters) Sync() error {
	if c.jpath == "" {
		return nil
	}
	c.jmu.Lock()
	defer c.jmu.Unlock()
	return c.syncLocked()
}

func (c *Counters) syncLocked() error {
	if err := c.flushLocked(); err != nil {
		return err
	}
	if c.jdirty && c.jf != nil {
		if err := c.jf.Sync(); err != nil {
			c.jerr = fmt.Errorf("edge: sync journal: %w", err)
			return c.jerr
		}
		c.jdirty = false
	}
	return nil
}

func (c *Counters) syncLoop(every time.Duration) {
	defer close(c.stopped)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.Sync()
		}
	}
}

// Expire removes the counters of windows that ended before now in loc and returns how many.
func (c *Counters) Expire(now time.Time, loc *time.Location) int {
	cur := currentWindows(now, loc)
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		for k, v := range sh.m {
			if cur.expired(v.window) {
				delete(sh.m, k)
				n++
			}
		}
		sh.mu.Unlock()
	}
	return n
}

// Len returns the number of counters kept.
func (c *Counters) Len() int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

// JournalBytes returns the size of the journal file.
func (c *Counters) JournalBytes() int64 {
	c.jmu.Lock()
	defer c.jmu.Unlock()
	return c.jbytes
}

// Compact rewrites the journal as one record per counter kept (to a temporary file, fsynced and
// renamed over the old one), so it stays proportional to the counters, not to the impressions.
// Counting waits while it runs.
func (c *Counters) Compact() error {
	if c.jpath == "" {
		return nil
	}
	for i := range c.shards {
		c.shards[i].mu.Lock()
	}
	defer func() {
		for i := range c.shards {
			c.shards[i].mu.Unlock()
		}
	}()
	c.jmu.Lock()
	defer c.jmu.Unlock()
	tmp := c.jpath + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("edge: compact journal: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString(journalMagic)
	size := int64(len(journalMagic))
	var rec []byte
	for i := range c.shards {
		for k, v := range c.shards[i].m {
			rec = appendRecord(rec[:0], k, v.window, v.count)
			w.Write(rec)
			size += journalRecord
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
		err = os.Rename(tmp, c.jpath)
	}
	if err == nil {
		err = syncDir(filepath.Dir(c.jpath))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("edge: compact journal: %w", err)
	}
	nf, err := os.OpenFile(c.jpath, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("edge: reopen journal: %w", err)
	}
	if c.jf != nil {
		c.jf.Close()
	}
	c.jf, c.jbytes, c.jbuf, c.jdirty, c.jerr = nf, size, c.jbuf[:0], false, nil
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Stats are the counters' figures.
type Stats struct {
	Counters int
	Dropped  int64
}

// Stats returns the counters' figures.
func (c *Counters) Stats() Stats { return Stats{Counters: c.Len(), Dropped: c.dropped.Load()} }

// Close writes and fsyncs the journal and closes it.
func (c *Counters) Close() error {
	if c.jpath == "" {
		return nil
	}
	if c.stop != nil {
		close(c.stop)
		<-c.stopped
		c.stop = nil
	}
	c.jmu.Lock()
	defer c.jmu.Unlock()
	err := c.syncLocked()
	if c.jf != nil {
		if cerr := c.jf.Close(); err == nil {
			err = cerr
		}
		c.jf = nil
	}
	return err
}
