package store

import (
	"context"
	"fmt"
	"time"
)

// AuditEntry records who did what, for the tenant's audit log.
type AuditEntry struct {
	ID         string    `json:"id"`
	TenantID   string    `json:"-"`
	ActorType  string    `json:"actor_type"` // user | api_key | system
	ActorID    string    `json:"actor_id"`
	Action     string    `json:"action"`
	TargetType string    `json:"target_type"`
	TargetID   string    `json:"target_id"`
	IP         string    `json:"ip"`
	RequestID  string    `json:"request_id"`
	Details    string    `json:"details"` // JSON object
	CreatedAt  time.Time `json:"created_at"`
}

// Audit appends an entry. In tenant scope it belongs to that tenant; in
// system scope to e.TenantID (which may be "" for platform-level events).
func (t *Tx) Audit(ctx context.Context, e AuditEntry) error {
	tenant := e.TenantID
	if !t.scope.system {
		tenant = t.tenant()
	}
	if e.Details == "" {
		e.Details = "{}"
	}
	_, err := t.exec(ctx, `INSERT INTO audit_log (id, tenant_id, actor_type, actor_id, action, target_type, target_id, ip, request_id, details, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		NewID(), nullString(tenant), e.ActorType, e.ActorID, e.Action, e.TargetType, e.TargetID, e.IP, e.RequestID, e.Details, micros(t.Now))
	if err != nil {
		return fmt.Errorf("write audit log: %w", err)
	}
	return nil
}

// ListAudit pages through the scope's tenant's audit log, newest first.
func (t *Tx) ListAudit(ctx context.Context, p Page) ([]AuditEntry, error) {
	bound := p.After
	if bound == "" {
		bound = "ffffffff-ffff-ffff-ffff-ffffffffffff"
	}
	rows, err := t.query(ctx, `SELECT id, tenant_id, actor_type, actor_id, action, target_type, target_id, ip, request_id, details, created_at
FROM audit_log WHERE tenant_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3`, t.tenant(), bound, p.Limit)
	if err != nil {
		return nil, fmt.Errorf("list audit log: %w", err)
	}
	defer rows.Close()
	out := []AuditEntry{}
	for rows.Next() {
		var e AuditEntry
		var c int64
		if err := rows.Scan(&e.ID, &e.TenantID, &e.ActorType, &e.ActorID, &e.Action, &e.TargetType, &e.TargetID, &e.IP, &e.RequestID, &e.Details, &c); err != nil {
			return nil, err
		}
		e.CreatedAt = fromMicros(c)
		out = append(out, e)
	}
	return out, rows.Err()
}
