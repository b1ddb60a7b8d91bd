package tenants

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/metachat/metachat/internal/apperr"
	"github.com/metachat/metachat/internal/auth"
	"github.com/metachat/metachat/internal/store"
)

// actingRole is the role a principal manages members with: a session's
// member role, or admin for an API key with the admin scope.
func actingRole(p *auth.Principal) string {
	if p.Kind == "api_key" {
		return auth.RoleAdmin
	}
	return p.Role
}

// mayGrant says whether p may give or take away role: only owners touch
// the owner role.
func mayGrant(p *auth.Principal, role string) error {
	if role == auth.RoleOwner && actingRole(p) != auth.RoleOwner {
		return apperr.New(apperr.Forbidden, "only an owner can grant or remove the owner role")
	}
	return nil
}

// ListMembers pages through the principal's tenant's members.
func (s *Service) ListMembers(ctx context.Context, p *auth.Principal, pg store.Page) ([]store.Member, error) {
	scope, err := p.Scope()
	if err != nil {
		return nil, err
	}
	var out []store.Member
	err = s.store.Read(ctx, scope, func(tx *store.Tx) error {
		out, err = tx.ListMembers(ctx, pg)
		return err
	})
	return out, err
}

// GetMember reads one member.
func (s *Service) GetMember(ctx context.Context, p *auth.Principal, userID string) (store.Member, error) {
	scope, err := p.Scope()
	if err != nil {
		return store.Member{}, err
	}
	var out store.Member
	err = s.store.Read(ctx, scope, func(tx *store.Tx) error {
		out, err = tx.GetMember(ctx, userID)
		return err
	})
	return out, err
}

// ChangeRole changes a member's role; the tenant keeps at least one owner.
func (s *Service) ChangeRole(ctx context.Context, p *auth.Principal, userID, role string) (store.Member, error) {
	if !auth.ValidRole(role) {
		return store.Member{}, apperr.Field("role", "must be owner, admin, agent or viewer")
	}
	scope, err := p.Scope()
	if err != nil {
		return store.Member{}, err
	}
	var out store.Member
	err = s.store.Write(ctx, scope, func(tx *store.Tx) error {
		m, err := tx.GetMember(ctx, userID)
		if err != nil {
			return err
		}
		if err := mayGrant(p, m.Role); err != nil {
			return err
		}
		if err := mayGrant(p, role); err != nil {
			return err
		}
		if m.Role == auth.RoleOwner && role != auth.RoleOwner {
			if err := keepAnOwner(ctx, tx); err != nil {
				return err
			}
		}
		if err := tx.SetMemberRole(ctx, userID, role); err != nil {
			return err
		}
		if err := tx.Audit(ctx, p.Audit("member.role_changed", "user", userID, fmt.Sprintf(`{"from":%q,"to":%q}`, m.Role, role))); err != nil {
			return err
		}
		m.Role = role
		out = m
		return nil
	})
	return out, err
}

// RemoveMember ends a membership; the tenant keeps at least one owner.
func (s *Service) RemoveMember(ctx context.Context, p *auth.Principal, userID string) error {
	scope, err := p.Scope()
	if err != nil {
		return err
	}
	return s.store.Write(ctx, scope, func(tx *store.Tx) error {
		m, err := tx.GetMember(ctx, userID)
		if err != nil {
			return err
		}
		if err := mayGrant(p, m.Role); err != nil {
			return err
		}
		if m.Role == auth.RoleOwner {
			if err := keepAnOwner(ctx, tx); err != nil {
				return err
			}
		}
		if err := tx.RemoveMember(ctx, userID); err != nil {
			return err
		}
		return tx.Audit(ctx, p.Audit("member.removed", "user", userID, fmt.Sprintf(`{"email":%q,"role":%q}`, m.Email, m.Role)))
	})
}

// keepAnOwner refuses to take away the last owner.
func keepAnOwner(ctx context.Context, tx *store.Tx) error {
	n, err := tx.CountOwners(ctx)
	if err != nil {
		return err
	}
	if n <= 1 {
		return apperr.New(apperr.Conflict, "a tenant needs at least one owner: make someone else owner first")
	}
	return nil
}

