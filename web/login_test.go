package web_test

import (
	"io"
	"net/url"
	"strings"
	"testing"
)

// TestLoginKeepsTheAddress: a refused sign-in shows the page again with the address typed (never
// the password), the error, and the password field focused.
func TestLoginKeepsTheAddress(t *testing.T) {
	w := newCohortWorld(t)
	res, err := w.srv.Client().PostForm(w.srv.URL+"/login", url.Values{"email": {"crm@acme.example"}, "password": {"not the password"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	html := string(b)
	if res.StatusCode != 401 || !strings.Contains(html, `value="crm@acme.example"`) || strings.Contains(html, "not the password") ||
		!strings.Contains(html, `role="alert"`) || !strings.Contains(html, `name="password" autocomplete="current-password" required autofocus`) {
		t.Errorf("refused sign-in: %d\n%s", res.StatusCode, between(html, "<main>", "</main>"))
	}
}
