package imports

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// The bucket's server is the tenant's to choose, so what it answers is bounded as it is read
// (boundedTransport): a response other than an object's contents (a listing, an error) is at
// most limits.maxMeta bytes; a read that waits limits.idle without a byte ends the response; and
// over each limits.window of time spent waiting for bytes at least limits.minRate bytes per second
// must arrive. A server that sends an endless listing or trickles an object in then fails the
// run with an error saying so, instead of holding a worker's memory or time.

// maxKeyBytes is the longest object key S3 lists.
const maxKeyBytes = 1024

// unbounded reports whether err is a response ended by the bounds.
func unbounded(err error) bool {
	return errors.Is(err, errResponseTooLarge) || errors.Is(err, errResponseStalled) || errors.Is(err, errResponseTooSlow)
}

// bodyLimits are the bounds of the bucket server's responses.
type bodyLimits struct {
	maxMeta      int64
	idle, window time.Duration
	minRate      int64 // bytes per second
}

// limits are the bounds in force (tests lower them).
var limits = bodyLimits{maxMeta: 16 << 20, idle: time.Minute, window: time.Minute, minRate: 64 << 10}

var (
	errResponseTooLarge = errors.New("imports: the bucket's server sent a listing or error response larger than allowed")
	errResponseStalled  = errors.New("imports: the bucket's server stopped sending")
	errResponseTooSlow  = errors.New("imports: the bucket's server sent too slowly")
)

// roundTripper returns the S3 client's transport: the policy's (transport) with each response's
// body bounded.
func (p Policy) roundTripper() http.RoundTripper {
	return boundedTransport{p.transport()}
}

type boundedTransport struct{ rt http.RoundTripper }

func (b boundedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := b.rt.RoundTrip(req)
	if err != nil || res.Body == nil {
		return res, err
	}
	g := &boundedBody{rc: res.Body, left: -1, lim: limits}
	if !objectRead(req) || res.StatusCode >= 300 {
		g.left = limits.maxMeta
	}
	g.timer = time.AfterFunc(time.Hour, func() {
		g.stalled.Store(true)
		g.rc.Close()
	})
	g.timer.Stop()
	res.Body = g
	return res, nil
}

// objectRead reports whether req reads an object's contents (a GET with no query but the
// object's version, part or response overrides): its size is the listed one, bounded by the
// reader. Anything else (listings, the bucket's location) is metadata.
func objectRead(req *http.Request) bool {
	if req.Method != http.MethodGet {
		return false
	}
	for k := range req.URL.Query() {
		if k != "versionId" && k != "partNumber" && !strings.HasPrefix(k, "response-") {
			return false
		}
	}
	return true
}

// boundedBody is a response body read under the limits.
type boundedBody struct {
	rc      io.ReadCloser
	lim     bodyLimits
	left    int64 // bytes still allowed (< 0: no bound)
	timer   *time.Timer
	stalled atomic.Bool
	// waited and got are the time spent in Read and the bytes it returned since the last check
	// of the rate.
	waited time.Duration
	got    int64
	err    error
}

func (g *boundedBody) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	if g.left == 0 {
		// At the bound: the body must end here.
		var one [1]byte
		for {
			n, err := g.read(one[:])
			if n > 0 {
				break
			}
			if err != nil {
				return 0, err
			}
		}
		g.err = errResponseTooLarge
		g.rc.Close()
		return 0, g.err
	}
	if g.left > 0 && int64(len(p)) > g.left {
		p = p[:g.left]
	}
	n, err := g.read(p)
	if g.left > 0 {
		g.left -= int64(n)
	}
	return n, err
}

// read reads from the body, ending it when the wait is too long or the rate too low.
func (g *boundedBody) read(p []byte) (int, error) {
	start := time.Now()
	g.timer.Reset(g.lim.idle)
	n, err := g.rc.Read(p)
	fired := !g.timer.Stop()
	if fired || g.stalled.Load() {
		g.err = errResponseStalled
		return 0, g.err
	}
	g.waited += time.Since(start)
	g.got += int64(n)
	if g.waited >= g.lim.window {
		if float64(g.got) < float64(g.lim.minRate)*g.waited.Seconds() {
			g.err = errResponseTooSlow
			g.rc.Close()
			return 0, g.err
		}
		g.waited, g.got = 0, 0
	}
	return n, err
}

func (g *boundedBody) Close() error {
	g.timer.Stop()
	return g.rc.Close()
}
