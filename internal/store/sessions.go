package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Session is a signed-in dashboard session. Only a hash of its id is
// stored, so a leaked table does not yield usable cookies.
type Session struct {
	IDHash     string
	UserID     string
	TenantID   string // the tenant the user is working in; "" for none
	CSRFToken  string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time // absolute expiry
	IP         string
	UserAgent  string
}

// CreateSession stores a new session (system scope).
func (t *Tx) CreateSession(ctx context.Context, s Session) error {
	_, err := t.exec(ctx, `INSERT INTO sessions (id_hash, user_id, tenant_id, csrf_token, created_at, last_seen_at, expires_at, ip, user_agent)
VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8)`,
		s.IDHash, s.UserID, nullString(s.TenantID), s.CSRFToken, micros(t.Now), micros(s.ExpiresAt), s.IP, s.UserAgent)
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// SessionByHash reads a session (system scope).
func (t *Tx) SessionByHash(ctx context.Context, idHash string) (Session, error) {
	var s Session
	var tenant sql.NullString
	var c, l, e int64
	err := t.queryRow(ctx, `SELECT id_hash, user_id, tenant_id, csrf_token, created_at, last_seen_at, expires_at, ip, user_agent FROM sessions WHERE id_hash = $1`, idHash).
		Scan(&s.IDHash, &s.UserID, &tenant, &s.CSRFToken, &c, &l, &e, &s.IP, &s.UserAgent)
	s.TenantID, s.CreatedAt, s.LastSeenAt, s.ExpiresAt = tenant.String, fromMicros(c), fromMicros(l), fromMicros(e)
	return s, notFound(err, "session")
}

// TouchSession records activity, which pushes back the idle expiry.
func (t *Tx) TouchSession(ctx context.Context, idHash string) error {
	_, err := t.exec(ctx, `UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2`, micros(t.Now), idHash)
	return err
}

// SetSessionTenant switches the tenant a session works in.
func (t *Tx) SetSessionTenant(ctx context.Context, idHash, tenantID string) error {
	res, err := t.exec(ctx, `UPDATE sessions SET tenant_id = $1 WHERE id_hash = $2`, nullString(tenantID), idHash)
	return mustAffect(res, err, "session")
}

// DeleteSession ends a session.
func (t *Tx) DeleteSession(ctx context.Context, idHash string) error {
	_, err := t.exec(ctx, `DELETE FROM sessions WHERE id_hash = $1`, idHash)
	return err
}

// DeleteUserSessions ends every session of a user except keep (may be "").
func (t *Tx) DeleteUserSessions(ctx context.Context, userID, keep string) error {
	_, err := t.exec(ctx, `DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2`, userID, keep)
	return err
}

// DeleteExpiredSessions removes sessions past their absolute expiry or idle
// since before idleCutoff.
func (t *Tx) DeleteExpiredSessions(ctx context.Context, idleCutoff time.Time) (int64, error) {
	res, err := t.exec(ctx, `DELETE FROM sessions WHERE expires_at < $1 OR last_seen_at < $2`, micros(t.Now), micros(idleCutoff))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }
