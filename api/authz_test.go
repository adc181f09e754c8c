package api_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/accounts"
	"github.com/cleanroom-oss/cleanroom/api"
	"github.com/cleanroom-oss/cleanroom/cohorts"
	"github.com/cleanroom-oss/cleanroom/connections"
	"github.com/cleanroom-oss/cleanroom/imports"
	"github.com/cleanroom-oss/cleanroom/uploads"
)

var seq atomic.Int64

// fixtureSecret is the secret access key of the import sources fixtures set up.
var fixtureSecret = "fixture-secret"

func uniq(prefix string) string { return fmt.Sprintf("%s%d", prefix, seq.Add(1)) }

// fixture returns, for a route called by callerLabel, the prefix of the org the route is
// exercised in ("a", "w" or "b"), a path whose {id} names a fresh resource there (owned by the
// caller where ownership matters) and a valid body, so that an allowed caller succeeds.
func (e *env) fixture(rt api.RouteInfo, callerLabel string) (home, path string, body any) {
	e.t.Helper()
	ctx := context.Background()
	path, home = rt.Path, "a"
	set := func(id string) { path = strings.Replace(path, "{id}", id, 1) }
	must := func(err error) {
		if err != nil {
			e.t.Fatal(err)
		}
	}
	svc := e.api.Connections
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
	case "DELETE /v1/tokens/{id}", "GET /v1/tokens/{id}":
		owner := e.users["a-member"].ID
		if u, ok := e.users[callerLabel]; ok && (u.Role != cleanroom.RoleViewer || rt.Method == "GET") && strings.HasPrefix(callerLabel, "a-") {
			owner = u.ID
		}
		_, t, err := e.acc.IssueToken(ctx, owner, e.orgA.ID, "victim", 0)
		must(err)
		set(t.ID)
	case "POST /v1/service-accounts":
		body = map[string]string{"name": uniq("Nightly sync "), "role": "member"}
	case "GET /v1/service-accounts/{id}", "DELETE /v1/service-accounts/{id}", "POST /v1/service-accounts/{id}/tokens":
		sa, err := e.acc.CreateServiceAccount(ctx, cleanroom.MemberCaller(e.users["a-admin"], e.orgA), uniq("Sync "), cleanroom.RoleMember)
		must(err)
		set(sa.ID)
		if rt.Method == "POST" {
			body = map[string]string{"name": "ci"}
		}
	case "GET /v1/jobs/{id}", "POST /v1/jobs/{id}/cancel":
		j := &cleanroom.Job{Kind: "test.noop", OrgID: e.orgA.ID, MaxAttempts: 1}
		must(e.store.EnqueueJob(ctx, j, e.now))
		set(strconv.FormatInt(j.ID, 10))

	case "POST /v1/connections":
		body = map[string]any{"partner_id": e.newOrg(uniq("Adv "), cleanroom.OrgAdvertiser, true).ID,
			"permissions": map[string]bool{"matched_cohorts": true}}
	case "GET /v1/connections/{id}/publisher-cohorts":
		// What the partner may name in its queries: A's standard cohorts, through a new connection.
		home = "b"
		must(e.store.PutTaxonomy(ctx, e.orgA.ID, []byte(`{"cohorts":[{"id":"sports","name":"Sports","iab_id":483,"standard":true}]}`), e.now))
		c, _, err := svc.CreateConnection(ctx, e.orgA.ID, e.orgB.ID, cleanroom.Permissions{StandardCohorts: true})
		if cleanroom.ErrorCode(err) == cleanroom.ECONFLICT {
			cs, _, lerr := e.store.ListConnections(ctx, cleanroom.ConnectionFilter{PublisherID: e.orgA.ID, PartnerID: e.orgB.ID})
			must(lerr)
			c, err = cs[0], nil
		}
		must(err)
		set(c.ID)
	case "GET /v1/connections/{id}/privacy", "PUT /v1/connections/{id}/privacy":
		c, _, err := svc.CreateConnection(ctx, e.orgA.ID, e.newOrg(uniq("Adv "), cleanroom.OrgAdvertiser, true).ID, cleanroom.Permissions{Insights: true})
		must(err)
		set(c.ID)
		if rt.Method == "PUT" {
			body = map[string]any{"k": 150, "epsilon": "0.25"}
		}
	case "GET /v1/connections/{id}", "PATCH /v1/connections/{id}", "DELETE /v1/connections/{id}":
		c, _, err := svc.CreateConnection(ctx, e.orgA.ID, e.newOrg(uniq("Adv "), cleanroom.OrgAdvertiser, true).ID, cleanroom.Permissions{Insights: true})
		must(err)
		set(c.ID)
		if rt.Method == "PATCH" {
			body = map[string]any{"permissions": map[string]any{"matched_cohorts": true, "custom_cohorts": true, "shared_custom_cohorts": []string{"sports"}}}
		}
	case "PUT /v1/publisher/taxonomy":
		body = withHeaders{"cohort_id,name,iab_id,standard\nsports,Sports,,false\n", map[string]string{"Content-Type": "text/csv"}}
	case "GET /v1/publisher/taxonomy":
		must(e.store.PutTaxonomy(ctx, e.orgA.ID, []byte(`{"cohorts":[{"id":"sports","name":"Sports"}]}`), e.now))
	case "POST /v1/publisher/uploads":
		must(e.store.PutTaxonomy(ctx, e.orgA.ID, []byte(`{"cohorts":[{"id":"sports","name":"Sports"}]}`), e.now))
		body = map[string]any{"name": "p.tsv", "size": 100}
	case "POST /v1/publisher/events", "POST /v1/publisher/erasures":
		e.ensureAudience()
		if rt.Path == "/v1/publisher/events" {
			body = map[string]any{"memberships": []map[string]string{{"user_id": uniq("u"), "cohort_id": "sports", "op": "add"}}}
		} else {
			body = map[string]any{"user_ids": []string{"nobody"}}
		}
	case "PUT /v1/standard-cohort-opt-outs":
		body = map[string]any{"cohort_ids": []string{"iab-1", "iab-2"}}

	case "GET /v1/invitations", "GET /v1/grants":
		home = "w"
	case "POST /v1/invitations", "DELETE /v1/invitations/{id}", "GET /v1/invitations/{id}":
		home = "w"
		email := uniq("inv") + "@example.com"
		e.addMember(e.orgB.ID, email, cleanroom.RoleMember)
		if rt.Method == "POST" {
			body = map[string]string{"email": email, "advertiser_id": e.orgB.ID}
			break
		}
		inv, err := svc.Invite(ctx, cleanroom.NewCaller(e.orgW.ID, cleanroom.RoleAdmin), email, e.orgB.ID)
		must(err)
		set(inv.ID)
	case "POST /v1/me/invitations/{id}/accept", "POST /v1/me/invitations/{id}/decline":
		// An invitation of the caller (signed-in routes are called as a-member) into a new org.
		o := e.newOrg(uniq("Inviting "), cleanroom.OrgAdvertiser, false)
		inv, err := e.acc.InviteMember(ctx, &cleanroom.Caller{User: e.op, Org: o, Role: cleanroom.RoleAdmin}, accounts.NewUser{Email: "a-member@example.com", Password: testPassword, Role: cleanroom.RoleViewer})
		must(err)
		set(inv.ID)

	case "POST /v1/data-sources":
		home = "w"
		body = map[string]string{"name": uniq("Lapsed customers "), "description": "CRM export"}
	case "GET /v1/data-sources", "GET /v1/data-sources/{id}", "PATCH /v1/data-sources/{id}", "GET /v1/data-sources/{id}/grants",
		"DELETE /v1/data-sources/{id}", "GET /v1/data-sources/{id}/taxonomy", "PUT /v1/data-sources/{id}/taxonomy",
		"GET /v1/data-sources/{id}/uploads", "POST /v1/data-sources/{id}/uploads", "GET /v1/data-sources/{id}/versions",
		"GET /v1/uploads/{id}", "PUT /v1/uploads/{id}/content", "POST /v1/uploads/{id}/complete", "DELETE /v1/uploads/{id}":
		// In W: publisher staff work on their own uploads, the invited advertiser on its own.
		home = "w"
		c := cleanroom.NewCaller(e.orgW.ID, cleanroom.RoleAdmin)
		if callerLabel == "w-limited" {
			c = &cleanroom.Caller{Org: e.orgW, Role: cleanroom.RoleLimited, RepresentsID: e.orgB.ID}
		}
		ds, err := svc.CreateDataSource(ctx, c, uniq("DS "), "")
		must(err)
		must(e.store.PutTaxonomy(ctx, ds.ID, []byte(`{"segments":[{"id":"s1","name":"One"}]}`), e.now))
		set(ds.ID)
		switch rt.Method + " " + rt.Path {
		case "PATCH /v1/data-sources/{id}":
			body = map[string]string{"description": "renamed"}
		case "PUT /v1/data-sources/{id}/taxonomy":
			body = withHeaders{"segment_id,segment_name\ns1,One\ns2,Two\n", map[string]string{"Content-Type": "text/csv"}}
		case "POST /v1/data-sources/{id}/uploads":
			body = map[string]any{"name": "f.tsv", "size": 100}
		}
		if strings.HasPrefix(rt.Path, "/v1/uploads/") {
			content := []byte("0000000000000000000000000000000000000000000000000000000000000001\temail_sha256\ts1\n")
			u, err := e.api.Uploads.Begin(ctx, uploads.Spec{OrgID: e.orgW.ID, UserID: e.users["w-admin"].ID, Target: cleanroom.UploadDataSource, TargetID: ds.ID, Name: "f.tsv", Size: int64(len(content))})
			must(err)
			path = strings.Replace(rt.Path, "{id}", u.ID, 1)
			switch rt.Method {
			case "PUT":
				body = withHeaders{string(content), map[string]string{"Upload-Offset": "0"}}
			case "POST":
				_, err := e.api.Uploads.WritePart(ctx, u, 0, bytes.NewReader(content), "")
				must(err)
				body = map[string]any{}
			}
		}
	case "GET /v1/data-sources/{id}/import-source", "PUT /v1/data-sources/{id}/import-source", "DELETE /v1/data-sources/{id}/import-source",
		"POST /v1/data-sources/{id}/import", "GET /v1/data-sources/{id}/imported-objects",
		"GET /v1/publisher/import-source", "PUT /v1/publisher/import-source", "DELETE /v1/publisher/import-source",
		"POST /v1/publisher/import", "GET /v1/publisher/imported-objects":
		// A data source of W (the invited advertiser's own for it), or publisher A's audience,
		// with an import source set up.
		settings := imports.Settings{Endpoint: "https://s3.example.com", Bucket: "crm-exports", AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: &fixtureSecret}
		target, c := imports.Publisher(), &cleanroom.Caller{Org: e.orgA, Role: cleanroom.RoleAdmin}
		if strings.HasPrefix(rt.Path, "/v1/data-sources/") {
			home = "w"
			c = &cleanroom.Caller{Org: e.orgW, Role: cleanroom.RoleAdmin}
			if callerLabel == "w-limited" {
				c = &cleanroom.Caller{Org: e.orgW, Role: cleanroom.RoleLimited, RepresentsID: e.orgB.ID}
			}
			ds, err := svc.CreateDataSource(ctx, c, uniq("DS "), "")
			must(err)
			set(ds.ID)
			target = imports.DataSource(ds.ID)
		}
		_, err := e.api.Imports.Put(ctx, c, target, settings)
		must(err)
		if rt.Method == "PUT" {
			body = map[string]any{"endpoint": "https://s3.example.com", "bucket": "crm-exports", "prefix": "daily/", "access_key_id": "AKIAEXAMPLE", "schedule": "daily"}
		} else if rt.Method == "POST" {
			body = map[string]any{}
		}
	case "POST /v1/data-sources/{id}/grants", "DELETE /v1/grants/{id}", "GET /v1/grants/{id}":
		// The advertiser's own data, granted to the publisher's workspace.
		home = "b"
		b := cleanroom.NewCaller(e.orgB.ID, cleanroom.RoleAdmin)
		ds, err := svc.CreateDataSource(ctx, b, uniq("DS "), "")
		must(err)
		req := connections.GrantRequest{GranteeID: e.orgW.ID, AllowMatched: true}
		if rt.Method == "POST" {
			set(ds.ID)
			body = map[string]any{"grantee_id": req.GranteeID, "allow_matched": true}
			break
		}
		g, err := svc.CreateGrant(ctx, b, ds.ID, req)
		must(err)
		set(g.ID)

	case "GET /v1/cohorts", "POST /v1/cohorts", "POST /v1/cohorts:estimate", "GET /v1/cohorts/{id}", "PATCH /v1/cohorts/{id}",
		"DELETE /v1/cohorts/{id}", "GET /v1/cohorts/{id}/diagnostics", "GET /v1/data-sources/{id}/diagnostics":
		home = "w"
		conn, ds := e.ensureCohortInputs()
		spec := map[string]any{"name": uniq("Cohort "), "kind": "matched", "connections": []string{conn},
			"query": map[string]any{"op": "any", "conditions": []map[string]string{{"data_source": ds}}}}
		switch rt.Method + " " + rt.Path {
		case "POST /v1/cohorts", "POST /v1/cohorts:estimate":
			body = spec
		case "GET /v1/data-sources/{id}/diagnostics":
			set(ds)
			path += "?connection_id=" + conn
		case "GET /v1/cohorts":
		default:
			co, err := e.api.Cohorts.Create(ctx, cleanroom.NewCaller(e.orgW.ID, cleanroom.RoleAdmin),
				cohorts.Spec{Name: uniq("Cohort "), Kind: cleanroom.CohortMatched, ConnectionIDs: []string{conn},
					Query: cleanroom.CohortQuery{Op: cleanroom.OpAny, Conditions: []cleanroom.Condition{{DataSource: ds}}}})
			must(err)
			set(co.ID)
			if rt.Method == "PATCH" {
				body = map[string]string{"name": uniq("Renamed ")}
			}
		}

	case "GET /v1/cohorts/{id}/insights", "GET /v1/cohorts/{id}/insights.csv":
		home = "w"
		conn, ds := e.ensureCohortInputs()
		co, err := e.api.Cohorts.Create(ctx, cleanroom.NewCaller(e.orgW.ID, cleanroom.RoleAdmin),
			cohorts.Spec{Name: uniq("Cohort "), Kind: cleanroom.CohortMatched, ConnectionIDs: []string{conn},
				Query: cleanroom.CohortQuery{Op: cleanroom.OpAny, Conditions: []cleanroom.Condition{{DataSource: ds}}}})
		must(err)
		e.drainJobs()
		set(co.ID)
		path += "?connection_id=" + conn
	case "GET /v1/connections/{id}/served-users", "GET /v1/connections/{id}/delivery":
		home = "a"
		conn, _ := e.ensureCohortInputs()
		set(conn)
	case "GET /v1/ad-server-settings":
	case "PUT /v1/ad-server-settings":
		body = map[string]any{"gam_key": "crc", "xandr_key": "crc", "origins": []string{"https://www.a.example"}}
	case "GET /v1/activation-export":
	case "GET /v1/cohorts/{id}/activation", "PUT /v1/cohorts/{id}/activation/{connection_id}",
		"PUT /v1/cohorts/{id}/frequency-cap", "DELETE /v1/cohorts/{id}/frequency-cap":
		home = "w"
		conn, ds := e.ensureCohortInputs()
		co, err := e.api.Cohorts.Create(ctx, cleanroom.NewCaller(e.orgW.ID, cleanroom.RoleAdmin),
			cohorts.Spec{Name: uniq("Cohort "), Kind: cleanroom.CohortMatched, ConnectionIDs: []string{conn},
				Query: cleanroom.CohortQuery{Op: cleanroom.OpAny, Conditions: []cleanroom.Condition{{DataSource: ds}}}})
		must(err)
		set(co.ID)
		switch rt.Method + " " + rt.Path {
		case "PUT /v1/cohorts/{id}/activation/{connection_id}":
			home = "a" // the publisher sets the switches
			path = strings.Replace(path, "{connection_id}", conn, 1)
			body = map[string]any{"direct": true}
		case "PUT /v1/cohorts/{id}/frequency-cap":
			_, err := e.api.Activation.SetDeal(ctx, cleanroom.NewCaller(e.orgA.ID, cleanroom.RoleAdmin), co.ID, conn,
				&cleanroom.Deal{ProposalID: "1", ProposalName: "P", LineItems: []cleanroom.LineItem{{ID: fmt.Sprintf("%010d", 1000000000+seq.Add(1)), Floor: "1", Currency: "USD"}}})
			must(err)
			body = map[string]any{"max_impressions": 3, "period": "week"}
		}

	case "POST /v1/admin/orgs":
		body = map[string]string{"name": uniq("Org "), "kind": "advertiser"}
	case "GET /v1/admin/orgs/{id}":
		set(e.orgA.ID)
	case "POST /v1/admin/orgs/{id}/clean-room":
		set(e.newOrg(uniq("Fresh "), cleanroom.OrgAdvertiser, false).ID)
	case "PUT /v1/admin/orgs/{id}/dpa":
		set(e.orgB.ID)
		body = map[string]string{}
	case "GET /v1/admin/orgs/{id}/users/{user_id}":
		set(e.orgB.ID)
		path = strings.Replace(path, "{user_id}", e.users["b-admin"].ID, 1)
	case "POST /v1/admin/orgs/{id}/users":
		set(e.orgB.ID)
		body = map[string]string{"email": uniq("opadd") + "@example.com", "password": testPassword, "role": "viewer"}
	case "POST /v1/admin/bridges":
		body = map[string]any{"name": uniq("Bridge "), "publisher_id": e.orgA.ID, "tags": []string{"acme_id"}}
	case "GET /v1/admin/bridges/{id}", "POST /v1/admin/bridges/{id}/uploads":
		b, err := e.api.Pipeline.RegisterBridge(ctx, uniq("Bridge "), e.orgA.ID, nil)
		must(err)
		set(b.ID)
		if rt.Method == "POST" {
			body = map[string]any{"name": "m.tsv", "size": 100}
		}
	case "POST /v1/admin/provisional-access":
		body = map[string]any{"org_id": e.newOrg(uniq("New adv "), cleanroom.OrgAdvertiser, false).ID, "publisher_id": e.orgA.ID,
			"expires_at": e.now.AddDate(0, 0, 14)}
	}
	if strings.Contains(path, "{") {
		e.t.Fatalf("no fixture for %s %s: add one to fixture()", rt.Method, rt.Path)
	}
	return home, path, body
}

