// Package conversations holds contacts, conversations and messages: the
// rules for who may write what, sequence numbers, idempotent resends,
// handoff and resolution, and the live events every write publishes.
package conversations

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/metachat/metachat/internal/apperr"
	"github.com/metachat/metachat/internal/auth"
	"github.com/metachat/metachat/internal/realtime"
	"github.com/metachat/metachat/internal/store"
)

// MaxTextLen bounds a message's text, in characters.
const MaxTextLen = 4000

// MaxClientIDLen bounds a client-chosen message id.
const MaxClientIDLen = 64

// Enqueuer queues the bot's replies to inbound messages, in the
// transaction that stores the messages (so neither exists without the
// other).
type Enqueuer interface {
	EnqueueReplies(ctx context.Context, tx *store.Tx, rs []ReplyRequest) error
}

// ReplyRequest asks for the bot's reply to a stored inbound message.
type ReplyRequest struct {
	Message   store.Message
	RequestID string
}

// Service manages conversations and publishes their events.
type Service struct {
	store   *store.Store
	bus     realtime.Publisher
	log     *slog.Logger
	replies Enqueuer
	deliver Deliverer
	groups  groups // the group commits that write messages (batch.go)
}

// SetReplies connects the reply queue (nil: nobody answers automatically).
func (s *Service) SetReplies(e Enqueuer) { s.replies = e }

// NewService returns the service.
func NewService(st *store.Store, bus realtime.Publisher, log *slog.Logger) *Service {
	s := &Service{store: st, bus: bus, log: log}
	s.initGroups()
	return s
}

// Store exposes the store to the live endpoints that read history.
func (s *Service) Store() *store.Store { return s.store }

// CheckText validates a message text, naming field.
func CheckText(field, text string) (string, error) {
	if !utf8.ValidString(text) {
		return "", apperr.Field(field, "must be valid UTF-8")
	}
	text = strings.TrimSpace(text)
	if text == "" {
		return "", apperr.Field(field, "must not be empty")
	}
	if utf8.RuneCountInString(text) > MaxTextLen {
		return "", apperr.Field(field, "must be at most 4000 characters")
	}
	return text, nil
}

// CheckClientID validates an optional client id.
func CheckClientID(field, id string) error {
	if len(id) > MaxClientIDLen {
		return apperr.Field(field, "must be at most 64 characters")
	}
	for _, c := range id {
		if c < 0x21 || c > 0x7e {
			return apperr.Field(field, "must be printable ASCII without spaces")
		}
	}
	return nil
}

// Inbound is a message from a contact.
type Inbound struct {
	TenantID, ChannelID, ContactID string
	// ExternalID names the contact on the channel when ContactID is not
	// known yet: the contact is then created in the message's transaction.
	ExternalID string
	// ConversationID is the conversation to write to; "" starts one (or
	// continues the contact's latest).
	ConversationID string
	Text, ClientID string
	// RequestID travels into the reply job's logs.
	RequestID string

	// Provider channels (WhatsApp, Messenger, Instagram, Telegram):
	// ProviderMessageID makes a redelivered webhook a no-op; ContactName
	// names a new contact; At is when the contact wrote (the 24-hour
	// window); Meta keeps the provider's payload.
	ProviderMessageID string
	ContactName       string
	At                time.Time
	Meta              json.RawMessage
	// NoReply stores the message without asking the bot (a reaction).
	NoReply bool
	// AfterAppend runs in the message's transaction (queueing a media
	// download, say), so the two are stored together or not at all.
	AfterAppend func(ctx context.Context, tx *store.Tx, m store.Message) error
}

// Deliverer queues sending a message out through its provider channel, in
// the transaction that stores it.
type Deliverer interface {
	EnqueueDelivery(ctx context.Context, tx *store.Tx, messageID string) error
}

// SetDeliverer connects outbound delivery for provider channels.
func (s *Service) SetDeliverer(d Deliverer) { s.deliver = d }

// deliverVia marks m for delivery by its provider when its channel (of
// type channelType) has one, and reports whether it did.
func (s *Service) deliverVia(channelType string, m *store.Message) bool {
	if s.deliver == nil {
		return false
	}
	switch channelType {
	case "whatsapp", "messenger", "instagram", "telegram":
		m.Delivery = "pending"
		return true
	}
	return false
}

