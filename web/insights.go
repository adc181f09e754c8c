package web

import (
	"fmt"
	"html"
	"html/template"
	"net/http"
	"strings"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/cohorts"
	"github.com/cleanroom-oss/cleanroom/insights"
)

// affinitiesShown bounds the publisher cohorts drawn in the affinity chart (the highest indexes).
const affinitiesShown = 20

// insightsData is what insights.html shows.
type insightsData struct {
	Cohort      *cleanroom.Cohort
	Connection  string
	Publisher   string
	Choices     []cleanroom.CohortTarget // when no connection is chosen
	In          *cohorts.Insights
	Advanced    bool
	Refused     string // why the insights cannot be shown, with the fix
	Affinity    template.HTML
	Countries   template.HTML
	Attributes  []attributeChart
	names       map[string]string
	exportQuery string
}

type attributeChart struct {
	Name  string
	Chart template.HTML
}

// OrgName returns an org's name.
func (d *insightsData) OrgName(id string) string { return d.names[id] }

// Export is the CSV link of the insights shown.
func (d *insightsData) Export() string { return d.exportQuery }

// insightsPage shows a cohort's insights at one publisher. The rules (ownership, permissions,
// grants, privacy) are the cohort service's; a refusal is shown with its fix.
func (d *Dashboard) insightsPage(w http.ResponseWriter, r *http.Request, p *page) {
	if !d.cohortsAllowed(w, p) {
		return
	}
	ctx := r.Context()
	co, err := d.Cohorts.Get(ctx, p.Caller, r.PathValue("id"))
	if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
		d.notFound(w, r)
		return
	} else if err != nil {
		d.fail(w, err)
		return
	}
	data := &insightsData{Cohort: co, names: map[string]string{}, Advanced: r.URL.Query().Get("advanced") == "1"}
	for _, t := range co.Targets {
		if err := d.orgNames(ctx, data.names, t.PublisherID); err != nil {
			d.fail(w, err)
			return
		}
	}
	data.Connection = r.URL.Query().Get("connection_id")
	if data.Connection == "" && len(co.Targets) == 1 {
		data.Connection = co.Targets[0].ConnectionID
	}
	p.Title, p.Data = "Insights: "+co.Name, data
	t := co.Target(data.Connection)
	if t == nil {
		data.Choices = co.Targets
		d.render(w, http.StatusOK, "insights.html", p)
		return
	}
	data.Publisher = t.PublisherID
	in, err := d.Cohorts.Insights(ctx, p.Caller, co.ID, data.Connection, data.Advanced)
	switch c := cleanroom.ErrorCode(err); {
	case c == cleanroom.EFORBIDDEN || c == cleanroom.ECONFLICT || c == cleanroom.ENOTFOUND:
		data.Refused = cleanroom.ErrorText(err)
		d.render(w, http.StatusOK, "insights.html", p)
		return
	case err != nil:
		d.fail(w, err)
		return
	}
	data.In = in
	data.exportQuery = "/v1/cohorts/" + co.ID + "/insights.csv?connection_id=" + data.Connection
	if data.Advanced {
		data.exportQuery += "&advanced=true"
	}
	data.Affinity = indexChart(in.Affinities)
	data.Countries = shareChart(in.Countries, func(v string) string {
		if v == "" {
			return "Unknown"
		}
		return v
	})
	for _, a := range in.Attributes {
		data.Attributes = append(data.Attributes, attributeChart{a.Name, shareChart(a.Values, func(v string) string { return v })})
	}
	d.render(w, http.StatusOK, "insights.html", p)
}

// SVG layout of the charts.
const (
	svgWidth  = 640
	svgLabelW = 200
	svgRowH   = 20
	svgBarW   = svgWidth - svgLabelW - 60
)

// indexChart draws the affinity indexes as horizontal bars from 0, with the baseline (100)
// marked; top affinities stand out, suppressed indexes are listed without a bar.
func indexChart(as []insights.Affinity) template.HTML {
	as = as[:min(len(as), affinitiesShown)]
	top := 200.0
	for _, a := range as {
		if a.Index != nil {
			top = max(top, *a.Index)
		}
	}
	h := svgRowH*len(as) + 30
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" id="affinity-chart" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="Index against each publisher cohort; 100 is the publisher's base">`,
		svgWidth, h, svgWidth, h)
	x := func(v float64) float64 { return svgLabelW + svgBarW*v/top }
	for i, a := range as {
		y := 10 + svgRowH*i
		label := a.Name
		if label == "" {
			label = a.CohortID
		}
		fmt.Fprintf(&b, `<text class="label" x="%d" y="%d" text-anchor="end">%s</text>`, svgLabelW-6, y+13, html.EscapeString(truncateLabel(label)))
		if a.Index == nil {
			fmt.Fprintf(&b, `<text class="label muted" x="%d" y="%d">below threshold</text>`, svgLabelW+4, y+13)
			continue
		}
		class := "bar"
		if a.Top {
			class = "bar top"
		}
		fmt.Fprintf(&b, `<rect class="%s" x="%d" y="%d" width="%.1f" height="%d"><title>%s: index %.0f</title></rect>`,
			class, svgLabelW, y+2, x(*a.Index)-svgLabelW, svgRowH-6, html.EscapeString(label), *a.Index)
		fmt.Fprintf(&b, `<text class="label" x="%.1f" y="%d">%.0f</text>`, x(*a.Index)+4, y+13, *a.Index)
	}
	fmt.Fprintf(&b, `<line class="baseline" x1="%.1f" x2="%.1f" y1="4" y2="%d"/><text class="label" x="%.1f" y="%d" text-anchor="middle">100</text>`,
		x(100), x(100), h-16, x(100), h-4)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// shareChart draws, for each value, its share of the cohort and of the base as a pair of bars.
