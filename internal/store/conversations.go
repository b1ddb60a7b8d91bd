package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Contact is a person on one channel (a widget visitor, a WhatsApp user).
type Contact struct {
	ID         string    `json:"id"`
	ChannelID  string    `json:"channel_id"`
	ExternalID string    `json:"external_id"`
	Name       string    `json:"name"`
	Email      string    `json:"email"`
	Phone      string    `json:"phone"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
}

const contactCols = `id, channel_id, external_id, name, email, phone, created_at, last_seen_at`

func scanContact(sc interface{ Scan(...any) error }) (Contact, error) {
	var c Contact
	var cr, ls int64
	err := sc.Scan(&c.ID, &c.ChannelID, &c.ExternalID, &c.Name, &c.Email, &c.Phone, &cr, &ls)
	c.CreatedAt, c.LastSeenAt = fromMicros(cr), fromMicros(ls)
	return c, err
}

// UpsertContact returns the contact with externalID on the channel,
// creating it on first sight, and records that it was seen now.
func (t *Tx) UpsertContact(ctx context.Context, channelID, externalID, name string) (Contact, error) {
	c, err := scanContact(t.queryRow(ctx, `INSERT INTO contacts (tenant_id, id, channel_id, external_id, name, created_at, last_seen_at)
VALUES ($1, $2, $3, $4, $5, $6, $6)
ON CONFLICT (tenant_id, channel_id, external_id) DO UPDATE SET last_seen_at = excluded.last_seen_at,
    name = CASE WHEN excluded.name <> '' THEN excluded.name ELSE contacts.name END
RETURNING `+contactCols, t.tenant(), NewID(), channelID, externalID, name, micros(t.Now)))
	if err != nil {
		return Contact{}, fmt.Errorf("upsert contact: %w", err)
	}
	return c, nil
}

// ContactByExternalID finds a contact by its id on the channel.
func (t *Tx) ContactByExternalID(ctx context.Context, channelID, externalID string) (Contact, error) {
	c, err := scanContact(t.queryRow(ctx, `SELECT `+contactCols+` FROM contacts WHERE tenant_id = $1 AND channel_id = $2 AND external_id = $3`, t.tenant(), channelID, externalID))
	return c, notFound(err, "contact")
}

// GetContact reads a contact of the scope's tenant.
func (t *Tx) GetContact(ctx context.Context, id string) (Contact, error) {
	c, err := scanContact(t.queryRow(ctx, `SELECT `+contactCols+` FROM contacts WHERE tenant_id = $1 AND id = $2`, t.tenant(), id))
	return c, notFound(err, "contact")
}

// Conversation is one thread between a contact and the tenant.
type Conversation struct {
	ID            string    `json:"id"`
	ChannelID     string    `json:"channel_id"`
	ContactID     string    `json:"contact_id"`
	Status        string    `json:"status"`
	AssigneeID    string    `json:"assignee_id"`
	LastSeq       int64     `json:"last_seq"`
	LastMessageAt time.Time `json:"last_message_at"`
	CreatedAt     time.Time `json:"created_at"`
	// LastInboundAt is when the contact last wrote: provider channels
	// may answer freely only within 24 hours of it.
	LastInboundAt time.Time `json:"-"`
	// NeedsTemplate is set when the provider refused a message because
	// the customer-service window closed: an agent must send a template.
	NeedsTemplate bool `json:"needs_template"`
	// Contact is filled in by listings (DESIGN §7's conversation shape).
	Contact *Contact `json:"contact,omitempty"`
}

const conversationCols = `id, channel_id, contact_id, status, assignee_id, last_seq, last_message_at, created_at, last_inbound_at, needs_template`

func scanConversation(sc interface{ Scan(...any) error }) (Conversation, error) {
	var r conversationRow
	err := sc.Scan(r.dest()...)
	return r.value(), err
}

// conversationRow holds a scanned conversation's raw columns, so a query
// joining it with other tables can scan it in the same row.
type conversationRow struct {
	c          Conversation
	asg        sql.NullString
	lm, cr, li int64
}

func (r *conversationRow) dest() []any {
	return []any{&r.c.ID, &r.c.ChannelID, &r.c.ContactID, &r.c.Status, &r.asg, &r.c.LastSeq, &r.lm, &r.cr, &r.li, &r.c.NeedsTemplate}
}

func (r *conversationRow) value() Conversation {
	c := r.c
	c.AssigneeID, c.LastMessageAt, c.CreatedAt = r.asg.String, fromMicros(r.lm), fromMicros(r.cr)
	if r.li > 0 {
		c.LastInboundAt = fromMicros(r.li)
	}
	return c
}

// CreateConversation opens a conversation with the bot.
func (t *Tx) CreateConversation(ctx context.Context, channelID, contactID string) (Conversation, error) {
	c := Conversation{ID: NewID(), ChannelID: channelID, ContactID: contactID, Status: "bot", LastMessageAt: t.Now, CreatedAt: t.Now}
	_, err := t.exec(ctx, `INSERT INTO conversations (tenant_id, id, channel_id, contact_id, status, last_seq, last_message_at, created_at, updated_at)
VALUES ($1, $2, $3, $4, 'bot', 0, $5, $5, $5)`, t.tenant(), c.ID, channelID, contactID, micros(t.Now))
	if err != nil {
		return Conversation{}, fmt.Errorf("create conversation: %w", err)
	}
	return c, nil
}

// GetConversation reads one of the scope's tenant's conversations.
func (t *Tx) GetConversation(ctx context.Context, id string) (Conversation, error) {
	c, err := scanConversation(t.queryRow(ctx, `SELECT `+conversationCols+` FROM conversations WHERE tenant_id = $1 AND id = $2`, t.tenant(), id))
	return c, notFound(err, "conversation")
}

// LatestConversation returns the contact's newest conversation.
func (t *Tx) LatestConversation(ctx context.Context, contactID string) (Conversation, error) {
	c, err := scanConversation(t.queryRow(ctx, `SELECT `+conversationCols+` FROM conversations WHERE tenant_id = $1 AND contact_id = $2 ORDER BY id DESC LIMIT 1`, t.tenant(), contactID))
	return c, notFound(err, "conversation")
}

// ConversationFilter narrows a conversation list; empty fields match all.
type ConversationFilter struct {
	Status, ChannelID, AssigneeID string
}

// ListConversations pages through conversations, newest first.
func (t *Tx) ListConversations(ctx context.Context, f ConversationFilter, p Page) ([]Conversation, error) {
	bound := p.After
	if bound == "" {
		bound = "ffffffff-ffff-ffff-ffff-ffffffffffff"
	}
	where := []string{"tenant_id = $1", "id < $2"}
	args := []any{t.tenant(), bound}
	// Each optional filter adds a fixed condition with a bind parameter;
	// values never enter the SQL text.
	for _, c := range []struct{ col, val string }{{"status", f.Status}, {"channel_id", f.ChannelID}, {"assignee_id", f.AssigneeID}} {
		if c.val != "" {
			args = append(args, c.val)
			where = append(where, c.col+" = $"+strconv.Itoa(len(args)))
		}
	}
	args = append(args, p.Limit)
	q := `SELECT c.id, c.channel_id, c.contact_id, c.status, c.assignee_id, c.last_seq, c.last_message_at, c.created_at, c.needs_template,
    k.id, k.channel_id, k.external_id, k.name, k.email, k.phone, k.created_at, k.last_seen_at
FROM conversations c JOIN contacts k ON k.tenant_id = c.tenant_id AND k.id = c.contact_id
WHERE c.` + strings.Join(where, " AND c.") + ` ORDER BY c.id DESC LIMIT $` + strconv.Itoa(len(args))
	rows, err := t.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list conversations: %w", err)
	}
	defer rows.Close()
	out := []Conversation{}
	for rows.Next() {
		var c Conversation
		var k Contact
		var asg sql.NullString
		var lm, cr, kc, ks int64
		if err := rows.Scan(&c.ID, &c.ChannelID, &c.ContactID, &c.Status, &asg, &c.LastSeq, &lm, &cr, &c.NeedsTemplate,
			&k.ID, &k.ChannelID, &k.ExternalID, &k.Name, &k.Email, &k.Phone, &kc, &ks); err != nil {
			return nil, err
		}
		c.AssigneeID, c.LastMessageAt, c.CreatedAt = asg.String, fromMicros(lm), fromMicros(cr)
		k.CreatedAt, k.LastSeenAt = fromMicros(kc), fromMicros(ks)
		c.Contact = &k
		out = append(out, c)
	}
	return out, rows.Err()
}

// SetConversationStatus changes status and assignee ("" clears it).
func (t *Tx) SetConversationStatus(ctx context.Context, id, status, assigneeID string) error {
	res, err := t.exec(ctx, `UPDATE conversations SET status = $1, assignee_id = $2, updated_at = $3 WHERE tenant_id = $4 AND id = $5`,
		status, nullString(assigneeID), micros(t.Now), t.tenant(), id)
	return mustAffect(res, err, "conversation")
}
