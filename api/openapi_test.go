package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/accounts"
	"github.com/cleanroom-oss/cleanroom/activation"
	"github.com/cleanroom-oss/cleanroom/api"
	"github.com/cleanroom-oss/cleanroom/auth"
	"github.com/cleanroom-oss/cleanroom/cohorts"
	"github.com/cleanroom-oss/cleanroom/disclosure"
	"github.com/cleanroom-oss/cleanroom/httpx"
	"github.com/cleanroom-oss/cleanroom/ingest"
	"github.com/cleanroom-oss/cleanroom/pubsync"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// The tests in this file keep api/openapi.json and the served API from drifting apart. They need
// no database: the route table and the routes they call do not touch the store.

// oaServer returns a server good for listing routes and serving routes that need no store.
func oaServer() *api.Server {
	return api.New(nil, nil, slog.New(slog.DiscardHandler))
}

// oaLoad parses the embedded document (the bytes GET /v1/openapi.json serves).
func oaLoad(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(api.OpenAPIDocument, &doc); err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	return doc
}

// oaOperation is one operation of the document.
type oaOperation struct {
	method, path string
	op           map[string]any
}

func (o oaOperation) key() string { return o.method + " " + o.path }

var oaMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// oaOperations lists the document's operations, sorted by path and method.
func oaOperations(t *testing.T, doc map[string]any) []oaOperation {
	t.Helper()
	paths, ok := doc["paths"].(map[string]any)
	if !ok {
		t.Fatalf("the document has no paths object")
	}
	var out []oaOperation
	for path, item := range paths {
		item, ok := item.(map[string]any)
		if !ok {
			t.Errorf("path %s is not an object", path)
			continue
		}
		for _, m := range oaMethods {
			if op, ok := item[m].(map[string]any); ok {
				out = append(out, oaOperation{strings.ToUpper(m), path, op})
			} else if item[m] != nil {
				t.Errorf("%s %s is not an object", strings.ToUpper(m), path)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key() < out[j].key() })
	return out
}

// oaPointer returns the value at a local reference such as "#/components/schemas/Org".
func oaPointer(doc map[string]any, ref string) (any, bool) {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, false
	}
	var cur any = doc
	for _, tok := range strings.Split(rest, "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[tok]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// oaResolve follows $ref until it reaches an object that is not a reference.
func oaResolve(t *testing.T, doc map[string]any, v any) map[string]any {
	t.Helper()
	for range 10 {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%v is not an object", v)
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		if v, ok = oaPointer(doc, ref); !ok {
			t.Fatalf("$ref %s does not resolve", ref)
		}
	}
	t.Fatalf("$ref chain too long at %v", v)
	return nil
}

// oaRefs collects every $ref in v with where it occurs.
func oaRefs(v any, at string, out map[string][]string) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && k == "$ref" {
				out[s] = append(out[s], at)
				continue
			}
			oaRefs(x, at+"/"+k, out)
		}
	case []any:
		for i, x := range v {
			oaRefs(x, at+"/"+strconv.Itoa(i), out)
		}
	}
}