func shareChart(ss []insights.Share, name func(string) string) template.HTML {
	top := 0.0
	for _, s := range ss {
		for _, v := range []insights.Ratio{s.CohortShare, s.BaseShare} {
			if v != nil {
				top = max(top, *v)
			}
		}
	}
	if top == 0 {
		top = 1
	}
	rowH := 2*svgRowH - 8
	h := rowH*len(ss) + 24
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="Share of the cohort against share of the publisher's base">`,
		svgWidth, h, svgWidth, h)
	for i, s := range ss {
		y := 4 + rowH*i
		fmt.Fprintf(&b, `<text class="label" x="%d" y="%d" text-anchor="end">%s</text>`, svgLabelW-6, y+14, html.EscapeString(truncateLabel(name(s.Value))))
		for k, v := range []insights.Ratio{s.CohortShare, s.BaseShare} {
			yy := y + k*(svgRowH-6)
			if v == nil {
				fmt.Fprintf(&b, `<text class="label muted" x="%d" y="%d">below threshold</text>`, svgLabelW+4, yy+11)
				continue
			}
			class := []string{"bar", "bar base"}[k]
			fmt.Fprintf(&b, `<rect class="%s" x="%d" y="%d" width="%.1f" height="%d"/><text class="label" x="%.1f" y="%d">%.1f%%</text>`,
				class, svgLabelW, yy, svgBarW**v/top, svgRowH-8, float64(svgLabelW)+svgBarW**v/top+4, yy+11, 100**v)
		}
	}
	fmt.Fprintf(&b, `<rect class="bar" x="%d" y="%d" width="10" height="10"/><text class="label" x="%d" y="%d">cohort</text>`, svgLabelW, h-14, svgLabelW+14, h-5)
	fmt.Fprintf(&b, `<rect class="bar base" x="%d" y="%d" width="10" height="10"/><text class="label" x="%d" y="%d">publisher's base</text>`, svgLabelW+80, h-14, svgLabelW+94, h-5)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// insightFuncs format released numbers: a suppressed one reads "below <threshold>", never 0.
var insightFuncs = template.FuncMap{
	"released": func(c insights.Count, threshold int64) string {
		if c == nil {
			return fmt.Sprintf("below %d", threshold)
		}
		return fmt.Sprint(*c)
	},
	"releasedPct": func(r insights.Ratio) string {
		if r == nil {
			return "—"
		}
		return fmt.Sprintf("%.1f%%", 100**r)
	},
	"releasedIndex": func(r insights.Ratio) string {
		if r == nil {
			return "—"
		}
		return fmt.Sprintf("%.0f", *r)
	},
}

// truncateLabel shortens a chart label to 30 characters.
func truncateLabel(s string) string {
	if r := []rune(s); len(r) > 30 {
		return string(r[:29]) + "…"
	}
	return s
}

// servedData is what served.html shows: per connection, the publisher's users in served cohorts.
type servedData struct {
	Rows []servedRow
}

type servedRow struct {
	Partner string
	Served  *cohorts.Served
	Refused string
}

// servedPage shows a publisher, per connection, how many of its users are in the cohorts served
// through it.
func (d *Dashboard) servedPage(w http.ResponseWriter, r *http.Request, p *page) {
	if p.Caller.Org == nil || p.Caller.Org.Kind != cleanroom.OrgPublisher || d.Cohorts == nil {
		d.errorPage(w, p, http.StatusNotFound, "Page not found", "Served users is a page of a publisher's workspace.",
			"Switch to the publisher's organization with the selector at the top right.")
		return
	}
	ctx := r.Context()
	data := &servedData{}
	pg := cleanroom.Page{Limit: cleanroom.MaxPageLimit}
	for {
		cs, next, err := d.Connections.List(ctx, p.Caller, pg)
		if err != nil {
			d.fail(w, err)
			return
		}
		for _, c := range cs {
			row := servedRow{Partner: c.Other(p.Caller)}
			if row.Served, err = d.Cohorts.ServedUsers(ctx, p.Caller, c.ID); err != nil {
				if cleanroom.ErrorCode(err) == cleanroom.EINTERNAL {
					d.fail(w, err)
					return
				}
				row.Refused = cleanroom.ErrorText(err)
			}
			data.Rows = append(data.Rows, row)
		}
		if next == "" {
			break
		}
		pg.After = next
	}
	p.Title, p.Data = "Served users", data
	d.render(w, http.StatusOK, "served.html", p)
}
