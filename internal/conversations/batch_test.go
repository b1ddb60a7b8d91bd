package conversations

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/metachat/metachat/internal/apperr"
	"github.com/metachat/metachat/internal/realtime"
	"github.com/metachat/metachat/internal/store"
	"github.com/metachat/metachat/internal/store/storetest"
)

// The group commits of batch.go, on both dialects: writes that arrive
// while one transaction is in flight share the next, and sharing changes
// nothing a caller can see — each write keeps its own outcome, order,
// idempotence and event.
//
// To make writes share a transaction deterministically, a test holds the
// first write inside its transaction (the fake queue blocks on its first
// call), starts the writes that are to share the next transaction, and
// waits until each is queued in the group — seen in the goroutine profile
// as a goroutine of this test parked in groupcommit's Do — before it lets
// the first write go on.

// fakeQueue is the reply queue (Enqueuer) and the delivery queue
// (Deliverer): it records every call with its transaction, and can hold
// its next call until the test releases it.
type fakeQueue struct {
	mu         sync.Mutex
	replies    []replyCall
	deliveries []deliveryCall
	held       *hold
}

// replyCall is one EnqueueReplies call: one transaction's reply requests.
type replyCall struct {
	tx *store.Tx
	rs []ReplyRequest
}

// deliveryCall is one EnqueueDelivery call.
type deliveryCall struct {
	tx        *store.Tx
	messageID string
}

// hold keeps one queue call, and with it its transaction, waiting.
type hold struct {
	entered, released chan struct{}
	release           func()
}

// holdNext makes the next call (of either kind) wait, once it has been
// recorded, until the returned hold is released; the test's end releases
// it too, so a failing test leaves no transaction open.
func (q *fakeQueue) holdNext(t *testing.T) *hold {
	t.Helper()
	h := &hold{entered: make(chan struct{}), released: make(chan struct{})}
	var once sync.Once
	h.release = func() { once.Do(func() { close(h.released) }) }
	t.Cleanup(h.release)
	q.mu.Lock()
	q.held = h
	q.mu.Unlock()
	return h
}

// waitEntered waits until the held call has been made.
func (h *hold) waitEntered(t *testing.T) {
	t.Helper()
	select {
	case <-h.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the first write never reached the queue")
	}
}

// take returns the armed hold, disarming it (mu is held).
func (q *fakeQueue) take() *hold {
	h := q.held
	q.held = nil
	return h
}

func (h *hold) wait(ctx context.Context) {
	if h == nil {
		return
	}
	close(h.entered)
	select {
	case <-h.released:
	case <-ctx.Done():
	}
}

func (q *fakeQueue) EnqueueReplies(ctx context.Context, tx *store.Tx, rs []ReplyRequest) error {
	q.mu.Lock()
	q.replies = append(q.replies, replyCall{tx: tx, rs: slices.Clone(rs)})
	h := q.take()
	q.mu.Unlock()
	h.wait(ctx)
	return nil
}

func (q *fakeQueue) EnqueueDelivery(ctx context.Context, tx *store.Tx, messageID string) error {
	q.mu.Lock()
	q.deliveries = append(q.deliveries, deliveryCall{tx: tx, messageID: messageID})
	h := q.take()
	q.mu.Unlock()
	h.wait(ctx)
	return nil
}

func (q *fakeQueue) replyCalls() []replyCall {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.replies)
}

func (q *fakeQueue) deliveryCalls() []deliveryCall {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.deliveries)
}

// requestCounts counts the recorded reply requests by message id.
func (q *fakeQueue) requestCounts() map[string]int {
	n := map[string]int{}
	for _, c := range q.replyCalls() {
		for _, r := range c.rs {
			n[r.Message.ID]++
		}
	}
	return n
}

// fixture is a tenant with one channel answered by an assistant, and the
// service writing to it.
type fixture struct {
	st     *store.Store
	s      *Service
	hub    *realtime.Hub
	q      *fakeQueue
	tenant string
	ch     store.Channel
	// label marks the goroutines this fixture starts (see queued).
	label string
}

const labelKey = "batchtest"

// newFixture builds the fixture on a channel of channelType: "web" (the
// widget) or a provider channel ("telegram"), whose bot replies are queued
// for delivery in their transaction — the hook the reply tests hold.
func newFixture(t *testing.T, st *store.Store, channelType string) *fixture {
	t.Helper()
	ctx := context.Background()
	fx := &fixture{st: st, hub: realtime.NewHub(), q: &fakeQueue{}, label: store.NewID()}
	fx.tenant = storetest.NewTenant(t, st, "Acme")
	fx.write(t, func(tx *store.Tx) error {
		a, err := tx.CreateAssistant(ctx, store.Assistant{Name: "Helper", Settings: json.RawMessage(`{}`), Credentials: "sealed:helper"})
		if err != nil {
			return err
		}
		c := store.Channel{Type: channelType, Name: channelType + " channel", AssistantID: a.ID, Config: json.RawMessage(`{}`)}
		if channelType == "web" {
			c.PublicKey = "pk_" + store.NewID()
		}
		fx.ch, err = tx.CreateChannel(ctx, c)
		return err
	})
	fx.s = NewService(st, fx.hub, slog.New(slog.DiscardHandler))
	// One group per tenant: these tests are about what shares it.
	fx.s.groups.n = 1
	fx.s.SetReplies(fx.q)
	fx.s.SetDeliverer(fx.q)
	return fx
}

