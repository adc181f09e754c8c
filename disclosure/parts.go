package disclosure

import (
	"context"
	"strconv"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/privacy"
)

// Part is one labelled count, or one table of cells with a total, of a release of several parts
// (ReleaseParts): a report whose counts and tables answer one question.
type Part struct {
	// Label names the part within its question; the part's noise is derived from the question's
	// seed and the label, so a part keeps its noise whichever other parts are released with it.
	// Labels of one release are distinct.
	Label string
	// Cells are the exact counts: one for a count; a table's cells otherwise.
	Cells []int64
	// Table releases Cells as a table (privacy.ReleaseTable: a separately noised total and
	// complementary suppression).
	Table bool
}

// PartRelease is a released part: its cells and, for a table, its total.
type PartRelease struct {
	Cells []privacy.Released
	Total privacy.Released
}

// Count returns the released count of a part that is not a table.
func (r PartRelease) Count() privacy.Released {
	if len(r.Cells) != 1 {
		return privacy.Released{Suppressed: true}
	}
	return r.Cells[0]
}

// PartsSensitivity is the sensitivity of parts when one person may change every count and, in
// each table (whose cells partition people), one cell and the total: the number of counts plus
// twice the number of tables.
func PartsSensitivity(parts []Part) int {
	n := 0
	for _, p := range parts {
		if p.Table {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// ReleaseParts releases several labelled counts and tables as one question q: one charge of the
// question's ε to the asking party (free when asked before in the period; over budget refused as
// Release), split evenly over q.Sensitivity counts (0: PartsSensitivity(parts)). Each part is
// seeded by the question's seed and its label. A caller of neither party gets ENOTFOUND.
func (s *Service) ReleaseParts(ctx context.Context, c *cleanroom.Caller, conn *cleanroom.Connection, q Question, parts []Part) (*Answer, []PartRelease, error) {
	n := 0
	seen := make(map[string]bool, len(parts))
	for _, p := range parts {
		if seen[p.Label] {
			return nil, nil, cleanroom.Errorf(cleanroom.EINTERNAL, "Two parts of one release are labelled %q.", p.Label)
		}
		seen[p.Label] = true
		n += len(p.Cells)
	}
	if q.Sensitivity <= 0 {
		q.Sensitivity = PartsSensitivity(parts)
	}
	a, seed, err := s.charge(ctx, c, conn, q, n, 0)
	if err != nil {
		return nil, nil, err
	}
	// perCount caps the sensitivity at the number of counts it is given; give it the question's.
	pp := a.perCount(q, q.Sensitivity, 0)
	out := make([]PartRelease, len(parts))
	for i, p := range parts {
		sd := privacy.Derive(seed, "part/"+p.Label)
		if p.Table {
			out[i].Cells, out[i].Total = privacy.ReleaseTable(p.Cells, pp, sd)
			continue
		}
		out[i].Cells = make([]privacy.Released, len(p.Cells))
		for j, x := range p.Cells {
			out[i].Cells[j] = privacy.Release(x, pp, privacy.Derive(sd, "cell/"+strconv.Itoa(j)))
		}
	}
	return a, out, nil
}
