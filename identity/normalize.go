package identity

import (
	"encoding/base64"
	"encoding/hex"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxValueLength is the longest value, in bytes after trimming surrounding whitespace, that the
// normalisers accept. Real identifiers are far shorter; a longer field usually means the file
// was split on the wrong delimiter.
const MaxValueLength = 256

// emptySHA256Hex is the SHA-256 digest of the empty string: what hashing a blank field gives.
const emptySHA256Hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// Normalize returns value in the canonical form of the built-in tag, or a *ValueError naming
// why it is not a valid identifier of that type. Surrounding whitespace is ignored.
//
//   - TagEmailSHA256, TagPhoneSHA256: a SHA-256 digest as 64 hexadecimal digits (any case) or
//     as standard or URL-safe Base64 of the 32 bytes (padded or not); returns 64 lowercase hex
//     digits. Raw emails and phone numbers, MD5 and SHA-1 digests and the digest of the empty
//     string are rejected with their own reasons.
//   - TagMAID: a UUID with or without hyphens and braces, in any case; returns it lowercase
//     with hyphens. The all-zero ID is rejected.
//   - TagIPAddress: an IPv4 or IPv6 address; returns its canonical form (IPv4-mapped IPv6
//     addresses become IPv4). Zones and the unspecified, loopback, multicast and broadcast
//     addresses are rejected; private ranges are accepted.
//   - TagAppNexus: a decimal number without sign that fits in 64 bits; returns it without
//     leading zeros. The placeholders 0 and -1 are rejected.
//
// Normalize is idempotent: a value it returns normalises to itself. It returns ReasonUnknownTag
// for custom tags; use [Registry.Normalize] for those.
func Normalize(tag Tag, value string) (string, error) {
	return (*Registry)(nil).Normalize(tag, value)
}

// Normalize returns value in the canonical form of tag, one of r's tags, or a *ValueError
// naming why it is not a valid identifier of that type. Built-in tags follow the package-level
// [Normalize]. A custom tag's value is an opaque ID of 1 to MaxValueLength printable ASCII
// characters other than space and comma, returned as given after trimming surrounding
// whitespace.
func (r *Registry) Normalize(tag Tag, value string) (string, error) {
	var v string
	var err *ValueError
	switch tag {
	case TagEmailSHA256:
		v, err = normalizeSHA256(&hashedEmail, value)
	case TagPhoneSHA256:
		v, err = normalizeSHA256(&hashedPhone, value)
	case TagMAID:
		v, err = normalizeMAID(value)
	case TagIPAddress:
		v, err = normalizeIP(value)
	case TagAppNexus:
		v, err = normalizeAppNexus(value)
	default:
		if !r.isCustom(tag) {
			return "", unknownTagError(r, string(tag))
		}
		v, err = normalizeOpaque(tag, value)
	}
	if err != nil {
		return "", err
	}
	return v, nil
}

// trimAndCheck trims surrounding whitespace from value and checks what every identifier must
// satisfy: not empty, at most MaxValueLength bytes, valid UTF-8 and free of control characters.
func trimAndCheck(tag Tag, value string) (string, *ValueError) {
	v := strings.TrimSpace(value)
	if v == "" {
		return "", &ValueError{tag, ReasonEmpty, "the value is empty",
			"Remove rows that have no identifier."}
	}
	if len(v) > MaxValueLength {
		return "", tooLongError(tag, len(v))
	}
	control, ascii := false, true
	for i := 0; i < len(v); i++ {
		c := v[i]
		ascii = ascii && c < utf8.RuneSelf
		control = control || c < 0x20 || c == 0x7f
	}
	if !ascii {
		if !utf8.ValidString(v) {
			return "", &ValueError{tag, ReasonBadUTF8, "the value is not valid UTF-8 text",
				"Save the file as UTF-8 (not Latin-1 or UTF-16) and upload it again."}
		}
		control = control || strings.IndexFunc(v, unicode.IsControl) >= 0
	}
	if control {
		return "", &ValueError{tag, ReasonControlChars,
			"the value contains a control character such as a tab, a line break or NUL",
			"Remove the control characters, and check the file's quoting and line endings."}
	}
	return v, nil
}

// tooLongError reports a value of n bytes, more than MaxValueLength.
func tooLongError(tag Tag, n int) *ValueError {
	return &ValueError{tag, ReasonTooLong,
		"the value is " + strconv.Itoa(n) + " bytes long; the limit is " + strconv.Itoa(MaxValueLength),
		"Check that the fields are separated by tabs and that each field holds one identifier."}
}

// hashedKind holds what differs between the two tags whose values are SHA-256 digests: what was
// hashed and how it must be written before hashing.
type hashedKind struct {
	tag    Tag
	noun   string // what was hashed
	recipe string // how to write it before hashing, as the start of a sentence
}

var (
	hashedEmail = hashedKind{TagEmailSHA256, "email address", "Trim and lowercase the address"}
	hashedPhone = hashedKind{TagPhoneSHA256, "phone number",
		"Write the number in E.164 form (+, country code, digits only)"}
)

// Base64 encodings of a digest, strict so that each digest has exactly one accepted spelling
// per alphabet and padding.
var (
	base64Std    = base64.StdEncoding.Strict()
	base64RawStd = base64.RawStdEncoding.Strict()
	base64URL    = base64.URLEncoding.Strict()
	base64RawURL = base64.RawURLEncoding.Strict()
)

// normalizeSHA256 normalises a SHA-256 digest of the kind k.
func normalizeSHA256(k *hashedKind, value string) (string, *ValueError) {
	if len(value) == 64 && isLowerHex(value) && value != emptySHA256Hex {
		return value, nil // already canonical: the common case, in one pass
	}
	v, err := trimAndCheck(k.tag, value)
	if err != nil {
		return "", err
	}
	if isHex(v) {
		switch len(v) {
		case 64:
			var lower [64]byte
			for i := range lower {
				lower[i] = v[i] | 0x20 // lowercases A-F and keeps digits
			}
			if string(lower[:]) == emptySHA256Hex {
				return "", emptyHashError(k)
			}
			if string(lower[:]) == v {
				return v, nil
			}
			return string(lower[:]), nil
		case 32:
			return "", otherDigestError(k, ReasonMD5, "MD5")
		case 40:
			return "", otherDigestError(k, ReasonSHA1, "SHA-1")
		}
		if looksLikePhone(v) {
			return "", rawValueError(k, &hashedPhone)
		}
		return "", &ValueError{k.tag, ReasonWrongLength,
			"the value has " + strconv.Itoa(len(v)) + " hexadecimal digits; a SHA-256 digest has 64",
			"Upload whole digests: 64 hexadecimal digits, or 44 Base64 characters (43 without padding)."}
	}
	switch digest := decodeBase64(v); len(digest) {
	case 32:
		var h [64]byte
		hex.Encode(h[:], digest)
		if string(h[:]) == emptySHA256Hex {
			return "", emptyHashError(k)
		}
		return string(h[:]), nil
	case 16:
		return "", otherDigestError(k, ReasonMD5, "MD5")
	case 20:
		return "", otherDigestError(k, ReasonSHA1, "SHA-1")
	}
	if strings.IndexByte(v, '@') >= 0 {
		return "", rawValueError(k, &hashedEmail)
	}
	if looksLikePhone(v) {
		return "", rawValueError(k, &hashedPhone)
	}
	return "", &ValueError{k.tag, ReasonNotHex,
		"the value is neither 64 hexadecimal digits nor a SHA-256 digest in Base64",
		"Upload each digest as 64 hexadecimal digits (0-9, a-f) or as Base64 of its 32 bytes, with nothing else in the field."}
}

// decodeBase64 decodes v as one of the Base64 forms of a digest: standard or URL-safe
// alphabet, padded or not. It returns nil if v is none of them. Unpadded forms are only tried at
// a SHA-256 digest's length, so that short words are not taken for Base64.
func decodeBase64(v string) []byte {
	var enc *base64.Encoding
	urlSafe := strings.ContainsAny(v, "-_")
	switch {
	case strings.HasSuffix(v, "=") && urlSafe:
		enc = base64URL
	case strings.HasSuffix(v, "="):
		enc = base64Std
	case len(v) == 43 && urlSafe:
		enc = base64RawURL
	case len(v) == 43:
		enc = base64RawStd
	default:
		return nil
	}
	b, err := enc.DecodeString(v)
	if err != nil {
		return nil
	}
	return b
}

// rawValueError reports a raw email address or phone number (of the kind found) where a digest
// of the kind k was expected.
func rawValueError(k, found *hashedKind) *ValueError {
	reason := ReasonRawEmail
	if found == &hashedPhone {
		reason = ReasonRawPhone
	}
	if found == k {
		return &ValueError{k.tag, reason,
			"the value is a raw " + found.noun + ", not its SHA-256 digest",
			found.recipe + ", SHA-256 it, and upload the 64-character hex digest (cleanroom prepare does this locally)."}
	}
	return &ValueError{k.tag, reason,
		"the value looks like a raw " + found.noun + ", which is neither a SHA-256 digest nor " + indefinite(k.noun),
		found.recipe + ", SHA-256 it, and upload the 64-character hex digest tagged " + string(found.tag) +
			" (cleanroom prepare does this locally)."}
}

// indefinite returns noun with its indefinite article.
func indefinite(noun string) string {
	if strings.IndexByte("aeiou", noun[0]) >= 0 {
		return "an " + noun
	}
	return "a " + noun
}

// otherDigestError reports a digest made with another hash function where SHA-256 was expected.
func otherDigestError(k *hashedKind, reason Reason, function string) *ValueError {
	return &ValueError{k.tag, reason,
		"the value is " + indefinite(function) + " digest; matching uses SHA-256",
		"Digests cannot be converted into one another: hash the original " + k.noun +
			" with SHA-256 instead (cleanroom prepare does this locally)."}
}

// emptyHashError reports the digest of the empty string.
func emptyHashError(k *hashedKind) *ValueError {
	return &ValueError{k.tag, ReasonEmptyHash,
		"the value is the SHA-256 digest of an empty string, not of " + indefinite(k.noun),
		"Skip rows whose " + k.noun + " is empty before hashing them."}
}

// looksLikePhone reports whether v is written like a phone number: 7 to 15 digits, possibly
// with a leading + and spaces, dashes, dots or parentheses.
func looksLikePhone(v string) bool {
	digits := 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case '0' <= c && c <= '9':
			digits++
		case c == '+' && i == 0, c == ' ', c == '-', c == '.', c == '(', c == ')':
		default:
			return false
		}
	}
	return 7 <= digits && digits <= 15
}