// Appended is the result of writing a message.
type Appended struct {
	Message      store.Message
	Conversation store.Conversation
	// Duplicate is set when the client id was seen before: the stored
	// message is returned and nothing new was written.
	Duplicate bool
}

// PostInbound stores a contact's message. A resolved conversation is
// reopened with the bot; a resend with a known client id is a no-op. The
// write may share a transaction with others (batch.go): when ctx ends
// first, PostInbound returns ctx's error, and the message may still be
// stored (its resend is then that no-op).
func (s *Service) PostInbound(ctx context.Context, in Inbound) (Appended, error) {
	text, err := checkInbound(in)
	if err != nil {
		return Appended{}, err
	}
	w := &inboundWrite{in: in, text: text}
	if err := s.inboundGroup(in).Do(ctx, w); err != nil {
		return Appended{}, err
	}
	s.publishAppended(ctx, in.TenantID, w.out, w.changed)
	return w.out, nil
}

// postInboundAlone stores one message in a transaction of its own.
func (s *Service) postInboundAlone(ctx context.Context, w *inboundWrite) error {
	write := func(tx *store.Tx) error { return s.appendInbounds(ctx, tx, []*inboundWrite{w}) }
	err := s.store.Write(ctx, store.TenantScope(w.in.TenantID), write)
	if errors.Is(err, store.ErrDuplicate) {
		// A concurrent resend won the race: answer with its message.
		err = s.store.Read(ctx, store.TenantScope(w.in.TenantID), write)
		w.changed = false
	}
	return err
}

// enqueueReplies queues the bot's replies to stored messages.
func (s *Service) enqueueReplies(ctx context.Context, tx *store.Tx, rs []ReplyRequest) error {
	if len(rs) == 0 {
		return nil
	}
	if err := s.replies.EnqueueReplies(ctx, tx, rs); err != nil {
		return fmt.Errorf("enqueue reply: %w", err)
	}
	return nil
}

// PostInboundBatch stores one tenant's messages in one transaction, in
// order (provider webhooks processed in bulk). When the transaction fails,
// each message is stored alone, so one cannot fail the others; errs holds
// each message's outcome.
func (s *Service) PostInboundBatch(ctx context.Context, tenantID string, ins []Inbound) []error {
	errs := make([]error, len(ins))
	ws := make([]*inboundWrite, len(ins)) // nil where the message is invalid
	var valid []*inboundWrite
	for i, in := range ins {
		if in.TenantID != tenantID {
			errs[i] = fmt.Errorf("message of tenant %s in a batch of tenant %s", in.TenantID, tenantID)
			continue
		}
		text, err := checkInbound(in)
		if errs[i] = err; err == nil {
			ws[i] = &inboundWrite{in: in, text: text}
			valid = append(valid, ws[i])
		}
	}
	if len(valid) == 0 {
		return errs
	}
	err := s.store.Write(ctx, store.TenantScope(tenantID), func(tx *store.Tx) error { return s.appendInbounds(ctx, tx, valid) })
	for i, w := range ws {
		switch {
		case w == nil:
		case err != nil:
			_, errs[i] = s.PostInbound(ctx, w.in)
		default:
			s.publishAppended(ctx, tenantID, w.out, w.changed)
		}
	}
	return errs
}

// appendInbounds stores ws in tx, in order, and queues the bot's replies
// to them with one insert.
func (s *Service) appendInbounds(ctx context.Context, tx *store.Tx, ws []*inboundWrite) error {
	var rs []ReplyRequest
	for _, w := range ws {
		var reply bool
		var err error
		if w.out, w.changed, reply, err = s.appendInbound(ctx, tx, w.in, w.text); err != nil {
			return err
		}
		if reply {
			rs = append(rs, ReplyRequest{Message: w.out.Message, RequestID: w.in.RequestID})
		}
	}
	return s.enqueueReplies(ctx, tx, rs)
}

func checkInbound(in Inbound) (string, error) {
	text, err := CheckText("text", in.Text)
	if err != nil {
		return "", err
	}
	return text, CheckClientID("client_id", in.ClientID)
}

