package identity

import (
	"fmt"
	"slices"
	"strings"
)

// Tag names an identifier type. It is the second column of an upload file and the namespace of
// a fingerprint, so the same value under two tags never matches. The built-in tags are the
// constants below; operators add custom tags through [NewRegistry].
type Tag string

// The built-in tags.
const (
	// TagEmailSHA256 is the SHA-256 digest of a trimmed, lowercased email address, as 64
	// lowercase hexadecimal digits.
	TagEmailSHA256 Tag = "email_sha256"
	// TagPhoneSHA256 is the SHA-256 digest of a phone number in E.164 form (+ country code and
	// subscriber number, digits only), as 64 lowercase hexadecimal digits.
	TagPhoneSHA256 Tag = "phone_sha256"
	// TagMAID is a mobile advertising ID (Apple IDFA or Android advertising ID) as a lowercase
	// UUID with hyphens.
	TagMAID Tag = "maid"
	// TagIPAddress is an IPv4 or IPv6 address in canonical text form.
	TagIPAddress Tag = "ip_address"
	// TagAppNexus is a Xandr (formerly AppNexus) user ID: a non-zero unsigned 64-bit decimal.
	TagAppNexus Tag = "appnexus"
)

// builtinTags lists the built-in tags in the order they are shown to users.
var builtinTags = []Tag{TagEmailSHA256, TagPhoneSHA256, TagMAID, TagIPAddress, TagAppNexus}

// builtinAliases maps every lowercase spelling ParseTag accepts for a built-in tag, including the
// tag itself, to that tag. Other products and older files use these names.
var builtinAliases = map[string]Tag{
	"email_sha256": TagEmailSHA256,
	"email-sha256": TagEmailSHA256,
	"sha256_email": TagEmailSHA256,
	"sha256-email": TagEmailSHA256,

	"phone_sha256": TagPhoneSHA256,
	"phone-sha256": TagPhoneSHA256,
	"sha256_phone": TagPhoneSHA256,
	"sha256-phone": TagPhoneSHA256,

	"maid": TagMAID,
	"idfa": TagMAID,
	"aaid": TagMAID,
	"gaid": TagMAID,
	"ifa":  TagMAID,

	"ip_address": TagIPAddress,
	"ip-address": TagIPAddress,
	"ip":         TagIPAddress,
	"ipv4":       TagIPAddress,
	"ipv6":       TagIPAddress,

	"appnexus":    TagAppNexus,
	"appnexus_id": TagAppNexus,
	"appnexus-id": TagAppNexus,
	"xandr":       TagAppNexus,
	"xandr_id":    TagAppNexus,
	"xandr-id":    TagAppNexus,
}

// Registry is the set of tags a deployment accepts: the built-in tags plus the custom tags its
// operator registered, such as the ID of an identity-bridge provider. Custom tag values are
// opaque strings (see [Registry.Normalize]).
//
// A Registry is immutable and safe for concurrent use. A nil *Registry holds the built-in tags
// only.
type Registry struct {
	custom map[Tag]bool
	tags   []Tag // built-in tags, then custom tags in registration order
}

// NewRegistry returns a registry of the built-in tags plus the given custom tag names. Returns an
// error if a name does not match ^[a-z][a-z0-9_]{1,31}$, is already a built-in tag or one of
// its aliases, or is given twice.
func NewRegistry(customTags ...string) (*Registry, error) {
	r := &Registry{
		custom: make(map[Tag]bool, len(customTags)),
		tags:   slices.Clip(slices.Clone(builtinTags)),
	}
	for _, name := range customTags {
		if !isCustomTagName(name) {
			return nil, fmt.Errorf("identity: custom tag %q: a name is 2 to 32 characters of a-z, 0-9 and _, starting with a letter", name)
		}
		if _, ok := builtinAliases[name]; ok {
			return nil, fmt.Errorf("identity: custom tag %q: the name is taken by a built-in tag", name)
		}
		if r.custom[Tag(name)] {
			return nil, fmt.Errorf("identity: custom tag %q: registered twice", name)
		}
		r.custom[Tag(name)] = true
		r.tags = append(r.tags, Tag(name))
	}
	return r, nil
}

// isCustomTagName reports whether name matches ^[a-z][a-z0-9_]{1,31}$.
func isCustomTagName(name string) bool {
	if len(name) < 2 || len(name) > 32 || name[0] < 'a' || name[0] > 'z' {
		return false
	}
	for i := 1; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// Tags returns the tags r accepts: the built-in tags, then the custom tags in registration order.
func (r *Registry) Tags() []Tag {
	if r == nil {
		return slices.Clone(builtinTags)
	}
	return slices.Clone(r.tags)
}

// isCustom reports whether tag is one of r's custom tags.
func (r *Registry) isCustom(tag Tag) bool {
	return r != nil && r.custom[tag]
}

// ParseTag returns the tag that s names in registry r (nil for the built-in tags only). It
// ignores case and surrounding whitespace and accepts the aliases other products use (for
// example sha256_email, idfa, gaid, ipv6, xandr). Returns a *ValueError with ReasonUnknownTag,
// listing the known tags, if s names none of them.
func ParseTag(r *Registry, s string) (Tag, error) {
	// Only ASCII letters are folded: Unicode folding would map look-alikes such as the Kelvin
	// sign onto tag names.
	name := lowerASCII(strings.TrimSpace(s))
	if tag, found := builtinAliases[name]; found {
		return tag, nil
	}
	if r.isCustom(Tag(name)) {
		return Tag(name), nil
	}
	return "", unknownTagError(r, name)
}

// unknownTagError reports a tag that r does not know. The tag as given is left out of the message,
// since a file with swapped columns puts identifiers in the tag column; when it is a near miss of
// a known tag, the message suggests that tag instead.
func unknownTagError(r *Registry, name string) *ValueError {
	known := r.Tags()
	names := make([]string, len(known))
	for i, t := range known {
		names[i] = string(t)
	}
	msg := "unknown identifier type"
	if name == "" {
		msg = "the identifier type is missing"
	} else if guess, ok := closestTag(r, name); ok {
		msg += "; did you mean " + string(guess) + "?"
	}
	return &ValueError{
		Reason:  ReasonUnknownTag,
		Message: msg,
		Hint:    "Use one of the known identifier types: " + strings.Join(names, ", ") + ".",
	}
}

// closestTag returns the one tag that name is a likely misspelling of: within one edit of a
// spelling of the tag, or two for names longer than four characters. It returns false when no
// tag or more than one tag is that close.
func closestTag(r *Registry, name string) (Tag, bool) {
	if len(name) > 40 {
		return "", false
	}
	maxEdits := 1
	if len(name) > 4 {
		maxEdits = 2
	}
	var found Tag
	consider := func(spelling string, tag Tag) bool {
		if editDistance(name, spelling) > maxEdits {
			return true
		}
		if found != "" && found != tag {
			return false // ambiguous
		}
		found = tag
		return true
	}
	for spelling, tag := range builtinAliases {
		if !consider(spelling, tag) {
			return "", false
		}
	}
	for _, tag := range r.Tags()[len(builtinTags):] {
		if !consider(string(tag), tag) {
			return "", false
		}
	}
	return found, found != ""
}

// editDistance returns the Levenshtein distance between a and b, counted in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