func (fx *fixture) write(t *testing.T, fn func(tx *store.Tx) error) {
	t.Helper()
	if err := fx.st.Write(context.Background(), store.TenantScope(fx.tenant), fn); err != nil {
		t.Fatal(err)
	}
}

func (fx *fixture) read(t *testing.T, fn func(tx *store.Tx) error) {
	t.Helper()
	if err := fx.st.Read(context.Background(), store.TenantScope(fx.tenant), fn); err != nil {
		t.Fatal(err)
	}
}

// thread creates a contact and a fresh conversation (status bot).
func (fx *fixture) thread(t *testing.T, externalID string) (store.Contact, store.Conversation) {
	t.Helper()
	ctx := context.Background()
	var ct store.Contact
	var cv store.Conversation
	fx.write(t, func(tx *store.Tx) error {
		var err error
		if ct, err = tx.UpsertContact(ctx, fx.ch.ID, externalID, ""); err != nil {
			return err
		}
		cv, err = tx.CreateConversation(ctx, fx.ch.ID, ct.ID)
		return err
	})
	return ct, cv
}

// inbound is the widget's message: contact and conversation known.
func (fx *fixture) inbound(ct store.Contact, cv store.Conversation, clientID string) Inbound {
	return Inbound{TenantID: fx.tenant, ChannelID: fx.ch.ID, ContactID: ct.ID, ConversationID: cv.ID,
		Text: "hello " + clientID, ClientID: clientID}
}

// appendUser stores a visitor's message directly (what a reply answers).
func (fx *fixture) appendUser(t *testing.T, cv store.Conversation, text string) store.Message {
	t.Helper()
	var m store.Message
	fx.write(t, func(tx *store.Tx) error {
		var err error
		m, err = tx.AppendMessage(context.Background(), store.Message{ConversationID: cv.ID, Role: "user", Text: text, AuthorID: cv.ContactID})
		return err
	})
	return m
}

// messages lists a conversation's messages in seq order.
func (fx *fixture) messages(t *testing.T, conversationID string) []store.Message {
	t.Helper()
	var ms []store.Message
	fx.read(t, func(tx *store.Tx) error {
		var err error
		ms, err = tx.ListMessages(context.Background(), conversationID, 0, 1000, true)
		return err
	})
	return ms
}

// exists reports whether a message is stored (committed).
func (fx *fixture) exists(t *testing.T, messageID string) bool {
	t.Helper()
	var err error
	_ = fx.st.Read(context.Background(), store.TenantScope(fx.tenant), func(tx *store.Tx) error {
		_, err = tx.GetMessage(context.Background(), messageID)
		return nil
	})
	if err != nil && !apperr.Is(err, apperr.NotFound) {
		t.Fatal(err)
	}
	return err == nil
}

type posted struct {
	out Appended
	err error
}

// post starts PostInbound in a goroutine of this fixture.
func (fx *fixture) post(in Inbound) <-chan posted {
	ch := make(chan posted, 1)
	fx.spawn(func(ctx context.Context) {
		out, err := fx.s.PostInbound(ctx, in)
		ch <- posted{out, err}
	})
	return ch
}

// reply starts StoreReply in a goroutine of this fixture.
func (fx *fixture) reply(m store.Message) <-chan error {
	ch := make(chan error, 1)
	fx.spawn(func(ctx context.Context) { ch <- fx.s.StoreReply(ctx, fx.tenant, m) })
	return ch
}

func (fx *fixture) spawn(fn func(ctx context.Context)) {
	go pprof.Do(context.Background(), pprof.Labels(labelKey, fx.label), fn)
}

