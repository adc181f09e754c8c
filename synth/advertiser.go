package synth

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/bits"
	"slices"
	"strconv"

	"github.com/cleanroom-oss/cleanroom/identity"
)

// AdvertiserConfig describes an advertiser's first-party file. Zero fields take the defaults
// named below.
type AdvertiserConfig struct {
	// Seed drives which persons the advertiser has, which identifiers and segments it holds for
	// them, and its mistakes. It is independent of the universe's seed.
	Seed uint64
	// Rows is the number of lines of the data file. Each line is one identifier of a person,
	// so a person with an email address and a phone number gives two lines.
	Rows int
	// Overlap is the fraction of the advertiser's persons who are users of the publisher
	// universe; the others are people outside it.
	Overlap float64
	// Segments is the number of interest segments (default 12). An "all customers" segment,
	// which every person belongs to, comes on top.
	Segments int
	// Tags are the identifier types the advertiser holds (nil: email_sha256, phone_sha256 and
	// maid), in the order a person's rows are written.
	Tags []identity.Tag
	// Coverage is the share of persons for whom the advertiser holds each of its Tags (nil:
	// DefaultAdvertiserCoverage()). A person drawn with none gets the first of Tags.
	Coverage map[identity.Tag]float64
	// Mistakes is the fraction of rows carrying one of the realistic mistakes (see Mistake),
	// spread evenly over the kinds; it also sets the share of invalid values in the raw PII file.
	Mistakes float64
}

// DefaultSegments is the default number of interest segments.
const DefaultSegments = 12

// DefaultAdvertiserTags returns the default identifier mix: email_sha256, phone_sha256, maid.
func DefaultAdvertiserTags() []identity.Tag {
	return []identity.Tag{identity.TagEmailSHA256, identity.TagPhoneSHA256, identity.TagMAID}
}

// DefaultAdvertiserCoverage returns the default share of persons for whom the advertiser holds
// each identifier type: email 90%, phone 50%, MAID 30%, IP address 30%, Xandr ID 30%.
func DefaultAdvertiserCoverage() map[identity.Tag]float64 {
	return map[identity.Tag]float64{
		identity.TagEmailSHA256: 0.9, identity.TagPhoneSHA256: 0.5, identity.TagMAID: 0.3,
		identity.TagIPAddress: 0.3, identity.TagAppNexus: 0.3,
	}
}

// Segment rates: a person with the segment's interest is in it with segmentWith, one without
// with segmentWithout.
const (
	segmentWith    = 0.5
	segmentWithout = 0.01
	secondEmail    = 0.05 // share of persons the advertiser knows by their second address
	personChunk    = 8192
)

// AllCustomersID is the ID of the segment every advertiser person belongs to.
const AllCustomersID = "all"

// Segment is an advertiser segment.
type Segment struct {
	// Index is the segment's position in Advertiser.Segments; Person.Segments holds these.
	Index int
	// ID is the segment ID written in the data and taxonomy files, such as "s03" or "all".
	ID string
	// Name is the display name.
	Name string
	// Interest is the index of the universe interest the segment is tied to, or -1 for the all
	// customers segment.
	Interest int
}

// Mistake is a realistic mistake in an advertiser data file row.
type Mistake int

// The mistakes. Accepted reports which of them ingest accepts and repairs.
const (
	NoMistake             Mistake = iota
	MistakeRawEmail               // a raw email address under email_sha256
	MistakeUpperHex               // the digest in upper-case hex (accepted: lowercased)
	MistakeMD5                    // an MD5 digest where SHA-256 is expected
	MistakeSHA1                   // a SHA-1 digest where SHA-256 is expected
	MistakeBase64                 // the SHA-256 digest in Base64 (accepted: converted to hex)
	MistakeWhitespace             // spaces around the value (accepted: trimmed)
	MistakeZeroMAID               // the all-zero mobile advertising ID
	MistakeUnknownTag             // an identifier type no registry knows, such as "hashed_email"
	MistakeUnknownSegment         // only a segment ID missing from the taxonomy (kept, without segments)
	MistakeEmptySegments          // an empty segment list (kept, without segments)
	MistakeMalformedLine          // a missing tab, an extra column, or commas instead of tabs
	MistakeBadUTF8                // a Latin-1 byte in the value, which is not valid UTF-8
	numMistakes
)

var mistakeNames = [numMistakes]string{
	"none", "raw_email", "upper_hex", "md5", "sha1", "base64", "whitespace", "zero_maid",
	"unknown_tag", "unknown_segment", "empty_segments", "malformed_line", "bad_utf8",
}

