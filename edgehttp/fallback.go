package edgehttp

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// fallback reads the request at the start of the buffer with http.ReadRequest, checks it as
// net/http's server does, serves it with the Fallback handler through a respWriter, and
// appends the answer to the connection's output. head is the request's head when it fitted
// the buffer (nil otherwise). It reports whether the connection may serve another request.
func (c *conn) fallback(head []byte) (keep bool) {
	c.now = time.Now()
	c.readBy(c.now, c.h.opt.ReadHeaderTimeout)
	c.lr.n = int64(c.h.opt.MaxHeaderBytes)
	req, err := http.ReadRequest(c.br)
	c.now = time.Now()
	tooLarge := c.lr.n == 0
	c.lr.n = -1
	if err != nil {
		switch {
		case tooLarge:
			c.plain(http.StatusRequestHeaderFieldsTooLarge, "")
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isTimeout(err):
		case strings.HasPrefix(err.Error(), "unsupported transfer encoding") || strings.HasPrefix(err.Error(), "too many transfer encodings"):
			// As net/http: 501, without echoing the encoding.
			c.out = append(c.out, "HTTP/1.1 501 Not Implemented\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\nUnsupported transfer encoding"...)
		default:
			c.plain(http.StatusBadRequest, "")
		}
		return false
	}
	if req.ProtoMajor != 1 {
		c.plain(http.StatusHTTPVersionNotSupported, "unsupported protocol version")
		return false
	}
	if reason := invalidRequest(req, head); reason != "" {
		c.plain(http.StatusBadRequest, reason)
		return false
	}
	if ex := req.Header.Get("Expect"); ex != "" {
		if !strings.EqualFold(ex, "100-continue") {
			c.out = append(c.out, "HTTP/1.1 417 Expectation Failed\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"...)
			return false
		}
		if req.ProtoAtLeast(1, 1) && req.ContentLength != 0 {
			c.out = append(c.out, "HTTP/1.1 100 Continue\r\n\r\n"...)
			if c.flush() != nil {
				return false
			}
		}
		req.Header.Del("Expect")
	}
	if req.ContentLength != 0 {
		c.now = time.Now()
		c.readBy(c.now, c.h.opt.BodyTimeout)
	}
	req.RemoteAddr = c.remote
	w := &c.rw
	w.reset()
	panicked := true
	func() {
		defer func() {
			if v := recover(); v != nil && v != http.ErrAbortHandler {
				c.h.opt.Logger.Error("edge handler panic", "panic", fmt.Sprint(v))
			}
		}()
		c.h.opt.Fallback.ServeHTTP(w, req)
		panicked = false
	}()
	if panicked {
		return false
	}
	keep = !req.Close && req.ProtoAtLeast(1, 1)
	if req.Body != nil && req.Body != http.NoBody {
		// What the handler left of the body is read and dropped (a little of it: beyond that
		// the connection closes), as net/http does.
		if _, err := io.CopyN(io.Discard, req.Body, maxDrain); !errors.Is(err, io.EOF) {
			keep = false
		}
	}
	c.now = time.Now()
	c.out = w.appendTo(c.out, req, keep)
	return keep && !hasToken(w.sent.Get("Connection"), "close")
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// plain appends net/http's answer to a request it cannot serve: the status in text, and the
// connection closed.
func (c *conn) plain(status int, reason string) {
	text := http.StatusText(status)
	if reason != "" {
		reason = ": " + reason
	}
	c.out = fmt.Appendf(c.out, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n%d %s%s",
		status, text, status, text, reason)
}

// invalidRequest checks what net/http's server checks after reading a request, and returns
// what it says is wrong ("" when nothing is): one valid Host header in HTTP/1.1 (counted in the
// head when it fitted the buffer; http.ReadRequest keeps only the first) and header names and
// values without control characters.
func invalidRequest(req *http.Request, head []byte) string {
	hosts := 0
	if head != nil {
		for line := range strings.SplitSeq(string(head), "\n") {
			if len(line) >= 5 && strings.EqualFold(line[:5], "host:") {
				hosts++
			}
		}
	} else if req.Host != "" {
		hosts = 1
	}
	if req.ProtoAtLeast(1, 1) && hosts == 0 && req.URL.Host == "" && req.Method != http.MethodConnect {
		return "missing required Host header"
	}
	if hosts > 1 {
		return "too many Host headers"
	}
	for _, b := range []byte(req.Host) {
		if !isHostByte(b) && !strings.ContainsRune("!$%&'()*+,;=~", rune(b)) {
			return "malformed Host header"
		}
	}
	for k, vs := range req.Header {
		for _, b := range []byte(k) {
			if !isTokenByte(b) {
				return "invalid header name"
			}
		}
		for _, v := range vs {
			for _, b := range []byte(v) {
				if b < ' ' && b != '\t' || b == 0x7f {
					return "invalid header value"
				}
			}
		}
	}
	return ""
}

// hasToken reports whether the comma-separated header value v has token t (any case).
func hasToken(v, t string) bool {
	for s := range strings.SplitSeq(v, ",") {
		if strings.EqualFold(strings.TrimSpace(s), t) {
			return true
		}
	}
	return false
}

// respWriter is the http.ResponseWriter of a fallback request: it keeps the answer whole (an
// edge answer is small; at most maxFallback bytes) and writes it as net/http would.
type respWriter struct {
	h      http.Header
	sent   http.Header // the header as of WriteHeader
	status int
	body   []byte
}

func (w *respWriter) reset() {
	if cap(w.body) > keepBuf {
		w.body = nil
	}
	w.h, w.sent, w.status, w.body = http.Header{}, nil, 0, w.body[:0]
}

func (w *respWriter) Header() http.Header { return w.h }

// WriteHeader records the status and the header as they are now (later changes are not sent,
// as with net/http). Informational statuses are not sent.
func (w *respWriter) WriteHeader(status int) {
	if status < 100 || status > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", status))
	}
	if w.status != 0 || status < 200 {
		return
	}
	w.status, w.sent = status, w.h.Clone()
}

