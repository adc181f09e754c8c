// Package edgeredis shares the edge's frequency-cap counters between edge replicas through Redis
// (go-redis): an edge.CapCounter per publisher whose counts live in Redis, exact whichever
// replica counts an impression, with a local view that keeps targeting decisions in process.
//
// Counting. A batch's impressions go to Redis in one round trip: a pipeline that, per impression,
// INCRBYs the counter of (publisher, user hash, cohort code, window) and sets it to expire at the
// window's end plus Slack (PEXPIREAT NX: once), so Redis holds only current windows. INCRBY is
// atomic, so counts are exact under concurrent impressions on any number of replicas, and the one
// impression that takes a counter to its cap is known (delivery's held-back users count it once). A counter that reaches its cap is also
// written to the window's capped hash (one per publisher and window, expiring with it) and
// published on the publisher's channel, once: impressions past the cap (in flight when it was
// reached) only count. So after a cap is raised, a replica that did not count a user's
// impressions learns that the user is past the new cap when it counts one itself.
//
// Deciding. edge.Engine.Decide reads Count, which never touches the network: each replica keeps
// a view (an in-memory edge.Counters, bounded) of the counts it learned: the counts its own
// impressions returned, and the capped counters of other replicas, from the channel (PSUBSCRIBE,
// delivered within a round trip) and from the capped hashes, read whole at start (Reload, before
// an edge first serves the publisher), after each reconnection and every ReloadInterval.
//
// Outages. When Redis cannot be reached the edge keeps answering: Decide keeps withholding what
// the view knows capped, and impressions are counted into the view (so each replica enforces its
// own) and kept as pending increments, added to Redis in one pipeline when it answers again (the
// Sync loop pings it every Interval). A batch in flight when the connection broke is counted
// again that way, since its error does not say whether Redis applied it: Redis may then hold a
// few impressions more than were reported (a cap acts sooner, never later), never fewer. Once an outage has lasted Grace, the capped cohorts fail
// closed: Count answers "over any cap", so every capped cohort's code is withheld from every user
// until Redis is back; uncapped cohorts keep serving. A user can thus see at most R×limit
// impressions of a capped cohort in a window during an outage (R replicas each enforcing its own
// count), and only until Grace has passed. Pending increments live in memory: a replica killed
// during an outage loses them.
package edgeredis

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cleanroom-oss/cleanroom/edge"
)

// Defaults.
const (
	DefaultGrace          = 30 * time.Second
	DefaultInterval       = time.Second
	DefaultReloadInterval = time.Minute
	DefaultSlack          = time.Hour
	DefaultTimeout        = time.Second
	// Prefix begins every key and channel this package uses.
	Prefix = "cr:"
)

// Options configures a Client.
type Options struct {
	// URL is the Redis URL: redis://[user:password@]host:port/db (rediss:// for TLS).
	URL string
	// Grace is how long an outage may last before capped cohorts fail closed (0: at once).
	Grace time.Duration
	// Interval is how often the Sync loop runs (pings during an outage); 0 means DefaultInterval.
	Interval time.Duration
	// ReloadInterval is how often the capped hashes are read whole (besides at start and after
	// a reconnection); 0 means DefaultReloadInterval.
	ReloadInterval time.Duration
	// Slack is how long a counter outlives its window (replicas' clocks may differ); 0 means
	// DefaultSlack.
	Slack time.Duration
	// Timeout bounds each call to Redis; 0 means DefaultTimeout.
	Timeout time.Duration
	// MaxCounters bounds each publisher's view (0: edge.DefaultMaxCounters).
	MaxCounters int
	Logger      *slog.Logger
	Now         func() time.Time
}

// Client is a process's connection to Redis, shared by its publishers' counters. Safe for
// concurrent use.
type Client struct {
	opt      Options
	rdb      *redis.Client
	mu       sync.Mutex
	counters map[string]*Counter
	// downSince is when the current outage began (Unix nanoseconds of Options.Now), 0 when Redis
	// answers.
	downSince atomic.Int64
	// closed is set once an outage has lasted Grace: capped cohorts fail closed.
	closed     atomic.Bool
	lastReload atomic.Int64
	reload     chan struct{}
	// syncMu makes Syncs one at a time: a Sync that returns nil has added every increment
	// pending when it began, even if the loop's Sync held them.
	syncMu sync.Mutex
	cancel context.CancelFunc
	done   sync.WaitGroup
}

