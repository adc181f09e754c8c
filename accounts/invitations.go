package accounts

import (
	"context"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/auth"
)

// InviteMember invites the person with nu.Email into the caller's org with nu.Role (an org admin
// adding a person; only admins may). Nobody joins an org without accepting: the invitation is pending until the person signs
// in and accepts it. The answer is the same whether or not the address has an account elsewhere,
// so an admin learns nothing about other orgs' people: for a new address the account is created
// with nu.Name and nu.Password (which the admin hands to the person); for an existing one they are
// checked the same way, the password costs the same time to hash, and neither is used. Only a
// member of the org, or a pending invitation to it, is a conflict.
func (s *Service) InviteMember(ctx context.Context, c *cleanroom.Caller, nu NewUser) (*cleanroom.Invitation, error) {
	if err := admin(c, "the organization's people"); err != nil {
		return nil, err
	}
	email, err := cleanroom.NormalizeEmail(nu.Email)
	if err != nil {
		return nil, err
	}
	if err := validRole(nu.Role); err != nil {
		return nil, err
	}
	name := nu.Name
	if name == "" {
		name = email
	}
	if err := cleanroom.ValidateName("user name", name); err != nil {
		return nil, err
	}
	if err := auth.ValidatePassword(nu.Password); err != nil {
		return nil, err
	}
	hash := s.Passwords.Hash(nu.Password) // hashed whether or not it is used, so both take as long
	now := s.now()
	inv := &cleanroom.Invitation{ID: NewID(), OrgID: c.OrgID(), Email: email, Role: nu.Role, InvitedBy: c.UserID(),
		CreatedAt: now, ExpiresAt: now.Add(cleanroom.InvitationTTL)}
	if err := s.Store.CreateInvitation(ctx, inv); err != nil {
		return nil, err
	}
	_, err = s.Store.FindUserByEmail(ctx, email)
	if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
		u := &cleanroom.User{ID: NewID(), Email: email, Name: name, PasswordHash: hash, CreatedAt: now, UpdatedAt: now}
		err = s.Store.CreateUser(ctx, u)
		if cleanroom.ErrorCode(err) == cleanroom.ECONFLICT {
			err = nil // created meanwhile by someone else: an existing account now
		}
	}
	if err != nil {
		return nil, err
	}
	return inv, nil
}

// Invitations lists the caller's org's invitations, every state, as they stand now. Invited
// advertisers see none.
func (s *Service) Invitations(ctx context.Context, c *cleanroom.Caller, page cleanroom.Page) ([]*cleanroom.Invitation, string, error) {
	if err := c.InOrg(cleanroom.RoleViewer); err != nil {
		return nil, "", err
	}
	invs, next, err := s.Store.ListInvitations(ctx, c.OrgID(), page)
	if err != nil {
		return nil, "", err
	}
	now := s.now()
	for i, inv := range invs {
		invs[i] = inv.At(now)
	}
	return invs, next, nil
}

// Invitation returns one of the caller's org's invitations as it stands now; another org's is not
// found.
func (s *Service) Invitation(ctx context.Context, c *cleanroom.Caller, id string) (*cleanroom.Invitation, error) {
	if err := c.InOrg(cleanroom.RoleViewer); err != nil {
		return nil, err
	}
	inv, err := s.Store.FindInvitation(ctx, id)
	if err != nil {
		return nil, err
	}
	if inv.OrgID != c.OrgID() {
		return nil, cleanroom.Errorf(cleanroom.ENOTFOUND, "Invitation not found.")
	}
	return inv.At(s.now()), nil
}

// WithdrawInvitation withdraws one of the caller's org's invitations (admins). A pending one can
// then no longer be accepted. An accepted invitation of an advertiser (the limited role) is revoked: the access it
// gave ends. People who accepted any other role are members like the others, removed with
// RemoveMember.
func (s *Service) WithdrawInvitation(ctx context.Context, c *cleanroom.Caller, id string) (*cleanroom.Invitation, error) {
	if err := admin(c, "the organization's invitations"); err != nil {
		return nil, err
	}
	inv, err := s.Invitation(ctx, c, id)
	if err != nil {
		return nil, err
	}
	switch {
	case inv.State == cleanroom.InvitationAccepted && inv.Role == cleanroom.RoleLimited:
		if err := s.endLimitedMembership(ctx, inv); err != nil {
			return nil, err
		}
	case inv.State == cleanroom.InvitationAccepted:
		return nil, cleanroom.Errorf(cleanroom.ECONFLICT, "The invitation was accepted: %s is a member now.", inv.Email).
			Hint("Remove the member instead (DELETE /v1/users/{id}).")
	case inv.State != cleanroom.InvitationPending:
		return nil, cleanroom.Errorf(cleanroom.ECONFLICT, "The invitation is %s already.", inv.State).With("state", inv.State)
	}
	now := s.now()
	if err := s.Store.DecideInvitation(ctx, inv.ID, inv.State, cleanroom.InvitationWithdrawn, now); err != nil {
		return nil, err
	}
	inv.State, inv.DecidedAt = cleanroom.InvitationWithdrawn, now
	return inv, nil
}

