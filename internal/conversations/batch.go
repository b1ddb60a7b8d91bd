package conversations

import (
	"context"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"github.com/metachat/metachat/internal/groupcommit"
	"github.com/metachat/metachat/internal/store"
)

// Visitors' messages and the bot's replies are written through group
// commits, a few of each per tenant (a transaction has one tenant's scope):
// while one transaction is in flight, the writes that arrive meanwhile
// wait and share the next. Under load a transaction then carries many
// conversations' messages, and its BEGIN, COMMIT, WAL flush and job
// insert are paid once for all of them; at rest each write goes alone, at
// once. When a shared transaction fails, every write in it is retried
// alone, so one bad message cannot fail the others.
//
// Within a transaction the writes go in the order of their conversation
// ids (a stable sort, so one conversation's messages keep their order):
// two transactions that touch the same conversations lock them in the
// same order and cannot deadlock.

const (
	// batchMax bounds one shared transaction.
	batchMax = 64
	// batchLinger is how long a write may wait for others under load
	// (groupcommit.Group.Linger; never at rest).
	batchLinger = 2 * time.Millisecond
	// batchShards is how many groups of each kind a tenant has. On 2
	// cores four did better than one (bench/replies): with one, the
	// machine idled while a batch waited on its round trips.
	batchShards = 4
	// batchTimeout bounds one shared transaction: it no longer runs under
	// any one caller's context.
	batchTimeout = 30 * time.Second
)

// inboundWrite is one PostInbound in a shared transaction.
type inboundWrite struct {
	in      Inbound
	text    string
	out     Appended
	changed bool
}

// inboundGroup is the group a contact's messages are written through:
// always the same one, so they keep their order.
func (s *Service) inboundGroup(in Inbound) *groupcommit.Group[*inboundWrite] {
	contact := in.ContactID
	if contact == "" {
		contact = in.ChannelID + "/" + in.ExternalID
	}
	key := groupKey{in.TenantID, s.shardOf(contact)}
	if g, ok := s.inbound.Load(key); ok {
		return g.(*groupcommit.Group[*inboundWrite])
	}
	g, _ := s.inbound.LoadOrStore(key, &groupcommit.Group[*inboundWrite]{Max: batchMax, Linger: batchLinger, Write: s.writeInbound})
	return g.(*groupcommit.Group[*inboundWrite])
}

// groupKey names one of a tenant's groups.
type groupKey struct {
	tenantID string
	shard    uint32
}

// shardOf spreads a tenant's writes over s.shards groups, so that a busy
// tenant has that many shared transactions in flight, not one: each runs
// its statements one round trip at a time. A contact (or a conversation)
// always lands in the same group.
func (s *Service) shardOf(id string) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	return h.Sum32() % s.shards
}

func (s *Service) writeInbound(ws []*inboundWrite) []error {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	errs := make([]error, len(ws))
	alone := func() {
		for i, w := range ws {
			w.out, w.changed, errs[i] = s.postInboundAlone(ctx, w.in, w.text)
		}
	}
	if len(ws) == 1 {
		alone()
		return errs
	}
	sorted := slices.Clone(ws)
	slices.SortStableFunc(sorted, func(a, b *inboundWrite) int { return strings.Compare(a.in.ConversationID, b.in.ConversationID) })
	err := s.store.Write(ctx, store.TenantScope(ws[0].in.TenantID), func(tx *store.Tx) error {
		var rs []ReplyRequest
		for _, w := range sorted {
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
	})
	if err != nil {
		alone()
	}
	return errs
}

// botWrite is one StoreReply in a shared transaction.
type botWrite struct {
	m      store.Message
	out    store.Message
	stored bool
}

func (s *Service) botReplyGroup(tenantID, conversationID string) *groupcommit.Group[*botWrite] {
	key := groupKey{tenantID, s.shardOf(conversationID)}
	if g, ok := s.botReplies.Load(key); ok {
		return g.(*groupcommit.Group[*botWrite])
	}
	g, _ := s.botReplies.LoadOrStore(key, &groupcommit.Group[*botWrite]{Max: batchMax, Linger: batchLinger,
		Write: func(ws []*botWrite) []error { return s.writeBotReplies(tenantID, ws) }})
	return g.(*groupcommit.Group[*botWrite])
}

func (s *Service) writeBotReplies(tenantID string, ws []*botWrite) []error {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	errs := make([]error, len(ws))
	alone := func() {
		for i, w := range ws {
			w.out, w.stored, errs[i] = s.storeBotMessageAlone(ctx, tenantID, w.m, "")
		}
	}
	if len(ws) == 1 {
		alone()
		return errs
	}
	sorted := slices.Clone(ws)
	slices.SortStableFunc(sorted, func(a, b *botWrite) int { return strings.Compare(a.m.ConversationID, b.m.ConversationID) })
	err := s.store.Write(ctx, store.TenantScope(tenantID), func(tx *store.Tx) error {
		for _, w := range sorted {
			var err error
			if w.out, w.stored, err = s.appendBotMessage(ctx, tx, w.m, ""); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// A retried job's reply (ErrDuplicate) or a conversation deleted
		// meanwhile lands here too: alone, each is a quiet no-op.
		alone()
	}
	return errs
}