// Open connects to Redis (it need not answer yet: an edge starts in an outage then) and starts
// the Sync loop and the subscription to the capped channels.
func Open(opt Options) (*Client, error) {
	ro, err := redis.ParseURL(opt.URL)
	if err != nil {
		// url.Parse's errors repeat the URL, password included: keep only what is wrong.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("--redis: %w (use redis://[user:password@]host:port/db)", err)
	}
	if opt.Interval <= 0 {
		opt.Interval = DefaultInterval
	}
	if opt.ReloadInterval <= 0 {
		opt.ReloadInterval = DefaultReloadInterval
	}
	if opt.Slack <= 0 {
		opt.Slack = DefaultSlack
	}
	if opt.Timeout <= 0 {
		opt.Timeout = DefaultTimeout
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	setLogger.Do(func() { redis.SetLogger(quiet{opt.Logger}) }) // go-redis's logger is global
	ro.MaxRetries = -1                                          // a failed call is an outage; the Sync loop retries
	ro.DialTimeout, ro.ReadTimeout, ro.WriteTimeout = opt.Timeout, opt.Timeout, opt.Timeout
	c := &Client{opt: opt, rdb: redis.NewClient(ro), counters: map[string]*Counter{}, reload: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	if err := c.rdb.Ping(ctx).Err(); err != nil {
		opt.Logger.Warn("redis unreachable: frequency caps are enforced from what this edge knows", "err", err)
		c.markDown()
	}
	ps := c.rdb.PSubscribe(ctx, Prefix+"c:*")
	c.done.Add(2)
	go c.subscribe(ctx, ps)
	go c.loop(ctx)
	return c, nil
}

// Redis returns the go-redis client (for tests and benchmarks).
func (c *Client) Redis() *redis.Client { return c.rdb }

// Counter returns the counter of a publisher (the same one for the same ID).
func (c *Client) Counter(publisherID string) *Counter {
	c.mu.Lock()
	defer c.mu.Unlock()
	if k := c.counters[publisherID]; k != nil {
		return k
	}
	view, _ := edge.OpenCounters(edge.CounterOptions{MaxCounters: c.opt.MaxCounters}, time.Time{}, time.UTC) // no journal: cannot fail
	k := &Counter{cl: c, pub: publisherID, view: view, channel: Prefix + "c:" + publisherID,
		pending: map[pendingKey]pendingVal{}}
	k.loc.Store(time.UTC)
	c.counters[publisherID] = k
	c.nudge()
	return k
}

func (c *Client) nudge() {
	select {
	case c.reload <- struct{}{}:
	default:
	}
}

// Down reports whether Redis is in an outage, and Closed whether capped cohorts fail closed.
func (c *Client) Down() bool   { return c.downSince.Load() != 0 }
func (c *Client) Closed() bool { return c.closed.Load() }

func (c *Client) markDown() {
	if c.downSince.CompareAndSwap(0, max(1, c.opt.Now().UnixNano())) {
		c.opt.Logger.Warn("redis unreachable: counting impressions locally until it answers")
	}
	c.checkGrace()
}

func (c *Client) checkGrace() {
	since := c.downSince.Load()
	c.closed.Store(since != 0 && c.opt.Now().UnixNano()-since >= int64(c.opt.Grace))
}

// Sync does what the loop does every Interval: during an outage, ping Redis and, once it
// answers, add the pending increments and read the capped hashes again; otherwise read them when
// ReloadInterval has passed (or a counter or subscription asked for it). It returns Redis's error
// when it is still unreachable.
func (c *Client) Sync(ctx context.Context) error {
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	c.checkGrace()
	reload := c.opt.Now().UnixNano()-c.lastReload.Load() >= int64(c.opt.ReloadInterval)
	select {
	case <-c.reload:
		reload = true
	default:
	}
	wasDown := c.Down()
	if wasDown {
		cctx, cancel := context.WithTimeout(ctx, c.opt.Timeout)
		err := c.rdb.Ping(cctx).Err()
		cancel()
		if err != nil {
			return err
		}
		reload = true
	}
	// The outage ends (new impressions go to Redis again) only once what was counted meanwhile
	// is in, so a Redis that answers pings but fails commands does not restart the grace.
	flush := func() error {
		for _, k := range c.all() {
			if err := k.flushPending(ctx); err != nil {
				c.markDown()
				return err
			}
		}
		return nil
	}
	if err := flush(); err != nil {
		return err
	}
	if reload {
		for _, k := range c.all() {
			if err := k.reloadCapped(ctx); err != nil {
				c.markDown()
				return err
			}
		}
		c.lastReload.Store(c.opt.Now().UnixNano())
	}
	if wasDown {
		c.downSince.Store(0)
		c.opt.Logger.Info("redis answers again: the impressions counted meanwhile are added, caps reloaded")
		if err := flush(); err != nil { // those counted while the first flush ran
			return err
		}
	}
	c.checkGrace()
	return nil
}

func (c *Client) all() []*Counter {
	c.mu.Lock()
	defer c.mu.Unlock()
	ks := make([]*Counter, 0, len(c.counters))
	for _, k := range c.counters {
		ks = append(ks, k)
	}
	return ks
}

func (c *Client) loop(ctx context.Context) {
	defer c.done.Done()
	t := time.NewTicker(c.opt.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.reload:
			c.nudge() // Sync reads it
		}
		c.Sync(ctx)
	}
}

// subscribe applies the capped counters other replicas publish; a (re)subscription asks for a
// reload, since messages may have been missed while the subscription was down.
func (c *Client) subscribe(ctx context.Context, ps *redis.PubSub) {
	defer c.done.Done()
	defer ps.Close()
	ch := ps.ChannelWithSubscriptions(redis.WithChannelSize(4096))
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			switch m := m.(type) {
			case *redis.Subscription:
				c.nudge()
			case *redis.Message:
				pub := strings.TrimPrefix(m.Channel, Prefix+"c:")
				c.mu.Lock()
				k := c.counters[pub]
				c.mu.Unlock()
				if k != nil {
					k.apply(m.Payload)
				}
			}
		}
	}
}

