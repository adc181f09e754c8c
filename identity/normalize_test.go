package identity_test

import (
	"strings"
	"testing"

	"github.com/cleanroom-oss/cleanroom/identity"
)

// Digests of "test@example.com" (SHA-256, checked with sha256sum) and of "" in the forms uploads
// use.
const (
	testEmailSHA256       = "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b"
	testEmailSHA256Base64 = "lz3+Rj7IV4X1+Vr1ujkG7tstkxwk5pgkqJ6mXbpOgTs="
	testEmailMD5          = "55502f40dc8b7c769880b10874abc9d0"
	testEmailMD5Base64    = "VVAvQNyLfHaYgLEIdKvJ0A=="
	testEmailSHA1         = "567159d622ffbb50b11b0efd307be358624a26ee"
	testEmailSHA1Base64   = "VnFZ1iL/u1CxGw79MHvjWGJKJu4="
	emptySHA256           = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	emptySHA256Base64     = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
)

func TestNormalizeValid(t *testing.T) {
	tests := []struct {
		tag  identity.Tag
		in   string
		want string
	}{
		{identity.TagEmailSHA256, testEmailSHA256, testEmailSHA256},
		{identity.TagEmailSHA256, " " + strings.ToUpper(testEmailSHA256) + "\r\n", testEmailSHA256},
		{identity.TagEmailSHA256, testEmailSHA256Base64, testEmailSHA256},
		{identity.TagEmailSHA256, strings.TrimRight(testEmailSHA256Base64, "="), testEmailSHA256},
		{identity.TagEmailSHA256, "lz3-Rj7IV4X1-Vr1ujkG7tstkxwk5pgkqJ6mXbpOgTs=", testEmailSHA256}, // URL alphabet
		{identity.TagEmailSHA256, "lz3-Rj7IV4X1-Vr1ujkG7tstkxwk5pgkqJ6mXbpOgTs", testEmailSHA256},
		// UID2's published example: user@example.com in hex and in Base64.
		{identity.TagEmailSHA256, "tMmiiTI7IaAcPpQPFQ65uMVCWH8av9jw4cwf/F5HVRQ=", "b4c9a289323b21a01c3e940f150eb9b8c542587f1abfd8f0e1cc1ffc5e475514"},
		{identity.TagPhoneSHA256, "EObwtHBUqDNZR33LNSMdtt5cafsYFuGmuY4ZLenlue4=", "10e6f0b47054a83359477dcb35231db6de5c69fb1816e1a6b98e192de9e5b9ee"},
		{identity.TagPhoneSHA256, "10E6F0B47054A83359477DCB35231DB6DE5C69FB1816E1A6B98E192DE9E5B9EE", "10e6f0b47054a83359477dcb35231db6de5c69fb1816e1a6b98e192de9e5b9ee"},

		{identity.TagMAID, "6d92078a-8246-4ba4-ae5b-76104861e7dc", "6d92078a-8246-4ba4-ae5b-76104861e7dc"},
		{identity.TagMAID, "6D92078A-8246-4BA4-AE5B-76104861E7DC", "6d92078a-8246-4ba4-ae5b-76104861e7dc"},
		{identity.TagMAID, "6d92078a82464ba4ae5b76104861e7dc", "6d92078a-8246-4ba4-ae5b-76104861e7dc"},
		{identity.TagMAID, "{6D92078A-8246-4BA4-AE5B-76104861E7DC}", "6d92078a-8246-4ba4-ae5b-76104861e7dc"},
		{identity.TagMAID, " {6d92078a82464ba4ae5b76104861e7dc} ", "6d92078a-8246-4ba4-ae5b-76104861e7dc"},

		{identity.TagIPAddress, "203.0.113.7", "203.0.113.7"},
		{identity.TagIPAddress, " 10.1.2.3 ", "10.1.2.3"},
		{identity.TagIPAddress, "192.168.0.1", "192.168.0.1"},
		{identity.TagIPAddress, "::ffff:203.0.113.7", "203.0.113.7"},
		{identity.TagIPAddress, "2001:DB8:0:0:0:0:0:7", "2001:db8::7"},
		{identity.TagIPAddress, "2001:0db8:0000:0000:0001:0000:0000:0001", "2001:db8::1:0:0:1"},
		{identity.TagIPAddress, "fe80::1", "fe80::1"},
		{identity.TagIPAddress, "fd00::1", "fd00::1"},

		{identity.TagAppNexus, "1", "1"},
		{identity.TagAppNexus, "8342967431847295012", "8342967431847295012"},
		{identity.TagAppNexus, "18446744073709551615", "18446744073709551615"},
		{identity.TagAppNexus, " 0042 ", "42"},
	}
	for _, tt := range tests {
		got, err := identity.Normalize(tt.tag, tt.in)
		if err != nil || got != tt.want {
			t.Errorf("Normalize(%s, %q) = %q, %v; want %q", tt.tag, tt.in, got, err, tt.want)
			continue
		}
		if again, err := identity.Normalize(tt.tag, got); err != nil || again != got {
			t.Errorf("Normalize(%s, %q) = %q, %v; want it unchanged", tt.tag, got, again, err)
		}
	}
}

