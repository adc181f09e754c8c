package edgehttp_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom/edgehttp"
)

const origin = "https://www.planet.example"

// edgeMux is what `cleanroom edge` serves: the edge and a health check.
func edgeMux(srv *edgehttp.Server) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/edge/", srv)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"status":"ok"}`)) })
	return mux
}

// servePaths starts the two serving paths over two edges built alike: net/http's server of the
// edge's handler (as before) and the edge's own HTTPServer. It returns their addresses and the
// users.
func servePaths(t *testing.T) (std, loop string, ids []string) {
	t.Helper()
	a, ids := newEdge(t, 2000, []string{origin})
	b, _ := newEdge(t, 2000, []string{origin})
	lnA, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	lnB, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	hs := &http.Server{Handler: edgeMux(a), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(lnA)
	es := b.NewHTTPServer(edgehttp.LoopOptions{Fallback: edgeMux(b)})
	done := make(chan error, 1)
	go func() { done <- es.Serve(lnB) }()
	t.Cleanup(func() {
		hs.Close()
		must(t, es.Shutdown(context.Background()))
		if err := <-done; err != http.ErrServerClosed {
			t.Errorf("Serve: %v", err)
		}
	})
	return lnA.Addr().String(), lnB.Addr().String(), ids
}

// exchange writes raw requests on one connection and reads their answers (with their bodies),
// then reports whether the server closed the connection after the last one.
func exchange(t *testing.T, addr, raw string, methods ...string) (res []*http.Response, bodies []string, closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	must(t, err)
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	_, err = io.WriteString(c, raw)
	must(t, err)
	br := bufio.NewReader(c)
	for _, m := range methods {
		r, err := http.ReadResponse(br, &http.Request{Method: m})
		if err != nil {
			t.Fatalf("%q: %v", raw, err)
		}
		b, err := io.ReadAll(r.Body)
		must(t, err)
		res, bodies = append(res, r), append(bodies, string(b))
	}
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, err = br.ReadByte()
	return res, bodies, err == io.EOF
}

// Headers that differ between two servers answering alike: the time, and the framing
// (net/http chunks answers over 2 KiB; the loop always sends a length).
var transportHeaders = []string{"Date", "Content-Length", "Transfer-Encoding", "Connection"}

func headersOf(r *http.Response) http.Header {
	h := r.Header.Clone()
	for _, k := range transportHeaders {
		h.Del(k)
	}
	return h
}

// TestLoopSameAsNetHTTP sends the same requests to net/http serving the edge's handler and to
// the edge's own loop, and compares the status, the headers (all but Date and the framing) and
// the body. Requests that end the connection must end it on both.
func TestLoopSameAsNetHTTP(t *testing.T) {
	std, loop, ids := servePaths(t)
	base := "/edge/v1/" + benchPublisher
	uid := ids[0]
	long := strings.Repeat("u", 300)
	get := func(target string, headers ...string) string {
		return "GET " + target + " HTTP/1.1\r\nHost: edge.example\r\n" + strings.Join(headers, "") + "\r\n"
	}
	post := func(target, ctype, body string, headers ...string) string {
		return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: edge.example\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s\r\n%s",
			target, ctype, len(body), strings.Join(headers, ""), body)
	}
	batch := fmt.Sprintf(`{"events":[{"uid":%q,"line_item":"5000000000","t":%d}]}`, uid, time.Now().UnixMilli())
	tests := []struct {
		name, raw, method string
	}{
		{"known user", get(base + "/targeting?uid=" + uid), "GET"},
		{"known user, other parameters", get(base + "/targeting?v=1&uid=" + uid + "&x=2"), "GET"},
		{"listed origin", get(base+"/targeting?uid="+uid, "Origin: "+origin+"\r\n"), "GET"},
		{"listed origin, other case", get(base+"/targeting?uid="+uid, "Origin: HTTPS://WWW.Planet.example\r\n"), "GET"},
		{"unlisted origin", get(base+"/targeting?uid="+uid, "Origin: https://evil.example\r\n"), "GET"},
		{"two origins", get(base+"/targeting?uid="+uid, "Origin: https://evil.example\r\nOrigin: "+origin+"\r\n"), "GET"},
		{"unknown user", get(base + "/targeting?uid=nobody"), "GET"},
		{"no uid", get(base + "/targeting"), "GET"},
		{"empty uid", get(base + "/targeting?uid="), "GET"},
		{"escaped uid", get(base + "/targeting?uid=" + strings.ReplaceAll(uid, "-", "%2D")), "GET"},
		{"plus in uid", get(base + "/targeting?uid=a+b"), "GET"},
		{"bad escape", get(base + "/targeting?uid=%zz"), "GET"},
		{"long uid", get(base + "/targeting?uid=" + long), "GET"},
		{"header case and spaces", "GET " + base + "/targeting?uid=" + uid + " HTTP/1.1\r\nhOsT:   edge.example  \r\nX-Forwarded-For: 10.0.0.1\r\n\r\n", "GET"},
		{"unknown publisher", get("/edge/v1/01900000-0000-7000-8000-0000000000ff/targeting?uid=" + uid), "GET"},
		{"bad publisher", get("/edge/v1/../targeting?uid=" + uid), "GET"},
		{"escaped publisher", get("/edge/v1/a%2Fb/targeting?uid=" + uid), "GET"},
		{"empty publisher", get("/edge/v1//targeting?uid=" + uid), "GET"},
		{"trailing slash", get(base + "/targeting/?uid=" + uid), "GET"},
		{"no such route", get("/edge/v2/x"), "GET"},
		{"root", get("/"), "GET"},
		{"health", get("/healthz"), "GET"},
		{"absolute target", get("http://edge.example" + base + "/targeting?uid=" + uid), "GET"},
		{"HEAD targeting", strings.Replace(get(base+"/targeting?uid="+uid), "GET", "HEAD", 1), "HEAD"},
		{"HEAD tag", strings.Replace(get(base+"/tag.js"), "GET", "HEAD", 1), "HEAD"},
		{"POST targeting", post(base+"/targeting?uid="+uid, "text/plain", "x"), "POST"},
		{"tag", get(base + "/tag.js"), "GET"},
		{"unknown publisher tag", get("/edge/v1/nobody/tag.js"), "GET"},
		{"preflight", "OPTIONS " + base + "/events HTTP/1.1\r\nHost: e\r\nOrigin: " + origin + "\r\nAccess-Control-Request-Method: POST\r\n\r\n", "OPTIONS"},
		{"preflight denied", "OPTIONS " + base + "/targeting HTTP/1.1\r\nHost: e\r\nOrigin: https://evil.example\r\n\r\n", "OPTIONS"},
		{"events", post(base+"/events", "text/plain", batch, "Origin: "+origin+"\r\n"), "POST"},
		{"events, unlisted origin", post(base+"/events", "text/plain", batch, "Origin: https://evil.example\r\n"), "POST"},
		{"bad batch", post(base+"/events", "text/plain", `{"events":[{"uid":"x","line_item":"abc","t":1}]}`), "POST"},
		{"empty batch", post(base+"/events", "text/plain", `{"events":[]}`), "POST"},
		{"huge batch", post(base+"/events", "text/plain", `{"events":[`+strings.Repeat(" ", 70<<10)+`]}`), "POST"},
		{"chunked batch", "POST " + base + "/events HTTP/1.1\r\nHost: e\r\nTransfer-Encoding: chunked\r\n\r\n" +
			fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(batch), batch), "POST"},
		{"expect continue", post(base+"/events", "text/plain", batch, "Expect: 100-continue\r\n"), "POST"},
		{"connection close", get(base+"/targeting?uid="+uid, "Connection: close\r\n"), "GET"},
		{"HTTP/1.0", "GET " + base + "/targeting?uid=" + uid + " HTTP/1.0\r\n\r\n", "GET"},
		{"bare line feeds", "GET " + base + "/targeting?uid=" + uid + " HTTP/1.1\nHost: e\n\n", "GET"},
		{"GET with a body", get(base+"/targeting?uid="+uid, "Content-Length: 3\r\n") + "abc", "GET"},
		{"chunked GET", get(base+"/targeting?uid="+uid, "Transfer-Encoding: chunked\r\n") + "3\r\nabc\r\n0\r\n\r\n", "GET"},
		{"big cookie", get(base+"/targeting?uid="+uid, "Cookie: c="+strings.Repeat("x", 6000)+"\r\n"), "GET"},
		// Malformed: 400 (or 431, 417, 505) and the connection closed.
		{"garbage", "GARBAGE\r\n\r\n", "GET"},
		{"no host", "GET " + base + "/targeting?uid=" + uid + " HTTP/1.1\r\n\r\n", "GET"},
		{"empty host", "GET " + base + "/targeting?uid=" + uid + " HTTP/1.1\r\nHost:\r\n\r\n", "GET"},
		{"two hosts", get(base+"/targeting?uid="+uid, "Host: other.example\r\n"), "GET"},
		{"bad host", get(base+"/targeting?uid="+uid, "Host: a b\r\n"), "GET"},
		{"space in a header name", get(base+"/targeting?uid="+uid, "Bad Name: x\r\n"), "GET"},
		{"control in a value", get(base+"/targeting?uid="+uid, "X-A: a\x01b\r\n"), "GET"},
		{"bad content length", get(base+"/targeting?uid="+uid, "Content-Length: abc\r\n"), "GET"},
		{"control in the target", "GET " + base + "/targeting?uid=a\x01b HTTP/1.1\r\nHost: e\r\n\r\n", "GET"},
		{"bad version", "GET " + base + "/targeting?uid=" + uid + " HTTP/9.9\r\nHost: e\r\n\r\n", "GET"},
		{"unknown expectation", post(base+"/events", "text/plain", batch, "Expect: something\r\n"), "POST"},
		{"huge head", get(base+"/targeting?uid="+uid, "X-Big: "+strings.Repeat("x", 2<<20)+"\r\n"), "GET"},
		// Smuggling and head forms a front proxy might read otherwise: answered as net/http does.
		{"two hosts, long head", get(base+"/targeting?uid="+uid, "Cookie: c="+strings.Repeat("x", 6000)+"\r\n", "Host: other.example\r\n"), "GET"},
		{"host after a long header", "GET " + base + "/targeting?uid=" + uid + " HTTP/1.1\r\nX-Big: " + strings.Repeat("x", 6000) + "\r\nHost: a\r\nHost: b\r\n\r\n", "GET"},
		{"length and chunked", post(base+"/events", "text/plain", "0\r\n\r\n", "Transfer-Encoding: chunked\r\n"), "POST"},
		{"two lengths", get(base+"/targeting?uid="+uid, "Content-Length: 0\r\nContent-Length: 5\r\n") + "abcde", "GET"},
		{"same two lengths", get(base+"/targeting?uid="+uid, "Content-Length: 3\r\nContent-Length: 3\r\n") + "abc", "GET"},
		{"chunked twice", get(base+"/targeting?uid="+uid, "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n") + "0\r\n\r\n", "GET"},
		{"gzip, chunked", get(base+"/targeting?uid="+uid, "Transfer-Encoding: gzip, chunked\r\n") + "0\r\n\r\n", "GET"},
		{"identity", get(base+"/targeting?uid="+uid, "Transfer-Encoding: identity\r\n"), "GET"},
		{"folded header", get(base+"/targeting?uid="+uid, "X-A: a\r\n b\r\n"), "GET"},
		{"folded host", "GET " + base + "/targeting?uid=" + uid + " HTTP/1.1\r\nHost: a\r\n b\r\n\r\n", "GET"},
		{"space before colon", get(base+"/targeting?uid="+uid, "Transfer-Encoding : chunked\r\n") + "0\r\n\r\n", "GET"},
		{"bare CR", get(base+"/targeting?uid="+uid, "X-A: a\rb\r\n"), "GET"},
		{"mixed line ends", "GET " + base + "/targeting?uid=" + uid + " HTTP/1.1\r\nHost: e\nX-A: b\r\n\r\n", "GET"},
		{"leading empty line", "\r\n" + get(base+"/targeting?uid="+uid), "GET"},
		{"negative length", get(base+"/targeting?uid="+uid, "Content-Length: -1\r\n"), "GET"},
		{"plus length", get(base+"/targeting?uid="+uid, "Content-Length: +3\r\n") + "abc", "GET"},
		{"NUL in target", "GET " + base + "/targeting?uid=a\x00b HTTP/1.1\r\nHost: e\r\n\r\n", "GET"},
		{"tab in target", "GET " + base + "/targeting?uid=a\tb HTTP/1.1\r\nHost: e\r\n\r\n", "GET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, ab, aClosed := exchange(t, std, tt.raw, tt.method)
			b, bb, bClosed := exchange(t, loop, tt.raw, tt.method)
			if a[0].StatusCode != b[0].StatusCode {
				t.Fatalf("status: net/http %d %s, loop %d %s", a[0].StatusCode, ab[0], b[0].StatusCode, bb[0])
			}
			if ah, bh := headersOf(a[0]), headersOf(b[0]); !equalHeaders(ah, bh) {
				t.Errorf("headers:\nnet/http %v\nloop     %v", ah, bh)
			}
			if ab[0] != bb[0] {
				t.Errorf("body:\nnet/http %.300q\nloop     %.300q", ab[0], bb[0])
			}
			// net/http closes after a body over MaxBytesReader's limit; the loop reads the rest
			// (up to 256 KiB) and keeps the connection.
			if aClosed != bClosed && tt.name != "huge batch" {
				t.Errorf("connection closed: net/http %v, loop %v", aClosed, bClosed)
			}
		})
	}
}

