package edgehttp

import "testing"

func TestClientBucket(t *testing.T) {
	for _, c := range []struct {
		a, b string
		same bool
	}{
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:fffe", true},
		{"2001:db8:1:2::1", "2001:db8:1:3::1", false},
		{"192.0.2.1", "192.0.2.2", false},
		{"::ffff:192.0.2.1", "::ffff:192.0.2.2", false},
		{"fe80::1%eth0", "fe80::2%eth1", true},
		{"not an address", "not an address", true},
	} {
		if got := clientBucket(c.a) == clientBucket(c.b); got != c.same {
			t.Errorf("%s and %s share a bucket: %v, want %v (%q, %q)", c.a, c.b, got, c.same, clientBucket(c.a), clientBucket(c.b))
		}
	}
}