func TestNormalizeInvalid(t *testing.T) {
	email, phone := identity.TagEmailSHA256, identity.TagPhoneSHA256
	tests := []struct {
		tag    identity.Tag
		in     string
		reason identity.Reason
	}{
		{email, "", identity.ReasonEmpty},
		{email, " \t ", identity.ReasonEmpty},
		{email, strings.Repeat("a", identity.MaxValueLength+1), identity.ReasonTooLong},
		{email, "caf\xe9@example.com", identity.ReasonBadUTF8},
		{email, testEmailSHA256[:32] + "\x00" + testEmailSHA256[32:], identity.ReasonControlChars},
		{email, testEmailSHA256[:32] + "\u0085" + testEmailSHA256[32:], identity.ReasonControlChars},
		{email, "Test@Example.com", identity.ReasonRawEmail},
		{email, " jane.doe+news@gmail.com", identity.ReasonRawEmail},
		{email, "+44 20 7946 0958", identity.ReasonRawPhone},
		{email, "2079460958", identity.ReasonRawPhone},
		{email, testEmailMD5, identity.ReasonMD5},
		{email, testEmailMD5Base64, identity.ReasonMD5},
		{email, testEmailSHA1, identity.ReasonSHA1},
		{email, strings.ToUpper(testEmailSHA1), identity.ReasonSHA1},
		{email, testEmailSHA1Base64, identity.ReasonSHA1},
		{email, testEmailSHA256[:63], identity.ReasonWrongLength},
		{email, testEmailSHA256[:43], identity.ReasonWrongLength}, // hex, not Base64
		{email, testEmailSHA256 + "00", identity.ReasonWrongLength},
		{email, testEmailSHA256[:63] + "g", identity.ReasonNotHex},
		{email, "0x" + testEmailSHA256, identity.ReasonNotHex},
		{email, "n/a", identity.ReasonNotHex},
		{email, testEmailSHA256Base64[:43] + "==", identity.ReasonNotHex},
		{email, "lz3+Rj7IV4X1+Vr1ujkG7tstkxwk5pgkqJ6mXbpOgTt=", identity.ReasonNotHex}, // non-zero padding bits
		{email, emptySHA256, identity.ReasonEmptyHash},
		{email, strings.ToUpper(emptySHA256), identity.ReasonEmptyHash},
		{email, emptySHA256Base64, identity.ReasonEmptyHash},
		{phone, "+1 (234) 567-8901", identity.ReasonRawPhone},
		{phone, "jane@example.com", identity.ReasonRawEmail},
		{phone, emptySHA256, identity.ReasonEmptyHash},
		{phone, testEmailMD5, identity.ReasonMD5},

		{identity.TagMAID, "", identity.ReasonEmpty},
		{identity.TagMAID, "00000000-0000-0000-0000-000000000000", identity.ReasonZeroMAID},
		{identity.TagMAID, "{00000000000000000000000000000000}", identity.ReasonZeroMAID},
		{identity.TagMAID, "3f1c9e2a-77b0-4d5e-9a41-0c8d2b6e5f1", identity.ReasonBadUUID},
		{identity.TagMAID, "3f1c9e2a-77b0-4d5e-9a41-0c8d2b6e5f1cc", identity.ReasonBadUUID},
		{identity.TagMAID, "3f1c9e2a+77b0-4d5e-9a41-0c8d2b6e5f1c", identity.ReasonBadUUID},
		{identity.TagMAID, "3f1c9e2a-77b0-4d5e-9a41-0c8d2b6e5f1g", identity.ReasonBadUUID},
		{identity.TagMAID, "3f1c9e2a7-7b0-4d5e-9a41-0c8d2b6e5f1c", identity.ReasonBadUUID},
		{identity.TagMAID, "{3f1c9e2a-77b0-4d5e-9a41-0c8d2b6e5f1c", identity.ReasonBadUUID},
		{identity.TagMAID, testEmailSHA256, identity.ReasonBadUUID},
		{identity.TagMAID, "unknown", identity.ReasonBadUUID},

		{identity.TagIPAddress, "", identity.ReasonEmpty},
		{identity.TagIPAddress, "198.51.100", identity.ReasonBadIP},
		{identity.TagIPAddress, "203.0.113.256", identity.ReasonBadIP},
		{identity.TagIPAddress, "203.000.113.7", identity.ReasonBadIP},
		{identity.TagIPAddress, "203.0.113.7:443", identity.ReasonBadIP},
		{identity.TagIPAddress, "[2001:db8::7]:443", identity.ReasonBadIP},
		{identity.TagIPAddress, "203.0.113.0/24", identity.ReasonBadIP},
		{identity.TagIPAddress, "fe80::1%eth0", identity.ReasonBadIP},
		{identity.TagIPAddress, "0.0.0.0", identity.ReasonBadIP},
		{identity.TagIPAddress, "::", identity.ReasonBadIP},
		{identity.TagIPAddress, "::ffff:0.0.0.0", identity.ReasonBadIP},
		{identity.TagIPAddress, "127.0.0.1", identity.ReasonBadIP},
		{identity.TagIPAddress, "::1", identity.ReasonBadIP},
		{identity.TagIPAddress, "224.0.0.1", identity.ReasonBadIP},
		{identity.TagIPAddress, "ff02::1", identity.ReasonBadIP},
		{identity.TagIPAddress, "255.255.255.255", identity.ReasonBadIP},
		{identity.TagIPAddress, "example.com", identity.ReasonBadIP},

		{identity.TagAppNexus, "", identity.ReasonEmpty},
		{identity.TagAppNexus, "0", identity.ReasonBadNumber},
		{identity.TagAppNexus, "000", identity.ReasonBadNumber},
		{identity.TagAppNexus, "-1", identity.ReasonBadNumber},
		{identity.TagAppNexus, "+42", identity.ReasonBadNumber},
		{identity.TagAppNexus, "-42", identity.ReasonBadNumber},
		{identity.TagAppNexus, "4 2", identity.ReasonBadNumber},
		{identity.TagAppNexus, "42.0", identity.ReasonBadNumber},
		{identity.TagAppNexus, "0x2a", identity.ReasonBadNumber},
		{identity.TagAppNexus, "8.342967431847295E+18", identity.ReasonBadNumber},
		{identity.TagAppNexus, "18446744073709551616", identity.ReasonBadNumber},
		{identity.TagAppNexus, "٤٢", identity.ReasonBadNumber}, // Arabic-Indic digits

		{"email", testEmailSHA256, identity.ReasonUnknownTag},
		{"bridge_id", "abc", identity.ReasonUnknownTag}, // custom tags need their registry
	}
	for _, tt := range tests {
		got, err := identity.Normalize(tt.tag, tt.in)
		wantTag := tt.tag
		if tt.reason == identity.ReasonUnknownTag {
			wantTag = ""
		}
		if checkValueError(t, err, wantTag, tt.reason, tt.in) != nil && got != "" {
			t.Errorf("Normalize(%s, %q) returned %q with an error", tt.tag, tt.in, got)
		}
	}
}

