package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
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

// MaxWebhookEventBatch bounds one batch of events (the bound parameters
// of one statement: 8 × 512 stays far below the dialects' limits).
const MaxWebhookEventBatch = 512

// InsertWebhookEvents stores a batch of events of any tenants in one
// statement and returns the ids of those stored: an event whose channel
// already holds the same body is left out. It needs the system scope.
func (t *Tx) InsertWebhookEvents(ctx context.Context, evs []WebhookEvent) (map[string]bool, error) {
	if err := t.checkWebhookBatch(evs); err != nil {
		return nil, err
	}
	q, args := t.webhookValues(evs, nil)
	rows, err := t.query(ctx, `INSERT INTO webhook_events (tenant_id, id, channel_id, body_hash, body, request_id, received_at) VALUES `+q+
		` ON CONFLICT (channel_id, body_hash) DO NOTHING RETURNING id`, args...)
	if err != nil {
		return nil, fmt.Errorf("insert webhook events: %w", err)
	}
	defer rows.Close()
	stored := make(map[string]bool)
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

// InsertLiveWebhookEvents stores, as InsertWebhookEvents, the events whose
// channel exists with an active tenant and was last changed at versions[i]
// (the copy the event's signature was checked against), and returns when
// each of those channels was last changed (LiveChannels) with the ids
// stored. When exists is set (a query without parameters), found reports
// whether it returned a row. On PostgreSQL all of it is one statement: the
// intake's batch commits wait on every round trip.
func (t *Tx) InsertLiveWebhookEvents(ctx context.Context, evs []WebhookEvent, versions []time.Time, exists string) (live map[string]time.Time, stored map[string]bool, found bool, err error) {
	if err := t.checkWebhookBatch(evs); err != nil {
		return nil, nil, false, err
	}
	if len(versions) != len(evs) {
		return nil, nil, false, errors.New("store: a version for each webhook event")
	}
	if t.dialect != Postgres {
		if live, stored, err = t.insertLiveWebhookEvents(ctx, evs, versions); err != nil || exists == "" {
			return live, stored, false, err
		}
		found, err = t.Exists(ctx, exists)
		return live, stored, found, err
	}
	also, alsoRows := "", ""
	if exists != "" {
		also, alsoRows = ",\nalso AS ("+exists+")", " UNION ALL SELECT 'j', NULL, NULL FROM also"
	}
	q, args := t.webhookValues(evs, func(i int) any { return micros(versions[i]) })
	rows, err := t.query(ctx, `WITH v (tenant_id, id, channel_id, body_hash, body, request_id, received_at, version) AS (VALUES `+q+`),
live AS (SELECT c.id, c.updated_at FROM channels c JOIN tenants tn ON tn.id = c.tenant_id
         WHERE tn.status = 'active' AND c.id IN (SELECT channel_id FROM v)),
ins AS (INSERT INTO webhook_events (tenant_id, id, channel_id, body_hash, body, request_id, received_at)
        SELECT v.tenant_id, v.id, v.channel_id, v.body_hash, v.body, v.request_id, v.received_at
        FROM v JOIN live ON live.id = v.channel_id AND live.updated_at = v.version
        ON CONFLICT (channel_id, body_hash) DO NOTHING RETURNING id)`+also+`
SELECT 'l', id::text, updated_at FROM live UNION ALL SELECT 'i', id::text, NULL FROM ins`+alsoRows, args...)
	if err != nil {
		return nil, nil, false, fmt.Errorf("insert webhook events: %w", err)
	}
	defer rows.Close()
	live, stored = map[string]time.Time{}, map[string]bool{}
	for rows.Next() {
		var kind string
		var id sql.NullString
		var at sql.NullInt64
		if err := rows.Scan(&kind, &id, &at); err != nil {
			return nil, nil, false, fmt.Errorf("insert webhook events: %w", err)
		}
		switch kind {
		case "l":
			live[id.String] = fromMicros(at.Int64)
		case "i":
			stored[id.String] = true
		default:
			found = true
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, false, fmt.Errorf("insert webhook events: %w", err)
	}
	return live, stored, found, nil
}

// insertLiveWebhookEvents is InsertLiveWebhookEvents in two statements.
func (t *Tx) insertLiveWebhookEvents(ctx context.Context, evs []WebhookEvent, versions []time.Time) (live map[string]time.Time, stored map[string]bool, err error) {
	chans := make([]string, 0, len(evs))
	for _, e := range evs {
		if !slices.Contains(chans, e.ChannelID) {
			chans = append(chans, e.ChannelID)
		}
	}
	if live, err = t.LiveChannels(ctx, chans); err != nil {
		return nil, nil, err
	}
	keep := make([]WebhookEvent, 0, len(evs))
	for i, e := range evs {
		if at, ok := live[e.ChannelID]; ok && at.Equal(versions[i]) {
			keep = append(keep, e)
		}
	}
	if len(keep) == 0 {
		return live, map[string]bool{}, nil
	}
	stored, err = t.InsertWebhookEvents(ctx, keep)
	return live, stored, err
}

func (t *Tx) checkWebhookBatch(evs []WebhookEvent) error {
	if !t.scope.system {
		return errors.New("store: storing webhook events needs the system scope")
	}
	if len(evs) == 0 || len(evs) > MaxWebhookEventBatch {
		return fmt.Errorf("store: %d webhook events in one batch", len(evs))
	}
	return nil
}

// webhookValues writes the VALUES rows of a batch of events, each with the
// value extra gives it as a last column when extra is set. PostgreSQL needs
// the types spelled out where no target column gives them (a CTE).
func (t *Tx) webhookValues(evs []WebhookEvent, extra func(i int) any) (string, []any) {
	types := []string{"uuid", "uuid", "uuid", "bytea", "bytea", "text", "bigint", "bigint"}
	cols := webhookEventCols
	if extra != nil {
		cols++
	}
	var b strings.Builder
	args := make([]any, 0, len(evs)*cols)
	for i, e := range evs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for c := range cols {
			if c > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(i*cols + c + 1))
			if extra != nil && t.dialect == Postgres {
				b.WriteString("::")
				b.WriteString(types[c])
			}
		}
		b.WriteByte(')')
		args = append(args, e.TenantID, e.ID, e.ChannelID, e.BodyHash, e.Body, e.RequestID, micros(t.Now))
		if extra != nil {
			args = append(args, extra(i))
		}
	}
	return b.String(), args
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
