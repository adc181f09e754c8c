package synth

import (
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"sync"

	"github.com/cleanroom-oss/cleanroom/identity"
)

// Coverage gives the share of users for whom the publisher holds each identifier type.
type Coverage struct {
	// EmailSHA256 is the share with a (primary) email address.
	EmailSHA256 float64
	// SecondEmail is the share, among users with an email address, with a second one.
	SecondEmail float64
	// PhoneSHA256, MAID, IPAddress and AppNexus are the shares with a phone number, a mobile
	// advertising ID, an IP address and a Xandr user ID.
	PhoneSHA256, MAID, IPAddress, AppNexus float64
}

// DefaultCoverage returns the default publisher coverage: email 65% (10% of those with a second
// address), phone 25%, MAID 35%, IP address 45%, Xandr ID 40%.
func DefaultCoverage() Coverage {
	return Coverage{EmailSHA256: 0.65, SecondEmail: 0.10, PhoneSHA256: 0.25, MAID: 0.35, IPAddress: 0.45, AppNexus: 0.40}
}

// UniverseConfig describes a publisher universe. Zero fields take the defaults named below.
type UniverseConfig struct {
	// Seed drives everything the publisher knows about its users: which identifiers it holds,
	// their hidden interests and their cohorts.
	Seed uint64
	// Users is the number of publisher users, indexed 0 to Users-1.
	Users int
	// Interests is the number of hidden interests (default 24, at most 64).
	Interests int
	// Cohorts is the number of publisher custom cohorts (default 500).
	Cohorts int
	// Coverage is the share of users with each identifier type (nil: DefaultCoverage()).
	Coverage *Coverage
	// Countries is the country mix (nil: DefaultCountries()).
	Countries []CountryWeight
	// Salt keys people's raw identities (default DefaultSalt). It is independent of Seed, so
	// person i has the same email address, phone number and device IDs in every universe and
	// advertiser file with the same salt and countries.
	Salt uint64
}

// Interest is a hidden interest: the planted ground truth that cohorts and advertiser segments
// correlate with.
type Interest struct {
	// Index is the interest's position in Universe.Interests; lower indexes are more popular.
	Index int `json:"index"`
	// Name is a readable label such as "Travel".
	Name string `json:"name"`
	// Share is the expected fraction of users who have the interest.
	Share float64 `json:"share"`
}

// Cohort is a publisher custom cohort.
type Cohort struct {
	// Index is the cohort's position in Universe.Cohorts; User.Cohorts holds these indexes.
	Index int
	// ID is the cohort ID written in the profile and taxonomy files, such as "c17".
	ID string
	// Name is the cohort's display name.
	Name string
	// Interest is the index of the interest the cohort is tied to, or -1 for a noise cohort
	// whose membership is independent of interests.
	Interest int
	// Size is the expected fraction of users in the cohort.
	Size float64
	// Lift is the membership rate of users with the cohort's interest divided by that of users
	// without it (1 for noise cohorts).
	Lift float64
	// Standard marks cohorts that follow the IAB Audience Taxonomy; IABID is then their
	// taxonomy ID (0 otherwise).
	Standard bool
	IABID    int
}

// Identifier is one identifier of a user or person.
type Identifier struct {
	// Tag is the identifier type.
	Tag identity.Tag
	// Value is the identifier as identity.Normalize returns it (hashes as lowercase hex).
	Value string
	// Raw is the value before hashing for email addresses and phone numbers (the normalised
	// address, the E.164 number); for other types it equals Value.
	Raw string
}

// User is a publisher user's full record, including the hidden ground truth.
type User struct {
	// Index is the user's position in the universe and the line of the profile file (0-based,
	// after the header) that describes it.
	Index int
	// ID is the opaque publisher user ID, "p<index>".
	ID string
	// Country is the ISO 3166-1 alpha-2 code.
	Country string
	// Interests are the user's hidden interests (indexes into Universe.Interests), ascending.
	Interests []int
	// Identifiers are the identifiers the publisher holds, in the profile file's order.
	Identifiers []Identifier
	// Cohorts are the cohorts the user belongs to (indexes into Universe.Cohorts), ascending.
	Cohorts []int
}

