package insights

import (
	"cmp"
	"slices"
	"strings"

	"github.com/cleanroom-oss/cleanroom/privacy"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// Top affinities: the publisher cohorts with the highest indexes, at most TopAffinities of them,
// each with an index of at least TopIndex.
const (
	TopAffinities = 10
	TopIndex      = 120
)

// Releaser releases the numbers of one report to the other party. Each number has a label,
// stable for the same question, from which the release derives its own seed; Table releases
// cells that partition a total (with complementary suppression). Labels that start with
// BaseLabel name numbers of the publisher's base alone (its users, its cohorts' sizes, their
// countries and attributes), which do not depend on the cohort asked about.

type Releaser interface {
	Count(label string, n int64) privacy.Released
	Table(label string, cells []int64) ([]privacy.Released, privacy.Released)
}

// BaseLabel starts the labels of the numbers that depend on the publisher's base only.
const BaseLabel = "base/"

// Count is a released count: nil when suppressed (below the threshold; never shown as 0).
type Count = *int64

// Ratio is a value derived from released counts: nil when any input is suppressed.
type Ratio = *float64

func count(r privacy.Released) Count {
	if r.Suppressed {
		return nil
	}
	v := r.Value
	return &v
}

func ratio(v privacy.Value) Ratio {
	if v.Suppressed {
		return nil
	}
	x := v.Value
	return &x
}

// share is a ratio of a part to its whole, at most 1: noise may make a released part larger than
// its released whole, and clamping is post-processing.
func share(v privacy.Value) Ratio {
	if !v.Suppressed {
		v.Value = min(v.Value, 1)
	}
	return ratio(v)
}

// exact is a count of the asking party's own data, shown as it is (an input to Ratio).
func exact(n int64) privacy.Released { return privacy.Released{Value: n} }

// Report is a cohort's insights at one publisher as the advertiser sees them: every count
// released, every share and index derived from released counts.
type Report struct {
	// Size is the cohort's users; Base the publisher's.
	Size Count `json:"size"`
	Base Count `json:"base"`
	// MatchRates are the identifier types of the cohort's data sources.
	MatchRates []MatchRate `json:"match_rates"`
	// Affinities are the publisher cohorts, by index (highest first; suppressed ones last).
	Affinities []Affinity `json:"affinities"`
	// Countries is the country breakdown; unknown countries as code "".
	Countries []Share `json:"countries"`
	// Attributes are the engagement attributes (advanced insights only).
	Attributes []Attribute `json:"attributes,omitempty"`
}

// MatchRate is the match of one identifier type: the advertiser's own rows (exact: its own
// data), the rows matched and their share.
type MatchRate struct {
	Type           string `json:"type"`
	AdvertiserRows int64  `json:"advertiser_rows"`
	MatchedRows    Count  `json:"matched_rows"`
	MatchRate      Ratio  `json:"match_rate"`
}

// Affinity is the cohort against one publisher cohort.
type Affinity struct {
	CohortID string `json:"cohort_id"`
	Name     string `json:"name"`
	IABID    int    `json:"iab_id,omitempty"`
	Standard bool   `json:"standard"`
	// Overlap is the cohort's users in the publisher cohort; CohortSize the publisher cohort's.
	Overlap    Count `json:"overlap"`
	CohortSize Count `json:"cohort_size"`
	// AudienceShare is Overlap / Size (the share of the cohort); BaseShare CohortSize / Base
	// (the share of the publisher's users); Index 100 × AudienceShare / BaseShare (100 = as
	// in the base).
	AudienceShare Ratio `json:"audience_share"`
	BaseShare     Ratio `json:"base_share"`
	Index         Ratio `json:"index"`
	// Top marks the top affinities.
	Top bool `json:"top"`
}

// Share is one value of a breakdown: its users in the cohort and the base, their shares and
// index.
type Share struct {
	Value       string `json:"value"`
	Cohort      Count  `json:"cohort"`
	Base        Count  `json:"base"`
	CohortShare Ratio  `json:"cohort_share"`
	BaseShare   Ratio  `json:"base_share"`
	Index       Ratio  `json:"index"`
}

// Attribute is the distribution of one engagement attribute.
type Attribute struct {
	Name   string  `json:"name"`
	Kind   string  `json:"kind"`
	Values []Share `json:"values"`
}

// Release turns exact counts into the report the advertiser sees, through rel. Counts that are
// the advertiser's own (its rows per identifier type) are shown as they are.
//
// The size and the base are the totals of the country breakdown (whose cells, unknown country
// included, partition the cohort and the base), released with it as a table: so a country hidden
// below the threshold cannot be read off as the size minus the countries shown (complementary
// suppression, see privacy.ReleaseTable).
func Release(c *Counts, rel Releaser) *Report {
	var size, base privacy.Released
	countries := c.Countries
	if c.Size != sum(countries, true) || c.Base != sum(countries, false) {
		countries = nil // not a partition: released on their own below
	}
	r := &Report{MatchRates: []MatchRate{}, Affinities: []Affinity{}, Countries: []Share{}}
	if countries != nil {
		r.Countries, size, base = shares("country", countries, rel)
	} else {
		size, base = rel.Count("size", c.Size), rel.Count(BaseLabel+"size", c.Base)
		r.Countries, _, _ = shares("country", c.Countries, rel)
	}
	r.Size, r.Base = count(size), count(base)
	for _, t := range c.Types {
		m := rel.Count("matched/"+t.Type, t.Matched)
		r.MatchRates = append(r.MatchRates, MatchRate{Type: t.Type, AdvertiserRows: t.AdvertiserRows,
			MatchedRows: count(m), MatchRate: ratio(privacy.Ratio(m, exact(t.AdvertiserRows)))})
	}
	indexes := make([]privacy.Value, len(c.Segments))
	for i, s := range c.Segments {
		ov, sz := rel.Count("overlap/"+s.ID, s.Overlap), rel.Count(BaseLabel+"segment/"+s.ID, s.Size)
		indexes[i] = privacy.Index(ov, size, sz, base)
		r.Affinities = append(r.Affinities, Affinity{CohortID: s.ID, Name: s.Name, IABID: s.IABID, Standard: s.Standard,
			Overlap: count(ov), CohortSize: count(sz), AudienceShare: share(privacy.Ratio(ov, size)),
			BaseShare: ratio(privacy.Ratio(sz, base)), Index: ratio(indexes[i])})
	}
	SortAffinities(r.Affinities)
	for _, a := range c.Attributes {
		at := Attribute{Name: a.Name, Kind: a.Kind}
		if a.Kind == vault.AttributeList {
			at.Values = categories("attribute/"+a.Name, a.Values, size, base, rel)
		} else {
			at.Values, _, _ = shares("attribute/"+a.Name, a.Values, rel)
		}
		r.Attributes = append(r.Attributes, at)
	}
	return r
}

// sum adds up a breakdown's cohort (or base) cells.
func sum(ds []Distribution, cohort bool) int64 {
	var n int64
	for _, d := range ds {
		if cohort {
			n += d.Cohort
		} else {
			n += d.Base
		}
	}
	return n
}

// SortAffinities sorts by index, highest first, suppressed indexes last (each group by cohort ID),
// and marks the top affinities.
func SortAffinities(as []Affinity) {
	slices.SortStableFunc(as, func(a, b Affinity) int {
		switch {
		case a.Index == nil && b.Index == nil:
			return cmp.Compare(a.CohortID, b.CohortID)
		case a.Index == nil:
			return 1
		case b.Index == nil:
			return -1
		}
		if c := cmp.Compare(*b.Index, *a.Index); c != 0 {
			return c
		}
		return cmp.Compare(a.CohortID, b.CohortID)
	})
	for i := range as {
		as[i].Top = i < TopAffinities && as[i].Index != nil && *as[i].Index >= TopIndex
	}
}

// shares releases a breakdown whose values partition users (countries, a number's buckets): the
// cohort's cells and the base's cells each as a table (so a hidden cell cannot be read off the
// total), shares over the tables' released totals, and the index of each value. It returns the
// totals.
func shares(label string, ds []Distribution, rel Releaser) ([]Share, privacy.Released, privacy.Released) {
	cc, bc := make([]int64, len(ds)), make([]int64, len(ds))
	for i, d := range ds {
		cc[i], bc[i] = d.Cohort, d.Base
	}
	cr, ct := rel.Table(label+"/cohort", cc)
	br, bt := rel.Table(BaseLabel+label, bc)
	out := make([]Share, len(ds))
	for i, d := range ds {
		out[i] = Share{Value: d.Value, Cohort: count(cr[i]), Base: count(br[i]),
			CohortShare: share(privacy.Ratio(cr[i], ct)), BaseShare: share(privacy.Ratio(br[i], bt)),
			Index: ratio(privacy.Index(cr[i], ct, br[i], bt))}
	}
	return out, ct, bt
}

// categories releases a breakdown whose values do not partition users (a list attribute: a user
// may hold several categories or none): each cell on its own (a sum of the cells would count a
// user several times, more than the noise hides), shares over the cohort's size and the base.
func categories(label string, ds []Distribution, size, base privacy.Released, rel Releaser) []Share {
	out := make([]Share, len(ds))
	for i, d := range ds {
		c, b := rel.Count(label+"/cohort/"+d.Value, d.Cohort), rel.Count(BaseLabel+label+"/"+d.Value, d.Base)
		out[i] = Share{Value: d.Value, Cohort: count(c), Base: count(b), CohortShare: share(privacy.Ratio(c, size)),
			BaseShare: share(privacy.Ratio(b, base)), Index: ratio(privacy.Index(c, size, b, base))}
	}
	return out
}

// ParamsReleaser releases with the privacy package's own functions: noise, the threshold and
// complementary suppression under Params, each number with a seed derived from its label and
// Seed, or BaseSeed for the base's numbers (BaseLabel). Seeding the base's numbers by a question
// about the base alone (the publisher's version, not the cohort) gives them the same noise in
// every report on that version, so reports on many cohorts cannot be averaged to learn them
// exactly. (The deployment's release gate, with per-connection settings and budgets, replaces
// it where it is wired.)
type ParamsReleaser struct {
	Params         privacy.Params
	Seed, BaseSeed [32]byte
}

func (p ParamsReleaser) seed(label string) [32]byte {
	if strings.HasPrefix(label, BaseLabel) {
		return privacy.Derive(p.BaseSeed, label)
	}
	return privacy.Derive(p.Seed, label)
}

// Count releases n.
func (p ParamsReleaser) Count(label string, n int64) privacy.Released {
	return privacy.Release(n, p.Params, p.seed(label))
}

// Table releases cells and their total.
func (p ParamsReleaser) Table(label string, cells []int64) ([]privacy.Released, privacy.Released) {
	return privacy.ReleaseTable(cells, p.Params, p.seed(label))
}
