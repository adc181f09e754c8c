package accounts_test

import (
	"context"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/accounts"
	"github.com/cleanroom-oss/cleanroom/auth"
	"github.com/cleanroom-oss/cleanroom/keyring"
	"github.com/cleanroom-oss/cleanroom/sqlite"
)

// org opens a store with one advertiser and returns the service and callers for its admin and
// member.
func org(t *testing.T) (*accounts.Service, *cleanroom.Caller, *cleanroom.Caller) {
	t.Helper()
	ctx := context.Background()
	s := accounts.New(sqlite.MustOpen(t), keyring.Generate())
	s.Passwords = auth.TestParams
	o, err := s.CreateOrg(ctx, "Acme", cleanroom.OrgAdvertiser)
	if err != nil {
		t.Fatal(err)
	}
	var callers []*cleanroom.Caller
	for _, role := range []cleanroom.Role{cleanroom.RoleAdmin, cleanroom.RoleMember} {
		m, _, err := s.AddMember(ctx, o.ID, accounts.NewUser{Email: string(role) + "@acme.example", Password: "a long enough password", Role: role})
		if err != nil {
			t.Fatal(err)
		}
		callers = append(callers, cleanroom.MemberCaller(m, o))
	}
	return s, callers[0], callers[1]
}

func TestCreateTokenActsAsItsMaker(t *testing.T) {
	s, admin, member := org(t)
	ctx := context.Background()
	for _, c := range []*cleanroom.Caller{admin, member} {
		secret, tok, err := s.CreateToken(ctx, c, "ci", 0)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Authenticate(ctx, accounts.Credentials{Token: secret})
		if err != nil {
			t.Fatal(err)
		}
		if got.UserID() != c.UserID() || got.OrgID() != c.OrgID() || got.Token.ID != tok.ID {
			t.Errorf("token acts as %s in %s, want %s in %s", got.UserID(), got.OrgID(), c.UserID(), c.OrgID())
		}
	}
	if _, _, err := s.CreateToken(ctx, admin, "too long", accounts.MaxTokenLifetime+time.Hour); cleanroom.ErrorCode(err) != cleanroom.EINVALID {
		t.Errorf("lifetime over the maximum: %v", err)
	}
	// A member sees and revokes only its own tokens; an admin any of the org's.
	_, adminTok, _ := s.CreateToken(ctx, admin, "admin's", 0)
	if _, err := s.RevokeToken(ctx, member, adminTok.ID); cleanroom.ErrorCode(err) != cleanroom.ENOTFOUND {
		t.Errorf("member revokes the admin's token: %v", err)
	}
	_, memberTok, _ := s.CreateToken(ctx, member, "member's", 0)
	if _, err := s.RevokeToken(ctx, admin, memberTok.ID); err != nil {
		t.Errorf("admin revokes a member's token: %v", err)
	}
}

func TestServiceAccountRules(t *testing.T) {
	s, admin, member := org(t)
	ctx := context.Background()
	if _, err := s.CreateServiceAccount(ctx, member, "bot", cleanroom.RoleViewer); cleanroom.ErrorCode(err) != cleanroom.EFORBIDDEN {
		t.Errorf("member creates a service account: %v", err)
	}
	if _, err := s.CreateServiceAccount(ctx, admin, "bot", cleanroom.RoleAdmin); cleanroom.ErrorCode(err) != cleanroom.EINVALID {
		t.Errorf("admin service account: %v", err)
	}
	sa, err := s.CreateServiceAccount(ctx, admin, "Nightly sync", cleanroom.RoleMember)
	if err != nil || !sa.ServiceAccount {
		t.Fatalf("create: %v %+v", err, sa)
	}
	if _, err := s.SetRole(ctx, admin.OrgID(), sa.ID, cleanroom.RoleAdmin); cleanroom.ErrorCode(err) != cleanroom.EINVALID {
		t.Errorf("service account promoted to admin: %v", err)
	}
	secret, _, _, err := s.CreateServiceAccountToken(ctx, admin, sa.ID, "ci", 0)
	if err != nil {
		t.Fatal(err)
	}
	bot, err := s.Authenticate(ctx, accounts.Credentials{Token: secret})
	if err != nil || bot.ActorKind() != cleanroom.ActorServiceAccount || bot.Role != cleanroom.RoleMember {
		t.Fatalf("service account token: %v %+v", err, bot)
	}
	if _, _, err := s.CreateToken(ctx, bot, "more", 0); cleanroom.ErrorCode(err) != cleanroom.EFORBIDDEN {
		t.Errorf("service account makes a token: %v", err)
	}
	// Its pseudo-address is no email: nobody signs in as it or adds it elsewhere.
	if _, err := s.Login(ctx, accounts.SignIn{Email: sa.Email}); cleanroom.ErrorCode(err) != cleanroom.EUNAUTHENTICATED {
		t.Errorf("sign-in as a service account: %v", err)
	}
	other, err := s.CreateOrg(ctx, "Other", cleanroom.OrgAdvertiser)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.AddMember(ctx, other.ID, accounts.NewUser{Email: sa.Email, Role: cleanroom.RoleMember, AttachExisting: true}); err == nil {
		t.Error("a service account was added to another org by its stored address")
	}
	if _, err := s.DeleteServiceAccount(ctx, admin, sa.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, accounts.Credentials{Token: secret}); cleanroom.ErrorCode(err) != cleanroom.EUNAUTHENTICATED {
		t.Errorf("deleted service account's token still works: %v", err)
	}
}
