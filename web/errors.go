package web

import (
	"net/http"
	"strings"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/httpx"
)

// errorData is what the error page shows: what went wrong, what to do, and where to go instead.
type errorData struct {
	Status  int
	Heading string
	Message string
	Hint    string
}

// notFound answers a path the dashboard has no page for (or a resource the caller does not
// reach: another org's looks the same as none) with the dashboard's own 404 page.
func (d *Dashboard) notFound(w http.ResponseWriter, r *http.Request) {
	p := &page{}
	if c, err := d.Auth.Authenticate(r); err == nil && c.Session != nil {
		p = d.pageFor(r, c)
	}
	d.errorPage(w, p, http.StatusNotFound, "Page not found",
		"There is no page at "+r.URL.Path+", or it belongs to an organization you are not acting in.",
		"Use the navigation above, or switch organization with the selector at the top right.")
}

// showFailure renders err on the error page with the status of its code: the message and hint
// written for users, or a generic sentence for an internal error (logged with its cause).
func (d *Dashboard) showFailure(w http.ResponseWriter, p *page, err error) {
	code := cleanroom.ErrorCode(err)
	status := httpx.StatusOf(code)
	if code == cleanroom.EINTERNAL {
		d.log.Error("dashboard", "page", p.Title, "err", err)
	}
	heading := "Something went wrong"
	switch code {
	case cleanroom.ENOTFOUND:
		heading = "Not found"
	case cleanroom.EFORBIDDEN:
		heading = "Not allowed"
	case cleanroom.EINVALID:
		heading = "That did not work"
	}
	msg, hint := cleanroom.ErrorMessage(err), ""
	if h, ok := cleanroom.ErrorDetails(err)["hint"].(string); ok {
		hint = h
	}
	d.errorPage(w, p, status, heading, msg, hint)
}

func (d *Dashboard) errorPage(w http.ResponseWriter, p *page, status int, heading, msg, hint string) {
	p.Title = heading
	p.Data = &errorData{Status: status, Heading: heading, Message: msg, Hint: hint}
	d.render(w, status, "error.html", p)
}

// fieldError is an error shown beside a form's field: the field the service named (its
// "field" detail), and what the user is told (message and hint).
type fieldError struct {
	Field string
	Text  string
}

// formError turns a service's error into the form's error; fields names the form's fields, so an
// error naming another (or none) is shown at the top of the form.
func formError(err error) *fieldError {
	if err == nil {
		return nil
	}
	f, _ := cleanroom.ErrorDetails(err)["field"].(string)
	return &fieldError{Field: f, Text: cleanroom.ErrorText(err)}
}

// On returns the error's text when it belongs to field, else "".
func (e *fieldError) On(field string) string {
	if e == nil || e.Field != field {
		return ""
	}
	return e.Text
}

// formState is a page's last submitted form: its name, the values it held and its error, so the
// page shows it again as it was typed, with the error beside the field it concerns.
type formState struct {
	Form   string
	Values map[string]string
	Err    *fieldError
	// shown names, per form, the fields that show their errors beside themselves.
	shown map[string]map[string]bool
}

// submitted returns the state of the form named name: the trimmed values of its fields.
func submitted(r *http.Request, name string, fields ...string) formState {
	f := formState{Form: name, Values: map[string]string{}}
	for _, field := range fields {
		f.Values[field] = strings.TrimSpace(r.PostFormValue(field))
	}
	return f
}

// Value returns a field's value as submitted, for the form that was submitted.
func (f *formState) Value(form, field string) string {
	if f.Form != form {
		return ""
	}
	return f.Values[field]
}

// ErrorOn returns the error of form's field; field "" gives the form's error when no field of the
// form shows it beside itself.
func (f *formState) ErrorOn(form, field string) string {
	if f.Form != form || f.Err == nil {
		return ""
	}
	if field == "" {
		if f.shown[form][f.Err.Field] {
			return ""
		}
		return f.Err.Text
	}
	return f.Err.On(field)
}
