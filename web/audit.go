package web

import (
	"encoding/csv"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/accounts"
)

// auditData is what the audit page shows: entries with names, the filters as typed, and the
// choices of the "who" filter (the org's people).
type auditData struct {
	Lines  []*accounts.AuditLine
	Next   string
	Filter auditFilter
	People []*cleanroom.Member
	// Orgs are the organizations an operator acting in none may filter by.
	Orgs []*cleanroom.Org
	// Query is the filter as a query string (encoded here), for the next page's and the export's
	// links.
	Query template.URL
	Err   *fieldError
}

// auditFilter is the audit page's filter form.
type auditFilter struct {
	Who, Action, Target, From, To, Org string
}

// values returns the filter as a query string (without the page).
func (f auditFilter) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"who": f.Who, "action": f.Action, "target": f.Target, "from": f.From, "to": f.To, "org": f.Org} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

// auditQuery reads the filter form into the service's query: who is a user ID (the people
// select), action an action or a prefix ending in ".", target a target type, an ID, or
// "type:id", from and to dates (to included).
func auditQuery(r *http.Request) (auditFilter, accounts.AuditQuery, error) {
	q := r.URL.Query()
	f := auditFilter{Who: q.Get("who"), Action: strings.TrimSpace(q.Get("action")), Target: strings.TrimSpace(q.Get("target")),
		From: q.Get("from"), To: q.Get("to"), Org: q.Get("org")}
	aq := accounts.AuditQuery{OrgID: f.Org, Page: cleanroom.Page{After: q.Get("after"), Limit: 100}}
	if f.Who != "" {
		id, err := cleanroom.ParseID("person", f.Who)
		if err != nil {
			return f, aq, cleanroom.Errorf(cleanroom.EINVALID, "Choose the person from the list.").With("field", "who")
		}
		aq.ActorUserID = id
	}
	if strings.HasSuffix(f.Action, ".") || strings.HasSuffix(f.Action, "*") {
		aq.ActionPrefix = strings.TrimSuffix(f.Action, "*")
	} else {
		aq.Action = f.Action
	}
	switch typ, id, ok := strings.Cut(f.Target, ":"); {
	case ok:
		aq.TargetType, aq.TargetID = strings.TrimSpace(typ), strings.TrimSpace(id)
	case cleanroom.IsID(f.Target):
		aq.TargetID = f.Target
	default:
		aq.TargetType = f.Target
	}
	for _, d := range []struct {
		text, field string
		into        *time.Time
		add         int
	}{{f.From, "from", &aq.Since, 0}, {f.To, "to", &aq.Until, 1}} {
		if d.text == "" {
			continue
		}
		t, err := time.Parse("2006-01-02", d.text)
		if err != nil {
			return f, aq, cleanroom.Errorf(cleanroom.EINVALID, "%q is not a date.", d.text).With("field", d.field).
				Hint("Pick a date, or type it as 2026-12-31.")
		}
		*d.into = t.AddDate(0, 0, d.add)
	}
	return f, aq, nil
}

func (d *Dashboard) auditPage(w http.ResponseWriter, r *http.Request, p *page) {
	ctx, c := r.Context(), p.Caller
	f, q, err := auditQuery(r)
	data := &auditData{Filter: f}
	var es []*cleanroom.AuditEntry
	if err == nil {
		es, data.Next, err = d.Accounts.SearchAudit(ctx, c, q)
	}
	if cleanroom.ErrorCode(err) == cleanroom.EFORBIDDEN {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	status := http.StatusOK
	if cleanroom.ErrorCode(err) == cleanroom.EINVALID {
		data.Err, status, err = formError(err), http.StatusBadRequest, nil
	}
	if err == nil {
		data.Lines, err = d.Accounts.DescribeAudit(ctx, c, es)
	}
	if err == nil && c.Org != nil {
		data.People, _, err = d.Accounts.Members(ctx, c, cleanroom.Page{Limit: cleanroom.MaxPageLimit})
	}
	if err == nil && c.Org == nil && c.Operator() {
		data.Orgs, _, err = d.Accounts.Orgs(ctx, c, cleanroom.Page{Limit: cleanroom.MaxPageLimit})
	}
	if err != nil {
		d.showFailure(w, p, err)
		return
	}
	data.Query = template.URL(f.values().Encode())
	p.Title, p.Data = "Audit log", data
	d.render(w, status, "audit.html", p)
}

// auditExportMax is the most entries one CSV export holds; a narrower filter gets the rest.
const auditExportMax = 100_000

// auditExport writes the filtered audit log as CSV, with the same names as the page. The export
// is itself recorded.
func (d *Dashboard) auditExport(w http.ResponseWriter, r *http.Request, p *page) {
	ctx, c := r.Context(), p.Caller
	_, q, err := auditQuery(r)
	if err != nil {
		d.showFailure(w, p, err)
		return
	}
	q.Page = cleanroom.Page{Limit: cleanroom.MaxPageLimit}
	var lines []*accounts.AuditLine
	for len(lines) < auditExportMax {
		es, next, err := d.Accounts.SearchAudit(ctx, c, q)
		if err != nil {
			d.showFailure(w, p, err)
			return
		}
		ls, err := d.Accounts.DescribeAudit(ctx, c, es)
		if err != nil {
			d.showFailure(w, p, err)
			return
		}
		lines = append(lines, ls...)
		if next == "" {
			break
		}
		q.Page.After = next
	}
	d.audit(r, (&cleanroom.AuditEntry{OrgID: c.OrgID(), Action: "audit.export", TargetType: "org", TargetID: c.OrgID(),
		Details: map[string]any{"via": "dashboard", "entries": len(lines), "filter": r.URL.RawQuery}}).By(c))
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="audit-`+d.now().Format("20060102-150405")+`.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	cw := csv.NewWriter(w)
	cw.Write([]string{"id", "time", "action", "actor", "actor_email", "actor_kind", "actor_user_id", "actor_token_id", "organization",
		"partner_organization", "target_type", "target_id", "target", "request_id", "details"})
	for _, l := range lines {
		details := ""
		if len(l.Details) > 0 {
			b, _ := json.Marshal(l.Details)
			details = string(b)
		}
		cw.Write([]string{strconv.FormatInt(l.ID, 10), l.Time.UTC().Format(time.RFC3339), l.Action, csvSafe(l.Actor), csvSafe(l.ActorEmail), l.ActorKind,
			l.ActorUserID, l.ActorTokenID, csvSafe(l.OrgName), csvSafe(l.PartnerName), l.TargetType, l.TargetID, csvSafe(l.Target), l.RequestID, csvSafe(details)})
	}
	cw.Flush()
}

// csvSafe keeps a spreadsheet from reading a cell as a formula (a name that starts with =, +, -
// or @ is user-typed text).
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
