package insights

import (
	"encoding/csv"
	"io"
	"strconv"
)

// CSVHeader is the header of WriteCSV's file.
var CSVHeader = []string{"section", "id", "name", "cohort_users", "base_users", "cohort_share", "base_share", "index", "top"}

// WriteCSV writes the report as one CSV table: a "size" row (the cohort's and the publisher's
// users), a "match_rate" row per identifier type (matched rows, the advertiser's rows, the match
// rate), an "affinity" row per publisher cohort (overlap, the cohort's size, the shares, the index,
// whether it is a top affinity), a "country" row per country and an "attribute:<name>" row per
// value of each engagement attribute. A suppressed number is an empty cell, never 0.
func (r *Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write(CSVHeader)
	cw.Write([]string{"size", "", "", cnt(r.Size), cnt(r.Base), "", "", "", ""})
	for _, m := range r.MatchRates {
		cw.Write([]string{"match_rate", m.Type, "", cnt(m.MatchedRows), strconv.FormatInt(m.AdvertiserRows, 10), num(m.MatchRate), "", "", ""})
	}
	for _, a := range r.Affinities {
		cw.Write([]string{"affinity", a.CohortID, a.Name, cnt(a.Overlap), cnt(a.CohortSize), num(a.AudienceShare), num(a.BaseShare),
			num(a.Index), strconv.FormatBool(a.Top)})
	}
	shares := func(section string, ss []Share) {
		for _, s := range ss {
			cw.Write([]string{section, s.Value, "", cnt(s.Cohort), cnt(s.Base), num(s.CohortShare), num(s.BaseShare), num(s.Index), ""})
		}
	}
	shares("country", r.Countries)
	for _, a := range r.Attributes {
		shares("attribute:"+a.Name, a.Values)
	}
	cw.Flush()
	return cw.Error()
}

func cnt(c Count) string {
	if c == nil {
		return ""
	}
	return strconv.FormatInt(*c, 10)
}

func num(r Ratio) string {
	if r == nil {
		return ""
	}
	return strconv.FormatFloat(*r, 'f', 4, 64)
}