// Universe generates a publisher's users: deterministic for a config, each user computed on its
// own from (Seed, index), so any range can be generated in any order or in parallel.
// A Universe is immutable and safe for concurrent use.
type Universe struct {
	cfg   UniverseConfig
	world world

	coverage [numKinds]uint64 // thresholds; kindEmail1 is conditional on kindEmail0

	interests     []Interest
	interestPick  aliasTable
	interestCount [3]uint64 // thresholds: more than one interest, more than two

	cohorts       []Cohort
	basePick      aliasTable // cohorts by base rate
	basePoisson   poisson
	interestPicks []aliasTable // per interest: its cohorts by extra rate
	interestPois  []poisson

	draws sync.Pool // of *draw, for UserInto
}

// Defaults of UniverseConfig.
const (
	DefaultInterests = 24
	DefaultCohorts   = 500
	maxInterests     = 64
)

// interestNames label the first interests; further ones are numbered.
var interestNames = []string{
	"News", "Sports", "Travel", "Food & Drink", "Technology", "Personal Finance", "Automotive",
	"Home & Garden", "Health & Fitness", "Fashion", "Parenting", "Entertainment", "Gaming",
	"Music", "Real Estate", "Business", "Pets", "Education", "Science", "Beauty", "Outdoors",
	"Luxury", "Careers", "Crafts",
}

// Shape of the generative model.
const (
	interestZipf    = 0.9    // interest popularity ~ 1/(rank+1)^interestZipf
	largestCohort   = 0.40   // expected size of the largest cohort
	smallestCohort  = 0.0005 // expected size of the smallest cohort
	cohortRankShift = 3.0    // Zipf-Mandelbrot shift: a few cohorts near the largest size
	noiseCohorts    = 0.10   // share of cohorts tied to no interest
	standardCohorts = 0.10   // share of cohorts in the IAB Audience Taxonomy
	minLift         = 5.0
	maxLift         = 20.0
	maxMemberRate   = 0.95 // cap on a cohort's membership rate among users with its interest
)

// interestCountShares are the shares of users with 1, 2 and 3 interests.
var interestCountShares = [3]float64{0.5, 0.3, 0.2}

// NewUniverse returns the universe cfg describes. It returns an error naming the field when a
// field is out of range.
func NewUniverse(cfg UniverseConfig) (*Universe, error) {
	if cfg.Users < 0 || cfg.Users > 1<<32 {
		return nil, fmt.Errorf("synth: Users %d: want 0 to 2^32", cfg.Users)
	}
	if cfg.Interests == 0 {
		cfg.Interests = DefaultInterests
	}
	if cfg.Interests < 1 || cfg.Interests > maxInterests {
		return nil, fmt.Errorf("synth: Interests %d: want 1 to %d", cfg.Interests, maxInterests)
	}
	if cfg.Cohorts == 0 {
		cfg.Cohorts = DefaultCohorts
	}
	if cfg.Cohorts < 1 || cfg.Cohorts > 100_000 {
		return nil, fmt.Errorf("synth: Cohorts %d: want 1 to 100000", cfg.Cohorts)
	}
	if cfg.Coverage == nil {
		c := DefaultCoverage()
		cfg.Coverage = &c
	} else {
		c := *cfg.Coverage
		cfg.Coverage = &c
	}
	if cfg.Countries == nil {
		cfg.Countries = DefaultCountries()
	} else {
		cfg.Countries = slices.Clone(cfg.Countries)
	}
	if cfg.Salt == 0 {
		cfg.Salt = DefaultSalt
	}
	u := &Universe{cfg: cfg}
	var err error
	if u.world, err = newWorld(cfg.Salt, cfg.Countries); err != nil {
		return nil, err
	}
	cov := cfg.Coverage
	for kind, p := range [numKinds]float64{cov.EmailSHA256, cov.SecondEmail, cov.PhoneSHA256, cov.MAID, cov.IPAddress, cov.AppNexus} {
		if !(p >= 0 && p <= 1) {
			return nil, fmt.Errorf("synth: coverage of %s %v: want 0 to 1", kindTags[kind], p)
		}
		u.coverage[kind] = threshold(p)
	}
	u.initInterests()
	u.initCohorts()
	u.draws.New = func() any { return u.newDraw() }
	return u, nil
}

