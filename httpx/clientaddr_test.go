package httpx

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientAddr(t *testing.T) {
	s := &Auth{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}}
	for _, c := range []struct {
		remote, xff, want string
	}{
		{"203.0.113.7:5555", "", "203.0.113.7"},
		{"203.0.113.7:5555", "198.51.100.1", "203.0.113.7"},                // not from a proxy: the header is ignored
		{"10.1.2.3:80", "198.51.100.1", "198.51.100.1"},                    // one trusted proxy
		{"10.1.2.3:80", "6.6.6.6, 198.51.100.1, 10.9.9.9", "198.51.100.1"}, // a spoofed hop before the real client
		{"10.1.2.3:80", "", "10.1.2.3"},
		{"10.1.2.3:80", "not-an-ip, 198.51.100.1", "198.51.100.1"},
		{"10.1.2.3:80", "198.51.100.1, garbage", "10.1.2.3"},
		{"[::1]:443", "2001:db8::1", "2001:db8::1"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.remote
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := s.ClientAddr(r); got != c.want {
			t.Errorf("%s via %q: %s, want %s", c.remote, c.xff, got, c.want)
		}
	}
}