// queued counts this fixture's goroutines waiting in a group commit: parked
// in groupcommit's Do (the top frame; the runtime's frames are not shown),
// which a caller reaches only after queueing its item. The write in
// flight is deeper in Do (flush, Write, …) and is not counted.
func (fx *fixture) queued() int {
	var b bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&b, 1); err != nil {
		panic(err)
	}
	label := fmt.Sprintf("%q:%q", labelKey, fx.label)
	n := 0
	_, body, _ := strings.Cut(b.String(), "\n") // "goroutine profile: total N"
	for _, rec := range strings.Split(body, "\n\n") {
		lines := strings.Split(rec, "\n")
		var count int
		if _, err := fmt.Sscanf(lines[0], "%d @", &count); err != nil {
			continue
		}
		labeled, top := false, ""
		for _, l := range lines[1:] {
			if strings.HasPrefix(l, "# labels: ") && strings.Contains(l, label) {
				labeled = true
			}
			if top == "" && strings.HasPrefix(l, "#\t") {
				top = l
			}
		}
		if labeled && strings.Contains(top, "/internal/groupcommit.(*Group[...]).Do+") {
			n += count
		}
	}
	return n
}

// waitQueued waits until n of this fixture's writes are queued.
func (fx *fixture) waitQueued(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	seen := 0
	for {
		// Twice in a row: a goroutine caught in Do before it queued
		// (between its first instruction and the lock) is not counted as
		// queued by accident.
		if fx.queued() >= n {
			if seen++; seen == 2 {
				return
			}
		} else {
			seen = 0
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued in the group commit after 10s, want %d", fx.queued(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// recv waits for a started write's outcome.
func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatal("a write did not return")
		panic("unreachable")
	}
}

// messageEvents drains a subscription and returns its message events; the
// writes have returned, and each publishes before it returns.
func messageEvents(t *testing.T, sub *realtime.Subscription) []realtime.Event {
	t.Helper()
	var out []realtime.Event
	for {
		select {
		case e := <-sub.C:
			if e.Type == "message" {
				out = append(out, e)
			}
		case <-sub.Overflowed:
			t.Fatal("subscription overflowed")
		default:
			return out
		}
	}
}

func TestMessagesArrivingWhileAWriteIsInFlightShareTheNextTransaction(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		fx := newFixture(t, st, "web")
		type thread struct {
			ct store.Contact
			cv store.Conversation
		}
		var threads []thread
		for i := range 11 {
			ct, cv := fx.thread(t, fmt.Sprintf("visitor-%d", i))
			threads = append(threads, thread{ct, cv})
		}
		subs := map[string]*realtime.Subscription{}
		for _, th := range threads {
			subs[th.cv.ID] = fx.hub.Subscribe(fx.tenant, th.cv.ID, 16)
			defer subs[th.cv.ID].Close()
		}

		h := fx.q.holdNext(t)
		first := fx.post(fx.inbound(threads[0].ct, threads[0].cv, "a1"))
		h.waitEntered(t)
		var rest []<-chan posted
		for i, th := range threads[1:] {
			rest = append(rest, fx.post(fx.inbound(th.ct, th.cv, fmt.Sprintf("m%d", i+1))))
		}
		fx.waitQueued(t, 10)
		h.release()

		results := []posted{recv(t, first)}
		for _, ch := range rest {
			results = append(results, recv(t, ch))
		}
		ids := map[string]bool{}
		for i, r := range results {
			th := threads[i]
			if r.err != nil {
				t.Fatalf("message %d: %v", i, r.err)
			}
			m := r.out.Message
			if r.out.Duplicate || m.ConversationID != th.cv.ID || r.out.Conversation.ID != th.cv.ID || m.Seq != 1 || m.Role != "user" || m.AuthorID != th.ct.ID {
				t.Errorf("message %d = %+v (duplicate %v, conversation %s), want seq 1 of conversation %s by %s", i, m, r.out.Duplicate, r.out.Conversation.ID, th.cv.ID, th.ct.ID)
			}
			ids[m.ID] = true
			var got store.Message
			fx.read(t, func(tx *store.Tx) error {
				var err error
				got, err = tx.GetMessage(context.Background(), m.ID)
				return err
			})
			if got.ConversationID != th.cv.ID || got.Seq != 1 || got.Text != m.Text || got.ClientID != m.ClientID {
				t.Errorf("stored message %d = %+v, want %+v", i, got, m)
			}
			if ms := fx.messages(t, th.cv.ID); len(ms) != 1 {
				t.Errorf("conversation %d holds %d messages, want 1", i, len(ms))
			}
			if evs := messageEvents(t, subs[th.cv.ID]); len(evs) != 1 || evs[0].Seq != 1 {
				t.Errorf("conversation %d: message events %+v, want one, seq 1", i, evs)
			}
		}
		if len(ids) != 11 {
			t.Fatalf("%d distinct message ids, want 11", len(ids))
		}

		counts := fx.q.requestCounts()
		total := 0
		for id, n := range counts {
			total += n
			if !ids[id] || n != 1 {
				t.Errorf("reply requested %d times for message %s (one of ours: %v)", n, id, ids[id])
			}
		}
		if total != 11 {
			t.Errorf("%d reply requests, want 11", total)
		}
		// The ten that waited went into one transaction, whose reply jobs
		// were queued with one call.
		calls := fx.q.replyCalls()
		shared := false
		for _, c := range calls {
			if len(c.rs) == 10 {
				shared = true
			}
		}
		if !shared {
			sizes := []int{}
			for _, c := range calls {
				sizes = append(sizes, len(c.rs))
			}
			t.Errorf("reply requests per transaction %v: the ten messages that waited did not share one", sizes)
		}
	})
}

