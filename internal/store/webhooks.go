package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// WebhookEvent is a verified provider webhook body waiting to be
// processed.
type WebhookEvent struct {
	ID         string
	TenantID   string
	ChannelID  string
	BodyHash   []byte
	Body       []byte
	RequestID  string
	ReceivedAt time.Time
	Error      string
}

// webhookEventCols is the number of bound values per inserted event.
const webhookEventCols = 7

// MaxWebhookEventBatch bounds one InsertWebhookEvents call (the bound
// parameters of one statement).
const MaxWebhookEventBatch = 512

// InsertWebhookEvents stores a batch of events of any tenants in one
// statement and returns the ids of those stored: an event whose channel
// already holds the same body is left out. It needs the system scope.
func (t *Tx) InsertWebhookEvents(ctx context.Context, evs []WebhookEvent) (map[string]bool, error) {
	if !t.scope.system {
		return nil, errors.New("store: InsertWebhookEvents needs the system scope")
	}
	if len(evs) == 0 || len(evs) > MaxWebhookEventBatch {
		return nil, fmt.Errorf("store: %d webhook events in one batch", len(evs))
	}
	var b strings.Builder
	b.WriteString(`INSERT INTO webhook_events (tenant_id, id, channel_id, body_hash, body, request_id, received_at) VALUES `)
	args := make([]any, 0, len(evs)*webhookEventCols)
	for i, e := range evs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for c := range webhookEventCols {
			if c > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(i*webhookEventCols + c + 1))
		}
		b.WriteByte(')')
		args = append(args, e.TenantID, e.ID, e.ChannelID, e.BodyHash, e.Body, e.RequestID, micros(t.Now))
	}
	b.WriteString(` ON CONFLICT (channel_id, body_hash) DO NOTHING RETURNING id`)
	rows, err := t.query(ctx, b.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("insert webhook events: %w", err)
	}
	defer rows.Close()
	stored := make(map[string]bool, len(evs))
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("insert webhook events: %w", err)
		}
		stored[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("insert webhook events: %w", err)
	}
	return stored, nil
}

// LiveChannels returns when each of the channels was last changed, for
// those that exist with an active tenant (system scope): a batch of
// webhooks checked against cached channels learns in one statement which
// ones were deleted, suspended or given new secrets meanwhile.
func (t *Tx) LiveChannels(ctx context.Context, ids []string) (map[string]time.Time, error) {
	args, in := inList(nil, ids)
	rows, err := t.query(ctx, `SELECT c.id, c.updated_at FROM channels c JOIN tenants tn ON tn.id = c.tenant_id WHERE tn.status = 'active' AND c.id IN (`+in+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("live channels: %w", err)
	}
	defer rows.Close()
	live := make(map[string]time.Time, len(ids))
	for rows.Next() {
		var id string
		var at int64
		if err := rows.Scan(&id, &at); err != nil {
			return nil, fmt.Errorf("live channels: %w", err)
		}
		live[id] = fromMicros(at)
	}
	return live, rows.Err()
}

// WebhookEventsByID returns the waiting events among ids, in no
// particular order (system scope: the job that processes them learns each
// one's tenant from its row).
func (t *Tx) WebhookEventsByID(ctx context.Context, ids []string) ([]WebhookEvent, error) {
	if !t.scope.system {
		return nil, errors.New("store: WebhookEventsByID needs the system scope")
	}
	args, in := inList(nil, ids)
	rows, err := t.query(ctx, `SELECT tenant_id, id, channel_id, body_hash, body, request_id, received_at, error FROM webhook_events WHERE id IN (`+in+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("get webhook events: %w", err)
	}
	defer rows.Close()
	var out []WebhookEvent
	for rows.Next() {
		var e WebhookEvent
		var at int64
		if err := rows.Scan(&e.TenantID, &e.ID, &e.ChannelID, &e.BodyHash, &e.Body, &e.RequestID, &at, &e.Error); err != nil {
			return nil, fmt.Errorf("get webhook events: %w", err)
		}
		e.ReceivedAt = fromMicros(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// NextWebhookEvents returns up to limit waiting events that have not
// failed, oldest first (system scope).
func (t *Tx) NextWebhookEvents(ctx context.Context, limit int) ([]string, error) {
	if !t.scope.system {
		return nil, errors.New("store: NextWebhookEvents needs the system scope")
	}
	rows, err := t.query(ctx, `SELECT id FROM webhook_events WHERE error = '' ORDER BY received_at, id LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("next webhook events: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("next webhook events: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// DeleteWebhookEvents removes processed events (system scope).
func (t *Tx) DeleteWebhookEvents(ctx context.Context, ids []string) error {
	if !t.scope.system {
		return errors.New("store: DeleteWebhookEvents needs the system scope")
	}
	args, in := inList(nil, ids)
	if _, err := t.exec(ctx, `DELETE FROM webhook_events WHERE id IN (`+in+`)`, args...); err != nil {
		return fmt.Errorf("delete webhook events: %w", err)
	}
	return nil
}

// SetWebhookEventError records why an event could not be processed (it
// stays, for an operator to see and for the next attempt).
func (t *Tx) SetWebhookEventError(ctx context.Context, id, reason string) error {
	if _, err := t.exec(ctx, `UPDATE webhook_events SET error = $3 WHERE tenant_id = $1 AND id = $2`, t.tenant(), id, reason); err != nil {
		return fmt.Errorf("set webhook event error: %w", err)
	}
	return nil
}

// PendingWebhookEvents counts a channel's events still waiting and
// returns the latest error recorded on one.
func (t *Tx) PendingWebhookEvents(ctx context.Context, channelID string) (n int, lastError string, err error) {
	q := `SELECT COUNT(*), COALESCE(MAX(error), '') FROM webhook_events WHERE channel_id = $1`
	args := []any{channelID}
	if !t.scope.system {
		q += ` AND tenant_id = $2`
		args = append(args, t.tenant())
	}
	if err := t.queryRow(ctx, q, args...).Scan(&n, &lastError); err != nil {
		return 0, "", fmt.Errorf("count webhook events: %w", err)
	}
	return n, lastError, nil
}
