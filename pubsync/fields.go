package pubsync

import (
	"unicode/utf8"
)

// textProblems reports whether s contains a control character (C0, DEL or C1) and whether it
// is invalid UTF-8.
func textProblems(s []byte) (control, badUTF8 bool) {
	ascii := true
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			control = true
		}
		if c >= 0x80 {
			ascii = false
		}
	}
	if ascii {
		return control, false
	}
	if !utf8.Valid(s) {
		return control, true
	}
	for _, r := range string(s) {
		if r >= 0x80 && r < 0xa0 {
			control = true
		}
	}
	return control, false
}
