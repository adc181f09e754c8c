package identity_test

import (
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cleanroom-oss/cleanroom/identity"
)

// fuzzRegistry returns the registry the fuzz targets use: the built-in tags and one custom tag,
// bridge_id, at index 5.
func fuzzRegistry(f *testing.F) *identity.Registry {
	r, err := identity.NewRegistry("bridge_id")
	if err != nil {
		f.Fatal(err)
	}
	return r
}

// checkFuzzError checks that err is a *ValueError for tag with a reason, a message and a hint
// that do not repeat the value.
func checkFuzzError(t *testing.T, err error, tag identity.Tag, value string) {
	t.Helper()
	var verr *identity.ValueError
	if !errors.As(err, &verr) {
		t.Fatalf("error %T %v, want *identity.ValueError", err, err)
	}
	if verr.Tag != tag || verr.Reason == "" || verr.Message == "" || verr.Hint == "" {
		t.Fatalf("incomplete error %+v for tag %q", verr, tag)
	}
	// Shorter values can occur in the fixed texts by chance.
	if v := strings.TrimSpace(value); len(v) >= 16 && strings.Contains(verr.Error()+" "+verr.Hint, v) {
		t.Fatalf("the error repeats the value: %+v", verr)
	}
}

// isCanonicalMAID reports whether s is a lowercase hyphenated UUID.
func isCanonicalMAID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
		} else if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func FuzzNormalize(f *testing.F) {
	registry := fuzzRegistry(f)
	tags := registry.Tags()
	for i, tag := range tags {
		f.Add(uint8(i), "")
		f.Add(uint8(i), " "+testEmailSHA256+" ")
		f.Add(uint8(i), testEmailSHA256Base64)
		f.Add(uint8(i), testEmailMD5)
		if tag != identity.TagEmailSHA256 {
			continue
		}
		f.Add(uint8(i), emptySHA256Base64)
		f.Add(uint8(i), "test@example.com")
		f.Add(uint8(i), "+1 (234) 567-8901")
	}
	f.Add(uint8(2), "6D92078A-8246-4BA4-AE5B-76104861E7DC")
	f.Add(uint8(3), "2001:0DB8::0:7")
	f.Add(uint8(4), "18446744073709551615")
	f.Fuzz(func(t *testing.T, tagIndex uint8, value string) {
		tag := tags[int(tagIndex)%len(tags)]
		got, err := registry.Normalize(tag, value)
		if err != nil {
			checkFuzzError(t, err, tag, value)
			return
		}
		again, err := registry.Normalize(tag, got)
		if err != nil || again != got {
			t.Fatalf("Normalize(%s, %q) = %q; normalising that again gives %q, %v", tag, value, got, again, err)
		}
		switch tag {
		case identity.TagEmailSHA256, identity.TagPhoneSHA256:
			if len(got) != 64 || strings.Trim(got, "0123456789abcdef") != "" || got == emptySHA256 {
				t.Fatalf("Normalize(%s, %q) = %q, want 64 lowercase hex digits", tag, value, got)
			}
		case identity.TagMAID:
			if !isCanonicalMAID(got) || got == "00000000-0000-0000-0000-000000000000" {
				t.Fatalf("Normalize(maid, %q) = %q, want a non-zero lowercase hyphenated UUID", value, got)
			}
		case identity.TagIPAddress:
			addr, err := netip.ParseAddr(got)
			if err != nil || addr.String() != got || addr.Is4In6() || addr.Zone() != "" {
				t.Fatalf("Normalize(ip_address, %q) = %q, not a canonical address", value, got)
			}
		case identity.TagAppNexus:
			n, err := strconv.ParseUint(got, 10, 64)
			if err != nil || n == 0 || strconv.FormatUint(n, 10) != got {
				t.Fatalf("Normalize(appnexus, %q) = %q, want a canonical non-zero uint64", value, got)
			}
		default:
			if got == "" || len(got) > identity.MaxValueLength || strings.ContainsFunc(got, func(r rune) bool { return r <= ' ' || r > '~' || r == ',' }) {
				t.Fatalf("Normalize(%s, %q) = %q, want printable ASCII without spaces or commas", tag, value, got)
			}
		}
	})
}

