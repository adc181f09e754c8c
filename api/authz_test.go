package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/api"
)

var seq atomic.Int64

func uniq(prefix string) string { return fmt.Sprintf("%s%d", prefix, seq.Add(1)) }

// fixture returns, for a route, a path whose {id} names a fresh resource of org A (owned by
// callerLabel where ownership matters) and a valid body, so the allowed cell can succeed.
func (e *env) fixture(rt api.RouteInfo, callerLabel string) (string, any) {
	e.t.Helper()
	ctx := context.Background()
	path := rt.Path
	set := func(id string) { path = strings.Replace(path, "{id}", id, 1) }
	var body any
	switch rt.Method + " " + rt.Path {
	case "POST /v1/session":
		body = map[string]string{"email": "a-viewer@example.com", "password": testPassword}
	case "PUT /v1/session/org":
		body = map[string]string{"org_id": e.orgA.ID}
	case "PUT /v1/me/password":
		body = map[string]string{"current_password": testPassword, "new_password": testPassword}
	case "PATCH /v1/org":
		body = map[string]string{"name": uniq("Publisher A ")}
	case "POST /v1/users":
		body = map[string]string{"email": uniq("new") + "@example.com", "password": testPassword, "role": "member"}
	case "GET /v1/users/{id}":
		set(e.users["a-member"].ID)
	case "PATCH /v1/users/{id}":
		set(e.addMember(e.orgA.ID, uniq("patch")+"@example.com", cleanroom.RoleMember).ID)
		body = map[string]string{"role": "viewer"}
	case "DELETE /v1/users/{id}":
		set(e.addMember(e.orgA.ID, uniq("del")+"@example.com", cleanroom.RoleMember).ID)
	case "POST /v1/tokens":
		body = map[string]string{"name": "ci"}
	case "DELETE /v1/tokens/{id}":
		owner := e.users["a-member"].ID
		if u, ok := e.users[callerLabel]; ok && u.Role != cleanroom.RoleViewer {
			owner = u.ID
		}
		_, t, err := e.acc.IssueToken(ctx, owner, e.orgA.ID, "victim", 0)
		if err != nil {
			e.t.Fatal(err)
		}
		set(t.ID)
	case "GET /v1/jobs/{id}", "POST /v1/jobs/{id}/cancel":
		j := &cleanroom.Job{Kind: "test.noop", OrgID: e.orgA.ID, MaxAttempts: 1}
		if err := e.store.EnqueueJob(ctx, j, e.now); err != nil {
			e.t.Fatal(err)
		}
		set(strconv.FormatInt(j.ID, 10))
	case "POST /v1/admin/orgs":
		body = map[string]string{"name": uniq("Org "), "kind": "advertiser"}
	case "GET /v1/admin/orgs/{id}":
		set(e.orgA.ID)
	case "POST /v1/admin/orgs/{id}/clean-room":
		o, err := e.acc.CreateOrg(ctx, uniq("Fresh "), cleanroom.OrgAdvertiser)
		if err != nil {
			e.t.Fatal(err)
		}
		set(o.ID)
	case "PUT /v1/admin/orgs/{id}/dpa":
		set(e.orgB.ID)
		body = map[string]string{}
	case "POST /v1/admin/orgs/{id}/users":
		set(e.orgB.ID)
		body = map[string]string{"email": uniq("opadd") + "@example.com", "password": testPassword, "role": "viewer"}
	}
	if strings.Contains(path, "{") {
		e.t.Fatalf("no fixture for %s %s: add one to fixture()", rt.Method, rt.Path)
	}
	return path, body
}

func isWrite(method string) bool { return method != http.MethodGet }

