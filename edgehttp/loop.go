package edgehttp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// HTTPServer serves the edge on a listener of its own with a dedicated HTTP/1.1 keep-alive
// loop: the targeting route (GET /edge/v1/{publisher}/targeting, a listed or no origin, a loaded
// publisher) is parsed from the connection's buffer and answered from the engine with preset
// headers, without allocating per request; every other request (events, tag.js, preflights,
// HEAD, errors, health checks, anything unusual) is read with http.ReadRequest and handed to
// the Fallback handler, so it is answered as net/http answers it. Requests on one connection,
// pipelined or not, are answered in order.
//
// Limits: a request's head is at most MaxHeaderBytes (431 and close beyond); it must arrive
// within ReadHeaderTimeout, a body within BodyTimeout; an idle connection is closed after
// IdleTimeout; a response that the client does not read within WriteTimeout closes the
// connection; a malformed request gets 400 and the connection closed.
type HTTPServer struct {
	edge *Server
	opt  LoopOptions

	mu       sync.Mutex
	ln       net.Listener
	conns    map[*conn]struct{}
	shutting atomic.Bool
}

// LoopOptions configures an HTTPServer.
type LoopOptions struct {
	// Fallback answers the requests the loop does not answer itself (nil: the edge's ServeHTTP).
	// It must answer the targeting route as the edge does (mount the edge under /edge/).
	Fallback http.Handler
	// ReadHeaderTimeout bounds the arrival of a request's head (default 10 s), BodyTimeout the
	// reading of its body (default 10 s), WriteTimeout the sending of an answer (default 10 s),
	// IdleTimeout the wait for the next request on a kept-alive connection (default 2 min).
	ReadHeaderTimeout, BodyTimeout, WriteTimeout, IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's head (default 64 KiB; the targeting route's fast path
	// takes heads of up to 4 KiB, longer ones go the fallback way).
	MaxHeaderBytes int
	// Logger gets the handler panics (default the edge's).
	Logger *slog.Logger
}

// NewHTTPServer returns the edge's own HTTP server over s.
func (s *Server) NewHTTPServer(opt LoopOptions) *HTTPServer {
	if opt.Fallback == nil {
		opt.Fallback = s
	}
	for _, d := range []*time.Duration{&opt.ReadHeaderTimeout, &opt.BodyTimeout, &opt.WriteTimeout} {
		if *d <= 0 {
			*d = 10 * time.Second
		}
	}
	if opt.IdleTimeout <= 0 {
		opt.IdleTimeout = 2 * time.Minute
	}
	if opt.MaxHeaderBytes <= 0 {
		opt.MaxHeaderBytes = 64 << 10
	}
	if opt.Logger == nil {
		opt.Logger = s.opt.Logger
	}
	return &HTTPServer{edge: s, opt: opt, conns: map[*conn]struct{}{}}
}

// Serve accepts connections on ln until Shutdown, then returns http.ErrServerClosed.
func (h *HTTPServer) Serve(ln net.Listener) error {
	h.mu.Lock()
	if h.shutting.Load() {
		h.mu.Unlock()
		ln.Close()
		return http.ErrServerClosed
	}
	h.ln = ln
	h.mu.Unlock()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if h.shutting.Load() {
				return http.ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Too many open files and the like: wait and try again, as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			time.Sleep(delay)
			continue
		}
		delay = 0
		c := h.newConn(nc)
		h.mu.Lock()
		if h.shutting.Load() {
			h.mu.Unlock()
			nc.Close()
			continue
		}
		h.conns[c] = struct{}{}
		h.mu.Unlock()
		go c.serve()
	}
}

// Shutdown stops accepting, closes idle connections, lets the requests in progress finish and
// then closes their connections; when ctx ends first, it closes every connection and returns
// ctx's error.
func (h *HTTPServer) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	h.shutting.Store(true)
	if h.ln != nil {
		h.ln.Close()
	}
	h.mu.Unlock()
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		h.mu.Lock()
		n := len(h.conns)
		for c := range h.conns {
			if c.idle.Load() {
				c.nc.SetReadDeadline(time.Unix(1, 0)) // wakes the read; the loop sees shutting
			}
		}
		h.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			h.mu.Lock()
			for c := range h.conns {
				c.nc.Close()
			}
			h.mu.Unlock()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Buffer sizes of a connection. The read buffer bounds the heads the fast path takes.