func equalHeaders(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// TestLoopPipelining sends several requests in one write, fast and fallback ones mixed: the
// answers come back in order, each the one of its request.
func TestLoopPipelining(t *testing.T) {
	std, loop, ids := servePaths(t)
	base := "/edge/v1/" + benchPublisher
	var raw strings.Builder
	var methods []string
	for i := range 20 {
		target := base + "/targeting?uid=" + ids[i]
		switch i % 5 {
		case 3:
			target = base + "/tag.js"
		case 4:
			target = "/edge/v1/nobody/targeting?uid=" + ids[i]
		}
		fmt.Fprintf(&raw, "GET %s HTTP/1.1\r\nHost: e\r\n\r\n", target)
		methods = append(methods, "GET")
	}
	a, ab, _ := exchange(t, std, raw.String(), methods...)
	b, bb, closed := exchange(t, loop, raw.String(), methods...)
	for i := range a {
		if a[i].StatusCode != b[i].StatusCode || ab[i] != bb[i] {
			t.Errorf("answer %d: net/http %d %.80s, loop %d %.80s", i, a[i].StatusCode, ab[i], b[i].StatusCode, bb[i])
		}
	}
	if closed {
		t.Errorf("the loop closed a kept-alive connection")
	}
}

// TestLoopTimeouts: a client that sends half a head, or nothing, is dropped after the
// timeouts; Shutdown closes idle connections.
func TestLoopTimeouts(t *testing.T) {
	srv, _ := newEdge(t, 100, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	es := srv.NewHTTPServer(edgehttp.LoopOptions{ReadHeaderTimeout: 100 * time.Millisecond, IdleTimeout: 200 * time.Millisecond,
		BodyTimeout: 100 * time.Millisecond, WriteTimeout: 100 * time.Millisecond})
	go es.Serve(ln)
	defer es.Shutdown(context.Background())
	for _, raw := range []string{
		"",
		"GET /edge/v1/" + benchPublisher + "/targeting?uid=x HTTP/1.1\r\nHost:",
		"POST /edge/v1/" + benchPublisher + "/events HTTP/1.1\r\nHost: e\r\nContent-Length: 100\r\n\r\n{",
	} {
		c, err := net.Dial("tcp", ln.Addr().String())
		must(t, err)
		io.WriteString(c, raw)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		b, err := io.ReadAll(c)
		if err != nil {
			t.Errorf("%q: not closed by the server: %v", raw, err)
		}
		if len(b) > 0 && !bytes.HasPrefix(b, []byte("HTTP/1.1 4")) {
			t.Errorf("%q: answer %.100q", raw, b)
		}
		c.Close()
	}
	// A client that pipelines requests and never reads its answers is dropped once the answers
	// it leaves unread have filled the connection and WriteTimeout has passed: its writes fail.
	c0, err := net.Dial("tcp", ln.Addr().String())
	must(t, err)
	req := bytes.Repeat([]byte("GET /edge/v1/"+benchPublisher+"/targeting?uid=x HTTP/1.1\r\nHost: e\r\n\r\n"), 1000)
	c0.SetWriteDeadline(time.Now().Add(60 * time.Second))
	for {
		if _, err = c0.Write(req); err != nil {
			break
		}
	}
	if isTimeout(err) {
		t.Errorf("a client that does not read is kept: %v", err)
	}
	c0.Close()

	// Shutdown with an idle kept-alive connection returns and closes it.
	c, err := net.Dial("tcp", ln.Addr().String())
	must(t, err)
	defer c.Close()
	io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: e\r\n\r\n")
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	must(t, err)
	io.Copy(io.Discard, res.Body)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	must(t, es.Shutdown(ctx))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("after Shutdown, the idle connection reads %v", err)
	}
}

// TestLoopNoAllocation: a targeting request on a kept-alive connection costs the server no
// allocation (the client here allocates none either).
func TestLoopNoAllocation(t *testing.T) {
	_, loop, ids := servePaths(t)
	c, err := net.Dial("tcp", loop)
	must(t, err)
	defer c.Close()
	req := []byte("GET /edge/v1/" + benchPublisher + "/targeting?uid=" + ids[1] + " HTTP/1.1\r\nHost: e\r\nOrigin: " + origin + "\r\n\r\n")
	br := bufio.NewReader(c)
	do := func() {
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
		n := -1
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				t.Fatal(err)
			}
			if len(line) <= 2 {
				break
			}
			if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
				n = 0
				for _, d := range bytes.TrimSpace(v) {
					n = n*10 + int(d-'0')
				}
			}
		}
		if n <= 0 {
			t.Fatal("no Content-Length")
		}
		br.Discard(n)
	}
	do()
	if allocs := testing.AllocsPerRun(2000, do); allocs >= 1 {
		t.Errorf("%v allocations per request", allocs)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