func TestOneConversationsMessagesKeepTheirOrderInASharedTransaction(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		fx := newFixture(t, st, "web")
		// Others are created before and after the conversation, so that
		// sorting the shared transaction by conversation id moves its
		// messages among theirs; more than 12 writes, past the insertion
		// sort an unstable sort uses for short slices.
		const n = 20
		var others []Inbound
		for i := range n / 2 {
			ct, cv := fx.thread(t, fmt.Sprintf("before-%d", i))
			others = append(others, fx.inbound(ct, cv, "o"))
		}
		ct, cv := fx.thread(t, "visitor")
		for i := range n / 2 {
			ct, cv := fx.thread(t, fmt.Sprintf("after-%d", i))
			others = append(others, fx.inbound(ct, cv, "o"))
		}
		sub := fx.hub.Subscribe(fx.tenant, cv.ID, 64)
		defer sub.Close()

		h := fx.q.holdNext(t)
		first := fx.post(fx.inbound(ct, cv, "c00"))
		h.waitEntered(t)
		// Arrival order is fixed by waiting until each write is queued
		// before starting the next; the conversation's messages alternate
		// with the others'.
		var mine, theirs []<-chan posted
		queued := 0
		for i := range n {
			mine = append(mine, fx.post(fx.inbound(ct, cv, fmt.Sprintf("c%02d", i+1))))
			queued++
			fx.waitQueued(t, queued)
			theirs = append(theirs, fx.post(others[i]))
			queued++
			fx.waitQueued(t, queued)
		}
		h.release()

		if r := recv(t, first); r.err != nil || r.out.Message.Seq != 1 {
			t.Fatalf("first message: seq %d, %v", r.out.Message.Seq, r.err)
		}
		for i, ch := range mine {
			r := recv(t, ch)
			if r.err != nil {
				t.Fatalf("c%02d: %v", i+1, r.err)
			}
			if r.out.Message.Seq != int64(i+2) || r.out.Message.ClientID != fmt.Sprintf("c%02d", i+1) {
				t.Errorf("c%02d got seq %d (client id %q), want %d", i+1, r.out.Message.Seq, r.out.Message.ClientID, i+2)
			}
		}
		for i, ch := range theirs {
			if r := recv(t, ch); r.err != nil || r.out.Message.Seq != 1 {
				t.Errorf("other conversation %d: seq %d, %v", i, r.out.Message.Seq, r.err)
			}
		}
		ms := fx.messages(t, cv.ID)
		var order []string
		for _, m := range ms {
			order = append(order, m.ClientID)
		}
		want := []string{"c00"}
		for i := range n {
			want = append(want, fmt.Sprintf("c%02d", i+1))
		}
		if !slices.Equal(order, want) {
			t.Errorf("stored in seq order: %v\nwant %v", order, want)
		}
		for i, m := range ms {
			if m.Seq != int64(i+1) {
				t.Errorf("message %d has seq %d", i, m.Seq)
			}
		}
		evs := messageEvents(t, sub)
		if len(evs) != n+1 {
			t.Errorf("%d message events, want %d", len(evs), n+1)
		}
		if sizes := len(fx.q.replyCalls()); sizes != 2 {
			t.Errorf("%d reply calls, want 2 (the first write alone, then all the others together)", sizes)
		}
	})
}

