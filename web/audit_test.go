package web_test

import (
	"encoding/csv"
	"net/url"
	"strings"
	"testing"
)

// TestAuditPage: the audit log names people and orgs, filters by who, action, target and time,
// keeps a bad filter's values with its error beside the field, and exports what it shows as CSV;
// the partner's person is never named; another org's entries never appear.
func TestAuditPage(t *testing.T) {
	w := newCohortWorld(t)
	pub := w.signIn("ops@planet.example")
	// The publisher changes the advertiser's connection: an entry both see.
	if status, _, _ := pub.post("/connections/"+w.conn+"/permissions", url.Values{"matched_cohorts": {"on"}, "insights": {"on"}}); status != 200 {
		t.Fatalf("edit connection: %d", status)
	}
	acme := w.signIn("crm@acme.example")
	acme.post("/settings/tokens", url.Values{"name": {"nightly"}})
	w.signIn("crm@other.example").post("/settings/tokens", url.Values{"name": {"other-secret-token"}})

	_, html := acme.get("/audit")
	for _, want := range []string{"token.create", "connection.update", "someone at Daily Planet", "Daily Planet · Acme Outdoor", "&lt;crm@acme.example&gt;"} {
		if !strings.Contains(html, want) {
			t.Errorf("Acme's audit log lacks %q", want)
		}
	}
	for _, leak := range []string{"ops@planet.example", "other-secret-token", "crm@other.example", "Other Brand"} {
		if strings.Contains(html, leak) {
			t.Errorf("Acme's audit log shows %q", leak)
		}
	}
	if _, html := pub.get("/audit?action=connection."); !strings.Contains(html, "&lt;ops@planet.example&gt;") || strings.Contains(html, "session.create") {
		t.Errorf("the publisher's log filtered by connection.: want its own person named and no sign-ins")
	}
	acmeID := between(html, `<option value="">anyone</option><option value="`, `"`) // the first person of the who filter
	for _, c := range []struct {
		query  string
		status int
		has    []string
		hasNot []string
	}{
		{"action=token.create", 200, []string{"token.create"}, []string{"connection.update", "session.create</code>"}},
		{"action=session.", 200, []string{"session.create"}, []string{"token.create</code>"}},
		{"target=connection", 200, []string{"connection.update"}, []string{"token.create</code>"}},
		{"target=" + w.conn, 200, []string{"connection.update"}, []string{"token.create</code>"}},
		{"from=2000-01-01&to=2000-01-02", 200, []string{"Nothing recorded yet"}, []string{"token.create</code>"}},
		{"from=yesterday&action=token.create", 400, []string{`is not a date`, `value="token.create"`}, nil},
		{"who=" + acmeID, 200, []string{"token.create"}, []string{"<td>someone at"}},
	} {
		status, html := acme.get("/audit?" + c.query)
		if status != c.status {
			t.Errorf("%s: %d, want %d", c.query, status, c.status)
		}
		for _, s := range c.has {
			if !strings.Contains(html, s) {
				t.Errorf("%s: lacks %q", c.query, s)
			}
		}
		for _, s := range c.hasNot {
			if strings.Contains(html, s) {
				t.Errorf("%s: shows %q", c.query, s)
			}
		}
	}
	// The export holds what the page shows, with names.
	res, err := acme.c.Get(w.srv.URL + "/audit.csv?action=token.create")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Errorf("export Content-Type %q", ct)
	}
	rows, err := csv.NewReader(res.Body).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0][2] != "action" || rows[1][2] != "token.create" || rows[1][4] != "crm@acme.example" || rows[1][8] != "Acme Outdoor" {
		t.Errorf("export rows = %q, want the header and Acme's token.create with names", rows)
	}
}
