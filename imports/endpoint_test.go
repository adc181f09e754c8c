package imports

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/cleanroom-oss/cleanroom"
)

// TestPolicyCheck: the addresses the server refuses to connect to, with and without private
// endpoints allowed.
func TestPolicyCheck(t *testing.T) {
	for _, c := range []struct {
		addr              string
		never, privateish bool // refused always; refused unless private endpoints are allowed
	}{
		{"169.254.169.254", true, false},
		{"169.254.170.2", true, false}, // ECS task metadata
		{"fe80::1", true, false},
		{"fd00:ec2::254", true, false},
		{"100.100.100.200", true, false},
		{"::ffff:169.254.169.254", true, false},
		{"64:ff9b::a9fe:a9fe", true, false}, // 169.254.169.254 through NAT64
		{"0.0.0.0", true, false},
		{"::", true, false},
		{"224.0.0.1", true, false},
		{"255.255.255.255", true, false},
		{"127.0.0.1", false, true},
		{"::1", false, true},
		{"10.0.0.1", false, true},
		{"172.16.5.4", false, true},
		{"192.168.1.1", false, true},
		{"fd12:3456::1", false, true},
		{"100.64.0.1", false, true},
		{"::ffff:10.0.0.1", false, true},
		{"64:ff9b::a00:1", false, true}, // 10.0.0.1 through NAT64
		// Addresses that embed an IPv4 address are judged by it; reserved ranges are refused.
		{"::a9fe:a9fe", true, false},                          // IPv4-compatible 169.254.169.254
		{"::7f00:1", false, true},                             // IPv4-compatible 127.0.0.1
		{"2002:a9fe:a9fe::1", true, false},                    // 6to4 of 169.254.169.254
		{"2002:a00:1::1", false, true},                        // 6to4 of 10.0.0.1
		{"64:ff9b:1::a9fe:a9fe", true, false},                 // local-use NAT64 of 169.254.169.254
		{"2001:0:4136:e378:8000:63bf:5601:fefe", true, false}, // Teredo
		{"fec0::1", false, true},                              // site-local
		{"192.0.0.192", true, false},                          // IETF protocol assignments (a cloud's metadata)
		{"240.0.0.1", true, false},                            // reserved
		{"2002:3400:1::1", false, false},                      // 6to4 of 52.0.0.1
		{"52.95.110.1", false, false},
		{"2600:1f18::1", false, false},
	} {
		a := netip.MustParseAddr(c.addr)
		strict, lax := (Policy{}).check(a), (Policy{AllowPrivate: true}).check(a)
		if (strict != nil) != (c.never || c.privateish) || (lax != nil) != c.never {
			t.Errorf("%s: refused by default: %v; refused with private allowed: %v", c.addr, strict, lax)
		}
	}
}

// TestDialRefusesInternalAddresses: the check applies to the address actually dialled, so a host
// name that resolves to a refused address (here localhost) is refused when connecting, whatever
// the URL said.
func TestDialRefusesInternalAddresses(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	addr := "localhost:" + srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	_, err := (Policy{}).dialContext(context.Background(), "tcp", addr)
	var refused *refusedAddress
	if !errors.As(err, &refused) || !refused.private {
		t.Fatalf("dialling %s by default: %v, want a refused private address", addr, err)
	}
	conn, err := (Policy{AllowPrivate: true}).dialContext(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatalf("dialling %s with private endpoints allowed: %v", addr, err)
	}
	conn.Close()
	// The whole client refuses too, with the user's error naming the flag.
	c := &http.Client{Transport: (Policy{}).transport()}
	_, err = c.Get(srv.URL)
	if !errors.As(err, &refused) || !strings.Contains(cleanroom.ErrorText(refused.userError(srv.URL)), "--import-allow-private") {
		t.Errorf("GET %s: %v", srv.URL, err)
	}
}