func TestABadMessageInASharedTransactionFailsAloneAndTheOthersAreStored(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		fx := newFixture(t, st, "web")
		leadCt, leadCv := fx.thread(t, "lead")
		type good struct {
			in Inbound
			ch <-chan posted
		}
		var goods []*good
		convs := map[string]int{} // messages each good conversation is to hold
		for i := range 6 {
			ct, cv := fx.thread(t, fmt.Sprintf("visitor-%d", i))
			goods = append(goods, &good{in: fx.inbound(ct, cv, fmt.Sprintf("g%d", i))})
			convs[cv.ID]++
			if i == 2 { // a conversation with two messages in the batch
				goods = append(goods, &good{in: fx.inbound(ct, cv, fmt.Sprintf("g%db", i))})
				convs[cv.ID]++
			}
		}
		// A conversation of another contact, and one that does not exist.
		_, foreignCv := fx.thread(t, "someone-else")
		stranger, _ := fx.thread(t, "stranger")
		foreign := fx.inbound(stranger, foreignCv, "bad1")
		missing := fx.inbound(stranger, store.Conversation{ID: store.NewID()}, "bad2")
		goodSub := fx.hub.Subscribe(fx.tenant, goods[0].in.ConversationID, 16)
		defer goodSub.Close()
		foreignSub := fx.hub.Subscribe(fx.tenant, foreignCv.ID, 16)
		defer foreignSub.Close()

		h := fx.q.holdNext(t)
		lead := fx.post(fx.inbound(leadCt, leadCv, "lead"))
		h.waitEntered(t)
		for _, g := range goods[:3] {
			g.ch = fx.post(g.in)
		}
		badForeign := fx.post(foreign)
		for _, g := range goods[3:] {
			g.ch = fx.post(g.in)
		}
		badMissing := fx.post(missing)
		fx.waitQueued(t, len(goods)+2)
		h.release()

		if r := recv(t, lead); r.err != nil {
			t.Fatal(r.err)
		}
		for name, ch := range map[string]<-chan posted{"another contact's conversation": badForeign, "a missing conversation": badMissing} {
			if r := recv(t, ch); !apperr.Is(r.err, apperr.NotFound) {
				t.Errorf("a message to %s: %+v, %v; want NotFound", name, r.out, r.err)
			}
		}
		stored := map[string]bool{}
		for _, g := range goods {
			r := recv(t, g.ch)
			if r.err != nil {
				t.Errorf("good message %s: %v", g.in.ClientID, r.err)
				continue
			}
			if r.out.Duplicate || r.out.Message.ClientID != g.in.ClientID || r.out.Message.ConversationID != g.in.ConversationID {
				t.Errorf("good message %s: %+v", g.in.ClientID, r.out)
			}
			stored[r.out.Message.ID] = true
		}
		// Exactly the good messages are stored, each once: the failed
		// shared transaction left nothing behind, and the retries stored
		// no second copy.
		for id, n := range convs {
			ms := fx.messages(t, id)
			if len(ms) != n {
				t.Errorf("conversation %s holds %d messages, want %d", id, len(ms), n)
			}
			for i, m := range ms {
				if !stored[m.ID] || m.Seq != int64(i+1) {
					t.Errorf("conversation %s: message %+v was not returned to a caller (or seq out of place)", id, m)
				}
			}
		}
		if ms := fx.messages(t, foreignCv.ID); len(ms) != 0 {
			t.Errorf("another contact's conversation got %d messages", len(ms))
		}
		// Reply requests: the recorder cannot tell committed calls from
		// rolled-back ones, so requests are judged against the store. A
		// request naming a message that does not exist came from the
		// rolled-back shared transaction and is allowed (here there are
		// none: the bad message fails the transaction before its
		// EnqueueReplies call); each stored good message has exactly one.
		counts := fx.q.requestCounts()
		for id := range stored {
			if counts[id] != 1 {
				t.Errorf("stored message %s has %d reply requests, want 1", id, counts[id])
			}
		}
		for id, n := range counts {
			if n != 1 && fx.exists(t, id) {
				t.Errorf("stored message %s has %d reply requests, want 1", id, n)
			}
		}
		if evs := messageEvents(t, goodSub); len(evs) != 1 {
			t.Errorf("%d message events for a good message, want 1", len(evs))
		}
		if evs := messageEvents(t, foreignSub); len(evs) != 0 {
			t.Errorf("%d message events in another contact's conversation", len(evs))
		}
	})
}

