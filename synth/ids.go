package synth

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/cleanroom-oss/cleanroom/identity"
)

// The kinds of identifier a person can have. A person's raw identity holds one of each; the
// publisher and the advertiser each know a subset.
const (
	kindEmail0   = iota // the primary email address
	kindEmail1          // the secondary email address
	kindPhone           // the phone number
	kindMAID            // the mobile advertising ID
	kindIP              // the IP address
	kindAppNexus        // the Xandr user ID
	numKinds
)

// kindTags maps an identifier kind to its tag.
var kindTags = [numKinds]identity.Tag{
	identity.TagEmailSHA256, identity.TagEmailSHA256, identity.TagPhoneSHA256,
	identity.TagMAID, identity.TagIPAddress, identity.TagAppNexus,
}

// DefaultSalt keys the raw identities (email addresses, phone numbers, device IDs, ...) of
// universes whose UniverseConfig.Salt is zero.
const DefaultSalt uint64 = 0x636c65616e726f6f // "cleanroo"

// CountryWeight is a country and its share of the people in a universe.
type CountryWeight struct {
	// Code is the ISO 3166-1 alpha-2 code, upper case.
	Code string
	// Weight is the country's relative share; weights need not sum to 1.
	Weight float64
}

// DefaultCountries returns the default country mix: US 40%, GB 14%, DE 10%, FR 8%, CA 6%,
// AU 5%, ES 5%, IT 5%, NL 4%, SE 3%.
func DefaultCountries() []CountryWeight {
	return []CountryWeight{
		{"US", 40}, {"GB", 14}, {"DE", 10}, {"FR", 8}, {"CA", 6},
		{"AU", 5}, {"ES", 5}, {"IT", 5}, {"NL", 4}, {"SE", 3},
	}
}

// phonePlan says how a country's mobile numbers are written: E.164 is + cc prefix and free
// digits. National numbers add the trunk prefix 0 (NANP numbers: none).
type phonePlan struct {
	cc     string
	prefix string
	free   int // digits after the prefix, 8 or 9, so numbers are unique for 10^8 people
}

// phonePlans holds the numbering of common countries; others get fallbackPlan.
var phonePlans = map[string]phonePlan{
	"US": {"1", "2", 9}, "CA": {"1", "6", 9}, "GB": {"44", "7", 9}, "DE": {"49", "15", 9},
	"FR": {"33", "6", 8}, "AU": {"61", "4", 8}, "ES": {"34", "6", 8}, "IT": {"39", "3", 9},
	"NL": {"31", "6", 8}, "SE": {"46", "7", 8}, "IE": {"353", "8", 8}, "BE": {"32", "4", 8},
	"AT": {"43", "66", 8}, "CH": {"41", "7", 8}, "PL": {"48", "5", 8}, "DK": {"45", "2", 8},
	"NO": {"47", "4", 8}, "FI": {"358", "4", 8}, "PT": {"351", "9", 8}, "JP": {"81", "90", 8},
	"BR": {"55", "119", 8}, "MX": {"52", "155", 8}, "IN": {"91", "9", 9}, "NZ": {"64", "21", 8},
}

// fallbackPlan numbers the phones of countries missing from phonePlans (under a shared
// international calling code, so numbers stay unique per country).
var fallbackPlan = phonePlan{"882", "", 9}

// emailDomains are the domains of generated email addresses, with their weights (of 100).
var emailDomains = []struct {
	domain string
	weight int
}{
	{"gmail.com", 38}, {"yahoo.com", 12}, {"hotmail.com", 10}, {"outlook.com", 9},
	{"icloud.com", 8}, {"gmx.de", 5}, {"web.de", 4}, {"orange.fr", 4}, {"btinternet.com", 3},
	{"aol.com", 3}, {"mail.com", 2}, {"example.org", 2},
}

// emailDomainOf maps a value below 100 to a domain.
var emailDomainOf = func() [100]string {
	var t [100]string
	i := 0
	for _, d := range emailDomains {
		for range d.weight {
			t[i] = d.domain
			i++
		}
	}
	return t
}()

// country is one country of a world with its phone numbering.
type country struct {
	code string
	plan phonePlan
	mod  uint64 // 10^plan.free
	mul  uint64 // multiplier of the bijection i -> subscriber number, coprime to mod
	add  uint64
}

// world generates raw identities: everything about person i that does not depend on the
// universe seed. Two universes with the same salt and countries describe the same people.
type world struct {
	salt      uint64
	countries []country
	pick      aliasTable // country by weight
	ipMul     uint64     // odd multiplier of the IPv4 bijection
	ipAdd     uint64
	ip6Key    uint64
}

func newWorld(salt uint64, weights []CountryWeight) (world, error) {
	w := world{salt: salt}
	if len(weights) == 0 {
		return w, fmt.Errorf("synth: no countries")
	}
	ws := make([]float64, len(weights))
	seen := map[string]bool{}
	for i, cw := range weights {
		if len(cw.Code) != 2 || cw.Code[0] < 'A' || cw.Code[0] > 'Z' || cw.Code[1] < 'A' || cw.Code[1] > 'Z' {
			return w, fmt.Errorf("synth: country %q: want an ISO 3166-1 alpha-2 code in upper case", cw.Code)
		}
		if seen[cw.Code] {
			return w, fmt.Errorf("synth: country %s listed twice", cw.Code)
		}
		if !(cw.Weight > 0) || cw.Weight > 1e12 {
			return w, fmt.Errorf("synth: country %s: weight must be positive", cw.Code)
		}
		seen[cw.Code] = true
		ws[i] = cw.Weight
		plan, ok := phonePlans[cw.Code]
		if !ok {
			plan = fallbackPlan
			plan.prefix = strconv.Itoa(100 + i) // keeps each country's numbers apart
		}
		mod := uint64(1)
		for range plan.free {
			mod *= 10
		}
		h := hash3(salt, streamPublicKeys, uint64(i))
		w.countries = append(w.countries, country{
			code: cw.Code, plan: plan, mod: mod,
			mul: (h%(mod/10))*10 + 1, // ends in 1, so coprime to 10^free: a bijection
			add: mix64(h) % mod,
		})
	}
	w.pick = newAliasTable(ws)
	h := hash3(salt, streamPublicKeys, 1<<32)
	w.ipMul = h | 1
	w.ipAdd = mix64(h)
	w.ip6Key = mix64(h ^ 0x6970)
	return w, nil
}