// TestAuthorizationMatrix checks, for every route: no credentials get 401 in the error shape;
// another org's token gets 404 for the caller's org's resources; roles below the route's least
// role get 403 (a viewer never writes); non-operators get 403 on operator routes; and the least
// role that may call the route succeeds and, for writes, leaves an audit entry.
func TestAuthorizationMatrix(t *testing.T) {
	e := newEnv(t)
	roles := []struct {
		label string
		role  cleanroom.Role
	}{{"a-viewer", cleanroom.RoleViewer}, {"a-member", cleanroom.RoleMember}, {"a-admin", cleanroom.RoleAdmin}}
	routes := e.api.Routes()
	if len(routes) < 20 {
		t.Fatalf("only %d routes", len(routes))
	}
	for _, rt := range routes {
		t.Run(rt.Method+" "+rt.Path, func(t *testing.T) {
			e.t = t
			if isWrite(rt.Method) && rt.Audit == "" {
				t.Errorf("write route has no audit action")
			}
			// No credentials.
			path, body := e.fixture(rt, "")
			r := e.do(req{method: rt.Method, path: path, body: body})
			if rt.Access == "public" {
				if r.status == http.StatusUnauthorized {
					t.Errorf("public route answered 401")
				}
				return
			}
			if r.status != http.StatusUnauthorized || r.errCode() != cleanroom.EUNAUTHENTICATED || r.errMessage() == "" {
				t.Errorf("no token: %d %s, want 401 unauthenticated", r.status, r.raw)
			}
			if r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
			// A bad token.
			r = e.do(req{method: rt.Method, path: path, body: body, token: "crt_not-a-real-token"})
			if r.status != http.StatusUnauthorized || r.errCode() != cleanroom.EUNAUTHENTICATED {
				t.Errorf("bad token: %d %s, want 401", r.status, r.raw)
			}

			switch rt.Access {
			case "operator":
				r := e.do(req{method: rt.Method, path: path, body: body, token: e.tokens["a-admin"]})
				if r.status != http.StatusForbidden || r.errCode() != cleanroom.EFORBIDDEN {
					t.Errorf("org admin on operator route: %d %s, want 403", r.status, r.raw)
				}
				e.expectAllowed(rt, "operator", e.tokens["operator"])
			case "in_org":
				// Another org's admin: 404 for resources of org A; the route itself works in B.
				if strings.Contains(rt.Path, "{id}") {
					path, body := e.fixture(rt, "a-admin")
					r := e.do(req{method: rt.Method, path: path, body: body, token: e.tokens["b-admin"]})
					if r.status != http.StatusNotFound || r.errCode() != cleanroom.ENOTFOUND {
						t.Errorf("other org's token: %d %s, want 404", r.status, r.raw)
					}
				}
				// An operator token with no org cannot act in an org.
				r := e.do(req{method: rt.Method, path: path, body: body, token: e.tokens["operator"]})
				if r.status != http.StatusForbidden {
					t.Errorf("org-less operator token: %d %s, want 403", r.status, r.raw)
				}
				for _, ro := range roles {
					if ro.role.AtLeast(rt.Role) {
						e.expectAllowed(rt, ro.label, e.tokens[ro.label])
						continue
					}
					path, body := e.fixture(rt, ro.label)
					r := e.do(req{method: rt.Method, path: path, body: body, token: e.tokens[ro.label]})
					if r.status != http.StatusForbidden || r.errCode() != cleanroom.EFORBIDDEN {
						t.Errorf("%s: %d %s, want 403", ro.label, r.status, r.raw)
					}
				}
				if isWrite(rt.Method) && rt.Role == cleanroom.RoleViewer {
					t.Errorf("write route open to viewers")
				}
			case "signed_in":
				// Session routes act on the caller's own account: check them with a cookie session.
				s := e.login("a-member@example.com")
				path, body := e.fixture(rt, "a-member")
				before := e.auditCount(rt.Audit)
				r := e.do(req{method: rt.Method, path: path, body: body, session: s})
				if r.status >= 300 {
					t.Errorf("signed-in member: %d %s", r.status, r.raw)
				}
				if rt.Audit != "" && e.auditCount(rt.Audit) != before+1 {
					t.Errorf("no %s audit entry", rt.Audit)
				}
			}
		})
	}
}

// expectAllowed calls the route as label and expects success and, for audited routes, an
// audit entry naming the actor.
func (e *env) expectAllowed(rt api.RouteInfo, label, token string) {
	e.t.Helper()
	path, body := e.fixture(rt, label)
	before := 0
	if rt.Audit != "" {
		before = e.auditCount(rt.Audit)
	}
	r := e.do(req{method: rt.Method, path: path, body: body, token: token})
	if r.status >= 300 {
		e.t.Errorf("%s: %d %s, want success", label, r.status, r.raw)
		return
	}
	if r.status == http.StatusCreated && r.header.Get("Location") == "" {
		e.t.Errorf("%s: 201 without Location", label)
	}
	if rt.Audit != "" {
		if got := e.auditCount(rt.Audit); got != before+1 {
			e.t.Errorf("%s: %d new %q audit entries, want 1", label, got-before, rt.Audit)
		}
	}
}
