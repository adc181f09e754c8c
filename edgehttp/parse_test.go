package edgehttp

import (
	"bufio"
	"bytes"
	"net/http"
	"strings"
	"testing"
)

func TestParseHead(t *testing.T) {
	const pub = "01900000-0000-7000-8000-00000000beef"
	tests := []struct {
		head            string
		ok              bool
		pub, query, org string
		close           bool
	}{
		{"GET /edge/v1/" + pub + "/targeting?uid=a HTTP/1.1\r\nHost: e\r\n\r\n", true, pub, "uid=a", "", false},
		{"GET /edge/v1/p/targeting HTTP/1.1\r\nhost: e:8080\r\nOrigin: https://a.example\r\nConnection: keep-alive, close\r\n\r\n", true, "p", "", "https://a.example", true},
		{"GET /edge/v1/p/targeting HTTP/1.1\r\nHost: e\r\nX-Forwarded-For: 1.2.3.4\r\nAccept: */*\r\n\r\n", true, "p", "", "", false},
		{"HEAD /edge/v1/p/targeting HTTP/1.1\r\nHost: e\r\n\r\n", false, "", "", "", false},
		{"GET /edge/v1/p/targeting HTTP/1.0\r\nHost: e\r\n\r\n", false, "", "", "", false},
		{"GET /edge/v1/p/targeting HTTP/1.1\r\n\r\n", false, "", "", "", false},
		{"GET /edge/v1/p/targeting HTTP/1.1\r\nHost: e\r\nHost: f\r\n\r\n", false, "", "", "", false},
		{"GET /edge/v1/p/targeting HTTP/1.1\r\nHost: e\r\nOrigin: a\r\nOrigin: b\r\n\r\n", false, "", "", "", false},
		{"GET /edge/v1/p/targeting HTTP/1.1\nHost: e\n\n", false, "", "", "", false},
		{"GET /edge/v1/p/targeting HTTP/1.1\r\nHost: e\r\nContent-Length: 0\r\n\r\n", false, "", "", "", false},
		{"GET /edge/v1/p/targeting HTTP/1.1\r\nHost: e\r\nTransfer-Encoding: chunked\r\n\r\n", false, "", "", "", false},
		{"GET /edge/v1/p/targeting HTTP/1.1\r\nHost: e\r\nConnection: Upgrade\r\n\r\n", false, "", "", "", false},
		{"GET /edge/v1/p/targeting HTTP/1.1\r\nHost: e\r\n folded\r\n\r\n", false, "", "", "", false},
		{"GET /edge/v1/p/targeting HTTP/1.1\r\nHost: e\r\nBad Name: x\r\n\r\n", false, "", "", "", false},
		{"GET /edge/v1/p/targeting HTTP/1.1\r\nHost: e\r\nX: \x01\r\n\r\n", false, "", "", "", false},
		{"GET /edge/v1/p/targeting HTTP/1.1\r\nHost: a b\r\n\r\n", false, "", "", "", false},
		{"GET /edge/v1/../targeting HTTP/1.1\r\nHost: e\r\n\r\n", false, "", "", "", false},
		{"GET /edge/v1/a%2Fb/targeting HTTP/1.1\r\nHost: e\r\n\r\n", false, "", "", "", false},
		{"GET /edge/v1/p/targeting/ HTTP/1.1\r\nHost: e\r\n\r\n", false, "", "", "", false},
		{"GET /edge/v1/p/targeting#x HTTP/1.1\r\nHost: e\r\n\r\n", false, "", "", "", false},
		{"GET /edge/v1/p/tag.js HTTP/1.1\r\nHost: e\r\n\r\n", false, "", "", "", false},
		{"GET /edge/v1/" + strings.Repeat("p", 65) + "/targeting HTTP/1.1\r\nHost: e\r\n\r\n", false, "", "", "", false},
	}
	for _, tt := range tests {
		r, ok := parseHead([]byte(tt.head))
		if ok != tt.ok || ok && (string(r.publisher) != tt.pub || string(r.query) != tt.query || string(r.origin) != tt.org || r.close != tt.close) {
			t.Errorf("parseHead(%q) = %q %q %q %v, %v", tt.head, r.publisher, r.query, r.origin, r.close, ok)
		}
	}
}

func TestHeadEnd(t *testing.T) {
	tests := []struct {
		b    string
		from int
		want int
	}{
		{"GET / HTTP/1.1\r\nHost: e\r\n\r\nGET", 0, 27},
		{"GET / HTTP/1.1\nHost: e\n\n", 0, 24},
		{"GET / HTTP/1.1\r\nHost: e\r\n", 0, 0},
		{"GET / HTTP/1.1\r\nHost: e\r\n\r", 0, 0},
		{"\r\n\r\n", 0, 4},
	}
	for _, tt := range tests {
		if got := headEnd([]byte(tt.b), tt.from); got != tt.want {
			t.Errorf("headEnd(%q) = %d, want %d", tt.b, got, tt.want)
		}
	}
}

// FuzzParseHead: whatever the bytes, parseHead does not panic, and a head it takes is one that
// http.ReadRequest reads as the same request: GET of the same publisher's targeting route,
// HTTP/1.1, with the same Host, Origin, Connection: close and user ID (uidOf, as the handler
// reads it).
func FuzzParseHead(f *testing.F) {
	for _, s := range []string{
		"GET /edge/v1/p/targeting?uid=a HTTP/1.1\r\nHost: e\r\n\r\n",
		"GET /edge/v1/p/targeting?v=1&uid=a%2Bb+c HTTP/1.1\r\nHost: e\r\nOrigin: https://A.example\r\nConnection: close\r\n\r\n",
		"GET /edge/v1/p/targeting?uid=%zz HTTP/1.1\r\nHOST:e\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n",
		"GET /edge/v1/p/targeting HTTP/1.1\nHost: e\n\n",
		"POST /edge/v1/p/events HTTP/1.1\r\nHost: e\r\nContent-Length: 2\r\n\r\n{}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n := headEnd(b, 0)
		if n == 0 {
			return
		}
		head := b[:n]
		r, ok := parseHead(head)
		if !ok {
			return
		}
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
		if err != nil {
			t.Fatalf("parseHead takes %q, http.ReadRequest: %v", head, err)
		}
		if req.Method != "GET" || req.ProtoMinor != 1 || req.URL.Path != "/edge/v1/"+string(r.publisher)+"/targeting" ||
			req.ContentLength != 0 || req.Close != r.close || req.Header.Get("Origin") != string(r.origin) {
			t.Fatalf("parseHead(%q) = %q %q %v; http.ReadRequest: %s %s %q close %v origin %q", head, r.publisher, r.origin, r.close,
				req.Method, req.URL.Path, req.Host, req.Close, req.Header.Get("Origin"))
		}
		if invalidRequest(req, head) != "" {
			t.Fatalf("parseHead takes %q, net/http refuses it: %s", head, invalidRequest(req, head))
		}
		c := &conn{}
		uid := c.uidOf(r.query)
		if want := uidOf(req.URL.RawQuery); string(uid) != want {
			t.Fatalf("uid of %q: %q, uidOf %q", r.query, uid, want)
		}
	})
}
