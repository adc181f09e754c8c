package web_test

import (
	"strings"
	"testing"
)

// TestOverviewNamesTheWorkspacesPublisher: a demand-side workspace's overview names the publisher
// it belongs to, for its staff and for an invited advertiser alike.
func TestOverviewNamesTheWorkspacesPublisher(t *testing.T) {
	w := newCohortWorld(t)
	for _, who := range []struct{ email, org string }{{"ws@planet.example", ""}, {"agency@acme.example", w.pub.DemandSideID}} {
		b := w.signIn(who.email)
		if who.org != "" {
			b.in(who.org)
		}
		if _, html := b.get("/"); !strings.Contains(html, "<dt>Workspace of publisher</dt><dd>Daily Planet ") {
			t.Errorf("%s: the overview does not name the workspace's publisher:\n%s", who.email, between(html, `<dl`, `</dl>`))
		}
	}
}
