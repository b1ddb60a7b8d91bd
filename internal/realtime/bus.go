// Package realtime fans events out to live clients (widget WebSockets,
// dashboard streams): in process on the embedded store, and between
// processes through PostgreSQL LISTEN/NOTIFY when scaled out.
package realtime

import (
	"context"
	"encoding/json"
	"sync"
)

// Event is something live clients of a conversation should hear about.
type Event struct {
	TenantID       string `json:"tenant_id"`
	ConversationID string `json:"conversation_id"`
	// Type is message, status, typing or delta.
	Type string `json:"type"`
	// Seq is the message's seq for message events. Subscribers that see a
	// seq beyond the next one they expect fetch the gap from the database,
	// so a lost or truncated event never loses a message.
	Seq int64 `json:"seq,omitempty"`
	// Data is the event's payload as sent to clients; it may be omitted
	// (too large to forward) for message events, which are then fetched.
	Data json.RawMessage `json:"data,omitempty"`
}

// Publisher sends events; Publish must not block on slow subscribers.
type Publisher interface {
	Publish(ctx context.Context, e Event) error
}

// Subscription receives a conversation's events until closed.
type Subscription struct {
	C    <-chan Event
	c    chan Event
	key  string
	hub  *Hub
	once sync.Once
	// Overflowed is closed when the subscriber fell behind and events were
	// dropped; the subscriber must resynchronise from the database.
	Overflowed chan struct{}
}

// Close stops the subscription.
func (s *Subscription) Close() {
	s.once.Do(func() { s.hub.remove(s) })
}

// Hub is the in-process fan-out: subscribers by tenant and conversation.
type Hub struct {
	mu   sync.RWMutex
	subs map[string]map[*Subscription]struct{}
}

// NewHub returns an empty hub.
func NewHub() *Hub { return &Hub{subs: map[string]map[*Subscription]struct{}{}} }

func key(tenantID, conversationID string) string { return tenantID + "/" + conversationID }

// Subscribe listens to one conversation. buffer bounds how far a
// subscriber may fall behind before it is told to resynchronise.
func (h *Hub) Subscribe(tenantID, conversationID string, buffer int) *Subscription {
	c := make(chan Event, buffer)
	s := &Subscription{C: c, c: c, key: key(tenantID, conversationID), hub: h, Overflowed: make(chan struct{})}
	h.mu.Lock()
	m := h.subs[s.key]
	if m == nil {
		m = map[*Subscription]struct{}{}
		h.subs[s.key] = m
	}
	m[s] = struct{}{}
	h.mu.Unlock()
	return s
}

// SubscribeTenant listens to every event of a tenant (every conversation,
// documents, deliveries): the dashboard's live views.
func (h *Hub) SubscribeTenant(tenantID string, buffer int) *Subscription {
	return h.Subscribe(tenantID, allConversations, buffer)
}

// allConversations is the conversation key of tenant-wide subscriptions
// (conversation ids are UUIDs, never this).
const allConversations = "*"

func (h *Hub) remove(s *Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if m := h.subs[s.key]; m != nil {
		delete(m, s)
		if len(m) == 0 {
			delete(h.subs, s.key)
		}
	}
}

// Deliver hands e to the local subscribers without blocking: one that is
// full is marked overflowed instead.
func (h *Hub) Deliver(e Event) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for s := range h.subs[key(e.TenantID, e.ConversationID)] {
		s.offer(e)
	}
	if e.ConversationID != allConversations {
		for s := range h.subs[key(e.TenantID, allConversations)] {
			s.offer(e)
		}
	}
}

// offer hands e over without blocking, or marks the subscriber as behind.
func (s *Subscription) offer(e Event) {
	select {
	case s.c <- e:
	default:
		select {
		case <-s.Overflowed:
		default:
			close(s.Overflowed)
		}
	}
}

// ResyncAll tells every subscriber to resynchronise from the database (the
// event stream had a gap, e.g. the LISTEN connection was lost).
func (h *Hub) ResyncAll() {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, m := range h.subs {
		for s := range m {
			select {
			case <-s.Overflowed:
			default:
				close(s.Overflowed)
			}
		}
	}
}

// Publish delivers in process (the embedded, single-process mode).
func (h *Hub) Publish(_ context.Context, e Event) error {
	h.Deliver(e)
	return nil
}

// Subscribers counts live subscriptions (for metrics and tests).
func (h *Hub) Subscribers() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	n := 0
	for _, m := range h.subs {
		n += len(m)
	}
	return n
}
