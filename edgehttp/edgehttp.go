// Package edgehttp is the HTTP face of the edge: a thin handler over one edge.Engine per
// publisher, serving
//
//	GET  /edge/v1/{publisher_id}/targeting?uid=...  the user's cohort codes (GAM, Xandr, OpenRTB)
//	POST /edge/v1/{publisher_id}/events             batched impressions (sendBeacon, text/plain)
//	GET  /edge/v1/{publisher_id}/tag.js             the page tag
//
// It reads what to serve from the publishers' manifests in the blob store (written by package
// activation) and loads each new snapshot beside the one in use before swapping it in, so a
// request never waits on a load; no database is on the path. It answers cross-origin requests
// only from the origins a publisher lists, never sets or reads cookies, and never writes a user
// ID, its hash or the client's address to an answer, a header or a log line.
//
// Server is an http.Handler (serve mounts it under /edge). On a listener of its own the edge
// runs HTTPServer instead: its own HTTP/1.1 loop, which answers the targeting route from the
// connection's buffer without allocating and hands every other request to the same handler.
package edgehttp

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/activation"
	"github.com/cleanroom-oss/cleanroom/auth"
	"github.com/cleanroom-oss/cleanroom/edge"
	"github.com/cleanroom-oss/cleanroom/edgeredis"
	"github.com/cleanroom-oss/cleanroom/pubsync"
	"github.com/cleanroom-oss/cleanroom/versions"
)

// Defaults.
const (
	// DefaultMaxAge is how long a browser may keep a targeting answer (private cache only).
	DefaultMaxAge = 60 * time.Second
	// DefaultTagTimeout is how long the page tag waits for the codes before the ads go on
	// without them.
	DefaultTagTimeout = 500 * time.Millisecond
)

// Options configures a Server.
type Options struct {
	// Blobs holds the manifests and snapshots; Versions opens the snapshots (its Keys unwrap
	// their data keys; no metadata store is needed).
	Versions *versions.Store
	// UserKey is the key of the publishers' user-ID hashes (pipeline.UserKeyPurpose).
	UserKey []byte
	// CounterDir holds the frequency counters' journals, one per publisher; "" keeps them in
	// memory only.
	CounterDir string
	// MaxCounters bounds each publisher's counters (0: edge.DefaultMaxCounters).
	MaxCounters int
	// Redis, when its URL is set, keeps the frequency counters in Redis, shared by every edge
	// replica (package edgeredis) instead of in CounterDir's journals. The server opens and closes
	// it; its Logger, Now and MaxCounters default to the server's.
	Redis edgeredis.Options
	// MaxDeliveryUsers bounds each publisher's delivery entries (0: edge.DefaultMaxDeliveryUsers).
	MaxDeliveryUsers int
	// MaxLastSeen bounds each publisher's last-seen table (0: edge.DefaultMaxLastSeen); a table has
	// twice the slots of the snapshot's users, at least 64K.
	MaxLastSeen int
	// EdgeID names this replica among the edges serving the same blob store (its delivery files
	// are its own); "" means "edge".
	EdgeID string
	// ClientAddr returns the client's address for rate limiting (nil: the connection's).
	ClientAddr func(*http.Request) string
	// EventBurst and EventInterval limit event batches per client: EventBurst at once, then one
	// per EventInterval (defaults 60 and 100 ms).
	EventBurst    int
	EventInterval time.Duration
	// MaxAge is the targeting answer's private cache lifetime (DefaultMaxAge when 0).
	MaxAge time.Duration
	// TagTimeout is the page tag's wait for codes (DefaultTagTimeout when 0).
	TagTimeout time.Duration
	Logger     *slog.Logger
	Now        func() time.Time
}

// publisher is what one publisher is served with, swapped whole.
type publisher struct {
	engine   *edge.Engine
	counters edge.CapCounter
	delivery *edge.Delivery
	seen     *edge.LastSeen
	// activeDay is the day of the active users last stored; stored the delivery days'.
	activeDay *atomic.Int32
	stored    *storedDays
	// finalized is the day FinalizeReplicaDays last ran.
	finalized *atomic.Int32
	manifest  *activation.Manifest
	format    edge.Format
	loc       *time.Location
	origins   []string
	digest    string
	tag       []byte
	// empty is the answer without codes.
	empty []byte
}