// publishAppended tells live clients about a stored inbound message.
func (s *Service) publishAppended(ctx context.Context, tenantID string, out Appended, statusChanged bool) {
	if out.Duplicate {
		return
	}
	if statusChanged {
		s.publishStatus(ctx, tenantID, out.Conversation.ID, "bot")
	}
	s.publishMessage(ctx, tenantID, out.Message)
}

// appendInbound stores in in tx: the contact, the conversation (reopened
// with the bot when resolved) and the message unless it is a resend.
// statusChanged reports a reopened conversation; reply, that the bot is to
// answer (the caller queues the job, in the same transaction).
func (s *Service) appendInbound(ctx context.Context, tx *store.Tx, in Inbound, text string) (out Appended, statusChanged, reply bool, err error) {
	var conv store.Conversation
	if in.ContactID == "" {
		ct, err := tx.UpsertContact(ctx, in.ChannelID, in.ExternalID, in.ContactName)
		if err != nil {
			return out, false, false, err
		}
		in.ContactID = ct.ID
	}
	// The channel's assistant decides whether a reply job is queued;
	// read with the conversation, it costs no round trip of its own.
	var ch *store.ChannelOf
	clientIDTaken := in.ClientID != "" // unless the read below says otherwise
	if in.ConversationID != "" {
		var w store.WriteTarget
		w, err = tx.ConversationForWrite(ctx, in.ConversationID, in.ClientID)
		conv, ch, clientIDTaken = w.Conversation, &w.Channel, w.ClientIDTaken
	} else {
		conv, err = tx.LatestConversation(ctx, in.ContactID)
	}
	switch {
	case apperr.Is(err, apperr.NotFound) && in.ConversationID == "":
		if conv, err = tx.CreateConversation(ctx, in.ChannelID, in.ContactID); err != nil {
			return out, false, false, err
		}
	case err != nil:
		return out, false, false, err
	}
	if conv.ContactID != in.ContactID {
		return out, false, false, apperr.New(apperr.NotFound, "conversation not found")
	}
	if clientIDTaken {
		if m, err := tx.MessageByClientID(ctx, conv.ID, in.ClientID); err == nil {
			return Appended{Message: m, Conversation: conv, Duplicate: true}, false, false, nil
		} else if !apperr.Is(err, apperr.NotFound) {
			return out, false, false, err
		}
	}
	if in.ProviderMessageID != "" {
		if m, err := tx.MessageByProviderID(ctx, in.ChannelID, in.ProviderMessageID); err == nil {
			return Appended{Message: m, Conversation: conv, Duplicate: true}, false, false, nil
		} else if !apperr.Is(err, apperr.NotFound) {
			return out, false, false, err
		}
	}
	if conv.Status == "resolved" {
		if err := tx.SetConversationStatus(ctx, conv.ID, "bot", ""); err != nil {
			return out, false, false, err
		}
		conv.Status, conv.AssigneeID, statusChanged = "bot", "", true
	}
	m, err := tx.AppendMessage(ctx, store.Message{ConversationID: conv.ID, Role: "user", Text: text, ClientID: in.ClientID,
		AuthorID: in.ContactID, ProviderMessageID: in.ProviderMessageID, Meta: in.Meta})
	if err != nil {
		return out, false, false, err
	}
	if in.ProviderMessageID != "" {
		at := in.At
		if at.IsZero() || at.After(tx.Now) {
			at = tx.Now
		}
		if err := tx.MarkInbound(ctx, conv.ID, at); err != nil {
			return out, false, false, err
		}
		if err := tx.TouchChannel(ctx, in.ChannelID, store.ChannelInbound); err != nil {
			return out, false, false, err
		}
	}
	if in.AfterAppend != nil {
		if err := in.AfterAppend(ctx, tx, m); err != nil {
			return out, false, false, err
		}
	}
	if conv.Status == "bot" && s.replies != nil && !in.NoReply {
		// Only a channel with an assistant gets a reply job: the queue
		// costs writes that channels without a bot should not pay.
		if ch == nil {
			c, err := tx.GetChannel(ctx, conv.ChannelID)
			if err != nil {
				return out, false, false, err
			}
			ch = &store.ChannelOf{Type: c.Type, AssistantID: c.AssistantID}
		}
		reply = ch.AssistantID != ""
	}
	conv.LastSeq = m.Seq
	return Appended{Message: m, Conversation: conv}, statusChanged, reply, nil
}

