package web_test

import (
	"regexp"
	"strings"
	"testing"
)

// TestCohortFormPickers: the new-cohort form offers segments, publisher cohorts and countries
// from lists, by name; no condition asks for a typed ID.
func TestCohortFormPickers(t *testing.T) {
	w := newCohortWorld(t)
	_, html := w.signIn("crm@acme.example").get("/cohorts")
	for _, want := range []string{`<select name="seg" aria-label="Segment">`, `<select name="pc" aria-label="Publisher cohort">`,
		`>Technology Buyers · CRM customers</option>`, `<select name="country" multiple`, `<option value="GB" >GB</option>`} {
		if !strings.Contains(html, want) {
			t.Errorf("the new-cohort form lacks %s", want)
		}
	}
	if regexp.MustCompile(`<input[^>]*name="(seg|pc|country)"`).MatchString(html) {
		t.Errorf("the new-cohort form still has a text field for a segment, publisher cohort or country")
	}
}