// Invite creates an invitation and returns it with its link (shown once).
func (s *Service) Invite(ctx context.Context, p *auth.Principal, email, role string) (store.Invitation, string, error) {
	var fe apperr.Fields
	email, err := auth.ValidEmail("email", email)
	if err != nil {
		fe = append(fe, err.(*apperr.Error).Fields...)
	}
	if !auth.ValidRole(role) {
		fe.Add("role", "must be owner, admin, agent or viewer")
	}
	if err := fe.Err(); err != nil {
		return store.Invitation{}, "", err
	}
	if err := mayGrant(p, role); err != nil {
		return store.Invitation{}, "", err
	}
	scope, err := p.Scope()
	if err != nil {
		return store.Invitation{}, "", err
	}
	token := auth.RandomToken(32)
	var out store.Invitation
	err = s.store.Write(ctx, scope, func(tx *store.Tx) error {
		_, by := p.ActorID()
		out, err = tx.CreateInvitation(ctx, store.Invitation{Email: email, Role: role, TokenHash: auth.HashToken(token), InvitedBy: by, ExpiresAt: tx.Now.Add(InvitationTTL)})
		if err != nil {
			return err
		}
		return tx.Audit(ctx, p.Audit("member.invited", "invitation", out.ID, fmt.Sprintf(`{"email":%q,"role":%q}`, email, role)))
	})
	return out, s.baseURL + "/invite?token=" + token, err
}

// ListInvitations pages through the tenant's invitations.
func (s *Service) ListInvitations(ctx context.Context, p *auth.Principal, pg store.Page) ([]store.Invitation, error) {
	scope, err := p.Scope()
	if err != nil {
		return nil, err
	}
	var out []store.Invitation
	err = s.store.Read(ctx, scope, func(tx *store.Tx) error {
		out, err = tx.ListInvitations(ctx, pg)
		return err
	})
	return out, err
}

// RevokeInvitation withdraws an invitation.
func (s *Service) RevokeInvitation(ctx context.Context, p *auth.Principal, id string) error {
	scope, err := p.Scope()
	if err != nil {
		return err
	}
	return s.store.Write(ctx, scope, func(tx *store.Tx) error {
		if err := tx.RevokeInvitation(ctx, id); err != nil {
			return err
		}
		return tx.Audit(ctx, p.Audit("invitation.revoked", "invitation", id, ""))
	})
}

// Accept redeems an invitation token. A new person chooses a password; a
// person who already has an account proves it with theirs.
func (s *Service) Accept(ctx context.Context, token, name, password, ip, requestID string) (store.Member, error) {
	var out store.Member
	invalid := apperr.New(apperr.NotFound, "this invitation is not valid: ask for a new one")
	if len(token) != 43 {
		return out, invalid
	}
	var inv store.Invitation
	var existing store.User
	err := s.store.Read(ctx, store.SystemScope, func(tx *store.Tx) error {
		var err error
		if inv, err = tx.InvitationByTokenHash(ctx, auth.HashToken(token)); err != nil {
			return err
		}
		existing, err = tx.UserByEmail(ctx, inv.Email)
		if apperr.Is(err, apperr.NotFound) {
			return nil
		}
		return err
	})
	if apperr.Is(err, apperr.NotFound) {
		return out, invalid
	}
	if err != nil {
		return out, err
	}
	if inv.AcceptedAt != nil || inv.RevokedAt != nil || !time.Now().Before(inv.ExpiresAt) {
		return out, invalid
	}
	var hash string
	if existing.ID != "" {
		if err := s.auth.CheckPassword(existing, password, ip, "password"); err != nil {
			return out, err
		}
	} else {
		if err := auth.CheckPasswordPolicy("password", password); err != nil {
			return out, err
		}
		if hash, err = auth.HashPassword(password); err != nil {
			return out, err
		}
	}
	name = strings.TrimSpace(name)
	if len(name) > 200 {
		return out, apperr.Field("name", "must be at most 200 characters")
	}
	err = s.store.Write(ctx, store.SystemScope, func(tx *store.Tx) error {
		userID := existing.ID
		if userID == "" {
			u, err := tx.CreateUser(ctx, inv.Email, name, hash, false)
			if err != nil {
				return err
			}
			userID = u.ID
		}
		if err := tx.EnterTenant(ctx, inv.TenantID); err != nil {
			return err
		}
		ok, err := tx.AcceptInvitation(ctx, inv.ID)
		if err != nil {
			return err
		}
		if !ok {
			return invalid
		}
		if err := tx.AddMember(ctx, userID, inv.Role); err != nil {
			return err
		}
		if err := tx.Audit(ctx, store.AuditEntry{ActorType: "user", ActorID: userID, Action: "member.joined", TargetType: "invitation", TargetID: inv.ID, IP: ip, RequestID: requestID}); err != nil {
			return err
		}
		out, err = tx.GetMember(ctx, userID)
		return err
	})
	return out, err
}

// ListAudit pages through the tenant's audit log.
func (s *Service) ListAudit(ctx context.Context, p *auth.Principal, pg store.Page) ([]store.AuditEntry, error) {
	scope, err := p.Scope()
	if err != nil {
		return nil, err
	}
	var out []store.AuditEntry
	err = s.store.Read(ctx, scope, func(tx *store.Tx) error {
		out, err = tx.ListAudit(ctx, pg)
		return err
	})
	return out, err
}
