package identity_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/cleanroom-oss/cleanroom/identity"
)

func TestParseTag(t *testing.T) {
	registry, err := identity.NewRegistry("bridge_id", "acme2")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in   string
		want identity.Tag
	}{
		{"email_sha256", identity.TagEmailSHA256},
		{"  EMAIL_SHA256\t", identity.TagEmailSHA256},
		{"sha256_email", identity.TagEmailSHA256},
		{"Email-SHA256", identity.TagEmailSHA256},
		{"phone_sha256", identity.TagPhoneSHA256},
		{"sha256_phone", identity.TagPhoneSHA256},
		{"maid", identity.TagMAID},
		{"IDFA", identity.TagMAID},
		{"aaid", identity.TagMAID},
		{"gaid", identity.TagMAID},
		{"ip_address", identity.TagIPAddress},
		{"ip", identity.TagIPAddress},
		{"IPv4", identity.TagIPAddress},
		{"ipv6", identity.TagIPAddress},
		{"appnexus", identity.TagAppNexus},
		{"xandr", identity.TagAppNexus},
		{"AppNexus_ID", identity.TagAppNexus},
		{"bridge_id", "bridge_id"},
		{" Bridge_ID ", "bridge_id"},
		{"acme2", "acme2"},
	}
	for _, tt := range tests {
		got, err := identity.ParseTag(registry, tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseTag(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestParseTagUnknown(t *testing.T) {
	registry, err := identity.NewRegistry("bridge_id")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		registry    *identity.Registry
		in          string
		wantMessage string // a substring of the message
	}{
		{nil, "", "missing"},
		{nil, "   ", "missing"},
		{nil, "emial_sha256", "did you mean email_sha256?"},
		{nil, "idfv", "did you mean maid?"},
		{nil, "bridge_id", "unknown identifier type"}, // custom tags need their registry
		{registry, "brige_id", "did you mean bridge_id?"},
		{nil, "md5_email", "unknown identifier type"},
		{nil, "x", "unknown identifier type"},
		{nil, "jane.doe@example.com", "unknown identifier type"}, // swapped columns
		{nil, "\u212Aaid", "unknown identifier type"},            // Kelvin sign, not K
	}
	for _, tt := range tests {
		tag, err := identity.ParseTag(tt.registry, tt.in)
		verr := checkValueError(t, err, "", identity.ReasonUnknownTag, tt.in)
		if verr == nil {
			continue
		}
		if tag != "" {
			t.Errorf("ParseTag(%q) returned tag %q with an error", tt.in, tag)
		}
		if !strings.Contains(verr.Message, tt.wantMessage) {
			t.Errorf("ParseTag(%q) message %q does not contain %q", tt.in, verr.Message, tt.wantMessage)
		}
		for _, known := range tt.registry.Tags() {
			if !strings.Contains(verr.Hint, string(known)) {
				t.Errorf("ParseTag(%q) hint %q does not list %q", tt.in, verr.Hint, known)
			}
		}
	}
}

func TestNewRegistry(t *testing.T) {
	tests := []struct {
		names   []string
		wantErr string // a substring of the error, "" for success
	}{
		{nil, ""},
		{[]string{"bridge_id", "ab", "a234567890123456789012345678901b"}, ""},
		{[]string{"a"}, "2 to 32 characters"},
		{[]string{"a2345678901234567890123456789012c"}, "2 to 32 characters"},
		{[]string{"Bridge"}, "2 to 32 characters"},
		{[]string{"1bridge"}, "2 to 32 characters"},
		{[]string{"bridge-id"}, "2 to 32 characters"},
		{[]string{"maid"}, "built-in"},
		{[]string{"idfa"}, "built-in"},
		{[]string{"bridge_id", "bridge_id"}, "twice"},
	}
	for _, tt := range tests {
		r, err := identity.NewRegistry(tt.names...)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("NewRegistry(%q): %v", tt.names, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("NewRegistry(%q) error = %v, want one containing %q", tt.names, err, tt.wantErr)
		case err == nil:
			want := []identity.Tag{identity.TagEmailSHA256, identity.TagPhoneSHA256, identity.TagMAID, identity.TagIPAddress, identity.TagAppNexus}
			for _, name := range tt.names {
				want = append(want, identity.Tag(name))
			}
			if got := r.Tags(); !slices.Equal(got, want) {
				t.Errorf("NewRegistry(%q).Tags() = %q, want %q", tt.names, got, want)
			}
		}
	}
}

// checkValueError checks that err is a *ValueError with the given tag and reason, a message and
// a hint, and that neither repeats the rejected value (if it is long enough not to occur in
// them by chance). It returns the error, or nil after
// reporting a failure.
func checkValueError(t *testing.T, err error, tag identity.Tag, reason identity.Reason, value string) *identity.ValueError {
	t.Helper()
	if err == nil {
		t.Errorf("value %q: no error, want reason %s", value, reason)
		return nil
	}
	verr, ok := err.(*identity.ValueError)
	if !ok {
		t.Errorf("value %q: error %T (%v), want *identity.ValueError", value, err, err)
		return nil
	}
	if verr.Tag != tag || verr.Reason != reason || identity.ReasonOf(err) != reason {
		t.Errorf("value %q: tag %q, reason %q (%s); want %q, %q", value, verr.Tag, verr.Reason, verr.Message, tag, reason)
		return nil
	}
	if verr.Message == "" || verr.Hint == "" || !strings.HasSuffix(verr.Hint, ".") {
		t.Errorf("value %q: message %q, hint %q; want both, the hint a sentence", value, verr.Message, verr.Hint)
	}
	if v := strings.TrimSpace(value); len(v) >= 8 && (strings.Contains(verr.Error(), v) || strings.Contains(verr.Hint, v)) {
		t.Errorf("value %q: the error repeats the value: %q / %q", value, verr.Error(), verr.Hint)
	}
	return verr
}