// isHex reports whether v consists of hexadecimal digits only.
func isHex(v string) bool {
	for i := 0; i < len(v); i++ {
		if !isHexDigit(v[i]) {
			return false
		}
	}
	return true
}

// isLowerHex reports whether v consists of lowercase hexadecimal digits only.
func isLowerHex(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c-'0' > 9 && c-'a' > 5 {
			return false
		}
	}
	return true
}

// isHexDigit reports whether c is a hexadecimal digit of either case.
func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// lowerASCII returns v with ASCII letters lowercased; other bytes are kept. It returns v itself,
// without allocating, when v has no upper-case letter.
func lowerASCII(v string) string {
	i := 0
	for i < len(v) && (v[i] < 'A' || v[i] > 'Z') {
		i++
	}
	if i == len(v) {
		return v
	}
	var b strings.Builder
	b.Grow(len(v))
	b.WriteString(v[:i])
	for ; i < len(v); i++ {
		c := v[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()
}

// normalizeMAID normalises a mobile advertising ID.
func normalizeMAID(value string) (string, *ValueError) {
	v, err := trimAndCheck(TagMAID, value)
	if err != nil {
		return "", err
	}
	if len(v) >= 2 && v[0] == '{' && v[len(v)-1] == '}' {
		v = v[1 : len(v)-1]
	}
	if len(v) != 36 && len(v) != 32 {
		return "", badUUIDError(v)
	}
	hyphenated := len(v) == 36
	var out [36]byte // the canonical form, filled as v is read
	zero := true
	for i, j := 0, 0; i < len(out); i++ {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			out[i] = '-'
			if hyphenated {
				if v[j] != '-' {
					return "", badUUIDError(v)
				}
				j++
			}
			continue
		}
		c := v[j]
		if !isHexDigit(c) {
			return "", badUUIDError(v)
		}
		out[i] = c | 0x20 // lowercase; digits are unchanged
		zero = zero && c == '0'
		j++
	}
	if zero {
		return "", &ValueError{TagMAID, ReasonZeroMAID,
			"the value is the all-zero advertising ID, which devices report when the user limits ad tracking",
			"Drop rows with the all-zero ID; they do not identify a device."}
	}
	if string(out[:]) == v {
		return v, nil
	}
	return string(out[:]), nil
}

// badUUIDError reports a value that is not a UUID; v is the value, used only to pick the message.
func badUUIDError(v string) *ValueError {
	msg := "the value is not a UUID (32 hexadecimal digits, usually written 8-4-4-4-12 with hyphens)"
	if len(v) == 64 && isHex(v) {
		msg = "the value looks like a SHA-256 digest, but mobile advertising IDs are uploaded unhashed"
	}
	return &ValueError{TagMAID, ReasonBadUUID, msg,
		"Upload the IDFA or Android advertising ID as the device reports it, such as 6d92078a-8246-4ba4-ae5b-76104861e7dc."}
}

// normalizeIP normalises an IP address.
func normalizeIP(value string) (string, *ValueError) {
	v, err := trimAndCheck(TagIPAddress, value)
	if err != nil {
		return "", err
	}
	const hint = "Upload one address per row, as a dotted quad (203.0.113.7) or in IPv6 notation (2001:db8::7), without port, prefix length or zone."
	addr, parseErr := netip.ParseAddr(v)
	if parseErr != nil {
		msg := "the value is not an IPv4 or IPv6 address"
		if _, e := netip.ParseAddrPort(v); e == nil {
			msg = "the value has a port number after the address"
		} else if _, e := netip.ParsePrefix(v); e == nil {
			msg = "the value is a network prefix, not a single address"
		}
		return "", &ValueError{TagIPAddress, ReasonBadIP, msg, hint}
	}
	if addr.Zone() != "" {
		return "", &ValueError{TagIPAddress, ReasonBadIP,
			"the value has an IPv6 zone (after %), which only has a meaning on the host that recorded it", hint}
	}
	addr = addr.Unmap()
	if msg := nonDeviceAddress(addr); msg != "" {
		return "", &ValueError{TagIPAddress, ReasonBadIP, msg,
			"Drop these rows; use the address the user's device connected from."}
	}
	var buf [64]byte
	canonical := addr.AppendTo(buf[:0])
	if string(canonical) == v {
		return v, nil
	}
	return string(canonical), nil
}

// broadcastIPv4 is the limited broadcast address.
var broadcastIPv4 = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// nonDeviceAddress returns why addr cannot be the address of a user's device, or "" if it can.
func nonDeviceAddress(addr netip.Addr) string {
	switch {
	case addr.IsUnspecified():
		return "the value is the unspecified address (0.0.0.0 or ::), which identifies no device"
	case addr.IsLoopback():
		return "the value is a loopback address, which identifies no device"
	case addr.IsMulticast():
		return "the value is a multicast address, which identifies no device"
	case addr == broadcastIPv4:
		return "the value is the broadcast address, which identifies no device"
	}
	return ""
}

// normalizeAppNexus normalises a Xandr user ID.
func normalizeAppNexus(value string) (string, *ValueError) {
	v, err := trimAndCheck(TagAppNexus, value)
	if err != nil {
		return "", err
	}
	const hint = "Upload the Xandr user ID as digits only, without sign, spaces or separators."
	if v == "-1" {
		return "", placeholderXandrError()
	}
	if !isDecimal(v) {
		if _, e := strconv.ParseFloat(v, 64); e == nil && strings.ContainsAny(v, "eE") {
			return "", &ValueError{TagAppNexus, ReasonBadNumber,
				"the value is in scientific notation, so a spreadsheet has rounded the ID",
				"Export the IDs as text rather than numbers so that every digit is kept."}
		}
		return "", &ValueError{TagAppNexus, ReasonBadNumber, "the value is not a decimal number", hint}
	}
	id, parseErr := strconv.ParseUint(v, 10, 64)
	if parseErr != nil {
		return "", &ValueError{TagAppNexus, ReasonBadNumber,
			"the value is larger than the largest Xandr user ID, 18446744073709551615", hint}
	}
	if id == 0 {
		return "", placeholderXandrError()
	}
	if v[0] == '0' {
		return strconv.FormatUint(id, 10), nil
	}
	return v, nil
}

// placeholderXandrError reports the IDs 0 and -1, which Xandr uses for users it cannot identify.
func placeholderXandrError() *ValueError {
	return &ValueError{TagAppNexus, ReasonBadNumber,
		"the value is 0 or -1, which Xandr uses for an unknown or opted-out user",
		"Drop rows whose Xandr ID is 0 or -1; they do not identify a user."}
}

// isDecimal reports whether v consists of ASCII digits only.
func isDecimal(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	return true
}

// normalizeOpaque normalises the value of a custom tag.
func normalizeOpaque(tag Tag, value string) (string, *ValueError) {
	v, err := trimAndCheck(tag, value)
	if err != nil {
		return "", err
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= ' ' || c > '~' || c == ',' {
			return "", &ValueError{tag, ReasonBadChar,
				"the value contains a space, a comma or a character outside printable ASCII",
				"Upload the ID exactly as its provider issued it: printable ASCII without spaces or commas."}
		}
	}
	return v, nil
}
