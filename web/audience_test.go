package web_test

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestAudiencePage: the publisher sees its cohort taxonomy, its syncs with their reports (users and
// identifiers per type), its
// versions, and requests an erasure (a job it then sees); a bad taxonomy lists its rows and changes
// nothing; an advertiser has no audience page, and its forms change nothing of the publisher's.
func TestAudiencePage(t *testing.T) {
	w := newCohortWorld(t)
	pub := w.signIn("ops@planet.example")
	status, html := pub.get("/audience")
	if status != 200 || !strings.Contains(html, `id="audience-cohorts"`) || !strings.Contains(html, "<td>20000</td>") || !strings.Contains(html, `id="audience-versions"`) {
		t.Fatalf("audience: %d, want the taxonomy, the sync of 20000 users and the versions", status)
	}
	if tags := between(html, `<td class="per-tag">`, `</td>`); !regexp.MustCompile(`<span>email_sha256 [1-9][0-9]*</span>`).MatchString(tags) || !strings.Contains(tags, "users without an identifier") {
		t.Errorf("the sync does not show its identifiers per type: %s", tags)
	}
	status, html = pub.postFile("/audience/taxonomy", "taxonomy", "tax.csv", []byte("cohort_id,name,iab_id,standard\nc1,One,,maybe\n"))
	if status != 400 || !strings.Contains(html, `id="audience-taxonomy-errors"`) || !strings.Contains(html, `id="audience-cohorts"`) {
		t.Errorf("bad taxonomy: %d, want 400 listing the rows, the taxonomy kept", status)
	}
	if status, _, html := pub.post("/audience/erasures", url.Values{"user_ids": {"p1\np2"}}); status != 200 || !strings.Contains(html, `id="audience-erasures"`) {
		t.Errorf("erasure: %d", status)
	}
	w.drain()
	if _, html := pub.get("/audience"); !strings.Contains(between(html, `id="audience-erasures"`, `</table>`), "succeeded") {
		t.Errorf("the erasure's job is not shown succeeded")
	}
	acme := w.signIn("crm@acme.example")
	if status, _ := acme.get("/audience"); status != 404 {
		t.Errorf("an advertiser's GET /audience: %d, want 404", status)
	}
	if status, _, _ := acme.post("/audience/erasures", url.Values{"user_ids": {"p3"}}); status != 404 {
		t.Errorf("an advertiser's erasure: %d, want 404", status)
	}
}
