package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/metachat/metachat/internal/apperr"
)

// ChannelByID reads a channel of an active tenant by id alone, for public
// webhook routes that learn the tenant from the channel (system scope). A
// suspended tenant's channels are not found, as for the widget: nothing
// reaches the tenant, and no bot answers on its behalf.
func (t *Tx) ChannelByID(ctx context.Context, id string) (Channel, error) {
	cols := strings.Split(channelCols, ", ")
	for i, c := range cols {
		cols[i] = "c." + c
	}
	var status string
	row := t.queryRow(ctx, `SELECT `+strings.Join(cols, ", ")+`, tn.status FROM channels c JOIN tenants tn ON tn.id = c.tenant_id WHERE c.id = $1`, id)
	c, err := scanChannel(withStatus{row, &status})
	if err != nil {
		return Channel{}, notFound(err, "channel")
	}
	if status != "active" {
		return Channel{}, apperr.New(apperr.NotFound, "channel not found")
	}
	return c, nil
}

// withStatus scans a channel row followed by its tenant's status.
type withStatus struct {
	row    *sql.Row
	status *string
}

func (w withStatus) Scan(dest ...any) error { return w.row.Scan(append(dest, w.status)...) }

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
		// At most once a minute: every webhook of a channel updating its
		// row would serialise them all on that row's lock.
		ChannelInbound:  `UPDATE channels SET last_inbound_at = $1 WHERE tenant_id = $2 AND id = $3 AND last_inbound_at < $4`,
		ChannelOutbound: `UPDATE channels SET last_outbound_at = $1, last_error = '' WHERE tenant_id = $2 AND id = $3`,
		ChannelVerified: `UPDATE channels SET webhook_verified_at = $1 WHERE tenant_id = $2 AND id = $3`,
	}[ev]
	args := []any{micros(t.Now), t.tenant(), id}
	if ev == ChannelInbound {
		args = append(args, micros(t.Now.Add(-time.Minute)))
	}
	_, err := t.exec(ctx, q, args...)
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

// AdvanceDeliveryUpTo applies a watermark receipt (Messenger, Instagram),
// which names no message: every message the channel sent the contact with
// externalID up to the watermark has reached status. It returns the ids of
// the messages that changed; as with AdvanceDelivery, none moves back.
func (t *Tx) AdvanceDeliveryUpTo(ctx context.Context, channelID, externalID string, watermark time.Time, status string, rank int) ([]string, error) {
	rows, err := t.query(ctx, `UPDATE messages SET delivery = $1, delivery_error = ''
WHERE tenant_id = $2 AND channel_id = $3 AND provider_message_id IS NOT NULL AND role IN ('assistant', 'agent')
  AND created_at <= $4 AND `+deliveryRank+` < $5
  AND conversation_id IN (SELECT cv.id FROM conversations cv JOIN contacts ct ON ct.tenant_id = cv.tenant_id AND ct.id = cv.contact_id
                          WHERE cv.tenant_id = $2 AND cv.channel_id = $3 AND ct.external_id = $6)
RETURNING id`, status, t.tenant(), channelID, micros(watermark), rank, externalID)
	if err != nil {
		return nil, fmt.Errorf("advance delivery up to a watermark: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// MarkInbound records that the contact wrote at at (the 24-hour window
// restarts) and clears the need for a template. Providers redeliver for
// days and in no order, so an older message arriving late moves nothing:
// the window runs from the newest message.
func (t *Tx) MarkInbound(ctx context.Context, conversationID string, at time.Time) error {
	_, err := t.exec(ctx, `UPDATE conversations SET
    needs_template = CASE WHEN last_inbound_at < $1 THEN $2 ELSE needs_template END,
    last_inbound_at = CASE WHEN last_inbound_at < $1 THEN $1 ELSE last_inbound_at END
WHERE tenant_id = $3 AND id = $4`,
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

// EarlyStatus is a status report kept until its message's provider id is
// stored.
type EarlyStatus struct {
	Status       string
	Rank         int
	Error        string
	WindowClosed bool
}

// earlyStatusHorizon is how long an early status waits for its message.
const earlyStatusHorizon = 7 * 24 * time.Hour

// StashEarlyStatus keeps a status report for a provider id no message has
// yet; of several, the highest-ranked is kept. Reports older than the
// horizon are forgotten on the way.
func (t *Tx) StashEarlyStatus(ctx context.Context, channelID, providerID string, s EarlyStatus) error {
	if _, err := t.exec(ctx, `DELETE FROM early_statuses WHERE tenant_id = $1 AND received_at < $2`, t.tenant(), micros(t.Now.Add(-earlyStatusHorizon))); err != nil {
		return fmt.Errorf("prune early statuses: %w", err)
	}
	_, err := t.exec(ctx, `INSERT INTO early_statuses (tenant_id, channel_id, provider_message_id, status, rank, error, window_closed, received_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (tenant_id, channel_id, provider_message_id) DO UPDATE SET status = excluded.status, rank = excluded.rank,
  error = excluded.error, window_closed = excluded.window_closed, received_at = excluded.received_at
WHERE excluded.rank > early_statuses.rank`, t.tenant(), channelID, providerID, s.Status, s.Rank, s.Error, s.WindowClosed, micros(t.Now))
	if err != nil {
		return fmt.Errorf("stash early status: %w", err)
	}
	return nil
}

// ClaimEarlyStatus takes the status report kept for a provider id, if any.
func (t *Tx) ClaimEarlyStatus(ctx context.Context, channelID, providerID string) (EarlyStatus, bool, error) {
	var s EarlyStatus
	err := t.queryRow(ctx, `DELETE FROM early_statuses WHERE tenant_id = $1 AND channel_id = $2 AND provider_message_id = $3
RETURNING status, rank, error, window_closed`, t.tenant(), channelID, providerID).Scan(&s.Status, &s.Rank, &s.Error, &s.WindowClosed)
	if errors.Is(err, sql.ErrNoRows) {
		return s, false, nil
	}
	if err != nil {
		return s, false, fmt.Errorf("claim early status: %w", err)
	}
	return s, true, nil
}