func TestAResendWithAKnownClientIDInASharedTransactionIsADuplicateNotASecondMessage(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		fx := newFixture(t, st, "web")
		ct, cv := fx.thread(t, "visitor")
		leadCt, leadCv := fx.thread(t, "lead")
		otherCt, otherCv := fx.thread(t, "other")
		orig, err := fx.s.PostInbound(ctx, fx.inbound(ct, cv, "x"))
		if err != nil || orig.Message.Seq != 1 {
			t.Fatalf("first send: %+v, %v", orig, err)
		}
		sub := fx.hub.Subscribe(fx.tenant, cv.ID, 16)
		defer sub.Close()
		otherSub := fx.hub.Subscribe(fx.tenant, otherCv.ID, 16)
		defer otherSub.Close()

		h := fx.q.holdNext(t)
		lead := fx.post(fx.inbound(leadCt, leadCv, "lead"))
		h.waitEntered(t)
		// In the next transaction: the resend of x, a new message y, and a
		// new z sent twice to another conversation (the second send sees
		// the first, written earlier in the same transaction).
		resend := fx.post(fx.inbound(ct, cv, "x"))
		fx.waitQueued(t, 1)
		y := fx.post(fx.inbound(ct, cv, "y"))
		fx.waitQueued(t, 2)
		z1 := fx.post(fx.inbound(otherCt, otherCv, "z"))
		fx.waitQueued(t, 3)
		z2 := fx.post(fx.inbound(otherCt, otherCv, "z"))
		fx.waitQueued(t, 4)
		h.release()

		if r := recv(t, lead); r.err != nil {
			t.Fatal(r.err)
		}
		r := recv(t, resend)
		if r.err != nil || !r.out.Duplicate || r.out.Message.ID != orig.Message.ID || r.out.Message.Seq != 1 {
			t.Errorf("resend of x: %+v, %v; want a duplicate of %s, seq 1", r.out, r.err, orig.Message.ID)
		}
		ry := recv(t, y)
		if ry.err != nil || ry.out.Duplicate || ry.out.Message.Seq != 2 {
			t.Errorf("y: %+v, %v; want a new message, seq 2", ry.out, ry.err)
		}
		rz1, rz2 := recv(t, z1), recv(t, z2)
		if rz1.err != nil || rz1.out.Duplicate || rz1.out.Message.Seq != 1 {
			t.Errorf("z: %+v, %v; want a new message, seq 1", rz1.out, rz1.err)
		}
		if rz2.err != nil || !rz2.out.Duplicate || rz2.out.Message.ID != rz1.out.Message.ID {
			t.Errorf("z again: %+v, %v; want a duplicate of %s", rz2.out, rz2.err, rz1.out.Message.ID)
		}
		var got []string
		for _, m := range fx.messages(t, cv.ID) {
			got = append(got, fmt.Sprintf("%d:%s", m.Seq, m.ClientID))
		}
		if want := []string{"1:x", "2:y"}; !slices.Equal(got, want) {
			t.Errorf("conversation holds %v, want %v", got, want)
		}
		if ms := fx.messages(t, otherCv.ID); len(ms) != 1 {
			t.Errorf("the other conversation holds %d messages, want 1", len(ms))
		}
		// The bot answers each message once: no request for a resend.
		counts := fx.q.requestCounts()
		for _, id := range []string{orig.Message.ID, ry.out.Message.ID, rz1.out.Message.ID} {
			if counts[id] != 1 {
				t.Errorf("message %s has %d reply requests, want 1", id, counts[id])
			}
		}
		if len(counts) != 4 { // x, lead, y, z
			t.Errorf("reply requests for %d messages, want 4", len(counts))
		}
		if evs := messageEvents(t, sub); len(evs) != 1 || evs[0].Seq != 2 {
			t.Errorf("message events %+v, want one, for y (seq 2)", evs)
		}
		if evs := messageEvents(t, otherSub); len(evs) != 1 || evs[0].Seq != 1 {
			t.Errorf("message events %+v in the other conversation, want one, for z", evs)
		}
	})
}

// replyTo is the bot's reply to an inbound message.
func replyTo(in store.Message, text string) store.Message {
	return store.Message{ConversationID: in.ConversationID, Role: "assistant", Text: text, ReplyTo: in.ID}
}

func TestRepliesWrittenTogetherSkipAConversationAPersonTookOver(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		// A provider channel: each reply is queued for delivery in its
		// transaction, which lets the test hold the first one.
		fx := newFixture(t, st, "telegram")
		var ins []store.Message
		var convs []store.Conversation
		for i := range 5 {
			_, cv := fx.thread(t, fmt.Sprintf("visitor-%d", i))
			convs = append(convs, cv)
			ins = append(ins, fx.appendUser(t, cv, "question"))
		}
		const human = 2
		fx.write(t, func(tx *store.Tx) error { return tx.SetConversationStatus(ctx, convs[human].ID, "human", "") })
		subs := map[int]*realtime.Subscription{}
		for i, cv := range convs {
			subs[i] = fx.hub.Subscribe(fx.tenant, cv.ID, 16)
			defer subs[i].Close()
		}

		h := fx.q.holdNext(t)
		done := []<-chan error{fx.reply(replyTo(ins[0], "answer 0"))}
		h.waitEntered(t)
		for i := 1; i < 5; i++ {
			done = append(done, fx.reply(replyTo(ins[i], fmt.Sprintf("answer %d", i))))
		}
		fx.waitQueued(t, 4)
		h.release()
		for i, ch := range done {
			if err := recv(t, ch); err != nil {
				t.Errorf("reply %d: %v", i, err)
			}
		}

		replies := map[string]int{} // stored reply id → conversation index
		for i, cv := range convs {
			ms := fx.messages(t, cv.ID)
			if i == human {
				if len(ms) != 1 {
					t.Errorf("the conversation a person took over holds %d messages, want only the question", len(ms))
				}
				if evs := messageEvents(t, subs[i]); len(evs) != 0 {
					t.Errorf("%d message events in the conversation a person took over", len(evs))
				}
				continue
			}
			if len(ms) != 2 {
				t.Errorf("conversation %d holds %d messages, want the question and one reply", i, len(ms))
				continue
			}
			r := ms[1]
			if r.Role != "assistant" || r.ReplyTo != ins[i].ID || r.Seq != 2 || r.Text != fmt.Sprintf("answer %d", i) || r.Delivery != "pending" {
				t.Errorf("conversation %d: reply %+v", i, r)
			}
			replies[r.ID] = i
			if evs := messageEvents(t, subs[i]); len(evs) != 1 || evs[0].Seq != 2 {
				t.Errorf("conversation %d: message events %+v, want one, seq 2", i, evs)
			}
		}
		var conv store.Conversation
		fx.read(t, func(tx *store.Tx) error {
			var err error
			conv, err = tx.GetConversation(ctx, convs[human].ID)
			return err
		})
		if conv.Status != "human" {
			t.Errorf("status %q, want human", conv.Status)
		}
		// Nothing failed, so every delivery queued was committed: one per
		// stored reply. The three bot replies that waited shared one
		// transaction (else this test would not exercise the shared path).
		calls := fx.q.deliveryCalls()
		if len(calls) != 4 {
			t.Errorf("%d deliveries queued, want 4", len(calls))
		}
		txs := map[*store.Tx]int{}
		for _, c := range calls {
			i, ok := replies[c.messageID]
			if !ok {
				t.Errorf("delivery queued for %s, not a stored reply", c.messageID)
			}
			if i != 0 {
				txs[c.tx]++
			}
		}
		if len(txs) != 1 {
			t.Errorf("the waiting replies were written in %d transactions, want 1", len(txs))
		}
	})
}