func isWrite(method string) bool { return method != http.MethodGet }

// TestAuthorizationMatrix checks, for every route: no credentials and bad tokens get 401 in the
// error shape; another org's token gets 404 for the home org's resources; roles below the route's
// least role get 403 (a viewer never writes), and so does the limited role where the route does
// not admit it; non-operators get 403 on operator routes; and every role that may call the route
// succeeds and, for audited routes, leaves exactly one audit entry.
func TestAuthorizationMatrix(t *testing.T) {
	e := newEnv(t)
	routes := e.api.Routes()
	if len(routes) < 40 {
		t.Fatalf("only %d routes", len(routes))
	}
	for _, rt := range routes {
		t.Run(rt.Method+" "+rt.Path, func(t *testing.T) {
			e.t = t
			if isWrite(rt.Method) && rt.Audit == "" {
				t.Errorf("write route has no audit action")
			}
			if isWrite(rt.Method) && rt.Role == cleanroom.RoleViewer {
				t.Errorf("write route open to viewers")
			}
			_, path, body := e.fixture(rt, "")
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
			if r := e.do(req{method: rt.Method, path: path, body: body, token: "crt_not-a-real-token"}); r.status != http.StatusUnauthorized || r.errCode() != cleanroom.EUNAUTHENTICATED {
				t.Errorf("bad token: %d %s, want 401", r.status, r.raw)
			}

			switch rt.Access {
			case "operator":
				if r := e.do(req{method: rt.Method, path: path, body: body, token: e.tokens["a-admin"]}); r.status != http.StatusForbidden || r.errCode() != cleanroom.EFORBIDDEN {
					t.Errorf("org admin on operator route: %d %s, want 403", r.status, r.raw)
				}
				e.expectAllowed(rt, "operator")
			case "in_org":
				if strings.Contains(rt.Path, "{id}") {
					_, path, body := e.fixture(rt, "")
					if r := e.do(req{method: rt.Method, path: path, body: body, token: e.tokens["c-admin"]}); r.status != http.StatusNotFound || r.errCode() != cleanroom.ENOTFOUND {
						t.Errorf("other org's admin: %d %s, want 404", r.status, r.raw)
					}
				}
				if r := e.do(req{method: rt.Method, path: path, body: body, token: e.tokens["operator"]}); r.status != http.StatusForbidden {
					t.Errorf("org-less operator token: %d %s, want 403", r.status, r.raw)
				}
				home, _, _ := e.fixture(rt, "")
				labels := []string{home + "-viewer", home + "-member", home + "-admin"}
				if home == "w" {
					labels = append(labels, "w-limited")
				}
				for _, label := range labels {
					role := e.users[label].Role
					if role.AtLeast(rt.Role) || (rt.Limited && role == cleanroom.RoleLimited) {
						e.expectAllowed(rt, label)
						continue
					}
					_, path, body := e.fixture(rt, label)
					if r := e.do(req{method: rt.Method, path: path, body: body, token: e.tokens[label]}); r.status != http.StatusForbidden || r.errCode() != cleanroom.EFORBIDDEN {
						t.Errorf("%s: %d %s, want 403", label, r.status, r.raw)
					}
				}
			case "signed_in":
				// Session routes act on the caller's own account: check them with a cookie session.
				s := e.login("a-member@example.com")
				_, path, body := e.fixture(rt, "a-member")
				before := e.auditCount(rt.Audit)
				if r := e.do(req{method: rt.Method, path: path, body: body, session: s}); r.status >= 300 {
					t.Errorf("signed-in member: %d %s", r.status, r.raw)
				}
				if rt.Audit != "" && e.auditCount(rt.Audit) != before+1 {
					t.Errorf("no %s audit entry", rt.Audit)
				}
			}
		})
	}
}

