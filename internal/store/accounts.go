package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Account self-service: password reset links and pending sign-ups. Both
// are system-scope tables (read before anyone is signed in); the link
// tokens are stored only as hashes.

// PasswordReset is a one-time password reset link for a user.
type PasswordReset struct {
	TokenHash string
	UserID    string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
}

// CreatePasswordReset stores a reset link (system scope).
func (t *Tx) CreatePasswordReset(ctx context.Context, r PasswordReset) error {
	if err := t.requireSystem("create password reset"); err != nil {
		return err
	}
	_, err := t.exec(ctx, `INSERT INTO password_resets (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
		r.TokenHash, r.UserID, micros(t.Now), micros(r.ExpiresAt))
	if err != nil {
		return fmt.Errorf("create password reset: %w", err)
	}
	return nil
}

// PasswordResetByHash reads a reset link, used or not (system scope).
func (t *Tx) PasswordResetByHash(ctx context.Context, hash string) (PasswordReset, error) {
	var r PasswordReset
	var c, e int64
	var used sql.NullInt64
	err := t.queryRow(ctx, `SELECT token_hash, user_id, created_at, expires_at, used_at FROM password_resets WHERE token_hash = $1`, hash).
		Scan(&r.TokenHash, &r.UserID, &c, &e, &used)
	r.CreatedAt, r.ExpiresAt, r.UsedAt = fromMicros(c), fromMicros(e), timePtr(used)
	return r, notFound(err, "password reset")
}

// UsePasswordReset marks a reset link used if it is unused and unexpired;
// false when it was not (two uses racing: only one wins).
func (t *Tx) UsePasswordReset(ctx context.Context, hash string) (bool, error) {
	res, err := t.exec(ctx, `UPDATE password_resets SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1`, micros(t.Now), hash)
	if err != nil {
		return false, fmt.Errorf("use password reset: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// DeletePasswordResets removes a user's reset links except keep (may be
// ""), and everyone's links that expired before cutoff.
func (t *Tx) DeletePasswordResets(ctx context.Context, userID, keep string, cutoff time.Time) error {
	_, err := t.exec(ctx, `DELETE FROM password_resets WHERE (user_id = $1 AND token_hash <> $2) OR expires_at < $3`, userID, keep, micros(cutoff))
	if err != nil {
		return fmt.Errorf("delete password resets: %w", err)
	}
	return nil
}

// Signup is a self-service sign-up waiting for its email to be verified.
type Signup struct {
	TokenHash    string
	Email        string
	Name         string
	TenantName   string
	PasswordHash string
	CreatedAt    time.Time
	ExpiresAt    time.Time
	UsedAt       *time.Time
}

// CreateSignup stores a pending sign-up (system scope).
func (t *Tx) CreateSignup(ctx context.Context, s Signup) error {
	if err := t.requireSystem("create signup"); err != nil {
		return err
	}
	_, err := t.exec(ctx, `INSERT INTO signups (token_hash, email, name, tenant_name, password_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		s.TokenHash, strings.ToLower(s.Email), s.Name, s.TenantName, s.PasswordHash, micros(t.Now), micros(s.ExpiresAt))
	if err != nil {
		return fmt.Errorf("create signup: %w", err)
	}
	return nil
}

// UseSignup consumes a pending sign-up if it is unused and unexpired and
// returns it; NotFound otherwise.
func (t *Tx) UseSignup(ctx context.Context, hash string) (Signup, error) {
	res, err := t.exec(ctx, `UPDATE signups SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1`, micros(t.Now), hash)
	if err := mustAffect(res, err, "signup"); err != nil {
		return Signup{}, err
	}
	var s Signup
	var c, e int64
	var used sql.NullInt64
	err = t.queryRow(ctx, `SELECT token_hash, email, name, tenant_name, password_hash, created_at, expires_at, used_at FROM signups WHERE token_hash = $1`, hash).
		Scan(&s.TokenHash, &s.Email, &s.Name, &s.TenantName, &s.PasswordHash, &c, &e, &used)
	s.CreatedAt, s.ExpiresAt, s.UsedAt = fromMicros(c), fromMicros(e), timePtr(used)
	return s, notFound(err, "signup")
}

// DeleteSignups removes the pending sign-ups of an email (once one is
// verified) and everyone's that expired before cutoff.
func (t *Tx) DeleteSignups(ctx context.Context, email string, cutoff time.Time) error {
	_, err := t.exec(ctx, `DELETE FROM signups WHERE email = $1 OR expires_at < $2`, strings.ToLower(email), micros(cutoff))
	if err != nil {
		return fmt.Errorf("delete signups: %w", err)
	}
	return nil
}

func (t *Tx) requireSystem(what string) error {
	if !t.scope.system {
		return errors.New("store: " + what + " outside system scope")
	}
	return nil
}