// Close stops the loops, adds what is pending if Redis answers, and closes the connection.
func (c *Client) Close() error {
	c.cancel()
	c.done.Wait()
	var errs []error
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	if !c.Down() {
		ctx, cancel := context.WithTimeout(context.Background(), c.opt.Timeout)
		for _, k := range c.all() {
			errs = append(errs, k.flushPending(ctx))
		}
		cancel()
	}
	errs = append(errs, c.rdb.Close())
	return errors.Join(errs...)
}

type pendingKey struct {
	user   uint64
	code   uint32
	window edge.Window
}

type pendingVal struct {
	n, limit uint32
}

// Counter is a publisher's edge.CapCounter in Redis, with its local view.
type Counter struct {
	cl      *Client
	pub     string
	channel string
	view    *edge.Counters
	loc     atomic.Pointer[time.Location]
	pmu     sync.Mutex
	pending map[pendingKey]pendingVal
}

var _ edge.CapCounter = (*Counter)(nil)

// member is the capped hash's field of a counter: user hash, code and window, 16 bytes.
func member(user uint64, code uint32, w edge.Window) []byte {
	var b [16]byte
	binary.BigEndian.PutUint64(b[0:], user)
	binary.BigEndian.PutUint32(b[8:], code)
	binary.BigEndian.PutUint32(b[12:], uint32(w))
	return b[:]
}

// counterKey is the Redis key of a counter: "cr:f:<publisher>:" and the 16-byte member.
func (k *Counter) counterKey(m []byte) string { return Prefix + "f:" + k.pub + ":" + string(m) }

// cappedKey is the Redis key of a window's capped hash.
func (k *Counter) cappedKey(w edge.Window) string {
	return Prefix + "c:" + k.pub + ":" + strconv.FormatUint(uint64(w), 10)
}

// Count is the view's count, or "over any cap" while capped cohorts fail closed.
func (k *Counter) Count(user uint64, code uint32, w edge.Window) uint32 {
	if k.cl.closed.Load() {
		return math.MaxUint32
	}
	return k.view.Count(user, code, w)
}

