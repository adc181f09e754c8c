package identity

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"unicode"
)

// NormalizeEmail returns raw as the string whose SHA-256 digest is uploaded under
// TagEmailSHA256: trimmed and lowercased. With foldGmail, addresses at gmail.com and
// googlemail.com also lose the dots and any +suffix of their local part and take the domain
// gmail.com, as some destinations require; other domains are never folded, since elsewhere
// those characters can tell two mailboxes apart.
//
// Returns a *ValueError with ReasonEmpty, ReasonTooLong, ReasonBadUTF8, ReasonControlChars or
// ReasonBadEmail (not exactly one @, an empty local part, or a domain without an inner dot).
func NormalizeEmail(raw string, foldGmail bool) (string, error) {
	v, err := trimAndCheck(TagEmailSHA256, raw)
	if err != nil {
		return "", err
	}
	email := strings.ToLower(v)
	if len(email) > MaxValueLength { // some letters take more bytes in lower case
		return "", tooLongError(TagEmailSHA256, len(email))
	}
	local, domain, _ := strings.Cut(email, "@")
	if msg := emailProblem(email, local, domain); msg != "" {
		return "", badEmailError(msg)
	}
	if foldGmail && (domain == "gmail.com" || domain == "googlemail.com") {
		local, _, _ = strings.Cut(local, "+")
		local = strings.ReplaceAll(local, ".", "")
		if local == "" {
			return "", badEmailError("the address has no local part once its dots and +suffix are removed")
		}
		email = local + "@gmail.com"
	}
	return email, nil
}

// emailProblem returns what makes email (split at its first @ into local and domain) unusable
// as an address, or "" if nothing does. The check is deliberately loose: rejecting an unusual
// but real address would lose a match.
func emailProblem(email, local, domain string) string {
	switch {
	case strings.Count(email, "@") != 1:
		return "the address does not have exactly one @"
	case local == "":
		return "the address has nothing before the @"
	case strings.ContainsFunc(email, unicode.IsSpace) || strings.ContainsAny(email, "<>,;"):
		return "the address contains a space or one of < > , ; (a name or a list rather than one address)"
	case strings.IndexByte(domain, '.') <= 0 || strings.HasSuffix(domain, ".") || strings.Contains(domain, ".."):
		return "the address's domain is not a name such as example.com"
	}
	return ""
}

// badEmailError reports a malformed raw email address.
func badEmailError(msg string) *ValueError {
	return &ValueError{TagEmailSHA256, ReasonBadEmail, msg,
		"Fix or remove the address; each field must hold one address such as name@example.com."}
}

// ErrInvalidCallingCode is returned by NormalizePhone and HashPhone when the default
// country calling code is not 1 to 3 digits with an optional leading +. It is a configuration
// mistake rather than a bad value, so it is not a *ValueError.
var ErrInvalidCallingCode = errors.New("identity: the default country calling code must be 1 to 3 digits, such as 44 or +1")

// keepsTrunkZero holds the calling codes of countries whose national numbers keep their leading
// 0 in E.164 form (Italy, San Marino).
var keepsTrunkZero = map[string]bool{"39": true, "378": true}

// NormalizePhone returns raw in the E.164 form whose SHA-256 digest is uploaded under
// TagPhoneSHA256: + followed by 8 to 15 digits, the first of them not 0.
//
// Spaces, dashes, dots and parentheses are removed, as is the "(0)" of international numbers
// written like +44 (0)20 7946 0958. A leading 00 stands for +. A number without either is
// national: it takes defaultCountryCallingCode (such as "44", or "" to require international
// numbers) after losing its trunk prefix, a leading 0 (kept for Italy and San Marino) or, for
// calling code 1, a leading 1. Extensions and letters are not accepted.
//
// Returns ErrInvalidCallingCode for a malformed defaultCountryCallingCode, or a
// *ValueError with ReasonEmpty, ReasonTooLong, ReasonBadUTF8, ReasonControlChars or
// ReasonBadPhone.
func NormalizePhone(raw string, defaultCountryCallingCode string) (string, error) {
	cc := strings.TrimPrefix(defaultCountryCallingCode, "+")
	if defaultCountryCallingCode != "" && (cc == "" || len(cc) > 3 || cc[0] == '0' || !isDecimal(cc)) {
		return "", ErrInvalidCallingCode
	}
	v, err := trimAndCheck(TagPhoneSHA256, raw)
	if err != nil {
		return "", err
	}
	v = strings.ReplaceAll(v, "(0)", "")
	digits := make([]byte, 0, len(v)+len(cc))
	international := false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case '0' <= c && c <= '9':
			digits = append(digits, c)
		case c == '+' && len(digits) == 0 && !international:
			international = true
		case c == ' ', c == '-', c == '.', c == '(', c == ')':
		default:
			return "", badPhoneError("the number contains a character other than digits, +, spaces, dashes, dots and parentheses")
		}
	}
	switch {
	case international:
	case len(digits) >= 2 && digits[0] == '0' && digits[1] == '0':
		digits = digits[2:]
	case cc == "":
		return "", badPhoneError("the number has no country code (+ or 00) and no default country calling code was given")
	default:
		digits = append([]byte(cc), withoutTrunkPrefix(digits, cc)...)
	}
	switch {
	case len(digits) < 8 || len(digits) > 15:
		return "", badPhoneError("the number has the wrong length: E.164 numbers have 8 to 15 digits, country code included")
	case digits[0] == '0':
		return "", badPhoneError("the number's country code starts with 0")
	}
	return "+" + string(digits), nil
}

// withoutTrunkPrefix returns the national number digits without the trunk prefix that is
// dialled only within the country with calling code cc.
func withoutTrunkPrefix(digits []byte, cc string) []byte {
	switch {
	case len(digits) == 0:
	case cc == "1" && digits[0] == '1':
		return digits[1:]
	case digits[0] == '0' && !keepsTrunkZero[cc]:
		return digits[1:]
	}
	return digits
}

// badPhoneError reports a raw phone number that cannot be written in E.164 form.
func badPhoneError(msg string) *ValueError {
	return &ValueError{TagPhoneSHA256, ReasonBadPhone, msg,
		"Write the number with its country code, such as +44 20 7946 0958, or set the default country calling code."}
}

// HashEmail returns the SHA-256 digest, as 64 lowercase hex digits, of raw normalised by
// NormalizeEmail with foldGmail. It returns NormalizeEmail's errors.
func HashEmail(raw string, foldGmail bool) (string, error) {
	email, err := NormalizeEmail(raw, foldGmail)
	if err != nil {
		return "", err
	}
	return sha256Hex(email), nil
}

// HashPhone returns the SHA-256 digest, as 64 lowercase hex digits, of raw normalised by
// NormalizePhone with defaultCountryCallingCode. It returns NormalizePhone's errors.
func HashPhone(raw string, defaultCountryCallingCode string) (string, error) {
	phone, err := NormalizePhone(raw, defaultCountryCallingCode)
	if err != nil {
		return "", err
	}
	return sha256Hex(phone), nil
}

// sha256Hex returns the SHA-256 digest of s as lowercase hex.
func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