// expectAllowed calls the route as label and expects success and, for audited routes, one new
// audit entry.
func (e *env) expectAllowed(rt api.RouteInfo, label string) {
	e.t.Helper()
	_, path, body := e.fixture(rt, label)
	before := 0
	if rt.Audit != "" {
		before = e.auditCount(rt.Audit)
	}
	r := e.do(req{method: rt.Method, path: path, body: body, token: e.tokens[label]})
	if r.status >= 300 {
		e.t.Errorf("%s: %d %s, want success", label, r.status, r.raw)
		return
	}
	if r.status == http.StatusCreated {
		// The Location names something the caller can read.
		if loc := r.header.Get("Location"); loc == "" {
			e.t.Errorf("%s: 201 without Location", label)
		} else if g := e.do(req{method: "GET", path: loc, token: e.tokens[label]}); g.status != http.StatusOK &&
			// A bridge's upload is read acting in the publisher's org, as its parts are sent.
			!(label == "operator" && strings.HasPrefix(loc, "/v1/uploads/") && g.status == http.StatusForbidden) {
			e.t.Errorf("%s: GET of the new resource's Location %s: %d %s", label, loc, g.status, g.raw)
		}
	}
	if rt.Audit != "" {
		if got := e.auditCount(rt.Audit); got != before+1 {
			e.t.Errorf("%s: %d new %q audit entries, want 1", label, got-before, rt.Audit)
		}
	}
}