// endLimitedMembership removes the limited membership an accepted invitation gave, if it is still
// there.
func (s *Service) endLimitedMembership(ctx context.Context, inv *cleanroom.Invitation) error {
	u, err := s.Store.FindUserByEmail(ctx, inv.Email)
	if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
		return nil
	} else if err != nil {
		return err
	}
	m, err := s.Store.FindMember(ctx, inv.OrgID, u.ID)
	if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
		return nil
	} else if err != nil {
		return err
	}
	if m.Role != cleanroom.RoleLimited || m.RepresentsID != inv.RepresentsID || m.InheritedFrom != "" {
		return nil // the person holds another role now, not given by this invitation
	}
	err = s.Store.DeleteMembership(ctx, inv.OrgID, u.ID)
	if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
		return nil
	}
	return err
}

// Received is an invitation as the invited person sees it.
type Received struct {
	*cleanroom.Invitation
	OrgName string
	OrgKind cleanroom.OrgKind
	// AdvertiserName is, for the limited role, the advertiser the person would act for.
	AdvertiserName string
}

// person returns the caller's user when the caller is a person: invitations are for people.
func person(c *cleanroom.Caller) (*cleanroom.User, error) {
	if c.User == nil || c.User.ServiceAccount {
		return nil, cleanroom.Errorf(cleanroom.EFORBIDDEN, "Invitations are for people; a service account receives none.")
	}
	return c.User, nil
}

// ReceivedInvitations lists the invitations the caller may accept now: pending ones to the
// caller's email, except those for an advertiser the caller is not an admin or member of.
func (s *Service) ReceivedInvitations(ctx context.Context, c *cleanroom.Caller) ([]*Received, error) {
	u, err := person(c)
	if err != nil {
		return nil, err
	}
	invs, err := s.Store.ListInvitationsFor(ctx, u.Email, s.now())
	if err != nil {
		return nil, err
	}
	out := []*Received{}
	for _, inv := range invs {
		r, err := s.received(ctx, u, inv)
		if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
			continue
		} else if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// received checks that inv is addressed to u (by email and, for the limited role, as an admin or
// member of the advertiser) and describes it; otherwise it is not found.
func (s *Service) received(ctx context.Context, u *cleanroom.User, inv *cleanroom.Invitation) (*Received, error) {
	notFound := cleanroom.Errorf(cleanroom.ENOTFOUND, "Invitation not found.")
	if inv.Email != u.Email {
		return nil, notFound
	}
	r := &Received{Invitation: inv.At(s.now())}
	if inv.RepresentsID != "" {
		m, err := s.Store.FindMember(ctx, inv.RepresentsID, u.ID)
		if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND || (err == nil && !m.Role.AtLeast(cleanroom.RoleMember)) {
			return nil, notFound
		} else if err != nil {
			return nil, err
		}
		adv, err := s.Store.FindOrg(ctx, inv.RepresentsID)
		if err != nil {
			return nil, err
		}
		r.AdvertiserName = adv.Name
	}
	org, err := s.Store.FindOrg(ctx, inv.OrgID)
	if err != nil {
		return nil, err
	}
	r.OrgName, r.OrgKind = org.Name, org.Kind
	return r, nil
}

// ReceivedInvitation returns an invitation addressed to the caller (see ReceivedInvitations);
// others are not found.
func (s *Service) ReceivedInvitation(ctx context.Context, c *cleanroom.Caller, id string) (*Received, error) {
	u, err := person(c)
	if err != nil {
		return nil, err
	}
	inv, err := s.Store.FindInvitation(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.received(ctx, u, inv)
}

// AcceptInvitation makes the caller a member of the inviting org with the invitation's role, if
// the invitation is addressed to the caller and still pending.
func (s *Service) AcceptInvitation(ctx context.Context, c *cleanroom.Caller, id string) (*Received, *cleanroom.Membership, error) {
	r, err := s.ReceivedInvitation(ctx, c, id)
	if err != nil {
		return nil, nil, err
	}
	m := &cleanroom.Membership{UserID: c.User.ID, OrgID: r.OrgID, Role: r.Role, RepresentsID: r.RepresentsID}
	now := s.now()
	if err := s.Store.AcceptInvitation(ctx, r.ID, m, now); err != nil {
		return nil, nil, err
	}
	r.State, r.DecidedAt = cleanroom.InvitationAccepted, now
	return r, m, nil
}

// DeclineInvitation declines an invitation addressed to the caller that is still pending.
func (s *Service) DeclineInvitation(ctx context.Context, c *cleanroom.Caller, id string) (*Received, error) {
	r, err := s.ReceivedInvitation(ctx, c, id)
	if err != nil {
		return nil, err
	}
	now := s.now()
	if err := s.Store.DecideInvitation(ctx, r.ID, cleanroom.InvitationPending, cleanroom.InvitationDeclined, now); err != nil {
		return nil, err
	}
	r.State, r.DecidedAt = cleanroom.InvitationDeclined, now
	return r, nil
}
