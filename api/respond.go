package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/httpx"
)

// errorBody is the one error shape of the API.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code      string         `json:"code"`
	Message   string         `json:"message"`
	Details   map[string]any `json:"details,omitempty"`
	RequestID string         `json:"request_id,omitempty"`
}

// writeError renders err in the error shape. Internal errors are logged with their cause and
// shown with a generic message only.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, requestID string, err error) {
	code := cleanroom.ErrorCode(err)
	status := httpx.StatusOf(code)
	var se *httpx.StatusError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &se):
		status = se.Status
	case errors.As(err, &mbe):
		status, code = http.StatusRequestEntityTooLarge, cleanroom.EINVALID
		err = cleanroom.Errorf(cleanroom.EINVALID, "The request body is larger than %d bytes.", mbe.Limit).
			With("limit_bytes", mbe.Limit)
	}
	if wait, ok := httpx.RetryAfter(err); ok {
		status = http.StatusTooManyRequests
		w.Header().Set("Retry-After", strconv.Itoa(wait))
	}
	if code == cleanroom.EINTERNAL {
		log.Error("internal error", "method", r.Method, "path", r.URL.Path, "request_id", requestID, "err", err)
	}
	if code == cleanroom.EUNAUTHENTICATED {
		w.Header().Set("WWW-Authenticate", `Bearer realm="cleanroom"`)
	}
	writeJSON(w, status, errorBody{Error: errorDetail{
		Code: code, Message: cleanroom.ErrorMessage(err), Details: cleanroom.ErrorDetails(err), RequestID: requestID,
	}})
}

// writeJSON writes v as the JSON response body with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if v != nil {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		enc.Encode(v)
	}
}

// decode reads the JSON request body into v, refusing unknown fields, trailing data and bodies
// over the size limit, with messages that name the problem.
func decode(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return cleanroom.Errorf(cleanroom.EINVALID, "The request body must be JSON, not %s.", ct).
			Hint("Send Content-Type: application/json.")
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return bodyError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return cleanroom.Errorf(cleanroom.EINVALID, "The request body has data after the JSON value.")
	}
	return nil
}

func bodyError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return err
	case errors.Is(err, io.EOF):
		return cleanroom.Errorf(cleanroom.EINVALID, "The request body is empty; a JSON object is expected.")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return cleanroom.Errorf(cleanroom.EINVALID, "The request body is not valid JSON: it ends too early.")
	case errors.As(err, &syn):
		return cleanroom.Errorf(cleanroom.EINVALID, "The request body is not valid JSON (at byte %d).", syn.Offset).With("offset", syn.Offset)
	case errors.As(err, &typ):
		return cleanroom.Errorf(cleanroom.EINVALID, "Field %q must be %s, not %s.", typ.Field, typ.Type, typ.Value).With("field", typ.Field)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return cleanroom.Errorf(cleanroom.EINVALID, "Field %q is not known.", f).With("field", f)
	}
	return cleanroom.Errorf(cleanroom.EINVALID, "The request body could not be read: %v.", err)
}

// list is the shape of every list response.
type list[T any] struct {
	Items []T `json:"items"`
	// Next is the cursor of the next page; absent on the last page.
	Next string `json:"next,omitempty"`
}

// MarshalJSON renders the list, an empty one as "items": [] (never null, whatever slice the
// store returned), so that clients can always iterate over items.
func (l list[T]) MarshalJSON() ([]byte, error) {
	items := l.Items
	if items == nil {
		items = []T{}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	err := enc.Encode(struct {
		Items []T    `json:"items"`
		Next  string `json:"next,omitempty"`
	}{items, l.Next})
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), err
}

// pageOf reads the cursor pagination parameters ?limit= and ?after=.
func pageOf(r *http.Request) (cleanroom.Page, error) {
	p := cleanroom.Page{After: r.URL.Query().Get("after")}
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > cleanroom.MaxPageLimit {
			return p, cleanroom.Errorf(cleanroom.EINVALID, "limit must be a whole number from 1 to %d.", cleanroom.MaxPageLimit).
				With("field", "limit")
		}
		p.Limit = n
	}
	return p, nil
}

// pageList answers a list the store returns whole (short lists: invitations, grants, versions,
// provisional access) with the same ?limit= and ?after= paging as the others. The cursor is the
// last item's ID, so a page holds the items after it in the list's order.
func pageList[T any](r *http.Request, items []T, id func(T) string) (list[T], error) {
	p, err := pageOf(r)
	if err != nil {
		return list[T]{}, err
	}
	start := 0
	if p.After != "" {
		after, err := base64.RawURLEncoding.DecodeString(p.After)
		i := -1
		if err == nil {
			i = slices.IndexFunc(items, func(x T) bool { return id(x) == string(after) })
		}
		if i < 0 {
			return list[T]{}, cleanroom.Errorf(cleanroom.EINVALID, "The after cursor is not one this list gave.").With("field", "after").
				Hint("Start again without after, or pass the next value of the previous page.")
		}
		start = i + 1
	}
	end := min(len(items), start+p.Size())
	out := list[T]{Items: slices.Clone(items[start:end])}
	if end < len(items) {
		out.Next = base64.RawURLEncoding.EncodeToString([]byte(id(items[end-1])))
	}
	return out, nil
}

// pathID returns the {name} path value, checked to be a UUID; a malformed one is not found.
func pathID(r *http.Request, name, what string) (string, error) {
	id := r.PathValue(name)
	if !cleanroom.IsID(id) {
		return "", notFound(what)
	}
	return id, nil
}

// notFound is the error for a resource that does not exist or is not visible to the caller: the
// two are indistinguishable on purpose.
func notFound(what string) error {
	return cleanroom.Errorf(cleanroom.ENOTFOUND, "%s not found.", what)
}

func errorf(code, format string, args ...any) error {
	return cleanroom.Errorf(code, format, args...)
}