// ensureAudience gives publisher A a synced audience (once).
func (e *env) ensureAudience() {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.store.CurrentVersion(ctx, e.orgA.ID); err == nil {
		return
	}
	if err := e.store.PutTaxonomy(ctx, e.orgA.ID, []byte(`{"cohorts":[{"id":"sports","name":"Sports"}]}`), e.now); err != nil {
		e.t.Fatal(err)
	}
	data := []byte("user_id\tcountry\tidentifiers\tcohorts\nu1\tGB\tmaid=6d92078a-8246-4ba4-ae5b-76104861e7dc\tsports\n")
	u, err := e.api.Uploads.Begin(ctx, uploads.Spec{OrgID: e.orgA.ID, UserID: e.users["a-admin"].ID, Target: cleanroom.UploadPublisher, TargetID: e.orgA.ID, Name: "p.tsv", Size: int64(len(data))})
	if err == nil {
		u, err = e.api.Uploads.WritePart(ctx, u, 0, bytes.NewReader(data), "")
	}
	if err == nil {
		_, err = e.api.Uploads.Complete(ctx, u)
	}
	if err == nil {
		_, err = e.runner.RunOnce(ctx)
	}
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.store.CurrentVersion(ctx, e.orgA.ID); err != nil {
		e.t.Fatal("audience not synced: ", err)
	}
}

