package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ChannelByID reads a channel by id alone, for public webhook routes that
// learn the tenant from the channel (system scope).
func (t *Tx) ChannelByID(ctx context.Context, id string) (Channel, error) {
	c, err := scanChannel(t.queryRow(ctx, `SELECT `+channelCols+` FROM channels WHERE id = $1`, id))
	return c, notFound(err, "channel")
}

// SetChannelAccount records the provider account a channel's webhooks are
// routed by (WhatsApp phone number id, Page id, bot id).
func (t *Tx) SetChannelAccount(ctx context.Context, id, accountID string) error {
	res, err := t.exec(ctx, `UPDATE channels SET account_id = $1 WHERE tenant_id = $2 AND id = $3`, accountID, t.tenant(), id)
	return mustAffect(res, err, "channel")
}

// ChannelHealth is what the API shows of a provider channel's state.
type ChannelHealth struct {
	AccountID       string
	LastInboundAt   time.Time
	LastOutboundAt  time.Time
	LastError       string
	LastErrorAt     time.Time
	WebhookVerified time.Time
}

// GetChannelHealth reads a channel's health.
func (t *Tx) GetChannelHealth(ctx context.Context, id string) (ChannelHealth, error) {
	var h ChannelHealth
	var in, out, errAt, ver int64
	err := t.queryRow(ctx, `SELECT account_id, last_inbound_at, last_outbound_at, last_error, last_error_at, webhook_verified_at
FROM channels WHERE tenant_id = $1 AND id = $2`, t.tenant(), id).Scan(&h.AccountID, &in, &out, &h.LastError, &errAt, &ver)
	h.LastInboundAt, h.LastOutboundAt, h.LastErrorAt, h.WebhookVerified = optMicros(in), optMicros(out), optMicros(errAt), optMicros(ver)
	return h, notFound(err, "channel")
}

func optMicros(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return fromMicros(n)
}

// ChannelEvent names what happened on a channel for its health.
type ChannelEvent int

// The events a channel's health records.
const (
	ChannelInbound ChannelEvent = iota
	ChannelOutbound
	ChannelVerified
)

// TouchChannel records an inbound or outbound message or a verified
// webhook; a successful send also clears the last error.
func (t *Tx) TouchChannel(ctx context.Context, id string, ev ChannelEvent) error {
	q := map[ChannelEvent]string{
		ChannelInbound:  `UPDATE channels SET last_inbound_at = $1 WHERE tenant_id = $2 AND id = $3`,
		ChannelOutbound: `UPDATE channels SET last_outbound_at = $1, last_error = '' WHERE tenant_id = $2 AND id = $3`,
		ChannelVerified: `UPDATE channels SET webhook_verified_at = $1 WHERE tenant_id = $2 AND id = $3`,
	}[ev]
	_, err := t.exec(ctx, q, micros(t.Now), t.tenant(), id)
	return err
}

// SetChannelError records a channel's last error (an invalid token, a
// provider refusing to work).
func (t *Tx) SetChannelError(ctx context.Context, id, msg string) error {
	_, err := t.exec(ctx, `UPDATE channels SET last_error = $1, last_error_at = $2 WHERE tenant_id = $3 AND id = $4`, msg, micros(t.Now), t.tenant(), id)
	return err
}

// SetDelivery records the outcome of sending a message to a provider.
func (t *Tx) SetDelivery(ctx context.Context, messageID, providerID, delivery, errMsg string) error {
	res, err := t.exec(ctx, `UPDATE messages SET provider_message_id = COALESCE($1, provider_message_id), delivery = $2, delivery_error = $3
WHERE tenant_id = $4 AND id = $5`, nullString(providerID), delivery, errMsg, t.tenant(), messageID)
	return mustAffect(res, err, "message")
}

// deliveryRank orders delivery states; a status update applies only when
// it ranks above the stored one, so out-of-order statuses never regress.
const deliveryRank = `CASE delivery WHEN 'sent' THEN 1 WHEN 'failed' THEN 2 WHEN 'delivered' THEN 3 WHEN 'read' THEN 4 WHEN 'played' THEN 5 ELSE 0 END`