func oaStrings(v any) []string {
	var out []string
	for _, x := range asSlice(v) {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func asSlice(v any) []any { s, _ := v.([]any); return s }

// oaAccessSentence is what an operation's description must say about who may call it.
func oaAccessSentence(rt api.RouteInfo) string {
	switch rt.Access {
	case "public":
		return "Public: needs no credentials."
	case "signed_in":
		return "Needs any valid credentials (a session or an API token), acting in an organization or not."
	case "operator":
		return "Needs an operator account."
	case "in_org":
		if rt.Role == cleanroom.RoleAdmin {
			return "Needs the admin role in the caller's organization."
		}
		return fmt.Sprintf("Needs the %s role or higher in the caller's organization.", rt.Role)
	}
	return "(unknown access " + rt.Access + ")"
}

const oaLimitedSentence = "Invited advertisers (the limited role) may call it too."

// TestOpenAPIRoutes checks that every served route is documented and every documented operation
// is served.
func TestOpenAPIRoutes(t *testing.T) {
	doc := oaLoad(t)
	routes := oaServer().Routes()
	if len(routes) == 0 {
		t.Fatal("the server lists no routes")
	}
	served := map[string]bool{}
	for _, rt := range routes {
		k := rt.Method + " " + rt.Path
		if served[k] {
			t.Errorf("route %s is declared twice", k)
		}
		served[k] = true
	}
	documented := map[string]bool{}
	for _, o := range oaOperations(t, doc) {
		documented[o.key()] = true
	}
	for _, rt := range routes {
		if k := rt.Method + " " + rt.Path; !documented[k] {
			t.Errorf("route %s is served but not in openapi.json", k)
		}
	}
	for k := range documented {
		if !served[k] {
			t.Errorf("openapi.json documents %s, which is not a served route", k)
		}
	}
}

// TestOpenAPIDocument checks the document's structure: version, formatting, references, and for
// every operation its id, summary, tags, access rule, parameters, request body and responses.
func TestOpenAPIDocument(t *testing.T) {
	doc := oaLoad(t)
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.1") {
		t.Errorf("openapi is %q, want 3.1.x", doc["openapi"])
	}
	info, _ := doc["info"].(map[string]any)
	if info["title"] != "Clean Room API" || info["version"] != "v1" || info["description"] == "" || info["description"] == nil {
		t.Errorf("info is %v, want title Clean Room API, version v1 and a description", info)
	}

	// Pretty-printed with two-space indentation, ending in one newline.
	var compact, indented bytes.Buffer
	if err := json.Compact(&compact, api.OpenAPIDocument); err != nil {
		t.Fatal(err)
	}
	json.Indent(&indented, compact.Bytes(), "", "  ")
	indented.WriteByte('\n')
	if !bytes.Equal(indented.Bytes(), api.OpenAPIDocument) {
		t.Errorf("openapi.json is not formatted with two-space indentation (reformat it, e.g. with jq --indent 2)")
	}

	// Every $ref resolves, and every component is used.
	refs := map[string][]string{}
	oaRefs(doc, "#", refs)
	for ref, at := range refs {
		if _, ok := oaPointer(doc, ref); !ok {
			t.Errorf("$ref %s (at %s) does not resolve", ref, at[0])
		}
	}
	components, _ := doc["components"].(map[string]any)
	for _, kind := range []string{"schemas", "parameters", "responses", "headers"} {
		m, _ := components[kind].(map[string]any)
		if len(m) == 0 {
			t.Errorf("components/%s is empty", kind)
		}
		for name := range m {
			if ref := "#/components/" + kind + "/" + name; len(refs[ref]) == 0 {
				t.Errorf("%s is never referenced", ref)
			}
		}
	}

	// Security schemes.
	schemes, _ := components["securitySchemes"].(map[string]any)
	if b, _ := schemes["bearerAuth"].(map[string]any); b["type"] != "http" || b["scheme"] != "bearer" {
		t.Errorf("securitySchemes/bearerAuth is %v, want http bearer", b)
	}
	if c, _ := schemes["sessionCookie"].(map[string]any); c["type"] != "apiKey" || c["in"] != "cookie" || c["name"] != httpx.SessionCookie {
		t.Errorf("securitySchemes/sessionCookie is %v, want apiKey in cookie %s", c, httpx.SessionCookie)
	}
	checkSecurity := func(where string, v any) {
		for _, req := range asSlice(v) {
			req, _ := req.(map[string]any)
			for name := range req {
				if schemes[name] == nil {
					t.Errorf("%s: security names unknown scheme %q", where, name)
				}
			}
		}
	}
	if len(asSlice(doc["security"])) == 0 {
		t.Errorf("the document has no default security requirement")
	}
	checkSecurity("document", doc["security"])

	// Every error response is in the error shape.
	responses, _ := components["responses"].(map[string]any)
	for name := range responses {
		r := oaResolve(t, doc, responses[name])
		content, _ := r["content"].(map[string]any)
		media, _ := content["application/json"].(map[string]any)
		if ref, _ := media["schema"].(map[string]any); ref["$ref"] != "#/components/schemas/Error" {
			t.Errorf("components/responses/%s does not use the Error schema", name)
		}
	}

	declaredTags := map[string]bool{}
	for _, tag := range asSlice(doc["tags"]) {
		tag, _ := tag.(map[string]any)
		name, _ := tag["name"].(string)
		declaredTags[name] = true
	}
	routes := map[string]api.RouteInfo{}
	for _, rt := range oaServer().Routes() {
		routes[rt.Method+" "+rt.Path] = rt
	}
	ids := map[string]string{}
	pathParam := regexp.MustCompile(`\{([^}]+)\}`)
	for _, o := range oaOperations(t, doc) {
		t.Run(o.key(), func(t *testing.T) {
			op := o.op
			id, _ := op["operationId"].(string)
			switch {
			case id == "":
				t.Errorf("no operationId")
			case ids[id] != "":
				t.Errorf("operationId %q is also used by %s", id, ids[id])
			default:
				ids[id] = o.key()
			}
			if s, _ := op["summary"].(string); s == "" {
				t.Errorf("no summary")
			}
			tags := oaStrings(op["tags"])
			if len(tags) == 0 {
				t.Errorf("no tags")
			}
			for _, tag := range tags {
				if !declaredTags[tag] {
					t.Errorf("tag %q is not declared in the document's tags", tag)
				}
			}

			rt, served := routes[o.key()]
			desc, _ := op["description"].(string)
			if served {
				if want := oaAccessSentence(rt); !strings.Contains(desc, want) {
					t.Errorf("description does not say %q: %q", want, desc)
				}
				if got := strings.Contains(desc, oaLimitedSentence); got != rt.Limited {
					t.Errorf("description says %q: %v; the route admits the limited role: %v", oaLimitedSentence, got, rt.Limited)
				}
				auditSentence := "Recorded in the audit log as `" + rt.Audit + "`."
				if rt.Audit != "" && !strings.Contains(desc, auditSentence) {
					t.Errorf("description does not say %q", auditSentence)
				}
				if rt.Audit == "" && strings.Contains(desc, "Recorded in the audit log") {
					t.Errorf("description mentions an audit action, and the route records none")
				}
				sec, hasSec := op["security"]
				if rt.Access == "public" {
					if !hasSec || sec == nil || len(asSlice(sec)) != 0 {
						t.Errorf("public route without security: []")
					}
				} else if hasSec && len(asSlice(sec)) == 0 {
					t.Errorf("%s route declares security: [] (no credentials)", rt.Access)
				}
				checkSecurity(o.key(), sec)
			}

			// Parameters: every path template variable has one required path parameter; ids are
			// UUIDs except job ids.
			inPath := map[string]map[string]any{}
			hasCSRF := false
			for _, p := range asSlice(op["parameters"]) {
				p := oaResolve(t, doc, p)
				name, _ := p["name"].(string)
				switch p["in"] {
				case "path":
					if inPath[name] != nil {
						t.Errorf("path parameter %s declared twice", name)
					}
					inPath[name] = p
					if p["required"] != true {
						t.Errorf("path parameter %s is not required", name)
					}
				case "header":
					hasCSRF = hasCSRF || name == httpx.CSRFHeader
				case "query", "cookie":
				default:
					t.Errorf("parameter %s is in %v", name, p["in"])
				}
				if p["schema"] == nil {
					t.Errorf("parameter %s has no schema", name)
				}
			}
			vars := pathParam.FindAllStringSubmatch(o.path, -1)
			for _, v := range vars {
				p := inPath[v[1]]
				if p == nil {
					t.Errorf("path parameter {%s} is not declared", v[1])
					continue
				}
				delete(inPath, v[1])
				s := oaResolve(t, doc, p["schema"])
				wantType, wantFormat := "string", "uuid"
				if strings.HasPrefix(o.path, "/v1/jobs/") {
					wantType, wantFormat = "integer", "int64"
				}
				if s["type"] != wantType || s["format"] != wantFormat {
					t.Errorf("path parameter {%s} is %v/%v, want %s/%s", v[1], s["type"], s["format"], wantType, wantFormat)
				}
			}
			for name := range inPath {
				t.Errorf("path parameter %s is not in the path template", name)
			}
			if served && rt.Access != "public" && o.method != http.MethodGet && !hasCSRF {
				t.Errorf("write route without the %s header parameter (needed with the session cookie)", httpx.CSRFHeader)
			}

			// Request body: JSON bodies are closed objects whose required fields exist (the
			// server refuses unknown fields), limited in size (413); raw bodies (files) have a
			// media type with a schema.
			jsonBody := false
			if rb, ok := op["requestBody"]; ok {
				rb := oaResolve(t, doc, rb)
				content, _ := rb["content"].(map[string]any)
				if len(content) == 0 {
					t.Errorf("request body without content")
				}
				for mt, media := range content {
					media, _ := media.(map[string]any)
					if media["schema"] == nil {
						t.Errorf("request body %s has no schema", mt)
					} else if mt == "application/json" {
						jsonBody = true
						oaCheckClosed(t, doc, media["schema"], "requestBody", map[string]bool{})
					}
				}
			}

			// Responses.
			rs, _ := op["responses"].(map[string]any)
			ok2xx := false
			for code, r := range rs {
				if code != "default" && !regexp.MustCompile(`^[1-5]([0-9]{2}|XX)$`).MatchString(code) {
					t.Errorf("response key %q is not a status code", code)
				}
				r := oaResolve(t, doc, r)
				if d, _ := r["description"].(string); d == "" {
					t.Errorf("response %s has no description", code)
				}
				if content, ok := r["content"].(map[string]any); ok {
					for mt, media := range content {
						media, _ := media.(map[string]any)
						if media["schema"] == nil {
							t.Errorf("response %s %s has no schema", code, mt)
						}
					}
				}
				if strings.HasPrefix(code, "2") {
					ok2xx = true
				}
				if code == "201" {
					h, _ := r["headers"].(map[string]any)
					if h["Location"] == nil {
						t.Errorf("201 response without a Location header")
					}
				}
				if code == "204" && r["content"] != nil {
					t.Errorf("204 response with content")
				}
			}
			if !ok2xx {
				t.Errorf("no 2xx response")
			}
			need := []string{}
			if served && rt.Access != "public" {
				need = append(need, "401")
			}
			if served && (rt.Access == "in_org" || rt.Access == "operator") {
				need = append(need, "403")
			}
			if len(vars) > 0 {
				need = append(need, "404")
			}
			if _, ok := op["requestBody"]; ok {
				need = append(need, "400")
			}
			if jsonBody {
				need = append(need, "413")
			}
			for _, code := range need {
				if rs[code] == nil {
					t.Errorf("no %s response", code)
				}
			}
		})
	}
}

// oaCheckClosed checks that every object in a request body schema refuses unknown fields (the
// server does) and that its required fields exist.
func oaCheckClosed(t *testing.T, doc map[string]any, v any, at string, seen map[string]bool) {
	t.Helper()
	if m, ok := v.(map[string]any); ok {
		if ref, ok := m["$ref"].(string); ok {
			if seen[ref] {
				return
			}
			seen[ref] = true
			at = ref
		}
	}
	s := oaResolve(t, doc, v)
	switch s["type"] {
	case "object":
		if s["additionalProperties"] != false {
			t.Errorf("%s: request object without additionalProperties: false", at)
		}
		props, _ := s["properties"].(map[string]any)
		for _, r := range oaStrings(s["required"]) {
			if props[r] == nil {
				t.Errorf("%s: required field %q is not a property", at, r)
			}
		}
		for name, p := range props {
			oaCheckClosed(t, doc, p, at+"."+name, seen)
		}
	case "array":
		if s["items"] != nil {
			oaCheckClosed(t, doc, s["items"], at+"[]", seen)
		}
	}
}

// oaField is a JSON field of a Go type.
type oaField struct {
	typ      reflect.Type
	optional bool // omitempty or omitzero
}

// oaJSONFields returns the JSON fields of a struct type as encoding/json writes them: tagged
// names, embedded structs flattened, json:"-" skipped.
func oaJSONFields(t reflect.Type) map[string]oaField {
	out := map[string]oaField{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ft := f.Type
		if f.Anonymous && name == "" {
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range oaJSONFields(ft) {
					if _, ok := out[k]; !ok {
						out[k] = v
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		optional := false
		for _, o := range strings.Split(opts, ",") {
			optional = optional || o == "omitempty" || o == "omitzero"
		}
		out[name] = oaField{ft, optional}
	}
	return out
}

// oaSchemaType is the JSON Schema type of a Go type, or "" when any JSON value fits.
func oaSchemaType(t reflect.Type) string {
	switch {
	case t == reflect.TypeFor[time.Time]():
		return "string"
	case t == reflect.TypeFor[json.RawMessage]():
		return ""
	}
	switch t.Kind() {
	case reflect.Pointer:
		return oaSchemaType(t.Elem())
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return "string"
		}
		return "array"
	case reflect.Map, reflect.Struct:
		return "object"
	}
	return ""
}

// oaSchemaProps collects a schema's properties and required names, following $ref and allOf.
func oaSchemaProps(t *testing.T, doc map[string]any, v any, props map[string]any, required map[string]bool) {
	t.Helper()
	s := oaResolve(t, doc, v)
	for _, part := range asSlice(s["allOf"]) {
		oaSchemaProps(t, doc, part, props, required)
	}
	p, _ := s["properties"].(map[string]any)
	for k, v := range p {
		props[k] = v
	}
	for _, r := range oaStrings(s["required"]) {
		required[r] = true
	}
}

// TestOpenAPISchemasMatchTypes checks that the schemas of the domain types list exactly the
// types' JSON fields, with matching JSON types, and require exactly those that are always
// present; and that the enums list the domain's values.
func TestOpenAPISchemasMatchTypes(t *testing.T) {
	doc := oaLoad(t)
	for _, c := range []struct {
		schema       string
		typ          reflect.Type
		noneRequired bool // a request body whose fields may all be left out
	}{
		{"Org", reflect.TypeFor[cleanroom.Org](), false},
		{"User", reflect.TypeFor[cleanroom.User](), false},
		{"Member", reflect.TypeFor[cleanroom.Member](), false},
		{"Invitation", reflect.TypeFor[cleanroom.Invitation](), false},
		{"Token", reflect.TypeFor[cleanroom.Token](), false},
		{"AuditEntry", reflect.TypeFor[cleanroom.AuditEntry](), false},
		{"Job", reflect.TypeFor[cleanroom.Job](), false},
		{"Connection", reflect.TypeFor[cleanroom.Connection](), false},
		{"Permissions", reflect.TypeFor[cleanroom.Permissions](), false},
		{"PermissionsInput", reflect.TypeFor[cleanroom.Permissions](), true},
		{"DataSource", reflect.TypeFor[cleanroom.DataSource](), false},
		{"Grant", reflect.TypeFor[cleanroom.Grant](), false},
		{"ProvisionalAccess", reflect.TypeFor[cleanroom.ProvisionalAccess](), false},
		{"Upload", reflect.TypeFor[cleanroom.Upload](), false},
		{"Version", reflect.TypeFor[cleanroom.Version](), false},
		{"Progress", reflect.TypeFor[cleanroom.Progress](), false},
		{"Segment", reflect.TypeFor[ingest.Segment](), false},
		{"RowError", reflect.TypeFor[cleanroom.RowError](), false},
		{"CohortInfo", reflect.TypeFor[vault.CohortInfo](), false},
		{"EventBatch", reflect.TypeFor[pubsync.Batch](), false},
		{"IdentifyEvent", reflect.TypeFor[pubsync.IdentifyEvent](), false},
		{"Identifier", reflect.TypeFor[pubsync.Identifier](), false},
		{"MembershipUpdate", reflect.TypeFor[pubsync.MembershipUpdate](), false},
		{"UploadReport", reflect.TypeFor[cleanroom.UploadReport](), false},
		{"CohortEstimates", reflect.TypeFor[cohorts.Estimates](), false},
		{"CohortEstimate", reflect.TypeFor[cohorts.Estimate](), false},
		{"ActiveUsers", reflect.TypeFor[cohorts.Active](), false},
		{"CohortDiagnostics", reflect.TypeFor[cohorts.Diagnostics](), false},
		{"SourceDiagnostics", reflect.TypeFor[cohorts.SourceDiagnostics](), false},
		{"TypeDiagnostics", reflect.TypeFor[cohorts.TypeDiagnostics](), false},
		{"DiagnosticCause", reflect.TypeFor[cohorts.Cause](), false},
		{"Query", reflect.TypeFor[cleanroom.CohortQuery](), false},
		{"PublisherCohort", reflect.TypeFor[cohorts.PublisherCohort](), false},
		{"QueryCondition", reflect.TypeFor[cleanroom.Condition](), false},
		{"AdServerSettings", reflect.TypeFor[cleanroom.AdServerSettings](), false},
		{"Deal", reflect.TypeFor[cleanroom.Deal](), false},
		{"LineItem", reflect.TypeFor[cleanroom.LineItem](), false},
		{"FrequencyCap", reflect.TypeFor[cleanroom.FrequencyCap](), false},
		{"CohortActivation", reflect.TypeFor[activation.CohortActivation](), false},
		{"TargetActivation", reflect.TypeFor[activation.TargetActivation](), false},
		{"ExportRow", reflect.TypeFor[activation.ExportRow](), false},
		{"PrivacySettings", reflect.TypeFor[disclosure.SettingsView](), false},
		{"PrivacyParty", reflect.TypeFor[disclosure.PartySettings](), false},
		{"PrivacyEffective", reflect.TypeFor[disclosure.Effective](), false},
		{"PrivacyBudget", reflect.TypeFor[disclosure.BudgetView](), false},
		{"UpdatePrivacyRequest", reflect.TypeFor[disclosure.Change](), true},
		{"ImportSource", reflect.TypeFor[cleanroom.ImportSource](), false},
		{"ImportedObject", reflect.TypeFor[cleanroom.ImportedObject](), false},
	} {
		t.Run(c.schema+"="+c.typ.String(), func(t *testing.T) {
			ref := "#/components/schemas/" + c.schema
			if _, ok := oaPointer(doc, ref); !ok {
				t.Fatalf("%s is missing", ref)
			}
			props, required := map[string]any{}, map[string]bool{}
			oaSchemaProps(t, doc, map[string]any{"$ref": ref}, props, required)
			fields := oaJSONFields(c.typ)
			for name, f := range fields {
				p, ok := props[name]
				if !ok {
					t.Errorf("%s has JSON field %q, which the schema lacks", c.typ, name)
					continue
				}
				if want := oaSchemaType(f.typ); want != "" {
					got := oaResolve(t, doc, p)["type"]
					if got != want && !slices.Contains(oaStrings(got), want) {
						t.Errorf("%q: schema type %v, Go type %s is %s", name, got, f.typ, want)
					}
				}
				if wantReq := !f.optional && !c.noneRequired; required[name] != wantReq {
					t.Errorf("%q: required in the schema: %v; always present in JSON: %v", name, required[name], wantReq)
				}
			}
			for name := range props {
				if _, ok := fields[name]; !ok {
					t.Errorf("the schema has property %q, which %s lacks", name, c.typ)
				}
			}
			for name := range required {
				if _, ok := props[name]; !ok {
					t.Errorf("required %q is not a property", name)
				}
			}
		})
	}

	// Enums, by their place under #/components/schemas/.
	for _, c := range []struct {
		schema string
		want   []string
	}{
		{"MembershipUpdate/properties/op", oaEnum(pubsync.OpAdd, pubsync.OpRemove)},
		{"JobState", oaEnum(cleanroom.JobStates...)},
		{"InvitationState", oaEnum(cleanroom.InvitationStates...)},
		{"CohortKind", oaEnum(cleanroom.CohortMatched, cleanroom.CohortModeled)},
		{"CohortStatus", oaEnum(cleanroom.CohortBuilding, cleanroom.CohortTraining, cleanroom.CohortAwaitingSelection,
			cleanroom.CohortActive, cleanroom.CohortInactive, cleanroom.CohortFailed, cleanroom.CohortPaused)},
		{"Capability", oaEnum(cleanroom.Capabilities...)},
		{"Role", oaEnum(cleanroom.RoleAdmin, cleanroom.RoleMember, cleanroom.RoleViewer, cleanroom.RoleLimited)},
		{"OrgKind", oaEnum(cleanroom.OrgPublisher, cleanroom.OrgAdvertiser, cleanroom.OrgDemandSide)},
		{"Workflow", oaEnum(cleanroom.WorkflowOperatorDriven, cleanroom.WorkflowPublisherDriven)},
		{"UploadTarget", oaEnum(cleanroom.UploadDataSource, cleanroom.UploadPublisher, cleanroom.UploadBridge)},
		{"UploadState", oaEnum(cleanroom.UploadOpen, cleanroom.UploadComplete, cleanroom.UploadProcessing, cleanroom.UploadProcessed,
			cleanroom.UploadFailed, cleanroom.UploadAborted)},
		{"DataSourceStatus", oaEnum(cleanroom.DataSourceEmpty, cleanroom.DataSourceUploading, cleanroom.DataSourceProcessing,
			cleanroom.DataSourceReady, cleanroom.DataSourceFailed)},
	} {
		v, ok := oaPointer(doc, "#/components/schemas/"+c.schema)
		if _, isObj := v.(map[string]any); !ok || !isObj {
			t.Errorf("schema %s is missing", c.schema)
			continue
		}
		got := oaStrings(v.(map[string]any)["enum"])
		slices.Sort(got)
		slices.Sort(c.want)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s enum is %v, want %v", c.schema, got, c.want)
		}
	}
	for _, r := range oaStrings(oaResolve(t, doc, map[string]any{"$ref": "#/components/schemas/Role"})["enum"]) {
		if !cleanroom.Role(r).Valid() {
			t.Errorf("Role enum value %q is not a valid role", r)
		}
	}
}

func oaEnum[T ~string](vs ...T) []string {
	var out []string
	for _, v := range vs {
		out = append(out, string(v))
	}
	return out
}

// TestOpenAPIServed checks that GET /v1/openapi.json serves the document, byte for byte, as JSON.
func TestOpenAPIServed(t *testing.T) {
	onDisk, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(onDisk, api.OpenAPIDocument) {
		t.Errorf("the embedded document differs from openapi.json")
	}
	h := oaServer().Handler(nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/v1/openapi.json", nil))
	if w.Code != http.StatusOK {
		t.Fatalf("GET /v1/openapi.json: %d %s", w.Code, w.Body)
	}
	if mt, _, err := mime.ParseMediaType(w.Header().Get("Content-Type")); err != nil || mt != "application/json" {
		t.Errorf("Content-Type is %q, want application/json", w.Header().Get("Content-Type"))
	}
	if !bytes.Equal(w.Body.Bytes(), onDisk) {
		t.Errorf("GET /v1/openapi.json serves %d bytes that differ from openapi.json (%d bytes)", w.Body.Len(), len(onDisk))
	}
}

// TestOpenAPIErrorShape checks real error answers of the handler against the Error schema and
// the statuses the document lists for their routes.
func TestOpenAPIErrorShape(t *testing.T) {
	doc := oaLoad(t)
	errSchema := oaResolve(t, doc, map[string]any{"$ref": "#/components/schemas/Error"})
	errProps, _ := errSchema["properties"].(map[string]any)
	inner := oaResolve(t, doc, errProps["error"])
	innerProps, _ := inner["properties"].(map[string]any)
	codeSchema := oaResolve(t, doc, innerProps["code"])
	codes := oaStrings(codeSchema["enum"])

	s := oaServer()
	s.MaxBodyBytes = 64
	s.Accounts = accounts.New(nil, nil)
	s.Accounts.Throttle.Addr = auth.NewLimiter(0, time.Minute) // every sign-in is over the limit
	s.Auth = httpx.NewAuth(s.Accounts, slog.New(slog.DiscardHandler))
	h := s.Handler(nil)
	for _, c := range []struct {
		name, method, path, body string
		status                   int
		route                    string // the documented operation, if any
		header                   string // a header the answer must carry
	}{
		{"unknown path", "GET", "/v1/no-such-route", "", 404, "", ""},
		{"wrong method", "PATCH", "/v1/session", "", 405, "", "Allow"},
		{"no credentials", "GET", "/v1/me", "", 401, "GET /v1/me", "WWW-Authenticate"},
		{"malformed body", "POST", "/v1/session", `{"email":`, 400, "POST /v1/session", ""},
		{"unknown field", "POST", "/v1/session", `{"mail":"a@example.com"}`, 400, "POST /v1/session", ""},
		{"body too large", "POST", "/v1/session", `{"email":"` + strings.Repeat("a", 100) + `@example.com"}`, 413, "POST /v1/session", ""},
		{"rate limited", "POST", "/v1/session", `{"email":"a@example.com","password":"x"}`, 429, "POST /v1/session", "Retry-After"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
			if c.body != "" {
				r.Header.Set("Content-Type", "application/json")
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != c.status {
				t.Fatalf("%s %s: %d %s, want %d", c.method, c.path, w.Code, w.Body, c.status)
			}
			if c.header != "" && w.Header().Get(c.header) == "" {
				t.Errorf("no %s header", c.header)
			}
			var got map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatalf("error body is not JSON: %v: %s", err, w.Body)
			}
			oaCheckInstance(t, "error body", got, errProps, oaStrings(errSchema["required"]))
			e, _ := got["error"].(map[string]any)
			oaCheckInstance(t, "error", e, innerProps, oaStrings(inner["required"]))
			if code, _ := e["code"].(string); !slices.Contains(codes, code) {
				t.Errorf("code %q is not in the Error schema's enum %v", code, codes)
			}
			if c.route != "" {
				method, path, _ := strings.Cut(c.route, " ")
				op, ok := oaPointer(doc, "#/paths/"+strings.ReplaceAll(path, "/", "~1")+"/"+strings.ToLower(method))
				if !ok {
					t.Fatalf("%s is not documented", c.route)
				}
				rs, _ := op.(map[string]any)["responses"].(map[string]any)
				if rs[strconv.Itoa(c.status)] == nil {
					t.Errorf("%s answers %d, which the document does not list", c.route, c.status)
				}
			}
		})
	}
}

// oaCheckInstance checks that an object has only the schema's properties and all required ones.
func oaCheckInstance(t *testing.T, what string, v map[string]any, props map[string]any, required []string) {
	t.Helper()
	if v == nil {
		t.Errorf("%s is not an object", what)
		return
	}
	for k := range v {
		if props[k] == nil {
			t.Errorf("%s has %q, which the Error schema lacks", what, k)
		}
	}
	for _, k := range required {
		if _, ok := v[k]; !ok {
			t.Errorf("%s lacks required %q", what, k)
		}
	}
}