// Header values shared by every answer (net/http only reads them), so that an answer sets its
// headers without allocating.
var (
	varyOrigin  = []string{"Origin"}
	contentJSON = []string{"application/json"}
	nosniff     = []string{"nosniff"}
)

// Server serves the edge routes of every publisher that has a manifest.
type Server struct {
	opt          Options
	cacheControl []string
	hasher       *pubsync.UserHasher
	limiter      *auth.Limiter
	pubs         sync.Map // publisher ID -> *atomic.Pointer[publisher]
	loadMu       sync.Mutex
	bufs         sync.Pool
	mux          *http.ServeMux
	redis        *edgeredis.Client
	// Stats.
	Lookups, Events atomic.Int64
}

// New returns a server; Load (or Run) loads the publishers' manifests.
func New(opt Options) (*Server, error) {
	h, err := pubsync.NewUserHasher(opt.UserKey)
	if err != nil {
		return nil, err
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.EventBurst <= 0 {
		opt.EventBurst = 60
	}
	if opt.EventInterval <= 0 {
		opt.EventInterval = 100 * time.Millisecond
	}
	if opt.MaxAge <= 0 {
		opt.MaxAge = DefaultMaxAge
	}
	if opt.TagTimeout <= 0 {
		opt.TagTimeout = DefaultTagTimeout
	}
	s := &Server{opt: opt, hasher: h, limiter: auth.NewLimiter(opt.EventBurst, opt.EventInterval),
		cacheControl: []string{"private, max-age=" + strconv.Itoa(int(opt.MaxAge/time.Second))}}
	if opt.EdgeID == "" {
		opt.EdgeID = "edge"
		s.opt.EdgeID = opt.EdgeID
	}
	if err := CheckEdgeID(opt.EdgeID); err != nil {
		return nil, err
	}
	if opt.Redis.URL != "" {
		ro := opt.Redis
		if ro.Logger == nil {
			ro.Logger = opt.Logger
		}
		if ro.Now == nil {
			ro.Now = opt.Now
		}
		if ro.MaxCounters == 0 {
			ro.MaxCounters = opt.MaxCounters
		}
		if s.redis, err = edgeredis.Open(ro); err != nil {
			return nil, err
		}
	}
	s.bufs.New = func() any { b := make([]byte, 0, 1024); return &b }
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /edge/v1/{publisher}/targeting", s.targeting)
	s.mux.HandleFunc("OPTIONS /edge/v1/{publisher}/targeting", s.preflight)
	s.mux.HandleFunc("POST /edge/v1/{publisher}/events", s.events)
	s.mux.HandleFunc("OPTIONS /edge/v1/{publisher}/events", s.preflight)
	s.mux.HandleFunc("GET /edge/v1/{publisher}/tag.js", s.tagJS)
	s.mux.HandleFunc("/edge/", func(w http.ResponseWriter, r *http.Request) {
		fail(w, http.StatusNotFound, "No such edge route.")
	})
	return s, nil
}

// ServeHTTP serves the edge routes. Every answer is marked nosniff, as the API's are.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header()["X-Content-Type-Options"] = nosniff
	s.mux.ServeHTTP(w, r)
}

func (s *Server) get(id string) *publisher {
	if p, ok := s.pubs.Load(id); ok {
		return p.(*atomic.Pointer[publisher]).Load()
	}
	return nil
}

// Engine returns a publisher's engine, nil when it has none loaded.
func (s *Server) Engine(publisherID string) *edge.Engine {
	if p := s.get(publisherID); p != nil {
		return p.engine
	}
	return nil
}

// Digest returns the digest of the manifest a publisher is served from ("" when none is loaded).
func (s *Server) Digest(publisherID string) string {
	if p := s.get(publisherID); p != nil {
		return p.digest
	}
	return ""
}

