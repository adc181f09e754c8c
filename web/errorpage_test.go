package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/activation"
	"github.com/cleanroom-oss/cleanroom/cohorts"
)

// failingActivations is a store whose activations cannot be read: an unexpected internal error.
type failingActivations struct{ cleanroom.Store }

func (failingActivations) ListCohortActivations(context.Context, string, string) ([]*cleanroom.CohortActivation, error) {
	return nil, cleanroom.Errorf(cleanroom.EINTERNAL, "the database is gone")
}

// TestInternalErrorPage: an unexpected error of a signed-in page is the dashboard's error page
// with its navigation and organization selector.
func TestInternalErrorPage(t *testing.T) {
	w := newCohortWorld(t)
	ctx := context.Background()
	if _, err := w.api.Cohorts.Create(ctx, cleanroom.NewCaller(w.adv.ID, cleanroom.RoleAdmin), cohorts.Spec{Name: "Acme - CRM",
		Kind: cleanroom.CohortMatched, ConnectionIDs: []string{w.conn},
		Query: cleanroom.CohortQuery{Op: cleanroom.OpAny, Conditions: []cleanroom.Condition{{DataSource: w.dataSource}}}}); err != nil {
		t.Fatal(err)
	}
	w.drain()
	ops := w.signIn("ops@planet.example")
	orig := w.m.Web.Activation
	w.m.Web.Activation = &activation.Service{Store: failingActivations{w.store}, Cohorts: orig.Cohorts}
	defer func() { w.m.Web.Activation = orig }()

	status, html := ops.get("/activation")
	if status != http.StatusInternalServerError || !strings.Contains(html, "Something went wrong") {
		t.Fatalf("internal error: %d\n%s", status, html)
	}
	nav := between(html, "<nav>", "</nav>")
	if !strings.Contains(nav, `href="/cohorts"`) || !strings.Contains(nav, `href="/activation"`) || !strings.Contains(html, `name="org_id"`) {
		t.Errorf("the error page has no navigation:\n%s", html)
	}
}

// TestExpiredFormPage: a form sent with a wrong CSRF token is refused with the dashboard's
// navigation, and nothing changes.
func TestExpiredFormPage(t *testing.T) {
	w := newCohortWorld(t)
	ops := w.signIn("ops@planet.example")
	ops.csrf = "not-the-token"
	status, _, html := ops.post("/activation/settings", url.Values{"gam_key": {"changed"}})
	if status != http.StatusForbidden || !strings.Contains(html, "The form expired") {
		t.Fatalf("wrong CSRF token: %d\n%s", status, html)
	}
	nav := between(html, "<nav>", "</nav>")
	if !strings.Contains(nav, `href="/cohorts"`) || !strings.Contains(html, `name="org_id"`) {
		t.Errorf("the expired form's page has no navigation:\n%s", html)
	}
}