// initInterests sets up the interest popularity and computes each interest's exact share.
func (u *Universe) initInterests() {
	n := u.cfg.Interests
	weights := make([]float64, n)
	for j := range weights {
		weights[j] = 1 / math.Pow(float64(j+1), interestZipf)
	}
	u.interestPick = newAliasTable(weights)
	maxCount := min(3, n)
	shares := interestCountShares
	total := 0.0
	for k := range maxCount {
		total += shares[k]
	}
	// Thresholds for "at least 2" and "at least 3" interests, given by the remaining shares.
	u.interestCount[1] = threshold((total - shares[0]) / total)
	if maxCount == 3 {
		u.interestCount[2] = threshold(shares[2] / (total - shares[0]))
	}
	// A user's k interests are drawn by weight without replacement; sum the probability of
	// every ordered draw to get each interest's share exactly.
	share := make([]float64, n)
	chosen := make([]bool, n)
	var walk func(depth, k int, p, remaining float64)
	walk = func(depth, k int, p, remaining float64) {
		if depth == k {
			for j, c := range chosen {
				if c {
					share[j] += p
				}
			}
			return
		}
		for j, w := range weights {
			if !chosen[j] {
				chosen[j] = true
				walk(depth+1, k, p*w/remaining, remaining-w)
				chosen[j] = false
			}
		}
	}
	sum := 0.0
	for _, w := range weights {
		sum += w
	}
	for k := 1; k <= maxCount; k++ {
		walk(0, k, shares[k-1]/total, sum)
	}
	u.interests = make([]Interest, n)
	for j := range u.interests {
		name := "Interest " + strconv.Itoa(j+1)
		if j < len(interestNames) {
			name = interestNames[j]
		}
		u.interests[j] = Interest{Index: j, Name: name, Share: share[j]}
	}
}

// cohortSuffixes make cohort names readable: "<interest> <suffix>".
var cohortSuffixes = []string{
	"Enthusiasts", "Readers", "Intenders", "Loyalists", "Newsletter", "Video Viewers",
	"Subscribers", "Deal Seekers", "Weekend Readers", "Heavy Users", "Browsers", "Commenters",
}

