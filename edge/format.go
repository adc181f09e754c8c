package edge

import (
	"strconv"
	"unicode/utf8"

	"github.com/cleanroom-oss/cleanroom"
)

// Format says how to write a publisher's answer: its GAM targeting key, its Xandr keyword key,
// and the OpenRTB user.data entry's name (the provider's domain) and segtax.
type Format struct {
	GAMKey   string
	XandrKey string
	Name     string
	// Segtax is the user.data entry's ext.segtax; 0 leaves ext out.
	Segtax int
}

// MaxKeyLength is the longest GAM or Xandr key accepted (GAM's limit on key names).
const MaxKeyLength = 20

// CheckKey checks an ad-server key: 1 to MaxKeyLength ASCII letters, digits and underscores, not
// starting with a digit, so it is valid in GAM and Xandr and can stand in a keywords string
// ("key=code,key=code").
func CheckKey(key string) error {
	ok := len(key) > 0 && len(key) <= MaxKeyLength && !(key[0] >= '0' && key[0] <= '9')
	for i := 0; ok && i < len(key); i++ {
		c := key[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
	}
	if !ok {
		return cleanroom.Errorf(cleanroom.EINVALID, "The ad-server key is not valid.").With("key", key).
			Hint("Use 1 to %d letters, digits or underscores, starting with a letter or underscore.", MaxKeyLength)
	}
	return nil
}

// Check checks the format's keys and name.
func (f *Format) Check() error {
	if err := CheckKey(f.GAMKey); err != nil {
		return err
	}
	if err := CheckKey(f.XandrKey); err != nil {
		return err
	}
	if !validDataName(f.Name) || f.Segtax < 0 {
		return cleanroom.Errorf(cleanroom.EINVALID, "The OpenRTB data name or segtax is not valid.").With("name", f.Name).With("segtax", f.Segtax).
			Hint("Use the provider's domain as the name (letters, digits, '.', '-', '_', at most 253) and a segtax of 0 or more.")
	}
	return nil
}

// validDataName reports whether name can name a user.data entry: a domain's characters.
func validDataName(name string) bool {
	if name == "" || len(name) > 253 || !utf8.ValidString(name) {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// AppendAnswer appends the whole answer for codes to dst:
//
//	{"gam":{"<gam key>":["100001","100002"]},
//	 "xandr":{"<xandr key>":["100001","100002"]},
//	 "ortb2":{"user":{"data":[<user.data entry>],"keywords":"<xandr key>=100001,<xandr key>=100002"}}}
//
// With no codes every part is empty ({"gam":{},"xandr":{},"ortb2":{"user":{}}}), so a page sets
// nothing. No allocation when dst has room.
func AppendAnswer(dst []byte, f *Format, codes []uint32) []byte {
	dst = append(dst, `{"gam":`...)
	dst = AppendGAM(dst, f.GAMKey, codes)
	dst = append(dst, `,"xandr":`...)
	dst = AppendXandr(dst, f.XandrKey, codes)
	dst = append(dst, `,"ortb2":{"user":{`...)
	if len(codes) > 0 {
		dst = append(dst, `"data":[`...)
		dst = AppendUserData(dst, f.Name, f.Segtax, codes)
		dst = append(dst, `],"keywords":`...)
		dst = AppendKeywords(dst, f.XandrKey, codes)
	}
	return append(dst, "}}}"...)
}

// AppendGAM appends GAM key-values, {"key":["100001","100002"]}, the argument of
// googletag.pubads().setTargeting(key, values) for each key; {} with no codes.
func AppendGAM(dst []byte, key string, codes []uint32) []byte {
	if len(codes) == 0 {
		return append(dst, "{}"...)
	}
	dst = append(dst, '{')
	dst = appendString(dst, key)
	dst = append(dst, ":["...)
	for i, c := range codes {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = strconv.AppendUint(dst, uint64(c), 10)
		dst = append(dst, '"')
	}
	return append(dst, "]}"...)
}

// AppendXandr appends Xandr keywords in the shape apntag.setKeywords takes,
// {"key":["100001","100002"]}; {} with no codes.
func AppendXandr(dst []byte, key string, codes []uint32) []byte { return AppendGAM(dst, key, codes) }

// AppendUserData appends one OpenRTB 2.6 user.data entry,
// {"name":"...","ext":{"segtax":N},"segment":[{"id":"100001"},{"id":"100002"}]}, ext left out
// when segtax is 0.
func AppendUserData(dst []byte, name string, segtax int, codes []uint32) []byte {
	dst = append(dst, `{"name":`...)
	dst = appendString(dst, name)
	if segtax > 0 {
		dst = append(dst, `,"ext":{"segtax":`...)
		dst = strconv.AppendInt(dst, int64(segtax), 10)
		dst = append(dst, '}')
	}
	dst = append(dst, `,"segment":[`...)
	for i, c := range codes {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"id":"`...)
		dst = strconv.AppendUint(dst, uint64(c), 10)
		dst = append(dst, `"}`...)
	}
	return append(dst, "]}"...)
}

// AppendKeywords appends the OpenRTB user.keywords value as a JSON string,
// "key=100001,key=100002", which Prebid's appnexusBidAdapter turns into
// keywords [{key: "key", value: ["100001", "100002"]}]. The key must pass CheckKey.
func AppendKeywords(dst []byte, key string, codes []uint32) []byte {
	dst = append(dst, '"')
	for i, c := range codes {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendEscaped(dst, key)
		dst = append(dst, '=')
		dst = strconv.AppendUint(dst, uint64(c), 10)
	}
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaping quotes, backslashes, control characters,
// and <, >, & (so the answer is safe anywhere), and replacing invalid UTF-8.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = appendEscaped(dst, s)
	return append(dst, '"')
}

// appendEscaped appends s escaped for a JSON string, without the quotes.
func appendEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+n]...)
		}
		i += n
	}
	return dst
}
