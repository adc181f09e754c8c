package pubsync

import (
	"strings"

	"github.com/cleanroom-oss/cleanroom/rows"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// isoCountries lists the 249 officially assigned ISO 3166-1 alpha-2 codes.
const isoCountries = "" +
	"AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS " +
	"BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE " +
	"EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM " +
	"HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC " +
	"LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA " +
	"NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW " +
	"SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO " +
	"TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW"

// countryValid[(a-'A')*26 + (b-'A')] reports whether the code ab is assigned.
var countryValid = func() (t [26 * 26]bool) {
	for _, c := range strings.Fields(isoCountries) {
		t[int(c[0]-'A')*26+int(c[1]-'A')] = true
	}
	return t
}()

// countryHints suggests the code for common mistakes (reserved or non-ISO codes).
var countryHints = map[string]string{
	"UK": "GB", "EL": "GR", "EN": "GB", "XK": "", "EU": "",
}

// parseCountry returns the packed code of s (two letters, any case, surrounding spaces ignored),
// 0 for an empty field, or ok=false when s is not an assigned ISO 3166-1 alpha-2 code.
func parseCountry(s []byte) (code uint16, ok bool) {
	s = rows.TrimSpace(s)
	if len(s) == 0 {
		return 0, true
	}
	if len(s) != 2 {
		return 0, false
	}
	a, b := s[0]&^0x20, s[1]&^0x20 // upper-case ASCII letters
	if a < 'A' || a > 'Z' || b < 'A' || b > 'Z' || !countryValid[int(a-'A')*26+int(b-'A')] {
		return 0, false
	}
	return uint16(a)<<8 | uint16(b), true
}

// ValidCountry reports whether code is an assigned ISO 3166-1 alpha-2 code in capital letters.
func ValidCountry(code string) bool {
	c, ok := parseCountry([]byte(code))
	return ok && c != 0 && vault.CountryCode(c) == code
}

// badCountryError describes an invalid country field without quoting it (unless it is one of
// the well-known non-ISO codes, which cannot be personal data).
func badCountryError(line int64, s []byte) RowError {
	s = rows.TrimSpace(s)
	e := RowError{Line: line, Reason: ReasonBadCountry,
		Message: "the country is not an ISO 3166-1 alpha-2 code; the user is kept with an unknown country",
		Hint:    "Write the country as two letters such as US, GB or DE, or leave the field empty."}
	if len(s) == 2 {
		up := strings.ToUpper(string(s))
		if alt, known := countryHints[up]; known {
			e.Message = "the country " + up + " is not an assigned ISO 3166-1 alpha-2 code; the user is kept with an unknown country"
			if alt != "" {
				e.Hint = "Use " + alt + " instead of " + up + "."
			}
		}
	} else if len(s) == 3 {
		e.Hint = "Use the two-letter code (alpha-2, such as US), not the three-letter one (alpha-3, such as USA)."
	}
	return e
}