func TestARetriedReplyIsANoOpEvenWhenItSharesATransaction(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		fx := newFixture(t, st, "telegram")
		var ins []store.Message
		var convs []store.Conversation
		for i := range 5 {
			_, cv := fx.thread(t, fmt.Sprintf("visitor-%d", i))
			convs = append(convs, cv)
			ins = append(ins, fx.appendUser(t, cv, "question"))
		}
		// Conversation 0's reply is stored once, at rest.
		if err := fx.s.StoreReply(ctx, fx.tenant, replyTo(ins[0], "first attempt")); err != nil {
			t.Fatal(err)
		}
		subs := map[int]*realtime.Subscription{}
		for i, cv := range convs {
			subs[i] = fx.hub.Subscribe(fx.tenant, cv.ID, 16)
			defer subs[i].Close()
		}

		// Conversation 1's reply holds the group; the retry of 0's and
		// the replies to 2, 3, 4 wait and share the next transaction,
		// which fails on the retry's reply_to: each is retried alone.
		h := fx.q.holdNext(t)
		done := []<-chan error{fx.reply(replyTo(ins[1], "answer 1"))}
		h.waitEntered(t)
		done = append(done, fx.reply(replyTo(ins[2], "answer 2")))
		fx.waitQueued(t, 1)
		done = append(done, fx.reply(replyTo(ins[0], "second attempt")))
		fx.waitQueued(t, 2)
		done = append(done, fx.reply(replyTo(ins[3], "answer 3")), fx.reply(replyTo(ins[4], "answer 4")))
		fx.waitQueued(t, 4)
		h.release()
		for i, ch := range done {
			if err := recv(t, ch); err != nil {
				t.Errorf("reply %d: %v", i, err)
			}
		}

		stored := map[string]bool{}
		for i, cv := range convs {
			ms := fx.messages(t, cv.ID)
			want := fmt.Sprintf("answer %d", i)
			if i == 0 {
				want = "first attempt"
			}
			if len(ms) != 2 || ms[1].ReplyTo != ins[i].ID || ms[1].Text != want || ms[1].Seq != 2 {
				t.Errorf("conversation %d holds %+v, want the question and %q", i, ms, want)
				continue
			}
			stored[ms[1].ID] = true
			wantEvents := 1
			if i == 0 {
				wantEvents = 0 // published when first stored, before the subscription
			}
			if evs := messageEvents(t, subs[i]); len(evs) != wantEvents {
				t.Errorf("conversation %d: %d message events, want %d", i, len(evs), wantEvents)
			}
		}
		// Deliveries: those of the rolled-back shared transaction name
		// replies that do not exist; every stored reply has exactly one.
		n := map[string]int{}
		for _, c := range fx.q.deliveryCalls() {
			n[c.messageID]++
		}
		for id := range stored {
			if n[id] != 1 {
				t.Errorf("stored reply %s queued for delivery %d times, want 1", id, n[id])
			}
		}
		for id := range n {
			if !stored[id] && fx.exists(t, id) {
				t.Errorf("delivery queued for stored message %s, which is no reply", id)
			}
		}
	})
}