func TestRegistryNormalizeCustom(t *testing.T) {
	registry, err := identity.NewRegistry("bridge_id")
	if err != nil {
		t.Fatal(err)
	}
	const bridge identity.Tag = "bridge_id"
	valid := []struct{ in, want string }{
		{"XY-1234_abc", "XY-1234_abc"},
		{"  a  ", "a"},
		{"!~", "!~"},
		{strings.Repeat("z", identity.MaxValueLength), strings.Repeat("z", identity.MaxValueLength)},
	}
	for _, tt := range valid {
		if got, err := registry.Normalize(bridge, tt.in); err != nil || got != tt.want {
			t.Errorf("Normalize(%s, %q) = %q, %v; want %q", bridge, tt.in, got, err, tt.want)
		}
	}
	invalid := []struct {
		in     string
		reason identity.Reason
	}{
		{"", identity.ReasonEmpty},
		{strings.Repeat("z", identity.MaxValueLength+1), identity.ReasonTooLong},
		{"ab cd", identity.ReasonBadChar},
		{"ab,cd", identity.ReasonBadChar},
		{"abcdé", identity.ReasonBadChar},
		{"ab\tcd", identity.ReasonControlChars},
		{"ab\x7fcd", identity.ReasonControlChars},
		{"ab\xffcd", identity.ReasonBadUTF8},
	}
	for _, tt := range invalid {
		_, err := registry.Normalize(bridge, tt.in)
		checkValueError(t, err, bridge, tt.reason, tt.in)
	}
	// Built-in tags behave as in Normalize.
	if got, err := registry.Normalize(identity.TagMAID, "6D92078A82464BA4AE5B76104861E7DC"); err != nil || got != "6d92078a-8246-4ba4-ae5b-76104861e7dc" {
		t.Errorf("registry.Normalize(maid) = %q, %v", got, err)
	}
}