// String returns the mistake's stable name, such as "raw_email".
func (m Mistake) String() string {
	if m < 0 || m >= numMistakes {
		return "mistake(" + strconv.Itoa(int(m)) + ")"
	}
	return mistakeNames[m]
}

// Accepted reports whether ingest accepts a row with this mistake, so that its identifier takes
// part in matches: identity.Normalize takes upper-case hex and Base64 digests and ignores
// surrounding whitespace, returning the canonical value, and a row whose segment list is empty
// or names only unknown segments is kept without segments. Rows with any other mistake are
// rejected, by identity.Normalize (raw email, MD5, SHA-1, zero MAID), identity.ParseTag
// (unknown tag) or the line checks (malformed line, bad UTF-8).
func (m Mistake) Accepted() bool {
	return m.KeepsSegments() || m == MistakeUnknownSegment || m == MistakeEmptySegments
}

// KeepsSegments reports whether a row with this mistake is accepted with its segments: true for
// NoMistake and the mistakes ingest repairs (upper-case hex, Base64, whitespace).
func (m Mistake) KeepsSegments() bool {
	return m == NoMistake || m == MistakeUpperHex || m == MistakeBase64 || m == MistakeWhitespace
}

// AllMistakes returns every mistake kind except NoMistake.
func AllMistakes() []Mistake {
	out := make([]Mistake, 0, numMistakes-1)
	for m := NoMistake + 1; m < numMistakes; m++ {
		out = append(out, m)
	}
	return out
}

// unknownTags are tag names people use that no registry knows.
var unknownTags = []string{"email", "hashed_email", "sha256", "mobile_id", "emial_sha256", "phone_number"}

// Advertiser generates an advertiser's data file, taxonomy and raw PII over a universe, with the
// ground truth of who is who. An Advertiser is immutable and safe for concurrent use.
type Advertiser struct {
	u        *Universe
	cfg      AdvertiserConfig
	segments []Segment
	tags     []identity.Tag
	tagKinds []int // kind of each tag; email tags resolve per person
	tagCover []uint64
	mistake  uint64 // threshold

	domain uint64 // persons j < domain are placed by perm; those landing below Users are users
	perm   permutation

	persons  int // number of persons in the data file
	lastRows int // rows of the last person that fit in the file
}

// NewAdvertiser returns the advertiser cfg describes over universe u. It returns an error naming
// the field when a field is out of range, or when the universe is too small for the overlap.
func NewAdvertiser(u *Universe, cfg AdvertiserConfig) (*Advertiser, error) {
	if cfg.Rows < 0 {
		return nil, fmt.Errorf("synth: Rows %d: want 0 or more", cfg.Rows)
	}
	if !(cfg.Overlap >= 0 && cfg.Overlap <= 1) {
		return nil, fmt.Errorf("synth: Overlap %v: want 0 to 1", cfg.Overlap)
	}
	if !(cfg.Mistakes >= 0 && cfg.Mistakes <= 1) {
		return nil, fmt.Errorf("synth: Mistakes %v: want 0 to 1", cfg.Mistakes)
	}
	if cfg.Segments == 0 {
		cfg.Segments = DefaultSegments
	}
	if cfg.Segments < 1 || cfg.Segments > 999 {
		return nil, fmt.Errorf("synth: Segments %d: want 1 to 999", cfg.Segments)
	}
	if cfg.Tags == nil {
		cfg.Tags = DefaultAdvertiserTags()
	} else {
		cfg.Tags = slices.Clone(cfg.Tags)
	}
	if len(cfg.Tags) == 0 {
		return nil, fmt.Errorf("synth: Tags: want at least one identifier type")
	}
	coverage := DefaultAdvertiserCoverage()
	if cfg.Coverage != nil {
		coverage = cfg.Coverage
	}
	cfg.Coverage = map[identity.Tag]float64{}
	a := &Advertiser{u: u, mistake: threshold(cfg.Mistakes)}
	for _, tag := range cfg.Tags {
		kind := slices.Index(kindTags[:], tag)
		if kind < 0 {
			return nil, fmt.Errorf("synth: Tags: %q is not a built-in identifier type", tag)
		}
		if slices.Contains(a.tagKinds, kind) {
			return nil, fmt.Errorf("synth: Tags: %s listed twice", tag)
		}
		p, ok := coverage[tag]
		if !ok || !(p >= 0 && p <= 1) {
			return nil, fmt.Errorf("synth: Coverage of %s: want a share from 0 to 1", tag)
		}
		cfg.Coverage[tag] = p
		a.tagKinds = append(a.tagKinds, kind)
		a.tagCover = append(a.tagCover, threshold(p))
	}
	a.tags = cfg.Tags
	a.cfg = cfg
	a.initSegments()

	if cfg.Overlap > 0 {
		if u.Users() == 0 {
			return nil, fmt.Errorf("synth: Overlap %v needs a universe with users", cfg.Overlap)
		}
		a.domain = uint64(float64(u.Users()) / cfg.Overlap)
		a.perm = newPermutation(a.domain, hash3(cfg.Seed, streamOverlap, 0))
	}
	a.layout()
	if a.domain > 0 && uint64(a.persons) > a.domain {
		return nil, fmt.Errorf("synth: %d rows hold about %d persons, and an overlap of %v of them needs %d publisher users, but the universe has %d; raise the publisher users or lower the overlap or rows",
			cfg.Rows, a.persons, cfg.Overlap, int(float64(a.persons)*cfg.Overlap), u.Users())
	}
	return a, nil
}

