package edgehttp

import "testing"

func TestUIDOf(t *testing.T) {
	tests := []struct{ query, want string }{
		{"uid=abc", "abc"},
		{"v=123&uid=abc", "abc"},
		{"uid=a%2Bb%40c&v=1", "a+b@c"},
		{"uid=a+b", "a b"},
		{"xuid=abc", ""},
		{"uid=", ""},
		{"", ""},
		{"uid=%zz", ""},
	}
	for _, tt := range tests {
		if got := uidOf(tt.query); got != tt.want {
			t.Errorf("uidOf(%q) = %q, want %q", tt.query, got, tt.want)
		}
	}
}