const (
	readBufSize  = 4 << 10
	flushAt      = 16 << 10 // pending pipelined answers are written at this size
	maxDrain     = 256 << 10
	maxFallback  = 1 << 20  // the largest answer of a fallback handler
	keepBuf      = 64 << 10 // larger buffers are dropped after use
	maxPublisher = 64
)

// conn is one client connection and its buffers, reused for all of its requests.
type conn struct {
	h      *HTTPServer
	nc     net.Conn
	lr     limitReader
	br     *bufio.Reader
	out    []byte // answers not yet written
	body   []byte // the answer being built
	uid    []byte // an unescaped user ID
	date   []byte
	second int64
	remote string
	idle   atomic.Bool
	// rdl and wdl are the read and write deadlines set last; now is the time the last request
	// was read or answered (the deadlines that follow a request are reckoned from it, rather
	// than reading the clock again).
	rdl, wdl, now time.Time
	// pubID and pub cache the publisher of the connection's last targeting request (a page
	// asks for one publisher).
	pubID []byte
	pub   *atomic.Pointer[publisher]
	rw    respWriter
}

func (h *HTTPServer) newConn(nc net.Conn) *conn {
	c := &conn{h: h, nc: nc, out: make([]byte, 0, 4<<10), body: make([]byte, 0, 1<<10), date: make([]byte, 0, 32),
		remote: nc.RemoteAddr().String(), pubID: make([]byte, 0, maxPublisher), now: time.Now()}
	c.lr = limitReader{r: nc, n: -1}
	c.br = bufio.NewReaderSize(&c.lr, readBufSize)
	return c
}

// limitReader reads from r at most n bytes (no limit when n < 0), to bound a fallback
// request's head.
type limitReader struct {
	r io.Reader
	n int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n == 0 {
		return 0, errHeadTooLarge
	}
	if l.n > 0 && int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	if l.n > 0 {
		l.n -= int64(n)
	}
	return n, err
}

var errHeadTooLarge = errors.New("edgehttp: request head too large")

// readBy makes the read deadline about now+d: it is moved only when it is off by more than
// d/16, so a busy connection does not reset its timer on every request.
func (c *conn) readBy(now time.Time, d time.Duration) {
	want := now.Add(d)
	if c.rdl.After(want) || c.rdl.Before(want.Add(-d/16)) {
		c.rdl = want
		c.nc.SetReadDeadline(want)
	}
}

func (c *conn) writeBy(now time.Time, d time.Duration) {
	want := now.Add(d)
	if c.wdl.After(want) || c.wdl.Before(want.Add(-d/16)) {
		c.wdl = want
		c.nc.SetWriteDeadline(want)
	}
}

// flush writes the pending answers.
func (c *conn) flush() error {
	if len(c.out) == 0 {
		return nil
	}
	c.writeBy(c.now, c.h.opt.WriteTimeout)
	_, err := c.nc.Write(c.out)
	c.out = c.out[:0]
	if cap(c.out) > keepBuf {
		c.out = make([]byte, 0, 4<<10) // a large fallback answer: not kept for the connection's life
	}
	return err
}

func (c *conn) serve() {
	defer func() {
		c.h.mu.Lock()
		delete(c.h.conns, c)
		c.h.mu.Unlock()
	}()
	defer c.nc.Close()
	for {
		if c.br.Buffered() == 0 {
			if c.flush() != nil {
				return
			}
			c.idle.Store(true)
			if c.h.shutting.Load() {
				return
			}
			c.readBy(c.now, c.h.opt.IdleTimeout)
			_, err := c.br.Peek(1)
			c.idle.Store(false)
			if err != nil {
				return
			}
		}
		head, err := c.head()
		if err != nil {
			return // a reset, or too slow a head: dropped without an answer, as net/http does
		}
		keep, fast := c.fast(head)
		if !fast {
			keep = c.fallback(head)
			if c.flush() != nil {
				return
			}
		} else {
			c.br.Discard(len(head))
			if len(c.out) >= flushAt && c.flush() != nil {
				return
			}
		}
		if !keep || c.h.shutting.Load() {
			c.flush()
			c.closeGently()
			return
		}
	}
}