// idHash returns the salt-keyed hash of person i's identifier of the given kind.
func (w *world) idHash(i uint64, kind int) uint64 {
	return hash3(w.salt, streamIdentity<<8|uint64(kind), i)
}

// countryOf returns the index of person i's country.
func (w *world) countryOf(i uint64) int {
	return w.pick.draw(hash3(w.salt, streamIdentity<<8|0xff, i))
}

// appendEmail appends person i's raw email address k (0 or 1), in normalised form:
// u<i>.<k>@<domain>.
func (w *world) appendEmail(dst []byte, i uint64, k int) []byte {
	dst = append(dst, 'u')
	dst = strconv.AppendUint(dst, i, 10)
	dst = append(dst, '.', byte('0'+k), '@')
	return append(dst, emailDomainOf[w.idHash(i, kindEmail0+k)%100]...)
}

// appendPhone appends person i's phone number in E.164 form. Numbers are unique for i below
// 10^8 (and per country, below 10^free).
func (w *world) appendPhone(dst []byte, i uint64) []byte {
	c := &w.countries[w.countryOf(i)]
	dst = append(dst, '+')
	dst = append(dst, c.plan.cc...)
	dst = append(dst, c.plan.prefix...)
	return appendSubscriber(dst, c, i)
}

// appendSubscriber appends the free digits of person i's number in country c, zero-padded.
func appendSubscriber(dst []byte, c *country, i uint64) []byte {
	n := (c.mul*(i%c.mod) + c.add) % c.mod // both factors below 10^9: no overflow
	var buf [20]byte
	s := strconv.AppendUint(buf[:0], n, 10)
	for range c.plan.free - len(s) {
		dst = append(dst, '0')
	}
	return append(dst, s...)
}

// appendMAID appends person i's mobile advertising ID: a version-4 UUID, lowercase with hyphens.
func (w *world) appendMAID(dst []byte, i uint64) []byte {
	var b [16]byte
	h1 := w.idHash(i, kindMAID)
	h2 := mix64(h1 ^ 0x6d616964)
	for j := range 8 {
		b[j] = byte(h1 >> (8 * j))
		b[8+j] = byte(h2 >> (8 * j))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], b[10:16])
	return append(dst, out[:]...)
}

// ipAddr returns person i's IP address: a public IPv4 address, unique for i below 2^32, or for
// about one person in five (5%, plus those whose IPv4 image falls in a reserved range) an IPv6
// address unique for every i.
func (w *world) ipAddr(i uint64) netip.Addr {
	v4 := uint32(w.ipMul*i + w.ipAdd)
	first := byte(v4 >> 24)
	switch {
	case w.idHash(i, kindIP)%100 < 5,
		first == 0, first == 10, first == 100, first == 127, first == 169, first == 172,
		first == 192, first == 198, first >= 224:
		var b [16]byte
		h := w.idHash(i, kindIP)
		low := mix64(i ^ w.ip6Key) // a bijection of i
		b[0], b[1] = 0x2a, byte(h>>8)&0x0f
		for j := 2; j < 8; j++ {
			b[j] = byte(h >> (8 * j))
		}
		for j := range 8 {
			b[8+j] = byte(low >> (56 - 8*j))
		}
		return netip.AddrFrom16(b)
	}
	return netip.AddrFrom4([4]byte{byte(v4 >> 24), byte(v4 >> 16), byte(v4 >> 8), byte(v4)})
}

// appendIP appends person i's IP address in canonical form.
func (w *world) appendIP(dst []byte, i uint64) []byte {
	return w.ipAddr(i).AppendTo(dst)
}

// appNexusID returns person i's Xandr user ID, a 19-digit number.
func (w *world) appNexusID(i uint64) uint64 {
	return 1_000_000_000_000_000_000 + w.idHash(i, kindAppNexus)%8_000_000_000_000_000_000
}

// appendRaw appends person i's raw identifier of the given kind: for emails and phones the
// string that is hashed, for the others the canonical value itself.
func (w *world) appendRaw(dst []byte, i uint64, kind int) []byte {
	switch kind {
	case kindEmail0, kindEmail1:
		return w.appendEmail(dst, i, kind-kindEmail0)
	case kindPhone:
		return w.appendPhone(dst, i)
	case kindMAID:
		return w.appendMAID(dst, i)
	case kindIP:
		return w.appendIP(dst, i)
	default:
		return strconv.AppendUint(dst, w.appNexusID(i), 10)
	}
}

// appendValue appends person i's identifier of the given kind as identity.Normalize writes it:
// emails and phones as lowercase hex SHA-256 of the raw form. scratch is reused for the raw
// form and returned.
func (w *world) appendValue(dst, scratch []byte, i uint64, kind int) (out, scratchOut []byte) {
	if kind > kindPhone {
		return w.appendRaw(dst, i, kind), scratch
	}
	scratch = w.appendRaw(scratch[:0], i, kind)
	sum := sha256.Sum256(scratch)
	return hex.AppendEncode(dst, sum[:]), scratch
}
