package conversations

import (
	"cmp"
	"context"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"github.com/metachat/metachat/internal/groupcommit"
	"github.com/metachat/metachat/internal/store"
)

// Visitors' messages and the bot's replies are written through group
// commits, a few of each per process: while one write is in flight, the
// writes that arrive meanwhile wait and go in the next, one transaction per
// tenant among them (a transaction has one tenant's scope). Under load a
// transaction then carries many conversations' messages, and its BEGIN,
// COMMIT, WAL flush and job insert are paid once for all of them; at rest
// each write goes alone, at once. When a shared transaction fails, every
// write in it is retried alone, so one bad message cannot fail the others.
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
	// batchShards is how many groups of each kind a process has. On 2
	// cores four did better than one (bench/replies): with one, the
	// machine idled while a write waited on its round trips.
	batchShards = 4
	// batchTimeout bounds one shared transaction: it no longer runs under
	// any one caller's context.
	batchTimeout = 30 * time.Second
)

// groups are a Service's group commits.
type groups struct {
	inbound []*groupcommit.Group[*inboundWrite]
	replies []*groupcommit.Group[*botWrite]
	n       uint32 // how many of each are used (tests set 1)
}

func (s *Service) initGroups() {
	s.groups.n = batchShards
	for range batchShards {
		s.groups.inbound = append(s.groups.inbound, &groupcommit.Group[*inboundWrite]{Max: batchMax, Linger: batchLinger, Write: s.writeInbound})
		s.groups.replies = append(s.groups.replies, &groupcommit.Group[*botWrite]{Max: batchMax, Linger: batchLinger, Write: s.writeBotReplies})
	}
}

// shardOf spreads writes over the groups, so that that many shared
// transactions can be in flight, not one: each runs its statements one
// round trip at a time. A contact (or a conversation) always lands in the
// same group, so its writes keep their order.
func (s *Service) shardOf(tenantID, id string) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(tenantID))
	_, _ = h.Write([]byte(id))
	return h.Sum32() % s.groups.n
}

// inboundWrite is one PostInbound in a shared transaction.
type inboundWrite struct {
	in      Inbound
	text    string
	out     Appended
	changed bool
}

func (s *Service) inboundGroup(in Inbound) *groupcommit.Group[*inboundWrite] {
	contact := in.ContactID
	if contact == "" {
		contact = in.ChannelID + "/" + in.ExternalID
	}
	return s.groups.inbound[s.shardOf(in.TenantID, contact)]
}

func (s *Service) writeInbound(ws []*inboundWrite) []error {
	return writeShared(s, ws, func(w *inboundWrite) (string, string) { return w.in.TenantID, w.in.ConversationID },
		s.appendInbounds, s.postInboundAlone)
}

// botWrite is one StoreReply in a shared transaction.
type botWrite struct {
	tenantID string
	m        store.Message
	out      store.Message
	stored   bool
}

func (s *Service) botReplyGroup(tenantID, conversationID string) *groupcommit.Group[*botWrite] {
	return s.groups.replies[s.shardOf(tenantID, conversationID)]
}

func (s *Service) writeBotReplies(ws []*botWrite) []error {
	return writeShared(s, ws, func(w *botWrite) (string, string) { return w.tenantID, w.m.ConversationID },
		func(ctx context.Context, tx *store.Tx, batch []*botWrite) error {
			for _, w := range batch {
				var err error
				if w.out, w.stored, err = s.appendBotMessage(ctx, tx, w.m, ""); err != nil {
					return err
				}
			}
			return nil
		},
		// A retried job's reply (ErrDuplicate) or a conversation deleted
		// meanwhile fails a shared transaction too: alone, each is a quiet
		// no-op.
		func(ctx context.Context, w *botWrite) error {
			var err error
			w.out, w.stored, err = s.storeBotMessageAlone(ctx, w.tenantID, w.m, "")
			return err
		})
}

// writeShared writes ws with one transaction per tenant among them, each
// tenant's writes in conversation order (together); when that transaction
// fails, or a tenant has one write only, each is written alone.
func writeShared[W any](s *Service, ws []W, key func(W) (tenantID, conversationID string),
	together func(context.Context, *store.Tx, []W) error, alone func(context.Context, W) error) []error {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	order := make([]int, len(ws))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		ta, ca := key(ws[a])
		tb, cb := key(ws[b])
		return cmp.Or(strings.Compare(ta, tb), strings.Compare(ca, cb))
	})
	errs := make([]error, len(ws))
	for start := 0; start < len(order); {
		tenantID, _ := key(ws[order[start]])
		end := start + 1
		for end < len(order) {
			if t, _ := key(ws[order[end]]); t != tenantID {
				break
			}
			end++
		}
		run := order[start:end]
		start = end
		if len(run) > 1 {
			batch := make([]W, len(run))
			for i, k := range run {
				batch[i] = ws[k]
			}
			err := s.store.Write(ctx, store.TenantScope(tenantID), func(tx *store.Tx) error { return together(ctx, tx, batch) })
			if err == nil {
				continue
			}
		}
		for _, k := range run {
			errs[k] = alone(ctx, ws[k])
		}
	}
	return errs
}