// initSegments ties each interest segment to an interest, drawn from the seed (distinct while
// there are enough interests), and appends the all customers segment.
func (a *Advertiser) initSegments() {
	r := newRNG(a.cfg.Seed, streamSegments, 0)
	interests := a.u.interests
	order := make([]int, len(interests))
	for i := range order {
		order[i] = i
	}
	for i := len(order) - 1; i > 0; i-- {
		j := r.below(i + 1)
		order[i], order[j] = order[j], order[i]
	}
	width := len(strconv.Itoa(a.cfg.Segments))
	width = max(width, 2)
	for s := range a.cfg.Segments {
		t := order[s%len(order)]
		a.segments = append(a.segments, Segment{
			Index: s, ID: fmt.Sprintf("s%0*d", width, s+1),
			Name: interests[t].Name + " Buyers", Interest: t,
		})
	}
	a.segments = append(a.segments, Segment{
		Index: a.cfg.Segments, ID: AllCustomersID, Name: "All Customers", Interest: -1,
	})
}

// layout counts the persons the file holds: each person's row count is the first thing drawn
// from its generator, so counting is cheap.
func (a *Advertiser) layout() {
	rows := 0
	j := 0
	for rows < a.cfg.Rows {
		n := a.rowsOf(j)
		a.lastRows = min(n, a.cfg.Rows-rows)
		rows += n
		j++
	}
	a.persons = j
}

// rowsOf returns the number of rows of person j.
func (a *Advertiser) rowsOf(j int) int {
	r := newRNG(a.cfg.Seed, streamPerson, uint64(j))
	return bits.OnesCount(uint(a.tagMask(&r)))
}

// tagMask draws which of the advertiser's tags it holds for a person (bit per index in tags).
func (a *Advertiser) tagMask(r *rng) uint {
	var m uint
	for t, th := range a.tagCover {
		if r.chance(th) {
			m |= 1 << t
		}
	}
	if m == 0 {
		m = 1
	}
	return m
}

// Config returns the configuration with its defaults filled in.
func (a *Advertiser) Config() AdvertiserConfig {
	cfg := a.cfg
	cfg.Tags = slices.Clone(cfg.Tags)
	cfg.Coverage = make(map[identity.Tag]float64, len(a.cfg.Coverage))
	for k, v := range a.cfg.Coverage {
		cfg.Coverage[k] = v
	}
	return cfg
}

// Universe returns the universe the advertiser overlaps.
func (a *Advertiser) Universe() *Universe { return a.u }

// Segments returns the segments: the interest segments, then the all customers segment.
func (a *Advertiser) Segments() []Segment { return slices.Clone(a.segments) }

// Persons returns the number of persons in the data file. The last one may have fewer rows in
// the file than Person reports, when the row count runs out.
func (a *Advertiser) Persons() int { return a.persons }

// locate returns the publisher user index of person j (-1 if the person is not a user) and the
// index of the person's raw identity: the user index, or Users+j for people outside the universe.
func (a *Advertiser) locate(j int) (user int, id uint64) {
	if uint64(j) < a.domain {
		if x := a.perm.at(uint64(j)); x < uint64(a.u.Users()) {
			return int(x), x
		}
	}
	return -1, uint64(a.u.Users()) + uint64(j)
}

// PersonUser returns the publisher user index of person j, or -1 when the person is not a
// publisher user. It is cheap: use it to map many persons without generating their rows.
func (a *Advertiser) PersonUser(j int) int {
	user, _ := a.locate(j)
	return user
}

