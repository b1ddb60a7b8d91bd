package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/metachat/metachat/internal/apperr"
)

// InboxFilter narrows the inbox; empty fields match all.
type InboxFilter struct {
	Status    string // bot | human | resolved
	ChannelID string
	// AssigneeID keeps one user's conversations; Unassigned keeps those
	// without an assignee (AssigneeID is then ignored).
	AssigneeID string
	Unassigned bool
	// Query matches, case-insensitively, the text of any message (notes
	// included: agents wrote them to be found) or the contact's name.
	Query string
}

// InboxRow is a conversation as the inbox lists it.
type InboxRow struct {
	Conversation
	// Unread counts the contact's messages after the user's read mark.
	Unread int64 `json:"unread"`
	// LastText is the newest message's text.
	LastText string `json:"last_text"`
}

// InboxLimit is how many conversations the inbox lists, most recently
// active first (filters find older ones).
const InboxLimit = 100

// likePattern escapes s for LIKE … ESCAPE '\' and wraps it in wildcards.
func likePattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + strings.ToLower(r.Replace(s)) + "%"
}

// ListInbox lists up to limit conversations matching f, most recently
// active first, with userID's unread counts.
func (t *Tx) ListInbox(ctx context.Context, f InboxFilter, userID string, limit int) ([]InboxRow, error) {
	if limit < 1 || limit > InboxLimit {
		limit = InboxLimit
	}
	args := []any{t.tenant(), userID}
	where := []string{"c.tenant_id = $1"}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	// Each filter adds a fixed condition with a bind parameter; values
	// never enter the SQL text.
	if f.Status != "" {
		where = append(where, "c.status = "+arg(f.Status))
	}
	if f.ChannelID != "" {
		where = append(where, "c.channel_id = "+arg(f.ChannelID))
	}
	switch {
	case f.Unassigned:
		where = append(where, "c.assignee_id IS NULL")
	case f.AssigneeID != "":
		where = append(where, "c.assignee_id = "+arg(f.AssigneeID))
	}
	if q := strings.TrimSpace(f.Query); q != "" {
		p := arg(likePattern(q))
		where = append(where, `(lower(k.name) LIKE `+p+` ESCAPE '\' OR EXISTS (SELECT 1 FROM messages s
    WHERE s.tenant_id = c.tenant_id AND s.conversation_id = c.id AND lower(s.text) LIKE `+p+` ESCAPE '\'))`)
	}
	q := `SELECT c.id, c.channel_id, c.contact_id, c.status, c.assignee_id, c.last_seq, c.last_message_at, c.created_at, c.needs_template,
    k.id, k.channel_id, k.external_id, k.name, k.email, k.phone, k.created_at, k.last_seen_at,
    (SELECT count(*) FROM messages u WHERE u.tenant_id = c.tenant_id AND u.conversation_id = c.id AND u.role = 'user'
        AND u.seq > COALESCE(r.last_read_seq, 0)),
    COALESCE((SELECT l.text FROM messages l WHERE l.tenant_id = c.tenant_id AND l.conversation_id = c.id AND l.seq = c.last_seq), '')
FROM conversations c
JOIN contacts k ON k.tenant_id = c.tenant_id AND k.id = c.contact_id
LEFT JOIN conversation_reads r ON r.tenant_id = c.tenant_id AND r.conversation_id = c.id AND r.user_id = $2
WHERE ` + strings.Join(where, " AND ") + `
ORDER BY c.last_message_at DESC, c.id DESC LIMIT ` + arg(limit)
	rows, err := t.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list inbox: %w", err)
	}
	defer rows.Close()
	out := []InboxRow{}
	for rows.Next() {
		var c InboxRow
		var k Contact
		var asg sql.NullString
		var lm, cr, kc, ks int64
		if err := rows.Scan(&c.ID, &c.ChannelID, &c.ContactID, &c.Status, &asg, &c.LastSeq, &lm, &cr, &c.NeedsTemplate,
			&k.ID, &k.ChannelID, &k.ExternalID, &k.Name, &k.Email, &k.Phone, &kc, &ks, &c.Unread, &c.LastText); err != nil {
			return nil, err
		}
		c.AssigneeID, c.LastMessageAt, c.CreatedAt = asg.String, fromMicros(lm), fromMicros(cr)
		k.CreatedAt, k.LastSeenAt = fromMicros(kc), fromMicros(ks)
		c.Contact = &k
		out = append(out, c)
	}
	return out, rows.Err()
}

