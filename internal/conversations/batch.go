package conversations

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/metachat/metachat/internal/groupcommit"
	"github.com/metachat/metachat/internal/store"
)

// Visitors' messages and the bot's replies are written through group
// commits, one pair per tenant (a transaction has one tenant's scope):
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

func (s *Service) inboundGroup(tenantID string) *groupcommit.Group[*inboundWrite] {
	if g, ok := s.inbound.Load(tenantID); ok {
		return g.(*groupcommit.Group[*inboundWrite])
	}
	g, _ := s.inbound.LoadOrStore(tenantID, &groupcommit.Group[*inboundWrite]{Max: batchMax, Linger: batchLinger, Write: s.writeInbound})
	return g.(*groupcommit.Group[*inboundWrite])
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

func (s *Service) botReplyGroup(tenantID string) *groupcommit.Group[*botWrite] {
	if g, ok := s.botReplies.Load(tenantID); ok {
		return g.(*groupcommit.Group[*botWrite])
	}
	g, _ := s.botReplies.LoadOrStore(tenantID, &groupcommit.Group[*botWrite]{Max: batchMax, Linger: batchLinger,
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
