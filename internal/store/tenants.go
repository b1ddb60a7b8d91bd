package store

import (
	"context"
	"fmt"
	"time"

	"github.com/metachat/metachat/internal/apperr"
)

// Tenant is a business using the platform.
type Tenant struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Status    string    `json:"status"` // active | suspended
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

const tenantCols = `id, name, status, created_at, updated_at`

func scanTenant(sc interface{ Scan(...any) error }) (Tenant, error) {
	var t Tenant
	var c, u int64
	err := sc.Scan(&t.ID, &t.Name, &t.Status, &c, &u)
	t.CreatedAt, t.UpdatedAt = fromMicros(c), fromMicros(u)
	return t, err
}

// CreateTenant inserts a new tenant (system scope: it has no tenant yet).
func (t *Tx) CreateTenant(ctx context.Context, name string) (Tenant, error) {
	tn := Tenant{ID: NewID(), Name: name, Status: "active", CreatedAt: t.Now, UpdatedAt: t.Now}
	_, err := t.exec(ctx, `INSERT INTO tenants (id, name, status, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)`,
		tn.ID, tn.Name, tn.Status, micros(t.Now))
	if err != nil {
		return Tenant{}, fmt.Errorf("create tenant: %w", err)
	}
	return tn, nil
}

// GetTenant reads a tenant; in tenant scope only the scope's own.
func (t *Tx) GetTenant(ctx context.Context, id string) (Tenant, error) {
	if !t.scope.system && id != t.scope.tenantID {
		return Tenant{}, apperr.New(apperr.NotFound, "tenant not found")
	}
	tn, err := scanTenant(t.queryRow(ctx, `SELECT `+tenantCols+` FROM tenants WHERE id = $1`, id))
	return tn, notFound(err, "tenant")
}

// ListTenants pages through all tenants (system scope).
func (t *Tx) ListTenants(ctx context.Context, p Page) ([]Tenant, error) {
	if !t.scope.system {
		panic("store: ListTenants needs system scope")
	}
	rows, err := t.query(ctx, `SELECT `+tenantCols+` FROM tenants WHERE id > $1 ORDER BY id LIMIT $2`, p.bound(), p.Limit)
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	defer rows.Close()
	out := []Tenant{}
	for rows.Next() {
		tn, err := scanTenant(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, tn)
	}
	return out, rows.Err()
}

// SetTenantStatus suspends or reactivates a tenant (system scope).
func (t *Tx) SetTenantStatus(ctx context.Context, id, status string) error {
	res, err := t.exec(ctx, `UPDATE tenants SET status = $1, updated_at = $2 WHERE id = $3`, status, micros(t.Now), id)
	return mustAffect(res, err, "tenant")
}
