package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/metachat/metachat/internal/apperr"
)

// Channel is a way customers reach a tenant: the web widget, WhatsApp, …
// Config holds the non-secret settings as JSON; Secrets holds the secret
// ones sealed with the server key (never returned by the API).
type Channel struct {
	TenantID    string
	ID          string
	Type        string
	Name        string
	AssistantID string
	Config      json.RawMessage
	Secrets     string
	PublicKey   string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

const channelCols = `tenant_id, id, type, name, assistant_id, config, secrets, public_key, created_at, updated_at`

func scanChannel(sc interface{ Scan(...any) error }) (Channel, error) {
	var c Channel
	var asst, pk sql.NullString
	var cfg string
	var cr, up int64
	err := sc.Scan(&c.TenantID, &c.ID, &c.Type, &c.Name, &asst, &cfg, &c.Secrets, &pk, &cr, &up)
	c.AssistantID, c.PublicKey, c.Config = asst.String, pk.String, json.RawMessage(cfg)
	c.CreatedAt, c.UpdatedAt = fromMicros(cr), fromMicros(up)
	return c, err
}

// CreateChannel stores a channel for the scope's tenant; ID and times are set here.
func (t *Tx) CreateChannel(ctx context.Context, c Channel) (Channel, error) {
	c.TenantID, c.CreatedAt, c.UpdatedAt = t.tenant(), t.Now, t.Now
	if c.ID == "" {
		c.ID = NewID()
	}
	_, err := t.exec(ctx, `INSERT INTO channels (`+channelCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)`,
		c.TenantID, c.ID, c.Type, c.Name, nullString(c.AssistantID), string(c.Config), c.Secrets, nullString(c.PublicKey), micros(t.Now))
	if err != nil {
		return Channel{}, fmt.Errorf("create channel: %w", err)
	}
	return c, nil
}

// GetChannel reads one of the scope's tenant's channels.
func (t *Tx) GetChannel(ctx context.Context, id string) (Channel, error) {
	c, err := scanChannel(t.queryRow(ctx, `SELECT `+channelCols+` FROM channels WHERE tenant_id = $1 AND id = $2`, t.tenant(), id))
	return c, notFound(err, "channel")
}

// ListChannels pages through the scope's tenant's channels.
func (t *Tx) ListChannels(ctx context.Context, p Page) ([]Channel, error) {
	rows, err := t.query(ctx, `SELECT `+channelCols+` FROM channels WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3`, t.tenant(), p.bound(), p.Limit)
	if err != nil {
		return nil, fmt.Errorf("list channels: %w", err)
	}
	defer rows.Close()
	out := []Channel{}
	for rows.Next() {
		c, err := scanChannel(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// UpdateChannel replaces a channel's name, assistant, config and secrets.
func (t *Tx) UpdateChannel(ctx context.Context, c Channel) error {
	res, err := t.exec(ctx, `UPDATE channels SET name = $1, assistant_id = $2, config = $3, secrets = $4, updated_at = $5 WHERE tenant_id = $6 AND id = $7`,
		c.Name, nullString(c.AssistantID), string(c.Config), c.Secrets, micros(t.Now), t.tenant(), c.ID)
	return mustAffect(res, err, "channel")
}

// DeleteChannel removes a channel with its contacts, conversations and messages.
func (t *Tx) DeleteChannel(ctx context.Context, id string) error {
	res, err := t.exec(ctx, `DELETE FROM channels WHERE tenant_id = $1 AND id = $2`, t.tenant(), id)
	return mustAffect(res, err, "channel")
}

// ChannelByPublicKey finds a web channel of an active tenant by its public
// key (system scope: the widget is anonymous).
func (t *Tx) ChannelByPublicKey(ctx context.Context, key string) (Channel, error) {
	var status string
	var c Channel
	var asst, pk sql.NullString
	var cfg string
	var cr, up int64
	err := t.queryRow(ctx, `SELECT c.tenant_id, c.id, c.type, c.name, c.assistant_id, c.config, c.secrets, c.public_key, c.created_at, c.updated_at, tn.status
FROM channels c JOIN tenants tn ON tn.id = c.tenant_id WHERE c.public_key = $1`, key).
		Scan(&c.TenantID, &c.ID, &c.Type, &c.Name, &asst, &cfg, &c.Secrets, &pk, &cr, &up, &status)
	c.AssistantID, c.PublicKey, c.Config = asst.String, pk.String, json.RawMessage(cfg)
	c.CreatedAt, c.UpdatedAt = fromMicros(cr), fromMicros(up)
	if err != nil {
		return Channel{}, notFound(err, "channel")
	}
	if status != "active" {
		return Channel{}, apperr.New(apperr.NotFound, "channel not found")
	}
	return c, nil
}

// APIChannel returns the tenant's "api" channel for an assistant, creating
// it on first use: POST /api/v1/chat conversations live there.
func (t *Tx) APIChannel(ctx context.Context, assistantID string) (Channel, error) {
	c, err := scanChannel(t.queryRow(ctx, `SELECT `+channelCols+` FROM channels WHERE tenant_id = $1 AND type = 'api' AND assistant_id = $2 ORDER BY id LIMIT 1`, t.tenant(), assistantID))
	if err == nil {
		return c, nil
	}
	if nf := notFound(err, "channel"); !apperr.Is(nf, apperr.NotFound) {
		return Channel{}, nf
	}
	return t.CreateChannel(ctx, Channel{Type: "api", Name: "API", AssistantID: assistantID, Config: json.RawMessage(`{}`)})
}
