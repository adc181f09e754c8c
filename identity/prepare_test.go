package identity_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/cleanroom-oss/cleanroom/identity"
)

func TestNormalizeEmail(t *testing.T) {
	tests := []struct {
		in        string
		foldGmail bool
		want      string
	}{
		{"test@example.com", false, "test@example.com"},
		{"  Test@Example.COM \n", false, "test@example.com"},
		{"first.last+tag@example.com", false, "first.last+tag@example.com"},
		{"first.last+tag@example.com", true, "first.last+tag@example.com"}, // only Gmail is folded
		{"Jane.Doe+Marketing@gmail.com", false, "jane.doe+marketing@gmail.com"},
		{"Jane.Doe+Marketing@gmail.com", true, "janedoe@gmail.com"},
		{"jane.doe@googlemail.com", true, "janedoe@gmail.com"},
		{"jane.doe@googlemail.com", false, "jane.doe@googlemail.com"},
		{"j.a.n.e+a+b@GMAIL.COM", true, "jane@gmail.com"},
		{"jane@mail.gmail.com", true, "jane@mail.gmail.com"},
		{"ÉLODIE@exemple.fr", false, "élodie@exemple.fr"},
	}
	for _, tt := range tests {
		got, err := identity.NormalizeEmail(tt.in, tt.foldGmail)
		if err != nil || got != tt.want {
			t.Errorf("NormalizeEmail(%q, %v) = %q, %v; want %q", tt.in, tt.foldGmail, got, err, tt.want)
		}
	}
}

func TestNormalizeEmailInvalid(t *testing.T) {
	tests := []struct {
		in        string
		foldGmail bool
		reason    identity.Reason
	}{
		{"", false, identity.ReasonEmpty},
		{"   ", false, identity.ReasonEmpty},
		{strings.Repeat("a", 250) + "@example.com", false, identity.ReasonTooLong},
		{"caf\xe9@example.com", false, identity.ReasonBadUTF8},
		{"jane@exam\tple.com", false, identity.ReasonControlChars},
		{"jane.example.com", false, identity.ReasonBadEmail},
		{"jane@@example.com", false, identity.ReasonBadEmail},
		{"jane@doe@example.com", false, identity.ReasonBadEmail},
		{"@example.org", false, identity.ReasonBadEmail},
		{"jane@", false, identity.ReasonBadEmail},
		{"jane@localhost", false, identity.ReasonBadEmail},
		{"jane@.example.com", false, identity.ReasonBadEmail},
		{"jane@example.com.", false, identity.ReasonBadEmail},
		{"jane@example..com", false, identity.ReasonBadEmail},
		{"jane doe@example.com", false, identity.ReasonBadEmail},
		{"jane\u2009doe@example.com", false, identity.ReasonBadEmail},
		{"Jane Doe <jane@example.com>", false, identity.ReasonBadEmail},
		{"jane@example.com, joe@example.com", false, identity.ReasonBadEmail},
		{"+news@gmail.com", true, identity.ReasonBadEmail},
		{"...@gmail.com", true, identity.ReasonBadEmail},
	}
	for _, tt := range tests {
		got, err := identity.NormalizeEmail(tt.in, tt.foldGmail)
		if checkValueError(t, err, identity.TagEmailSHA256, tt.reason, tt.in) != nil && got != "" {
			t.Errorf("NormalizeEmail(%q) returned %q with an error", tt.in, got)
		}
	}
}

func TestNormalizePhone(t *testing.T) {
	tests := []struct {
		in, cc, want string
	}{
		{"+12345678901", "", "+12345678901"},
		{"+1 (234) 567-8901", "", "+12345678901"},
		{"+44 20 7946 0958", "1", "+442079460958"},
		{"+44 (0)20 7946 0958", "", "+442079460958"},
		{"0044 20 7946 0958", "", "+442079460958"},
		{"020 7946 0958", "44", "+442079460958"},
		{"020.7946.0958", "+44", "+442079460958"},
		{"(020) 7946-0958", "44", "+442079460958"},
		{"07700 900123", "44", "+447700900123"},
		{"(234) 567-8901", "1", "+12345678901"},
		{"1-234-567-8901", "1", "+12345678901"},
		{"06 1234 5678", "39", "+390612345678"},   // Italy keeps the leading 0
		{"0612345678", "33", "+33612345678"},      // France drops it
		{"030 123456789", "49", "+4930123456789"}, // Germany
		{" +49 30 123456789 ", "44", "+4930123456789"},
		{"+123456789012345", "", "+123456789012345"}, // 15 digits
		{"+1234567", "", ""},                         // 7 digits: too short
	}
	for _, tt := range tests {
		got, err := identity.NormalizePhone(tt.in, tt.cc)
		if tt.want == "" {
			checkValueError(t, err, identity.TagPhoneSHA256, identity.ReasonBadPhone, tt.in)
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizePhone(%q, %q) = %q, %v; want %q", tt.in, tt.cc, got, err, tt.want)
		}
	}
}