func FuzzNormalizeEmail(f *testing.F) {
	f.Add("test@example.com", false)
	f.Add(" Jane.Doe+News@GMAIL.com ", true)
	f.Add("jane.doe@googlemail.com", true)
	f.Add("Jane Doe <jane@example.com>", false)
	f.Add("+@gmail.com", true)
	f.Fuzz(func(t *testing.T, raw string, foldGmail bool) {
		got, err := identity.NormalizeEmail(raw, foldGmail)
		if err != nil {
			checkFuzzError(t, err, identity.TagEmailSHA256, raw)
			return
		}
		if again, err := identity.NormalizeEmail(got, foldGmail); err != nil || again != got {
			t.Fatalf("NormalizeEmail(%q) = %q; normalising that again gives %q, %v", raw, got, again, err)
		}
		local, domain, _ := strings.Cut(got, "@")
		if local == "" || domain == "" || strings.Contains(domain, "@") {
			t.Fatalf("NormalizeEmail(%q) = %q, want local@domain", raw, got)
		}
		if foldGmail && domain == "googlemail.com" || foldGmail && domain == "gmail.com" && strings.ContainsAny(local, ".+") {
			t.Fatalf("NormalizeEmail(%q, true) = %q, not folded", raw, got)
		}
		digest, err := identity.HashEmail(raw, foldGmail)
		if err != nil {
			t.Fatalf("HashEmail(%q) failed after NormalizeEmail succeeded: %v", raw, err)
		}
		if n, err := identity.Normalize(identity.TagEmailSHA256, digest); err != nil || n != digest {
			t.Fatalf("HashEmail(%q) = %q, which Normalize turns into %q, %v", raw, digest, n, err)
		}
	})
}

func FuzzNormalizePhone(f *testing.F) {
	f.Add("+44 (0)20 7946 0958", "")
	f.Add("020 7946 0958", "44")
	f.Add("1-234-567-8901", "+1")
	f.Add("0039 06 1234 5678", "39")
	f.Add("+1 234 567 8901 x12", "1")
	f.Fuzz(func(t *testing.T, raw, defaultCountryCallingCode string) {
		got, err := identity.NormalizePhone(raw, defaultCountryCallingCode)
		if errors.Is(err, identity.ErrInvalidCallingCode) {
			return
		}
		if err != nil {
			checkFuzzError(t, err, identity.TagPhoneSHA256, raw)
			return
		}
		digits := strings.TrimPrefix(got, "+")
		if len(digits) == len(got) || len(digits) < 8 || len(digits) > 15 || digits[0] == '0' || strings.Trim(digits, "0123456789") != "" {
			t.Fatalf("NormalizePhone(%q, %q) = %q, not E.164", raw, defaultCountryCallingCode, got)
		}
		for _, cc := range []string{defaultCountryCallingCode, ""} {
			if again, err := identity.NormalizePhone(got, cc); err != nil || again != got {
				t.Fatalf("NormalizePhone(%q, %q) = %q; normalising that again gives %q, %v", raw, defaultCountryCallingCode, got, again, err)
			}
		}
		if digest, err := identity.HashPhone(raw, defaultCountryCallingCode); err != nil || len(digest) != 64 {
			t.Fatalf("HashPhone(%q) = %q, %v after NormalizePhone succeeded", raw, digest, err)
		}
	})
}

func FuzzParseTag(f *testing.F) {
	registry := fuzzRegistry(f)
	known := registry.Tags()
	f.Add("email_sha256")
	f.Add(" IDFA ")
	f.Add("emial_sha256")
	f.Add("Bridge_ID")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		tag, err := identity.ParseTag(registry, s)
		if err != nil {
			var verr *identity.ValueError
			if !errors.As(err, &verr) || verr.Reason != identity.ReasonUnknownTag || verr.Tag != "" || tag != "" {
				t.Fatalf("ParseTag(%q) = %q, %#v; want a ReasonUnknownTag *ValueError", s, tag, err)
			}
			for _, k := range known {
				if !strings.Contains(verr.Hint, string(k)) {
					t.Fatalf("ParseTag(%q): hint %q does not list %s", s, verr.Hint, k)
				}
			}
			return
		}
		if !slices.Contains(known, tag) {
			t.Fatalf("ParseTag(%q) = %q, not a known tag", s, tag)
		}
		for _, spelling := range []string{string(tag), " " + strings.ToUpper(string(tag)) + "\t"} {
			if again, err := identity.ParseTag(registry, spelling); err != nil || again != tag {
				t.Fatalf("ParseTag(%q) = %q, %v; want %q", spelling, again, err, tag)
			}
		}
	})
}
