package web

import (
	"fmt"
	"html/template"
	"net/http"
	"strings"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/delivery"
)

// deliveryData is what delivery.html shows: the caller's connections, and the chosen one's
// delivery report.
type deliveryData struct {
	Connections []deliveryConn
	Chosen      string
	From, To    string
	Report      *delivery.Report
	Refused     string
	Chart       template.HTML
}

type deliveryConn struct {
	ID, Partner string
}

// deliveryPage shows what the cohorts served through a connection delivered (?connection=,
// ?from=, ?to=): the delivery service applies the rules and releases every number.
func (d *Dashboard) deliveryPage(w http.ResponseWriter, r *http.Request, p *page) {
	if p.Caller.Org == nil || p.Caller.Role == cleanroom.RoleLimited || d.Delivery == nil {
		d.notFound(w, r)
		return
	}
	ctx := r.Context()
	q := r.URL.Query()
	data := &deliveryData{Chosen: q.Get("connection"), From: q.Get("from"), To: q.Get("to")}
	pg := cleanroom.Page{Limit: cleanroom.MaxPageLimit}
	for {
		cs, next, err := d.Connections.List(ctx, p.Caller, pg)
		if err != nil {
			d.fail(w, err)
			return
		}
		for _, c := range cs {
			data.Connections = append(data.Connections, deliveryConn{ID: c.ID, Partner: c.Other(p.Caller)})
		}
		if next == "" {
			break
		}
		pg.After = next
	}
	if data.Chosen == "" && len(data.Connections) > 0 {
		data.Chosen = data.Connections[0].ID
	}
	if data.Chosen != "" {
		rep, err := d.Delivery.Connection(ctx, p.Caller, data.Chosen, data.From, data.To)
		switch {
		case cleanroom.ErrorCode(err) == cleanroom.EINTERNAL:
			d.fail(w, err)
			return
		case err != nil:
			data.Refused = cleanroom.ErrorText(err)
		default:
			data.Report, data.Chart = rep, reachChart(rep)
		}
	}
	p.Title, p.Data = "Delivery", data
	d.render(w, http.StatusOK, "delivery.html", p)
}

// reachChart draws the daily unique reach (the sum of the day's released rows; a day with a
// withheld row is drawn as withheld) as SVG bars.
func reachChart(rep *delivery.Report) template.HTML {
	days := rep.Days()
	if len(days) == 0 {
		return ""
	}
	sums := make([]*int64, len(days))
	for i, day := range days {
		var s int64
		ok := true
		for _, r := range rep.Rows {
			if r.Day == day {
				if r.Users == nil {
					ok = false
				} else {
					s += *r.Users
				}
			}
		}
		if ok {
			sums[i] = &s
		}
	}
	var top int64 = 1
	for _, s := range sums {
		if s != nil {
			top = max(top, *s)
		}
	}
	const h, barW, gap = 160, 18, 4
	width := len(days)*(barW+gap) + 20
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" id="reach-chart" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="Unique reach per day">`, width, h+20, width, h+20)
	for i, s := range sums {
		x := 10 + i*(barW+gap)
		if s == nil {
			fmt.Fprintf(&b, `<text class="label" x="%d" y="%d">–</text><title>%s: withheld</title>`, x+4, h, days[i])
			continue
		}
		bh := int(int64(h-10) * *s / top)
		fmt.Fprintf(&b, `<rect class="bar" x="%d" y="%d" width="%d" height="%d"><title>%s: %d users</title></rect>`, x, h-bh, barW, bh, days[i], *s)
	}
	fmt.Fprintf(&b, `<text class="label" x="10" y="%d">%s</text>`, h+16, days[0])
	if len(days) > 1 {
		fmt.Fprintf(&b, `<text class="label" x="%d" y="%d" text-anchor="end">%s</text>`, width-10, h+16, days[len(days)-1])
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