// Person is an advertiser person with the ground truth about them.
type Person struct {
	// Index is the person's position in the data file (their rows are consecutive).
	Index int
	// UserIndex is the publisher user the person is, or -1 for a person outside the universe.
	UserIndex int
	// Interests are the person's hidden interests (indexes into Universe.Interests).
	Interests []int
	// Segments are the person's segments (indexes into Advertiser.Segments), ascending.
	Segments []int
	// Identifiers are the identifiers the advertiser holds for the person, one per row, before
	// any mistake.
	Identifiers []Identifier
	// Rows are the person's lines of the data file, one per identifier.
	Rows []Row
	// Matchable reports whether the person is a publisher user and at least one of their
	// accepted rows carries an identifier the publisher holds for that user.
	Matchable bool
	// MatchableInSegments reports whether such a row also carries the person's segments (its
	// segment list has no mistake), so a match finds the person in each of their segments.
	MatchableInSegments bool
}

// Row is one line of the advertiser data file.
type Row struct {
	// Line is the line without its newline.
	Line string
	// Tag is the type of the identifier the row was made from.
	Tag identity.Tag
	// Mistake is the mistake the row carries, or NoMistake.
	Mistake Mistake
}

// personGen holds the scratch space for generating persons.
type personGen struct {
	a       *Advertiser
	d       draw
	scratch []byte
	val     []byte
	segs    []byte
	segIdx  []int
	rows    []rowInfo
}

// rowInfo describes a generated row.
type rowInfo struct {
	start, end int // the line within the output, without newline
	kind       int // the identifier kind the row was made from
	mistake    Mistake
	accepted   int // the kind ingest sees after repairs, or -1 when it rejects the row
}

// personInfo is what genPerson reports besides the rows.
type personInfo struct {
	user      int
	id        uint64
	interests uint64
	matchable bool // an accepted row matches the publisher's record
	matchSegs bool // such a row also keeps the person's segments
}

// drawPerson draws person j's identifier kinds (a mask over the advertiser's tags and the email
// kind), identity and segments (into g.segIdx and g.segs), and returns the generator positioned
// for the rows' draws.
func (g *personGen) drawPerson(j int) (r rng, mask uint, emailKind int, info personInfo) {
	a := g.a
	r = newRNG(a.cfg.Seed, streamPerson, uint64(j))
	mask = a.tagMask(&r)
	emailKind = kindEmail0
	if r.float() < secondEmail {
		emailKind = kindEmail1
	}
	user, id := a.locate(j)
	a.u.drawUser(id, &g.d, false)
	info = personInfo{user: user, id: id, interests: g.d.interests}

	g.segIdx = g.segIdx[:0]
	g.segs = g.segs[:0]
	for _, s := range a.segments {
		in := s.Interest < 0
		if !in {
			p := segmentWithout
			if g.d.interests&(1<<s.Interest) != 0 {
				p = segmentWith
			}
			in = r.float() < p
		}
		if in {
			if len(g.segIdx) > 0 {
				g.segs = append(g.segs, ',')
			}
			g.segIdx = append(g.segIdx, s.Index)
			g.segs = append(g.segs, s.ID...)
		}
	}
	return r, mask, emailKind, info
}

// genPerson appends up to maxRows rows of person j to b.
func (g *personGen) genPerson(b []byte, j, maxRows int) ([]byte, personInfo) {
	a := g.a
	r, mask, emailKind, info := g.drawPerson(j)
	user, id := info.user, info.id
	g.rows = g.rows[:0]
	for t, kind := range a.tagKinds {
		if mask&(1<<t) == 0 || len(g.rows) == maxRows {
			continue
		}
		if kind == kindEmail0 {
			kind = emailKind
		}
		m := NoMistake
		var variant uint64
		if r.chance(a.mistake) {
			m = Mistake(1 + r.below(int(numMistakes)-1))
			variant = r.u64()
		}
		start := len(b)
		var accepted int
		b, accepted = g.appendRow(b, id, kind, emailKind, m, variant)
		g.rows = append(g.rows, rowInfo{start: start, end: len(b), kind: kind, mistake: m, accepted: accepted})
		b = append(b, '\n')
		if user >= 0 && accepted >= 0 && g.d.covered&(1<<accepted) != 0 {
			info.matchable = true
			info.matchSegs = info.matchSegs || m.KeepsSegments()
		}
	}
	return b, info
}