// Load reads every publisher's manifest and swaps in what changed. A publisher whose manifest
// cannot be loaded keeps what it had; the errors are returned joined.
func (s *Server) Load(ctx context.Context) error {
	keys, err := s.opt.Versions.Blobs.List(ctx, activation.ManifestPrefix)
	if err != nil {
		return err
	}
	var errs []error
	for _, k := range keys {
		id, ok := strings.CutSuffix(strings.TrimPrefix(k, activation.ManifestPrefix), "/manifest.json")
		if !ok || strings.Contains(id, "/") {
			continue
		}
		if err := s.LoadPublisher(ctx, id); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// LoadPublisher reads a publisher's manifest and, if it changed, loads its snapshot and swaps it
// in with its configuration.
func (s *Server) LoadPublisher(ctx context.Context, id string) error {
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	m, err := activation.ReadManifest(ctx, s.opt.Versions.Blobs, id)
	if err != nil {
		return err
	}
	old := s.get(id)
	if m.Digest == "" || old != nil && old.digest == m.Digest {
		return nil
	}
	cfg, format, err := m.Config()
	if err != nil {
		return err
	}
	snap := &edge.Snapshot{}
	if m.SnapshotKey != "" {
		f, err := s.opt.Versions.OpenOwnedFile(ctx, versions.SnapshotOwner(id), versions.File{Key: m.SnapshotKey, WrappedKey: m.WrappedKey}, edge.KindSnapshot)
		if err != nil {
			return fmt.Errorf("edge: snapshot of publisher %s: %w", id, err)
		}
		if snap, err = edge.FromFile(f); err != nil {
			return fmt.Errorf("edge: snapshot of publisher %s: %w", id, err)
		}
	} else if snap, err = edge.Build(edge.Input{}); err != nil {
		return err
	}
	p := &publisher{format: format, loc: cfg.Location, origins: m.Origins, digest: m.Digest, manifest: m}
	if old != nil {
		p.counters = old.counters
		p.delivery = old.delivery
		p.seen, p.activeDay, p.stored, p.finalized = old.seen, old.activeDay, old.stored, old.finalized
		if want := edge.LastSeenSlots(snap.Users(), s.opt.MaxLastSeen); p.seen.Slots() < want {
			seen := edge.NewLastSeen(want) // the audience grew: a larger table, with the users seen so far
			seen.Restore(old.seen.Set(edge.DayOf(s.opt.Now(), cfg.Location)))
			p.seen = seen
		}
		p.engine = old.engine
	} else {
		opt := edge.CounterOptions{MaxCounters: s.opt.MaxCounters}
		if s.opt.CounterDir != "" {
			if err := os.MkdirAll(s.opt.CounterDir, 0o700); err != nil {
				return err
			}
			opt.Journal = filepath.Join(s.opt.CounterDir, id+".journal")
		}
		if s.redis != nil {
			// The users other replicas took to a cap are withheld from the first answer on.
			rc := s.redis.Counter(id)
			rc.SetLocation(cfg.Location)
			if err := rc.Reload(ctx); err != nil {
				s.opt.Logger.Warn("edge: capped users not read from redis before serving", "publisher", id, "err", err)
			}
			p.counters = rc
		} else if p.counters, err = edge.OpenCounters(opt, s.opt.Now(), cfg.Location); err != nil {
			return fmt.Errorf("edge: counters of publisher %s: %w", id, err)
		}
		dopt := edge.DeliveryOptions{MaxUsers: s.opt.MaxDeliveryUsers}
		if s.opt.CounterDir != "" {
			dopt.Journal = filepath.Join(s.opt.CounterDir, id+".delivery")
		}
		if p.delivery, err = edge.OpenDelivery(dopt); err != nil {
			p.counters.Close()
			return fmt.Errorf("edge: delivery of publisher %s: %w", id, err)
		}
		p.engine = edge.NewEngine(s.hasher, p.counters)
		p.engine.SetDelivery(p.delivery)
		p.seen, p.activeDay, p.stored, p.finalized = edge.NewLastSeen(edge.LastSeenSlots(snap.Users(), s.opt.MaxLastSeen)), &atomic.Int32{}, &storedDays{}, &atomic.Int32{}
		// The users seen before a restart still count.
		if day, err := s.restoreActive(ctx, id, p.seen); err != nil {
			s.opt.Logger.Warn("edge active users not restored", "publisher", id, "err", err)
		} else {
			p.activeDay.Store(day)
		}
	}
	if err := p.engine.Swap(snap, cfg); err != nil {
		return err
	}
	if rc, ok := p.counters.(*edgeredis.Counter); ok {
		rc.SetLocation(cfg.Location)
	}
	p.empty = edge.AppendAnswer(nil, &p.format, nil)
	p.tag = renderTag(id, m, s.opt.TagTimeout)
	ptr, _ := s.pubs.LoadOrStore(id, &atomic.Pointer[publisher]{})
	ptr.(*atomic.Pointer[publisher]).Store(p)
	s.opt.Logger.Info("edge snapshot loaded", "publisher", id, "users", snap.Users(), "codes", len(snap.Codes()), "caps", len(m.Caps), "digest", m.Digest)
	return nil
}

// Run loads the manifests every interval until ctx ends (Close then closes the counters).
func (s *Server) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	var expired time.Time // counters of ended windows are dropped once a minute
	for {
		if err := s.Load(ctx); err != nil && ctx.Err() == nil {
			s.opt.Logger.Warn("edge load failed", "err", err)
		}
		if time.Since(expired) >= time.Minute {
			s.expire()
			if err := s.StoreDelivery(ctx); err != nil && ctx.Err() == nil {
				s.opt.Logger.Warn("edge delivery store failed", "err", err)
			}
			expired = time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// expire drops the counters of ended windows.
func (s *Server) expire() {
	s.pubs.Range(func(_, v any) bool {
		if p := v.(*atomic.Pointer[publisher]).Load(); p != nil {
			p.counters.Expire(s.opt.Now(), p.loc)
		}
		return true
	})
}

// StoreDelivery stores, for every publisher, this replica's delivery days (its records of each
// day held, sealed, beside the other replicas': package delivery merges them) and then forgets
// the days that can no longer change (older than edge.DeliveryLateDays), so the edge holds at
// most two days. Once a day it stores its active users (the user hashes seen in the last 30
// days, per served code, sealed) the same way.
func (s *Server) StoreDelivery(ctx context.Context) error {
	var errs []error
	s.pubs.Range(func(k, v any) bool {
		p := v.(*atomic.Pointer[publisher]).Load()
		if p == nil {
			return true
		}
		id := k.(string)
		now := s.opt.Now()
		ok := true
		today := edge.DayOf(now, p.loc)
		for _, day := range p.delivery.Days() {
			if day < today-edge.DeliveryLateDays {
				continue // ended before this replica could store it (it was down): forgotten below
			}
			recs := p.delivery.DayRecords(day)
			sum := sha256.Sum256(recs)
			if p.stored.get(day) == sum {
				continue
			}
			ds := edge.DayString(day)
			if err := s.storeReplicaFile(ctx, id, activation.ReplicaDeliveryKey(id, s.opt.EdgeID, ds), "delivery-"+ds,
				&activation.ReplicaFile{Day: ds, UpdatedAt: now}, edge.RecordsWriter(recs)); err != nil {
				errs = append(errs, fmt.Errorf("edge: delivery of publisher %s: %w", id, err))
				ok = false
				continue
			}
			p.stored.set(day, sum)
		}
		if ok {
			errs = append(errs, p.delivery.Forget(today-edge.DeliveryLateDays))
		}
		// Days no replica stores any more (forgotten everywhere a day ago) become counts only.
		if p.finalized.Load() != today {
			if err := activation.FinalizeReplicaDays(ctx, s.opt.Versions, p.manifest, edge.DayString(today-edge.DeliveryLateDays-1)); err != nil {
				errs = append(errs, fmt.Errorf("edge: delivery of publisher %s: %w", id, err))
			} else {
				p.finalized.Store(today)
			}
		}
		// The active users, once a day (so that a report's question stays the same all day).
		if p.activeDay.Load() != today {
			if err := s.storeActive(ctx, id, p, today); err != nil {
				errs = append(errs, fmt.Errorf("edge: active users of publisher %s: %w", id, err))
			} else {
				p.activeDay.Store(today)
			}
		}
		return true
	})
	return errors.Join(errs...)
}

// storeReplicaFile seals a file of this replica through the version store (a fresh data key
// wrapped by the master key), points pointer at it, then deletes the file it replaced.
func (s *Server) storeReplicaFile(ctx context.Context, publisherID, pointer, name string, f *activation.ReplicaFile, w versions.Writer) error {
	old, err := activation.ReadReplicaFile(ctx, s.opt.Versions.Blobs, pointer)
	if err != nil {
		return err
	}
	file, err := s.opt.Versions.PutFile(ctx, versions.EdgeOwner(publisherID),
		fmt.Sprintf("%s/%s-%d", s.opt.EdgeID, name, s.opt.Now().UnixNano()), w)
	if err != nil {
		return err
	}
	f.EdgeID, f.Key, f.WrappedKey = s.opt.EdgeID, file.Key, file.WrappedKey
	if err := activation.WriteReplicaFile(ctx, s.opt.Versions.Blobs, pointer, f); err != nil {
		s.opt.Versions.DeleteFile(context.WithoutCancel(ctx), file)
		return err
	}
	if old != nil && old.Key != file.Key {
		s.opt.Versions.DeleteFile(ctx, versions.File{Key: old.Key})
	}
	return nil
}

// storedDays remembers the digest of the records last stored per day, so that an unchanged day
// is not stored again.
type storedDays struct {
	mu sync.Mutex
	m  map[int32][32]byte
}

func (d *storedDays) get(day int32) [32]byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.m[day]
}

func (d *storedDays) set(day int32, sum [32]byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		d.m = map[int32][32]byte{}
	}
	for k := range d.m {
		if k < day-edge.DeliveryLateDays-1 {
			delete(d.m, k)
		}
	}
	d.m[day] = sum
}

// Close writes and closes the counters' and delivery journals (and adds to Redis what waits).
func (s *Server) Close() error {
	var errs []error
	s.pubs.Range(func(_, v any) bool {
		if p := v.(*atomic.Pointer[publisher]).Load(); p != nil {
			errs = append(errs, p.counters.Close(), p.delivery.Close())
		}
		return true
	})
	if s.redis != nil {
		errs = append(errs, s.redis.Close())
	}
	return errors.Join(errs...)
}

// Redis returns the Redis client of the counters, nil without one.
func (s *Server) Redis() *edgeredis.Client { return s.redis }

// Options returns the options the server runs with (their defaults filled in).
func (s *Server) Options() Options { return s.opt }

// cors sets the CORS headers when the request's origin is one the publisher lists, and reports
// whether a cross-origin request is allowed. Credentials are never allowed.
func cors(w http.ResponseWriter, r *http.Request, p *publisher) bool {
	h := w.Header()
	h["Vary"] = varyOrigin
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	if p == nil || !slices.Contains(p.origins, strings.ToLower(o)) {
		return false
	}
	h.Set("Access-Control-Allow-Origin", o)
	return true
}

func (s *Server) preflight(w http.ResponseWriter, r *http.Request) {
	p := s.get(r.PathValue("publisher"))
	if !cors(w, r, p) {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", "GET, POST")
	h.Set("Access-Control-Allow-Headers", "Content-Type")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

// uidOf returns the uid query parameter without building the whole query map.
func uidOf(raw string) string {
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		if v, ok := strings.CutPrefix(kv, "uid="); ok {
			if strings.ContainsAny(v, "%+") {
				v, _ = url.QueryUnescape(v)
			}
			return v
		}
	}
	return ""
}

func (s *Server) targeting(w http.ResponseWriter, r *http.Request) {
	p := s.get(r.PathValue("publisher"))
	if p == nil {
		fail(w, http.StatusNotFound, "This publisher has no edge configuration.")
		return
	}
	if !cors(w, r, p) {
		fail(w, http.StatusForbidden, "This page's origin is not listed in the publisher's ad-server settings.")
		return
	}
	h := w.Header()
	h["Content-Type"], h["Cache-Control"] = contentJSON, s.cacheControl
	bp := s.bufs.Get().(*[]byte)
	b := s.answer((*bp)[:0], p, uidOf(r.URL.RawQuery))
	w.Write(b)
	*bp = b
	s.bufs.Put(bp)
}

// answer appends to dst the targeting answer of a user ID for publisher p, once the route and
// the origin are checked: the user's codes less the capped ones, the empty answer for no or an
// over-long ID. It records the user's last-seen day and counts the lookup. Both serving paths
// (ServeHTTP and the HTTPServer's own loop) answer through it.
func (s *Server) answer(dst []byte, p *publisher, uid string) []byte {
	s.Lookups.Add(1)
	if uid == "" || len(uid) > edge.MaxUserIDLength {
		return append(dst, p.empty...)
	}
	var codes [16]uint32
	now := s.opt.Now()
	uh := p.engine.Hash(uid)
	cs := p.engine.Decide(uh, now, codes[:0])
	p.seen.Touch(uh, edge.DayOf(now, p.loc))
	return edge.AppendAnswer(dst, &p.format, cs)
}

func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("publisher")
	p := s.get(id)
	if p == nil {
		fail(w, http.StatusNotFound, "This publisher has no edge configuration.")
		return
	}
	if !cors(w, r, p) {
		fail(w, http.StatusForbidden, "This page's origin is not listed in the publisher's ad-server settings.")
		return
	}
	addr := r.RemoteAddr
	if s.opt.ClientAddr != nil {
		addr = s.opt.ClientAddr(r)
	} else if host, _, err := net.SplitHostPort(addr); err == nil {
		addr = host
	}
	if ok, after := s.limiter.Allow(id + " " + clientBucket(addr)); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(after/time.Second)+1))
		fail(w, http.StatusTooManyRequests, "Too many event batches from this client; send fewer, larger batches.")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, edge.MaxBatchBytes))
	if err != nil {
		fail(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("An event batch is at most %d bytes.", edge.MaxBatchBytes))
		return
	}
	now := s.opt.Now()
	b, err := edge.DecodeBatch(body, now)
	if err != nil {
		fail(w, http.StatusBadRequest, cleanroom.ErrorText(err))
		return
	}
	rec, err := p.engine.Record(b, now)
	if err != nil {
		s.opt.Logger.Error("edge events: journal write failed", "publisher", id, "err", err)
		fail(w, http.StatusServiceUnavailable, "The impressions could not be recorded; send them again.")
		return
	}
	s.Events.Add(int64(len(b.Events)))
	s.opt.Logger.Debug("edge events", "publisher", id, "events", len(b.Events), "counted", rec.Counted, "unknown", rec.Unknown)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) tagJS(w http.ResponseWriter, r *http.Request) {
	p := s.get(r.PathValue("publisher"))
	if p == nil {
		fail(w, http.StatusNotFound, "This publisher has no edge configuration.")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=300")
	w.Write(p.tag)
}

// fail writes an error in the API's shape.
func fail(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]map[string]string{"error": {"message": msg}})
	w.Write(b)
}

// CheckEdgeID checks a replica's ID: 1 to 64 letters, digits, '.', '-' or '_'.
func CheckEdgeID(id string) error {
	ok := len(id) > 0 && len(id) <= 64
	for i := 0; ok && i < len(id); i++ {
		c := id[i]
		ok = c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_' || c == '.'
	}
	if !ok || id == "." || id == ".." {
		return fmt.Errorf("--edge-id %q: use 1 to 64 letters, digits, '.', '-' or '_'", id)
	}
	return nil
}

// clientBucket is the rate limit's key of a client address: an IPv6 client is limited by its /64,
// the block one subscriber usually holds whole, so rotating addresses within it gains nothing.
func clientBucket(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil || !a.Is6() || a.Is4In6() {
		return addr
	}
	p, err := a.WithZone("").Prefix(64)
	if err != nil {
		return addr
	}
	return p.String()
}
