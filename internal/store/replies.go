package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"
)

// ReplyContext is what answering one inbound message starts from.
type ReplyContext struct {
	Inbound Message
	// Answered is set when a reply to Inbound is stored already.
	Answered     bool
	Conversation Conversation
	// AssistantID is the channel's assistant ("" for none); Assistant is
	// zero when there is none or it was deleted.
	AssistantID  string
	Assistant    Assistant
	HasAssistant bool
	// KnowledgeVersion is the tenant's searchable-set version in the same
	// snapshot (0: nothing indexed yet).
	KnowledgeVersion int64
}

// ReplyContext reads the inbound message, whether it was answered, its
// conversation, the channel's assistant and the knowledge version in one
// statement: a reply job runs it for every message, and each round trip
// to PostgreSQL costs both sides CPU.
func (t *Tx) ReplyContext(ctx context.Context, inboundID string) (ReplyContext, error) {
	var rc ReplyContext
	var m messageRow
	var c conversationRow
	var chAsst, aID, aName, aSettings, aCreds sql.NullString
	var aCreated, aUpdated sql.NullInt64
	dest := append(m.dest(), &rc.Answered)
	dest = append(dest, c.dest()...)
	dest = append(dest, &chAsst, &aID, &aName, &aSettings, &aCreds, &aCreated, &aUpdated, &rc.KnowledgeVersion)
	err := t.queryRow(ctx, replyContextSQL, t.tenant(), inboundID).Scan(dest...)
	if err != nil {
		return ReplyContext{}, notFound(err, "message")
	}
	rc.Inbound, rc.Conversation, rc.AssistantID = m.value(), c.value(), chAsst.String
	if aID.Valid {
		rc.HasAssistant = true
		rc.Assistant = Assistant{ID: aID.String, Name: aName.String, Settings: json.RawMessage(aSettings.String), Credentials: aCreds.String,
			CreatedAt: fromMicros(aCreated.Int64), UpdatedAt: fromMicros(aUpdated.Int64)}
	}
	return rc, nil
}

var replyContextSQL = `SELECT ` + columnsOf("m", messageCols) + `,
    EXISTS (SELECT 1 FROM messages r WHERE r.tenant_id = m.tenant_id AND r.reply_to = m.id),
    ` + columnsOf("c", conversationCols) + `,
    ch.assistant_id, a.id, a.name, a.settings, a.credentials, a.created_at, a.updated_at,
    COALESCE((SELECT k.version FROM knowledge_state k WHERE k.tenant_id = m.tenant_id), 0)
FROM messages m
JOIN conversations c ON c.tenant_id = m.tenant_id AND c.id = m.conversation_id
JOIN channels ch ON ch.tenant_id = c.tenant_id AND ch.id = c.channel_id
LEFT JOIN assistants a ON a.tenant_id = ch.tenant_id AND a.id = ch.assistant_id
WHERE m.tenant_id = $1 AND m.id = $2`

// ChannelOf is what writing a message needs to know of its channel.
type ChannelOf struct {
	Type        string
	AssistantID string
}

// WriteTarget is a conversation as writing a message into it needs it.
type WriteTarget struct {
	Conversation Conversation
	Channel      ChannelOf
	// ClientIDTaken is set when a message with the client id asked about
	// is stored in the conversation already (a resend).
	ClientIDTaken bool
}

// ConversationForWrite reads a conversation with its channel's type and
// assistant, and whether clientID ("" for none) was used already, in one
// statement (see ReplyContext).
func (t *Tx) ConversationForWrite(ctx context.Context, id, clientID string) (WriteTarget, error) {
	var w WriteTarget
	var c conversationRow
	var asst sql.NullString
	err := t.queryRow(ctx, conversationForWriteSQL, t.tenant(), id, nullString(clientID)).Scan(append(c.dest(), &w.Channel.Type, &asst, &w.ClientIDTaken)...)
	if err != nil {
		return WriteTarget{}, notFound(err, "conversation")
	}
	w.Conversation, w.Channel.AssistantID = c.value(), asst.String
	return w, nil
}

var conversationForWriteSQL = `SELECT ` + columnsOf("c", conversationCols) + `, ch.type, ch.assistant_id,
    EXISTS (SELECT 1 FROM messages m WHERE m.tenant_id = c.tenant_id AND m.conversation_id = c.id AND m.client_id = $3)
FROM conversations c JOIN channels ch ON ch.tenant_id = c.tenant_id AND ch.id = c.channel_id
WHERE c.tenant_id = $1 AND c.id = $2`

// columnsOf qualifies a column list with a table alias.
func columnsOf(alias, cols string) string {
	parts := strings.Split(cols, ", ")
	for i, p := range parts {
		parts[i] = alias + "." + p
	}
	return strings.Join(parts, ", ")
}