// appendRow appends the line (without newline) for person id's identifier of the given kind
// with mistake m, and returns the kind ingest accepts it as (-1: rejected).
func (g *personGen) appendRow(b []byte, id uint64, kind, emailKind int, m Mistake, variant uint64) ([]byte, int) {
	w := &g.a.u.world
	tag := string(kindTags[kind])
	segs := g.segs
	accepted := kind
	switch m {
	case NoMistake, MistakeWhitespace, MistakeUnknownTag, MistakeUnknownSegment, MistakeEmptySegments,
		MistakeMalformedLine, MistakeBadUTF8:
		g.val, g.scratch = w.appendValue(g.val[:0], g.scratch, id, kind)
	case MistakeZeroMAID:
		g.val = append(g.val[:0], "00000000-0000-0000-0000-000000000000"...)
		tag = string(identity.TagMAID)
	default: // a digest mistake, made on the row's email or phone, else on the email address
		hk := kind
		if m == MistakeRawEmail || hk > kindPhone {
			hk = emailKind
		}
		tag = string(kindTags[hk])
		accepted = hk
		g.scratch = w.appendRaw(g.scratch[:0], id, hk)
		g.val = g.val[:0]
		switch m {
		case MistakeRawEmail:
			g.val = append(g.val, g.scratch...)
		case MistakeUpperHex:
			sum := sha256.Sum256(g.scratch)
			g.val = hex.AppendEncode(g.val, sum[:])
			for i, c := range g.val {
				if c >= 'a' {
					g.val[i] = c - 'a' + 'A'
				}
			}
		case MistakeMD5:
			sum := md5.Sum(g.scratch)
			g.val = hex.AppendEncode(g.val, sum[:])
		case MistakeSHA1:
			sum := sha1.Sum(g.scratch)
			g.val = hex.AppendEncode(g.val, sum[:])
		case MistakeBase64:
			sum := sha256.Sum256(g.scratch)
			g.val = base64.StdEncoding.AppendEncode(g.val, sum[:])
		}
	}
	if !m.Accepted() {
		accepted = -1
	}
	sep1, sep2 := byte('\t'), byte('\t')
	switch m {
	case MistakeWhitespace:
		const spaces = "   "
		b = append(b, spaces[:variant/3%3]...) // leading: none, one or two spaces
		b = append(b, g.val...)
		b = append(b, spaces[:1+variant%3]...) // trailing: one to three
	case MistakeBadUTF8:
		b = append(b, g.val...)
		b[len(b)-len(g.val)+int(variant%uint64(len(g.val)))] = 0xe9 // é in Latin-1
	case MistakeUnknownTag:
		b = append(b, g.val...)
		tag = unknownTags[variant%uint64(len(unknownTags))]
	case MistakeUnknownSegment:
		b = append(b, g.val...)
		// A segment deleted from the taxonomy: one of the IDs after the last one.
		segs = fmt.Appendf(nil, "s%0*d", len(g.a.segments[0].ID)-1, len(g.a.segments)+int(variant%9))
	case MistakeEmptySegments:
		b = append(b, g.val...)
		segs = nil
	case MistakeMalformedLine:
		b = append(b, g.val...)
		switch variant % 3 {
		case 0:
			sep1 = ' ' // a missing tab
		case 2:
			sep1, sep2 = ',', ',' // commas instead of tabs
		} // case 1: an extra column, added below
	default:
		b = append(b, g.val...)
	}
	b = append(b, sep1)
	b = append(b, tag...)
	b = append(b, sep2)
	b = append(b, segs...)
	if m == MistakeMalformedLine && variant%3 == 1 {
		b = append(b, "\t2024-01-31"...)
	}
	return b, accepted
}

// Person returns person j (0 <= j < Persons) with all their rows.
func (a *Advertiser) Person(j int) Person {
	if j < 0 || j >= a.persons {
		panic(fmt.Sprintf("synth: person %d out of range [0, %d)", j, a.persons))
	}
	g := &personGen{a: a}
	b, info := g.genPerson(nil, j, len(a.tags))
	p := Person{Index: j, UserIndex: info.user, Matchable: info.matchable, MatchableInSegments: info.matchSegs,
		Interests: appendBits(nil, info.interests), Segments: slices.Clone(g.segIdx)}
	for _, ri := range g.rows {
		p.Rows = append(p.Rows, Row{Line: string(b[ri.start:ri.end]), Tag: kindTags[ri.kind], Mistake: ri.mistake})
		var val []byte
		val, g.scratch = a.u.world.appendValue(nil, g.scratch, info.id, ri.kind)
		raw := string(val)
		if ri.kind <= kindPhone {
			raw = string(g.scratch)
		}
		p.Identifiers = append(p.Identifiers, Identifier{Tag: kindTags[ri.kind], Value: string(val), Raw: raw})
	}
	return p
}