func (w *respWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if len(w.body)+len(p) > maxFallback {
		return 0, errors.New("edgehttp: answer too large")
	}
	w.body = append(w.body, p...)
	return len(p), nil
}

func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// appendTo appends the answer to dst: status line, the handler's headers in sorted order, the
// Content-Type sniffed when the handler set none, Connection, Date, Content-Length, and the
// body unless the request is HEAD.
func (w *respWriter) appendTo(dst []byte, req *http.Request, keep bool) []byte {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	h := w.sent
	proto := "HTTP/1.1"
	if !req.ProtoAtLeast(1, 1) {
		proto = "HTTP/1.0"
	}
	text := http.StatusText(w.status)
	if text == "" {
		text = "status code " + strconv.Itoa(w.status)
	}
	dst = fmt.Appendf(dst, "%s %03d %s\r\n", proto, w.status, text)
	ok := bodyAllowed(w.status)
	if _, typed := h["Content-Type"]; ok && !typed && len(w.body) > 0 {
		h.Set("Content-Type", http.DetectContentType(w.body))
	}
	if !keep && req.ProtoAtLeast(1, 1) && !hasToken(h.Get("Connection"), "close") {
		h.Set("Connection", "close")
	}
	if _, dated := h["Date"]; !dated {
		h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	}
	if _, sized := h["Content-Length"]; ok && !sized {
		h.Set("Content-Length", strconv.Itoa(len(w.body)))
	}
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	clean := strings.NewReplacer("\r", " ", "\n", " ")
	for _, k := range keys {
		for _, v := range h[k] {
			dst = append(dst, k...)
			dst = append(dst, ": "...)
			dst = append(dst, strings.TrimSpace(clean.Replace(v))...)
			dst = append(dst, "\r\n"...)
		}
	}
	dst = append(dst, "\r\n"...)
	if ok && req.Method != http.MethodHead {
		dst = append(dst, w.body...)
	}
	return dst
}
