package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Message is one entry of a conversation. Seq numbers a conversation's
// messages 1, 2, 3… with no gaps, assigned in the writing transaction.
type Message struct {
	ID                string `json:"id"`
	ConversationID    string `json:"conversation_id"`
	ChannelID         string `json:"-"`
	Seq               int64  `json:"seq"`
	Role              string `json:"role"`
	Text              string `json:"text"`
	ClientID          string `json:"client_id,omitempty"`
	ProviderMessageID string `json:"provider_message_id,omitempty"`
	AuthorID          string `json:"author_id,omitempty"`
	Delivery          string `json:"delivery"`
	// DeliveryError says why a message to a provider channel failed.
	DeliveryError string          `json:"delivery_error,omitempty"`
	Citations     json.RawMessage `json:"citations"`
	// ReplyTo is the inbound message an assistant reply answers; unique,
	// so a retried reply job can never store a second answer.
	ReplyTo string `json:"reply_to,omitempty"`
	// Meta records how a reply was made (usage, language, decisions).
	Meta      json.RawMessage `json:"meta,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
}

const messageCols = `id, conversation_id, channel_id, seq, role, text, client_id, provider_message_id, author_id, delivery, citations, reply_to, meta, created_at, delivery_error`

func scanMessage(sc interface{ Scan(...any) error }) (Message, error) {
	var r messageRow
	err := sc.Scan(r.dest()...)
	return r.value(), err
}

// messageRow holds a scanned message's raw columns (see conversationRow).
type messageRow struct {
	m            Message
	cid, pid, rt sql.NullString
	cit, meta    string
	cr           int64
}

func (r *messageRow) dest() []any {
	return []any{&r.m.ID, &r.m.ConversationID, &r.m.ChannelID, &r.m.Seq, &r.m.Role, &r.m.Text, &r.cid, &r.pid, &r.m.AuthorID, &r.m.Delivery, &r.cit, &r.rt, &r.meta, &r.cr, &r.m.DeliveryError}
}

func (r *messageRow) value() Message {
	m := r.m
	m.ClientID, m.ProviderMessageID, m.Citations, m.CreatedAt = r.cid.String, r.pid.String, json.RawMessage(r.cit), fromMicros(r.cr)
	m.ReplyTo = r.rt.String
	if r.meta != "{}" && r.meta != "" {
		m.Meta = json.RawMessage(r.meta)
	}
	return m
}

// MessageByClientID finds a message by the id its client gave it.
func (t *Tx) MessageByClientID(ctx context.Context, conversationID, clientID string) (Message, error) {
	m, err := scanMessage(t.queryRow(ctx, `SELECT `+messageCols+` FROM messages WHERE tenant_id = $1 AND conversation_id = $2 AND client_id = $3`, t.tenant(), conversationID, clientID))
	return m, notFound(err, "message")
}

// AppendMessage adds m to its conversation with the next seq. The
// conversation row's update serialises concurrent writers, so seqs never
// collide or skip.
func (t *Tx) AppendMessage(ctx context.Context, m Message) (Message, error) {
	if m.ID == "" {
		m.ID = NewID()
	}
	m.CreatedAt = t.Now
	if len(m.Citations) == 0 {
		m.Citations = json.RawMessage("[]")
	}
	meta := "{}"
	if len(m.Meta) > 0 {
		meta = string(m.Meta)
	}
	args := []any{t.tenant(), m.ID, m.ConversationID, m.Role, m.Text, nullString(m.ClientID), nullString(m.ProviderMessageID), m.AuthorID, m.Delivery,
		string(m.Citations), nullString(m.ReplyTo), meta, micros(t.Now), m.DeliveryError}
	var err error
	if t.dialect == Postgres {
		// One statement, one round trip: every message a conversation
		// gets (two per bot reply) pays for it.
		err = t.queryRow(ctx, appendMessagePostgres, args...).Scan(&m.Seq, &m.ChannelID)
	} else {
		err = t.queryRow(ctx, `UPDATE conversations SET last_seq = last_seq + 1, last_message_at = $2, updated_at = $2
WHERE tenant_id = $1 AND id = $3 RETURNING last_seq, channel_id`, t.tenant(), micros(t.Now), m.ConversationID).Scan(&m.Seq, &m.ChannelID)
		if err == nil {
			_, err = t.exec(ctx, `INSERT INTO messages (tenant_id, `+messageCols+`)
VALUES ($1, $2, $3, $15, $16, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`, append(args, m.ChannelID, m.Seq)...)
		}
	}
	if isUniqueViolation(err) {
		return Message{}, ErrDuplicate
	}
	if errors.Is(err, sql.ErrNoRows) {
		return Message{}, notFound(err, "conversation")
	}
	if err != nil {
		return Message{}, fmt.Errorf("append message: %w", err)
	}
	return m, nil
}

// appendMessagePostgres takes the conversation's next seq and stores the
// message with it; no conversation, no row (sql.ErrNoRows).
const appendMessagePostgres = `WITH c AS (
    UPDATE conversations SET last_seq = last_seq + 1, last_message_at = $13, updated_at = $13
    WHERE tenant_id = $1 AND id = $3 RETURNING last_seq, channel_id)
INSERT INTO messages (tenant_id, ` + messageCols + `)
SELECT $1, $2, $3, c.channel_id, c.last_seq, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14 FROM c
RETURNING seq, channel_id`

// GetMessage reads one message.
func (t *Tx) GetMessage(ctx context.Context, id string) (Message, error) {
	m, err := scanMessage(t.queryRow(ctx, `SELECT `+messageCols+` FROM messages WHERE tenant_id = $1 AND id = $2`, t.tenant(), id))
	return m, notFound(err, "message")
}

// ReplyTo finds the reply already stored for an inbound message.
func (t *Tx) ReplyTo(ctx context.Context, inboundID string) (Message, error) {
	m, err := scanMessage(t.queryRow(ctx, `SELECT `+messageCols+` FROM messages WHERE tenant_id = $1 AND reply_to = $2`, t.tenant(), inboundID))
	return m, notFound(err, "reply")
}

// RecentMessages returns the last n messages before (and excluding)
// beforeSeq, oldest first, notes excluded: the history a reply sees.
func (t *Tx) RecentMessages(ctx context.Context, conversationID string, beforeSeq int64, n int) ([]Message, error) {
	rows, err := t.query(ctx, `SELECT `+messageCols+` FROM messages WHERE tenant_id = $1 AND conversation_id = $2 AND seq < $3 AND role <> 'note' ORDER BY seq DESC LIMIT $4`,
		t.tenant(), conversationID, beforeSeq, n)
	if err != nil {
		return nil, fmt.Errorf("recent messages: %w", err)
	}
	defer rows.Close()
	var out []Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, rows.Err()
}

// ErrDuplicate reports that a message with the same client or provider id
// exists already.
var ErrDuplicate = fmt.Errorf("duplicate message")

// ListMessages returns up to limit messages with seq > afterSeq in order.
// Notes are internal to agents: withNotes selects whether they are included.
func (t *Tx) ListMessages(ctx context.Context, conversationID string, afterSeq int64, limit int, withNotes bool) ([]Message, error) {
	q := `SELECT ` + messageCols + ` FROM messages WHERE tenant_id = $1 AND conversation_id = $2 AND seq > $3`
	if !withNotes {
		q += ` AND role <> 'note'`
	}
	rows, err := t.query(ctx, q+` ORDER BY seq LIMIT $4`, t.tenant(), conversationID, afterSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("list messages: %w", err)
	}
	defer rows.Close()
	out := []Message{}
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// MessageByProviderID finds a message by the id its provider gave it.
func (t *Tx) MessageByProviderID(ctx context.Context, channelID, providerID string) (Message, error) {
	m, err := scanMessage(t.queryRow(ctx, `SELECT `+messageCols+` FROM messages WHERE tenant_id = $1 AND channel_id = $2 AND provider_message_id = $3`, t.tenant(), channelID, providerID))
	return m, notFound(err, "message")
}
