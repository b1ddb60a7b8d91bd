package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Invitation invites a person by email into a tenant with a role. The link
// carries a random token of which only the hash is stored.
type Invitation struct {
	TenantID   string     `json:"-"`
	ID         string     `json:"id"`
	Email      string     `json:"email"`
	Role       string     `json:"role"`
	TokenHash  string     `json:"-"`
	InvitedBy  string     `json:"invited_by"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	AcceptedAt *time.Time `json:"accepted_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

const invitationCols = `tenant_id, id, email, role, token_hash, invited_by, created_at, expires_at, accepted_at, revoked_at`

func scanInvitation(sc interface{ Scan(...any) error }) (Invitation, error) {
	var i Invitation
	var c, e int64
	var acc, rev sql.NullInt64
	err := sc.Scan(&i.TenantID, &i.ID, &i.Email, &i.Role, &i.TokenHash, &i.InvitedBy, &c, &e, &acc, &rev)
	i.CreatedAt, i.ExpiresAt, i.AcceptedAt, i.RevokedAt = fromMicros(c), fromMicros(e), timePtr(acc), timePtr(rev)
	return i, err
}

// CreateInvitation stores an invitation for the scope's tenant.
func (t *Tx) CreateInvitation(ctx context.Context, inv Invitation) (Invitation, error) {
	inv.TenantID, inv.ID, inv.CreatedAt, inv.Email = t.tenant(), NewID(), t.Now, strings.ToLower(inv.Email)
	_, err := t.exec(ctx, `INSERT INTO invitations (tenant_id, id, email, role, token_hash, invited_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		inv.TenantID, inv.ID, inv.Email, inv.Role, inv.TokenHash, inv.InvitedBy, micros(t.Now), micros(inv.ExpiresAt))
	if err != nil {
		return Invitation{}, fmt.Errorf("create invitation: %w", err)
	}
	return inv, nil
}

// ListInvitations pages through the scope's tenant's invitations.
func (t *Tx) ListInvitations(ctx context.Context, p Page) ([]Invitation, error) {
	rows, err := t.query(ctx, `SELECT `+invitationCols+` FROM invitations WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3`, t.tenant(), p.bound(), p.Limit)
	if err != nil {
		return nil, fmt.Errorf("list invitations: %w", err)
	}
	defer rows.Close()
	out := []Invitation{}
	for rows.Next() {
		i, err := scanInvitation(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, i)
	}
	return out, rows.Err()
}

// RevokeInvitation withdraws a pending invitation.
func (t *Tx) RevokeInvitation(ctx context.Context, id string) error {
	res, err := t.exec(ctx, `UPDATE invitations SET revoked_at = COALESCE(revoked_at, $1) WHERE tenant_id = $2 AND id = $3`, micros(t.Now), t.tenant(), id)
	return mustAffect(res, err, "invitation")
}

// InvitationByTokenHash finds an invitation by its token (system scope).
func (t *Tx) InvitationByTokenHash(ctx context.Context, hash string) (Invitation, error) {
	i, err := scanInvitation(t.queryRow(ctx, `SELECT `+invitationCols+` FROM invitations WHERE token_hash = $1`, hash))
	return i, notFound(err, "invitation")
}

// AcceptInvitation marks an invitation used; false if it was used already
// (two accepts racing: only one wins).
func (t *Tx) AcceptInvitation(ctx context.Context, id string) (bool, error) {
	res, err := t.exec(ctx, `UPDATE invitations SET accepted_at = $1 WHERE tenant_id = $2 AND id = $3 AND accepted_at IS NULL AND revoked_at IS NULL`, micros(t.Now), t.tenant(), id)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