// initCohorts draws the cohorts from the seed: power-law sizes, tied interests, lifts, and the
// Poisson processes that sample memberships.
//
// Memberships are independent Bernoulli draws, one per cohort, with rate lo for users without the
// cohort's interest and hi for users with it. Drawing 500 of them per user would be slow, so each
// user instead samples a Poisson number of cohort picks (a Poisson process over cohorts): a
// cohort picked with rate -ln(1-p) is picked at least once with probability exactly p, and the
// picks of different cohorts are independent. Every user runs the base process (rates lo); a
// user with interest t also runs t's process, whose rates make up the difference to hi.
func (u *Universe) initCohorts() {
	n := u.cfg.Cohorts
	r := newRNG(u.cfg.Seed, streamCohorts, 0)
	// Size by rank: Zipf-Mandelbrot from largestCohort down to smallestCohort.
	alpha := 0.0
	if n > 1 {
		alpha = math.Log(largestCohort/smallestCohort) / math.Log((float64(n)+cohortRankShift)/(1+cohortRankShift))
	}
	ranks := make([]int, n)
	for i := range ranks {
		ranks[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := r.below(i + 1)
		ranks[i], ranks[j] = ranks[j], ranks[i]
	}
	iab := iabIDs(&r, n)
	names := map[string]int{} // times each name was given, to keep names unique
	u.cohorts = make([]Cohort, n)
	base := make([]float64, n)
	extra := make([][]float64, len(u.interests))
	for t := range extra {
		extra[t] = make([]float64, n)
	}
	for c := range u.cohorts {
		size := largestCohort * math.Pow((1+cohortRankShift)/(float64(ranks[c])+1+cohortRankShift), alpha)
		co := Cohort{Index: c, ID: "c" + strconv.Itoa(c+1), Size: size, Interest: -1, Lift: 1}
		if r.float() >= noiseCohorts {
			co.Interest = r.below(len(u.interests))
			co.Lift = minLift * math.Exp(r.float()*math.Log(maxLift/minLift))
		}
		if r.float() < standardCohorts {
			co.Standard = true
			co.IABID = iab[c]
		}
		lo, hi := size, size
		if co.Interest >= 0 {
			q := u.interests[co.Interest].Share
			lo, hi, co.Lift = memberRates(size, q, co.Lift)
			co.Name = u.interests[co.Interest].Name + " " + cohortSuffixes[r.below(len(cohortSuffixes))]
			if names[co.Name]++; names[co.Name] > 1 {
				co.Name += " " + strconv.Itoa(names[co.Name])
			}
		} else {
			co.Name = "Audience Segment " + strconv.Itoa(c+1)
		}
		if co.Standard {
			co.Name += " (IAB " + strconv.Itoa(co.IABID) + ")"
		}
		base[c] = -math.Log1p(-lo)
		if co.Interest >= 0 {
			extra[co.Interest][c] = -math.Log1p(-hi) - base[c]
		}
		u.cohorts[c] = co
	}
	u.basePick = newAliasTable(base)
	u.basePoisson = newPoisson(sum(base))
	u.interestPicks = make([]aliasTable, len(extra))
	u.interestPois = make([]poisson, len(extra))
	for t, w := range extra {
		if s := sum(w); s > 0 {
			u.interestPicks[t] = newAliasTable(w)
			u.interestPois[t] = newPoisson(s)
		}
	}
}

// memberRates returns the membership rates of users without (lo) and with (hi) the interest of
// a cohort of expected size size whose interest has share q, and the lift hi/lo achieved: the
// wanted lift unless that would push hi above maxMemberRate.
func memberRates(size, q, lift float64) (lo, hi, achieved float64) {
	if q > 0.999 {
		return size, size, 1
	}
	lo = size / (1 + q*(lift-1))
	if lo*lift > maxMemberRate {
		lo = (size - maxMemberRate*q) / (1 - q)
		return lo, maxMemberRate, maxMemberRate / lo
	}
	return lo, lo * lift, lift
}

// iabIDs returns n distinct IDs in the numeric range of the IAB Audience Taxonomy 1.1.
func iabIDs(r *rng, n int) []int {
	const first, last = 1, 1600
	ids := make([]int, 0, n)
	seen := map[int]bool{}
	for len(ids) < n {
		id := first + r.below(last-first+1)
		if len(seen) >= last-first+1 {
			id = last + len(ids) // more cohorts than taxonomy entries: continue past it
		} else if seen[id] {
			continue
		}
		seen[id] = true
		ids = append(ids, id)
	}
	return ids
}

func sum(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s
}

// Config returns the configuration with its defaults filled in.
func (u *Universe) Config() UniverseConfig {
	cfg := u.cfg
	c := *cfg.Coverage
	cfg.Coverage = &c
	cfg.Countries = slices.Clone(cfg.Countries)
	return cfg
}

// Users returns the number of users.
func (u *Universe) Users() int { return u.cfg.Users }

// Interests returns the hidden interests, most popular first.
func (u *Universe) Interests() []Interest { return slices.Clone(u.interests) }

// Cohorts returns the publisher custom cohorts, indexed as User.Cohorts.
func (u *Universe) Cohorts() []Cohort { return slices.Clone(u.cohorts) }

// UserID returns the publisher user ID of the user with index i: "p<i>".
func UserID(i int) string { return "p" + strconv.Itoa(i) }

// draw holds the seed-dependent facts of one user, in the order they are drawn.
type draw struct {
	covered   uint8   // bit per identifier kind the publisher holds
	interests uint64  // bit per interest
	cohorts   []int32 // ascending cohort indexes (when drawn)
	// bitset collects picked cohorts when the universe has at most bitsetCohorts of them
	// (allocated by newDraw); touched has a bit per non-zero word.
	bitset  *[bitsetCohorts / 64]uint64
	touched uint64
}

// newDraw returns scratch space for drawing users of u with cohorts.
func (u *Universe) newDraw() *draw {
	d := &draw{cohorts: make([]int32, 0, 32)}
	if len(u.cohorts) <= bitsetCohorts {
		d.bitset = new([bitsetCohorts / 64]uint64)
	}
	return d
}

// drawUser draws the facts of user (or person) i; cohorts only when withCohorts. The draws always
// happen in the same order from the user's own generator, so a partial draw agrees with a full one.
// i may be Users or more: advertiser persons outside the universe get interests the same way.
func (u *Universe) drawUser(i uint64, d *draw, withCohorts bool) {
	r := newRNG(u.cfg.Seed, streamUser, i)
	d.covered = 0
	for kind := range numKinds {
		if r.chance(u.coverage[kind]) {
			d.covered |= 1 << kind
		}
	}
	if d.covered&(1<<kindEmail0) == 0 {
		d.covered &^= 1 << kindEmail1
	}
	n := 1
	if r.chance(u.interestCount[1]) {
		n++
		if r.chance(u.interestCount[2]) {
			n++
		}
	}
	d.interests = 0
	for picked := 0; picked < n; {
		j := u.interestPick.draw(r.u64())
		if d.interests&(1<<j) == 0 {
			d.interests |= 1 << j
			picked++
		}
	}
	if !withCohorts {
		return
	}
	d.cohorts = d.cohorts[:0]
	for range u.basePoisson.draw(&r) {
		d.pick(u.basePick.draw(r.u64()))
	}
	for t := range u.interests {
		if d.interests&(1<<t) == 0 || u.interestPois[t].pieces == 0 {
			continue
		}
		pick := &u.interestPicks[t]
		for range u.interestPois[t].draw(&r) {
			d.pick(pick.draw(r.u64()))
		}
	}
	if d.bitset != nil {
		d.drainBitset()
	} else {
		d.cohorts = sortUnique(d.cohorts)
	}
}

// bitsetCohorts is the largest number of cohorts whose picks are collected in draw's bitset
// (sorted and deduplicated for free); beyond it they are sorted.
const bitsetCohorts = 64 * 64

// pick records a picked cohort.
func (d *draw) pick(c int) {
	if d.bitset == nil {
		d.cohorts = append(d.cohorts, int32(c))
		return
	}
	d.bitset[c>>6] |= 1 << (c & 63)
	d.touched |= 1 << (c >> 6)
}

// drainBitset moves the picked cohorts from the bitset to d.cohorts, ascending, and clears it.
func (d *draw) drainBitset() {
	for d.touched != 0 {
		w := bits.TrailingZeros64(d.touched)
		d.touched &= d.touched - 1
		word := d.bitset[w]
		d.bitset[w] = 0
		for word != 0 {
			d.cohorts = append(d.cohorts, int32(w<<6|bits.TrailingZeros64(word)))
			word &= word - 1
		}
	}
}

// sortUnique sorts a short slice by insertion and drops duplicates.
func sortUnique(s []int32) []int32 {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// User returns the record of user i (0 <= i < Users).
func (u *Universe) User(i int) User {
	var usr User
	u.UserInto(i, &usr)
	return usr
}

// UserInto fills *usr with the record of user i (0 <= i < Users), reusing its slices: the way to
// walk millions of users without allocating a record for each.
func (u *Universe) UserInto(i int, usr *User) {
	if i < 0 || i >= u.cfg.Users {
		panic(fmt.Sprintf("synth: user %d out of range [0, %d)", i, u.cfg.Users))
	}
	d := u.draws.Get().(*draw)
	defer u.draws.Put(d)
	u.drawUser(uint64(i), d, true)
	usr.Index = i
	usr.ID = UserID(i)
	usr.Country = u.world.countries[u.world.countryOf(uint64(i))].code
	usr.Interests = appendBits(usr.Interests[:0], d.interests)
	usr.Identifiers = usr.Identifiers[:0]
	var buf, scratch []byte
	for kind := range numKinds {
		if d.covered&(1<<kind) == 0 {
			continue
		}
		buf, scratch = u.world.appendValue(buf[:0], scratch, uint64(i), kind)
		raw := string(buf)
		if kind <= kindPhone {
			raw = string(scratch)
		}
		usr.Identifiers = append(usr.Identifiers, Identifier{Tag: kindTags[kind], Value: string(buf), Raw: raw})
	}
	usr.Cohorts = usr.Cohorts[:0]
	for _, c := range d.cohorts {
		usr.Cohorts = append(usr.Cohorts, int(c))
	}
}

// appendBits appends the positions of the set bits of m, ascending.
func appendBits(dst []int, m uint64) []int {
	for j := 0; m != 0; j, m = j+1, m>>1 {
		if m&1 != 0 {
			dst = append(dst, j)
		}
	}
	return dst
}

// Traits fills *usr with user i's country, hidden interests and cohorts, but not its identifiers
// (which cost hashing): the fast way to build large audiences in memory for models and
// benchmarks. usr.Identifiers is emptied.
func (u *Universe) Traits(i int, usr *User) {
	if i < 0 || i >= u.cfg.Users {
		panic(fmt.Sprintf("synth: user %d out of range [0, %d)", i, u.cfg.Users))
	}
	d := u.draws.Get().(*draw)
	defer u.draws.Put(d)
	u.drawUser(uint64(i), d, true)
	usr.Index = i
	usr.ID = ""
	usr.Country = u.world.countries[u.world.countryOf(uint64(i))].code
	usr.Interests = appendBits(usr.Interests[:0], d.interests)
	usr.Identifiers = usr.Identifiers[:0]
	usr.Cohorts = usr.Cohorts[:0]
	for _, c := range d.cohorts {
		usr.Cohorts = append(usr.Cohorts, int(c))
	}
}