func TestNormalizePhoneInvalid(t *testing.T) {
	tests := []struct {
		in, cc string
		reason identity.Reason
	}{
		{"", "44", identity.ReasonEmpty},
		{"020\x007946", "44", identity.ReasonControlChars},
		{"\xff020", "44", identity.ReasonBadUTF8},
		{"020 7946 0958", "", identity.ReasonBadPhone},            // national, no default code
		{"+44 20 7946 0958 ext. 12", "", identity.ReasonBadPhone}, // extension
		{"+44 20 7946 0958 x12", "", identity.ReasonBadPhone},
		{"0800-FLOWERS", "1", identity.ReasonBadPhone},
		{"++44 20 7946 0958", "", identity.ReasonBadPhone},
		{"+44 20 7946 +0958", "", identity.ReasonBadPhone},
		{"+0 123 456 789", "", identity.ReasonBadPhone},    // country codes do not start with 0
		{"+1234567890123456", "", identity.ReasonBadPhone}, // 16 digits
		{"12345", "44", identity.ReasonBadPhone},
		{"+", "", identity.ReasonBadPhone},
		{"()", "44", identity.ReasonBadPhone},
		{"jane@example.com", "44", identity.ReasonBadPhone},
	}
	for _, tt := range tests {
		got, err := identity.NormalizePhone(tt.in, tt.cc)
		if checkValueError(t, err, identity.TagPhoneSHA256, tt.reason, tt.in) != nil && got != "" {
			t.Errorf("NormalizePhone(%q, %q) returned %q with an error", tt.in, tt.cc, got)
		}
	}
}

func TestNormalizePhoneInvalidCallingCode(t *testing.T) {
	for _, cc := range []string{"0", "044", "1234", "+", "++44", "4a", "+0", " 44"} {
		_, err := identity.NormalizePhone("+442079460958", cc)
		if !errors.Is(err, identity.ErrInvalidCallingCode) {
			t.Errorf("NormalizePhone with calling code %q: error %v, want ErrInvalidCallingCode", cc, err)
		}
		if _, err := identity.HashPhone("+442079460958", cc); !errors.Is(err, identity.ErrInvalidCallingCode) {
			t.Errorf("HashPhone with calling code %q: error %v, want ErrInvalidCallingCode", cc, err)
		}
	}
}

// The expected digests are published examples (UID2's normalisation guide uses
// user@example.com, jane.doe+marketing@gmail.com folded to janedoe@gmail.com, and +12345678901),
// each checked with sha256sum.
func TestHashEmail(t *testing.T) {
	tests := []struct {
		in        string
		foldGmail bool
		want      string
	}{
		{"test@example.com", false, testEmailSHA256},
		{" TEST@example.com ", false, testEmailSHA256},
		{"user@example.com", false, "b4c9a289323b21a01c3e940f150eb9b8c542587f1abfd8f0e1cc1ffc5e475514"},
		{"jane.doe+marketing@gmail.com", true, "d6117306485ed0e50afab3ac871e98f81699151f30281527d63ff5f233656c69"},
	}
	for _, tt := range tests {
		got, err := identity.HashEmail(tt.in, tt.foldGmail)
		if err != nil || got != tt.want {
			t.Errorf("HashEmail(%q, %v) = %q, %v; want %q", tt.in, tt.foldGmail, got, err, tt.want)
		}
		if n, err := identity.Normalize(identity.TagEmailSHA256, got); err != nil || n != got {
			t.Errorf("Normalize(email_sha256, HashEmail(%q)) = %q, %v; want it unchanged", tt.in, n, err)
		}
	}
	_, err := identity.HashEmail("not an email", false)
	checkValueError(t, err, identity.TagEmailSHA256, identity.ReasonBadEmail, "not an email")
}

func TestHashPhone(t *testing.T) {
	tests := []struct {
		in, cc, want string
	}{
		{"+12345678901", "", "10e6f0b47054a83359477dcb35231db6de5c69fb1816e1a6b98e192de9e5b9ee"},
		{"(234) 567-8901", "1", "10e6f0b47054a83359477dcb35231db6de5c69fb1816e1a6b98e192de9e5b9ee"},
		{"020 7946 0958", "44", "f0bf0228144d9fe2bdf1da2d8ca698f17bf1410ee688b075c27062e47b6f0b6d"},
	}
	for _, tt := range tests {
		got, err := identity.HashPhone(tt.in, tt.cc)
		if err != nil || got != tt.want {
			t.Errorf("HashPhone(%q, %q) = %q, %v; want %q", tt.in, tt.cc, got, err, tt.want)
		}
	}
	_, err := identity.HashPhone("020 7946 0958", "")
	checkValueError(t, err, identity.TagPhoneSHA256, identity.ReasonBadPhone, "020 7946 0958")
}
