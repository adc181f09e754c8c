package synth

import "strconv"

// Engagement is a user's engagement attributes, as a publisher's profile file carries them for
// advanced insights.
type Engagement struct {
	// PageViews is the page views in the last 30 days; -1 when the publisher does not know.
	PageViews int
	// Categories are the IAB content categories (tier 1, "IAB1" to "IAB26") the user read,
	// ascending by number.
	Categories []string
}

// Engagement rates: the share of users whose page views are unknown, the chance a user reads the
// category of each of its interests, and the chance of one more category at random.
const (
	engagementUnknown  = 0.1
	engagementInterest = 0.8
	engagementOther    = 0.2
	iabTier1           = 26
)

// interestCategory is the IAB content category of interest t: interests map onto the 26 tier-1
// categories in turn.
func interestCategory(t int) int { return t%iabTier1 + 1 }

// Engagement returns user i's engagement, drawn from its own generator (stream) and its hidden
// interests, so it is planted ground truth: a user reads the category of each of its interests
// with probability 0.8 (and one other with 0.2), and users with more interests view more pages.
func (u *Universe) Engagement(i int) Engagement {
	d := u.newDraw()
	u.drawUser(uint64(i), d, false)
	return u.engagement(uint64(i), d.interests)
}

func (u *Universe) engagement(i, interests uint64) Engagement {
	r := newRNG(u.cfg.Seed, streamEngagement, i)
	e := Engagement{PageViews: -1}
	n := 0
	var cats uint32 // bit per category
	for t := range u.interests {
		if interests&(1<<t) == 0 {
			continue
		}
		n++
		if r.float() < engagementInterest {
			cats |= 1 << interestCategory(t)
		}
	}
	if r.float() < engagementOther {
		cats |= 1 << (r.below(iabTier1) + 1)
	}
	if r.float() >= engagementUnknown {
		// Heavier readers have more interests: up to 30 page views per interest, a few far more.
		e.PageViews = r.below(30 * n)
		if r.float() < 0.05 {
			e.PageViews += 100 + r.below(400)
		}
	}
	for c := 1; c <= iabTier1; c++ {
		if cats&(1<<c) != 0 {
			e.Categories = append(e.Categories, "IAB"+strconv.Itoa(c))
		}
	}
	return e
}

// appendEngagement appends user i's engagement columns and the line's newline.
func (u *Universe) appendEngagement(b []byte, i, interests uint64) []byte {
	e := u.engagement(i, interests)
	b = append(b, '\t')
	if e.PageViews >= 0 {
		b = strconv.AppendInt(b, int64(e.PageViews), 10)
	}
	b = append(b, '\t')
	for k, c := range e.Categories {
		if k > 0 {
			b = append(b, ',')
		}
		b = append(b, c...)
	}
	return append(b, '\n')
}