// MessageEvent is the widget protocol's message frame.
type MessageEvent struct {
	Type    string      `json:"type"`
	Seq     int64       `json:"seq"`
	Message WireMessage `json:"message"`
}

// WireMessage is a message as live clients see it.
type WireMessage struct {
	ID        string          `json:"id"`
	Role      string          `json:"role"`
	Text      string          `json:"text"`
	CreatedAt string          `json:"created_at"`
	ClientID  string          `json:"client_id,omitempty"`
	Citations json.RawMessage `json:"citations,omitempty"`
}

// Wire renders m for live clients.
func Wire(m store.Message) MessageEvent {
	w := WireMessage{ID: m.ID, Role: m.Role, Text: m.Text, CreatedAt: m.CreatedAt.Format("2006-01-02T15:04:05.000000Z07:00"), ClientID: m.ClientID}
	if len(m.Citations) > 0 && string(m.Citations) != "[]" {
		w.Citations = m.Citations
	}
	return MessageEvent{Type: "message", Seq: m.Seq, Message: w}
}

func (s *Service) publishMessage(ctx context.Context, tenantID string, m store.Message) {
	data, _ := json.Marshal(Wire(m))
	s.publish(ctx, realtime.Event{TenantID: tenantID, ConversationID: m.ConversationID, Type: "message", Seq: m.Seq, Data: data})
}

func (s *Service) publishStatus(ctx context.Context, tenantID, conversationID, status string) {
	data, _ := json.Marshal(map[string]string{"type": "status", "status": status})
	s.publish(ctx, realtime.Event{TenantID: tenantID, ConversationID: conversationID, Type: "status", Data: data})
}

// PublishDelta streams a piece of a reply being written (message_id is the
// id the final message will have).
func (s *Service) PublishDelta(ctx context.Context, tenantID, conversationID, messageID, text string) {
	data, _ := json.Marshal(map[string]string{"type": "delta", "message_id": messageID, "text": text})
	s.publish(ctx, realtime.Event{TenantID: tenantID, ConversationID: conversationID, Type: "delta", Data: data})
}

// WithBot reports whether the bot still owns the conversation; a reply
// being written checks it so no streamed text reaches a visitor a person
// has taken over.
func (s *Service) WithBot(ctx context.Context, tenantID, conversationID string) (bool, error) {
	var status string
	err := s.store.Read(ctx, store.TenantScope(tenantID), func(tx *store.Tx) error {
		c, err := tx.GetConversation(ctx, conversationID)
		status = c.Status
		return err
	})
	return status == "bot", err
}

// StoreReply stores the bot's reply to an inbound message (m.ReplyTo) and
// publishes it — unless the conversation left the bot meanwhile (a person
// took over while the model was thinking) or a reply exists already (a
// retried job): both are quiet no-ops.
func (s *Service) StoreReply(ctx context.Context, tenantID string, m store.Message) error {
	return s.storeBotMessage(ctx, tenantID, m, "")
}

// HandoffByBot gives the conversation to a person and stores the bot's
// message telling the visitor so, in one transaction.
func (s *Service) HandoffByBot(ctx context.Context, tenantID string, m store.Message) error {
	return s.storeBotMessage(ctx, tenantID, m, "human")
}

func (s *Service) storeBotMessage(ctx context.Context, tenantID string, m store.Message, newStatus string) error {
	var out store.Message
	var stored bool
	var err error
	if newStatus == "" {
		w := &botWrite{tenantID: tenantID, m: m}
		err = s.botReplyGroup(tenantID, m.ConversationID).Do(ctx, w)
		out, stored = w.out, w.stored
	} else {
		out, stored, err = s.storeBotMessageAlone(ctx, tenantID, m, newStatus)
	}
	if err != nil || !stored {
		return err
	}
	if newStatus != "" {
		s.publishStatus(ctx, tenantID, m.ConversationID, newStatus)
	}
	s.publishMessage(ctx, tenantID, out)
	return nil
}

