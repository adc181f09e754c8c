package web_test

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/cleanroom-oss/cleanroom"
)

// tagRe finds the form controls and labels of a page's HTML, attrRe their attributes;
// buttonTypes are the input types that need no label.
var (
	tagRe       = regexp.MustCompile(`(?is)<(/?)(input|select|textarea|label)\b([^>]*)>`)
	attrRe      = regexp.MustCompile(`(?is)\b([a-z-]+)\s*=\s*"([^"]*)"`)
	buttonTypes = map[string]bool{"hidden": true, "submit": true, "button": true, "reset": true, "image": true}
)

// unlabelled returns the form controls of page that a screen reader cannot name: an input
// (other than hidden and buttons), select or textarea with no aria-label or aria-labelledby,
// not inside a <label>, and not named by a <label for>.
func unlabelled(page string) []string {
	type control struct {
		tag   string
		attrs map[string]string
	}
	var found []control
	labelled := map[string]bool{} // ids named by <label for>
	depth := 0
	for _, m := range tagRe.FindAllStringSubmatch(page, -1) {
		closing, tag := m[1] == "/", strings.ToLower(m[2])
		attrs := map[string]string{}
		for _, a := range attrRe.FindAllStringSubmatch(m[3], -1) {
			attrs[strings.ToLower(a[1])] = a[2]
		}
		switch {
		case tag == "label" && closing:
			depth--
		case tag == "label":
			depth++
			if f := attrs["for"]; f != "" {
				labelled[f] = true
			}
		case closing:
		case tag == "input" && buttonTypes[strings.ToLower(attrs["type"])]:
		case depth > 0 || attrs["aria-label"] != "" || attrs["aria-labelledby"] != "":
		default:
			found = append(found, control{tag, attrs})
		}
	}
	var bad []string
	for _, c := range found {
		if id := c.attrs["id"]; id != "" && labelled[id] {
			continue
		}
		bad = append(bad, c.tag+" name="+c.attrs["name"]+" id="+c.attrs["id"])
	}
	return bad
}

// TestUnlabelled checks the checker: each control it must refuse, and each it must accept.
func TestUnlabelled(t *testing.T) {
	for _, tc := range []struct {
		html string
		bad  int
	}{
		{`<input name="q">`, 1},
		{`<select name="s"></select><textarea name="t"></textarea>`, 2},
		{`<label>Name <input name="q"></label>`, 0},
		{`<label for="q">Name</label><input id="q" name="q">`, 0},
		{`<label for="x">Name</label><input id="q" name="q">`, 1},
		{`<input name="q" aria-label="Search">`, 0},
		{`<input type="hidden" name="csrf_token"><input type="submit">`, 0},
		{`<label>Name</label><input name="q">`, 1},
	} {
		if got := unlabelled(tc.html); len(got) != tc.bad {
			t.Errorf("unlabelled(%q) = %q, want %d", tc.html, got, tc.bad)
		}
	}
}

// TestFormControlsHaveLabels walks every page of every role (the navigation's pages and the
// pages of a data source, a cohort, its insights and the operator's) and fails on a form control
// that has no label a screen reader can announce.
func TestFormControlsHaveLabels(t *testing.T) {
	w := newCohortWorld(t)
	ctx := context.Background()
	if _, err := w.acc.CreateOperator(ctx, "root@deploy.example", "Root", worldPassword); err != nil {
		t.Fatal(err)
	}
	co, err := w.api.Cohorts.Create(ctx, cleanroom.NewCaller(w.adv.ID, cleanroom.RoleAdmin), cohortSpecAll(w))
	if err != nil {
		t.Fatal(err)
	}
	w.drain()
	extra := map[string][]string{
		"crm@acme.example":    {"/data-sources/" + w.dataSource, "/cohorts/" + co.ID, "/cohorts/" + co.ID + "/insights"},
		"root@deploy.example": {"/operator", "/jobs"},
		"ops@planet.example":  {"/audience", "/activation"},
	}
	checked := 0
	for _, who := range []struct{ email, org string }{
		{"ops@planet.example", ""}, {"crm@acme.example", ""}, {"look@acme.example", ""},
		{"ws@planet.example", ""}, {"agency@acme.example", w.pub.DemandSideID}, {"root@deploy.example", ""},
	} {
		b := w.signIn(who.email)
		if who.org != "" {
			b.in(who.org)
		}
		_, home := b.get("/")
		paths := []string{"/", "/login", "/no-such-page"}
		if nav := navLink.FindStringSubmatch(home); nav != nil {
			for _, m := range href.FindAllStringSubmatch(nav[1], -1) {
				paths = append(paths, m[1])
			}
		}
		paths = append(paths, extra[who.email]...)
		slices.Sort(paths)
		for _, p := range slices.Compact(paths) {
			status, html := b.get(p)
			if status != 200 && p != "/no-such-page" {
				t.Errorf("%s: GET %s = %d", who.email, p, status)
				continue
			}
			checked++
			for _, c := range unlabelled(html) {
				t.Errorf("%s: %s has a %s without a label or aria-label", who.email, p, c)
			}
		}
	}
	if checked < 25 {
		t.Errorf("checked only %d pages", checked)
	}
}
