package api_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/cleanroom-oss/cleanroom"
)

// TestTokensActOnlyAsTheirMaker: a token made through the API acts as the person who made it.
// An admin of the publisher's workspace cannot mint a token that acts as the invited
// advertiser's user (the impersonation the security review found), nor as any other member.
func TestTokensActOnlyAsTheirMaker(t *testing.T) {
	e := newEnv(t)
	for _, victim := range []string{"w-limited", "w-member"} {
		r := e.do(req{method: "POST", path: "/v1/tokens", token: e.tokens["w-admin"],
			body: map[string]string{"name": "as " + victim, "user_id": e.users[victim].ID}})
		if r.status != http.StatusBadRequest {
			t.Fatalf("token for %s: %d %s, want 400 (user_id is not a field)", victim, r.status, r.raw)
		}
	}
	r := e.do(req{method: "POST", path: "/v1/tokens", token: e.tokens["w-admin"], body: map[string]string{"name": "mine"}})
	if r.status != http.StatusCreated {
		t.Fatalf("own token: %d %s", r.status, r.raw)
	}
	secret, _ := r.body["secret"].(string)
	me := e.do(req{method: "GET", path: "/v1/me", token: secret})
	if u, _ := me.body["user"].(map[string]any); u["id"] != e.users["w-admin"].ID {
		t.Errorf("the new token acts as %v, want its maker %s", u["id"], e.users["w-admin"].ID)
	}
}

// TestServiceAccounts: admins create service accounts and their tokens; a service-account token
// acts as the account (named so in the audit log), cannot make tokens or service accounts, has no
// password to change, and stops working when the account is deleted.
func TestServiceAccounts(t *testing.T) {
	e := newEnv(t)
	admin := e.tokens["b-admin"]
	if r := e.do(req{method: "POST", path: "/v1/service-accounts", token: admin, body: map[string]string{"name": "Boss bot", "role": "admin"}}); r.status != http.StatusBadRequest {
		t.Errorf("admin service account: %d %s, want 400", r.status, r.raw)
	}
	if r := e.do(req{method: "POST", path: "/v1/service-accounts", token: e.tokens["b-member"], body: map[string]string{"name": "Bot", "role": "member"}}); r.status != http.StatusForbidden {
		t.Errorf("member creates a service account: %d %s, want 403", r.status, r.raw)
	}
	r := e.do(req{method: "POST", path: "/v1/service-accounts", token: admin, body: map[string]string{"name": "Nightly sync", "role": "member"}})
	if r.status != http.StatusCreated || r.body["service_account"] != true {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	id, _ := r.body["id"].(string)
	if r := e.do(req{method: "POST", path: "/v1/service-accounts/" + id + "/tokens", token: e.tokens["c-admin"], body: map[string]string{"name": "x"}}); r.status != http.StatusNotFound {
		t.Errorf("another org's admin makes a token for it: %d %s, want 404", r.status, r.raw)
	}
	r = e.do(req{method: "POST", path: "/v1/service-accounts/" + id + "/tokens", token: admin, body: map[string]string{"name": "ci"}})
	if r.status != http.StatusCreated {
		t.Fatalf("token: %d %s", r.status, r.raw)
	}
	bot, _ := r.body["secret"].(string)

	// It acts as itself, in its org, with its role.
	name := uniq("Made by the bot ")
	r = e.do(req{method: "POST", path: "/v1/data-sources", token: bot, body: map[string]string{"name": name}})
	if r.status != http.StatusCreated {
		t.Fatalf("service account creates a data source: %d %s", r.status, r.raw)
	}
	es, _, err := e.store.ListAudit(context.Background(), cleanroom.AuditFilter{OrgID: e.orgB.ID, Action: "data_source.create"})
	if err != nil || len(es) == 0 {
		t.Fatal(err)
	}
	if es[0].ActorUserID != id || es[0].ActorKind != cleanroom.ActorServiceAccount {
		t.Errorf("audit actor %s (%s), want the service account %s", es[0].ActorUserID, es[0].ActorKind, id)
	}
	// It cannot make tokens, service accounts, or act as a person.
	for _, q := range []req{
		{method: "POST", path: "/v1/tokens", body: map[string]string{"name": "more"}},
		{method: "POST", path: "/v1/service-accounts", body: map[string]string{"name": "child", "role": "viewer"}},
		{method: "POST", path: "/v1/service-accounts/" + id + "/tokens", body: map[string]string{"name": "more"}},
	} {
		q.token = bot
		if r := e.do(q); r.status != http.StatusForbidden {
			t.Errorf("service account %s %s: %d %s, want 403", q.method, q.path, r.status, r.raw)
		}
	}
	if r := e.do(req{method: "PUT", path: "/v1/me/password", token: bot, body: map[string]string{"current_password": "", "new_password": testPassword}}); r.status < 400 {
		t.Errorf("service account sets a password: %d %s", r.status, r.raw)
	}
	// Deleting it ends its tokens.
	if r := e.do(req{method: "DELETE", path: "/v1/service-accounts/" + id, token: admin}); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.raw)
	}
	if r := e.do(req{method: "GET", path: "/v1/me", token: bot}); r.status != http.StatusUnauthorized {
		t.Errorf("deleted service account's token: %d %s, want 401", r.status, r.raw)
	}
}