// MarkRead moves userID's read mark of a conversation forward to seq (a
// mark never moves back).
func (t *Tx) MarkRead(ctx context.Context, conversationID, userID string, seq int64) error {
	_, err := t.exec(ctx, `INSERT INTO conversation_reads (tenant_id, conversation_id, user_id, last_read_seq, updated_at)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (tenant_id, conversation_id, user_id) DO UPDATE SET
    last_read_seq = CASE WHEN excluded.last_read_seq > conversation_reads.last_read_seq THEN excluded.last_read_seq ELSE conversation_reads.last_read_seq END,
    updated_at = excluded.updated_at`, t.tenant(), conversationID, userID, seq, micros(t.Now))
	if err != nil {
		return fmt.Errorf("mark read: %w", err)
	}
	return nil
}

// SetConversationAssignee changes only the assignee ("" clears it).
func (t *Tx) SetConversationAssignee(ctx context.Context, id, assigneeID string) error {
	res, err := t.exec(ctx, `UPDATE conversations SET assignee_id = $1, updated_at = $2 WHERE tenant_id = $3 AND id = $4`,
		nullString(assigneeID), micros(t.Now), t.tenant(), id)
	return mustAffect(res, err, "conversation")
}

// CannedResponse is a reply an agent can insert with one click.
type CannedResponse struct {
	ID        string    `json:"id"`
	Title     string    `json:"title"`
	Text      string    `json:"text"`
	CreatedAt time.Time `json:"created_at"`
}

// MaxCannedResponses bounds a tenant's canned responses.
const MaxCannedResponses = 200

// ListCannedResponses lists the tenant's canned responses by title.
func (t *Tx) ListCannedResponses(ctx context.Context) ([]CannedResponse, error) {
	rows, err := t.query(ctx, `SELECT id, title, text, created_at FROM canned_responses WHERE tenant_id = $1 ORDER BY title LIMIT $2`,
		t.tenant(), MaxCannedResponses)
	if err != nil {
		return nil, fmt.Errorf("list canned responses: %w", err)
	}
	defer rows.Close()
	out := []CannedResponse{}
	for rows.Next() {
		var c CannedResponse
		var cr int64
		if err := rows.Scan(&c.ID, &c.Title, &c.Text, &cr); err != nil {
			return nil, err
		}
		c.CreatedAt = fromMicros(cr)
		out = append(out, c)
	}
	return out, rows.Err()
}

// CreateCannedResponse adds one; a title in use is a conflict.
func (t *Tx) CreateCannedResponse(ctx context.Context, title, text string) (CannedResponse, error) {
	c := CannedResponse{ID: NewID(), Title: title, Text: text, CreatedAt: t.Now}
	_, err := t.exec(ctx, `INSERT INTO canned_responses (tenant_id, id, title, text, created_at) VALUES ($1, $2, $3, $4, $5)`,
		t.tenant(), c.ID, title, text, micros(t.Now))
	if isUniqueViolation(err) {
		return CannedResponse{}, apperr.New(apperr.Conflict, "a canned response with this title exists already")
	}
	if err != nil {
		return CannedResponse{}, fmt.Errorf("create canned response: %w", err)
	}
	return c, nil
}

// CountCannedResponses counts the tenant's canned responses.
func (t *Tx) CountCannedResponses(ctx context.Context) (int, error) {
	var n int
	err := t.queryRow(ctx, `SELECT count(*) FROM canned_responses WHERE tenant_id = $1`, t.tenant()).Scan(&n)
	return n, err
}

// DeleteCannedResponse removes one of the tenant's canned responses.
func (t *Tx) DeleteCannedResponse(ctx context.Context, id string) error {
	res, err := t.exec(ctx, `DELETE FROM canned_responses WHERE tenant_id = $1 AND id = $2`, t.tenant(), id)
	return mustAffect(res, err, "canned response")
}
