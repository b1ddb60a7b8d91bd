package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// APIKey is a tenant's API key. The key itself is never stored: only its
// SHA-256 and a short visible prefix that lets people tell keys apart.
type APIKey struct {
	TenantID   string     `json:"-"`
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	KeyHash    string     `json:"-"`
	Scopes     []string   `json:"scopes"`
	CreatedBy  string     `json:"created_by"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	RotatedTo  string     `json:"rotated_to,omitempty"`
}

const apiKeyCols = `tenant_id, id, name, prefix, key_hash, scopes, created_by, created_at, expires_at, last_used_at, revoked_at, rotated_to`

func scanAPIKey(sc interface{ Scan(...any) error }) (APIKey, error) {
	var k APIKey
	var scopes string
	var c int64
	var exp, used, rev sql.NullInt64
	var rot sql.NullString
	err := sc.Scan(&k.TenantID, &k.ID, &k.Name, &k.Prefix, &k.KeyHash, &scopes, &k.CreatedBy, &c, &exp, &used, &rev, &rot)
	k.Scopes = strings.Fields(scopes)
	k.CreatedAt, k.ExpiresAt, k.LastUsedAt, k.RevokedAt, k.RotatedTo = fromMicros(c), timePtr(exp), timePtr(used), timePtr(rev), rot.String
	return k, err
}

// CreateAPIKey stores a key for the scope's tenant; ID and CreatedAt are set here.
func (t *Tx) CreateAPIKey(ctx context.Context, k APIKey) (APIKey, error) {
	k.TenantID, k.ID, k.CreatedAt = t.tenant(), NewID(), t.Now
	_, err := t.exec(ctx, `INSERT INTO api_keys (tenant_id, id, name, prefix, key_hash, scopes, created_by, created_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		k.TenantID, k.ID, k.Name, k.Prefix, k.KeyHash, strings.Join(k.Scopes, " "), k.CreatedBy, micros(t.Now), nullMicros(k.ExpiresAt))
	if err != nil {
		return APIKey{}, fmt.Errorf("create api key: %w", err)
	}
	return k, nil
}

// ListAPIKeys pages through the scope's tenant's keys, revoked ones included.
func (t *Tx) ListAPIKeys(ctx context.Context, p Page) ([]APIKey, error) {
	rows, err := t.query(ctx, `SELECT `+apiKeyCols+` FROM api_keys WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3`, t.tenant(), p.bound(), p.Limit)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	defer rows.Close()
	out := []APIKey{}
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// GetAPIKey reads one of the scope's tenant's keys.
func (t *Tx) GetAPIKey(ctx context.Context, id string) (APIKey, error) {
	k, err := scanAPIKey(t.queryRow(ctx, `SELECT `+apiKeyCols+` FROM api_keys WHERE tenant_id = $1 AND id = $2`, t.tenant(), id))
	return k, notFound(err, "api key")
}

// RevokeAPIKey revokes a key now; revoking twice is harmless.
func (t *Tx) RevokeAPIKey(ctx context.Context, id string) error {
	res, err := t.exec(ctx, `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE tenant_id = $2 AND id = $3`, micros(t.Now), t.tenant(), id)
	return mustAffect(res, err, "api key")
}

// MarkRotated records that key id was replaced by newID and stops it
// working at until (or earlier, if it already expired sooner).
func (t *Tx) MarkRotated(ctx context.Context, id, newID string, until time.Time) error {
	res, err := t.exec(ctx, `UPDATE api_keys SET rotated_to = $1,
    expires_at = CASE WHEN expires_at IS NOT NULL AND expires_at < $2 THEN expires_at ELSE $2 END
WHERE tenant_id = $3 AND id = $4`, newID, micros(until), t.tenant(), id)
	return mustAffect(res, err, "api key")
}

// APIKeyByHash finds a key by its hash along with its tenant's status
// (system scope: this is how a request's tenant is learned).
func (t *Tx) APIKeyByHash(ctx context.Context, hash string) (APIKey, string, error) {
	var status string
	row := t.queryRow(ctx, `SELECT k.tenant_id, k.id, k.name, k.prefix, k.key_hash, k.scopes, k.created_by, k.created_at, k.expires_at, k.last_used_at, k.revoked_at, k.rotated_to, tn.status
FROM api_keys k JOIN tenants tn ON tn.id = k.tenant_id WHERE k.key_hash = $1`, hash)
	var k APIKey
	var scopes string
	var c int64
	var exp, used, rev sql.NullInt64
	var rot sql.NullString
	err := row.Scan(&k.TenantID, &k.ID, &k.Name, &k.Prefix, &k.KeyHash, &scopes, &k.CreatedBy, &c, &exp, &used, &rev, &rot, &status)
	k.Scopes = strings.Fields(scopes)
	k.CreatedAt, k.ExpiresAt, k.LastUsedAt, k.RevokedAt, k.RotatedTo = fromMicros(c), timePtr(exp), timePtr(used), timePtr(rev), rot.String
	return k, status, notFound(err, "api key")
}

// TouchAPIKey records that a key was used.
func (t *Tx) TouchAPIKey(ctx context.Context, tenantID, id string) error {
	_, err := t.exec(ctx, `UPDATE api_keys SET last_used_at = $1 WHERE tenant_id = $2 AND id = $3`, micros(t.Now), tenantID, id)
	return err
}