func TestAContactInAnotherGroupIsNotHeldUpByABusyOne(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		if st.Dialect() == store.SQLite {
			t.Skip("SQLite has one writer connection: another group's write waits for it whatever the group")
		}
		fx := newFixture(t, st, "web")
		fx.s.groups.n = batchShards
		// Two visitors whose writes go through different groups, found by
		// trying: which group a contact lands in depends on its id.
		ct1, cv1 := fx.thread(t, "visitor-held")
		var ct2 store.Contact
		var cv2 store.Conversation
		for i := 0; ; i++ {
			if i == 50 {
				t.Fatal("no contact in another group among 50")
			}
			ct2, cv2 = fx.thread(t, fmt.Sprintf("visitor-free-%d", i))
			if fx.s.shardOf(fx.tenant, ct2.ID) != fx.s.shardOf(fx.tenant, ct1.ID) {
				break
			}
		}
		h := fx.q.holdNext(t)
		first := fx.post(fx.inbound(ct1, cv1, "held"))
		h.waitEntered(t)
		// The first group's transaction is open; the other group's write
		// goes through on its own.
		if p := recv(t, fx.post(fx.inbound(ct2, cv2, "free"))); p.err != nil || p.out.Message.Seq != 1 {
			t.Fatalf("the other group's write: %+v, %v", p.out.Message, p.err)
		}
		select {
		case p := <-first:
			t.Fatalf("the held write finished before its release: %+v", p)
		default:
		}
		h.release()
		if p := recv(t, first); p.err != nil || p.out.Message.Seq != 1 {
			t.Fatalf("the held write: %+v, %v", p.out.Message, p.err)
		}
	})
}

func TestAContactsMessagesAlwaysGoThroughTheSameGroup(t *testing.T) {
	t.Parallel()
	s := &Service{}
	s.initGroups()
	seen := map[uint32]bool{}
	for i := range 200 {
		id := fmt.Sprintf("contact-%d", i)
		g := s.shardOf("tenant", id)
		for range 3 {
			if s.shardOf("tenant", id) != g {
				t.Fatalf("contact %s moved between groups", id)
			}
		}
		if g >= batchShards {
			t.Fatalf("group %d of %d", g, batchShards)
		}
		seen[g] = true
	}
	if len(seen) != batchShards {
		t.Errorf("200 contacts used %d of %d groups", len(seen), batchShards)
	}
}

func TestWritesOfTwoTenantsInOneGroupGoInATransactionEach(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		a := newFixture(t, st, "web")
		b := newFixture(t, st, "web")
		b.s = a.s // one service, one group: the two tenants' writes meet in it
		ctA0, cvA0 := a.thread(t, "a-0")
		ctA1, cvA1 := a.thread(t, "a-1")
		ctA2, cvA2 := a.thread(t, "a-2")
		ctB1, cvB1 := b.thread(t, "b-1")
		ctB2, cvB2 := b.thread(t, "b-2")

		h := a.q.holdNext(t)
		first := a.post(a.inbound(ctA0, cvA0, "a0"))
		h.waitEntered(t)
		rest := []<-chan posted{
			b.post(b.inbound(ctB1, cvB1, "b1")),
			a.post(a.inbound(ctA1, cvA1, "a1")),
			b.post(b.inbound(ctB2, cvB2, "b2")),
			a.post(a.inbound(ctA2, cvA2, "a2")),
		}
		a.waitQueued(t, 2)
		b.waitQueued(t, 2)
		h.release()
		for _, ch := range append(rest, first) {
			if p := recv(t, ch); p.err != nil || p.out.Message.Seq != 1 {
				t.Fatalf("write: %+v, %v", p.out.Message, p.err)
			}
		}
		calls := a.q.replyCalls()
		if len(calls) != 3 {
			t.Fatalf("%d reply calls, want 3 (the held write, then one per tenant)", len(calls))
		}
		for _, c := range calls[1:] {
			if len(c.rs) != 2 {
				t.Errorf("a transaction of tenant %s carried %d replies, want its 2", c.tx.TenantID(), len(c.rs))
			}
			for _, r := range c.rs {
				mine := map[string]bool{cvA1.ID: true, cvA2.ID: true}
				if c.tx.TenantID() == b.tenant {
					mine = map[string]bool{cvB1.ID: true, cvB2.ID: true}
				}
				if !mine[r.Message.ConversationID] {
					t.Errorf("tenant %s's transaction carried a reply in conversation %s", c.tx.TenantID(), r.Message.ConversationID)
				}
			}
		}
		if calls[1].tx.TenantID() == calls[2].tx.TenantID() {
			t.Errorf("both shared transactions were tenant %s's", calls[1].tx.TenantID())
		}
	})
}
