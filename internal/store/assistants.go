package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Assistant is a tenant's AI assistant. Settings are the assistants
// package's JSON; Credentials are sealed provider keys (never returned).
type Assistant struct {
	ID          string
	Name        string
	Settings    json.RawMessage
	Credentials string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

const assistantCols = `id, name, settings, credentials, created_at, updated_at`

func scanAssistant(sc interface{ Scan(...any) error }) (Assistant, error) {
	var a Assistant
	var settings string
	var c, u int64
	err := sc.Scan(&a.ID, &a.Name, &settings, &a.Credentials, &c, &u)
	a.Settings, a.CreatedAt, a.UpdatedAt = json.RawMessage(settings), fromMicros(c), fromMicros(u)
	return a, err
}

// CreateAssistant stores an assistant; a.ID may be preset (for sealing).
func (t *Tx) CreateAssistant(ctx context.Context, a Assistant) (Assistant, error) {
	if a.ID == "" {
		a.ID = NewID()
	}
	a.CreatedAt, a.UpdatedAt = t.Now, t.Now
	_, err := t.exec(ctx, `INSERT INTO assistants (tenant_id, `+assistantCols+`) VALUES ($1, $2, $3, $4, $5, $6, $6)`,
		t.tenant(), a.ID, a.Name, string(a.Settings), a.Credentials, micros(t.Now))
	if err != nil {
		return Assistant{}, fmt.Errorf("create assistant: %w", err)
	}
	return a, nil
}

// GetAssistant reads one of the scope's tenant's assistants.
func (t *Tx) GetAssistant(ctx context.Context, id string) (Assistant, error) {
	a, err := scanAssistant(t.queryRow(ctx, `SELECT `+assistantCols+` FROM assistants WHERE tenant_id = $1 AND id = $2`, t.tenant(), id))
	return a, notFound(err, "assistant")
}

// ListAssistants pages through the scope's tenant's assistants.
func (t *Tx) ListAssistants(ctx context.Context, p Page) ([]Assistant, error) {
	rows, err := t.query(ctx, `SELECT `+assistantCols+` FROM assistants WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3`, t.tenant(), p.bound(), p.Limit)
	if err != nil {
		return nil, fmt.Errorf("list assistants: %w", err)
	}
	defer rows.Close()
	out := []Assistant{}
	for rows.Next() {
		a, err := scanAssistant(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// UpdateAssistant replaces an assistant's name, settings and credentials.
func (t *Tx) UpdateAssistant(ctx context.Context, a Assistant) error {
	res, err := t.exec(ctx, `UPDATE assistants SET name = $1, settings = $2, credentials = $3, updated_at = $4 WHERE tenant_id = $5 AND id = $6`,
		a.Name, string(a.Settings), a.Credentials, micros(t.Now), t.tenant(), a.ID)
	return mustAffect(res, err, "assistant")
}

// DeleteAssistant removes an assistant; channels that used it keep working
// without one (they stop answering automatically).
func (t *Tx) DeleteAssistant(ctx context.Context, id string) error {
	if _, err := t.exec(ctx, `UPDATE channels SET assistant_id = NULL WHERE tenant_id = $1 AND assistant_id = $2`, t.tenant(), id); err != nil {
		return err
	}
	res, err := t.exec(ctx, `DELETE FROM assistants WHERE tenant_id = $1 AND id = $2`, t.tenant(), id)
	return mustAffect(res, err, "assistant")
}