// closeGently closes the connection after the answers written: it shuts the write side and
// reads what the client still sends for a moment, so that closing with unread input does not
// reset the connection before the client has read the last answer.
func (c *conn) closeGently() {
	if tc, ok := c.nc.(interface{ CloseWrite() error }); ok {
		tc.CloseWrite()
		c.nc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		io.CopyN(io.Discard, c.nc, maxDrain)
	}
}

// head returns the request head at the start of the buffer, through its empty line, without
// consuming it, or nil when the head does not fit the buffer (the fallback way then reads it).
func (c *conn) head() ([]byte, error) {
	scanned := 0
	waited := false
	for {
		buf, _ := c.br.Peek(c.br.Buffered())
		if i := headEnd(buf, scanned); i > 0 {
			return buf[:i], nil
		}
		scanned = max(len(buf)-3, 0)
		if len(buf) >= c.br.Size() {
			return nil, nil
		}
		if !waited {
			c.readBy(time.Now(), c.h.opt.ReadHeaderTimeout)
			waited = true
		}
		if _, err := c.br.Peek(len(buf) + 1); err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				return nil, nil
			}
			return nil, err
		}
	}
}

// headEnd returns the length of the head in b (through "\n\r\n" or "\n\n"), 0 when b has no
// empty line after from.
func headEnd(b []byte, from int) int {
	for {
		i := bytes.IndexByte(b[from:], '\n')
		if i < 0 {
			return 0
		}
		i += from
		if i+1 < len(b) && b[i+1] == '\n' {
			return i + 2
		}
		if i+2 < len(b) && b[i+1] == '\r' && b[i+2] == '\n' {
			return i + 3
		}
		from = i + 1
	}
}

// request is what the fast path reads from a head.
type request struct {
	publisher, query, origin []byte
	close                    bool
}

// parseHead parses a head of the targeting route that the fast path answers: "GET
// /edge/v1/{publisher}/targeting[?query] HTTP/1.1", CRLF line ends, one Host, at most one
// Origin, no body, no Expect or Upgrade, only printable ASCII in the target and in the values
// it reads. ok is false for anything else: the fallback way answers those, as net/http does.
func parseHead(head []byte) (r request, ok bool) {
	line, rest, found := bytes.Cut(head, crlf)
	if !found {
		return r, false
	}
	target, ok := bytes.CutPrefix(line, []byte("GET /edge/v1/"))
	if !ok {
		return r, false
	}
	target, ok = bytes.CutSuffix(target, []byte(" HTTP/1.1"))
	if !ok {
		return r, false
	}
	for _, b := range target {
		if b <= ' ' || b >= 0x7f || b == '#' {
			return r, false
		}
	}
	i := 0
	for i < len(target) && i <= maxPublisher && isIDByte(target[i]) {
		i++
	}
	if i == 0 || i > maxPublisher {
		return r, false
	}
	r.publisher = target[:i]
	path := target[i:]
	if j := bytes.IndexByte(path, '?'); j >= 0 {
		path, r.query = path[:j], path[j+1:]
	}
	if string(path) != "/targeting" {
		return r, false
	}
	hosts, origins := 0, 0
	for len(rest) > 0 {
		line, rest, found = bytes.Cut(rest, crlf)
		if !found {
			return r, false
		}
		if len(line) == 0 {
			return r, len(rest) == 0 && hosts == 1 && origins <= 1
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return r, false
		}
		name, value := line[:colon], bytes.Trim(line[colon+1:], " \t")
		for _, b := range name {
			if !isTokenByte(b) {
				return r, false
			}
		}
		for _, b := range value {
			if b < ' ' && b != '\t' || b >= 0x7f {
				return r, false
			}
		}
		switch {
		case equalFold(name, "host"):
			hosts++
			for _, b := range value {
				if !isHostByte(b) {
					return r, false
				}
			}
		case equalFold(name, "origin"):
			origins++
			r.origin = value
		case equalFold(name, "connection"):
			for t := range bytes.SplitSeq(value, []byte(",")) {
				switch t = bytes.Trim(t, " \t"); {
				case equalFold(t, "close"):
					r.close = true
				case equalFold(t, "keep-alive"), len(t) == 0:
				default:
					return r, false
				}
			}
		case equalFold(name, "content-length"), equalFold(name, "transfer-encoding"), equalFold(name, "expect"),
			equalFold(name, "upgrade"):
			return r, false
		}
	}
	return r, false
}

var crlf = []byte("\r\n")

func isIDByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_'
}