// Add counts a batch in Redis in one round trip (or, during an outage, locally; see the package
// comment) and sets each hit's N to its counter's count.
func (k *Counter) Add(hits []edge.Hit, now time.Time, loc *time.Location) error {
	k.loc.Store(loc)
	if !k.cl.Down() {
		ctx, cancel := context.WithTimeout(context.Background(), k.cl.opt.Timeout)
		defer cancel()
		ns, err := k.run(ctx, hits, func(i int) uint32 { return 1 }, loc)
		if err == nil {
			for i := range hits {
				hits[i].N = ns[i]
				k.view.Observe(hits[i].User, hits[i].Code, hits[i].Window, ns[i], now, loc)
			}
			return nil
		}
		k.cl.opt.Logger.Warn("redis: counting impressions failed", "err", err)
		k.cl.markDown()
	}
	// The outage: the view counts (this replica's enforcement) and the increments wait.
	if err := k.view.Add(hits, now, loc); err != nil {
		return err
	}
	k.pmu.Lock()
	for _, h := range hits {
		pk := pendingKey{h.User, h.Code, h.Window}
		v := k.pending[pk]
		k.pending[pk] = pendingVal{v.n + 1, h.Limit}
	}
	k.pmu.Unlock()
	return nil
}

// run counts hits with the given increments in one pipeline (one round trip): per hit, INCRBY
// of its counter and PEXPIREAT ... NX (the window's end plus Slack, set once), so a counter never
// outlives its window even if a replica dies between the two. Each INCRBY is atomic, so the counts
// are exact and exactly one increment takes a counter to its cap; for those (rare: a user reaching
// a cap), a second pipeline writes the window's capped hash and publishes it. It returns the new
// counts.
func (k *Counter) run(ctx context.Context, hits []edge.Hit, delta func(i int) uint32, loc *time.Location) ([]uint32, error) {
	pipe := k.cl.rdb.Pipeline()
	incs := make([]*redis.IntCmd, len(hits))
	ends := map[edge.Window]int64{}
	members := make([][]byte, len(hits))
	for i, h := range hits {
		members[i] = member(h.User, h.Code, h.Window)
		end, ok := ends[h.Window]
		if !ok {
			end = h.Window.End(loc).Add(k.cl.opt.Slack).UnixMilli()
			ends[h.Window] = end
		}
		key := k.counterKey(members[i])
		incs[i] = pipe.IncrBy(ctx, key, int64(delta(i)))
		pipe.Do(ctx, "PEXPIREAT", key, end, "NX")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	for _, c := range incs {
		if err := c.Err(); err != nil {
			return nil, err
		}
		if c.Val() <= 0 {
			return nil, fmt.Errorf("edgeredis: a counter answered %d", c.Val())
		}
	}
	ns := make([]uint32, len(hits))
	var capped redis.Pipeliner
	for i, h := range hits {
		n := incs[i].Val()
		ns[i] = uint32(min(n, math.MaxUint32))
		if d := int64(delta(i)); n >= int64(h.Limit) && n-d < int64(h.Limit) {
			if capped == nil {
				capped = k.cl.rdb.Pipeline()
			}
			ck := k.cappedKey(h.Window)
			capped.HSet(ctx, ck, string(members[i]), n)
			capped.Do(ctx, "PEXPIREAT", ck, ends[h.Window], "NX")
			capped.Publish(ctx, k.channel, string(members[i])+strconv.FormatInt(n, 10))
		}
	}
	if capped != nil {
		if _, err := capped.Exec(ctx); err != nil {
			// The counts are in; the other replicas learn the caps at their next reload.
			k.cl.opt.Logger.Warn("redis: recording reached caps failed", "err", err)
		}
	}
	return ns, nil
}

// flushPending adds the increments counted during an outage to Redis (one pipeline per 500) and learns
// the counts.
func (k *Counter) flushPending(ctx context.Context) error {
	k.pmu.Lock()
	if len(k.pending) == 0 {
		k.pmu.Unlock()
		return nil
	}
	p := k.pending
	k.pending = map[pendingKey]pendingVal{}
	k.pmu.Unlock()
	loc := k.loc.Load()
	now := k.cl.opt.Now()
	hits := make([]edge.Hit, 0, len(p))
	deltas := make([]uint32, 0, len(p))
	for pk, v := range p {
		if pk.window != edge.WindowOf(pk.window.Period(), now, loc) {
			continue // the window ended during the outage
		}
		hits = append(hits, edge.Hit{User: pk.user, Code: pk.code, Window: pk.window, Limit: v.limit})
		deltas = append(deltas, v.n)
	}
	for len(hits) > 0 {
		n := min(len(hits), 500)
		cctx, cancel := context.WithTimeout(ctx, k.cl.opt.Timeout)
		ns, err := k.run(cctx, hits[:n], func(i int) uint32 { return deltas[i] }, loc)
		cancel()
		if err != nil { // put back what was not added
			k.pmu.Lock()
			for i, h := range hits {
				pk := pendingKey{h.User, h.Code, h.Window}
				v := k.pending[pk]
				k.pending[pk] = pendingVal{v.n + deltas[i], h.Limit}
			}
			k.pmu.Unlock()
			return err
		}
		for i, h := range hits[:n] {
			k.view.Observe(h.User, h.Code, h.Window, ns[i], now, loc)
		}
		hits, deltas = hits[n:], deltas[n:]
	}
	return nil
}

// Pending returns the number of counters with increments waiting for Redis.
func (k *Counter) Pending() int {
	k.pmu.Lock()
	defer k.pmu.Unlock()
	return len(k.pending)
}

// apply learns a capped counter from a published message: the 16-byte member, then the count.
func (k *Counter) apply(payload string) {
	if len(payload) <= 16 {
		return
	}
	n, err := strconv.ParseUint(payload[16:], 10, 32)
	if err != nil {
		return
	}
	m := []byte(payload[:16])
	k.view.Observe(binary.BigEndian.Uint64(m), binary.BigEndian.Uint32(m[8:]), edge.Window(binary.BigEndian.Uint32(m[12:])),
		uint32(n), k.cl.opt.Now(), k.loc.Load())
}

// reloadCapped reads the capped hashes of the current windows into the view.
func (k *Counter) reloadCapped(ctx context.Context) error {
	loc := k.loc.Load()
	now := k.cl.opt.Now()
	for _, p := range []edge.Period{edge.Day, edge.Week, edge.Month} {
		w := edge.WindowOf(p, now, loc)
		var cursor uint64
		for {
			cctx, cancel := context.WithTimeout(ctx, k.cl.opt.Timeout)
			kv, next, err := k.cl.rdb.HScan(cctx, k.cappedKey(w), cursor, "", 10000).Result()
			cancel()
			if err != nil {
				return err
			}
			for i := 0; i+1 < len(kv); i += 2 {
				if len(kv[i]) != 16 {
					continue
				}
				n, err := strconv.ParseUint(kv[i+1], 10, 32)
				if err != nil {
					continue
				}
				m := []byte(kv[i])
				k.view.Observe(binary.BigEndian.Uint64(m), binary.BigEndian.Uint32(m[8:]), edge.Window(binary.BigEndian.Uint32(m[12:])),
					uint32(n), now, loc)
			}
			if cursor = next; cursor == 0 {
				break
			}
		}
	}
	return nil
}

// Reload reads the capped hashes of the current windows into the view now, as the Sync loop
// does at start (but after it): an edge calls it before it first serves a publisher, so that its
// first answers already withhold the users other replicas took to a cap. During an outage it does
// nothing (the loop reads them once Redis answers).
func (k *Counter) Reload(ctx context.Context) error {
	if k.cl.Down() {
		return nil
	}
	if err := k.reloadCapped(ctx); err != nil {
		k.cl.markDown()
		return err
	}
	return nil
}

// SetLocation sets the publisher's time zone (the windows the capped hashes are read for).
func (k *Counter) SetLocation(loc *time.Location) {
	if loc == nil {
		loc = time.UTC
	}
	if k.loc.Swap(loc) != loc {
		k.cl.nudge()
	}
}

// Expire drops the view's counters and the pending increments of ended windows (Redis expires
// its own keys).
func (k *Counter) Expire(now time.Time, loc *time.Location) int {
	n := k.view.Expire(now, loc)
	k.pmu.Lock()
	for pk := range k.pending {
		if pk.window != edge.WindowOf(pk.window.Period(), now, loc) {
			delete(k.pending, pk)
		}
	}
	k.pmu.Unlock()
	return n
}

// Stats returns the view's figures.
func (k *Counter) Stats() edge.Stats { return k.view.Stats() }

// Close does nothing: the counter lives as long as its Client, whose Close adds the pending
// increments.
func (k *Counter) Close() error { return nil }

var setLogger sync.Once

// quiet sends go-redis's own messages (reconnection attempts) to the debug log.
type quiet struct{ l *slog.Logger }

func (q quiet) Printf(ctx context.Context, format string, v ...any) {
	q.l.Debug("redis: " + fmt.Sprintf(format, v...))
}