func TestNormalizeHashHintsNameTheRightTag(t *testing.T) {
	// A raw phone number under email_sha256 must point the user to phone_sha256.
	_, err := identity.Normalize(identity.TagEmailSHA256, "+44 20 7946 0958")
	if verr := checkValueError(t, err, identity.TagEmailSHA256, identity.ReasonRawPhone, "+44 20 7946 0958"); verr != nil && !strings.Contains(verr.Hint, "phone_sha256") {
		t.Errorf("hint %q does not mention phone_sha256", verr.Hint)
	}
	_, err = identity.Normalize(identity.TagEmailSHA256, "test@example.com")
	if verr := checkValueError(t, err, identity.TagEmailSHA256, identity.ReasonRawEmail, "test@example.com"); verr != nil && !strings.Contains(verr.Hint, "cleanroom prepare") {
		t.Errorf("hint %q does not mention cleanroom prepare", verr.Hint)
	}
}

func TestNormalizeAllocations(t *testing.T) {
	tests := []struct {
		tag   identity.Tag
		value string
	}{
		{identity.TagEmailSHA256, testEmailSHA256},
		{identity.TagMAID, "6d92078a-8246-4ba4-ae5b-76104861e7dc"},
		{identity.TagIPAddress, "2001:db8::7"},
		{identity.TagAppNexus, "8342967431847295012"},
	}
	for _, tt := range tests {
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := identity.Normalize(tt.tag, tt.value); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("Normalize(%s) of a canonical value: %v allocations, want 0", tt.tag, allocs)
		}
	}
}

func BenchmarkNormalize(b *testing.B) {
	benchmarks := []struct {
		name  string
		tag   identity.Tag
		value string
	}{
		{"email_sha256/hex", identity.TagEmailSHA256, testEmailSHA256},
		{"email_sha256/upper_hex", identity.TagEmailSHA256, strings.ToUpper(testEmailSHA256)},
		{"email_sha256/base64", identity.TagEmailSHA256, testEmailSHA256Base64},
		{"maid", identity.TagMAID, "6d92078a-8246-4ba4-ae5b-76104861e7dc"},
		{"ip_address/v4", identity.TagIPAddress, "203.0.113.7"},
		{"ip_address/v6", identity.TagIPAddress, "2001:db8::7"},
		{"appnexus", identity.TagAppNexus, "8342967431847295012"},
	}
	for _, bm := range benchmarks {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := identity.Normalize(bm.tag, bm.value); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