// isTokenByte reports whether b may stand in a header name (RFC 9110 tchar).
func isTokenByte(b byte) bool {
	return isIDByte(b) || strings.IndexByte("!#$%&'*+.^`|~", b) >= 0
}

func isHostByte(b byte) bool {
	return isIDByte(b) || b == '.' || b == ':' || b == '[' || b == ']'
}

// equalFold reports whether b equals the lower-case ASCII s, ignoring case (for the origin
// check too: a listed origin is lower-case, and b is ASCII).
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// fast answers a head of the targeting route without allocating, or reports fast false (the
// request is left in the buffer for the fallback way): a route or head parseHead does not
// take, a publisher without a snapshot (404) or an origin it does not list (403).
func (c *conn) fast(head []byte) (keep, fast bool) {
	if head == nil {
		return false, false
	}
	r, ok := parseHead(head)
	if !ok {
		return false, false
	}
	ptr := c.pub
	if ptr == nil || !bytes.Equal(c.pubID, r.publisher) {
		v, found := c.h.edge.pubs.Load(string(r.publisher))
		if !found {
			return false, false
		}
		ptr = v.(*atomic.Pointer[publisher])
		c.pub, c.pubID = ptr, append(c.pubID[:0], r.publisher...)
	}
	p := ptr.Load()
	if p == nil {
		return false, false
	}
	if len(r.origin) > 0 && !slices.ContainsFunc(p.origins, func(o string) bool { return equalFold(r.origin, o) }) {
		return false, false
	}
	uid := c.uidOf(r.query)
	// The user ID's bytes are read by the hash only, while the buffer holds them.
	c.body = c.h.edge.answer(c.body[:0], p, unsafe.String(unsafe.SliceData(uid), len(uid)))
	now := time.Now()
	c.now = now
	if s := now.Unix(); s != c.second {
		c.second, c.date = s, now.UTC().AppendFormat(c.date[:0], http.TimeFormat)
	}
	o := append(c.out, "HTTP/1.1 200 OK\r\n"...)
	if len(r.origin) > 0 {
		o = append(o, "Access-Control-Allow-Origin: "...)
		o = append(o, r.origin...)
		o = append(o, "\r\n"...)
	}
	o = append(o, "Cache-Control: "...)
	o = append(o, c.h.edge.cacheControl[0]...)
	o = append(o, "\r\nContent-Type: application/json\r\nVary: Origin\r\nX-Content-Type-Options: nosniff\r\n"...)
	if r.close {
		o = append(o, "Connection: close\r\n"...)
	}
	o = append(o, "Date: "...)
	o = append(o, c.date...)
	o = append(o, "\r\nContent-Length: "...)
	o = strconv.AppendInt(o, int64(len(c.body)), 10)
	o = append(o, "\r\n\r\n"...)
	c.out = append(o, c.body...)
	return !r.close, true
}

// uidOf is the package's uidOf over a raw query's bytes: the first uid parameter, unescaped
// as url.QueryUnescape does (nil when its escapes are not valid).
func (c *conn) uidOf(q []byte) []byte {
	for len(q) > 0 {
		var kv []byte
		kv, q, _ = bytes.Cut(q, []byte("&"))
		v, found := bytes.CutPrefix(kv, []byte("uid="))
		if !found {
			continue
		}
		if bytes.IndexByte(v, '%') < 0 && bytes.IndexByte(v, '+') < 0 {
			return v
		}
		return c.unescape(v)
	}
	return nil
}

// unescape is url.QueryUnescape into the connection's buffer: nil when an escape is not
// valid.
func (c *conn) unescape(v []byte) []byte {
	u := c.uid[:0]
	for i := 0; i < len(v); i++ {
		switch b := v[i]; b {
		case '+':
			u = append(u, ' ')
		case '%':
			if i+2 >= len(v) || unhex(v[i+1]) < 0 || unhex(v[i+2]) < 0 {
				c.uid = u
				return nil
			}
			u = append(u, byte(unhex(v[i+1])<<4|unhex(v[i+2])))
			i += 2
		default:
			u = append(u, b)
		}
	}
	c.uid = u
	return u
}

func unhex(b byte) int {
	switch {
	case b >= '0' && b <= '9':
		return int(b - '0')
	case b >= 'a' && b <= 'f':
		return int(b - 'a' + 10)
	case b >= 'A' && b <= 'F':
		return int(b - 'A' + 10)
	}
	return -1
}
