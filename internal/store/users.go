package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/metachat/metachat/internal/apperr"
)

// User is a person who signs in: a platform admin, a tenant member, or both.
type User struct {
	ID            string     `json:"id"`
	Email         string     `json:"email"`
	Name          string     `json:"name"`
	PasswordHash  string     `json:"-"`
	PlatformAdmin bool       `json:"platform_admin"`
	CreatedAt     time.Time  `json:"created_at"`
	LastLoginAt   *time.Time `json:"last_login_at,omitempty"`
}

const userCols = `id, email, name, password_hash, platform_admin, created_at, last_login_at`

func scanUser(sc interface{ Scan(...any) error }) (User, error) {
	var u User
	var c int64
	var last sql.NullInt64
	err := sc.Scan(&u.ID, &u.Email, &u.Name, &u.PasswordHash, &u.PlatformAdmin, &c, &last)
	u.CreatedAt, u.LastLoginAt = fromMicros(c), timePtr(last)
	return u, err
}

// CreateUser inserts a user (system scope). Emails are stored lower-case
// and are unique: a duplicate is a Conflict naming the email field.
func (t *Tx) CreateUser(ctx context.Context, email, name, passwordHash string, platformAdmin bool) (User, error) {
	u := User{ID: NewID(), Email: strings.ToLower(email), Name: name, PasswordHash: passwordHash, PlatformAdmin: platformAdmin, CreatedAt: t.Now}
	_, err := t.exec(ctx, `INSERT INTO users (id, email, name, password_hash, platform_admin, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)`,
		u.ID, u.Email, u.Name, u.PasswordHash, u.PlatformAdmin, micros(t.Now))
	if isUniqueViolation(err) {
		return User{}, &apperr.Error{Kind: apperr.Conflict, Message: "a user with this email exists", Fields: []apperr.FieldError{{Field: "email", Message: "is already registered"}}}
	}
	if err != nil {
		return User{}, fmt.Errorf("create user: %w", err)
	}
	return u, nil
}

// UserByEmail finds a user by email (system scope).
func (t *Tx) UserByEmail(ctx context.Context, email string) (User, error) {
	u, err := scanUser(t.queryRow(ctx, `SELECT `+userCols+` FROM users WHERE email = $1`, strings.ToLower(email)))
	return u, notFound(err, "user")
}

// UserByID reads a user; in tenant scope only the tenant's members.
func (t *Tx) UserByID(ctx context.Context, id string) (User, error) {
	u, err := scanUser(t.queryRow(ctx, `SELECT `+userCols+` FROM users WHERE id = $1`, id))
	return u, notFound(err, "user")
}

// SetPassword replaces a user's password hash.
func (t *Tx) SetPassword(ctx context.Context, userID, hash string) error {
	res, err := t.exec(ctx, `UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3`, hash, micros(t.Now), userID)
	return mustAffect(res, err, "user")
}

// TouchLogin records a successful sign-in.
func (t *Tx) TouchLogin(ctx context.Context, userID string) error {
	_, err := t.exec(ctx, `UPDATE users SET last_login_at = $1 WHERE id = $2`, micros(t.Now), userID)
	return err
}

// CountPlatformAdmins counts platform admins (system scope).
func (t *Tx) CountPlatformAdmins(ctx context.Context) (int, error) {
	var n int
	err := t.queryRow(ctx, `SELECT count(*) FROM users WHERE platform_admin`).Scan(&n)
	return n, err
}

// Member is a user's membership in the scope's tenant.
type Member struct {
	UserID    string    `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
}

// AddMember makes a user a member of the scope's tenant.
func (t *Tx) AddMember(ctx context.Context, userID, role string) error {
	_, err := t.exec(ctx, `INSERT INTO memberships (tenant_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)`, t.tenant(), userID, role, micros(t.Now))
	if isUniqueViolation(err) {
		return apperr.New(apperr.Conflict, "already a member of this tenant")
	}
	if err != nil {
		return fmt.Errorf("add member: %w", err)
	}
	return nil
}

const memberSelect = `SELECT m.user_id, u.email, u.name, m.role, m.created_at FROM memberships m JOIN users u ON u.id = m.user_id`

func scanMember(sc interface{ Scan(...any) error }) (Member, error) {
	var m Member
	var c int64
	err := sc.Scan(&m.UserID, &m.Email, &m.Name, &m.Role, &c)
	m.CreatedAt = fromMicros(c)
	return m, err
}

// ListMembers pages through the scope's tenant's members.
func (t *Tx) ListMembers(ctx context.Context, p Page) ([]Member, error) {
	rows, err := t.query(ctx, memberSelect+` WHERE m.tenant_id = $1 AND m.user_id > $2 ORDER BY m.user_id LIMIT $3`, t.tenant(), p.bound(), p.Limit)
	if err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	defer rows.Close()
	out := []Member{}
	for rows.Next() {
		m, err := scanMember(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// GetMember reads one member of the scope's tenant.
func (t *Tx) GetMember(ctx context.Context, userID string) (Member, error) {
	m, err := scanMember(t.queryRow(ctx, memberSelect+` WHERE m.tenant_id = $1 AND m.user_id = $2`, t.tenant(), userID))
	return m, notFound(err, "member")
}

// SetMemberRole changes a member's role.
func (t *Tx) SetMemberRole(ctx context.Context, userID, role string) error {
	res, err := t.exec(ctx, `UPDATE memberships SET role = $1 WHERE tenant_id = $2 AND user_id = $3`, role, t.tenant(), userID)
	return mustAffect(res, err, "member")
}

// RemoveMember ends a membership.
func (t *Tx) RemoveMember(ctx context.Context, userID string) error {
	res, err := t.exec(ctx, `DELETE FROM memberships WHERE tenant_id = $1 AND user_id = $2`, t.tenant(), userID)
	return mustAffect(res, err, "member")
}

// CountOwners counts the owners of the scope's tenant.
func (t *Tx) CountOwners(ctx context.Context) (int, error) {
	var n int
	err := t.queryRow(ctx, `SELECT count(*) FROM memberships WHERE tenant_id = $1 AND role = 'owner'`, t.tenant()).Scan(&n)
	return n, err
}

// Membership is one tenant a user belongs to.
type Membership struct {
	TenantID   string `json:"tenant_id"`
	TenantName string `json:"tenant_name"`
	Role       string `json:"role"`
}

// UserMemberships lists the active tenants a user belongs to (system scope).
func (t *Tx) UserMemberships(ctx context.Context, userID string) ([]Membership, error) {
	rows, err := t.query(ctx, `SELECT m.tenant_id, tn.name, m.role FROM memberships m JOIN tenants tn ON tn.id = m.tenant_id
WHERE m.user_id = $1 AND tn.status = 'active' ORDER BY tn.name, m.tenant_id LIMIT 500`, userID)
	if err != nil {
		return nil, fmt.Errorf("list memberships: %w", err)
	}
	defer rows.Close()
	out := []Membership{}
	for rows.Next() {
		var m Membership
		if err := rows.Scan(&m.TenantID, &m.TenantName, &m.Role); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}