// AdvanceDelivery applies a provider's status report to the message it
// sent; it reports whether anything changed (and the message's id).
func (t *Tx) AdvanceDelivery(ctx context.Context, channelID, providerID, status string, rank int, errMsg string) (string, bool, error) {
	var id string
	err := t.queryRow(ctx, `UPDATE messages SET delivery = $1, delivery_error = $2
WHERE tenant_id = $3 AND channel_id = $4 AND provider_message_id = $5 AND `+deliveryRank+` < $6 RETURNING id`,
		status, errMsg, t.tenant(), channelID, providerID, rank).Scan(&id)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return "", false, nil
		}
		return "", false, fmt.Errorf("advance delivery: %w", err)
	}
	return id, true, nil
}

// MarkInbound records that the contact wrote now (the 24-hour window
// restarts) and clears the need for a template.
func (t *Tx) MarkInbound(ctx context.Context, conversationID string, at time.Time) error {
	_, err := t.exec(ctx, `UPDATE conversations SET last_inbound_at = $1, needs_template = $2 WHERE tenant_id = $3 AND id = $4`,
		micros(at), false, t.tenant(), conversationID)
	return err
}

// SetNeedsTemplate flags a conversation whose window closed.
func (t *Tx) SetNeedsTemplate(ctx context.Context, conversationID string, needs bool) error {
	_, err := t.exec(ctx, `UPDATE conversations SET needs_template = $1 WHERE tenant_id = $2 AND id = $3`, needs, t.tenant(), conversationID)
	return err
}

// Media is a file that came with a message.
type Media struct {
	ID         string
	MessageID  string
	ProviderID string
	MimeType   string
	Filename   string
	SizeBytes  int64
	Error      string
	CreatedAt  time.Time
}

// AddMedia stores a message's file (or why it could not be fetched).
func (t *Tx) AddMedia(ctx context.Context, m Media, data []byte) (Media, error) {
	if m.ID == "" {
		m.ID = NewID()
	}
	m.SizeBytes, m.CreatedAt = int64(len(data)), t.Now
	_, err := t.exec(ctx, `INSERT INTO media (tenant_id, id, message_id, provider_id, mime_type, filename, size_bytes, data, error, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, t.tenant(), m.ID, m.MessageID, m.ProviderID, m.MimeType, m.Filename, m.SizeBytes, data, m.Error, micros(t.Now))
	if err != nil {
		return Media{}, fmt.Errorf("add media: %w", err)
	}
	return m, nil
}

// MediaOf lists a message's files (without their bytes).
func (t *Tx) MediaOf(ctx context.Context, messageID string) ([]Media, error) {
	rows, err := t.query(ctx, `SELECT id, message_id, provider_id, mime_type, filename, size_bytes, error, created_at FROM media
WHERE tenant_id = $1 AND message_id = $2 ORDER BY id`, t.tenant(), messageID)
	if err != nil {
		return nil, fmt.Errorf("list media: %w", err)
	}
	defer rows.Close()
	out := []Media{}
	for rows.Next() {
		var m Media
		var cr int64
		if err := rows.Scan(&m.ID, &m.MessageID, &m.ProviderID, &m.MimeType, &m.Filename, &m.SizeBytes, &m.Error, &cr); err != nil {
			return nil, err
		}
		m.CreatedAt = fromMicros(cr)
		out = append(out, m)
	}
	return out, rows.Err()
}

// MediaData reads one file's bytes.
func (t *Tx) MediaData(ctx context.Context, id string) (Media, []byte, error) {
	var m Media
	var data []byte
	var cr int64
	err := t.queryRow(ctx, `SELECT id, message_id, provider_id, mime_type, filename, size_bytes, error, created_at, data FROM media
WHERE tenant_id = $1 AND id = $2`, t.tenant(), id).Scan(&m.ID, &m.MessageID, &m.ProviderID, &m.MimeType, &m.Filename, &m.SizeBytes, &m.Error, &cr, &data)
	m.CreatedAt = fromMicros(cr)
	return m, data, notFound(err, "media")
}