// storeBotMessageAlone stores a bot message in a transaction of its own.
// A reply stored already, or a conversation gone, is a quiet no-op.
func (s *Service) storeBotMessageAlone(ctx context.Context, tenantID string, m store.Message, newStatus string) (out store.Message, stored bool, err error) {
	err = s.store.Write(ctx, store.TenantScope(tenantID), func(tx *store.Tx) error {
		var err error
		out, stored, err = s.appendBotMessage(ctx, tx, m, newStatus)
		return err
	})
	if errors.Is(err, store.ErrDuplicate) || apperr.Is(err, apperr.NotFound) {
		return store.Message{}, false, nil
	}
	return out, stored && err == nil, err
}

// appendBotMessage stores m in tx unless the conversation left the bot,
// giving the conversation newStatus first when set.
func (s *Service) appendBotMessage(ctx context.Context, tx *store.Tx, m store.Message, newStatus string) (store.Message, bool, error) {
	w, err := tx.ConversationForWrite(ctx, m.ConversationID, "")
	if err != nil {
		return store.Message{}, false, err
	}
	conv, ch := w.Conversation, w.Channel
	if conv.Status != "bot" {
		return store.Message{}, false, nil
	}
	if newStatus != "" {
		if err := tx.SetConversationStatus(ctx, conv.ID, newStatus, ""); err != nil {
			return store.Message{}, false, err
		}
		if err := tx.Audit(ctx, store.AuditEntry{ActorType: "system", Action: "conversation.handoff", TargetType: "conversation", TargetID: conv.ID}); err != nil {
			return store.Message{}, false, err
		}
	}
	deliver := s.deliverVia(ch.Type, &m)
	out, err := tx.AppendMessage(ctx, m)
	if err != nil {
		return store.Message{}, false, err
	}
	if deliver {
		if err := s.deliver.EnqueueDelivery(ctx, tx, out.ID); err != nil {
			return store.Message{}, false, fmt.Errorf("enqueue delivery: %w", err)
		}
	}
	return out, true, nil
}

// PublishTyping tells the conversation's live clients that role is typing.
func (s *Service) PublishTyping(ctx context.Context, tenantID, conversationID, role string) {
	data, _ := json.Marshal(map[string]string{"type": "typing", "role": role})
	s.publish(ctx, realtime.Event{TenantID: tenantID, ConversationID: conversationID, Type: "typing", Data: data})
}

// publish is best effort: the write is committed already, and clients that
// miss the event catch up from the database by seq when they reconnect or
// see the next one.
func (s *Service) publish(ctx context.Context, e realtime.Event) {
	if err := s.bus.Publish(context.WithoutCancel(ctx), e); err != nil {
		s.log.Warn("publish event", "error", err, "tenant_id", e.TenantID, "conversation_id", e.ConversationID)
	}
}

// List pages through the principal's tenant's conversations.
func (s *Service) List(ctx context.Context, p *auth.Principal, f store.ConversationFilter, pg store.Page) ([]store.Conversation, error) {
	scope, err := p.Scope()
	if err != nil {
		return nil, err
	}
	var out []store.Conversation
	err = s.store.Read(ctx, scope, func(tx *store.Tx) error {
		out, err = tx.ListConversations(ctx, f, pg)
		return err
	})
	return out, err
}

// Get reads one conversation with its contact.
func (s *Service) Get(ctx context.Context, p *auth.Principal, id string) (store.Conversation, error) {
	scope, err := p.Scope()
	if err != nil {
		return store.Conversation{}, err
	}
	var out store.Conversation
	err = s.store.Read(ctx, scope, func(tx *store.Tx) error {
		if out, err = tx.GetConversation(ctx, id); err != nil {
			return err
		}
		ct, err := tx.GetContact(ctx, out.ContactID)
		out.Contact = &ct
		return err
	})
	return out, err
}

// Messages lists a conversation's messages after a seq, notes included
// (agents see them; visitors never do).
func (s *Service) Messages(ctx context.Context, p *auth.Principal, id string, afterSeq int64, limit int) ([]store.Message, error) {
	scope, err := p.Scope()
	if err != nil {
		return nil, err
	}
	var out []store.Message
	err = s.store.Read(ctx, scope, func(tx *store.Tx) error {
		if _, err := tx.GetConversation(ctx, id); err != nil {
			return err
		}
		out, err = tx.ListMessages(ctx, id, afterSeq, limit, true)
		return err
	})
	return out, err
}

