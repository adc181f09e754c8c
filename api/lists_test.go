package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/api"
)

// TestEmptyListsAreArrays walks every GET list route of the route table (those whose OpenAPI
// response is a list: an object with items) and checks that items is a JSON array, never null,
// both on the route's usual fixture and on an organization that has nothing to list.
func TestEmptyListsAreArrays(t *testing.T) {
	e := newEnv(t)
	doc := oaLoad(t)
	empty := e.newOrg("Empty Advertiser", cleanroom.OrgAdvertiser, true)
	emptyAdmin := e.addMember(empty.ID, "empty-admin@example.com", cleanroom.RoleAdmin)
	emptyToken := e.issueToken(emptyAdmin.ID, empty.ID)
	lists := 0
	for _, rt := range e.api.Routes() {
		if rt.Method != "GET" || !isListRoute(t, doc, rt) {
			continue
		}
		lists++
		t.Run(rt.Path, func(t *testing.T) {
			label := "operator"
			if rt.Access == "in_org" || rt.Access == "signed_in" {
				home, _, _ := e.fixture(rt, "a-admin")
				label = home + "-admin"
			}
			_, path, _ := e.fixture(rt, label)
			callers := []struct{ what, token, path string }{{label, e.tokens[label], path}}
			if !strings.Contains(rt.Path, "{") && rt.Access != "operator" {
				callers = append(callers, struct{ what, token, path string }{"an empty org", emptyToken, rt.Path})
			}
			if rt.Access == "operator" {
				callers = append(callers, struct{ what, token, path string }{"a page past the end", e.tokens["operator"], rt.Path + "?org_id=" + empty.ID})
			}
			for _, c := range callers {
				r := e.do(req{method: "GET", path: c.path, token: c.token})
				if r.status == http.StatusForbidden || r.status == http.StatusNotFound {
					continue // not this caller's list (a publisher-only route for an advertiser)
				}
				if r.status != http.StatusOK {
					t.Errorf("%s: %d %s", c.what, r.status, r.raw)
					continue
				}
				var body struct {
					Items json.RawMessage `json:"items"`
				}
				if err := json.Unmarshal(r.raw, &body); err != nil || !strings.HasPrefix(string(body.Items), "[") {
					t.Errorf("%s: items is %s, want an array: %s", c.what, body.Items, r.raw)
				}
			}
		})
	}
	if lists < 15 {
		t.Errorf("found %d list routes; the OpenAPI document's list schemas were not recognised", lists)
	}
}

// isListRoute reports whether the OpenAPI document answers rt with a list: an object whose
// items property is an array.
func isListRoute(t *testing.T, doc map[string]any, rt api.RouteInfo) bool {
	paths := doc["paths"].(map[string]any)
	op, _ := paths[rt.Path].(map[string]any)["get"].(map[string]any)
	res, _ := op["responses"].(map[string]any)["200"].(map[string]any)
	content, _ := res["content"].(map[string]any)
	media, _ := content["application/json"].(map[string]any)
	if media == nil || media["schema"] == nil {
		return false
	}
	schema := oaResolve(t, doc, media["schema"])
	props, _ := schema["properties"].(map[string]any)
	items, ok := props["items"].(map[string]any)
	return ok && items["type"] == "array"
}
