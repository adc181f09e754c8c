package synth

import (
	"encoding/csv"
	"io"
	"strconv"
)

// ProfileHeader is the header line of a publisher profile file, without its newline.
const ProfileHeader = "user_id\tcountry\tidentifiers\tcohorts"

// ProfileHeaderEngagement is the header line of a profile file with engagement attributes.
const ProfileHeaderEngagement = ProfileHeader + "\tnumber:page_views_30d\tlist:iab_categories"

// profileChunk is the number of users per generated chunk.
const profileChunk = 8192

// WriteProfiles streams the publisher profile file (format in the package documentation) to w:
// the header, then one line per user in index order. It returns the number of user lines written.
func (u *Universe) WriteProfiles(w io.Writer, opts WriteOptions) (int64, error) {
	return writeChunked(w, opts, spans(u.cfg.Users, profileChunk), func(s span, b []byte) ([]byte, int64, any) {
		if s.lo == 0 && opts.Engagement {
			b = append(b, ProfileHeaderEngagement+"\n"...)
		} else if s.lo == 0 {
			b = append(b, ProfileHeader+"\n"...)
		}
		d := u.newDraw()
		var scratch []byte
		for i := s.lo; i < s.hi; i++ {
			b, scratch = u.appendProfile(b, scratch, uint64(i), d)
			if opts.Engagement {
				b = u.appendEngagement(b[:len(b)-1], uint64(i), d.interests)
			}
		}
		return b, int64(s.hi - s.lo), nil
	}, nil)
}

// appendProfile appends user i's profile line.
func (u *Universe) appendProfile(b, scratch []byte, i uint64, d *draw) ([]byte, []byte) {
	u.drawUser(i, d, true)
	b = append(b, 'p')
	b = strconv.AppendUint(b, i, 10)
	b = append(b, '\t')
	b = append(b, u.world.countries[u.world.countryOf(i)].code...)
	b = append(b, '\t')
	first := true
	for kind := range numKinds {
		if d.covered&(1<<kind) == 0 {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, kindTags[kind]...)
		b = append(b, '=')
		b, scratch = u.world.appendValue(b, scratch, i, kind)
	}
	b = append(b, '\t')
	for k, c := range d.cohorts {
		if k > 0 {
			b = append(b, ',')
		}
		b = append(b, u.cohorts[c].ID...)
	}
	return append(b, '\n'), scratch
}

// PublisherTaxonomyHeader is the header row of the publisher taxonomy CSV.
var PublisherTaxonomyHeader = []string{"cohort_id", "name", "iab_id", "standard"}

// WriteTaxonomy writes the publisher taxonomy CSV: a header row, then one row per cohort with
// its ID, name, IAB Audience Taxonomy ID (empty unless standard) and whether it is standard.
func (u *Universe) WriteTaxonomy(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write(PublisherTaxonomyHeader)
	for _, c := range u.cohorts {
		iab := ""
		if c.Standard {
			iab = strconv.Itoa(c.IABID)
		}
		cw.Write([]string{c.ID, c.Name, iab, strconv.FormatBool(c.Standard)})
	}
	cw.Flush()
	return cw.Error()
}