// ensureCohortInputs gives W a publisher-driven connection to A with the cohort permissions, and
// a data source with a processed upload, once; A gets an audience. It returns their IDs.
func (e *env) ensureCohortInputs() (connID, dsID string) {
	e.t.Helper()
	if e.cohortConn != "" {
		return e.cohortConn, e.cohortDS
	}
	ctx := context.Background()
	e.ensureAudience()
	conn, _, err := e.api.Connections.CreateConnection(ctx, e.orgA.ID, e.orgW.ID,
		cleanroom.Permissions{MatchedCohorts: true, ModeledAudiences: true, Insights: true})
	if err != nil {
		e.t.Fatal(err)
	}
	ds, err := e.api.Connections.CreateDataSource(ctx, cleanroom.NewCaller(e.orgW.ID, cleanroom.RoleAdmin), "Cohort inputs", "")
	if err != nil {
		e.t.Fatal(err)
	}
	tax := []byte(`{"segments":[{"id":"s1","name":"One"},{"id":"s2","name":"Two"},{"id":"s3","name":"Three"}]}`)
	if err := e.store.PutTaxonomy(ctx, ds.ID, tax, e.now); err != nil {
		e.t.Fatal(err)
	}
	data, _ := testRows(50, "cohort")
	e.upload(e.tokens["w-admin"], ds.ID, data, 1<<20)
	e.drainJobs()
	if _, err := e.store.CurrentVersion(ctx, ds.ID); err != nil {
		e.t.Fatal("cohort inputs not processed: ", err)
	}
	e.cohortConn, e.cohortDS = conn.ID, ds.ID
	return conn.ID, ds.ID
}

// drainJobs runs queued jobs until none is left to run.
func (e *env) drainJobs() {
	e.t.Helper()
	if _, err := e.runner.RunPending(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}