// AgentMessage is a message an agent (or an API client) writes.
type AgentMessage struct {
	Text     string
	Note     bool // a private note, for agents only
	ClientID string
	// Meta carries a WhatsApp template to send instead of text.
	Meta json.RawMessage
}

// PostAgentMessage stores an agent's reply or note. A reply takes the
// conversation from the bot (status human, assigned to the agent when
// unassigned); a note changes nothing.
func (s *Service) PostAgentMessage(ctx context.Context, p *auth.Principal, conversationID string, am AgentMessage) (Appended, error) {
	var fe apperr.Fields
	text, err := CheckText("text", am.Text)
	if err != nil {
		fe = append(fe, err.(*apperr.Error).Fields...)
	}
	if err := CheckClientID("client_id", am.ClientID); err != nil {
		fe = append(fe, err.(*apperr.Error).Fields...)
	}
	if err := fe.Err(); err != nil {
		return Appended{}, err
	}
	scope, err := p.Scope()
	if err != nil {
		return Appended{}, err
	}
	role := "agent"
	if am.Note {
		role = "note"
	}
	_, author := p.ActorID()
	var out Appended
	statusChanged := false
	write := func(tx *store.Tx) error {
		w, err := tx.ConversationForWrite(ctx, conversationID, am.ClientID)
		if err != nil {
			return err
		}
		conv, ch := w.Conversation, w.Channel
		if w.ClientIDTaken {
			if m, err := tx.MessageByClientID(ctx, conv.ID, am.ClientID); err == nil {
				out = Appended{Message: m, Conversation: conv, Duplicate: true}
				return nil
			} else if !apperr.Is(err, apperr.NotFound) {
				return err
			}
		}
		if !am.Note && conv.Status != "human" {
			assignee := conv.AssigneeID
			if assignee == "" && p.Kind == "session" {
				assignee = p.UserID
			}
			if err := tx.SetConversationStatus(ctx, conv.ID, "human", assignee); err != nil {
				return err
			}
			conv.Status, conv.AssigneeID, statusChanged = "human", assignee, true
		}
		msg := store.Message{ConversationID: conv.ID, Role: role, Text: text, ClientID: am.ClientID, AuthorID: author, Meta: am.Meta}
		deliver := !am.Note && s.deliverVia(ch.Type, &msg)
		m, err := tx.AppendMessage(ctx, msg)
		if err != nil {
			return err
		}
		if deliver {
			if err := s.deliver.EnqueueDelivery(ctx, tx, m.ID); err != nil {
				return fmt.Errorf("enqueue delivery: %w", err)
			}
		}
		conv.LastSeq = m.Seq
		out = Appended{Message: m, Conversation: conv}
		return nil
	}
	err = s.store.Write(ctx, scope, write)
	if errors.Is(err, store.ErrDuplicate) {
		statusChanged = false
		err = s.store.Read(ctx, scope, write)
	}
	if err != nil {
		return Appended{}, err
	}
	if !out.Duplicate {
		if statusChanged {
			s.publishStatus(ctx, p.TenantID, conversationID, out.Conversation.Status)
		}
		s.publishMessage(ctx, p.TenantID, out.Message)
	}
	return out, nil
}

// SetStatus hands a conversation to a human ("human"), back to the bot
// ("bot") or resolves it ("resolved").
func (s *Service) SetStatus(ctx context.Context, p *auth.Principal, id, status string) (store.Conversation, error) {
	scope, err := p.Scope()
	if err != nil {
		return store.Conversation{}, err
	}
	var out store.Conversation
	err = s.store.Write(ctx, scope, func(tx *store.Tx) error {
		conv, err := tx.GetConversation(ctx, id)
		if err != nil {
			return err
		}
		assignee := conv.AssigneeID
		switch status {
		case "human":
			if assignee == "" && p.Kind == "session" {
				assignee = p.UserID
			}
		case "bot", "resolved":
			assignee = ""
		}
		if err := tx.SetConversationStatus(ctx, id, status, assignee); err != nil {
			return err
		}
		conv.Status, conv.AssigneeID = status, assignee
		out = conv
		return tx.Audit(ctx, p.Audit("conversation."+status, "conversation", id, ""))
	})
	if err != nil {
		return store.Conversation{}, err
	}
	s.publishStatus(ctx, p.TenantID, id, status)
	return out, nil
}
